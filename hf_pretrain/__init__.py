"""hf-pretrain: pretrain word2vec, GloVe, fastText and BERT in the Hugging Face ecosystem.

Importing the package registers every model family with `AutoConfig` / `AutoModel`.
"""

from .data import CorpusError, load_corpus
from .data.vocab import EncodedCorpus, Vocabulary, VocabularyError
from .models import HfpBertConfig, HfpBertForPreTraining, HfpBertModel
from .models import GloVeConfig, GloVeModel, Word2VecConfig, Word2VecModel
from .models.glove.conversion import glove_model_from_text
from .models import FastTextConfig, FastTextModel
from .vectors import WordVectors
from .fasttext_vectors import FastTextVectors
from .visualization import export_projector, plot_embeddings

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
