"""GloVe's training data: the word–word co-occurrence matrix, counted as the reference `cooccur` does.

Pennington et al. (2014) count, within each line, every pair of words at most `window` apart, each
weighted 1/distance; `symmetric` counts the pair both ways round. The matrix is built one offset at a
time over chunks of the corpus, so memory grows with the chunk and the number of non-zeros, never with
the number of pairs in the corpus.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import scipy.sparse as sp
import torch

from ..core.streaming import Corpus, corpus_chunks


def build_cooccurrence(
    corpus: Corpus,
    vocab_size: int,
    window: int = 10,
    symmetric: bool = True,
    distance_weighting: bool = True,
    chunk_tokens: int = 1 << 20,
) -> sp.csr_matrix:
    """The `vocab_size` × `vocab_size` co-occurrence matrix X (float64).

    For two words of one sentence at distance d ≤ `window`, the left one `l` and the right one `r`,
    X[l, r] gains 1/d (1 without `distance_weighting`); with `symmetric`, X[r, l] gains as much. The
    window never crosses the end of a sentence (a line of the corpus). A `StreamingCorpus` is read
    once, a chunk at a time.
    """
    if not isinstance(window, int) or isinstance(window, bool) or window < 1:
        raise ValueError(f"window must be an integer >= 1, got {window!r}")
    if not isinstance(chunk_tokens, int) or chunk_tokens < 1:
        raise ValueError(f"chunk_tokens must be an integer >= 1, got {chunk_tokens!r}")
    # Counted one way round (left word first); the symmetric matrix is this plus its transpose, which
    # halves the sorting that summing duplicates costs.
    left_right = sp.csr_matrix((vocab_size, vocab_size), dtype=np.float64)
    seen = 0
    for piece in corpus_chunks(corpus):
        ids = np.asarray(piece.ids)
        seen += ids.size
        if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
            raise ValueError(f"word ids must lie in [0, {vocab_size}), got {ids.min()}..{ids.max()}")
        offsets = np.asarray(piece.offsets)
        for start in range(0, ids.size, chunk_tokens):
            left_right = left_right + _count_pairs(
                ids, offsets, start, chunk_tokens, vocab_size, window, distance_weighting
            )
    if seen == 0:
        raise ValueError("cannot count co-occurrences in an empty corpus: it holds no known words")
    matrix = left_right + left_right.T if symmetric else left_right
    matrix = matrix.tocsr()
    if matrix.nnz == 0:
        raise ValueError(
            "no word pair co-occurs: every sentence holds at most one known word "
            "(lower min_count or use a larger corpus)"
        )
    return matrix


def _count_pairs(ids, offsets, start, chunk_tokens, vocab_size, window, distance_weighting) -> sp.csr_matrix:
    """The left-to-right pairs whose left word lies in positions [start, start + chunk_tokens)."""
    positions = np.arange(start, min(start + chunk_tokens, ids.size))
    # Tokens left in each position's sentence: a pair at distance d exists where this is >= d.
    remaining = offsets[np.searchsorted(offsets, positions, side="right")] - positions - 1
    rows, cols, weights = [], [], []
    for distance in range(1, window + 1):
        left = positions[remaining >= distance]
        if left.size == 0:
            break
        rows.append(ids[left])
        cols.append(ids[left + distance])
        weights.append(np.full(left.size, 1.0 / distance if distance_weighting else 1.0))
    if not rows:
        return sp.csr_matrix((vocab_size, vocab_size), dtype=np.float64)
    chunk = sp.coo_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=(vocab_size, vocab_size)
    )
    return chunk.tocsr()  # coo → csr sums the duplicates


class CooccurrenceBatches:
    """The non-zeros of a co-occurrence matrix, dealt at random into ⌈nnz / batch_size⌉ batches each epoch.

    Each batch holds `rows` (centre words), `cols` (context words), `counts` (X values) in matrix
    order (by row, then column) and `words`, the number of non-zeros dealt so far this epoch (the
    training loop's progress unit). Batches hold `batch_size` pairs on average.
    """

    def __init__(self, matrix: sp.spmatrix, batch_size: int):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        coo = sp.coo_matrix(matrix)
        # One (row, col, count) record per non-zero (float64 holds word ids exactly), so that a batch
        # reads one cache line per pair rather than three.
        self.pairs = torch.from_numpy(np.stack([coo.row, coo.col, coo.data], axis=1).astype(np.float64))
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-self.num_pairs // self.batch_size)

    @property
    def num_pairs(self) -> int:
        return len(self.pairs)

    def epoch(self, generator: torch.Generator) -> Iterator[dict]:
        # Dealing each non-zero to a random batch and sorting by batch (stably, so each batch stays in
        # matrix order, which the step reads as a sparse CSR matrix) shuffles as well as a random
        # permutation cut into slices would, for less than half the cost of sorting every slice.
        num_batches = len(self)
        batch_of = torch.randint(num_batches, (self.num_pairs,), generator=generator, dtype=torch.int32)
        order = torch.sort(batch_of, stable=True).indices
        start = 0
        for end in torch.bincount(batch_of, minlength=num_batches).cumsum(0).tolist():
            if end == start:
                continue
            records = self.pairs.index_select(0, order[start:end])
            yield {
                "rows": records[:, 0].long(),
                "cols": records[:, 1].long(),
                "counts": records[:, 2].float(),
                "words": end,
            }
            start = end
