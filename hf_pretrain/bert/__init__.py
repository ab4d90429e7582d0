from .configuration_bert import PRESETS, HfpBertConfig
from .encoding import BertEncoding, get_bert_encoding
from .modeling_bert import (
    HfpBertForPreTraining,
    HfpBertForPreTrainingOutput,
    HfpBertModel,
    HfpBertPreTrainedModel,
)

__all__ = [
    "PRESETS",
    "BertEncoding",
    "HfpBertConfig",
    "HfpBertForPreTraining",
    "HfpBertForPreTrainingOutput",
    "HfpBertModel",
    "HfpBertPreTrainedModel",
    "get_bert_encoding",
]
