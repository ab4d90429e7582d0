from .configuration_bert import PRESETS, HfpBertConfig
from .encoding import BertEncoding, get_bert_encoding
from .modeling_bert import (
    AUTO_CLASSES,
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

# Saved folders then carry their configuration and modeling files, with an `auto_map` in config.json
# naming every head, so that each Auto class loads them with trust_remote_code where hf_pretrain is not
# installed. Here, not in those files: they travel with the folder and import only torch and transformers.
HfpBertConfig.register_for_auto_class()
for _auto, _name in AUTO_CLASSES.items():
    globals()[_name].register_for_auto_class(_auto)
del _auto, _name

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
