"""hf-pretrain: pretrain word2vec, GloVe, fastText and BERT in the Hugging Face ecosystem.

Importing the package registers every model family with `AutoConfig` / `AutoModel`.
"""

from transformers import AutoConfig, AutoModel, AutoModelForPreTraining

from .bert import HfpBertConfig, HfpBertForPreTraining, HfpBertModel
from .core.corpus import CorpusError, load_corpus
from .core.visualization import export_projector, plot_embeddings
from .core.vocab import EncodedCorpus, Vocabulary, VocabularyError
from .fasttext import FastTextConfig, FastTextModel
from .fasttext.vectors import FastTextVectors
from .glove import GloVeConfig, GloVeModel
from .glove.conversion import glove_model_from_text
from .vectors import WordVectors
from .word2vec import Word2VecConfig, Word2VecModel

__version__ = "0.1.0"

__all__ = [
    "CorpusError",
    "EncodedCorpus",
    "GloVeConfig",
    "GloVeModel",
    "FastTextConfig",
    "FastTextModel",
    "FastTextVectors",
    "HfpBertConfig",
    "HfpBertForPreTraining",
    "HfpBertModel",
    "Vocabulary",
    "VocabularyError",
    "Word2VecConfig",
    "Word2VecModel",
    "WordVectors",
    "export_projector",
    "glove_model_from_text",
    "load_corpus",
    "plot_embeddings",
]


# Registration lets `AutoConfig`/`AutoModel.from_pretrained(folder)` find our model types once
# `hf_pretrain` is imported.
for _config, _model in ((Word2VecConfig, Word2VecModel), (FastTextConfig, FastTextModel), (GloVeConfig, GloVeModel)):
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    AutoModel.register(_config, _model, exist_ok=True)

AutoConfig.register(HfpBertConfig.model_type, HfpBertConfig, exist_ok=True)
AutoModel.register(HfpBertConfig, HfpBertModel, exist_ok=True)
AutoModelForPreTraining.register(HfpBertConfig, HfpBertForPreTraining, exist_ok=True)
# The task heads, as transformers' BERT has them: each loads the encoder from a pretraining folder.
import transformers as _transformers  # noqa: E402

from . import bert as _bert  # noqa: E402
from .bert.modeling_bert import AUTO_CLASSES as _BERT_AUTO_CLASSES  # noqa: E402

for _auto, _name in _BERT_AUTO_CLASSES.items():
    if _auto not in ("AutoModel", "AutoModelForPreTraining"):
        getattr(_transformers, _auto).register(HfpBertConfig, getattr(_bert, _name), exist_ok=True)

# And this makes every saved folder carry its configuration and modeling files, with an `auto_map`
# in config.json, so that `AutoModel.from_pretrained(folder, trust_remote_code=True)` works where
# hf_pretrain is not installed (the modeling files import only torch and transformers).
for _config, _model in ((Word2VecConfig, Word2VecModel), (FastTextConfig, FastTextModel), (GloVeConfig, GloVeModel)):
    _config.register_for_auto_class()
    _model.register_for_auto_class("AutoModel")
HfpBertConfig.register_for_auto_class()
HfpBertModel.register_for_auto_class("AutoModel")
for _auto, _name in _BERT_AUTO_CLASSES.items():
    getattr(_bert, _name).register_for_auto_class(_auto)
