from .configuration_glove import GloVeConfig
from .modeling_glove import GloVeModel, GloVeOutput, GloVePreTrainedModel, weighting

# Saved folders then carry their configuration and modeling files, with an `auto_map` in config.json,
# so that `AutoModel.from_pretrained(folder, trust_remote_code=True)` works where hf_pretrain is not
# installed. Here, not in those files: they travel with the folder and import only torch and transformers.
GloVeConfig.register_for_auto_class()
GloVeModel.register_for_auto_class("AutoModel")

__all__ = ["GloVeConfig", "GloVeModel", "GloVeOutput", "GloVePreTrainedModel", "weighting"]
