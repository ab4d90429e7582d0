"""Model families, each self-contained as transformers lays them out (configuration + modeling)."""

from transformers import AutoConfig, AutoModel
from transformers import AutoModelForPreTraining

from .bert import HfpBertConfig, HfpBertForPreTraining, HfpBertModel
from .fasttext import FastTextConfig, FastTextModel
from .glove import GloVeConfig, GloVeModel
from .word2vec import Word2VecConfig, Word2VecModel

# Registration lets `AutoConfig`/`AutoModel.from_pretrained(folder)` find our model types once
# `hf_pretrain` is imported.
for _config, _model in ((Word2VecConfig, Word2VecModel), (FastTextConfig, FastTextModel), (GloVeConfig, GloVeModel)):
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    AutoModel.register(_config, _model, exist_ok=True)

AutoConfig.register(HfpBertConfig.model_type, HfpBertConfig, exist_ok=True)
AutoModel.register(HfpBertConfig, HfpBertModel, exist_ok=True)
AutoModelForPreTraining.register(HfpBertConfig, HfpBertForPreTraining, exist_ok=True)

# And this makes every saved folder carry its configuration and modeling files, with an `auto_map`
# in config.json, so that `AutoModel.from_pretrained(folder, trust_remote_code=True)` works where
# hf_pretrain is not installed (the modeling files import only torch and transformers).
for _config, _model in ((Word2VecConfig, Word2VecModel), (FastTextConfig, FastTextModel), (GloVeConfig, GloVeModel)):
    _config.register_for_auto_class()
    _model.register_for_auto_class("AutoModel")
HfpBertConfig.register_for_auto_class()
HfpBertModel.register_for_auto_class("AutoModel")
HfpBertForPreTraining.register_for_auto_class("AutoModelForPreTraining")
