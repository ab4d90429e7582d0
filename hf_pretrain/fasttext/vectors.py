"""fastText word vectors that answer for any word, and a reader for the fastText reference's `.bin`.

`FastTextVectors` is a `WordVectors` whose `get_vector` composes an unseen word from its subword
vectors (fastText's `getWordVector`), so `vectors["unseenword"]`, `most_similar` and `similarity` work
for words never seen in training, while `"word" in vectors` still reports vocabulary membership.
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..vectors.keyed import WordVectors
from . import FastTextConfig, FastTextModel
from .subwords import bpe_subwords, char_ngram_subwords

BPE_FILE = "subword_tokenizer.json"
FASTTEXT_MAGIC = 793712314
FASTTEXT_VERSION = 12
# fastText's enums (args.h): model_name and loss_name.
_ARCHITECTURES = {1: "cbow", 2: "skipgram"}
_LOSSES = {1: "hierarchical_softmax", 2: "negative_sampling"}


class FastTextVectors(WordVectors):
    """Vectors of the vocabulary words plus the subword table to compose any other word.

    Args:
        words, vectors, counts: as `WordVectors` (the composed vectors of the vocabulary words).
        subword_vectors: `[rows, dim]` table of subword vectors (n-gram buckets or BPE pieces).
        subword_rows: maps a list of words to flat (`ids`, `offsets`) rows of `subword_vectors`.
        composition: `"mean"` (fastText) or `"sum"` of an unseen word's subword vectors.

    Without `subword_vectors` (e.g. read from a `.vec` file) they behave as plain `WordVectors`.
    """

    def __init__(
        self,
        words: Sequence[str],
        vectors,
        counts: Sequence[int] | None = None,
        *,
        subword_vectors=None,
        subword_rows: Callable[[list[str]], tuple[np.ndarray, np.ndarray]] | None = None,
        composition: str = "mean",
    ):
        super().__init__(words, vectors, counts)
        if (subword_vectors is None) != (subword_rows is None):
            raise ValueError("subword_vectors and subword_rows go together")
        if composition not in ("mean", "sum"):
            raise ValueError(f"composition must be 'mean' or 'sum', got {composition!r}")
        if subword_vectors is not None:
            subword_vectors = (
                subword_vectors.detach().cpu().numpy() if hasattr(subword_vectors, "detach") else subword_vectors
            )
            subword_vectors = np.asarray(subword_vectors, dtype=np.float32)
            if subword_vectors.ndim != 2 or subword_vectors.shape[1] != self.vector_size:
                raise ValueError(f"subword_vectors must be [rows, {self.vector_size}], got {subword_vectors.shape}")
        self.subword_vectors = subword_vectors
        self.subword_rows = subword_rows
        self.composition = composition

    def compose(self, words: Sequence[str]) -> np.ndarray:
        """Vectors of `words` from their subwords alone, as fastText composes a word it never saw; a
        word without any subword (too short, or n-grams off) gets the zero vector, as in fastText."""
        if self.subword_vectors is None:
            raise KeyError("these vectors carry no subword table, so they cannot compose unseen words")
        ids, offsets = self.subword_rows(list(words))
        lengths = np.diff(offsets)
        out = np.zeros((len(words), self.vector_size), dtype=np.float32)
        np.add.at(out, np.repeat(np.arange(len(words)), lengths), self.subword_vectors[ids])
        if self.composition == "mean":
            out /= np.maximum(lengths, 1)[:, None]
        return out

    def get_vector(self, word: str) -> np.ndarray:
        if self.has_index_for(word):
            return super().get_vector(word)
        if not isinstance(word, str):
            raise KeyError(f"word {word!r} not in vocabulary")
        if self.subword_vectors is None:
            raise KeyError(f"word {word!r} not in vocabulary (and no subword table to compose it)")
        return self.compose([word])[0]

    def evaluate_word_pairs(self, path, *args, oov: str = "compose", **kwargs) -> dict:
        """`WordVectors.evaluate_word_pairs`, scoring pairs with unseen words through their subwords
        by default (`oov="skip"` gives the in-vocabulary figure)."""
        return super().evaluate_word_pairs(path, *args, oov=oov, **kwargs)

    @classmethod
    def from_model(cls, model: FastTextModel, vocab, bpe_tokenizer=None, folder=None) -> "FastTextVectors":
        """The vectors of a `FastTextModel` named by its `Vocabulary`. A BPE model also needs its
        piece tokenizer (`bpe_tokenizer`, or `subword_tokenizer.json` in `folder`)."""
        words, counts = list(vocab.index_to_word), [int(c) for c in vocab.counts]
        keep = [i for i in range(len(words)) if not (vocab.unk_policy == "drop" and i == vocab.unk_id)]
        return cls._from_parts(model, [words[i] for i in keep], [counts[i] for i in keep], keep, bpe_tokenizer, folder)

    @classmethod
    def _from_parts(cls, model, words, counts, keep, bpe_tokenizer=None, folder=None):
        config = model.config
        matrix = model.word_embeddings().float().cpu().numpy()[keep]
        # A view of the model's table, not a copy: with 2M buckets it is the bulk of the memory.
        table = model.input_embeddings.weight.detach()[config.vocab_size :].float().cpu().numpy()
        if config.subwords == "bpe":
            if bpe_tokenizer is None and folder is not None and (Path(folder) / BPE_FILE).is_file():
                from tokenizers import Tokenizer

                bpe_tokenizer = Tokenizer.from_file(os.fspath(Path(folder) / BPE_FILE))
            if bpe_tokenizer is None:
                return cls(words, matrix, counts, composition=config.composition)
            rows = lambda ws: bpe_subwords(ws, bpe_tokenizer, num_words=0)  # noqa: E731
        elif config.num_subword_rows:
            minn, maxn, bucket = config.minn, config.maxn, config.bucket
            rows = lambda ws: char_ngram_subwords(ws, minn, maxn, bucket, num_words=0)  # noqa: E731
        else:
            return cls(words, matrix, counts, composition=config.composition)
        return cls(words, matrix, counts, subword_vectors=table, subword_rows=rows, composition=config.composition)

    @classmethod
    def load_fasttext_format(cls, path) -> "FastTextVectors":
        """Vectors from a fastText reference `.bin` model (gensim's `load_facebook_vectors`)."""
        model, words, counts = load_fasttext_model(path)
        return cls._from_parts(model, words, counts, list(range(len(words))))


def load_fasttext_model(path) -> tuple[FastTextModel, list[str], list[int]]:
    """Read a `.bin` written by the fastText reference (`FastText::saveModel`) into a `FastTextModel`,
    with its words and counts. Unsupervised, non-quantized models (skipgram / cbow with negative
    sampling or hierarchical softmax) are supported; its subword rows are recomputed with the same
    hashing, so `word_embeddings()` equals the reference's `get_word_vector`.
    """
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        reader = _Reader(data, path)
        magic, version = reader.unpack("<ii")
        if magic != FASTTEXT_MAGIC:
            raise ValueError(f"{path} is not a fastText .bin model (magic {magic}, expected {FASTTEXT_MAGIC})")
        if version > FASTTEXT_VERSION:
            raise ValueError(f"{path}: fastText file version {version} is newer than the supported {FASTTEXT_VERSION}")
        # Args::load: 12 int32s then the sampling threshold t as a double.
        dim, ws, _epoch, _min_count, neg, _word_ngrams, loss, model_name, bucket, minn, maxn, _lr_rate = reader.unpack(
            "<12i"
        )
        (t,) = reader.unpack("<d")
        if model_name not in _ARCHITECTURES:
            raise ValueError(f"{path}: only unsupervised (skipgram / cbow) models can be read, got model {model_name}")
        if loss not in _LOSSES:
            raise ValueError(f"{path}: only negative sampling and hierarchical softmax are supported, got loss {loss}")
        # Dictionary::load
        size, nwords, _nlabels = reader.unpack("<3i")
        _ntokens, prune_size = reader.unpack("<2q")
        words, counts = [], []
        for _ in range(size):
            word = reader.cstring()
            count, kind = reader.unpack("<qb")
            if kind == 0:
                words.append(word)
                counts.append(count)
        if prune_size >= 0:
            raise ValueError(f"{path}: pruned dictionaries (quantized models) are not supported")
        (quantized,) = reader.unpack("<?")
        if quantized:
            raise ValueError(f"{path}: quantized models (.ftz) are not supported")
        input_matrix = reader.matrix()
        reader.unpack("<?")  # qout
        output_matrix = reader.matrix()
    config = FastTextConfig(
        vocab_size=nwords,
        embedding_dim=dim,
        architecture=_ARCHITECTURES[model_name],
        loss=_LOSSES[loss],
        window=ws,
        num_negatives=max(neg, 1),
        sample=t,
        minn=max(minn, 1),
        maxn=maxn,
        bucket=max(bucket, 1),
        composition="mean",
    )
    expected = nwords + config.num_subword_rows
    if input_matrix.shape != (expected, dim):
        raise ValueError(
            f"{path}: input matrix is {input_matrix.shape}, expected ({expected}, {dim}) for this dictionary"
        )
    model = FastTextModel(config)
    with torch.no_grad():
        model.input_embeddings.weight.copy_(torch.from_numpy(input_matrix))
        # Hierarchical softmax uses the first nwords - 1 output rows (the inner nodes).
        model.output_embeddings.weight.copy_(torch.from_numpy(output_matrix[: config.num_output_vectors]))
    if config.num_subword_rows:
        model.set_subwords(*char_ngram_subwords(words, minn, maxn, bucket))
    return model, words, counts


class _Reader:
    def __init__(self, data, path):
        self.data, self.path, self.pos = data, path, 0

    def unpack(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ValueError(f"{self.path}: truncated at byte {self.pos}")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def cstring(self) -> str:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise ValueError(f"{self.path}: truncated dictionary at byte {self.pos}")
        word = self.data[self.pos : end].decode("utf-8", errors="replace")
        self.pos = end + 1
        return word

    def matrix(self) -> np.ndarray:
        # DenseMatrix::load: rows and columns as int64, then row-major float32.
        rows, cols = self.unpack("<2q")
        if self.pos + 4 * rows * cols > len(self.data):
            raise ValueError(f"{self.path}: truncated matrix at byte {self.pos}")
        matrix = np.frombuffer(self.data, dtype="<f4", count=rows * cols, offset=self.pos).reshape(rows, cols).copy()
        self.pos += 4 * rows * cols
        return matrix


WordVectors.register("fasttext", FastTextVectors)
