"""The computations behind the packaged word similarity and word analogy metrics, as plain functions.

The `evaluate` metric modules (``word_similarity/``, ``word_analogy/``) call these, and so does
`WordVectors` when it scores itself: importing `evaluate` pulls in transformers' pipelines (seconds
on a small CPU), which a training run's evaluation has no use for. The statistics are scipy's.
"""

import numpy as np
from scipy import stats

SIMILARITY_OOV_HANDLING = ("skip", "zero", "keep")
ANALOGY_OOV_HANDLING = ("skip", "incorrect")
TOTAL_SECTION = "Total accuracy"


def word_similarity(predictions, references, oov=None, oov_handling="skip") -> dict:
    """Spearman and Pearson correlations of `predictions` with `references` (see the `word_similarity`
    metric's card for the arguments); what the packaged `evaluate` metric computes."""
    if oov_handling not in SIMILARITY_OOV_HANDLING:
        raise ValueError(f"oov_handling must be one of {SIMILARITY_OOV_HANDLING}, got {oov_handling!r}")
    predicted = np.asarray(predictions, dtype=np.float64)
    gold = np.asarray(references, dtype=np.float64)
    flags = np.zeros(len(gold), dtype=bool) if oov is None else np.asarray(oov, dtype=bool).reshape(-1)
    if flags.shape[0] != gold.shape[0]:
        raise ValueError(f"got {gold.shape[0]} pairs but {flags.shape[0]} oov flags; they must have the same length")
    if oov_handling == "skip":
        predicted, gold = predicted[~flags], gold[~flags]
    elif oov_handling == "zero":
        predicted = np.where(flags, 0.0, predicted)
    else:
        kept = ~(flags & np.isnan(predicted))
        predicted, gold = predicted[kept], gold[kept]
    if gold.shape[0] == 0:
        raise ValueError("no pairs left to correlate: every pair is out of vocabulary or none were given")
    if gold.shape[0] < 2:
        raise ValueError("a correlation needs at least 2 pairs, got 1")
    if np.isnan(predicted).any() or np.isnan(gold).any():
        raise ValueError("predictions and references of the pairs correlated must be numbers, not NaN or None")
    pearson = stats.pearsonr(gold, predicted)
    spearman = stats.spearmanr(gold, predicted)
    n_oov = int(flags.sum())
    return {
        "spearman": float(spearman[0]),
        "spearman_pvalue": float(spearman[1]),
        "pearson": float(pearson[0]),
        "pearson_pvalue": float(pearson[1]),
        "oov_ratio": n_oov / len(flags) * 100 if len(flags) else 0.0,
        "pairs": int(gold.shape[0]),
        "oov_pairs": n_oov,
    }


def _entry(name, correct, incorrect):
    answered = correct + incorrect
    return {
        "section": name,
        "correct": correct,
        "incorrect": incorrect,
        "accuracy": correct / answered if answered else 0.0,
    }


def word_analogy(
    predictions,
    references,
    sections=None,
    section_names=None,
    oov=None,
    oov_handling="skip",
    case_insensitive=True,
) -> dict:
    """Accuracy of analogy answers overall and per section, gensim's way (see the `word_analogy` metric's
    card for the arguments); what the packaged `evaluate` metric computes."""
    if oov_handling not in ANALOGY_OOV_HANDLING:
        raise ValueError(f"oov_handling must be one of {ANALOGY_OOV_HANDLING}, got {oov_handling!r}")
    n = len(references)
    labels = ["all"] * n if sections is None else [str(label) for label in sections]
    flags = [False] * n if oov is None else [bool(flag) for flag in oov]
    for name, values in (("sections", labels), ("oov", flags)):
        if len(values) != n:
            raise ValueError(f"got {n} questions but {len(values)} {name}; they must have the same length")
    order = list(dict.fromkeys(labels if section_names is None else [str(name) for name in section_names]))
    unknown = set(labels) - set(order)
    if unknown:
        raise ValueError(f"sections {sorted(unknown)} are not in section_names")
    counts = {name: [0, 0] for name in order}  # [correct, incorrect]
    for predicted, expected, label, flagged in zip(predictions, references, labels, flags):
        if flagged:
            if oov_handling == "incorrect":
                counts[label][1] += 1
            continue
        if not predicted:
            right = False
        elif case_insensitive:
            right = predicted.upper() == expected.upper()
        else:
            right = predicted == expected
        counts[label][0 if right else 1] += 1
    entries = [_entry(name, *counts[name]) for name in order]
    total = _entry(TOTAL_SECTION, sum(c for c, _ in counts.values()), sum(i for _, i in counts.values()))
    n_oov = sum(flags)
    return {
        "accuracy": total["accuracy"],
        "correct": total["correct"],
        "total": total["correct"] + total["incorrect"],
        "oov_questions": n_oov,
        "oov_ratio": n_oov / n * 100 if n else 0.0,
        "questions": n,
        "sections": entries + [total],
    }
