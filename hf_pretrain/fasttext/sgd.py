"""fastText's training step: word2vec's SGD with closed-form gradients (`hf_pretrain.word2vec.sgd`) on
input vectors composed from subword rows.

The window kernels are word2vec's; what differs is at both ends. The vectors of the block of
positions come from composing each distinct word of the block once (`F.embedding_bag` over its
rows), and each word's gradient, summed over its positions, is scattered back to all of its rows
with one `index_add_`.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F

from ..word2vec.sgd import cbow_gradients, output_updates, skipgram_gradients, spread_over_windows, window_sums


@torch.no_grad()
def sgd_step(
    model,
    *,
    tokens: torch.Tensor,
    window_mask: torch.Tensor,
    targets: torch.Tensor,
    labels: torch.Tensor,
    target_mask: torch.Tensor,
    learning_rate: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD update of a `FastTextModel` with closed-form gradients on the batch layout of
    word2vec's `sgd_step`: `tokens` [m + 2W] around m consecutive centres, `window_mask`
    [m, 2W + 1], `targets`, `labels`, `target_mask` [m, T]. Skip-gram scores each composed context
    position against its centre's targets (the pairs fastText's `skipgram` scores, with the roles of
    the two words of a pair swapped, which leaves the set of pairs the same); CBOW scores the bag of
    all rows of the context. Returns (summed binary cross-entropy, number of scored pairs) before
    the update.
    """
    loss, count, (rows, grad_rows), (ids, grad_outputs) = sgd_updates(
        model,
        tokens=tokens,
        window_mask=window_mask,
        targets=targets,
        labels=labels,
        target_mask=target_mask,
        learning_rate=learning_rate,
    )
    model.input_embeddings.weight.index_add_(0, rows, grad_rows)
    model.output_embeddings.weight.index_add_(0, ids, grad_outputs)
    return loss, count


@torch.no_grad()
def sgd_updates(model, *, tokens, window_mask, targets, labels, target_mask, learning_rate, max_row_updates=None):
    """`sgd_step` without the writes: (loss, count, (input rows, their updates), (output rows,
    their updates)). Slices of a batch can compute these in parallel threads against the same
    tables, then be applied (`index_add_`) once all are computed; `max_row_updates` then
    overrides the config's cap for each slice."""
    config = model.config
    syn1 = model.output_embeddings.weight
    # Each distinct word of the block is composed once and its rows are updated once, with the
    # gradients of all its positions summed first: a batch repeats many words, each with ~10-20 rows.
    words, position_word = torch.unique(tokens, return_inverse=True)
    word_sums, word_lengths, rows = model._sums(words)  # [U, D]
    outputs = F.embedding(targets, syn1)  # [m, T, D]
    if config.architecture == "skipgram":
        block = F.embedding(position_word, _composed(word_sums, word_lengths, config.composition))  # [m + 2W, D]
        loss, count, grad_block, grad_outputs = skipgram_gradients(
            block, outputs, window_mask, labels, target_mask, learning_rate
        )
    else:
        loss, count, grad_block, grad_outputs = _cbow_gradients(
            F.embedding(position_word, word_sums),
            word_lengths[position_word],
            config.composition,
            outputs,
            window_mask,
            labels,
            target_mask,
            learning_rate,
        )
    grad_words = torch.zeros_like(word_sums).index_add_(0, position_word, grad_block)
    if config.architecture == "skipgram" and config.composition == "sum":
        grad_words /= word_lengths.clamp(min=1)[:, None].to(word_sums.dtype)
    # As fastText's `Model::update`: the composed vector is the mean of its rows, yet every row
    # receives the full gradient (unscaled, as word2vec.c does for CBOW's mean), so the mean takes
    # a word2vec-sized step. For the sum, each row gets 1/rows of it, so that the sum takes that
    # same step: the exact gradient would move a sum of ~15 rows 15 times too far and diverge.
    grad_rows = grad_words.repeat_interleave(word_lengths, dim=0, output_size=len(rows))
    limit = config.max_row_updates if max_row_updates is None else max_row_updates
    if limit:
        # A row's occurrences in the batch: the positions of every word that holds it.
        positions = torch.bincount(position_word, minlength=len(words))
        weights = positions.repeat_interleave(word_lengths, output_size=len(rows))
        grad_rows *= _row_scale(rows, limit, weights, model.input_embeddings.weight.shape[0])[:, None]
    return loss, count, (rows, grad_rows), output_updates(targets, grad_outputs, syn1.shape[0], limit)


def _composed(word_sums, word_lengths, composition):
    """Each word's vector from the sum of its rows: their mean, or the sum itself."""
    if composition == "mean":
        return word_sums / word_lengths.clamp(min=1)[:, None].to(word_sums.dtype)
    return word_sums


def _cbow_gradients(sums, lengths, composition, outputs, window_mask, labels, target_mask, learning_rate):
    """fastText's CBOW on the block: `sums` [m + 2W, D] and `lengths` [m + 2W] are each position's sum
    of rows and number of rows. The hidden vector of a centre is the mean (or sum) of all rows of
    all its context words, as in fastText's `cbow`. Returns what `skipgram_gradients` returns."""
    windows = window_mask.to(sums.dtype)
    hidden = window_sums(sums, windows)  # [m, D]
    size = window_sums(lengths.to(sums.dtype)[:, None], windows).clamp_(min=1)  # rows in each bag, [m, 1]
    if composition == "mean":
        hidden /= size
    has_context = windows.sum(1, keepdim=True) > 0
    loss, count, grad_hidden, grad_outputs = cbow_gradients(
        hidden, outputs, labels, target_mask, has_context, learning_rate
    )
    if composition == "sum":
        grad_hidden /= size
    return loss, count, spread_over_windows(grad_hidden, windows), grad_outputs


def _row_scale(ids: torch.Tensor, limit: float, weights: torch.Tensor, num_rows: int) -> torch.Tensor:
    """Per-entry factor min(1, limit / occurrences of that row in the batch), word2vec's cap on a
    row's summed step in one batch (`duplicate_scale`), where an entry stands for `weights`
    occurrences. The input table has millions of rows and a batch touches a few thousand, so the
    counts go into a table-sized buffer kept zero between calls (one per thread: slices run in
    parallel) and only the touched entries are reset: 10x faster than counting through `unique`."""
    counts = _count_buffer(num_rows, ids.device)
    counts.index_add_(0, ids, weights.to(torch.float32))
    occurrences = counts[ids]
    counts.index_fill_(0, ids, 0.0)
    return (limit / occurrences).clamp_(max=1.0)


_buffers = threading.local()


def _count_buffer(num_rows: int, device: torch.device) -> torch.Tensor:
    buffer = getattr(_buffers, "counts", None)
    if buffer is None or len(buffer) != num_rows or buffer.device != device:
        buffer = _buffers.counts = torch.zeros(num_rows, dtype=torch.float32, device=device)
    return buffer


class ParallelSGD:
    """`sgd_step` over a batch split into `workers` runs of consecutive centres, computed in
    parallel threads (one torch thread each) against the same tables, then applied: the input table
    and the output table each by one thread, slice after slice, so a run is reproducible. It equals
    one step over the whole batch, except for the per-row cap: each slice gets its share of it, so a
    row's summed step over the batch stays within the cap.

    Threads rather than torch's intra-op threads: a step is ~100 small ops, each parallel op ends in
    a barrier, and on a machine where other jobs run, one descheduled thread stalls every op (a step
    measured 20x slower with 2 intra-op threads than with 1); slices meet once per step.
    """

    def __init__(self, model, workers: int):
        self.model = model
        self.workers = workers
        self.pool = ThreadPoolExecutor(workers) if workers > 1 else None

    def __call__(self, batch: dict, learning_rate: float):
        if self.pool is None:
            return sgd_step(self.model, **batch, learning_rate=learning_rate)
        m, span = batch["window_mask"].shape
        size = -(-m // self.workers)
        slices = [
            {
                "tokens": batch["tokens"][s : min(m, s + size) + span - 1],
                **{k: batch[k][s : s + size] for k in ("window_mask", "targets", "labels", "target_mask")},
            }
            for s in range(0, m, size)
        ]
        limit = self.model.config.max_row_updates / len(slices)
        results = list(
            self.pool.map(
                lambda part: sgd_updates(self.model, **part, learning_rate=learning_rate, max_row_updates=limit), slices
            )
        )
        tables = (self.model.input_embeddings.weight, self.model.output_embeddings.weight)
        done = [self.pool.submit(_apply, table, [r[2 + t] for r in results]) for t, table in enumerate(tables)]
        for future in done:
            future.result()
        return sum(r[0] for r in results), sum(r[1] for r in results)


@torch.no_grad()  # grad mode is per thread: the pool's threads do not inherit the caller's
def _apply(table: torch.Tensor, updates) -> None:
    for rows, values in updates:
        table.index_add_(0, rows, values)
