"""fastText (Bojanowski et al., 2017) as a `PreTrainedModel`: word2vec whose input vector of a word is
composed of the vectors of its subwords.

The input table has `vocab_size + num_subword_rows` rows, word rows first, then hashed character
n-gram rows (or BPE piece rows), the layout of the fastText reference's `input_` matrix. The row list
of every vocabulary word (its own row, then its subword rows) is kept as two buffers, `subword_ids` and
`subword_offsets`, so a saved model composes its vectors without any tokenizer.

It is trained with `forward` + autograd + any optimizer, or with `hf_pretrain.fasttext.sgd.sgd_step`,
word2vec's closed-form SGD on composed vectors, which lives in the package: a model is its
configuration, weights and `forward`.

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
        rows = config.vocab_size + config.num_subword_rows
        # Created uninitialised: `post_init` draws every row (`_init_weights`), and nn.Embedding's own
        # normal draw before it would cost 0.7 s more for 2M subword rows.
        self.input_embeddings = nn.Embedding(
            rows, config.embedding_dim, _weight=torch.empty(rows, config.embedding_dim)
        )
        self.output_embeddings = nn.Embedding(config.num_output_vectors, config.embedding_dim)
        if config.num_subword_ids:  # filled in by the saved weights
            ids, offsets = (
                torch.zeros(config.num_subword_ids, dtype=torch.long),
                torch.zeros(config.vocab_size + 1, dtype=torch.long),
            )
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
            losses = F.binary_cross_entropy_with_logits(
                logits, labels.to(logits.dtype), weight=weight, reduction="none"
            )
            loss = (losses.sum(1) / weight.sum(1).clamp(min=1)).mean()
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if not return_dict:
            return (logits,) if loss is None else (loss, logits)
        return FastTextOutput(loss=loss, logits=logits)
