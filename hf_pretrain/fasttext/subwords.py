"""Subwords for fastText: hashed character n-grams exactly as the fastText reference computes them, or
the pieces of a BPE model trained on the corpus (the chapter's two subword schemes side by side).

Either way each vocabulary word `i` gets the row list `[i, subword rows...]`, stored flat with offsets
(`ids[offsets[i]:offsets[i + 1]]`), which is what `FastTextModel` keeps as buffers.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

EOS = "</s>"  # fastText's end-of-line token; it never gets n-grams
FNV_OFFSET = 2166136261
FNV_PRIME = 16777619
BPE_SUFFIX = "</w>"


def fnv1a(data: bytes) -> int:
    """fastText's `Dictionary::hash`: 32-bit FNV-1a over the bytes, each read as a *signed* char, so
    a byte >= 0x80 is xor-ed in as 0xFFFFFFxx (this changes every hash of a non-ASCII n-gram)."""
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ (b | 0xFFFFFF00 if b >= 0x80 else b)) * FNV_PRIME) & 0xFFFFFFFF
    return h


def char_ngrams(word: str, minn: int, maxn: int) -> list[str]:
    """The n-grams of `word` in fastText's order (`Dictionary::computeSubwords`): over the characters of
    "<word>", every run of minn..maxn characters by start then length, leaving out the single
    boundary characters "<" and ">" (which only matter for minn = 1)."""
    if word == EOS:
        return []
    chars = "<" + word + ">"
    grams = []
    for i in range(len(chars)):
        for n in range(minn, maxn + 1):
            if i + n > len(chars):
                break
            if n == 1 and (i == 0 or i == len(chars) - 1):
                continue
            grams.append(chars[i : i + n])
    return grams


def char_ngram_hashes(words: Sequence[str], minn: int, maxn: int) -> tuple[np.ndarray, np.ndarray]:
    """FNV-1a hashes of the n-grams of many words at once: (`word` index, `hash`) per n-gram, in
    fastText's order. Vectorized over every character start of every word: the loop runs over n-gram
    lengths (and the 1-4 bytes of a character), not over words."""
    if maxn < minn or maxn < 1:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    encoded = [b"" if w == EOS else b"<" + w.encode("utf-8") + b">" for w in words]
    lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=len(encoded))
    buf = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    word_of_byte = np.repeat(np.arange(len(encoded)), lengths)
    # Character boundaries: every byte that is not a UTF-8 continuation byte, plus each word's end
    # (sorted before the next word's first start, which sits at the same byte).
    starts = np.flatnonzero((buf & 0xC0) != 0x80)
    ends = np.cumsum(lengths)[lengths > 0]
    positions = np.concatenate([starts, ends])
    kinds = np.concatenate([np.ones(len(starts), dtype=np.int8), np.zeros(len(ends), dtype=np.int8)])
    order = np.lexsort((kinds, positions))
    bounds, is_end = positions[order], kinds[order] == 0
    bound_word = np.concatenate([word_of_byte[starts], np.flatnonzero(lengths > 0)])[order]
    end_index = np.flatnonzero(is_end)
    start_index = np.flatnonzero(~is_end)
    word_end = end_index[np.searchsorted(end_index, start_index)]
    first_of_word = np.r_[True, is_end[:-1]][start_index]

    sbuf = buf.astype(np.uint64)
    sbuf[buf >= 0x80] |= np.uint64(0xFFFFFF00)
    h = np.full(len(start_index), FNV_OFFSET, dtype=np.uint64)
    mask32, prime = np.uint64(0xFFFFFFFF), np.uint64(FNV_PRIME)
    out_word, out_hash, out_start, out_n = [], [], [], []
    for n in range(1, maxn + 1):
        alive = start_index + n <= word_end
        if not alive.any():
            break
        lo, hi = (
            bounds[np.minimum(start_index + n - 1, len(bounds) - 1)],
            bounds[np.minimum(start_index + n, len(bounds) - 1)],
        )
        for j in range(4):  # a UTF-8 character is at most 4 bytes
            step = alive & (lo + j < hi)
            if not step.any():
                break
            h[step] = ((h[step] ^ sbuf[lo[step] + j]) * prime) & mask32
        if n < minn:
            continue
        emit = alive.copy()
        if n == 1:
            emit &= ~first_of_word & (start_index + 1 != word_end)
        out_word.append(bound_word[start_index[emit]])
        out_hash.append(h[emit].copy())
        out_start.append(start_index[emit])
        out_n.append(np.full(int(emit.sum()), n))
    if not out_word:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    order = np.lexsort((np.concatenate(out_n), np.concatenate(out_start)))
    return np.concatenate(out_word)[order], np.concatenate(out_hash)[order]


def char_ngram_subwords(
    words: Sequence[str], minn: int, maxn: int, bucket: int, num_words: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Flat (`ids`, `offsets`) of `[word row, n-gram rows...]` for every word, n-gram row
    `num_words + hash % bucket` (fastText's `input_` matrix layout). `num_words` defaults to
    `len(words)`; pass the vocabulary size when `words` are not the vocabulary (unseen words), whose
    lists then hold the n-gram rows only."""
    own_rows = num_words is None
    num_words = len(words) if num_words is None else num_words
    word, hashes = char_ngram_hashes(words, minn, maxn)
    rows = num_words + (hashes % np.uint64(bucket)).astype(np.int64) if len(hashes) else np.zeros(0, dtype=np.int64)
    return _flatten(len(words), word, rows, own_rows)


def _flatten(count: int, word: np.ndarray, rows: np.ndarray, own_rows: bool) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.bincount(word, minlength=count) + int(own_rows)
    offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.empty(offsets[-1], dtype=np.int64)
    is_own = np.zeros(offsets[-1], dtype=bool)
    if own_rows:
        is_own[offsets[:-1]] = True
        ids[offsets[:-1]] = np.arange(count)
    ids[~is_own] = rows  # `rows` is grouped by word, in order
    return ids, offsets


def train_bpe(texts, vocab_size: int, lowercase: bool = False):
    """A `tokenizers` BPE model over the corpus words (pieces end in "</w>" at a word's end, as the
    book's BPE marks the end of a word), to split any word into learned pieces."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(end_of_word_suffix=BPE_SUFFIX))
    if lowercase:
        tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, end_of_word_suffix=BPE_SUFFIX, show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def bpe_subwords(words: Sequence[str], tokenizer, num_words: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """As `char_ngram_subwords`, with the BPE pieces of each word as its subwords (row
    `num_words + piece id`); characters the BPE model never saw are left out."""
    own_rows = num_words is None
    num_words = len(words) if num_words is None else num_words
    encodings = tokenizer.encode_batch([[w] for w in words], is_pretokenized=True, add_special_tokens=False)
    pieces = [e.ids for e in encodings]
    word = np.repeat(np.arange(len(words)), [len(p) for p in pieces])
    rows = num_words + np.fromiter((i for p in pieces for i in p), dtype=np.int64, count=len(word))
    return _flatten(len(words), word, rows, own_rows)
