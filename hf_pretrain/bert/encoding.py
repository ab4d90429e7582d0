"""Contextual representations from BERT: the book's `get_bert_encoding`, with a fast tokenizer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch


@dataclass
class BertEncoding:
    """The encoder's last hidden states for one text (or text pair), on the CPU.

    `tokens`, `sequence_ids` (0: first text, 1: second text, None: special token), `word_ids` (the
    index of each token's word in its text) and `words` (the word as written, None for special
    tokens) are aligned with `last_hidden_state`.
    """

    tokens: list[str]
    sequence_ids: list[Optional[int]]
    word_ids: list[Optional[int]]
    words: list[Optional[str]]
    last_hidden_state: torch.Tensor  # [length, hidden]

    @property
    def cls(self) -> torch.Tensor:
        """The [CLS] vector, the representation of the whole input."""
        return self.last_hidden_state[0]

    def token_vector(self, position: int) -> torch.Tensor:
        return self.last_hidden_state[position]

    def word_vector(self, word: str, occurrence: int = 0, sequence: Optional[int] = None) -> torch.Tensor:
        """Vector of `word` as written in the text (its `occurrence`-th appearance, in `sequence` 0
        or 1 if given): the mean of its subword tokens' vectors, the token's own vector for a
        word-level tokenizer."""
        spans: dict[tuple[int, int], list[int]] = {}
        for position, (text, seq, word_id) in enumerate(zip(self.words, self.sequence_ids, self.word_ids)):
            if text == word and (sequence is None or seq == sequence):
                spans.setdefault((seq, word_id), []).append(position)
        if occurrence >= len(spans):
            raise KeyError(f"{word!r} occurs {len(spans)} time(s) in the input, no occurrence {occurrence}")
        return self.last_hidden_state[list(spans.values())[occurrence]].mean(0)


@torch.no_grad()
def get_bert_encoding(model, tokenizer, text: str, text_pair: Optional[str] = None) -> BertEncoding:
    """Encode `text` (and `text_pair`) as `[CLS] text [SEP] (text_pair [SEP])` and run the encoder of
    `model` (an `HfpBertModel`, an `HfpBertForPreTraining` or any model returning
    `last_hidden_state`) in eval mode, so that dropout does not perturb the vectors."""
    encoded = tokenizer(text, text_pair, return_tensors="pt")
    encoder = getattr(model, "base_model", model)
    device = next(encoder.parameters()).device
    inputs = {
        name: encoded[name].to(device) for name in ("input_ids", "attention_mask", "token_type_ids") if name in encoded
    }
    was_training = encoder.training
    encoder.eval()
    try:
        hidden = encoder(**inputs, return_dict=True).last_hidden_state[0].float().cpu()
    finally:
        encoder.train(was_training)
    sources = (text, text_pair)
    sequence_ids = encoded.sequence_ids(0)
    word_ids = encoded.word_ids(0)
    words = []
    for word_id, seq in zip(word_ids, sequence_ids):
        if word_id is None or seq is None:
            words.append(None)
            continue
        span = encoded.word_to_chars(0, word_id, sequence_index=seq)
        words.append(sources[seq][span.start : span.end])
    return BertEncoding(
        tokens=tokenizer.convert_ids_to_tokens(encoded["input_ids"][0].tolist()),
        sequence_ids=sequence_ids,
        word_ids=[None if seq is None else w for w, seq in zip(word_ids, sequence_ids)],
        words=words,
        last_hidden_state=hidden,
    )
