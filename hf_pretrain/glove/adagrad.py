"""GloVe's training step, the route of the reference implementation (glove.c): AdaGrad with
closed-form gradients, batched.

The batch's dot products are one sampled sparse-dense matrix product; its pairs are grouped by centre
word and by context word, each word's gradient is one weighted row sum (`F.embedding_bag`), and each
word gets one update. A function of the model rather than its method: the model (configuration,
weights and the AdaGrad accumulators it holds as buffers, so that checkpoints keep them) travels
with a saved folder as remote code, how it is trained stays in the package.
"""

import warnings

import torch
import torch.nn.functional as F

from .modeling_glove import weighting


@torch.no_grad()
def adagrad_step(
    model, rows: torch.Tensor, cols: torch.Tensor, counts: torch.Tensor, learning_rate: float = 0.05
) -> tuple[torch.Tensor, torch.Tensor]:
    """One AdaGrad update on a batch of pairs (centre words `rows`, context words `cols`, their
    co-occurrence `counts`), as glove.c updates pair after pair but with every gradient taken at
    the parameters before the batch. Returns (summed loss f(x)(w·c + b + b' − log x)², number of
    pairs) before the update.

    As glove.c, the accumulators start at 1, each update divides by the square root of the
    accumulator before this step's squared gradients are added, and the accumulators sum the
    squares of the learning-rate-scaled gradients, pair by pair: when no word occurs twice in
    the batch, this is exactly glove.c's sequence of updates (for a word in more pairs than
    `config.max_row_updates`, see `_word_gradients`). The biases step by the learning-rate-scaled
    gradient like the vectors, as glove.c did until 2018; its later code leaves the learning rate
    out of the bias step, which diverges once a batch adds up many such steps for one word. That
    code also clips each gradient component to ±100, a bound that a run which has not diverged
    stays far below, and which this step leaves out.
    """
    center, context = model.center_embeddings.weight, model.context_embeddings.weight
    center_bias, context_bias = model.center_biases.weight.view(-1), model.context_biases.weight.view(-1)
    vocab_size = center.shape[0]
    key = rows * vocab_size + cols
    # On a CPU checking the order is cheaper than sorting; on an accelerator reading the check
    # back would stall the queue every step, and sorting sorted keys (stably) changes nothing.
    if rows.numel() > 1 and (rows.device.type != "cpu" or not bool((key[1:] >= key[:-1]).all())):
        order = torch.argsort(key, stable=True)
        rows, cols, counts = rows[order], cols[order], counts[order]
    counts = counts.to(center.dtype)
    # In (row, col) order the batch is a sparse CSR matrix, and all its dot products w_i · c_j
    # are one sampled matrix product, which reads each vector where it lies instead of copying
    # the [batch, D] rows out first.
    row_sizes = torch.bincount(rows, minlength=vocab_size)
    pattern = _csr_pattern(row_sizes, cols, counts)
    diff = torch.sparse.sampled_addmm(pattern, center, context.t(), beta=0.0).values()
    diff = diff + F.embedding(rows, model.center_biases.weight).view(-1)
    diff += F.embedding(cols, model.context_biases.weight).view(-1)
    diff -= counts.log()
    fdiff = weighting(counts, model.config.x_max, model.config.alpha) * diff
    loss = (fdiff * diff).sum()
    step = fdiff * learning_rate
    # Both sides' gradients are taken before either side is updated. Whichever is smaller, the
    # vocabulary or the batch, sets the cost of a step: with a small vocabulary every word's row
    # is updated in place, with a large one only the rows the batch touches.
    limit, whole_tables = model.config.max_row_updates, vocab_size <= rows.numel()
    by_center = _word_gradients(rows, row_sizes, cols, context, step, limit, whole_tables)
    order = torch.argsort(cols, stable=True)
    col_sizes = torch.bincount(cols, minlength=vocab_size)
    by_context = _word_gradients(cols[order], col_sizes, rows[order], center, step[order], limit, whole_tables)
    _adagrad_update(center, center_bias, model.center_grad_sq, model.center_bias_grad_sq.view(-1), *by_center)
    _adagrad_update(context, context_bias, model.context_grad_sq, model.context_bias_grad_sq.view(-1), *by_context)
    return loss, torch.tensor(float(rows.numel()))


def _csr_pattern(row_sizes, cols, values):
    crow = torch.zeros(len(row_sizes) + 1, dtype=cols.dtype, device=cols.device)
    torch.cumsum(row_sizes, 0, out=crow[1:])
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the operation used here is not
        warnings.simplefilter("ignore")
        return torch.sparse_csr_tensor(
            crow, cols, values, size=(len(row_sizes), len(row_sizes)), check_invariants=False
        )


def _word_gradients(ids, sizes, partners, partner_table, step, limit, whole_tables):
    """Gradients per word for pairs sorted by word (`ids`, with `sizes[w]` pairs for word w, partner
    words `partners`, steps `step` = learning rate × f(x) × diff): each word's summed vector gradient
    Σ step·(partner vector), the sum of its squared per-pair gradients Σ step²·(partner vector)², and
    the same two sums for its bias. `F.embedding_bag` sums each word's partner rows without copying
    them out. Returns them for every word (`whole_tables`) or for the words present, listed first.

    With `limit`, a word in more than `limit` pairs has its summed gradients (not their squares)
    scaled to `limit` pairs' worth: glove.c moves a frequent word's vector between its pairs, while a
    batch adds up hundreds of steps taken from the same point, which overshoots (a batch of 262,144
    pairs of WikiText-2 diverges without the cap).
    """
    step_sq = step.square()
    if limit:
        step = step * (limit / sizes.to(step.dtype)).clamp_(max=1.0)[ids]
    vocab_size = len(sizes)
    bias_grad = torch.zeros(vocab_size, dtype=step.dtype, device=step.device).index_add_(0, ids, step)
    bias_grad_sq = torch.zeros_like(bias_grad).index_add_(0, ids, step_sq)
    if whole_tables:
        offsets = sizes.cumsum(0) - sizes
        grad = F.embedding_bag(partners, partner_table, offsets, mode="sum", per_sample_weights=step)
        grad_sq = F.embedding_bag(partners, partner_table.square(), offsets, mode="sum", per_sample_weights=step_sq)
        return None, grad, grad_sq, bias_grad, bias_grad_sq
    words = torch.nonzero(sizes).view(-1)
    offsets = sizes[words].cumsum(0) - sizes[words]
    grad = F.embedding_bag(partners, partner_table, offsets, mode="sum", per_sample_weights=step)
    positions = torch.arange(len(partners), device=partners.device)
    partner_sq = F.embedding(partners, partner_table).square_()
    grad_sq = F.embedding_bag(positions, partner_sq, offsets, mode="sum", per_sample_weights=step_sq)
    return words, grad, grad_sq, bias_grad[words], bias_grad_sq[words]


def _adagrad_update(table, bias, table_sq, bias_sq, words, grad, grad_sq, bias_grad, bias_grad_sq):
    """AdaGrad as glove.c: step by the gradient over the root of the accumulator, then accumulate."""
    if words is None:
        table.addcmul_(grad, table_sq.rsqrt(), value=-1.0)
        table_sq.add_(grad_sq)
        bias.addcmul_(bias_grad, bias_sq.rsqrt(), value=-1.0)
        bias_sq.add_(bias_grad_sq)
        return
    # The words are distinct: gather, update and write back (index_copy_ runs far faster than index_add_).
    accumulated = table_sq.index_select(0, words)
    table.index_copy_(0, words, table.index_select(0, words).addcmul_(grad, accumulated.rsqrt(), value=-1.0))
    table_sq.index_copy_(0, words, accumulated.add_(grad_sq))
    accumulated = bias_sq.index_select(0, words)
    bias.index_copy_(0, words, bias.index_select(0, words).addcmul_(bias_grad, accumulated.rsqrt(), value=-1.0))
    bias_sq.index_copy_(0, words, accumulated.add_(bias_grad_sq))
