"""GloVe as a `PreTrainedModel`: centre and context vectors W and C with their biases b and b'.

The loss over the non-zeros of the co-occurrence matrix X is Pennington et al.'s weighted least squares

    J = Σ f(x_ij) (w_i · c_j + b_i + b'_j − log x_ij)²,   f(x) = min(1, (x / x_max)^alpha).

Two ways to train it:
- `forward` + autograd + any optimizer;
- `adagrad_step`, the route of the reference implementation (glove.c): AdaGrad with closed-form
  gradients. A batch of pairs is grouped by centre word and by context word, each group's gradient
  is one weighted row sum (`F.embedding_bag`), and each word touched gets one update.

This file imports only torch and transformers so that it can travel with a saved model.
"""

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

try:
    from .configuration_glove import GloVeConfig
except ImportError:  # loaded as remote code, beside its configuration file
    from configuration_glove import GloVeConfig

# The AdaGrad accumulators: model state for an exact resume, so checkpoints hold them; the published
# folder leaves them out (half the file, and glove.c does not save them unless asked) and a model
# loaded from it starts them afresh.
ACCUMULATORS = ("center_grad_sq", "context_grad_sq", "center_bias_grad_sq", "context_bias_grad_sq")


@dataclass
class GloVeOutput(ModelOutput):
    """
    loss: mean over the pairs of f(x) (w · c + b + b' − log x)² (returned when `counts` is given).
    scores: the model's log co-occurrence w · c + b + b' of each pair, [batch].
    """

    loss: Optional[torch.Tensor] = None
    scores: Optional[torch.Tensor] = None


def weighting(x: torch.Tensor, x_max: float, alpha: float) -> torch.Tensor:
    """GloVe's f(x) = (x / x_max)^alpha, capped at 1: rare pairs count less, frequent ones not more."""
    return (x / x_max).pow(alpha).clamp(max=1.0)


class GloVePreTrainedModel(PreTrainedModel):
    config_class = GloVeConfig
    base_model_prefix = "glove"
    main_input_name = "rows"
    _keys_to_ignore_on_save = list(ACCUMULATORS)
    _keys_to_ignore_on_load_missing = [rf"^{name}$" for name in ACCUMULATORS]

    @torch.no_grad()
    def _init_weights(self, module):
        # Called per module: transformers skips parameter-less parents of custom models, so the
        # tables are set up here one by one, and the model itself only fills its accumulators.
        if isinstance(module, nn.Embedding):
            # glove.c: uniform in [-0.5, 0.5) / dim, biases included.
            bound = 0.5 / self.config.embedding_dim
            module.weight.uniform_(-bound, bound)
        elif isinstance(module, GloVePreTrainedModel):
            # glove.c starts every accumulator at 1, so the first steps use the plain learning rate.
            for name in ACCUMULATORS:
                if hasattr(module, name):
                    getattr(module, name).fill_(1.0)


class GloVeModel(GloVePreTrainedModel):
    def __init__(self, config: GloVeConfig):
        super().__init__(config)
        vocab_size, dim = config.vocab_size, config.embedding_dim
        self.center_embeddings = nn.Embedding(vocab_size, dim)
        self.context_embeddings = nn.Embedding(vocab_size, dim)
        self.center_biases = nn.Embedding(vocab_size, 1)
        self.context_biases = nn.Embedding(vocab_size, 1)
        for name, width in zip(ACCUMULATORS, (dim, dim, 1, 1)):
            self.register_buffer(name, torch.ones(vocab_size, width))
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.center_embeddings

    def set_input_embeddings(self, value: nn.Embedding):
        self.center_embeddings = value

    def word_embeddings(self) -> torch.Tensor:
        """The word vectors a user queries, as `config.export` says: W + C (glove.c's default), W, or [W, C]."""
        center = self.center_embeddings.weight.detach()
        context = self.context_embeddings.weight.detach()
        if self.config.export == "center":
            return center
        if self.config.export == "concat":
            return torch.cat([center, context], dim=1)
        return center + context

    def forward(
        self,
        rows: torch.Tensor,
        cols: torch.Tensor,
        counts: Optional[torch.Tensor] = None,
        return_dict: Optional[bool] = None,
    ):
        """Scores the pairs (`rows[k]`, `cols[k]`) (centre and context word ids, [batch]); with their
        co-occurrence `counts`, the loss is the mean weighted squared error."""
        scores = (
            (self.center_embeddings(rows) * self.context_embeddings(cols)).sum(-1)
            + self.center_biases(rows).squeeze(-1)
            + self.context_biases(cols).squeeze(-1)
        )
        loss = None
        if counts is not None:
            counts = counts.to(scores.dtype)
            loss = (weighting(counts, self.config.x_max, self.config.alpha) * (scores - counts.log()) ** 2).mean()
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if not return_dict:
            return (scores,) if loss is None else (loss, scores)
        return GloVeOutput(loss=loss, scores=scores)

    @torch.no_grad()
    def adagrad_step(
        self, rows: torch.Tensor, cols: torch.Tensor, counts: torch.Tensor, learning_rate: float = 0.05
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One AdaGrad update on a batch of pairs, as glove.c updates pair by pair but with every
        gradient taken at the parameters before the batch.

        As glove.c: the accumulators start at 1, each update divides by the square root of the
        accumulator before this step's squared gradients are added, and the accumulators sum the
        squares of the learning-rate-scaled gradients, pair by pair. When no word occurs twice in
        the batch (nor more than `config.max_row_updates` times, see `_group_gradients`) this is
        exactly glove.c's sequence of updates. The biases are scaled by the learning rate like the
        vectors, as in glove.c up to 2018; its later code steps the biases by the unscaled gradient,
        which diverges once a batch adds up many such steps for one word; that code also clips each
        gradient component to ±100, a bound a run that has not diverged stays far below, and which
        this step leaves out. Returns (summed loss
        f(x)(w·c + b + b' − log x)², number of pairs) before the update.
        """
        center, context = self.center_embeddings.weight, self.context_embeddings.weight
        center_bias, context_bias = self.center_biases.weight.view(-1), self.context_biases.weight.view(-1)
        counts = counts.to(center.dtype)
        w = F.embedding(rows, center)
        c = F.embedding(cols, context)
        diff = (w * c).sum(1)
        diff += F.embedding(rows, self.center_biases.weight).view(-1)
        diff += F.embedding(cols, self.context_biases.weight).view(-1)
        diff -= counts.log()
        fdiff = weighting(counts, self.config.x_max, self.config.alpha) * diff
        loss = (fdiff * diff).sum()
        step = fdiff * learning_rate
        # Both groupings read the parameters before either table is written.
        limit = self.config.max_row_updates
        by_center = _group_gradients(rows, cols, context, c, step, limit)
        by_context = _group_gradients(cols, rows, center, w, step, limit)
        _adagrad_update(center, center_bias, self.center_grad_sq, self.center_bias_grad_sq.view(-1), *by_center)
        _adagrad_update(context, context_bias, self.context_grad_sq, self.context_bias_grad_sq.view(-1), *by_context)
        return loss, torch.tensor(float(rows.numel()))


def _group_gradients(ids, partners, partner_table, partner_rows, step, limit):
    """Per distinct word of `ids`: the summed gradient of its vector, Σ step·(partner vector), the sum
    of the squared per-pair gradients, and the same two sums for its bias.

    `partner_rows` are the partner vectors already gathered in batch order; they are squared in place.
    With `limit`, a word in more than `limit` pairs has its summed gradients (not its squares) scaled
    to `limit` pairs' worth: glove.c moves a frequent word's vector between its pairs, while a batch
    adds up hundreds of steps taken from the same point, which overshoots (a batch of 262,144 pairs
    of WikiText-2 diverges without the cap).
    """
    order = torch.argsort(ids, stable=True)
    words, sizes = torch.unique_consecutive(ids[order], return_counts=True)
    offsets = sizes.cumsum(0) - sizes
    step_sorted = step[order]
    grad = F.embedding_bag(partners[order], partner_table, offsets, mode="sum", per_sample_weights=step_sorted)
    grad_sq = F.embedding_bag(
        order, partner_rows.square_(), offsets, mode="sum", per_sample_weights=step_sorted.square()
    )
    bias = F.embedding_bag(order, torch.stack([step, step.square()], 1), offsets, mode="sum")
    bias_grad = bias[:, 0]
    if limit:
        scale = (limit / sizes.to(step.dtype)).clamp_(max=1.0)
        grad *= scale[:, None]
        bias_grad = bias_grad * scale
    return words, grad, grad_sq, bias_grad, bias[:, 1]


def _adagrad_update(table, bias, table_sq, bias_sq, words, grad, grad_sq, bias_grad, bias_grad_sq):
    grad *= table_sq.index_select(0, words).rsqrt_()
    table.index_add_(0, words, grad, alpha=-1.0)
    table_sq.index_add_(0, words, grad_sq)
    bias.index_add_(0, words, bias_grad * bias_sq.index_select(0, words).rsqrt_(), alpha=-1.0)
    bias_sq.index_add_(0, words, bias_grad_sq)
