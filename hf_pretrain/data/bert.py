"""BERT pretraining examples (d2l.ai "The Dataset for Pretraining BERT"), built with `datasets`.

- paragraphs: lines with at least two sentences, split on " . " and lower-cased, as the book;
- next sentence prediction: for every pair of consecutive sentences (A, B) of a paragraph, B is
  kept with probability 1/2 (label 0, transformers' convention) and otherwise replaced by a random
  sentence of another paragraph (label 1);
- each pair becomes `[CLS] A [SEP] B [SEP]`, truncated to `max_len` tokens by trimming the longer
  sentence first (the book drops pairs that are too long instead);
- masked language modelling: transformers' `DataCollatorForLanguageModeling` masks 15 % of the
  non-special tokens of every batch as it is drawn (80 % [MASK], 10 % a random token, 10 %
  unchanged), so each epoch sees new masks.
"""

from __future__ import annotations

import random
from typing import Iterable, Iterator, Sequence

import datasets
import torch
from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerBase

__all__ = ["BertPretrainingData", "d2l_wiki_paragraphs", "next_sentence_pairs"]


def d2l_wiki_paragraphs(lines: Iterable[str]) -> list[list[str]]:
    """The book's `_read_wiki` without its shuffle: each line with at least two sentences (split on
    " . "), stripped and lower-cased, as a list of sentences."""
    return [line.strip().lower().split(" . ") for line in lines if len(line.split(" . ")) >= 2]


def next_sentence_pairs(paragraphs: Sequence[Sequence[str]], rng: random.Random) -> dict[str, list]:
    """Columns `text_a`, `text_b`, `next_sentence_label` (0: B follows A, 1: B is random)."""
    if len(paragraphs) < 2:
        raise ValueError(f"next sentence prediction needs at least 2 paragraphs, got {len(paragraphs)}")
    columns = {"text_a": [], "text_b": [], "next_sentence_label": []}
    for index, paragraph in enumerate(paragraphs):
        for a, b in zip(paragraph, paragraph[1:]):
            label = 0
            if rng.random() >= 0.5:
                other = rng.randrange(len(paragraphs) - 1)
                other += other >= index  # any paragraph but this one
                b, label = rng.choice(paragraphs[other]), 1
            columns["text_a"].append(a)
            columns["text_b"].append(b)
            columns["next_sentence_label"].append(label)
    return columns


class BertPretrainingData:
    """Tokenized next-sentence pairs of a corpus, batched with dynamic masking.

    `texts` are the corpus lines; paragraphs are shuffled and pairs drawn once, with `seed`.
    """

    def __init__(
        self,
        texts: Iterable[str],
        tokenizer: PreTrainedTokenizerBase,
        max_len: int = 64,
        mlm_probability: float = 0.15,
        seed: int = 0,
    ):
        if max_len < 5:
            raise ValueError(f"max_len must be >= 5 ([CLS] A [SEP] B [SEP]), got {max_len}")
        if tokenizer.mask_token is None or tokenizer.pad_token is None:
            raise ValueError("the tokenizer needs a mask token and a padding token")
        self.tokenizer = tokenizer
        self.max_len = max_len
        self.mlm_probability = mlm_probability
        rng = random.Random(seed)
        paragraphs = d2l_wiki_paragraphs(texts)
        rng.shuffle(paragraphs)
        pairs = datasets.Dataset.from_dict(next_sentence_pairs(paragraphs, rng))
        self.dataset = pairs.map(self._tokenize, batched=True, remove_columns=["text_a", "text_b"])
        self.num_tokens = sum(map(len, self.dataset["input_ids"]))
        self._rows = self.dataset.to_dict()

    def _tokenize(self, batch):
        return self.tokenizer(
            batch["text_a"], batch["text_b"], truncation="longest_first", max_length=self.max_len,
            return_special_tokens_mask=True,
        )

    def __len__(self) -> int:
        return len(self.dataset)

    def num_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)

    def batches(self, batch_size: int, generator: torch.Generator, shuffle: bool = True) -> Iterator[dict]:
        """One epoch: padded tensors (`input_ids`, `token_type_ids`, `attention_mask`, `labels`,
        `next_sentence_label`) and `words`, the real tokens covered so far. The example order and
        the masks depend only on `generator`."""
        order = torch.randperm(len(self), generator=generator) if shuffle else torch.arange(len(self))
        collator = DataCollatorForLanguageModeling(
            self.tokenizer, mlm_probability=self.mlm_probability,
            seed=int(torch.randint(2**31 - 1, (1,), generator=generator)),
        )
        columns = list(self._rows)
        words = 0
        for start in range(0, len(self), batch_size):
            examples = [{c: self._rows[c][i] for c in columns} for i in order[start : start + batch_size].tolist()]
            batch = collator(examples)
            words += int(batch["attention_mask"].sum())
            batch["words"] = words
            yield batch
