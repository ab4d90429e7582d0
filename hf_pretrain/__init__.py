"""hf-pretrain: pretrain word2vec, GloVe, fastText and BERT in the Hugging Face ecosystem.

Importing the package is cheap: the public names below are imported on first use, and every model
family is registered with `AutoConfig` / `AutoModel` (and BERT with its task-head Auto classes) as
soon as transformers' auto modules are imported, before or after this package.
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys
import threading
import warnings
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Public name -> the submodule defining it. Importing them all would import torch, transformers,
# datasets and matplotlib: seconds, for a user who may only want to query saved vectors.
_EXPORTS = {
    "CorpusError": ".core.corpus",
    "load_corpus": ".core.corpus",
    "export_projector": ".core.visualization",
    "plot_embeddings": ".core.visualization",
    "EncodedCorpus": ".core.vocab",
    "Vocabulary": ".core.vocab",
    "VocabularyError": ".core.vocab",
    "FastTextConfig": ".fasttext",
    "FastTextModel": ".fasttext",
    "FastTextVectors": ".fasttext.vectors",
    "GloVeConfig": ".glove",
    "GloVeModel": ".glove",
    "glove_model_from_text": ".glove.conversion",
    "HfpBertConfig": ".bert",
    "HfpBertForPreTraining": ".bert",
    "HfpBertModel": ".bert",
    "WordVectors": ".vectors",
    "Word2VecConfig": ".word2vec",
    "Word2VecModel": ".word2vec",
}
# Subpackages that eager importing used to leave as attributes (`hf_pretrain.bert.HfpBertModel`).
_SUBPACKAGES = ("bert", "core", "fasttext", "glove", "vectors", "word2vec")

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

if TYPE_CHECKING:  # what the lazy names are, for type checkers and editors
    from .bert import HfpBertConfig, HfpBertForPreTraining, HfpBertModel
    from .core.corpus import CorpusError, load_corpus
    from .core.visualization import export_projector, plot_embeddings
    from .core.vocab import EncodedCorpus, Vocabulary, VocabularyError
    from .fasttext import FastTextConfig, FastTextModel
    from .fasttext.vectors import FastTextVectors
    from .glove import GloVeConfig, GloVeModel
    from .glove.conversion import glove_model_from_text
    from .vectors import WordVectors
    from .word2vec import Word2VecConfig, Word2VecModel


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_SUBPACKAGES))


# ---------------------------------------------------------------------------- Auto classes
#
# `AutoConfig/AutoModel.from_pretrained(folder)` must find our model types once this package is
# imported, without trust_remote_code. Registering needs our configuration and modeling classes,
# hence torch and transformers, so it waits until transformers' auto modules are imported: at once
# if they already are, else right after their import, through the finder below (transformers
# offers no hook of its own for this).
#
# Registering imports our modeling modules, which import transformers.modeling_utils. transformers
# loads its auto modules from within other imports (modeling_utils itself imports
# configuration_auto half-way through), when a module our classes need may be half-initialised; so
# registering waits until no module of transformers or of this package is still being imported,
# and runs when the last of them finishes.

_CONFIGURATION_AUTO = "transformers.models.auto.configuration_auto"
_MODELING_AUTO = "transformers.models.auto.modeling_auto"
_done: set[str] = set()  # the auto modules whose registration has run
_importing: set[str] = set()  # watched modules whose code is running now
_lock = threading.Lock()


def _register_configs() -> None:
    from .bert import HfpBertConfig
    from .fasttext import FastTextConfig
    from .glove import GloVeConfig
    from .word2vec import Word2VecConfig

    auto_config = sys.modules[_CONFIGURATION_AUTO].AutoConfig
    for config in (Word2VecConfig, FastTextConfig, GloVeConfig, HfpBertConfig):
        auto_config.register(config.model_type, config, exist_ok=True)


def _register_models() -> None:
    from . import bert
    from .bert.modeling_bert import AUTO_CLASSES
    from .fasttext import FastTextConfig, FastTextModel
    from .glove import GloVeConfig, GloVeModel
    from .word2vec import Word2VecConfig, Word2VecModel

    modeling_auto = sys.modules[_MODELING_AUTO]
    for config, model in ((Word2VecConfig, Word2VecModel), (FastTextConfig, FastTextModel), (GloVeConfig, GloVeModel)):
        modeling_auto.AutoModel.register(config, model, exist_ok=True)
    # BERT as transformers' BERT has it: the encoder, pretraining and every task head, each loading
    # the encoder from a pretraining folder.
    for auto, name in AUTO_CLASSES.items():
        getattr(modeling_auto, auto).register(bert.HfpBertConfig, getattr(bert, name), exist_ok=True)


_STEPS = ((_CONFIGURATION_AUTO, _register_configs), (_MODELING_AUTO, _register_models))


def _register_auto_classes() -> None:
    """Register with each auto module that is imported and not yet registered with; idempotent."""
    # Not blocking: the call that holds the lock (this thread's, whose imports come back here, or
    # another thread's) does the work.
    if not _lock.acquire(blocking=False):
        return
    try:
        for module, register in _STEPS:
            if module in _done or module not in sys.modules or _importing:
                continue
            register()
            _done.add(module)
        if len(_done) == len(_STEPS) and _FINDER in sys.meta_path:
            sys.meta_path.remove(_FINDER)
    finally:
        _lock.release()


class _ExecThenRegister:
    """A module's own loader, followed by an attempt to register; everything else is the loader's
    (runpy asks it for `get_code`, tools for `get_source`, `is_package`, resources...)."""

    def __init__(self, loader):
        self.loader = loader

    def __getattr__(self, name: str):
        if name == "loader":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        # The module sees its real loader (for its resources, source and reloading).
        module.__loader__ = module.__spec__.loader = self.loader
        _importing.add(module.__name__)
        try:
            self.loader.exec_module(module)
        finally:
            _importing.discard(module.__name__)
        try:
            _register_auto_classes()
        except Exception as error:  # the module itself imported fine: do not fail its import for ours
            warnings.warn(
                f"hf_pretrain could not register its model types with transformers' Auto classes: {error!r}",
                stacklevel=2,
            )


class _WatchImports(importlib.abc.MetaPathFinder):
    """Wraps the loaders of transformers' and this package's modules until registration is done."""

    def find_spec(self, name, path=None, target=None):
        if not (name.startswith(("transformers.", f"{__name__}.")) or name == "transformers"):
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _ExecThenRegister(spec.loader)
                return spec
        return None


_FINDER = _WatchImports()
sys.meta_path.insert(0, _FINDER)
_register_auto_classes()
