"""`evaluate` metric modules for word vectors, shipped with the package.

Each folder (``word_similarity``, ``word_analogy``) is an `evaluate` module: a script named as its
folder plus a metric card (README.md), so ``evaluate.load(path)`` loads it from disk without the Hub::

    import evaluate
    from hf_pretrain.metrics import WORD_SIMILARITY

    word_similarity = evaluate.load(WORD_SIMILARITY)

:func:`load_metric` does the same by name and keeps the loaded module, so repeated evaluations do not
pay for loading it again.
"""

from __future__ import annotations

import functools
from pathlib import Path

METRICS_DIR = Path(__file__).resolve().parent
WORD_SIMILARITY = str(METRICS_DIR / "word_similarity")
WORD_ANALOGY = str(METRICS_DIR / "word_analogy")
METRICS = {"word_similarity": WORD_SIMILARITY, "word_analogy": WORD_ANALOGY}


def metric_path(name: str) -> str:
    """The folder of a packaged metric, for ``evaluate.load``."""
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; the packaged metrics are {sorted(METRICS)}") from None


@functools.lru_cache(maxsize=None)
def load_metric(name: str):
    """``evaluate.load`` of a packaged metric (``"word_similarity"`` or ``"word_analogy"``), loaded once
    per process and kept in memory (no cache files are written when it computes)."""
    import evaluate

    return evaluate.load(metric_path(name), keep_in_memory=True)


__all__ = ["METRICS", "METRICS_DIR", "WORD_ANALOGY", "WORD_SIMILARITY", "load_metric", "metric_path"]
