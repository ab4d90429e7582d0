"""Writing the fastText reference's `.bin` (`FastText::saveModel`, file version 12), which
`fasttext.load_model` and gensim's `load_facebook_model` / `load_facebook_vectors` read.

Layout, little-endian as the reference writes it on x86:

    magic int32, version int32
    Args: dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate (12 int32), t (double)
    Dictionary: size nwords nlabels (3 int32), ntokens pruneidx_size (2 int64),
                size x (word\\0, count int64, type int8), pruneidx_size x (int32, int32)
    quant_input (bool), input matrix: rows cols (2 int64) then row-major float32 (nwords + bucket rows)
    qout (bool), output matrix: rows cols (2 int64) then float32 (nwords rows)

The reference's word vector is the MEAN of the word's own row and its hashed n-gram rows (n-gram
row `nwords + fnv1a(ngram) % bucket`), which is what `FastTextVectors` composes with
`composition="mean"`; a `"sum"` model, or one with BPE subwords, has no `.bin` equivalent.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Sequence

import numpy as np

FASTTEXT_MAGIC = 793712314
FASTTEXT_VERSION = 12
# args.h: model_name {cbow = 1, sg, sup}, loss_name {hs = 1, ns, softmax, ova}
MODEL_IDS = {"cbow": 1, "skipgram": 2}
LOSS_IDS = {"hierarchical_softmax": 1, "negative_sampling": 2}


def write_fasttext_bin(
    path,
    words: Sequence[str],
    counts: Sequence[int],
    word_rows: np.ndarray,
    ngram_rows: np.ndarray,
    output_matrix: np.ndarray | None = None,
    *,
    minn: int,
    maxn: int,
    bucket: int,
    architecture: str = "skipgram",
    loss: str = "negative_sampling",
    window: int = 5,
    num_negatives: int = 5,
    sample: float = 1e-4,
    epoch: int = 5,
) -> None:
    """Write a reference `.bin` from the raw rows: the input matrix is `word_rows` (`[len(words),
    dim]`) then `ngram_rows` (`[bucket, dim]`; `bucket = 0` and `maxn = 0` when n-grams are off),
    written one after the other without joining them (a 2M-bucket table is not copied).
    `output_matrix` (`[len(words), dim]`, padded with zero rows when shorter, as hierarchical
    softmax's `nwords - 1` inner nodes) defaults to zeros: enough for vectors, not for training on.

    Counts below 1 are written as 1: gensim drops a word of count 0 and then refuses the file."""
    nwords = len(words)
    word_rows = np.ascontiguousarray(word_rows, dtype="<f4")
    ngram_rows = np.ascontiguousarray(ngram_rows, dtype="<f4")
    dim = word_rows.shape[1]
    if word_rows.shape != (nwords, dim) or ngram_rows.shape != (bucket, dim):
        raise ValueError(
            f"word rows {word_rows.shape} and n-gram rows {ngram_rows.shape}: expected ({nwords}, {dim}), ({bucket}, {dim})"
        )
    if architecture not in MODEL_IDS or loss not in LOSS_IDS:
        raise ValueError(f"cannot write a {architecture}/{loss} model as a fastText .bin")
    output = np.zeros((nwords, dim), dtype="<f4")
    if output_matrix is not None:
        output_matrix = np.asarray(output_matrix, dtype="<f4")
        if output_matrix.shape[1] != dim or len(output_matrix) > nwords:
            raise ValueError(f"output matrix is {output_matrix.shape}, expected at most ({nwords}, {dim})")
        output[: len(output_matrix)] = output_matrix
    counts = [max(int(c), 1) for c in counts]
    if len(counts) != nwords:
        raise ValueError(f"{len(counts)} counts for {nwords} words")
    encoded = [w.encode("utf-8") for w in words]
    if any(b"\0" in w or not w or any(c in w for c in b" \t\n\v\f\r") for w in encoded):
        bad = next(w for w in words if "\0" in w or not w or any(c.isspace() for c in w))
        raise ValueError(f"word {bad!r} cannot be written to a fastText .bin (empty, NUL or whitespace)")
    path = Path(path)
    temporary = path.with_name(f".{path.name}.partial")
    try:
        with open(temporary, "wb") as f:
            f.write(struct.pack("<ii", FASTTEXT_MAGIC, FASTTEXT_VERSION))
            f.write(
                struct.pack(
                    "<12id",
                    dim,
                    window,
                    epoch,
                    1,  # minCount: every word written is kept
                    num_negatives,
                    1,  # wordNgrams
                    LOSS_IDS[loss],
                    MODEL_IDS[architecture],
                    bucket,
                    minn,
                    maxn,
                    100,  # lrUpdateRate
                    sample,
                )
            )
            f.write(struct.pack("<3i2q", nwords, nwords, 0, sum(counts), -1))
            f.write(b"".join(w + b"\0" + struct.pack("<qb", c, 0) for w, c in zip(encoded, counts)))
            f.write(struct.pack("<?2q", False, nwords + bucket, dim))
            for rows in (word_rows, ngram_rows):
                if rows.size:
                    f.write(memoryview(rows).cast("B"))
            f.write(struct.pack("<?2q", False, nwords, dim))
            f.write(memoryview(output).cast("B"))
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
