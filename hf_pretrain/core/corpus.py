"""Load a pretraining corpus as a ``datasets.DatasetDict`` with a single ``text`` column.

``load_corpus`` accepts

* a known corpus name (see ``KNOWN_CORPORA``): ``"wikitext-2"``, ``"wikitext-2-raw"``, ``"ptb"``;
* a local text file, a list of local files, or a directory of text files;
* a local ``.csv`` / ``.json`` / ``.jsonl`` / ``.parquet`` file (pick the column with ``text_column``);
* a Hugging Face Hub dataset id (``"owner/name"``), with a configuration name (``config_name``);
* a folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``;
* a ``datasets.Dataset``, ``DatasetDict``, ``IterableDataset`` or ``IterableDatasetDict`` (Python API).

Plain-text sources give one row per line, in file order, blank lines included, with the line
ending removed (``"\\n"``, ``"\\r\\n"`` and ``"\\r"`` all end a line, as in the ``datasets`` text
builder). A UTF-8 byte order mark at the start of a file is not text and is dropped.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import itertools
import logging
import lzma
import os
import re
import stat
import zlib
from pathlib import Path
from typing import IO, Iterator, Mapping, Sequence, Union

import datasets
from datasets.fingerprint import Hasher

__all__ = ["CorpusError", "KNOWN_CORPORA", "corpus_name", "load_corpus"]

logger = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
DatasetObject = Union[datasets.Dataset, datasets.DatasetDict, datasets.IterableDataset, datasets.IterableDatasetDict]
_DATASET_OBJECTS = (datasets.Dataset, datasets.DatasetDict, datasets.IterableDataset, datasets.IterableDatasetDict)

KNOWN_CORPORA: Mapping[str, str] = {
    "wikitext-2": (
        "WikiText-2 v1, tokenized with <unk> (Merity et al., 2016); packaged copy, "
        "identical to Hub Salesforce/wikitext config wikitext-2-v1"
    ),
    "wikitext-2-raw": "WikiText-2 raw (no <unk>); Hub Salesforce/wikitext config wikitext-2-raw-v1",
    "ptb": (
        "Penn Treebank, Mikolov's language-modelling version; Hub ptb-text-only/ptb_text_only, "
        "or a local directory with ptb.{train,valid,test}.txt (see HF_PRETRAIN_PTB_DIR)"
    ),
}

PTB_DIR_ENV = "HF_PRETRAIN_PTB_DIR"
OFFLINE_ENV_VARS = ("HF_PRETRAIN_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")

_PACKAGED_WIKITEXT2 = Path(__file__).resolve().parents[1] / "data" / "wikitext-2-v1"
_PACKAGED_SPLITS = ("train", "validation", "test")
_WIKITEXT_HUB_ID = "Salesforce/wikitext"
_PTB_HUB_ID = "ptb-text-only/ptb_text_only"
_PTB_FILES = {"train": "ptb.train.txt", "validation": "ptb.valid.txt", "test": "ptb.test.txt"}

# 1 MiB keeps the UTF-8 check's memory flat even for a file that is one huge line.
_CHUNK_SIZE = 1 << 20
# UTF-8 that drops a byte order mark at the start of a file (Windows editors write one); a
# U+FEFF anywhere else stays text.
_ENCODING = "utf-8-sig"
_BOM = "\ufeff"
# What gzip, lzma and bz2 raise for a cut or corrupted stream (bz2's is a plain OSError).
_DAMAGED_ERRORS = (EOFError, OSError, zlib.error, lzma.LZMAError)

_TRUE_VALUES = {"1", "ON", "YES", "TRUE"}
_TEXT_SUFFIXES = {".txt", ".tokens", ".raw"}
_COMPRESSION_SUFFIXES = {".gz", ".xz", ".lzma", ".bz2"}
_TABULAR_BUILDERS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
_PATH_LIKE_SUFFIXES = _TEXT_SUFFIXES | _COMPRESSION_SUFFIXES | set(_TABULAR_BUILDERS)
# Attribution and licence files often sit next to the data; they are not corpus text.
_NON_CORPUS_STEMS = ("readme", "license", "licence", "copying", "notice", "citation")
# A keyword counts only when not glued to other letters, so "latest.txt" or
# "devices.txt" are not taken for split files.
_SPLIT_PATTERNS = {
    "train": re.compile(r"(?<![a-z])train(?:ing)?(?![a-z])"),
    "validation": re.compile(r"(?<![a-z])(?:valid(?:ation)?|val|dev)(?![a-z])"),
    "test": re.compile(r"(?<![a-z])test(?:ing)?(?![a-z])"),
}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_TEXT_FEATURES = datasets.Features({"text": datasets.Value("string")})

_WIKITEXT_INFO = dict(
    description=(
        "WikiText-2 (v1, tokenized, rare words replaced by <unk>) from verified Good and "
        "Featured articles of English Wikipedia."
    ),
    citation=(
        "@article{merity2016pointer,\n"
        "  title={Pointer Sentinel Mixture Models},\n"
        "  author={Merity, Stephen and Xiong, Caiming and Bradbury, James and Socher, Richard},\n"
        "  journal={arXiv preprint arXiv:1609.07843},\n"
        "  year={2016}\n"
        "}"
    ),
    homepage="https://huggingface.co/datasets/Salesforce/wikitext",
    license="CC BY-SA 3.0 (https://creativecommons.org/licenses/by-sa/3.0/)",
)


class CorpusError(ValueError):
    """A corpus could not be found, read or used."""


Corpus = Union[datasets.DatasetDict, datasets.IterableDatasetDict, datasets.Dataset, datasets.IterableDataset]


def load_corpus(
    name_or_path: Union[PathLike, Sequence[PathLike], DatasetObject],
    streaming: bool = False,
    text_column: str | None = None,
    split: str | None = None,
    *,
    prefer_hub: bool = False,
    cache_dir: PathLike | None = None,
    config_name: str | None = None,
) -> Corpus:
    """Load a corpus with one ``text`` column.

    Args:
        name_or_path: a name from ``KNOWN_CORPORA``, a local file, a list of local files, a
            directory, or a Hub dataset id ``"owner/name"``. A ``str`` equal to a known name
            means that corpus even if a file of that name exists; pass ``"./ptb"`` or a
            ``Path`` for the local one. Also a folder written by ``save_to_disk`` (it holds
            ``dataset_dict.json``, or ``dataset_info.json`` and ``state.json``), read with
            ``datasets.load_from_disk``, or a ``datasets`` object: a ``Dataset`` / ``IterableDataset``
            is the train split, a ``DatasetDict`` / ``IterableDatasetDict`` keeps its splits.
        streaming: return an ``IterableDatasetDict`` that reads lazily.
        text_column: column holding the text, for Hub and csv/json/parquet sources. Defaults
            to ``"text"``, or to the only string column. Ignored for plain-text sources.
        split: return only this split (a ``Dataset`` / ``IterableDataset``).
        prefer_hub: for ``"wikitext-2"``, try the Hub first and fall back to the packaged copy
            on any error. The packaged copy is used by default because it is identical.
        cache_dir: ``datasets`` cache directory for sources that go through ``load_dataset``.
        config_name: the dataset's configuration (subset), passed to ``datasets.load_dataset(id,
            config_name)``: for a Hub id, or a local dataset repository folder (data files with a
            README.md declaring ``configs``). Any other source with a configuration is a CorpusError.

    With ``streaming``, an in-memory or saved ``Dataset`` is read through ``to_iterable_dataset()``;
    without it, an ``IterableDataset`` is read into memory.

    Directories are not searched recursively. Their text files (suffix ``.txt``, ``.tokens`` or
    ``.raw``, optionally ``.gz``/``.xz``/``.bz2``; README/LICENSE files are skipped) are split by
    name: when every name contains ``train``, ``valid``/``validation``/``val``/``dev`` or
    ``test``, each file goes to that split; when no name does, every file goes to ``train``; a
    directory that mixes the two is a CorpusError naming the files that fit no split, so no file
    is ever left out unnoticed.

    A named pipe (``<(zcat corpus.gz)``, ``mkfifo``) can be read only once: it is read into
    memory when loading, also with ``streaming``.

    Raises:
        CorpusError: unknown name, missing path, file that is not UTF-8 (naming the byte
            offset of the first bad byte), truncated or damaged compressed file, empty or
            whitespace-only corpus, directory mixing split-named and other files, unusable
            column, or a Hub source that is unreachable or offline.
    """
    cache_dir = os.fspath(cache_dir) if cache_dir is not None else None
    if isinstance(name_or_path, _DATASET_OBJECTS):
        if config_name is not None:
            raise CorpusError("config_name applies to a Hub dataset id, not to a datasets object")
        source = _object_source(name_or_path)
        corpus = _from_dataset_object(name_or_path, streaming, text_column, source)
        return _finish(corpus, split, streaming, source=source)
    if config_name is not None and not isinstance(name_or_path, (str, os.PathLike)):
        raise CorpusError(f"config_name={config_name!r} applies to a Hub dataset id, not to a list of files")
    if isinstance(name_or_path, (list, tuple)):
        if not name_or_path:
            raise CorpusError("empty list of corpus files")
        files = [_existing_path(p) for p in name_or_path]
        for f in files:
            if f.is_dir():
                raise CorpusError(f"expected files in the list, got a directory: {f}")
        corpus = _load_local_files({"train": files}, streaming, text_column, split, cache_dir)
        return _finish(corpus, split, streaming, source=", ".join(map(str, files)))

    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(
            f"name_or_path must be a str, a path, a list of them or a datasets object, got {type(name_or_path)!r}"
        )

    if isinstance(name_or_path, str) and name_or_path in KNOWN_CORPORA:
        if config_name is not None:
            raise CorpusError(
                f"config_name={config_name!r} does not apply to the known corpus {name_or_path!r}; "
                "pass its Hub id with the configuration instead"
            )
        loaders = {"wikitext-2": _load_wikitext2, "wikitext-2-raw": _load_wikitext2_raw, "ptb": _load_ptb}
        corpus = loaders[name_or_path](streaming, split, prefer_hub=prefer_hub, cache_dir=cache_dir)
        return _finish(corpus, split, streaming, source=name_or_path)

    raw = os.fspath(name_or_path)
    path = Path(raw).expanduser()
    if path.exists():
        path = _resolve(path)
        if path.is_dir() and is_saved_dataset(path):
            if config_name is not None:
                raise CorpusError(f"config_name={config_name!r} does not apply to a save_to_disk folder ({path})")
            corpus = _load_saved(path, streaming, text_column)
            return _finish(corpus, split, streaming, source=str(path))
        if config_name is not None:
            if not path.is_dir():
                raise CorpusError(f"config_name={config_name!r} does not apply to a single file ({path})")
            corpus = _load_repository_folder(path, config_name, streaming, text_column, cache_dir)
            return _finish(corpus, split, streaming, source=f"{path} ({config_name})")
        files = _directory_splits(path) if path.is_dir() else {"train": [path]}
        corpus = _load_local_files(files, streaming, text_column, split, cache_dir)
        return _finish(corpus, split, streaming, source=str(path))

    if isinstance(name_or_path, str) and _looks_like_hub_id(raw):
        corpus = _load_hub(raw, streaming, text_column, cache_dir, config_name)
        source = raw if config_name is None else f"{raw} ({config_name})"
        return _finish(corpus, split, streaming, source=source)

    if _looks_like_path(raw) or not isinstance(name_or_path, str):
        raise CorpusError(f"corpus path does not exist: {path.absolute()}")
    raise CorpusError(
        f"unknown corpus {raw!r}; known corpora: {', '.join(KNOWN_CORPORA)}. "
        "Otherwise pass an existing local file or directory, or a Hub dataset id 'owner/name'."
    )


# --------------------------------------------------------------------------- known corpora


def _load_wikitext2(streaming, split, *, prefer_hub, cache_dir):
    if prefer_hub:
        if _offline_var():
            logger.info("offline mode is on; using the packaged WikiText-2 copy")
        else:
            try:
                return _load_hub_wikitext("wikitext-2-v1", streaming, cache_dir)
            except Exception as e:  # any Hub failure: the packaged copy has the same lines
                logger.warning("loading WikiText-2 from the Hub failed (%s); using the packaged copy", e)
    return _load_packaged_wikitext2(streaming, split)


def _load_wikitext2_raw(streaming, split, *, prefer_hub, cache_dir):
    hint = (
        "wikitext-2-raw is not packaged with hf_pretrain (only the tokenized 'wikitext-2' is); "
        "pass a local path instead, e.g. a directory with wiki.train.raw, wiki.valid.raw and "
        "wiki.test.raw"
    )
    var = _offline_var()
    if var:
        raise CorpusError(f"{hint}. Offline mode is on ({var}), so the Hub cannot be used.")
    try:
        return _load_hub_wikitext("wikitext-2-raw-v1", streaming, cache_dir)
    except Exception as e:
        raise CorpusError(f"could not load {_WIKITEXT_HUB_ID} (wikitext-2-raw-v1) from the Hub: {e}. {hint}.") from e


def _load_ptb(streaming, split, *, prefer_hub, cache_dir):
    hint = (
        f"pass a directory containing {', '.join(_PTB_FILES.values())} as name_or_path, "
        f"or set {PTB_DIR_ENV} to such a directory"
    )
    local = os.environ.get(PTB_DIR_ENV)
    if local:
        directory = Path(local).expanduser()
        missing = [n for n in _PTB_FILES.values() if not (directory / n).is_file()]
        if missing:
            raise CorpusError(f"{PTB_DIR_ENV}={local} lacks {', '.join(missing)}; {hint}")
        files = {s: [(directory / n).resolve()] for s, n in _PTB_FILES.items()}
        return _load_local_files(files, streaming, None, split, cache_dir)
    var = _offline_var()
    if var:
        raise CorpusError(f"PTB is not packaged and offline mode is on ({var}); {hint}")
    try:
        corpus = datasets.load_dataset(
            _PTB_HUB_ID, revision="refs/convert/parquet", streaming=streaming, cache_dir=cache_dir
        )
    except Exception as e:
        raise CorpusError(f"could not load {_PTB_HUB_ID} from the Hub: {e}; {hint}") from e
    return _select_text_column(corpus, "sentence", _PTB_HUB_ID)


def _load_hub_wikitext(config: str, streaming, cache_dir):
    corpus = datasets.load_dataset(_WIKITEXT_HUB_ID, config, streaming=streaming, cache_dir=cache_dir)
    corpus = _select_text_column(corpus, "text", _WIKITEXT_HUB_ID)
    # Hub rows keep each line's "\n" (blank lines are ""); drop it to match every other source.
    return corpus.map(_strip_line_endings, batched=True)


def _strip_line_endings(batch):
    return {"text": [t[:-1] if t.endswith("\n") else t for t in batch["text"]]}


def _load_packaged_wikitext2(streaming, split):
    splits = [split] if split in _PACKAGED_SPLITS else list(_PACKAGED_SPLITS)
    paths = {s: _PACKAGED_WIKITEXT2 / f"{s}.txt.xz" for s in splits}
    for p in paths.values():
        if not p.is_file():
            raise CorpusError(f"packaged WikiText-2 file is missing: {p} (broken installation?)")
    if streaming:
        return datasets.IterableDatasetDict(
            {
                s: datasets.IterableDataset.from_generator(
                    _generate_lines, features=_TEXT_FEATURES, gen_kwargs={"paths": [str(p)]}
                )
                for s, p in paths.items()
            }
        )
    info = datasets.DatasetInfo(features=_TEXT_FEATURES, **_WIKITEXT_INFO)
    out = {}
    for s, p in paths.items():
        with lzma.open(p) as f:
            text = f.read().decode("utf-8")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the file ends with a newline, which does not start another line
        out[s] = datasets.Dataset.from_dict({"text": lines}, info=info.copy(), split=s)
    return datasets.DatasetDict(out)


# ----------------------------------------------------------------------------------- Hub


def _load_hub(repo_id: str, streaming, text_column, cache_dir, config_name=None):
    var = _offline_var()
    # datasets decides offline mode when it is imported; only then is a cache-only load
    # guaranteed not to touch the network, so otherwise refuse up front.
    if var and not _datasets_offline():
        raise CorpusError(
            f"{repo_id!r} is not a local path, so it was taken as a Hub dataset id, but offline "
            f"mode is on ({var}); download it while online, or pass a local path"
        )
    config = () if config_name is None else (config_name,)
    try:
        corpus = datasets.load_dataset(repo_id, *config, streaming=streaming, cache_dir=cache_dir)
    except Exception as e:
        where = " (offline mode: only the local datasets cache was searched)" if var else ""
        which = "" if config_name is None else f" with configuration {config_name!r}"
        raise CorpusError(
            f"{repo_id!r} is not a local path, so it was taken as a Hub dataset id, "
            f"but could not be loaded from the Hub{which}{where}: {e}"
        ) from e
    return _select_text_column(corpus, text_column, repo_id)


# ------------------------------------------------------------------- datasets objects


def corpus_name(dataset) -> str:
    """How messages, cards and run records name a corpus: a name or path as given, a list of files
    joined, a ``datasets`` object by its builder and configuration when it has them."""
    if isinstance(dataset, _DATASET_OBJECTS):
        return _object_source(dataset)
    if isinstance(dataset, (list, tuple)):
        return ", ".join(os.fspath(p) for p in dataset)
    return os.fspath(dataset)


def _object_source(obj) -> str:
    """A name for a datasets object in messages: its builder and configuration, when it has them."""
    first = next(iter(obj.values()), None) if isinstance(obj, dict) else obj
    info = getattr(first, "info", None)
    name = getattr(info, "dataset_name", None) or getattr(info, "builder_name", None)
    config = getattr(info, "config_name", None)
    kind = type(obj).__name__
    if not name:
        return f"the {kind} given"
    return f"the {kind} {name}" + (f" ({config})" if config and config != "default" else "")


def _from_dataset_object(obj, streaming, text_column, source):
    if isinstance(obj, (datasets.IterableDataset, datasets.IterableDatasetDict)):
        obj = _with_features(obj)
    corpus = _select_text_column(obj, text_column, source)
    if streaming:
        if isinstance(corpus, datasets.DatasetDict):
            return datasets.IterableDatasetDict({s: ds.to_iterable_dataset() for s, ds in corpus.items()})
        return corpus
    if isinstance(corpus, datasets.IterableDatasetDict):
        # Without streaming the corpus is wanted in memory: read each stream once.
        return datasets.DatasetDict(
            {
                s: datasets.Dataset.from_dict(
                    {"text": [row["text"] for row in ds]}, features=_TEXT_FEATURES, split=_split_name(s)
                )
                for s, ds in corpus.items()
            }
        )
    return corpus


def _split_name(split: str):
    try:
        return datasets.NamedSplit(split)
    except Exception:
        return None


def _with_features(obj):
    """A stream whose schema is unknown until read (``features`` is None) gets the one its first rows
    show, so that the text column is chosen as for any other source."""
    streams = obj if isinstance(obj, datasets.IterableDatasetDict) else {"train": obj}
    resolved = {}
    for s, ds in streams.items():
        if ds.features is None and hasattr(ds, "_resolve_features"):
            ds = ds._resolve_features()
        resolved[s] = ds
    return (
        datasets.IterableDatasetDict(resolved) if isinstance(obj, datasets.IterableDatasetDict) else resolved["train"]
    )


def is_saved_dataset(path: Path) -> bool:
    """Whether `path` is a folder written by ``save_to_disk`` (a DatasetDict or a Dataset)."""
    return (path / datasets.config.DATASETDICT_JSON_FILENAME).is_file() or (
        (path / datasets.config.DATASET_INFO_FILENAME).is_file()
        and (path / datasets.config.DATASET_STATE_JSON_FILENAME).is_file()
    )


def _load_saved(path: Path, streaming, text_column):
    try:
        saved = datasets.load_from_disk(str(path))
    except Exception as e:
        raise CorpusError(f"could not read the save_to_disk folder {path}: {e}") from e
    return _from_dataset_object(saved, streaming, text_column, str(path))


def _load_repository_folder(path: Path, config_name: str, streaming, text_column, cache_dir):
    try:
        corpus = datasets.load_dataset(str(path), config_name, streaming=streaming, cache_dir=cache_dir)
    except Exception as e:
        raise CorpusError(f"could not load configuration {config_name!r} of the dataset folder {path}: {e}") from e
    return _select_text_column(corpus, text_column, f"{path} ({config_name})")


def _select_text_column(corpus, text_column, source):
    if isinstance(corpus, (datasets.Dataset, datasets.IterableDataset)):
        corpus = (datasets.DatasetDict if isinstance(corpus, datasets.Dataset) else datasets.IterableDatasetDict)(
            {"train": corpus}
        )
    if not corpus:
        raise CorpusError(f"{source} has no splits")
    first = next(iter(corpus.values()))
    features = first.features
    if features is None:  # streaming source whose schema is only known once read
        column = text_column or "text"
    else:
        columns = list(features)
        if text_column is not None:
            if text_column not in features:
                raise CorpusError(f"{source} has no column {text_column!r}; columns: {columns}")
            column = text_column
        elif "text" in features:
            column = "text"
        else:
            strings = [c for c, f in features.items() if _is_string(f)]
            if len(strings) != 1:
                raise CorpusError(
                    f"{source} has no 'text' column and {len(strings)} string columns; "
                    f"pass text_column= one of {columns}"
                )
            column = strings[0]
        if not _is_string(features[column]):
            raise CorpusError(f"column {column!r} of {source} is {features[column]}, not a string column")
    corpus = corpus.select_columns([column])
    if column != "text":
        corpus = corpus.rename_column(column, "text")
    return corpus


def _is_string(feature) -> bool:
    return isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string")


# -------------------------------------------------------------------------------- local


def _existing_path(p) -> Path:
    path = Path(os.fspath(p)).expanduser()
    if not path.exists():
        raise CorpusError(f"corpus path does not exist: {path.absolute()}")
    return _resolve(path)


def _resolve(path: Path) -> Path:
    # A pipe from process substitution (/dev/fd/63) resolves to a name like "pipe:[1234]" that
    # cannot be opened; its own name can.
    return path if _is_pipe(path) else path.resolve()


def _is_pipe(path: Path) -> bool:
    try:
        return stat.S_ISFIFO(path.stat().st_mode)
    except OSError:
        return False


def _directory_splits(directory: Path) -> dict[str, list[Path]]:
    candidates = sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and _is_text_name(p.name) and not p.name.lower().startswith(_NON_CORPUS_STEMS)
    )
    if not candidates:
        raise CorpusError(f"no text files ({', '.join(sorted(_TEXT_SUFFIXES))}) in directory {directory}")
    splits: dict[str, list[Path]] = {}
    unsplit = []
    for p in candidates:
        name = p.name.lower()
        hits = [s for s, pattern in _SPLIT_PATTERNS.items() if pattern.search(name)]
        if len(hits) > 1:
            raise CorpusError(f"cannot tell the split of {p}: its name matches {', '.join(hits)}")
        if hits:
            splits.setdefault(hits[0], []).append(p)
        else:
            unsplit.append(p)
    if not splits:
        return {"train": candidates}
    if unsplit:
        raise CorpusError(
            f"{directory} mixes files named by split with files that fit no split "
            f"({', '.join(p.name for p in unsplit)}): name every text file by its split (train, "
            "valid/validation/val/dev, test) or none of them (then all are train), or move the others out"
        )
    return {s: splits[s] for s in _PACKAGED_SPLITS if s in splits}


def _is_text_name(name: str) -> bool:
    suffixes = [s.lower() for s in Path(name).suffixes]
    if suffixes and suffixes[-1] in _COMPRESSION_SUFFIXES:
        suffixes.pop()
    return bool(suffixes) and suffixes[-1] in _TEXT_SUFFIXES


def _tabular_builder(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSION_SUFFIXES:
        suffixes.pop()
    return _TABULAR_BUILDERS.get(suffixes[-1]) if suffixes else None


def _load_local_files(files: dict[str, list[Path]], streaming, text_column, split, cache_dir):
    if split is not None and split in files:
        files = {split: files[split]}
    builders = {_tabular_builder(p) for paths in files.values() for p in paths}
    if len(builders) > 1:
        raise CorpusError("cannot mix plain-text and tabular (csv/json/parquet) files in one corpus")
    builder = builders.pop()
    pipes = [p for paths in files.values() for p in paths if _is_pipe(p)]
    if pipes and builder is not None:
        raise CorpusError(f"{pipes[0]} is a named pipe; {builder} files are read only from regular files")
    if builder is not None:
        return _load_local_tabular(builder, files, streaming, text_column, cache_dir)
    if pipes:
        return _load_in_memory(files, streaming)

    data_files = {s: [str(p) for p in paths] for s, paths in files.items()}
    if streaming:
        # Files are checked as they are read, so nothing is scanned twice up front.
        return datasets.IterableDatasetDict(
            {
                s: datasets.IterableDataset.from_generator(
                    _generate_lines, features=_TEXT_FEATURES, gen_kwargs={"paths": paths}
                )
                for s, paths in data_files.items()
            }
        )

    has_text = {}
    for paths in files.values():
        for p in paths:
            has_text[p] = _check_utf8(p)
    check = files.get("train") or [p for paths in files.values() for p in paths]
    if not any(has_text[p] for p in check):
        raise CorpusError(f"corpus is empty (or whitespace only): {', '.join(map(str, check))}")
    # The datasets text builder fails on a split made only of empty files; such files
    # contribute no lines anyway.
    nonempty = {s: [str(p) for p in paths if not _is_empty_file(p)] for s, paths in files.items()}
    # The datasets text builder opens a compressed file without the encoding it is given, so it
    # would keep a byte order mark there: such splits are read by this module's line reader.
    marked = {s for s, paths in nonempty.items() if any(_compression(Path(p)) and _starts_with_bom(p) for p in paths)}
    by_builder = {s: ps for s, ps in nonempty.items() if ps and s not in marked}
    loaded = (
        datasets.load_dataset("text", data_files=by_builder, encoding=_ENCODING, cache_dir=cache_dir)
        if by_builder
        else {}
    )
    out = {}
    for s in files:
        if s in marked:
            out[s] = _generated_split(nonempty[s], s, cache_dir)
        elif nonempty[s]:
            out[s] = loaded[s]
        else:
            out[s] = datasets.Dataset.from_dict({"text": []}, features=_TEXT_FEATURES, split=s)
    return datasets.DatasetDict(out)


def _starts_with_bom(path) -> bool:
    with _open_binary(path) as f:
        return f.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8


def _generated_split(paths: list[str], split: str, cache_dir) -> datasets.Dataset:
    # Keyed by each file's size and modification time, so an edited file is read again.
    identity = [(p, os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in paths]
    return datasets.Dataset.from_generator(
        _generate_lines,
        features=_TEXT_FEATURES,
        gen_kwargs={"paths": paths},
        cache_dir=cache_dir,
        split=split,
        fingerprint=Hasher.hash(identity),
    )


def _load_in_memory(files: dict[str, list[Path]], streaming):
    """The lines of every file, read once into memory: a named pipe can be read only once, and
    the datasets builders read only regular files."""
    lines = {s: [line for p in paths for line in _read_lines_once(p)] for s, paths in files.items()}
    check = lines["train"] if "train" in lines else [t for ls in lines.values() for t in ls]
    if not any(t.strip() for t in check):
        names = files.get("train") or [p for paths in files.values() for p in paths]
        raise CorpusError(f"corpus is empty (or whitespace only): {', '.join(map(str, names))}")
    corpus = datasets.DatasetDict(
        {s: datasets.Dataset.from_dict({"text": ls}, features=_TEXT_FEATURES, split=s) for s, ls in lines.items()}
    )
    if streaming:
        return datasets.IterableDatasetDict({s: ds.to_iterable_dataset() for s, ds in corpus.items()})
    return corpus


def _read_lines_once(path: Path) -> list[str]:
    with _open_binary(path) as f:
        data = b"".join(_read_chunks(f, path))
    _scan_utf8(io.BytesIO(data), path)
    return [row["text"] for row in _lines(io.BytesIO(data), path)]


def _load_local_tabular(builder, files, streaming, text_column, cache_dir):
    if not streaming and builder != "parquet":
        for paths in files.values():
            for p in paths:
                _check_utf8(p)
    data_files = {s: [str(p) for p in paths] for s, paths in files.items()}
    try:
        corpus = datasets.load_dataset(builder, data_files=data_files, streaming=streaming, cache_dir=cache_dir)
    except Exception as e:
        raise CorpusError(f"could not read {builder} files {data_files}: {e}") from e
    return _select_text_column(corpus, text_column, ", ".join(p for ps in data_files.values() for p in ps))


def _is_empty_file(path: Path) -> bool:
    if path.stat().st_size == 0:
        return True
    if _compression(path) is None:
        return False
    with _open_binary(path) as f:
        return not f.read(1)


def _compression(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return suffix if suffix in _COMPRESSION_SUFFIXES else None


def _open_binary(path) -> IO[bytes]:
    path = Path(path)
    opener = {".gz": gzip.open, ".xz": lzma.open, ".lzma": lzma.open, ".bz2": bz2.open}.get(
        _compression(path) or "", open
    )
    return opener(path, "rb")


def _check_utf8(path: Path) -> bool:
    """Raise CorpusError if ``path`` is not UTF-8; return whether it has non-whitespace text."""
    with _open_binary(path) as f:
        return _scan_utf8(f, path)


def _scan_utf8(f: IO[bytes], path: Path) -> bool:
    has_text = False
    at_start = True  # whether the first character, maybe a byte order mark, is still to come
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0  # bytes handed to the decoder so far
    # The empty chunk at the end flushes the decoder, which reports a character cut at the end.
    for chunk in itertools.chain(_read_chunks(f, path), [b""]):
        final = not chunk
        # A multi-byte character cut by the chunk boundary waits in the decoder, and the
        # error position counts from the start of those waiting bytes.
        pending = len(decoder.getstate()[0])
        try:
            text = decoder.decode(chunk, final=final)
        except UnicodeDecodeError as e:
            raise _utf8_error(path, offset - pending + e.start, e) from None
        if at_start and text:
            text, at_start = text.removeprefix(_BOM), False
        if not has_text and text.strip():
            has_text = True
        offset += len(chunk)
    return has_text


def _read_chunks(f: IO[bytes], path) -> Iterator[bytes]:
    """The bytes of ``f`` in chunks; a cut or corrupted compressed file is a CorpusError naming it."""
    while True:
        try:
            chunk = f.read(_CHUNK_SIZE)
        except _DAMAGED_ERRORS as e:
            _raise_if_damaged(path, e)
            raise
        if not chunk:
            return
        yield chunk


def _raise_if_damaged(path, err: Exception) -> None:
    """Raise CorpusError for one of ``_DAMAGED_ERRORS`` when it comes from decompressing ``path``;
    from a plain file it is an ordinary I/O error, left as it is."""
    if _compression(Path(path)) is not None:
        raise CorpusError(f"{path} is truncated or damaged ({err}); compress it again or download it again") from err


def _utf8_error(path: Path, offset: int, err: UnicodeDecodeError) -> CorpusError:
    where = " of the decompressed text" if _compression(Path(path)) else ""
    bad = err.object[err.start : err.start + 1]
    return CorpusError(
        f"{path} is not valid UTF-8: byte 0x{bad.hex() or '??'} at byte offset {offset}{where} "
        f"({err.reason}); re-encode the file as UTF-8"
    )


def _first_utf8_error(path: Path) -> CorpusError | None:
    try:
        _check_utf8(path)
    except CorpusError as e:
        return e
    return None


def _generate_lines(paths: list[str]) -> Iterator[dict]:
    for path in paths:
        with _open_binary(path) as raw:
            yield from _lines(raw, path)


def _lines(raw: IO[bytes], path) -> Iterator[dict]:
    # newline=None gives the same line splitting as the datasets text builder.
    with io.TextIOWrapper(raw, encoding=_ENCODING, newline=None) as f:
        try:
            for line in f:
                yield {"text": line[:-1] if line.endswith("\n") else line}
        except UnicodeDecodeError as e:
            error = _first_utf8_error(Path(path))
            if error is None:
                raise
            raise error from e
        except _DAMAGED_ERRORS as e:
            _raise_if_damaged(path, e)
            raise


# ------------------------------------------------------------------------------ helpers


def _finish(corpus, split, streaming, source):
    if isinstance(corpus, (datasets.Dataset, datasets.IterableDataset)):
        corpus = (datasets.DatasetDict if isinstance(corpus, datasets.Dataset) else datasets.IterableDatasetDict)(
            {"train": corpus}
        )
    if not streaming:
        check = [corpus["train"]] if "train" in corpus else list(corpus.values())
        if not any(_has_text(ds) for ds in check):
            raise CorpusError(f"corpus is empty (or whitespace only): {source}")
    if split is None:
        return corpus
    if split not in corpus:
        raise CorpusError(f"{source} has no split {split!r}; splits: {list(corpus)}")
    return corpus[split]


def _has_text(ds: datasets.Dataset) -> bool:
    # Stops at the first non-blank row, which in practice is among the first few.
    for batch in ds.iter(batch_size=1024):
        if any(t is not None and t.strip() for t in batch["text"]):
            return True
    return False


def _offline_var() -> str | None:
    """Name of the setting that puts us offline, or None when online."""
    for var in OFFLINE_ENV_VARS:
        if os.environ.get(var, "").strip().upper() in _TRUE_VALUES:
            return var
    if _datasets_offline():
        return "HF_HUB_OFFLINE"
    return None


def _datasets_offline() -> bool:
    return bool(getattr(datasets.config, "HF_HUB_OFFLINE", False))


def _looks_like_hub_id(s: str) -> bool:
    if not _HUB_ID.match(s) or ".." in s:
        return False
    return Path(s).suffix.lower() not in _PATH_LIKE_SUFFIXES


def _looks_like_path(s: str) -> bool:
    seps = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return (
        any(sep in s for sep in seps)
        or s.startswith(("~", "."))
        or any(s.lower().endswith(suffix) for suffix in _PATH_LIKE_SUFFIXES)
    )
