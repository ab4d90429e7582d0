"""BERT (Devlin et al., 2019) as `PreTrainedModel`s: the encoder, the pretraining model (masked
language modelling + next sentence prediction), and the task heads of transformers' BERT family
(`...ForMaskedLM`, `...ForNextSentencePrediction`, `...ForSequenceClassification`,
`...ForTokenClassification`, `...ForQuestionAnswering`), each loading the encoder (`bert.*`) and
whatever pretraining head it shares (`cls.*`) from a pretraining folder.

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
from transformers.modeling_outputs import (
    BaseModelOutputWithPooling,
    MaskedLMOutput,
    NextSentencePredictorOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from transformers.utils import ModelOutput

try:
    from transformers.modeling_layers import GradientCheckpointingLayer
except ImportError:  # transformers before 4.52: no gradient checkpointing through this mechanism
    GradientCheckpointingLayer = nn.Module

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
    hidden_states: Optional[tuple] = None
    attentions: Optional[tuple] = None


class HfpBertEmbeddings(nn.Module):
    """Token + segment + learned position embeddings, then LayerNorm and dropout."""

    def __init__(self, config: HfpBertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None) -> torch.Tensor:
        """`input_ids` [batch, length], or `inputs_embeds` [batch, length, hidden] in place of the
        token embeddings."""
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        batch, length = inputs_embeds.shape[:2]
        device = inputs_embeds.device
        if position_ids is None:
            position_ids = torch.arange(length, device=device)[None, :]
        if token_type_ids is None:
            token_type_ids = torch.zeros((batch, length), dtype=torch.long, device=device)
        embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids) + self.position_embeddings(position_ids)
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
        self,
        hidden_states: torch.Tensor,
        attention_bias: Optional[torch.Tensor],
        packing: Optional[tuple] = None,
        output_attentions: bool = False,
    ):
        """`hidden_states` [batch, length, hidden], or with `packing` = (kept positions, batch, length)
        the real tokens only [tokens, hidden], which are laid out padded for the attention alone.

        Returns the context and, with `output_attentions`, the attention weights [batch, heads,
        length, length] (after dropout, as transformers returns them), else None. The weights need
        the attention spelt out; without them it runs as one `scaled_dot_product_attention`, except
        in bf16 on a CPU."""
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
        # On a CPU in bf16, SDPA's fused kernel is 2.5-5x slower than the products and softmax
        # written out (BERT-base heads, 8 x 128 to 8 x 512 tokens, forward and backward), whose bf16
        # softmax computes in float32 and gives what a float32 softmax rounded to bf16 gives.
        spelled_out = output_attentions or (query.device.type == "cpu" and query.dtype == torch.bfloat16)
        if spelled_out:
            scores = query @ key.transpose(-1, -2) / self.head_size**0.5
            if attention_bias is not None:
                scores = scores + attention_bias
            probabilities = F.dropout(scores.softmax(dim=-1), p=self.dropout_prob, training=self.training)
            context = probabilities @ value
            weights = probabilities if output_attentions else None
        else:
            context = F.scaled_dot_product_attention(
                query, key, value, attn_mask=attention_bias, dropout_p=self.dropout_prob if self.training else 0.0
            )
            weights = None
        context = context.transpose(1, 2).reshape(batch, length, -1)
        return (context if packing is None else context.view(batch * length, -1).index_select(0, kept)), weights


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

    def forward(self, hidden_states, attention_bias, packing=None, output_attentions=False):
        context, weights = self.self(hidden_states, attention_bias, packing, output_attentions)
        return self.output(context, hidden_states), weights


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


class HfpBertLayer(GradientCheckpointingLayer):
    """One post-LN Transformer encoder block: self-attention, then the position-wise feed-forward
    network, each followed by add & norm. With `model.gradient_checkpointing_enable()` its
    activations are recomputed in the backward pass instead of kept."""

    def __init__(self, config: HfpBertConfig):
        super().__init__()
        self.attention = HfpBertAttention(config)
        self.intermediate = HfpBertIntermediate(config)
        self.output = HfpBertOutput(config)

    def forward(self, hidden_states, attention_bias, packing=None, output_attentions=False):
        attended, weights = self.attention(hidden_states, attention_bias, packing, output_attentions)
        return self.output(self.intermediate(attended), attended), weights


class HfpBertEncoder(nn.Module):
    def __init__(self, config: HfpBertConfig):
        super().__init__()
        self.layer = nn.ModuleList(HfpBertLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, hidden_states, attention_bias, packing=None, output_hidden_states=False, output_attentions=False):
        """The last hidden states, the input and every layer's output (with `output_hidden_states`,
        else None; padded [batch, length, hidden] under `packing`) and every layer's attention
        weights (with `output_attentions`, else None)."""
        all_hidden = [_pad(hidden_states, packing)] if output_hidden_states else None
        all_attentions = [] if output_attentions else None
        for layer in self.layer:
            hidden_states, weights = layer(hidden_states, attention_bias, packing, output_attentions)
            if output_hidden_states:
                all_hidden.append(_pad(hidden_states, packing))
            if output_attentions:
                all_attentions.append(weights)
        return (
            hidden_states,
            None if all_hidden is None else tuple(all_hidden),
            None if all_attentions is None else tuple(all_attentions),
        )


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
    supports_gradient_checkpointing = True
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

    def save_pretrained(self, save_directory, *args, **kwargs):
        # As with transformers' BERT checkpoints, every head loads from any folder of the family (the
        # encoder from a fine-tuned one, a task head from the pretraining one): with
        # trust_remote_code each Auto class needs its own auto_map entry, next to this class's.
        if self._auto_class is not None:
            module = type(self).__module__.split(".")[-1]
            self.config.auto_map = {
                **(getattr(self.config, "auto_map", None) or {}),
                **{auto: f"{module}.{name}" for auto, name in AUTO_CLASSES.items()},
            }
        return super().save_pretrained(save_directory, *args, **kwargs)

    def to_transformers(self):
        """The same model as transformers' own BERT class (`BertModel` or `BertForPreTraining`), same
        weights, same device and dtype, same train/eval mode."""
        import transformers

        config = transformers.BertConfig(
            **{name: getattr(self.config, name) for name in _BERT_CONFIG_ATTRIBUTES},
            classifier_dropout=getattr(self.config, "classifier_dropout", None),
            id2label=self.config.id2label,
            problem_type=self.config.problem_type,
            architectures=[self._transformers_class_name],
        )
        parameter = next(self.parameters())
        model = getattr(transformers, self._transformers_class_name)(config).to(
            device=parameter.device, dtype=parameter.dtype
        )
        model.load_state_dict(self.state_dict(), strict=True)
        return model.train(self.training)


class HfpBertModel(HfpBertPreTrainedModel):
    """The BERT encoder: embeddings, `num_hidden_layers` post-LN Transformer layers and the pooler
    (left out with `add_pooling_layer=False`, as the token-level heads do)."""

    def __init__(self, config: HfpBertConfig, add_pooling_layer: bool = True):
        super().__init__(config)
        self.embeddings = HfpBertEmbeddings(config)
        self.encoder = HfpBertEncoder(config)
        self.pooler = HfpBertPooler(config) if add_pooling_layer else None
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding):
        self.embeddings.word_embeddings = value

    def forward(
        self,
        input_ids: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.Tensor] = None,
        position_ids: Optional[torch.Tensor] = None,
        inputs_embeds: Optional[torch.Tensor] = None,
        output_attentions: Optional[bool] = None,
        output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
        skip_padding: bool = False,
        **kwargs,
    ):
        """`input_ids` [batch, length] or `inputs_embeds` [batch, length, hidden] (one of the two);
        `attention_mask` 1 for real tokens and 0 for padding, which no position attends to;
        `token_type_ids` the segment of each token (default 0). `output_hidden_states`: also return
        the embeddings' output and every layer's ([batch, length, hidden] each, num_hidden_layers + 1
        of them); `output_attentions`: every layer's attention weights [batch, heads, length,
        length]. Both default to the config's, as in transformers.

        With `skip_padding`, the projections, feed-forward networks and LayerNorms run on the real
        tokens only (the attention sees them padded again), and the hidden states of padding
        positions come out as zeros; real positions get the same values up to float rounding. The
        padding of pretraining batches (about half the positions of WikiText-2 pairs at length 128)
        then costs nothing.

        Raises:
            ValueError: an input longer than `config.max_position_embeddings`, which has no
                position embedding; both or neither of `input_ids` and `inputs_embeds`.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("give exactly one of input_ids and inputs_embeds")
        if input_ids is not None and input_ids.dim() != 2:
            raise ValueError(f"input_ids must be [batch, length], got shape {tuple(input_ids.shape)}")
        if inputs_embeds is not None and inputs_embeds.dim() != 3:
            raise ValueError(f"inputs_embeds must be [batch, length, hidden], got shape {tuple(inputs_embeds.shape)}")
        length = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        if length > self.config.max_position_embeddings:
            raise ValueError(
                f"input of {length} tokens is longer than max_position_embeddings "
                f"({self.config.max_position_embeddings}); truncate it (e.g. tokenizer(..., truncation=True, "
                f"max_length={self.config.max_position_embeddings}))"
            )
        config = self.config
        output_attentions = (
            output_attentions if output_attentions is not None else getattr(config, "output_attentions", False)
        )
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else getattr(config, "output_hidden_states", False)
        )
        hidden_states = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)
        attention_bias = _attention_bias(attention_mask, hidden_states.dtype)
        batch, length, hidden_size = hidden_states.shape
        if skip_padding and attention_mask is not None and not bool(attention_mask.all()):
            # Every layer but the attention works token by token: run those on the real tokens only.
            packing = (attention_mask.reshape(-1).nonzero().squeeze(1), batch, length)
            packed = hidden_states.reshape(batch * length, hidden_size).index_select(0, packing[0])
            hidden_states, all_hidden, attentions = self.encoder(
                packed, attention_bias, packing, output_hidden_states, output_attentions
            )
            hidden_states = _pad(hidden_states, packing).view(batch, length, hidden_size)
            if all_hidden is not None:
                all_hidden = tuple(h.view(batch, length, hidden_size) for h in all_hidden)
        else:
            hidden_states, all_hidden, attentions = self.encoder(
                hidden_states, attention_bias, None, output_hidden_states, output_attentions
            )
        pooled = self.pooler(hidden_states) if self.pooler is not None else None
        output = BaseModelOutputWithPooling(
            last_hidden_state=hidden_states, pooler_output=pooled, hidden_states=all_hidden, attentions=attentions
        )
        return_dict = return_dict if return_dict is not None else config.return_dict
        return output if return_dict else output.to_tuple()


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

    def set_output_embeddings(self, new_embeddings: nn.Linear):
        self.cls.predictions.decoder = new_embeddings
        self.cls.predictions.bias = new_embeddings.bias

    def forward(
        self,
        input_ids: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.Tensor] = None,
        position_ids: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        next_sentence_label: Optional[torch.Tensor] = None,
        return_dict: Optional[bool] = None,
        output_logits: Optional[bool] = None,
        skip_padding: bool = False,
        inputs_embeds: Optional[torch.Tensor] = None,
        output_attentions: Optional[bool] = None,
        output_hidden_states: Optional[bool] = None,
        **kwargs,
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
        outputs = self.bert(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            skip_padding=skip_padding,
        )
        hidden_states, pooled = outputs.last_hidden_state, outputs.pooler_output
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
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        return output if return_dict else output.to_tuple()


class HfpBertOnlyMLMHead(nn.Module):
    def __init__(self, config: HfpBertConfig):
        super().__init__()
        self.predictions = HfpBertLMPredictionHead(config)

    def forward(self, sequence_output: torch.Tensor) -> torch.Tensor:
        return self.predictions(sequence_output)


class HfpBertOnlyNSPHead(nn.Module):
    def __init__(self, config: HfpBertConfig):
        super().__init__()
        self.seq_relationship = nn.Linear(config.hidden_size, 2)

    def forward(self, pooled_output: torch.Tensor) -> torch.Tensor:
        return self.seq_relationship(pooled_output)


def _finish(output: ModelOutput, return_dict: Optional[bool], config) -> object:
    return_dict = return_dict if return_dict is not None else config.return_dict
    return output if return_dict else output.to_tuple()


def _classifier_dropout(config: HfpBertConfig) -> nn.Dropout:
    dropout = getattr(config, "classifier_dropout", None)
    return nn.Dropout(dropout if dropout is not None else config.hidden_dropout_prob)


class HfpBertForMaskedLM(HfpBertPreTrainedModel):
    """BERT with the masked-LM head only (transformers' `BertForMaskedLM`): loads the encoder and
    `cls.predictions` from a pretraining folder, and is what the fill-mask pipeline runs.

    `labels` [batch, length]: the original token at masked positions, -100 elsewhere; the loss is
    their mean cross-entropy."""

    _tied_weights_keys = {
        "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias",
    }
    _keys_to_ignore_on_load_unexpected = [r"pooler", r"seq_relationship"]
    _transformers_class_name = "BertForMaskedLM"

    def __init__(self, config: HfpBertConfig):
        super().__init__(config)
        self.bert = HfpBertModel(config, add_pooling_layer=False)
        self.cls = HfpBertOnlyMLMHead(config)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.cls.predictions.decoder

    def set_output_embeddings(self, new_embeddings: nn.Linear):
        self.cls.predictions.decoder = new_embeddings
        self.cls.predictions.bias = new_embeddings.bias

    def forward(
        self,
        input_ids: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.Tensor] = None,
        position_ids: Optional[torch.Tensor] = None,
        inputs_embeds: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        output_attentions: Optional[bool] = None,
        output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
        **kwargs,
    ):
        outputs = self.bert(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.cls(outputs.last_hidden_state)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.float().view(-1, self.config.vocab_size), labels.view(-1))
        output = MaskedLMOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return _finish(output, return_dict, self.config)


class HfpBertForNextSentencePrediction(HfpBertPreTrainedModel):
    """BERT with the next sentence prediction head only (transformers'
    `BertForNextSentencePrediction`); `labels` [batch]: 0 when sentence B follows A, 1 when B is
    random."""

    _keys_to_ignore_on_load_unexpected = [r"cls\.predictions"]
    _transformers_class_name = "BertForNextSentencePrediction"

    def __init__(self, config: HfpBertConfig):
        super().__init__(config)
        self.bert = HfpBertModel(config)
        self.cls = HfpBertOnlyNSPHead(config)
        self.post_init()

    def forward(
        self,
        input_ids: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.Tensor] = None,
        position_ids: Optional[torch.Tensor] = None,
        inputs_embeds: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        output_attentions: Optional[bool] = None,
        output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
        **kwargs,
    ):
        outputs = self.bert(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.cls(outputs.pooler_output)
        loss = None if labels is None else F.cross_entropy(logits.float(), labels.view(-1))
        output = NextSentencePredictorOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return _finish(output, return_dict, self.config)


class HfpBertForSequenceClassification(HfpBertPreTrainedModel):
    """BERT with a linear classifier on the pooled [CLS] vector (transformers'
    `BertForSequenceClassification`), `config.num_labels` outputs.

    The loss follows `config.problem_type`, set from the first `labels` when None as transformers
    does: one label → "regression" (mean squared error); integer labels → "single_label_classification"
    (cross-entropy); otherwise "multi_label_classification" (binary cross-entropy on the logits)."""

    _keys_to_ignore_on_load_unexpected = [r"cls\."]
    _transformers_class_name = "BertForSequenceClassification"

    def __init__(self, config: HfpBertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = HfpBertModel(config)
        self.dropout = _classifier_dropout(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.Tensor] = None,
        position_ids: Optional[torch.Tensor] = None,
        inputs_embeds: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        output_attentions: Optional[bool] = None,
        output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
        **kwargs,
    ):
        outputs = self.bert(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = None
        if labels is not None:
            if self.config.problem_type is None:
                if self.num_labels == 1:
                    self.config.problem_type = "regression"
                elif labels.dtype in (torch.long, torch.int):
                    self.config.problem_type = "single_label_classification"
                else:
                    self.config.problem_type = "multi_label_classification"
            if self.config.problem_type == "regression":
                if self.num_labels == 1:
                    loss = F.mse_loss(logits.squeeze().float(), labels.squeeze().float())
                else:
                    loss = F.mse_loss(logits.float(), labels.float())
            elif self.config.problem_type == "single_label_classification":
                loss = F.cross_entropy(logits.float().view(-1, self.num_labels), labels.view(-1))
            else:
                loss = F.binary_cross_entropy_with_logits(logits.float(), labels.float())
        output = SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return _finish(output, return_dict, self.config)


class HfpBertForTokenClassification(HfpBertPreTrainedModel):
    """BERT with a linear classifier on every position (transformers' `BertForTokenClassification`);
    `labels` [batch, length] in [0, num_labels) or -100 (ignored); the loss is their mean
    cross-entropy."""

    _keys_to_ignore_on_load_unexpected = [r"pooler", r"cls\."]
    _transformers_class_name = "BertForTokenClassification"

    def __init__(self, config: HfpBertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = HfpBertModel(config, add_pooling_layer=False)
        self.dropout = _classifier_dropout(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.Tensor] = None,
        position_ids: Optional[torch.Tensor] = None,
        inputs_embeds: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        output_attentions: Optional[bool] = None,
        output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
        **kwargs,
    ):
        outputs = self.bert(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.classifier(self.dropout(outputs.last_hidden_state))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.float().view(-1, self.num_labels), labels.view(-1))
        output = TokenClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return _finish(output, return_dict, self.config)


class HfpBertForQuestionAnswering(HfpBertPreTrainedModel):
    """BERT with a span head (transformers' `BertForQuestionAnswering`): start and end scores at
    every position. The loss is the mean of the start and end cross-entropies; positions outside the
    input are clamped to its length and ignored, as in transformers."""

    _keys_to_ignore_on_load_unexpected = [r"pooler", r"cls\."]
    _transformers_class_name = "BertForQuestionAnswering"

    def __init__(self, config: HfpBertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = HfpBertModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.Tensor] = None,
        position_ids: Optional[torch.Tensor] = None,
        inputs_embeds: Optional[torch.Tensor] = None,
        start_positions: Optional[torch.Tensor] = None,
        end_positions: Optional[torch.Tensor] = None,
        output_attentions: Optional[bool] = None,
        output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
        **kwargs,
    ):
        outputs = self.bert(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.qa_outputs(outputs.last_hidden_state)
        start_logits, end_logits = (part.squeeze(-1).contiguous() for part in logits.split(1, dim=-1))
        loss = None
        if start_positions is not None and end_positions is not None:
            if start_positions.dim() > 1:
                start_positions = start_positions.squeeze(-1)
            if end_positions.dim() > 1:
                end_positions = end_positions.squeeze(-1)
            ignored = start_logits.shape[1]
            start_positions = start_positions.clamp(0, ignored)
            end_positions = end_positions.clamp(0, ignored)
            loss = (
                F.cross_entropy(start_logits.float(), start_positions, ignore_index=ignored)
                + F.cross_entropy(end_logits.float(), end_positions, ignore_index=ignored)
            ) / 2
        output = QuestionAnsweringModelOutput(
            loss=loss,
            start_logits=start_logits,
            end_logits=end_logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
        return _finish(output, return_dict, self.config)


# Each class of the family, by the Auto class that loads it.
AUTO_CLASSES = {
    "AutoModel": "HfpBertModel",
    "AutoModelForPreTraining": "HfpBertForPreTraining",
    "AutoModelForMaskedLM": "HfpBertForMaskedLM",
    "AutoModelForNextSentencePrediction": "HfpBertForNextSentencePrediction",
    "AutoModelForSequenceClassification": "HfpBertForSequenceClassification",
    "AutoModelForTokenClassification": "HfpBertForTokenClassification",
    "AutoModelForQuestionAnswering": "HfpBertForQuestionAnswering",
}


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
