"""fastText word vectors that answer for any word, and a reader for the fastText reference's `.bin`.

`FastTextVectors` is a `WordVectors` whose `get_vector` composes an unseen word from its subword
vectors (fastText's `getWordVector`), so `vectors["unseenword"]`, `most_similar` and `similarity` work
for words never seen in training, while `"word" in vectors` still reports vocabulary membership.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..core.publish import check_safetensors
from ..vectors.keyed import WordVectors
from . import FastTextConfig, FastTextModel
from .bin_format import FASTTEXT_MAGIC, FASTTEXT_VERSION, write_fasttext_bin
from .subwords import bpe_subwords, char_ngram_subwords

BPE_FILE = "subword_tokenizer.json"
# Written by FastTextVectors.save beside WordVectors.save's files.
SETTINGS_FILE = "vectors_config.json"
SUBWORDS_FILE = "subwords.safetensors"
_BIN_KEYS = ("architecture", "loss", "window", "num_negatives", "sample")
_TRAINING_KEYS = (*_BIN_KEYS, "subwords")
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
        ngrams: `(minn, maxn, bucket)` of hashed character n-grams; gives `subword_rows` when that
            is not given, and is what `save` and `save_fasttext_bin` write.
        bpe_tokenizer: the piece tokenizer of a BPE model (kept by `save`).
        output_vectors: the model's output table (written into a `.bin`; zeros there without it).
        training: `architecture`, `loss`, `window`, `num_negatives`, `sample` of the model (the Args
            of a `.bin`).

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
        ngrams: tuple[int, int, int] | None = None,
        bpe_tokenizer=None,
        output_vectors=None,
        training: dict | None = None,
    ):
        super().__init__(words, vectors, counts)
        if ngrams is not None:
            ngrams = tuple(int(n) for n in ngrams)
            if subword_rows is None and subword_vectors is not None:
                minn, maxn, bucket = ngrams
                subword_rows = lambda ws: char_ngram_subwords(ws, minn, maxn, bucket, num_words=0)  # noqa: E731
        elif bpe_tokenizer is not None and subword_rows is None and subword_vectors is not None:
            subword_rows = lambda ws: bpe_subwords(ws, bpe_tokenizer, num_words=0)  # noqa: E731
        if (subword_vectors is None) != (subword_rows is None):
            raise ValueError("subword_vectors and subword_rows go together")
        if composition not in ("mean", "sum"):
            raise ValueError(f"composition must be 'mean' or 'sum', got {composition!r}")
        if subword_vectors is not None:
            subword_vectors = _numpy(subword_vectors)
            if subword_vectors.ndim != 2 or subword_vectors.shape[1] != self.vector_size:
                raise ValueError(f"subword_vectors must be [rows, {self.vector_size}], got {subword_vectors.shape}")
        self.subword_vectors = subword_vectors
        self.subword_rows = subword_rows
        self.composition = composition
        self.ngrams = ngrams
        self.bpe_tokenizer = bpe_tokenizer
        if output_vectors is not None:
            output_vectors = _numpy(output_vectors)
        self.output_vectors = output_vectors
        self.training = dict(training or {})

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
        output = model.output_embeddings.weight.detach().float().cpu().numpy()
        extra = {
            "composition": config.composition,
            # Negative sampling has one output row per word; hierarchical softmax's are tree nodes.
            "output_vectors": output[keep] if config.loss == "negative_sampling" else output,
            "training": {key: getattr(config, key) for key in _TRAINING_KEYS},
        }
        if config.subwords == "bpe":
            if bpe_tokenizer is None and folder is not None and (Path(folder) / BPE_FILE).is_file():
                from tokenizers import Tokenizer

                bpe_tokenizer = Tokenizer.from_file(os.fspath(Path(folder) / BPE_FILE))
            if bpe_tokenizer is None:
                return cls(words, matrix, counts, **extra)
            return cls(words, matrix, counts, subword_vectors=table, bpe_tokenizer=bpe_tokenizer, **extra)
        ngrams = (config.minn, config.maxn, config.bucket if config.maxn else 0)
        if not config.num_subword_rows:
            return cls(words, matrix, counts, ngrams=ngrams, **extra)
        return cls(words, matrix, counts, subword_vectors=table, ngrams=ngrams, **extra)

    @classmethod
    def load_fasttext_format(cls, path) -> "FastTextVectors":
        """Vectors from a fastText reference `.bin` model (gensim's `load_facebook_vectors`)."""
        model, words, counts = load_fasttext_model(path)
        return cls._from_parts(model, words, counts, list(range(len(words))))

    # ------------------------------------------------------------------ the reference's .bin

    def word_rows(self, chunk: int = 65536) -> np.ndarray:
        """The own row of every vocabulary word in a mean composition, recovered from its composed
        vector: `vector * (1 + n) - sum of its n n-gram rows` (a chunk of words at a time)."""
        if self.ngrams is None:
            raise ValueError("these vectors carry no n-gram settings (minn, maxn, bucket)")
        if self.subword_vectors is None:  # n-grams off: a word's vector is its own row
            return self._vectors.copy()
        table = torch.from_numpy(self.subword_vectors)
        rows = np.empty_like(self._vectors)
        for start in range(0, len(self), chunk):
            words = self.index_to_key[start : start + chunk]
            ids, offsets = self.subword_rows(words)
            sums = F.embedding_bag(
                torch.from_numpy(ids), table, torch.from_numpy(offsets[:-1]), mode="sum", padding_idx=None
            ).numpy()
            lengths = np.diff(offsets)[:, None]
            vectors = self._vectors[start : start + chunk].astype(np.float64)
            rows[start : start + chunk] = vectors * (1 + lengths) - sums
        return rows

    def save_fasttext_bin(self, path) -> None:
        """Write these vectors as a fastText reference `.bin` (version 12), which
        `fasttext.load_model(path)` and gensim's `load_facebook_model` / `load_facebook_vectors`
        read, giving the same vectors for vocabulary and unseen words. Only hashed character n-gram
        models with the mean composition have one (the reference's); without the model's output
        table (vectors read back from an older folder) the output matrix is written as zeros."""
        if self.bpe_tokenizer is not None or self.training.get("subwords") == "bpe":
            raise ValueError(
                "a fastText model with BPE subwords cannot be written as a fastText .bin: "
                "the reference composes words from hashed character n-grams only"
            )
        if self.ngrams is None:
            raise ValueError(
                "these vectors carry no subword table (read from a .vec or text file?), so they cannot be "
                "written as a fastText .bin"
            )
        if self.composition != "mean":
            raise ValueError(
                f"a model with composition={self.composition!r} cannot be written as a fastText .bin: "
                "the reference composes a word as the mean of its rows; train with composition='mean'"
            )
        minn, maxn, bucket = self.ngrams
        table = self.subword_vectors if self.subword_vectors is not None else np.zeros((0, self.vector_size))
        if len(table) != bucket:
            raise ValueError(f"the subword table has {len(table)} rows but bucket is {bucket}")
        training = {key: self.training[key] for key in _BIN_KEYS if key in self.training}
        write_fasttext_bin(
            path,
            self.index_to_key,
            self.counts if self.counts is not None else [1] * len(self),
            self.word_rows(),
            table,
            self.output_vectors,
            minn=minn,
            maxn=maxn,
            bucket=bucket,
            **training,
        )

    # ------------------------------------------------------------------ safetensors folder

    def save(self, path_dir) -> None:
        """`WordVectors.save` plus the subword table and output table (`subwords.safetensors`), the
        hashing settings (`vectors_config.json`) and a BPE model's `subword_tokenizer.json`, so that
        `FastTextVectors.load` answers unseen words again."""
        from safetensors.numpy import save_file

        super().save(path_dir)
        path_dir = Path(path_dir)
        tensors = {}
        if self.subword_vectors is not None:
            tensors["subword_vectors"] = np.ascontiguousarray(self.subword_vectors)
        if self.output_vectors is not None:
            tensors["output_vectors"] = np.ascontiguousarray(self.output_vectors)
        (path_dir / SUBWORDS_FILE).unlink(missing_ok=True)
        if tensors:
            save_file(tensors, os.fspath(path_dir / SUBWORDS_FILE))
        subwords = "bpe" if self.bpe_tokenizer is not None else ("char_ngrams" if self.ngrams is not None else None)
        settings = {"model_type": "fasttext", "composition": self.composition, "subwords": subwords}
        if self.ngrams is not None:
            settings.update(zip(("minn", "maxn", "bucket"), self.ngrams))
        settings["training"] = self.training
        if self.bpe_tokenizer is not None:
            self.bpe_tokenizer.save(os.fspath(path_dir / BPE_FILE))
        with open(path_dir / SETTINGS_FILE, "w", encoding="utf8") as fout:
            json.dump(settings, fout, indent=2)

    @classmethod
    def load(cls, path_dir) -> "FastTextVectors":
        """Read a folder written by `save` (a plain `WordVectors.save` folder gives vectors without a
        subword table)."""
        from safetensors.numpy import load_file

        path_dir = Path(path_dir)
        plain = super().load(path_dir)
        if not (path_dir / SETTINGS_FILE).is_file():
            return plain
        with open(path_dir / SETTINGS_FILE, encoding="utf8") as fin:
            settings = json.load(fin)
        if not isinstance(settings, dict) or settings.get("model_type") != "fasttext":
            raise ValueError(f"{path_dir / SETTINGS_FILE} is not the settings of fastText vectors")
        tensors = {}
        if (path_dir / SUBWORDS_FILE).is_file():
            check_safetensors(path_dir / SUBWORDS_FILE)
            tensors = load_file(os.fspath(path_dir / SUBWORDS_FILE))
        kwargs = {
            "composition": settings.get("composition", "mean"),
            "output_vectors": tensors.get("output_vectors"),
            "training": settings.get("training"),
            "subword_vectors": tensors.get("subword_vectors"),
        }
        if settings.get("subwords") == "char_ngrams":
            kwargs["ngrams"] = (settings["minn"], settings["maxn"], settings["bucket"])
        elif settings.get("subwords") == "bpe":
            from tokenizers import Tokenizer

            if not (path_dir / BPE_FILE).is_file():
                raise FileNotFoundError(f"{path_dir / BPE_FILE} not found: a BPE model needs its piece tokenizer")
            kwargs["bpe_tokenizer"] = Tokenizer.from_file(os.fspath(path_dir / BPE_FILE))
        if kwargs["subword_vectors"] is not None and "ngrams" not in kwargs and "bpe_tokenizer" not in kwargs:
            raise ValueError(f"{path_dir / SETTINGS_FILE} names no subword scheme for its subword table")
        return cls(plain.index_to_key, plain.vectors, plain.counts, **kwargs)


def _numpy(array) -> np.ndarray:
    array = array.detach().cpu().numpy() if hasattr(array, "detach") else array
    return np.asarray(array, dtype=np.float32)


def fasttext_bin_to_hub(path, folder) -> Path:
    """Turn a fastText reference `.bin` into a Hub folder (`config.json`, `model.safetensors`,
    `tokenizer.json`, `word_counts.json`) that `WordVectors.from_pretrained(folder)` reads as
    `FastTextVectors`, answering unseen words from its n-grams; one line:

        WordVectors.from_pretrained(fasttext_bin_to_hub("cc.en.300.bin", "cc-en-300"))

    The reference has no unknown token: its end-of-line word `</s>` (or, without one, its first
    word) is named the tokenizer's unknown token, kept as a word (`unk_policy="keep"`)."""
    from ..core.vocab import Vocabulary

    model, words, counts = load_fasttext_model(path)
    unk = "</s>" if "</s>" in words else words[0]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    Vocabulary.from_words(words, counts, unk_token=unk, unk_policy="keep").save(folder)
    return folder


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
