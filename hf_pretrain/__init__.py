"""hf-pretrain: pretrain word2vec, GloVe, fastText and BERT in the Hugging Face ecosystem.

Importing the package registers every model family with `AutoConfig` / `AutoModel`.
"""

from .data import CorpusError, load_corpus
from .data.vocab import EncodedCorpus, Vocabulary, VocabularyError
from .models import HfpBertConfig, HfpBertForPreTraining, HfpBertModel
from .models import Word2VecConfig, Word2VecModel
from .vectors import WordVectors

__version__ = "0.1.0"

__all__ = [
    "CorpusError",
    "EncodedCorpus",
    "HfpBertConfig",
    "HfpBertForPreTraining",
    "HfpBertModel",
    "Vocabulary",
    "VocabularyError",
    "Word2VecConfig",
    "Word2VecModel",
    "WordVectors",
    "load_corpus",
]
