from .configuration_bert import PRESETS, HfpBertConfig
from .encoding import BertEncoding, get_bert_encoding
from .modeling_bert import (
    HfpBertForMaskedLM,
    HfpBertForNextSentencePrediction,
    HfpBertForPreTraining,
    HfpBertForPreTrainingOutput,
    HfpBertForQuestionAnswering,
    HfpBertForSequenceClassification,
    HfpBertForTokenClassification,
    HfpBertModel,
    HfpBertPreTrainedModel,
)

__all__ = [
    "PRESETS",
    "BertEncoding",
    "HfpBertConfig",
    "HfpBertForMaskedLM",
    "HfpBertForNextSentencePrediction",
    "HfpBertForQuestionAnswering",
    "HfpBertForSequenceClassification",
    "HfpBertForTokenClassification",
    "HfpBertForPreTraining",
    "HfpBertForPreTrainingOutput",
    "HfpBertModel",
    "HfpBertPreTrainedModel",
    "get_bert_encoding",
]
