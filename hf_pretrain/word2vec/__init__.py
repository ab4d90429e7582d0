from .configuration_word2vec import Word2VecConfig
from .modeling_word2vec import Word2VecModel, Word2VecOutput, Word2VecPreTrainedModel, masked_bce

# Saved folders then carry their configuration and modeling files, with an `auto_map` in config.json,
# so that `AutoModel.from_pretrained(folder, trust_remote_code=True)` works where hf_pretrain is not
# installed. Here, not in those files: they travel with the folder and import only torch and transformers.
Word2VecConfig.register_for_auto_class()
Word2VecModel.register_for_auto_class("AutoModel")

__all__ = ["Word2VecConfig", "Word2VecModel", "Word2VecOutput", "Word2VecPreTrainedModel", "masked_bce"]
