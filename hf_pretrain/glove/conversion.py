"""Published GloVe vectors (glove.6B.50d.txt and the like) as a saveable, Hub-ready `GloVeModel`."""

from __future__ import annotations

import os

import numpy as np
import torch

from ..core.vocab import Vocabulary
from ..vectors.keyed import WordVectors
from .configuration_glove import GloVeConfig
from .modeling_glove import GloVeModel


def glove_model_from_text(
    path: str | os.PathLike, unk_token: str = "<unk>", lowercase: bool | None = None, encoding: str = "utf8"
) -> tuple[GloVeModel, Vocabulary]:
    """Read a GloVe text file (`word v1 … vd` per line, no header) into a model and its vocabulary.

    The file's vectors become the centre vectors, the context vectors are zero and `export` is
    `"sum"`, so `word_embeddings()` (and `WordVectors.from_model`) give back the file's vectors exactly.
    The files carry no counts; the vocabulary keeps the file's order (most frequent first) with
    counts of zero. Unless the file has its own `unk_token` (which then keeps its vector), one is put
    in front with a zero vector and left out of the exported vectors. `lowercase` adds a lower-casing
    normaliser to the tokenizer; by default it does when every word of the file is lower-case (as in
    glove.6B).
    """
    vectors = WordVectors.load_word2vec_format(path, no_header=True, encoding=encoding)
    if len(vectors) == 0:
        raise ValueError(f"{path} holds no vectors")
    words, matrix = list(vectors.index_to_key), vectors.vectors
    own_unk = unk_token in vectors.key_to_index
    if not own_unk:
        words = [unk_token] + words
        matrix = np.concatenate([np.zeros((1, matrix.shape[1]), dtype=matrix.dtype), matrix])
    if lowercase is None:
        lowercase = all(word == word.lower() for word in words)
    vocab = Vocabulary.from_words(
        words, [0] * len(words), unk_token=unk_token, unk_policy="keep" if own_unk else "drop", lowercase=lowercase
    )
    config = GloVeConfig(vocab_size=len(words), embedding_dim=int(matrix.shape[1]), export="sum")
    model = GloVeModel(config)
    with torch.no_grad():
        model.center_embeddings.weight.copy_(torch.from_numpy(matrix))
        model.context_embeddings.weight.zero_()
        model.center_biases.weight.zero_()
        model.context_biases.weight.zero_()
    return model, vocab
