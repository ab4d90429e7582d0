"""Word vectors apart from any model: queries, evaluation and file formats (gensim's KeyedVectors' role)."""

from .keyed import WordVectors

__all__ = ["WordVectors"]
