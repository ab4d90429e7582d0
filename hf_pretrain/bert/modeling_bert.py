"""BERT (Devlin et al., 2019) as `PreTrainedModel`s: the encoder and the pretraining model (masked
language modelling + next sentence prediction).

Module and parameter names follow transformers' `BertModel` / `BertForPreTraining`, so a state dict
moves between the two unchanged (`to_transformers()` does that), and `_tied_weights_keys` is
declared the way transformers 5 declares it there, so the decoder tied to the token embeddings is
saved once and tied again on loading.

This file imports only torch and transformers so that it can travel with a saved model.
"""

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.utils import ModelOutput

try:
    from .configuration_bert import HfpBertConfig
except ImportError:  # loaded as remote code, beside its configuration file
    from configuration_bert import HfpBertConfig

# Config attributes that mean the same in transformers' BertConfig.
_BERT_CONFIG_ATTRIBUTES = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "max_position_embeddings",
    "type_vocab_size",
    "layer_norm_eps",
    "initializer_range",
    "pad_token_id",
    "tie_word_embeddings",
)


@dataclass
class HfpBertForPreTrainingOutput(ModelOutput):
    """
    loss: `mlm_loss + nsp_loss` (either alone when only its labels are given).
    mlm_loss: mean cross-entropy over the masked positions (`labels != -100`).
    nsp_loss: mean cross-entropy of next sentence prediction.
    prediction_logits: scores of every vocabulary token at every position [batch, length, vocab],
        as transformers' `BertForPreTraining` returns them; always this shape when not None. With
        `labels` it is None unless `forward` is called with `output_logits=True`.
    seq_relationship_logits: next sentence prediction scores [batch, 2] (0: B follows A).
    last_hidden_state: the encoder's output [batch, length, hidden], padding positions included, the
        same with and without `labels` and on every device (with `skip_padding=True`, padding
        positions hold zeros instead).
    masked_lm_logits: with `labels`, the scores at the masked positions only [masked, vocab], rows in
        the row-major order of `labels != -100` (`labels[labels != -100]` are their targets): the
        projection `mlm_loss` is computed from. Masking picks about 15 % of the real tokens, so it
        costs that share of the full projection (d2l-small, 512 x 64: a training step 4x faster).
    """

    loss: Optional[torch.Tensor] = None
    mlm_loss: Optional[torch.Tensor] = None
    nsp_loss: Optional[torch.Tensor] = None
    prediction_logits: Optional[torch.Tensor] = None
    seq_relationship_logits: Optional[torch.Tensor] = None
    last_hidden_state: Optional[torch.Tensor] = None
    masked_lm_logits: Optional[torch.Tensor] = None


class HfpBertEmbeddings(nn.Module):
    """Token + segment + learned position embeddings, then LayerNorm and dropout."""

    def __init__(self, config: HfpBertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids, token_type_ids=None, position_ids=None) -> torch.Tensor:
        length = input_ids.shape[1]
        if position_ids is None:
            position_ids = torch.arange(length, device=input_ids.device)[None, :]
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        embeddings = (
            self.word_embeddings(input_ids)
            + self.token_type_embeddings(token_type_ids)
            + self.position_embeddings(position_ids)
        )
        return self.dropout(self.LayerNorm(embeddings))


class HfpBertSelfAttention(nn.Module):
    def __init__(self, config: HfpBertConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_size = config.hidden_size // config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout_prob = config.attention_probs_dropout_prob

    def forward(
        self, hidden_states: torch.Tensor, attention_bias: Optional[torch.Tensor], packing: Optional[tuple] = None
    ) -> torch.Tensor:
        """`hidden_states` [batch, length, hidden], or with `packing` = (kept positions, batch, length)
        the real tokens only [tokens, hidden], which are laid out padded for the attention alone."""
        if packing is None:
            batch, length, _ = hidden_states.shape
        else:
            kept, batch, length = packing
        shape = (batch, length, self.num_heads, self.head_size)
        query, key, value = (
            _pad(layer(hidden_states), packing).view(shape).transpose(1, 2)
            for layer in (self.query, self.key, self.value)
        )
        if attention_bias is not None and attention_bias.dtype != query.dtype:
            # Under autocast the bias (float32) and the projections (bf16/fp16) differ, and a mask of
            # another dtype sends SDPA to its slow reference kernel; the clamp keeps it finite.
            attention_bias = attention_bias.clamp(min=torch.finfo(query.dtype).min).to(query.dtype)
        context = F.scaled_dot_product_attention(
            query, key, value, attn_mask=attention_bias, dropout_p=self.dropout_prob if self.training else 0.0
        )
        context = context.transpose(1, 2).reshape(batch, length, -1)
        return context if packing is None else context.view(batch * length, -1).index_select(0, kept)


def _pad(tokens: torch.Tensor, packing: Optional[tuple]) -> torch.Tensor:
    """Real tokens [tokens, dim] back into a zero-padded [batch * length, dim] layout."""
    if packing is None:
        return tokens
    kept, batch, length = packing
    return tokens.new_zeros(batch * length, tokens.shape[-1]).index_copy(0, kept, tokens)


class HfpBertSelfOutput(nn.Module):
    """Projection of the attention output, dropout, residual connection and LayerNorm (post-LN)."""

    def __init__(self, config: HfpBertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + residual)


class HfpBertAttention(nn.Module):
    def __init__(self, config: HfpBertConfig):
        super().__init__()
        self.self = HfpBertSelfAttention(config)
        self.output = HfpBertSelfOutput(config)

    def forward(self, hidden_states, attention_bias, packing=None):
        return self.output(self.self(hidden_states, attention_bias, packing), hidden_states)


class HfpBertIntermediate(nn.Module):
    def __init__(self, config: HfpBertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = ACT2FN[config.hidden_act]

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.intermediate_act_fn(self.dense(hidden_states))


class HfpBertOutput(nn.Module):
    def __init__(self, config: HfpBertConfig):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + residual)


class HfpBertLayer(nn.Module):
    """One post-LN Transformer encoder block: self-attention, then the position-wise feed-forward
    network, each followed by add & norm."""

    def __init__(self, config: HfpBertConfig):
        super().__init__()
        self.attention = HfpBertAttention(config)
        self.intermediate = HfpBertIntermediate(config)
        self.output = HfpBertOutput(config)

    def forward(self, hidden_states, attention_bias, packing=None):
        attended = self.attention(hidden_states, attention_bias, packing)
        return self.output(self.intermediate(attended), attended)


class HfpBertEncoder(nn.Module):
    def __init__(self, config: HfpBertConfig):
        super().__init__()
        self.layer = nn.ModuleList(HfpBertLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, hidden_states, attention_bias, packing=None):
        for layer in self.layer:
            hidden_states = layer(hidden_states, attention_bias, packing)
        return hidden_states


class HfpBertPooler(nn.Module):
    """dense + tanh on the [CLS] position: the sequence representation NSP classifies."""

    def __init__(self, config: HfpBertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(hidden_states[:, 0]))


class HfpBertPredictionHeadTransform(nn.Module):
    def __init__(self, config: HfpBertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform_act_fn = ACT2FN[config.hidden_act]
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.transform_act_fn(self.dense(hidden_states)))


class HfpBertLMPredictionHead(nn.Module):
    def __init__(self, config: HfpBertConfig):
        super().__init__()
        self.transform = HfpBertPredictionHeadTransform(config)
        # The model ties the decoder's weight to the token embeddings and its bias to `self.bias`,
        # the head's own parameter, as transformers lays it out.
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(hidden_states))


class HfpBertPreTrainingHeads(nn.Module):
    def __init__(self, config: HfpBertConfig):
        super().__init__()
        self.predictions = HfpBertLMPredictionHead(config)
        self.seq_relationship = nn.Linear(config.hidden_size, 2)


class HfpBertPreTrainedModel(PreTrainedModel):
    config_class = HfpBertConfig
    base_model_prefix = "bert"
    main_input_name = "input_ids"
    _no_split_modules = ["HfpBertEmbeddings", "HfpBertLayer"]
    # The transformers class with the same layout, for `to_transformers`.
    _transformers_class_name = "BertModel"

    @torch.no_grad()
    def _init_weights(self, module):
        # Per leaf module: transformers skips parents without parameters of their own.
        std = self.config.initializer_range
        if getattr(self.config, "initializer", "bert") == "pytorch":
            if isinstance(module, nn.Embedding):
                # The token table is also the tied decoder's weight: it keeps the embedding's N(0, 1).
                init.normal_(module.weight)
            elif isinstance(module, nn.Linear) and not (
                self.config.tie_word_embeddings and module.out_features == self.config.vocab_size
            ):
                module.reset_parameters()
            elif isinstance(module, nn.LayerNorm):
                module.reset_parameters()
            elif isinstance(module, HfpBertLMPredictionHead):
                init.zeros_(module.bias)
            return
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                init.zeros_(module.weight[module.padding_idx])
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, HfpBertLMPredictionHead):
            init.zeros_(module.bias)

    def to_transformers(self):
        """The same model as transformers' own BERT class (`BertModel` or `BertForPreTraining`), same
        weights, same device and dtype, same train/eval mode."""
        import transformers

        config = transformers.BertConfig(
            **{name: getattr(self.config, name) for name in _BERT_CONFIG_ATTRIBUTES},
            architectures=[self._transformers_class_name],
        )
        parameter = next(self.parameters())
        model = getattr(transformers, self._transformers_class_name)(config).to(
            device=parameter.device, dtype=parameter.dtype
        )
        model.load_state_dict(self.state_dict(), strict=True)
        return model.train(self.training)


class HfpBertModel(HfpBertPreTrainedModel):
    """The BERT encoder: embeddings, `num_hidden_layers` post-LN Transformer layers and the pooler."""

    def __init__(self, config: HfpBertConfig):
        super().__init__(config)
        self.embeddings = HfpBertEmbeddings(config)
        self.encoder = HfpBertEncoder(config)
        self.pooler = HfpBertPooler(config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding):
        self.embeddings.word_embeddings = value

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.Tensor] = None,
        position_ids: Optional[torch.Tensor] = None,
        return_dict: Optional[bool] = None,
        skip_padding: bool = False,
    ):
        """`input_ids` [batch, length]; `attention_mask` 1 for real tokens and 0 for padding, which no
        position attends to; `token_type_ids` the segment of each token (default 0).

        With `skip_padding`, the projections, feed-forward networks and LayerNorms run on the real
        tokens only (the attention sees them padded again), and the hidden states of padding
        positions come out as zeros; real positions get the same values up to float rounding. The
        padding of pretraining batches (about half the positions of WikiText-2 pairs at length 128)
        then costs nothing.

        Raises:
            ValueError: an input longer than `config.max_position_embeddings`, which has no
                position embedding.
        """
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be [batch, length], got shape {tuple(input_ids.shape)}")
        if input_ids.shape[1] > self.config.max_position_embeddings:
            raise ValueError(
                f"input of {input_ids.shape[1]} tokens is longer than max_position_embeddings "
                f"({self.config.max_position_embeddings}); truncate it (e.g. tokenizer(..., truncation=True, "
                f"max_length={self.config.max_position_embeddings}))"
            )
        hidden_states = self.embeddings(input_ids, token_type_ids, position_ids)
        attention_bias = _attention_bias(attention_mask, hidden_states.dtype)
        batch, length, hidden_size = hidden_states.shape
        if skip_padding and attention_mask is not None and not bool(attention_mask.all()):
            # Every layer but the attention works token by token: run those on the real tokens only.
            packing = (attention_mask.reshape(-1).nonzero().squeeze(1), batch, length)
            packed = hidden_states.reshape(batch * length, hidden_size).index_select(0, packing[0])
            hidden_states = _pad(self.encoder(packed, attention_bias, packing), packing).view(
                batch, length, hidden_size
            )
        else:
            hidden_states = self.encoder(hidden_states, attention_bias)
        pooled = self.pooler(hidden_states)
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if not return_dict:
            return hidden_states, pooled
        return BaseModelOutputWithPooling(last_hidden_state=hidden_states, pooler_output=pooled)


class HfpBertForPreTraining(HfpBertPreTrainedModel):
    """BERT with its two pretraining heads: masked language modelling (decoder tied to the token
    embeddings) and next sentence prediction on the pooled [CLS] vector."""

    _tied_weights_keys = {
        "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias",
    }
    _transformers_class_name = "BertForPreTraining"

    def __init__(self, config: HfpBertConfig):
        super().__init__(config)
        self.bert = HfpBertModel(config)
        self.cls = HfpBertPreTrainingHeads(config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.bert.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding):
        self.bert.embeddings.word_embeddings = value

    def get_output_embeddings(self) -> nn.Linear:
        return self.cls.predictions.decoder

    def save_pretrained(self, save_directory, *args, **kwargs):
        # As with transformers' BERT checkpoints, AutoModel loads the encoder from the same folder:
        # with trust_remote_code that needs its own auto_map entry, next to AutoModelForPreTraining's.
        if self._auto_class is not None:
            module = HfpBertModel.__module__.split(".")[-1]
            self.config.auto_map = {
                **(getattr(self.config, "auto_map", None) or {}),
                "AutoModel": f"{module}.HfpBertModel",
            }
        return super().save_pretrained(save_directory, *args, **kwargs)

    def set_output_embeddings(self, new_embeddings: nn.Linear):
        self.cls.predictions.decoder = new_embeddings
        self.cls.predictions.bias = new_embeddings.bias

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.Tensor] = None,
        position_ids: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        next_sentence_label: Optional[torch.Tensor] = None,
        return_dict: Optional[bool] = None,
        output_logits: Optional[bool] = None,
        skip_padding: bool = False,
    ):
        """Arguments as transformers' `BertForPreTraining`: `labels` [batch, length] holds the
        original token at masked positions and -100 elsewhere; `next_sentence_label` [batch] is 0
        when sentence B follows A and 1 when B is a random sentence.

        `output_logits`: return `prediction_logits` [batch, length, vocab]. By default (None) they
        are returned without `labels` and left out (None) with `labels`: then the vocabulary
        projection runs only at the masked positions (`masked_lm_logits`), since projecting every
        position onto the whole vocabulary would dominate the cost of a training step. The loss is
        the same either way.

        `skip_padding`: run everything but the attention on the real tokens only (see
        `HfpBertModel.forward`); `last_hidden_state` then holds zeros at padding positions, and so
        `prediction_logits` there score a zero vector; the losses and the real positions' outputs
        are the same up to float rounding. It pays on a CPU, in proportion to the padding
        (training steps of BERT-base, 8 x 128 WikiText-2 pairs with 29 % padding, 2 cores: 1.11x
        faster) and costs on a GPU, whose padded kernels are cheap next to the gathers (H200,
        bf16, 128 x 128: 6x slower). It is off unless asked for, whatever the device, so that the
        outputs depend only on the inputs and arguments.

        Raises:
            ValueError: an input longer than `config.max_position_embeddings`.
        """
        hidden_states, pooled = self.bert(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            return_dict=False,
            skip_padding=skip_padding,
        )
        nsp_logits = self.cls.seq_relationship(pooled)
        if output_logits is None:
            output_logits = labels is None
        prediction_logits = self.cls.predictions(hidden_states) if output_logits else None
        mlm_loss = nsp_loss = masked_lm_logits = None
        if labels is not None:
            masked = labels != -100
            masked_lm_logits = (
                prediction_logits[masked]
                if prediction_logits is not None
                else self.cls.predictions(hidden_states[masked])
            )
            # A batch without any masked token contributes a zero loss rather than NaN.
            mlm_loss = (
                F.cross_entropy(masked_lm_logits.float(), labels[masked])
                if masked_lm_logits.shape[0]
                else masked_lm_logits.sum() * 0.0
            )
        if next_sentence_label is not None:
            nsp_loss = F.cross_entropy(nsp_logits.float(), next_sentence_label.view(-1))
        if mlm_loss is not None and nsp_loss is not None:
            loss = mlm_loss + nsp_loss
        else:
            loss = mlm_loss if mlm_loss is not None else nsp_loss
        output = HfpBertForPreTrainingOutput(
            loss=loss,
            mlm_loss=mlm_loss,
            nsp_loss=nsp_loss,
            prediction_logits=prediction_logits,
            seq_relationship_logits=nsp_logits,
            last_hidden_state=hidden_states,
            masked_lm_logits=masked_lm_logits,
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        return output if return_dict else output.to_tuple()


def _attention_bias(attention_mask: Optional[torch.Tensor], dtype: torch.dtype) -> Optional[torch.Tensor]:
    """[batch, length] mask of 1/0 → additive [batch, 1, 1, length] bias, 0 for real tokens and the
    dtype's minimum for padding. An additive bias rather than a boolean mask keeps a row that is all
    padding finite (uniform attention), as in transformers, instead of NaN."""
    if attention_mask is None:
        return None
    if attention_mask.dim() != 2:
        raise ValueError(f"attention_mask must be [batch, length], got shape {tuple(attention_mask.shape)}")
    bias = torch.zeros(attention_mask.shape, dtype=dtype, device=attention_mask.device)
    bias = bias.masked_fill(attention_mask == 0, torch.finfo(dtype).min)
    return bias[:, None, None, :]
