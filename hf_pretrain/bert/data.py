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

__all__ = [
    "BertPretrainingData",
    "StreamingBertData",
    "d2l_wiki_paragraphs",
    "d2l_wiki_sentences",
    "next_sentence_pairs",
]


def d2l_wiki_paragraphs(lines: Iterable[str]) -> list[list[str]]:
    """The book's `_read_wiki` without its shuffle: each line with at least two sentences (split on
    " . "), stripped and lower-cased, as a list of sentences."""
    return list(_paragraphs(lines))


def d2l_wiki_sentences(lines: Iterable[str]) -> Iterator[str]:
    """The sentences of `d2l_wiki_paragraphs`, one at a time (for a tokenizer's counting pass)."""
    for paragraph in _paragraphs(lines):
        yield from paragraph


def _paragraphs(lines: Iterable[str]) -> Iterator[list[str]]:
    for line in lines:
        if len(line.split(" . ")) >= 2:
            yield line.strip().lower().split(" . ")


def _check_inputs(tokenizer: PreTrainedTokenizerBase, max_len: int) -> None:
    if max_len < 5:
        raise ValueError(f"max_len must be >= 5 ([CLS] A [SEP] B [SEP]), got {max_len}")
    if tokenizer.mask_token is None or tokenizer.pad_token is None:
        raise ValueError("the tokenizer needs a mask token and a padding token")


def _encode_pairs(tokenizer: PreTrainedTokenizerBase, pairs: dict, max_len: int):
    return tokenizer(
        pairs["text_a"],
        pairs["text_b"],
        truncation="longest_first",
        max_length=max_len,
        return_special_tokens_mask=True,
    )


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
        _check_inputs(tokenizer, max_len)
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
        return _encode_pairs(self.tokenizer, batch, self.max_len)

    def __len__(self) -> int:
        return len(self.dataset)

    def num_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)

    def batches(
        self, batch_size: int, generator: torch.Generator, shuffle: bool = True, group_by_length: bool = False
    ) -> Iterator[dict]:
        """One epoch: padded tensors (`input_ids`, `token_type_ids`, `attention_mask`, `labels`,
        `next_sentence_label`) and `words`, the real tokens covered so far. The example order and
        the masks depend only on `generator`.

        `group_by_length`, as transformers' `LengthGroupedSampler`: each run of 50 batches' worth of
        shuffled examples is sorted by length and cut into batches, which are then shuffled, so a
        batch holds examples of similar length and carries little padding."""
        order = torch.randperm(len(self), generator=generator) if shuffle else torch.arange(len(self))
        collator = DataCollatorForLanguageModeling(
            self.tokenizer,
            mlm_probability=self.mlm_probability,
            seed=int(torch.randint(2**31 - 1, (1,), generator=generator)),
        )
        if group_by_length:
            lengths = torch.tensor([len(ids) for ids in self._rows["input_ids"]])
            runs = [order[s : s + 50 * batch_size] for s in range(0, len(order), 50 * batch_size)]
            runs = [run[torch.argsort(lengths[run], descending=True, stable=True)] for run in runs]
            cuts = [run[s : s + batch_size] for run in runs for s in range(0, len(run), batch_size)]
            cuts = [cuts[i] for i in torch.randperm(len(cuts), generator=generator).tolist()]
        else:
            cuts = [order[s : s + batch_size] for s in range(0, len(self), batch_size)]
        columns = list(self._rows)
        words = 0
        for cut in cuts:
            examples = [{c: self._rows[c][i] for c in columns} for i in cut.tolist()]
            batch = collator(examples)
            words += int(batch["attention_mask"].sum())
            batch["words"] = words
            yield batch


class StreamingBertData:
    """`BertPretrainingData` for a corpus read as a stream (`data.streaming.LineStream`).

    The lines are read in shards of `shard_paragraphs` paragraphs. Each epoch, every shard is
    shuffled, paired for next sentence prediction within itself (the random sentence B comes from
    another paragraph of the same shard), tokenized and batched as it arrives, so memory follows
    the shard, not the corpus; the examples left over at a shard's end open the next shard's first
    batch. Unlike the in-memory data, whose pairs are drawn once, each epoch draws new pairs. A
    counting pass at construction gives the number of pairs per epoch, which is fixed (every pair of
    consecutive sentences is one example), for the progress bar.
    """

    def __init__(
        self,
        lines: Iterable[str],
        tokenizer: PreTrainedTokenizerBase,
        max_len: int = 64,
        mlm_probability: float = 0.15,
        shard_paragraphs: int = 10_000,
    ):
        _check_inputs(tokenizer, max_len)
        if shard_paragraphs < 2:
            raise ValueError(
                f"shard_paragraphs must be >= 2 (a random sentence B comes from another paragraph), got {shard_paragraphs}"
            )
        self.lines = lines
        self.tokenizer = tokenizer
        self.max_len = max_len
        self.mlm_probability = mlm_probability
        self.shard_paragraphs = shard_paragraphs
        paragraphs = pairs = 0
        for paragraph in _paragraphs(self.lines):
            paragraphs += 1
            pairs += len(paragraph) - 1
        if paragraphs < 2:
            raise ValueError(f"next sentence prediction needs at least 2 paragraphs, got {paragraphs}")
        self.num_pairs = pairs

    def __len__(self) -> int:
        return self.num_pairs

    def _shards(self) -> Iterator[list[list[str]]]:
        # One shard is held back, so that a last shard of a single paragraph can join it.
        held, shard = None, []
        for paragraph in _paragraphs(self.lines):
            shard.append(paragraph)
            if len(shard) == self.shard_paragraphs:
                if held is not None:
                    yield held
                held, shard = shard, []
        if held is not None and len(shard) < 2:
            yield held + shard
            return
        if held is not None:
            yield held
        if shard:
            yield shard

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[dict]:
        """One epoch: padded, masked tensors as `BertPretrainingData.batches`, with `words` the
        sentence pairs covered so far."""
        collator = DataCollatorForLanguageModeling(
            self.tokenizer,
            mlm_probability=self.mlm_probability,
            seed=int(torch.randint(2**31 - 1, (1,), generator=generator)),
        )
        rng = random.Random(int(torch.randint(2**62, (1,), generator=generator)))
        rows: list[dict] = []
        done = 0
        for shard in self._shards():
            rng.shuffle(shard)
            pairs = next_sentence_pairs(shard, rng)
            encoded = {
                **_encode_pairs(self.tokenizer, pairs, self.max_len),
                "next_sentence_label": pairs["next_sentence_label"],
            }
            order = torch.randperm(len(pairs["text_a"]), generator=generator).tolist()
            rows += [{c: values[i] for c, values in encoded.items()} for i in order]
            full = len(rows) - len(rows) % batch_size
            for start in range(0, full, batch_size):
                done += batch_size
                yield {**collator(rows[start : start + batch_size]), "words": done}
            rows = rows[full:]
        if rows:
            done += len(rows)
            yield {**collator(rows), "words": done}
