"""Queryable, evaluable, saveable word vectors (the role of gensim's ``KeyedVectors``).

Models produce a :class:`WordVectors`; users query it (``most_similar``, ``analogy``), evaluate it
(``evaluate_word_pairs``, ``evaluate_word_analogies``, both matching gensim's numbers) and export it
(word2vec text/binary, GloVe text, or a safetensors folder).
"""

from __future__ import annotations

import ast
import functools
import importlib
import json
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..core.publish import check_safetensors
from .word2vec_format import read_binary, read_text

VECTORS_FILE = "vectors.safetensors"
VOCAB_FILE = "vocab.json"

# Scores of one analogy batch are materialised as a [batch, vocab] float32 matrix; this caps it
# at about 64 MiB whatever the vocabulary size.
_ANALOGY_BATCH_ELEMENTS = 16 * 1024 * 1024


def _to_numpy(array) -> np.ndarray:
    if hasattr(array, "detach"):  # a torch.Tensor; duck-typed so importing this module stays light
        array = array.detach().cpu().numpy()
    return np.asarray(array)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    # An all-zero vector has no direction; leaving it at zero gives it cosine 0 with everything
    # instead of spreading NaNs through every ranking.
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32, copy=False)


# model_type -> the WordVectors subclass a family registers for its models (see WordVectors.register).
_VECTOR_CLASSES: dict = {}
# model_type -> the module that registers its class: imported on first need, since fastText's imports
# torch and its model, which reading other vectors does without.
_VECTOR_MODULES = {"fasttext": "hf_pretrain.fasttext.vectors"}


def _vector_class(model_type):
    """The WordVectors subclass registered for `model_type`, or None."""
    if model_type not in _VECTOR_CLASSES and model_type in _VECTOR_MODULES:
        importlib.import_module(_VECTOR_MODULES[model_type])
    return _VECTOR_CLASSES.get(model_type)


# The families whose word vectors are plain tables of model.safetensors: model_type -> their
# configuration class, the tensors and the function that computes `model.word_embeddings()` from
# them with numpy. Reading them so needs neither torch nor transformers (seconds to import) nor the model.


def _word2vec_embeddings(settings, tensors: dict) -> np.ndarray:
    # Word2VecModel.word_embeddings: the input vectors, as word2vec.c and gensim export.
    return tensors["input_embeddings.weight"]


def _glove_embeddings(settings, tensors: dict) -> np.ndarray:
    # GloVeModel.word_embeddings, as `config.export` says: W + C (glove.c's default), W, or [W, C].
    center, context = tensors["center_embeddings.weight"], tensors["context_embeddings.weight"]
    if settings.export == "center":
        return center
    if settings.export == "concat":
        return np.concatenate([center, context], axis=1)
    return center + context


_TABLE_FAMILIES = {
    "word2vec": ("Word2VecConfig", ("input_embeddings.weight",), _word2vec_embeddings),
    "glove": ("GloVeConfig", ("center_embeddings.weight", "context_embeddings.weight"), _glove_embeddings),
}


class _NoConfigBase:
    """Stands in for PretrainedConfig: takes its arguments (auto_map, dtype...) and does nothing."""

    def __init__(self, **kwargs):
        pass


@functools.lru_cache(maxsize=None)
def _settings_class(model_type: str):
    """The family's configuration class without transformers, or None where it needs transformers
    for more than its base class.

    Its `__init__` checks every setting, and a folder with a bad config.json must fail here as it
    fails when its model loads, with the same message: so this runs the class's own code, from its
    file (importing it would import the family's model, torch and transformers), on a stand-in base.
    """
    path = Path(__file__).resolve().parents[1] / model_type / f"configuration_{model_type}.py"
    tree = ast.parse(path.read_text(encoding="utf8"), filename=str(path))
    body = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.ImportFrom) and node.module == "transformers":
                if [alias.name for alias in node.names] == ["PretrainedConfig"] and node.names[0].asname is None:
                    continue
                return None
            if any(alias.name.split(".")[0] == "transformers" for alias in node.names):
                return None
        body.append(node)
    namespace = {"__name__": f"{__name__}._settings_{model_type}", "PretrainedConfig": _NoConfigBase}
    exec(compile(ast.Module(body=body, type_ignores=[]), str(path), "exec"), namespace)
    return namespace[_TABLE_FAMILIES[model_type][0]]


class WordVectors:
    """A vocabulary and one float32 vector per word.

    Args:
        words: the vocabulary, usually in descending frequency order (``restrict_vocab`` arguments
            take the first words of this list).
        vectors: a ``[len(words), dim]`` array or tensor.
        counts: optional corpus frequency of each word.

    Similarity queries use a cached unit-normalised copy of :attr:`vectors`. Assigning
    ``wv.vectors = ...`` refreshes it; after modifying the array in place, call
    :meth:`clear_cache`.
    """

    def __init__(
        self,
        words: Sequence[str],
        vectors,
        counts: Sequence[int] | None = None,
    ):
        words = list(words)
        for position, word in enumerate(words):
            if not isinstance(word, str):
                raise ValueError(f"words must be strings, got {type(word).__name__} {word!r} at position {position}")
        key_to_index: dict[str, int] = {}
        for position, word in enumerate(words):
            if word in key_to_index:
                raise ValueError(
                    f"duplicate word {word!r} at positions {key_to_index[word]} and {position}; words must be unique"
                )
            key_to_index[word] = position
        self.index_to_key: list[str] = words
        self.key_to_index: dict[str, int] = key_to_index
        self._unit: np.ndarray | None = None
        self._vectors = self._check_vectors(vectors)
        self.counts: list[int] | None = None if counts is None else self._check_counts(counts)

    # ------------------------------------------------------------------ validation

    def _check_vectors(self, vectors) -> np.ndarray:
        array = _to_numpy(vectors)
        if array.ndim != 2:
            raise ValueError(f"vectors must be 2-D [num_words, dim], got shape {tuple(array.shape)}")
        if array.shape[0] != len(self.index_to_key):
            raise ValueError(
                f"got {len(self.index_to_key)} words but {array.shape[0]} vectors; they must have the same length"
            )
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise ValueError(f"vectors must be numeric, got dtype {array.dtype}")
        array = np.ascontiguousarray(array, dtype=np.float32)
        finite = np.isfinite(array).all(axis=1)
        if not finite.all():
            bad = int(np.flatnonzero(~finite)[0])
            raise ValueError(
                f"vectors contain non-finite values (NaN or inf) in {int((~finite).sum())} rows, "
                f"first for word {self.index_to_key[bad]!r} at row {bad}"
            )
        return array

    def _check_counts(self, counts) -> list[int]:
        counts = counts.tolist() if hasattr(counts, "tolist") else list(counts)
        if len(counts) != len(self.index_to_key):
            raise ValueError(
                f"got {len(self.index_to_key)} words but {len(counts)} counts; they must have the same length"
            )
        checked = []
        for word, count in zip(self.index_to_key, counts):
            if isinstance(count, bool) or not isinstance(count, (int, float)) or count != int(count) or count < 0:
                raise ValueError(f"count for word {word!r} must be a non-negative integer, got {count!r}")
            checked.append(int(count))
        return checked

    # ------------------------------------------------------------------ container protocol

    @property
    def vectors(self) -> np.ndarray:
        return self._vectors

    @vectors.setter
    def vectors(self, value) -> None:
        self._vectors = self._check_vectors(value)
        self._unit = None

    def clear_cache(self) -> None:
        """Forget the unit-normalised copy, e.g. after editing :attr:`vectors` in place."""
        self._unit = None

    @property
    def unit_vectors(self) -> np.ndarray:
        """Rows of :attr:`vectors` scaled to unit length (zero rows stay zero); cached."""
        if self._unit is None:
            self._unit = _unit_rows(self._vectors)
        return self._unit

    @property
    def vector_size(self) -> int:
        return int(self._vectors.shape[1])

    def __len__(self) -> int:
        return len(self.index_to_key)

    def __contains__(self, word) -> bool:
        return self.has_index_for(word)

    def has_index_for(self, word) -> bool:
        """True if ``word`` has its own row (subclasses may still answer :meth:`get_vector` for others)."""
        return isinstance(word, str) and word in self.key_to_index

    def get_index(self, word: str) -> int:
        try:
            return self.key_to_index[word]
        except (KeyError, TypeError):
            raise KeyError(f"word {word!r} not in vocabulary") from None

    def get_vector(self, word: str) -> np.ndarray:
        """The vector of ``word``. Subword models override this to answer for unseen words."""
        return self._vectors[self.get_index(word)].copy()

    def __getitem__(self, words):
        if isinstance(words, str):
            return self.get_vector(words)
        if isinstance(words, (list, tuple)):
            if not words:
                return np.zeros((0, self.vector_size), dtype=np.float32)
            return np.stack([self.get_vector(word) for word in words])
        raise TypeError(f"index with a word or a list of words, got {type(words).__name__}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} words, dim={self.vector_size})"

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_model(cls, model, vocab) -> "WordVectors":
        """The vectors of a trained model (`model.word_embeddings()`) named by its `Vocabulary`.

        An unknown token that was dropped from training has no meaningful vector and is left out.
        A fastText model gives :class:`FastTextVectors`, which also answer for unseen words.
        """
        special = _vector_class(getattr(getattr(model, "config", None), "model_type", None))
        if cls is WordVectors and special is not None:
            return special.from_model(model, vocab)
        return cls._from_matrix(model.word_embeddings().float().cpu().numpy(), vocab)

    @classmethod
    def _from_matrix(cls, matrix: np.ndarray, vocab) -> "WordVectors":
        """Row `i` of `matrix` named by word `i` of `vocab`; a dropped unknown token left out."""
        words, counts = list(vocab.index_to_word), [int(c) for c in vocab.counts]
        if vocab.unk_policy == "drop":
            keep = [i for i in range(len(words)) if i != vocab.unk_id]
            matrix, words, counts = matrix[keep], [words[i] for i in keep], [counts[i] for i in keep]
        return cls(words, matrix, counts)

    @classmethod
    def from_pretrained(cls, dir_or_model, vocab=None, **kwargs) -> "WordVectors":
        """Word vectors from a saved model folder (weights + `tokenizer.json`, with `word_counts.json`
        when the recipe wrote it: without it the vectors have no counts and an unknown token is left
        out as under the default unk_policy "drop"), a folder written by :meth:`save`, or a model
        object together with its `vocab`.

        Keyword arguments go to ``transformers.AutoModel.from_pretrained`` when loading a model folder.
        Without them, word2vec and GloVe folders are read by :meth:`from_saved_tables`, which gives
        the same vectors without loading the model.
        """
        from ..core.vocab import Vocabulary

        if hasattr(dir_or_model, "word_embeddings"):
            if vocab is None:
                raise ValueError("a model object needs its vocab: WordVectors.from_pretrained(model, vocab)")
            return cls.from_model(dir_or_model, vocab)
        path = Path(dir_or_model)
        if not path.is_dir():
            raise FileNotFoundError(f"no model folder at {path}")
        if (path / VECTORS_FILE).is_file() and (path / VOCAB_FILE).is_file() and not (path / "config.json").exists():
            return cls.load(path)
        if not kwargs:
            vectors = cls.from_saved_tables(path, vocab)
            if vectors is not None:
                return vectors
        # Importing transformers' auto modules registers the package's model types (hf_pretrain/__init__.py).
        from transformers import AutoModel

        if (path / "model.safetensors").is_file():
            check_safetensors(path / "model.safetensors")
        model = AutoModel.from_pretrained(os.fspath(path), **kwargs)
        if not hasattr(model, "word_embeddings"):
            raise TypeError(f"{type(model).__name__} loaded from {path} holds no word vectors")
        words_from = "the vocab given" if vocab is not None else "tokenizer.json"
        # word_counts.json is optional: a folder saved with plain model.save_pretrained and
        # tokenizer.save_pretrained has only tokenizer.json; its vectors then have no counts.
        vocab = vocab if vocab is not None else Vocabulary.load(path, require_counts=False)
        _check_vocabulary_size(path, words_from, len(vocab), getattr(model.config, "vocab_size", None))
        special = _vector_class(getattr(model.config, "model_type", None))
        if special is not None:
            vectors = special.from_model(model, vocab, folder=path)
        else:
            vectors = cls.from_model(model, vocab)
        if not getattr(vocab, "has_counts", True):
            vectors.counts = None
        return vectors

    @classmethod
    def from_saved_tables(cls, folder, vocab=None) -> "WordVectors | None":
        """The vectors of a word2vec or GloVe model folder, read from config.json and model.safetensors
        with numpy: those of :meth:`from_pretrained` (the same rows in the same order, the same counts,
        the same unknown-token handling) without torch, transformers or the model.

        Returns None for a folder this cannot read so (another family, or weights that are not one
        float32 safetensors file): :meth:`from_pretrained` then loads its model.
        """
        from safetensors import safe_open

        from ..core.vocab import Vocabulary

        path = Path(folder)
        try:
            config = json.loads((path / "config.json").read_text(encoding="utf8"))
        except (OSError, ValueError):
            return None  # loading the model reports it
        if not isinstance(config, dict) or config.get("model_type") not in _TABLE_FAMILIES:
            return None
        if cls.from_model.__func__ is not WordVectors.from_model.__func__:
            return None  # a subclass makes its vectors its own way, from the model
        # The model is loaded in the dtype config.json names, if any: only float32 reads as stored.
        if config.get("dtype", config.get("torch_dtype")) not in (None, "float32"):
            return None
        settings_class = _settings_class(config["model_type"])
        if settings_class is None:
            return None
        try:
            settings = settings_class(**config)  # a bad setting raises its ValueError, as the model would
        except ValueError:
            raise
        except Exception:  # the class needs more of PretrainedConfig than the stand-in: let it load
            return None
        _, names, embeddings = _TABLE_FAMILIES[config["model_type"]]
        weights = path / "model.safetensors"
        if not weights.is_file():
            return None
        check_safetensors(weights)
        with safe_open(os.fspath(weights), framework="numpy") as tables:
            present = set(tables.keys())
            if any(name not in present or tables.get_slice(name).get_dtype() != "F32" for name in names):
                return None
            shape = [settings.vocab_size, settings.embedding_dim]
            if any(tables.get_slice(name).get_shape() != shape for name in names):
                return None  # loading the model reports the mismatch
            matrix = embeddings(settings, {name: tables.get_tensor(name) for name in names})
        words_from = "the vocab given" if vocab is not None else "tokenizer.json"
        vocab = vocab if vocab is not None else Vocabulary.load(path, require_counts=False)
        _check_vocabulary_size(path, words_from, len(vocab), settings.vocab_size)
        vectors = cls._from_matrix(matrix, vocab)
        if not getattr(vocab, "has_counts", True):
            vectors.counts = None
        return vectors

    @staticmethod
    def register(model_type: str, vectors_class: type) -> None:
        """Make `from_model` / `from_pretrained` give `vectors_class` for models of `model_type`, so
        a family's own vectors (fastText's answer unseen words) need no import from here."""
        _VECTOR_CLASSES[model_type] = vectors_class

    # ------------------------------------------------------------------ similarity queries

    def _restrict(self, restrict_vocab) -> int:
        if restrict_vocab is None:
            return len(self)
        if int(restrict_vocab) < 1:
            raise ValueError(f"restrict_vocab must be a positive number of words, got {restrict_vocab!r}")
        return min(int(restrict_vocab), len(self))

    def _query_unit(self, item) -> tuple[np.ndarray, int | None]:
        """Unit vector of a word or raw vector, and the word's row (None for vectors and unseen words)."""
        if isinstance(item, str):
            if self.has_index_for(item):
                index = self.key_to_index[item]
                return self.unit_vectors[index], index
            return _unit_rows(np.asarray(self.get_vector(item), dtype=np.float32)), None
        vector = _to_numpy(item).astype(np.float32)
        if vector.shape != (self.vector_size,):
            raise ValueError(f"query vector must have shape ({self.vector_size},), got {tuple(vector.shape)}")
        # Matching gensim: raw vectors join the mean unnormalised, words join as unit vectors.
        return vector, None

    def similarity(self, word1: str, word2: str) -> float:
        """Cosine similarity of two words."""
        v1 = np.asarray(self.get_vector(word1), dtype=np.float64)
        v2 = np.asarray(self.get_vector(word2), dtype=np.float64)
        n1, n2 = np.linalg.norm(v1), np.linalg.norm(v2)
        if n1 == 0 or n2 == 0:
            return 0.0
        return float(v1 @ v2 / (n1 * n2))

    @staticmethod
    def _as_list(items) -> list:
        if items is None:
            return []
        if isinstance(items, str) or hasattr(items, "shape"):
            return [items]
        return list(items)

    def _combined_query(self, positive, negative) -> tuple[np.ndarray, set[int]]:
        terms = [(item, 1.0) for item in positive] + [(item, -1.0) for item in negative]
        if not terms:
            raise ValueError("most_similar needs at least one word or vector")
        mean = np.zeros(self.vector_size, dtype=np.float64)
        exclude: set[int] = set()
        for item, weight in terms:
            if isinstance(item, tuple) and len(item) == 2:
                item, weight = item[0], float(item[1])
            vector, index = self._query_unit(item)
            mean += weight * vector
            if index is not None:
                exclude.add(index)
        return _unit_rows(mean).astype(np.float32), exclude

    def _top(self, scores: np.ndarray, topn: int, exclude: Iterable[int]) -> list[tuple[str, float]]:
        exclude = set(exclude)
        k = min(topn + len(exclude), scores.shape[0])
        if k <= 0:
            return []
        if k < scores.shape[0]:
            candidates = np.argpartition(-scores, k - 1)[:k]
        else:
            candidates = np.arange(scores.shape[0])
        candidates = candidates[np.argsort(-scores[candidates], kind="stable")]
        result = [(self.index_to_key[i], float(scores[i])) for i in candidates.tolist() if i not in exclude]
        return result[:topn]

    def most_similar(
        self,
        word_or_vector=None,
        topn: int | None = 10,
        positive=None,
        negative=None,
        restrict_vocab: int | None = None,
    ):
        """Words nearest by cosine to a word, a vector, or ``mean(positive) - mean(negative)``.

        As in gensim, words contribute their unit vectors (weight +1 if positive, -1 if negative,
        or ``(word, weight)`` tuples), raw vectors contribute as given, and the input words are
        left out of the answer. ``restrict_vocab`` searches only the first that many words.

        Returns a list of ``(word, cosine)``, best first; with ``topn=None``, the array of cosines
        for the searched words.
        """
        positive = self._as_list(positive)
        negative = self._as_list(negative)
        if word_or_vector is not None:
            positive = [word_or_vector] + positive
        query, exclude = self._combined_query(positive, negative)
        limit = self._restrict(restrict_vocab)
        scores = self.unit_vectors[:limit] @ query
        if topn is None:
            return scores
        if topn < 1:
            return []
        return self._top(scores, int(topn), exclude)

    def analogy(
        self,
        a: str,
        b: str,
        c: str,
        topn: int = 1,
        method: str = "3cosadd",
        restrict_vocab: int | None = None,
    ) -> list[tuple[str, float]]:
        """Answers to ``a`` is to ``b`` as ``c`` is to ``?``, best first, without the three inputs.

        ``"3cosadd"`` ranks by ``cos(x, b - a + c)`` over unit vectors (gensim's
        ``most_similar(positive=[b, c], negative=[a])``); ``"3cosmul"`` by
        ``cos'(x, b) * cos'(x, c) / (cos'(x, a) + 1e-6)`` with ``cos' = (1 + cos) / 2``
        (Levy & Goldberg 2014; gensim's ``most_similar_cosmul``).
        """
        for first, second in ((a, b), (a, c), (b, c)):
            if first == second:
                raise ValueError(f"analogy needs three different words, got {first!r} twice")
        method = method.lower()
        if method not in ("3cosadd", "3cosmul"):
            raise ValueError(f"method must be '3cosadd' or '3cosmul', got {method!r}")
        if topn < 1:
            return []
        (ua, ia), (ub, ib), (uc, ic) = (self._query_unit(w) for w in (a, b, c))
        exclude = {i for i in (ia, ib, ic) if i is not None}
        unit = self.unit_vectors[: self._restrict(restrict_vocab)]
        if method == "3cosadd":
            scores = unit @ _unit_rows(ub.astype(np.float64) - ua + uc).astype(np.float32)
        else:
            shifted = (1.0 + unit @ np.stack([ua, ub, uc], axis=1)) / 2.0
            scores = shifted[:, 1] * shifted[:, 2] / (shifted[:, 0] + 1e-6)
        return self._top(scores, int(topn), exclude)

    # ------------------------------------------------------------------ evaluation

    def _eval_vocab(self, restrict_vocab, case_insensitive: bool) -> dict[str, int]:
        """Word (upper-cased if asked) -> row over the first ``restrict_vocab`` words.

        When several words share an upper-cased form, the first (most frequent) one wins, as in gensim.
        """
        ok_vocab: dict[str, int] = {}
        for index, word in enumerate(self.index_to_key[:restrict_vocab]):
            ok_vocab.setdefault(word.upper() if case_insensitive else word, index)
        return ok_vocab

    def evaluate_word_pairs(
        self,
        path,
        delimiter: str | None = "\t",
        case_insensitive: bool = True,
        restrict_vocab: int | None = 300000,
        dummy4unknown: bool = False,
        encoding: str = "utf8",
        oov: str = "skip",
    ) -> dict:
        """Correlation of cosine similarities with human judgements, as gensim computes it.

        The file holds ``word1<delimiter>word2<delimiter>score`` lines (``delimiter=None`` splits on
        any whitespace); lines starting with ``#`` and lines that do not parse are skipped. Pairs
        with a word outside the first ``restrict_vocab`` words are skipped, or scored 0 with
        ``dummy4unknown``. With ``oov="compose"``, such a word is scored through :meth:`get_vector`
        instead (subword models answer for unseen words); pairs it cannot answer for are then
        skipped or scored 0 as before. The statistics are those of the packaged ``word_similarity``
        `evaluate` metric (``hf_pretrain.metrics.scores``, without importing `evaluate`).

        Returns ``pearson``, ``pearson_pvalue``, ``spearman``, ``spearman_pvalue``, ``oov_ratio``
        (percent, as gensim), ``pairs`` (pairs correlated) and ``oov_pairs``.
        """
        from ..metrics.scores import word_similarity

        if oov not in ("skip", "compose"):
            raise ValueError(f"oov must be 'skip' or 'compose', got {oov!r}")
        ok_vocab = self._eval_vocab(restrict_vocab, case_insensitive)
        gold: list[float] = []
        rows: list[tuple[int, int]] = []  # (-1, -1) marks a pair with an out-of-vocabulary word
        composed: dict[int, float] = {}  # its cosine, where oov="compose" could build both vectors
        with open(path, encoding=encoding) as fin:
            for line in fin:
                if not line or line.startswith("#"):
                    continue
                parts = line.split(delimiter)
                if len(parts) != 3:
                    continue
                raw = parts
                if case_insensitive:
                    parts = [part.upper() for part in parts]
                a, b, score = parts
                try:
                    score = float(score)
                except ValueError:
                    continue
                if a in ok_vocab and b in ok_vocab:
                    rows.append((ok_vocab[a], ok_vocab[b]))
                else:
                    rows.append((-1, -1))
                    if oov == "compose":
                        try:
                            ua, ub = (
                                self.unit_vectors[ok_vocab[key]]
                                if key in ok_vocab
                                else _unit_rows(np.asarray(self.get_vector(word), dtype=np.float32))
                                for key, word in ((a, raw[0]), (b, raw[1]))
                            )
                        except KeyError:
                            pass
                        else:
                            composed[len(gold)] = float(ua.astype(np.float64) @ ub.astype(np.float64))
                gold.append(score)
        pairs = np.asarray(rows, dtype=np.int64).reshape(-1, 2)
        flags = pairs[:, 0] < 0
        if not len(gold) or (flags.all() and not composed and not dummy4unknown):
            raise ValueError(
                f"no valid similarity judgements in {path}: the lines do not parse or all words are out of vocabulary"
            )
        unit = self.unit_vectors
        model = np.full(len(gold), np.nan, dtype=np.float64)
        model[~flags] = np.einsum(
            "ij,ij->i",
            unit[pairs[~flags, 0]].astype(np.float64),
            unit[pairs[~flags, 1]].astype(np.float64),
        )
        if oov == "compose":
            # Every out-of-vocabulary pair keeps what it has: its composed cosine, 0 as a dummy, or
            # no score at all (left out of the correlation).
            model[flags] = 0.0 if dummy4unknown else np.nan
            for position, cosine in composed.items():
                model[position] = cosine
            handling = "keep"
        else:
            handling = "zero" if dummy4unknown else "skip"
        result = word_similarity(predictions=model, references=gold, oov=flags, oov_handling=handling)
        keys = ("pearson", "pearson_pvalue", "spearman", "spearman_pvalue", "oov_ratio", "pairs", "oov_pairs")
        return {key: result[key] for key in keys}

    def evaluate_word_analogies(
        self,
        path,
        restrict_vocab: int | None = 300000,
        case_insensitive: bool = True,
        dummy4unknown: bool = False,
    ) -> dict:
        """3CosAdd accuracy on a word2vec-format analogy file, with gensim's rules, in batches.

        The file has ``: section`` header lines followed by ``a b c d`` questions. Questions with a
        word outside the first ``restrict_vocab`` words are skipped (counted wrong with
        ``dummy4unknown``). The answer is the best of the five nearest words to ``b - a + c``
        (searched in the first ``restrict_vocab`` words) that is not an input word, compared
        case-insensitively by default. The answers are scored as the packaged ``word_analogy``
        `evaluate` metric scores them (``hf_pretrain.metrics.scores``); sections that share a name are counted as one.

        Returns ``accuracy``, ``correct``, ``total`` (questions answered), ``oov_questions``,
        ``oov_ratio`` (percent of questions), ``questions`` (all well-formed questions), and
        ``sections``: one ``{"section", "correct", "incorrect", "accuracy"}`` per section, plus a
        last ``"Total accuracy"`` entry.
        """
        from ..metrics.scores import word_analogy

        ok_vocab = self._eval_vocab(restrict_vocab, case_insensitive)
        section_names: list[str] = []
        questions: list[tuple[int, int, int, int]] = []
        answerable: list[int] = []  # positions of the in-vocabulary questions among all questions
        expected: list[str] = []
        labels: list[str] = []
        with open(path, "rb") as fin:
            for line_no, raw in enumerate(fin, start=1):
                line = raw.decode("utf8")
                if line.startswith(": "):
                    section_names.append(line.lstrip(": ").strip())
                    continue
                if not section_names:
                    raise ValueError(f"{path}, line {line_no}: missing ': section' header before the first question")
                words = line.split()
                if len(words) != 4:
                    continue
                expected.append(words[3])
                labels.append(section_names[-1])
                if case_insensitive:
                    words = [word.upper() for word in words]
                if all(word in ok_vocab for word in words):
                    answerable.append(len(expected) - 1)
                    questions.append(tuple(ok_vocab[word] for word in words))
        if not expected:
            raise ValueError(f"no analogy questions found in {path}")

        answers = self._solve_analogies(
            np.asarray(questions, dtype=np.int64).reshape(-1, 4),
            len(self.index_to_key[:restrict_vocab]),
            ok_vocab,
            case_insensitive,
        )
        predictions = [""] * len(expected)  # "" for no answer
        flags = [True] * len(expected)
        for position, answer in zip(answerable, answers.tolist()):
            predictions[position] = self.index_to_key[answer] if answer >= 0 else ""
            flags[position] = False
        return word_analogy(
            predictions=predictions,
            references=expected,
            sections=labels,
            section_names=section_names,
            oov=flags,
            oov_handling="incorrect" if dummy4unknown else "skip",
            case_insensitive=case_insensitive,
        )

    def _solve_analogies(
        self, questions: np.ndarray, limit: int, ok_vocab: dict[str, int], case_insensitive: bool
    ) -> np.ndarray:
        """3CosAdd's answer (a row, -1 for none) to each [n, 4] (a, b, c, expected) row question, batched.

        Case-insensitively the answer is the first row of its evaluation key, so a case variant of
        the expected word counts as that word, as in gensim.
        """
        import torch

        answers = np.full(len(questions), -1, dtype=np.int64)
        if len(questions) == 0:
            return answers
        # Candidates are compared by their evaluation key (the upper-cased form when case-insensitive),
        # so a case variant of an input word counts as that input word, as in gensim.
        canonical = np.arange(limit, dtype=np.int64)
        if case_insensitive:
            canonical = np.fromiter(
                (ok_vocab[w.upper()] for w in self.index_to_key[:limit]), dtype=np.int64, count=limit
            )
        unit = self.unit_vectors[:limit]
        k = min(5, limit)
        batch = max(1, min(4096, _ANALOGY_BATCH_ELEMENTS // limit))
        for start in range(0, len(questions), batch):
            qb = questions[start : start + batch]
            rows = np.arange(len(qb))[:, None]
            target = unit[qb[:, 1]] + unit[qb[:, 2]] - unit[qb[:, 0]]
            norms = np.linalg.norm(target, axis=1, keepdims=True)
            target /= np.where(norms > 0, norms, 1.0)
            # numpy's BLAS for the product, torch only for top-k: numpy has no partial sort along
            # rows that comes close to torch.topk on [batch, vocab].
            scores = target @ unit.T
            scores[rows, qb[:, :3]] = -np.inf  # gensim drops the input rows before taking the top 5
            top_scores, top = torch.topk(torch.from_numpy(scores), k, dim=1)
            top_scores, top = top_scores.numpy(), top.numpy()
            valid = top_scores > -np.inf
            top_key = canonical[top]
            allowed = valid & (top_key != qb[:, 0:1]) & (top_key != qb[:, 1:2]) & (top_key != qb[:, 2:3])
            # gensim keeps the last candidate it looked at when none is allowed; with no candidate
            # at all there is no answer.
            last_valid = valid.sum(axis=1) - 1
            pick = np.where(allowed.any(axis=1), allowed.argmax(axis=1), last_valid)
            predicted = top_key[rows[:, 0], np.maximum(pick, 0)]
            answers[start : start + batch] = np.where(last_valid >= 0, predicted, -1)
        return answers

    # ------------------------------------------------------------------ word2vec / GloVe files

    def save_word2vec_format(self, path, binary: bool = False, write_header: bool = True) -> None:
        """Write word2vec text (``N D`` header), word2vec binary, or GloVe text (``write_header=False``).

        Binary entries are ``word``, a space, ``D`` little-endian float32s and a newline, as
        word2vec.c writes them. Text values are the shortest decimals that read back to the same
        float32, so a round trip is exact. Counts are not stored.
        """
        if binary and not write_header:
            raise ValueError("binary word2vec files always have a header; write_header=False is for text only")
        for word in self.index_to_key:
            if not word or any(ch.isspace() for ch in word):
                raise ValueError(
                    f"word {word!r} is empty or contains whitespace, which the word2vec format cannot store"
                )
        vectors = self._vectors.astype("<f4", copy=False)
        with open(path, "wb") as fout:
            if write_header:
                fout.write(f"{len(self)} {self.vector_size}\n".encode("utf8"))
            if binary:
                for word, row in zip(self.index_to_key, vectors):
                    fout.write(word.encode("utf8") + b" " + row.tobytes() + b"\n")
            else:
                for word, row in zip(self.index_to_key, vectors):
                    fout.write(f"{word} {' '.join(map(str, row))}\n".encode("utf8"))

    @classmethod
    def load_word2vec_format(
        cls,
        path,
        binary: bool = False,
        no_header: bool = False,
        encoding: str = "utf8",
        limit: int | None = None,
    ) -> "WordVectors":
        """Read word2vec text/binary or (``no_header=True``) GloVe text, as gensim does.

        Stricter than gensim: a file whose header disagrees with its contents, a duplicate word, a
        wrong number of values or an unparsable or non-finite value raises ``ValueError`` naming the
        file and line. ``limit`` reads only the first that many words.
        """
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be non-negative, got {limit}")
        if binary:
            if no_header:
                raise ValueError("binary word2vec files always have a header; no_header is for text files only")
            words, rows, locations = read_binary(path, encoding, limit)
        else:
            words, rows, locations = read_text(path, no_header, encoding, limit)
        seen: dict[str, int] = {}
        for position, word in enumerate(words):
            if word in seen:
                raise ValueError(
                    f"{path}, {locations(position)}: duplicate word {word!r} (first at {locations(seen[word])})"
                )
            seen[word] = position
        dim = rows.shape[1] if rows.ndim == 2 else 0
        matrix = rows.reshape(len(words), dim)
        finite = np.isfinite(matrix).all(axis=1)
        if not finite.all():
            bad = int(np.flatnonzero(~finite)[0])
            raise ValueError(f"{path}, {locations(bad)}: non-finite value (NaN or inf) for word {words[bad]!r}")
        return cls(words, matrix)

    # ------------------------------------------------------------------ safetensors folder

    def save(self, path_dir) -> None:
        """Write ``vectors.safetensors`` (key ``"vectors"``) and ``vocab.json`` (words, counts) into a folder."""
        from safetensors.numpy import save_file

        path_dir = Path(path_dir)
        path_dir.mkdir(parents=True, exist_ok=True)
        save_file({"vectors": np.ascontiguousarray(self._vectors)}, os.fspath(path_dir / VECTORS_FILE))
        with open(path_dir / VOCAB_FILE, "w", encoding="utf8") as fout:
            json.dump({"words": self.index_to_key, "counts": self.counts}, fout, ensure_ascii=False)

    @classmethod
    def load(cls, path_dir) -> "WordVectors":
        """Read a folder written by :meth:`save`."""
        from safetensors.numpy import load_file

        path_dir = Path(path_dir)
        # A family's vectors saved with more than words and vectors (fastText's subword table) say so
        # in vectors_config.json, and their own class reads them back.
        settings = path_dir / "vectors_config.json"
        if cls is WordVectors and settings.is_file():
            special = _vector_class(json.loads(settings.read_text(encoding="utf8")).get("model_type"))
            if special is not None:
                return special.load(path_dir)
        for name in (VECTORS_FILE, VOCAB_FILE):
            if not (path_dir / name).is_file():
                raise FileNotFoundError(
                    f"{path_dir / name} not found; is {path_dir} a folder written by WordVectors.save?"
                )
        check_safetensors(path_dir / VECTORS_FILE)
        tensors = load_file(os.fspath(path_dir / VECTORS_FILE))
        if "vectors" not in tensors:
            raise ValueError(f"{path_dir / VECTORS_FILE} has no 'vectors' tensor (found {sorted(tensors)})")
        with open(path_dir / VOCAB_FILE, encoding="utf8") as fin:
            vocab = json.load(fin)
        if not isinstance(vocab, dict) or "words" not in vocab:
            raise ValueError(f"{path_dir / VOCAB_FILE} must be a JSON object with a 'words' list")
        return cls(vocab["words"], tensors["vectors"], vocab.get("counts"))


def _check_vocabulary_size(folder, words_from: str, num_words: int, num_rows: int | None) -> None:
    """Word `i` names row `i`, so a vocabulary of another size is another vocabulary: its words
    would name the wrong rows."""
    if num_rows is not None and num_words != num_rows:
        raise ValueError(
            f"{folder}: {words_from} has {num_words} words but the model has {num_rows} word rows "
            "(vocab_size in config.json, model.safetensors); the vocabulary and the weights must come from the same run"
        )
