"""Evaluation shared by the word-vector recipes: WordSim-353 and the Google analogy set.

Two steps, on either side of training:

* :func:`check_evaluation_files`, before training: a ``--similarity_file`` or ``--analogy_file``
  that is missing, unreadable or in the wrong format fails at once, with a one-line error naming it.
* :func:`evaluate_vectors`, after training: it never fails for a reporting problem. An evaluation
  that cannot score (no pair or question in the vocabulary, a file gone or unreadable by then) is
  logged as a warning and recorded in the results as skipped, with its reason, so the finished run
  is still written.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

logger = logging.getLogger(__name__)

EVAL_DIR = Path(__file__).resolve().parent.parent / "data" / "eval"

# Prefixes of the result keys (kept for any file passed, as the recipes always have).
SIMILARITY = "wordsim353"
ANALOGY = "google_analogy"

# What `WordVectors.evaluate_word_pairs` and the `word_similarity` metric raise (ValueError) when a
# well-formed file leaves nothing to correlate; any other ValueError is a bug and propagates.
_UNSCORABLE_PAIRS = (
    "no valid similarity judgements",
    "no pairs left to correlate",
    "a correlation needs at least",
    "must be numbers, not NaN",
)
# What `WordVectors.evaluate_word_analogies` raises (ValueError) for a file it cannot read as
# questions-words.
_UNSCORABLE_ANALOGIES = ("missing ': section' header", "no analogy questions found")


@dataclass
class EvaluationArguments:
    similarity_file: Optional[str] = field(
        default=str(EVAL_DIR / "wordsim353_all.tsv"),
        metadata={
            "help": "Word-pair file: 'word1 word2 score' lines, tab- or (if it has no tab) space-separated ('' to skip)."
        },
    )
    analogy_file: Optional[str] = field(
        default=str(EVAL_DIR / "questions-words.txt"), metadata={"help": "questions-words file ('' to skip)."}
    )


# ---------------------------------------------------------------------------- reading the files


def _is_pair(parts: list[str]) -> bool:
    if len(parts) != 3:
        return False
    try:
        float(parts[2])
    except ValueError:
        return False
    return True


def _scan_pairs(path) -> tuple[Optional[str], int]:
    """The delimiter of a word-pair file (tab when any pair line has one, else None: any whitespace)
    and its number of pair lines, parsed as `WordVectors.evaluate_word_pairs` parses them (``#``
    lines and lines that do not parse are ignored). Raises OSError or UnicodeDecodeError."""
    has_tab, tab_pairs, space_pairs = False, 0, 0
    with open(path, encoding="utf8") as fin:
        for line in fin:
            if not line.strip() or line.startswith("#"):
                continue
            has_tab = has_tab or "\t" in line
            tab_pairs += _is_pair(line.split("\t"))
            space_pairs += _is_pair(line.split())
    return ("\t", tab_pairs) if has_tab else (None, space_pairs)


def _scan_analogies(path) -> int:
    """The number of questions of a questions-words file, read as `WordVectors.evaluate_word_analogies`
    reads it. Raises OSError, UnicodeDecodeError, or ValueError for a line before the first
    ``: section`` header or a file without questions."""
    questions, seen_section = 0, False
    with open(path, "rb") as fin:
        for line_no, raw in enumerate(fin, start=1):
            line = raw.decode("utf8")
            if line.startswith(": "):
                seen_section = True
            elif not seen_section:
                raise ValueError(
                    f"line {line_no} comes before the first ': section' header; is this a questions-words file?"
                )
            elif len(line.split()) == 4:
                questions += 1
    if not questions:
        raise ValueError("no analogy questions (': section' lines, then 'a b c d' lines)")
    return questions


def _read_error(err: Exception) -> str:
    if isinstance(err, UnicodeDecodeError):
        return f"not UTF-8 text (byte {err.start})"
    if isinstance(err, OSError):
        return err.strerror or str(err)
    return str(err)


def check_evaluation_files(args: EvaluationArguments) -> None:
    """Fail before training when an evaluation file cannot be scored at the end.

    ``--similarity_file`` must be a UTF-8 file with at least one ``word1 word2 score`` line (tab-
    or, in a file without tabs, space-separated); ``--analogy_file`` a UTF-8 questions-words file
    (``: section`` header first, then ``a b c d`` questions). Each file is read once, line by line,
    without the vectors. An empty or None path is an evaluation turned off and is not checked.

    Raises FileNotFoundError for a missing file, ValueError for one that is not a file, cannot be
    read or is in the wrong format; the message is one line and names the option and the file.
    """
    checks = (
        ("similarity_file", args.similarity_file, _scan_pairs),
        ("analogy_file", args.analogy_file, _scan_analogies),
    )
    for option, path, scan in checks:
        if not path:
            continue
        if not os.path.exists(path):
            raise FileNotFoundError(f"--{option} not found: {path}")
        if not os.path.isfile(path):
            raise ValueError(f"--{option} {path} is not a file")
        try:
            found = scan(path)
        except (OSError, ValueError) as err:  # UnicodeDecodeError is a ValueError
            raise ValueError(f"--{option} {path}: {_read_error(err)}") from None
        if option == "similarity_file" and not found[1]:
            raise ValueError(f"--{option} {path}: no word pair lines ('word1 word2 score', tab- or space-separated)")


# ---------------------------------------------------------------------------- scoring


def _skip(results: dict, name: str, reason: str) -> dict:
    """Record (under ``<name>_skipped``) and log why the evaluation `name` has no scores."""
    logger.warning("%s evaluation skipped: %s", name, reason)
    results[f"{name}_skipped"] = reason
    return results


def _pairs_reason(err: ValueError, path, lines: int) -> Optional[str]:
    """The skip reason of an evaluate_word_pairs error on a well-formed file, None for any other error."""
    message = str(err)
    if not any(fragment in message for fragment in _UNSCORABLE_PAIRS):
        return None
    if "no valid similarity judgements" in message or "no pairs left" in message:
        return f"no pair of {path} has both words in the vocabulary (0 of {lines})"
    if "at least" in message:
        return f"only 1 of the {lines} pairs of {path} has both words in the vocabulary; a correlation needs 2"
    return f"{path}: {message}"


def _similarity(vectors, path) -> dict:
    results: dict = {}
    try:
        delimiter, lines = _scan_pairs(path)
    except (OSError, UnicodeDecodeError) as err:
        return _skip(results, SIMILARITY, f"cannot read {path}: {_read_error(err)}")
    if not lines:
        return _skip(results, SIMILARITY, f"{path} has no word pair lines ('word1 word2 score')")
    try:
        pairs = vectors.evaluate_word_pairs(path, delimiter=delimiter)
    except (OSError, UnicodeDecodeError) as err:  # the file changed since it was scanned
        return _skip(results, SIMILARITY, f"cannot read {path}: {_read_error(err)}")
    except ValueError as err:
        reason = _pairs_reason(err, path, lines)
        if reason is None:
            raise
        return _skip(results, SIMILARITY, reason)
    results.update(
        wordsim353_spearman=float(pairs["spearman"]),
        wordsim353_pearson=float(pairs["pearson"]),
        wordsim353_oov_ratio=float(pairs["oov_ratio"]),
    )
    if getattr(vectors, "subword_vectors", None) is not None:
        # The figure above scores unseen words through their subwords; this one, as gensim scores
        # word2vec, keeps only the pairs whose two words are in the vocabulary.
        try:
            in_vocab = vectors.evaluate_word_pairs(path, delimiter=delimiter, oov="skip")
        except (OSError, UnicodeDecodeError) as err:
            _skip(results, f"{SIMILARITY}_in_vocab", f"cannot read {path}: {_read_error(err)}")
        except ValueError as err:
            reason = _pairs_reason(err, path, lines)
            if reason is None:
                raise
            _skip(results, f"{SIMILARITY}_in_vocab", reason)
        else:
            results["wordsim353_spearman_in_vocab"] = float(in_vocab["spearman"])
    return results


def _analogy(vectors, path) -> dict:
    results: dict = {}
    try:
        analogies = vectors.evaluate_word_analogies(path)
    except (OSError, UnicodeDecodeError) as err:
        return _skip(results, ANALOGY, f"cannot read {path}: {_read_error(err)}")
    except ValueError as err:
        if not any(fragment in str(err) for fragment in _UNSCORABLE_ANALOGIES):
            raise
        return _skip(results, ANALOGY, str(err))  # the message names the file
    if not analogies["total"]:
        return _skip(
            results,
            ANALOGY,
            f"no question of {path} has all four words in the vocabulary (0 of {analogies['questions']})",
        )
    results.update(
        google_analogy_accuracy=float(analogies["accuracy"]),
        google_analogy_questions=int(analogies["total"]),
        google_analogy_oov_ratio=float(analogies["oov_ratio"]),
    )
    return results


def evaluate_vectors(vectors, args: EvaluationArguments) -> dict:
    """Score `vectors` on ``args.similarity_file`` and ``args.analogy_file`` (each skipped when empty).

    Returns the results the recipes add to ``all_results.json`` and the model card:

    * ``wordsim353_spearman``, ``wordsim353_pearson``: correlations of cosine similarity with the
      human scores, over the pairs scored (for fastText, unseen words get their subword vector);
    * ``wordsim353_oov_ratio``: percent of the file's pairs with a word outside the vocabulary;
    * ``wordsim353_spearman_in_vocab`` (fastText vectors only): Spearman over the pairs whose two
      words are in the vocabulary;
    * ``google_analogy_accuracy``: 3CosAdd accuracy over the questions answered;
      ``google_analogy_questions``: the number of questions answered (all four words in the
      vocabulary); ``google_analogy_oov_ratio``: percent of the file's questions left out because a
      word is outside the vocabulary.

    An evaluation that cannot score is logged as a warning and recorded, instead of its scores, as
    a one-line reason under ``wordsim353_skipped`` or ``google_analogy_skipped`` (and, for
    fastText's in-vocabulary figure, ``wordsim353_in_vocab_skipped``): no pair (or only one) with
    both words in the vocabulary, no question with all four, or a file that is missing, unreadable
    or malformed by now (:func:`check_evaluation_files` catches those before training). Nothing
    here raises for such input; other errors do propagate.
    """
    results: dict = {}
    if args.similarity_file:
        results.update(_similarity(vectors, args.similarity_file))
    if args.analogy_file:
        results.update(_analogy(vectors, args.analogy_file))
    return results
