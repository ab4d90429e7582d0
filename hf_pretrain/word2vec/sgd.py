"""word2vec's fast training route, the one of word2vec.c and gensim: plain SGD with closed-form
gradients, batched.

A batch is a run of consecutive centre words, so all context vectors are shifted views of one
gathered block; the scores of every (context, target) pair are a batched matrix product; gradients
fold back onto the block, and reach the tables through two `index_add_` calls.

These are functions of a model rather than its methods: the model (configuration, weights, `forward`)
travels with a saved folder as remote code, how it is trained stays in the package. The window
kernels (`skipgram_gradients`, `window_sums`, `spread_over_windows`, `cbow_gradients`) and the output
side (`output_updates`) take vectors rather than a model, so that fastText runs the same ones on
vectors composed from subwords.
"""

from typing import Optional

import torch
import torch.nn.functional as F


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
    shared_negatives: Optional[torch.Tensor] = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD update of a `Word2VecModel` with closed-form gradients, as word2vec.c's inner loop but
    batched.

    `tokens` [m + 2W] are the ids around m consecutive centres, `window_mask` [m, 2W + 1] says
    which positions are contexts of each centre, `targets`/`labels`/`target_mask` [m, T] what
    each centre is scored against. Skip-gram scores every context vector against its centre's
    targets (word2vec.c's orientation: the context word is the input); CBOW scores the combined
    context. Returns (summed binary cross-entropy, number of scored pairs) before the update.

    CBOW only: with `shared_negatives` [g, K] the m centres form g groups of ceil(m / g)
    consecutive centres that share one draw of K noise words, so the noise scores become one
    [group, K] matrix product per group and far fewer rows are gathered and scattered.
    """
    syn0 = model.input_embeddings.weight
    syn1 = model.output_embeddings.weight
    limit = model.config.max_row_updates
    block = F.embedding(tokens, syn0)  # [m + 2W, D]
    if model.config.architecture == "cbow" and model.config.loss == "hierarchical_softmax":
        loss, count, grad_block = _cbow_path_step(
            model, block, window_mask, targets, labels, target_mask, learning_rate
        )
        if limit:
            grad_block *= duplicate_scale(tokens, syn0.shape[0], limit)[:, None]
        syn0.index_add_(0, tokens, grad_block)
        return loss, count
    outputs = F.embedding(targets, syn1)  # [m, T, D]
    if model.config.architecture == "skipgram":
        loss, count, grad_block, grad_outputs = skipgram_gradients(
            block, outputs, window_mask, labels, target_mask, learning_rate
        )
    else:
        loss, count, grad_block, grad_outputs = _cbow_step(
            model, block, outputs, window_mask, targets, labels, target_mask, learning_rate, shared_negatives
        )
    if limit:
        grad_block *= duplicate_scale(tokens, syn0.shape[0], limit)[:, None]
    syn0.index_add_(0, tokens, grad_block)
    syn1.index_add_(0, *output_updates(targets, grad_outputs, syn1.shape[0], limit))
    return loss, count


def skipgram_gradients(block, outputs, window_mask, labels, target_mask, learning_rate):
    """The skip-gram kernel over a run of m consecutive centres, shared by word2vec and fastText.

    `block` [m + 2W, D] holds the input vector of every position around the centres, `outputs`
    [m, T, D] the vectors of each centre's targets. Every context vector (a view of `block`) is
    scored against its centre's targets, word2vec.c's orientation of a pair. Returns (summed binary
    cross-entropy, number of scored pairs, learning-rate-scaled step of each block position
    [m + 2W, D], that of each target [m, T, D]), the steps before any cap on repeated rows.
    """
    span = window_mask.shape[1]
    dtype = block.dtype
    contexts = block.unfold(0, span, 1).transpose(1, 2)  # [m, span, D], a view of `block`
    logits = torch.bmm(contexts, outputs.transpose(1, 2))  # [m, span, T]
    weight = window_mask.to(dtype)[:, :, None] * target_mask[:, None, :].to(dtype)
    labels = labels[:, None, :].expand_as(logits)
    loss = F.binary_cross_entropy_with_logits(logits, labels, weight=weight, reduction="sum")
    grad = (labels - torch.sigmoid(logits)) * (weight * learning_rate)
    grad_outputs = torch.bmm(grad.transpose(1, 2), contexts)  # [m, T, D]
    return loss, weight.sum(), _fold_windows(grad, outputs), grad_outputs


def _fold_windows(grad: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """The gradient of each block position from the gradients of the windows that view it:
    with `contexts = grad @ outputs` [m, span, D], position p gets the sum over o of
    `contexts[p - o, o]`. The product is written into a zero-padded buffer in which those terms sit
    at a fixed stride, so one reduction over a strided view replaces 2W + 1 shifted adds."""
    m, span, _ = grad.shape
    dim = outputs.shape[-1]
    front, back = (span - 1) ** 2, (span - 2) * span + 1
    buffer = torch.empty(front + m * span + back, dim, dtype=outputs.dtype, device=outputs.device)
    buffer[:front].zero_()
    buffer[front + m * span :].zero_()
    torch.bmm(grad, outputs, out=buffer[front : front + m * span].view(m, span, dim))
    return buffer.as_strided((m + span - 1, span, dim), (span * dim, (span - 1) * dim, 1)).sum(1)


def _cbow_step(model, block, outputs, window_mask, targets, labels, target_mask, learning_rate, shared_negatives):
    """word2vec's CBOW on the block: the hidden vector of a centre is the mean (or sum) of its context
    vectors. Returns what `skipgram_gradients` returns; the noise words shared by groups of centres
    are updated here already."""
    windows, counts, hidden = _cbow_hidden(model, block, window_mask)
    loss, count, grad_hidden, grad_outputs = cbow_gradients(
        hidden, outputs, labels, target_mask, counts > 0, learning_rate
    )
    if shared_negatives is not None:
        noise_loss, noise_count = _shared_noise_step(
            model, hidden, grad_hidden, targets[:, 0], counts > 0, shared_negatives, learning_rate
        )
        loss, count = loss + noise_loss, count + noise_count
    # word2vec.c adds the hidden-layer error to every context word unscaled, for mean too.
    return loss, count, spread_over_windows(grad_hidden, windows), grad_outputs


def _cbow_hidden(model, block, window_mask):
    """(window weights [m, 2W + 1], context counts [m, 1], hidden vectors [m, D]): each centre's
    context vectors summed, or averaged with `cbow_combiner` "mean"."""
    windows = window_mask.to(block.dtype)
    counts = windows.sum(1, keepdim=True)
    hidden = window_sums(block, windows)
    if model.config.cbow_combiner == "mean":
        hidden /= counts.clamp(min=1)
    return windows, counts, hidden


def _cbow_path_step(model, block, window_mask, targets, labels, target_mask, learning_rate):
    """CBOW with hierarchical softmax on the inner nodes that are really on each centre's path.

    Paths are padded to the longest in the vocabulary (20 nodes on WikiText-2, 12 on average over
    its tokens), so the padded [m, T] layout of `cbow_gradients` spends ~40 % of its gathers, products
    and scatters on padding; here the (centre, node) pairs are listed first. Updates the output
    vectors; returns (summed binary cross-entropy, number of scored pairs, step of each block position)."""
    syn1 = model.output_embeddings.weight
    windows, counts, hidden = _cbow_hidden(model, block, window_mask)
    # A centre without any context word (a one-word sentence) has nothing to learn from.
    rows, columns = (target_mask & (counts > 0)).nonzero(as_tuple=True)
    nodes = targets[rows, columns]
    node_vectors = F.embedding(nodes, syn1)  # [n, D]
    hidden_rows = hidden[rows]  # [n, D]
    logits = (node_vectors * hidden_rows).sum(1)
    branch = labels[rows, columns]
    loss = F.binary_cross_entropy_with_logits(logits, branch, reduction="sum")
    grad = (branch - torch.sigmoid(logits)).mul_(learning_rate)[:, None]
    grad_hidden = torch.zeros_like(hidden).index_add_(0, rows, grad * node_vectors)
    grad_nodes = grad * hidden_rows
    limit = model.config.max_row_updates
    if limit:
        grad_nodes *= duplicate_scale(nodes, syn1.shape[0], limit)[:, None]
    syn1.index_add_(0, nodes, grad_nodes)
    # word2vec.c adds the hidden-layer error to every context word unscaled, for mean too.
    return loss, torch.tensor(float(len(nodes))), spread_over_windows(grad_hidden, windows)


def window_sums(rows: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
    """Each centre's sum of `rows` [m + 2W, ...] over the positions of its window, weighted by
    `windows` [m, 2W + 1]: [m, ...]."""
    m, span = windows.shape
    total = torch.zeros(m, *rows.shape[1:], dtype=rows.dtype, device=rows.device)
    for o in range(span):
        total.addcmul_(windows[:, o, None], rows[o : o + m])
    return total


def spread_over_windows(grad_hidden: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
    """The reverse of `window_sums`: each centre's gradient [m, D] added to every position of its
    window, [m + 2W, D]."""
    m, span = windows.shape
    grad_block = torch.zeros(m + span - 1, grad_hidden.shape[1], dtype=grad_hidden.dtype, device=grad_hidden.device)
    for o in range(span):
        grad_block[o : o + m].addcmul_(windows[:, o, None], grad_hidden)
    return grad_block


def cbow_gradients(hidden, outputs, labels, target_mask, has_context, learning_rate):
    """CBOW's scores and closed-form gradients: the hidden vectors [m, D] against their targets
    `outputs` [m, T, D]; `has_context` [m, 1] marks the centres with at least one context word.
    Returns (summed binary cross-entropy, number of scored pairs, learning-rate-scaled step of each
    hidden vector [m, D], that of each target [m, T, D])."""
    # A product and a sum, not bmm: a batch of [T, D] x [D, 1] products runs ~3.5x slower in bmm on
    # the CPU (each is too small for a GEMM kernel); bmm stays the faster way for grad_hidden below.
    logits = (outputs * hidden[:, None, :]).sum(2)  # [m, T]
    # A centre without any context word (a one-word sentence) has nothing to learn from.
    weight = target_mask.to(hidden.dtype) * has_context.to(hidden.dtype)
    loss = F.binary_cross_entropy_with_logits(logits, labels, weight=weight, reduction="sum")
    grad = (labels - torch.sigmoid(logits)) * (weight * learning_rate)
    grad_hidden = torch.bmm(grad[:, None, :], outputs).squeeze(1)  # [m, D]
    grad_outputs = grad[:, :, None] * hidden[:, None, :]
    return loss, weight.sum(), grad_hidden, grad_outputs


def _shared_noise_step(model, hidden, grad_hidden, centers, has_context, shared_negatives, learning_rate):
    """Noise-word part of the CBOW step for groups of centres sharing their noise words: adds
    the error to `grad_hidden` in place and updates the noise words' output vectors."""
    syn1 = model.output_embeddings.weight
    m, dim = hidden.shape
    groups = shared_negatives.shape[0]
    size = -(-m // groups)
    pad = groups * size - m
    grouped = F.pad(hidden, (0, 0, 0, pad)).view(groups, size, dim)
    noise = F.embedding(shared_negatives, syn1)  # [g, K, D]
    logits = torch.bmm(grouped, noise.transpose(1, 2))  # [g, size, K]
    # As word2vec.c, a noise word equal to the centre word is skipped.
    own = F.pad(centers, (0, pad), value=-1).view(groups, size, 1) != shared_negatives[:, None, :]
    valid = F.pad(has_context.squeeze(1), (0, pad)).view(groups, size, 1)
    weight = (own & valid).to(hidden.dtype)
    loss = F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits), weight=weight, reduction="sum")
    grad = torch.sigmoid(logits).mul_(weight).mul_(-learning_rate)
    grad_hidden += torch.bmm(grad, noise).view(-1, dim)[:m]
    grad_noise = torch.bmm(grad.transpose(1, 2), grouped)  # [g, K, D]
    ids = shared_negatives.reshape(-1)
    limit = model.config.max_row_updates
    if limit:
        # A shared noise word stands for `size` centres at once.
        grad_noise *= duplicate_scale(ids, syn1.shape[0], limit, occurrences_per_entry=size).view(groups, -1, 1)
    syn1.index_add_(0, ids, grad_noise.reshape(-1, dim))
    return loss, weight.sum()


def output_updates(targets: torch.Tensor, grad_outputs: torch.Tensor, num_rows: int, limit: float):
    """The output rows a step writes and their updates, flat ([m·T] and [m·T, D]), each row's summed
    update capped at `limit` updates' worth (0: no cap), for `index_add_`."""
    ids = targets.reshape(-1)
    updates = grad_outputs.reshape(-1, grad_outputs.shape[-1])
    if limit:
        updates *= duplicate_scale(ids, num_rows, limit)[:, None]
    return ids, updates


def duplicate_scale(ids: torch.Tensor, num_rows: int, limit: float, occurrences_per_entry: int = 1) -> torch.Tensor:
    """Per-entry factor min(1, limit / occurrences of that row in the batch), where each entry of
    `ids` stands for `occurrences_per_entry` occurrences.

    Sequential SGD lets a frequent word's vector move between its updates; a batch sums them all
    with one stale score, which overshoots once a row ("the" as a noise word, say) gets hundreds of
    updates in one step. Capping each row's summed step at `limit` occurrences' worth keeps large
    batches stable and leaves rows seen fewer times untouched.
    """
    if ids.device.type == "cpu":
        occurrences = torch.bincount(ids, minlength=num_rows)[ids]
        if occurrences_per_entry != 1:
            occurrences = occurrences * occurrences_per_entry
        occurrences = occurrences.to(torch.float32)
    else:  # bincount reads its size back to the host; a scatter-add into a fixed size does not
        ones = torch.full(ids.shape, float(occurrences_per_entry), dtype=torch.float32, device=ids.device)
        occurrences = torch.zeros(num_rows, dtype=torch.float32, device=ids.device).index_add_(0, ids, ones)[ids]
    return (limit / occurrences).clamp_(max=1.0)
