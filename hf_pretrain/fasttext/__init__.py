from .configuration_fasttext import FastTextConfig
from .modeling_fasttext import FastTextModel, FastTextOutput, FastTextPreTrainedModel

__all__ = ["FastTextConfig", "FastTextModel", "FastTextOutput", "FastTextPreTrainedModel"]
