"""word2vec as a `PreTrainedModel`: two embedding tables (input vectors and output vectors).

Two ways to train it:
- `forward` + autograd + any optimizer (the book's route: masked binary cross-entropy, Adam);
- `sgd_step`, the fast route of word2vec.c and gensim: plain SGD with closed-form gradients. A batch
  is a run of consecutive centre words, so all context vectors are shifted views of one gathered
  block; the scores of every (context, target) pair are a batched matrix product; gradients fold
  back onto the block by shifting, and reach the tables through two `index_add_` calls.

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

    @torch.no_grad()
    def sgd_step(
        self,
        tokens: torch.Tensor,
        window_mask: torch.Tensor,
        targets: torch.Tensor,
        labels: torch.Tensor,
        target_mask: torch.Tensor,
        learning_rate: float,
        shared_negatives: Optional[torch.Tensor] = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD update with closed-form gradients, as word2vec.c's inner loop but batched.

        `tokens` [m + 2W] are the ids around m consecutive centres, `window_mask` [m, 2W + 1] says
        which positions are contexts of each centre, `targets`/`labels`/`target_mask` [m, T] what
        each centre is scored against. Skip-gram scores every context vector against its centre's
        targets (word2vec.c's orientation: the context word is the input); CBOW scores the combined
        context. Returns (summed binary cross-entropy, number of scored pairs) before the update.

        CBOW only: with `shared_negatives` [g, K] the m centres form g groups of ceil(m / g)
        consecutive centres that share one draw of K noise words, so the noise scores become one
        [group, K] matrix product per group and far fewer rows are gathered and scattered.
        """
        syn0 = self.input_embeddings.weight
        syn1 = self.output_embeddings.weight
        m, span = window_mask.shape
        dim = syn0.shape[1]
        block = F.embedding(tokens, syn0)  # [m + 2W, D]
        outputs = F.embedding(targets, syn1)  # [m, T, D]
        windows = window_mask.to(syn0.dtype)
        if self.config.architecture == "skipgram":
            contexts = block.unfold(0, span, 1).transpose(1, 2)  # [m, span, D], a view of `block`
            logits = torch.bmm(contexts, outputs.transpose(1, 2))  # [m, span, T]
            weight = windows[:, :, None] * target_mask[:, None, :].to(syn0.dtype)
            labels = labels[:, None, :].expand_as(logits)
            loss = F.binary_cross_entropy_with_logits(logits, labels, weight=weight, reduction="sum")
            grad = (labels - torch.sigmoid(logits)) * (weight * learning_rate)
            grad_contexts = torch.bmm(grad, outputs)  # [m, span, D]
            grad_outputs = torch.bmm(grad.transpose(1, 2), contexts)  # [m, T, D]
            count = weight.sum()
            grad_block = torch.zeros_like(block)
            for o in range(span):
                grad_block[o : o + m] += grad_contexts[:, o]
        else:
            counts = windows.sum(1, keepdim=True)
            hidden = torch.zeros(m, dim, dtype=syn0.dtype, device=syn0.device)
            for o in range(span):
                hidden.addcmul_(windows[:, o, None], block[o : o + m])
            if self.config.cbow_combiner == "mean":
                hidden /= counts.clamp(min=1)
            logits = torch.bmm(outputs, hidden[:, :, None]).squeeze(2)  # [m, T]
            # A centre without any context word (a one-word sentence) has nothing to learn from.
            weight = target_mask.to(syn0.dtype) * (counts > 0).to(syn0.dtype)
            loss = F.binary_cross_entropy_with_logits(logits, labels, weight=weight, reduction="sum")
            grad = (labels - torch.sigmoid(logits)) * (weight * learning_rate)
            grad_hidden = torch.bmm(grad[:, None, :], outputs).squeeze(1)  # [m, D]
            grad_outputs = grad[:, :, None] * hidden[:, None, :]
            count = weight.sum()
            if shared_negatives is not None:
                noise_loss, noise_count = self._shared_noise_step(
                    hidden, grad_hidden, targets[:, 0], counts > 0, shared_negatives, learning_rate
                )
                loss, count = loss + noise_loss, count + noise_count
            # word2vec.c adds the hidden-layer error to every context word unscaled, for mean too.
            grad_block = torch.zeros_like(block)
            for o in range(span):
                grad_block[o : o + m].addcmul_(windows[:, o, None], grad_hidden)
        limit = self.config.max_row_updates
        if limit:
            grad_block *= _duplicate_scale(tokens, syn0.shape[0], limit)[:, None]
            grad_outputs *= _duplicate_scale(targets.reshape(-1), syn1.shape[0], limit).view(m, -1, 1)
        syn0.index_add_(0, tokens, grad_block)
        syn1.index_add_(0, targets.reshape(-1), grad_outputs.reshape(-1, dim))
        return loss, count

    def _shared_noise_step(self, hidden, grad_hidden, centers, has_context, shared_negatives, learning_rate):
        """Noise-word part of the CBOW step for groups of centres sharing their noise words: adds
        the error to `grad_hidden` in place and updates the noise words' output vectors."""
        syn1 = self.output_embeddings.weight
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
        if self.config.max_row_updates:
            # A shared noise word stands for `size` centres at once.
            occurrences = torch.bincount(ids, minlength=syn1.shape[0])[ids] * size
            grad_noise *= (self.config.max_row_updates / occurrences.to(hidden.dtype)).clamp_(max=1.0).view(groups, -1, 1)
        syn1.index_add_(0, ids, grad_noise.reshape(-1, dim))
        return loss, weight.sum()


def _duplicate_scale(ids: torch.Tensor, num_rows: int, limit: int) -> torch.Tensor:
    """Per-occurrence factor min(1, limit / occurrences of that row in the batch).

    Sequential SGD lets a frequent word's vector move between its updates; a batch sums them all
    with one stale score, which overshoots once a row ("the" as a noise word, say) gets hundreds of
    updates in one step. Capping each row's summed step at `limit` occurrences' worth keeps large
    batches stable and leaves rows seen fewer times untouched.
    """
    if ids.device.type == "cpu":
        occurrences = torch.bincount(ids, minlength=num_rows)[ids].to(torch.float32)
    else:  # bincount reads its size back to the host; a scatter-add into a fixed size does not
        ones = torch.ones(ids.shape, dtype=torch.float32, device=ids.device)
        occurrences = torch.zeros(num_rows, dtype=torch.float32, device=ids.device).index_add_(0, ids, ones)[ids]
    return (limit / occurrences).clamp_(max=1.0)
