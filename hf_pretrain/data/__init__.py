from .corpus import CorpusError, KNOWN_CORPORA, load_corpus
