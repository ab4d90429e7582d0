from .configuration_fasttext import FastTextConfig
from .modeling_fasttext import FastTextModel, FastTextOutput, FastTextPreTrainedModel

# Saved folders then carry their configuration and modeling files, with an `auto_map` in config.json,
# so that `AutoModel.from_pretrained(folder, trust_remote_code=True)` works where hf_pretrain is not
# installed. Here, not in those files: they travel with the folder and import only torch and transformers.
FastTextConfig.register_for_auto_class()
FastTextModel.register_for_auto_class("AutoModel")

__all__ = ["FastTextConfig", "FastTextModel", "FastTextOutput", "FastTextPreTrainedModel"]
