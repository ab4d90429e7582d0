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
