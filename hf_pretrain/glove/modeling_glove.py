"""GloVe as a `PreTrainedModel`: centre and context vectors W and C with their biases b and b'.

The loss over the non-zeros of the co-occurrence matrix X is Pennington et al.'s weighted least squares

    J = Σ f(x_ij) (w_i · c_j + b_i + b'_j − log x_ij)²,   f(x) = min(1, (x / x_max)^alpha).

Two ways to train it:
- `forward` + autograd + any optimizer;
- `hf_pretrain.glove.adagrad.adagrad_step`, the route of the reference implementation (glove.c):
  AdaGrad with closed-form gradients. It lives in the package, not here: a model is its
  configuration, weights (with the AdaGrad accumulators, which an exact resume needs) and `forward`.

This file imports only torch and transformers so that it can travel with a saved model.
"""

from dataclasses import dataclass
from typing import Optional

import torch
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
