"""word2vec as a `PreTrainedModel`: two embedding tables (input vectors and output vectors).

Two ways to train it:
- `forward` + autograd + any optimizer (the book's route: masked binary cross-entropy, Adam);
- `hf_pretrain.word2vec.sgd.sgd_step`, the fast route of word2vec.c and gensim: plain SGD with
  closed-form gradients, written straight into the two tables. It lives in the package, not here:
  a model is its configuration, weights and `forward`.

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
    from .configuration_word2vec import Word2VecConfig
except ImportError:  # loaded as remote code, beside its configuration file
    from configuration_word2vec import Word2VecConfig


@dataclass
class Word2VecOutput(ModelOutput):
    """
    loss: mean over examples of the masked binary cross-entropy (returned when `labels` is given).
    logits: scores of each target, [batch, targets].
    """

    loss: Optional[torch.Tensor] = None
    logits: Optional[torch.Tensor] = None


def masked_bce(logits: torch.Tensor, labels: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Binary cross-entropy per example, averaged over its unmasked targets (the book's
    `SigmoidBCELoss` scaled by `mask.shape[1] / mask.sum(1)`)."""
    if mask is None:
        mask = torch.ones_like(logits)
    mask = mask.to(logits.dtype)
    losses = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), weight=mask, reduction="none")
    return losses.sum(dim=1) / mask.sum(dim=1).clamp(min=1)


class Word2VecPreTrainedModel(PreTrainedModel):
    config_class = Word2VecConfig
    base_model_prefix = "word2vec"
    main_input_name = "input_ids"

    @torch.no_grad()
    def _init_weights(self, module):
        # Called per embedding table: transformers skips parameter-less parents of custom models.
        if not isinstance(module, nn.Embedding):
            return
        if self.config.initializer == "xavier_uniform":
            nn.init.xavier_uniform_(module.weight)
        elif module is getattr(self, "output_embeddings", None):
            module.weight.zero_()
        else:
            module.weight.uniform_(-0.5 / module.embedding_dim, 0.5 / module.embedding_dim)


class Word2VecModel(Word2VecPreTrainedModel):
    def __init__(self, config: Word2VecConfig):
        super().__init__(config)
        self.input_embeddings = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.output_embeddings = nn.Embedding(config.num_output_vectors, config.embedding_dim)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.input_embeddings

    def set_input_embeddings(self, value: nn.Embedding):
        self.input_embeddings = value

    def word_embeddings(self) -> torch.Tensor:
        """The word vectors a user queries: the input vectors, as word2vec.c and gensim export."""
        return self.input_embeddings.weight.detach()

    def _combine_inputs(self, input_ids: torch.Tensor, input_mask: Optional[torch.Tensor]) -> torch.Tensor:
        if input_ids.dim() == 1:
            input_ids = input_ids[:, None]
        vectors = self.input_embeddings(input_ids)  # [B, L, D]
        if input_ids.shape[1] == 1 and input_mask is None:
            return vectors
        weights = torch.ones(input_ids.shape, dtype=vectors.dtype, device=vectors.device)
        if input_mask is not None:
            weights = input_mask.to(vectors.dtype)
        if self.config.architecture == "cbow" and self.config.cbow_combiner == "mean":
            weights = weights / weights.sum(1, keepdim=True).clamp(min=1)
        return torch.bmm(weights[:, None, :], vectors)

    def forward(
        self,
        input_ids: torch.Tensor,
        target_ids: torch.Tensor,
        labels: Optional[torch.Tensor] = None,
        input_mask: Optional[torch.Tensor] = None,
        target_mask: Optional[torch.Tensor] = None,
        return_dict: Optional[bool] = None,
    ):
        """Scores `target_ids` [B, T] against the input: one word per example for skip-gram
        (`input_ids` [B] or [B, 1], the book's `centers`), a padded context for CBOW ([B, L] with
        `input_mask`). For hierarchical softmax the targets are Huffman inner nodes and the labels
        1 - code. With `labels`, the loss is the book's masked binary cross-entropy."""
        hidden = self._combine_inputs(input_ids, input_mask)
        logits = torch.bmm(hidden, self.output_embeddings(target_ids).transpose(1, 2)).squeeze(1)
        loss = None if labels is None else masked_bce(logits, labels, target_mask).mean()
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if not return_dict:
            return (logits,) if loss is None else (loss, logits)
        return Word2VecOutput(loss=loss, logits=logits)
