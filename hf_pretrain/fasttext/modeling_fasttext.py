"""fastText (Bojanowski et al., 2017) as a `PreTrainedModel`: word2vec whose input vector of a word is
composed of the vectors of its subwords.

The input table has `vocab_size + num_subword_rows` rows, word rows first, then hashed character
n-gram rows (or BPE piece rows), the layout of the fastText reference's `input_` matrix. The row list
of every vocabulary word (its own row, then its subword rows) is kept as two buffers, `subword_ids` and
`subword_offsets`, so a saved model composes its vectors without any tokenizer.

`sgd_step` is word2vec's fast step with one change: the vectors of the block of positions come from
composing each distinct word of the block once (`F.embedding_bag` over its rows), and each word's
gradient, summed over its positions, is scattered back to all of its rows with one `index_add_`.
Everything between (windows as `unfold` views, scores and gradients as `bmm`) is the same.

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
    from .configuration_fasttext import FastTextConfig
except ImportError:  # loaded as remote code, beside its configuration file
    from configuration_fasttext import FastTextConfig


@dataclass
class FastTextOutput(ModelOutput):
    """
    loss: mean over examples of the masked binary cross-entropy (returned when `labels` is given).
    logits: scores of each target, [batch, targets].
    """

    loss: Optional[torch.Tensor] = None
    logits: Optional[torch.Tensor] = None


class FastTextPreTrainedModel(PreTrainedModel):
    config_class = FastTextConfig
    base_model_prefix = "fasttext"
    main_input_name = "input_ids"

    @torch.no_grad()
    def _init_weights(self, module):
        if not isinstance(module, nn.Embedding):
            return
        if module is getattr(self, "output_embeddings", None):
            module.weight.zero_()
        else:
            # fastText initialises every input row, words and subwords, uniformly in ±1/dim.
            module.weight.uniform_(-1.0 / module.embedding_dim, 1.0 / module.embedding_dim)


class FastTextModel(FastTextPreTrainedModel):
    def __init__(self, config: FastTextConfig):
        super().__init__(config)
        self.input_embeddings = nn.Embedding(config.vocab_size + config.num_subword_rows, config.embedding_dim)
        self.output_embeddings = nn.Embedding(config.num_output_vectors, config.embedding_dim)
        if config.num_subword_ids:  # filled in by the saved weights
            ids, offsets = torch.zeros(config.num_subword_ids, dtype=torch.long), torch.zeros(config.vocab_size + 1, dtype=torch.long)
        else:  # until subwords are attached, each word is its own row only
            ids, offsets = torch.arange(config.vocab_size), torch.arange(config.vocab_size + 1)
        self.register_buffer("subword_ids", ids)
        self.register_buffer("subword_offsets", offsets)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.input_embeddings

    def set_input_embeddings(self, value: nn.Embedding):
        self.input_embeddings = value

    def set_subwords(self, ids, offsets) -> None:
        """Attach the row list of every word: `ids[offsets[w]:offsets[w + 1]]` (own row first)."""
        ids = torch.as_tensor(ids, dtype=torch.long)
        offsets = torch.as_tensor(offsets, dtype=torch.long)
        rows = self.input_embeddings.num_embeddings
        if offsets.shape != (self.config.vocab_size + 1,) or offsets[0] != 0 or offsets[-1] != len(ids):
            raise ValueError(f"offsets must have {self.config.vocab_size + 1} entries from 0 to len(ids) = {len(ids)}")
        if len(ids) and (ids.min() < 0 or ids.max() >= rows):
            raise ValueError(f"subword ids must lie in [0, {rows}), got [{int(ids.min())}, {int(ids.max())}]")
        device = self.subword_ids.device
        self.subword_ids, self.subword_offsets = ids.to(device), offsets.to(device)
        self.config.num_subword_ids = len(ids)

    def _bags(self, words: torch.Tensor):
        """The rows of each word in `words`, flat, with the offsets and lengths of each word's bag."""
        starts = self.subword_offsets[words]
        lengths = self.subword_offsets[words + 1] - starts
        bag_offsets = torch.cumsum(lengths, 0) - lengths
        total = int(lengths.sum())
        index = torch.arange(total, device=words.device) + torch.repeat_interleave(
            starts - bag_offsets, lengths, output_size=total
        )
        return self.subword_ids[index], bag_offsets, lengths

    def _sums(self, words: torch.Tensor):
        """Sum of each word's rows and how many rows that is."""
        rows, bag_offsets, lengths = self._bags(words)
        return F.embedding_bag(rows, self.input_embeddings.weight, bag_offsets, mode="sum"), lengths, rows

    def compose(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Vectors of vocabulary words, [*input_ids.shape, D]: the mean (or sum) of their rows."""
        sums, lengths, _ = self._sums(input_ids.reshape(-1))
        if self.config.composition == "mean":
            sums = sums / lengths.clamp(min=1)[:, None].to(sums.dtype)
        return sums.view(*input_ids.shape, -1)

    def word_embeddings(self) -> torch.Tensor:
        """The composed vector of every vocabulary word (fastText's `get_word_vector`)."""
        with torch.no_grad():
            return self.compose(torch.arange(self.config.vocab_size, device=self.subword_ids.device))

    def forward(
        self,
        input_ids: torch.Tensor,
        target_ids: torch.Tensor,
        labels: Optional[torch.Tensor] = None,
        input_mask: Optional[torch.Tensor] = None,
        target_mask: Optional[torch.Tensor] = None,
        return_dict: Optional[bool] = None,
    ):
        """Scores `target_ids` [B, T] against the composed input: one word per example for skip-gram
        (`input_ids` [B] or [B, 1]), a padded context for CBOW ([B, L] with `input_mask`), whose
        hidden vector is the mean (or sum) of all rows of all its words, as in fastText's `cbow`."""
        if input_ids.dim() == 1:
            input_ids = input_ids[:, None]
        sums, lengths, _ = self._sums(input_ids.reshape(-1))
        sums, lengths = sums.view(*input_ids.shape, -1), lengths.view(input_ids.shape).to(sums.dtype)
        mask = torch.ones_like(lengths) if input_mask is None else input_mask.to(sums.dtype)
        hidden = torch.bmm(mask[:, None, :], sums)  # [B, 1, D]
        if self.config.composition == "mean":
            hidden = hidden / (mask * lengths).sum(1).clamp(min=1)[:, None, None]
        logits = torch.bmm(hidden, self.output_embeddings(target_ids).transpose(1, 2)).squeeze(1)
        loss = None
        if labels is not None:
            weight = torch.ones_like(logits) if target_mask is None else target_mask.to(logits.dtype)
            losses = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), weight=weight, reduction="none")
            loss = (losses.sum(1) / weight.sum(1).clamp(min=1)).mean()
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if not return_dict:
            return (logits,) if loss is None else (loss, logits)
        return FastTextOutput(loss=loss, logits=logits)

    @torch.no_grad()
    def sgd_step(
        self,
        tokens: torch.Tensor,
        window_mask: torch.Tensor,
        targets: torch.Tensor,
        labels: torch.Tensor,
        target_mask: torch.Tensor,
        learning_rate: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD update with closed-form gradients on the batch layout of word2vec's `sgd_step`:
        `tokens` [m + 2W] around m consecutive centres, `window_mask` [m, 2W + 1], `targets`,
        `labels`, `target_mask` [m, T]. Skip-gram scores each composed context position against its
        centre's targets (the pairs fastText's `skipgram` scores, with the roles of the two words of
        a pair swapped, which leaves the set of pairs the same); CBOW scores the bag of all rows of
        the context. Returns (summed binary cross-entropy, number of scored pairs) before the update.
        """
        loss, count, (rows, grad_rows), (ids, grad_outputs) = self.sgd_updates(
            tokens, window_mask, targets, labels, target_mask, learning_rate
        )
        self.input_embeddings.weight.index_add_(0, rows, grad_rows)
        self.output_embeddings.weight.index_add_(0, ids, grad_outputs)
        return loss, count

    @torch.no_grad()
    def sgd_updates(self, tokens, window_mask, targets, labels, target_mask, learning_rate, max_row_updates=None):
        """`sgd_step` without the writes: (loss, count, (input rows, their updates), (output rows,
        their updates)). Slices of a batch can compute these in parallel threads against the same
        tables, then be applied (`index_add_`) once all are computed; `max_row_updates` then
        overrides the config's cap for each slice."""
        syn0 = self.input_embeddings.weight
        syn1 = self.output_embeddings.weight
        m, span = window_mask.shape
        dtype = syn0.dtype
        # Each distinct word of the block is composed once and its rows are updated once, with the
        # gradients of all its positions summed first: a batch repeats many words, each with ~10-20 rows.
        words, position_word = torch.unique(tokens, return_inverse=True)
        word_sums, word_lengths, rows = self._sums(words)  # [U, D]
        outputs = F.embedding(targets, syn1)  # [m, T, D]
        windows = window_mask.to(dtype)
        if self.config.architecture == "skipgram":
            composed = word_sums
            if self.config.composition == "mean":
                composed = word_sums / word_lengths.clamp(min=1)[:, None].to(dtype)
            block = F.embedding(position_word, composed)  # [m + 2W, D]
            contexts = block.unfold(0, span, 1).transpose(1, 2)  # [m, span, D], a view of `block`
            logits = torch.bmm(contexts, outputs.transpose(1, 2))  # [m, span, T]
            weight = windows[:, :, None] * target_mask[:, None, :].to(dtype)
            labels = labels[:, None, :].expand_as(logits)
            loss = F.binary_cross_entropy_with_logits(logits, labels, weight=weight, reduction="sum")
            grad = (labels - torch.sigmoid(logits)) * (weight * learning_rate)
            grad_outputs = torch.bmm(grad.transpose(1, 2), contexts)  # [m, T, D]
            grad_block = _fold_windows(grad, outputs)  # [m + 2W, D]
        else:
            sums = F.embedding(position_word, word_sums)
            lengths = word_lengths[position_word].to(dtype)
            hidden = torch.zeros(m, sums.shape[1], dtype=dtype, device=syn0.device)
            size = torch.zeros(m, dtype=dtype, device=syn0.device)
            counts = windows.sum(1)
            for o in range(span):
                hidden.addcmul_(windows[:, o, None], sums[o : o + m])
                size.addcmul_(windows[:, o], lengths[o : o + m])
            if self.config.composition == "mean":
                hidden /= size.clamp(min=1)[:, None]
            logits = torch.bmm(outputs, hidden[:, :, None]).squeeze(2)  # [m, T]
            # A centre without any context word (a one-word sentence) has nothing to learn from.
            weight = target_mask.to(dtype) * (counts > 0).to(dtype)[:, None]
            loss = F.binary_cross_entropy_with_logits(logits, labels, weight=weight, reduction="sum")
            grad = (labels - torch.sigmoid(logits)) * (weight * learning_rate)
            grad_hidden = torch.bmm(grad[:, None, :], outputs).squeeze(1)  # [m, D]
            grad_outputs = grad[:, :, None] * hidden[:, None, :]
            if self.config.composition == "sum":
                grad_hidden /= size.clamp(min=1)[:, None]
            grad_block = torch.zeros_like(sums)
            for o in range(span):
                grad_block[o : o + m].addcmul_(windows[:, o, None], grad_hidden)
        grad_words = torch.zeros_like(word_sums).index_add_(0, position_word, grad_block)
        if self.config.architecture == "skipgram" and self.config.composition == "sum":
            grad_words /= word_lengths.clamp(min=1)[:, None].to(dtype)
        # As fastText's `Model::update`: the composed vector is the mean of its rows, yet every row
        # receives the full gradient (unscaled, as word2vec.c does for CBOW's mean), so the mean takes
        # a word2vec-sized step. For the sum, each row gets 1/rows of it, so that the sum takes that
        # same step: the exact gradient would move a sum of ~15 rows 15 times too far and diverge.
        grad_rows = grad_words.repeat_interleave(word_lengths, dim=0, output_size=len(rows))
        limit = self.config.max_row_updates if max_row_updates is None else max_row_updates
        if limit:
            # A row's occurrences in the batch: the positions of every word that holds it.
            positions = torch.bincount(position_word, minlength=len(words))
            grad_rows *= _duplicate_scale(rows, limit, positions.repeat_interleave(word_lengths, output_size=len(rows)))[:, None]
            ids = targets.reshape(-1)
            occurrences = torch.bincount(ids, minlength=syn1.shape[0])[ids]
            grad_outputs *= (limit / occurrences.to(dtype)).clamp_(max=1.0).view(m, -1, 1)
        return loss, weight.sum(), (rows, grad_rows), (targets.reshape(-1), grad_outputs.reshape(-1, syn1.shape[1]))


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


def _duplicate_scale(ids: torch.Tensor, limit: float, weights: torch.Tensor) -> torch.Tensor:
    """Per-entry factor min(1, limit / occurrences of that row in the batch), word2vec's cap on a
    row's summed step in one batch, where an entry stands for `weights` occurrences. Counted with
    `unique` rather than `bincount`: the input table has millions of rows, a batch touches a few
    thousand."""
    _, inverse = torch.unique(ids, return_inverse=True)
    occurrences = torch.zeros(int(inverse.max()) + 1 if len(ids) else 0, dtype=torch.float32, device=ids.device)
    occurrences.index_add_(0, inverse, weights.to(torch.float32))
    return (limit / occurrences[inverse]).clamp_(max=1.0)
