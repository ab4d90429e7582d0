"""Word vectors as today's static sentence embedders: a sentence-transformers `StaticEmbedding` model
and a model2vec `StaticModel`, both written by those libraries themselves.

A sentence's vector is the mean of its known words' vectors. Unknown words are skipped, never
averaged in as an untrained row: model2vec drops the unknown token itself; sentence-transformers'
`StaticEmbedding` averages every token it is given, so there the unknown token's row is zero and the
vector is the known words' mean scaled by (known words / words), the same direction, so the same
cosine similarities (`normalize=True` adds a `Normalize` module that makes the two equal exactly).

fastText's unseen words: the export bakes the vocabulary's composed vectors, so a word that was not in
the training vocabulary is unknown to the exported model (n-gram hashing has no counterpart in either
library); `extra_words` composes more words from their subwords into the exported vocabulary first.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
from tokenizers import Tokenizer, models

from ..core.vocab import word_pipeline
from .keyed import WordVectors

UNK = "<unk>"


def _tokenizer_and_rows(source, extra_words: Iterable[str] = ()) -> tuple[Tokenizer, np.ndarray]:
    """A word-level tokenizer and one row per token id: the folder's own `tokenizer.json` when there
    is one (so normalisation is the training's), the unknown token's row zero."""
    vectors = source if isinstance(source, WordVectors) else WordVectors.from_pretrained(source)
    extra = [w for w in extra_words if w not in vectors]
    folder = None if isinstance(source, WordVectors) else Path(source)
    if folder is not None and (folder / "tokenizer.json").is_file() and not extra:
        tokenizer = Tokenizer.from_file(os.fspath(folder / "tokenizer.json"))
        vocab = tokenizer.get_vocab()
    else:
        words = [w for w in vectors.index_to_key if w != UNK] + extra
        vocab = {UNK: 0, **{w: i + 1 for i, w in enumerate(words)}}
        tokenizer = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
        tokenizer.pre_tokenizer = word_pipeline(lowercase=False)[1]
    rows = np.zeros((len(vocab), vectors.vector_size), dtype=np.float32)
    known = [(index, vectors.key_to_index[word]) for word, index in vocab.items() if word in vectors and word != UNK]
    if known:
        targets, sources = map(list, zip(*known))
        rows[targets] = vectors.vectors[sources]
    for word in extra:  # composed from their subwords (fastText)
        rows[vocab[word]] = vectors[word]
    return tokenizer, rows


def to_sentence_transformers(source, out, *, normalize: bool = False, extra_words: Iterable[str] = ()) -> Path:
    """Write a folder that `SentenceTransformer(out)` loads: one `StaticEmbedding` module (plus
    `Normalize` with `normalize`). `source` is a saved model folder or a `WordVectors`."""
    from sentence_transformers import SentenceTransformer

    try:  # sentence-transformers >= 6 moved its modules; older releases keep them in `models`
        from sentence_transformers.sentence_transformer.modules import Normalize, StaticEmbedding
    except ImportError:
        from sentence_transformers.models import Normalize, StaticEmbedding

    tokenizer, rows = _tokenizer_and_rows(source, extra_words)
    modules = [StaticEmbedding(tokenizer, embedding_weights=rows)]
    if normalize:
        modules.append(Normalize())
    SentenceTransformer(modules=modules).save(os.fspath(out))
    return Path(out)


def to_model2vec(source, out, *, normalize: bool = False, extra_words: Iterable[str] = ()) -> Path:
    """Write a folder that `model2vec.StaticModel.from_pretrained(out)` loads."""
    from model2vec import StaticModel

    tokenizer, rows = _tokenizer_and_rows(source, extra_words)
    StaticModel(vectors=rows, tokenizer=tokenizer, normalize=normalize).save_pretrained(os.fspath(out))
    return Path(out)


def known_word_mean(vectors: WordVectors, sentence: str, lowercase: bool = False) -> Optional[np.ndarray]:
    """The mean of the vectors of `sentence`'s words that `vectors` knows (None when it knows none):
    what both exports compute, up to sentence-transformers' scale."""
    normalizer, pre_tokenizer = word_pipeline(lowercase)
    text = normalizer.normalize_str(sentence) if normalizer else sentence
    words = [w for w, _ in pre_tokenizer.pre_tokenize_str(text) if w in vectors and w != UNK]
    return np.mean([vectors[w] for w in words], axis=0) if words else None
