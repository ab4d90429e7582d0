"""Score saved word vectors on word-pair similarity and analogy files, from the shell.

    python -m hf_pretrain.evaluate MODEL_DIR [--similarity FILE.tsv ...] [--analogy FILE.txt ...]
                                   [--output results.json] [--oov skip|compose]

MODEL_DIR is any folder the package saves (word2vec, GloVe, fastText, or `WordVectors.save`). A
similarity file holds `word1 word2 score` lines, tab-separated, or space-separated when the file has
no tabs; an analogy file is in the questions-words format (`: section` lines, then `a b c d`). With
neither flag, the packaged WordSim-353 and Google analogy sets are used. The scores are gensim's
(`WordVectors.evaluate_word_pairs` / `evaluate_word_analogies`, computed by the packaged `evaluate`
metrics); a table goes to stdout and, with `--output`, everything (per-section counts included) to
a JSON file.

Inside this package, `import evaluate` still means the `evaluate` library: imports are absolute.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from hf_pretrain.vectors.evaluation import EVAL_DIR
from hf_pretrain.vectors.keyed import VECTORS_FILE, VOCAB_FILE, WordVectors

DEFAULT_SIMILARITY = EVAL_DIR / "wordsim353_all.tsv"
DEFAULT_ANALOGY = EVAL_DIR / "questions-words.txt"


DESCRIPTION = "Score saved word vectors on word-pair similarity (Spearman/Pearson) and analogy (accuracy) files."


class UserError(Exception):
    """A problem with the command line's inputs, reported without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hf_pretrain.evaluate", description=DESCRIPTION)
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The evaluation flags, shared with `hf-pretrain evaluate`."""
    parser.add_argument(
        "model_dir",
        metavar="MODEL_DIR",
        help="a saved model folder (word2vec, GloVe, fastText) or a folder written by WordVectors.save",
    )
    parser.add_argument(
        "--similarity",
        nargs="+",
        metavar="FILE",
        default=[],
        help="word-pair files: 'word1 word2 score' per line, tab- or (if the file has no tab) space-separated",
    )
    parser.add_argument("--analogy", nargs="+", metavar="FILE", default=[], help="questions-words style analogy files")
    parser.add_argument("--output", metavar="JSON", help="write all results, per-section counts included, to this file")
    parser.add_argument(
        "--oov",
        choices=("skip", "compose"),
        default=None,
        help="pairs with unseen words: skip them (gensim's rule) or compose their vectors from subwords "
        "(fastText; the default for fastText models, 'skip' otherwise)",
    )
    parser.add_argument(
        "--restrict_vocab",
        type=int,
        default=300000,
        help="use only the first N (most frequent) words, as gensim (default 300000)",
    )
    parser.add_argument(
        "--case_sensitive", action="store_true", help="match words case-sensitively (default: upper-cased, as gensim)"
    )


# ---------------------------------------------------------------------------- input checks


def _read_lines(path: Path) -> list[str]:
    try:
        with open(path, encoding="utf8") as fin:
            return fin.read().splitlines()
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a UTF-8 text file") from None
    except OSError as err:
        raise UserError(f"{path}: cannot read: {err.strerror or err}") from None


def inspect_pairs_file(path: Path) -> tuple[str | None, int]:
    """The delimiter to split a word-pair file with (tab, or None for any whitespace) and its number of
    parsable pair lines; a file without any is an error."""
    lines = [line for line in _read_lines(path) if line.strip() and not line.startswith("#")]
    delimiter = "\t" if any("\t" in line for line in lines) else None
    parsable = 0
    for line in lines:
        parts = line.split(delimiter)
        if len(parts) == 3:
            try:
                float(parts[2])
            except ValueError:
                continue
            parsable += 1
    if not parsable:
        raise UserError(f"{path}: no word pair lines ('word1 word2 score', tab- or space-separated)")
    return delimiter, parsable


def inspect_analogy_file(path: Path) -> int:
    """The number of questions of a questions-words file; a file without any is an error."""
    questions = 0
    seen_section = False
    for line_no, line in enumerate(_read_lines(path), start=1):
        if line.startswith(": "):
            seen_section = True
        elif len(line.split()) == 4:
            if not seen_section:
                raise UserError(
                    f"{path}, line {line_no}: a question before any ': section' line; is this a questions-words file?"
                )
            questions += 1
    if not questions:
        raise UserError(f"{path}: no analogy questions (': section' lines, then 'a b c d' lines)")
    return questions


# ---------------------------------------------------------------------------- evaluation


def check_model_dir(model_dir: Path) -> None:
    if not model_dir.exists():
        raise UserError(f"model folder not found: {model_dir}")
    if not model_dir.is_dir():
        raise UserError(f"{model_dir} is not a folder; pass a saved model folder")
    has_model = (model_dir / "config.json").is_file()
    has_vectors = (model_dir / VECTORS_FILE).is_file() and (model_dir / VOCAB_FILE).is_file()
    if not (has_model or has_vectors):
        raise UserError(
            f"{model_dir} holds neither a saved model (config.json) nor saved word vectors ({VECTORS_FILE} + {VOCAB_FILE})"
        )


def load_vectors(model_dir: Path):
    # Saved word2vec and GloVe tables and `WordVectors.save` folders are read with numpy alone:
    # importing transformers for them would take longer than answering the question.
    try:
        vectors = WordVectors.from_saved_tables(model_dir)
        if vectors is None and not (Path(model_dir) / "config.json").exists():
            vectors = WordVectors.from_pretrained(model_dir)  # a `WordVectors.save` folder
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise UserError(f"cannot load word vectors from {model_dir}: {err}") from None
    if vectors is not None:
        return vectors
    from transformers.utils import logging as transformers_logging

    # The weights of a word model load in no time; their progress bar would only clutter the table.
    bar_was_enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        return WordVectors.from_pretrained(model_dir)
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise UserError(f"cannot load word vectors from {model_dir}: {err}") from None
    finally:
        if bar_was_enabled:
            transformers_logging.enable_progress_bar()


def evaluate_similarity(vectors, path: Path, delimiter, parsable: int, args) -> dict:
    is_fasttext = getattr(vectors, "subword_vectors", None) is not None
    oov = args.oov or ("compose" if is_fasttext else "skip")
    try:
        result = vectors.evaluate_word_pairs(
            path,
            delimiter=delimiter,
            oov=oov,
            restrict_vocab=args.restrict_vocab,
            case_insensitive=not args.case_sensitive,
        )
    except ValueError as err:
        if "no valid similarity judgements" not in str(err):
            raise UserError(f"{path}: {err}") from None
        # The file parses (checked before), so every pair has an unknown word: nothing to correlate.
        result = {
            "pearson": None,
            "pearson_pvalue": None,
            "spearman": None,
            "spearman_pvalue": None,
            "oov_ratio": 100.0,
            "pairs": 0,
            "oov_pairs": parsable,
        }
    return {
        "file": str(path),
        "delimiter": "tab" if delimiter else "whitespace",
        "oov": oov,
        "lines": parsable,
        **result,
    }


def evaluate_analogy(vectors, path: Path, args) -> dict:
    try:
        result = vectors.evaluate_word_analogies(
            path, restrict_vocab=args.restrict_vocab, case_insensitive=not args.case_sensitive
        )
    except (ValueError, UnicodeDecodeError) as err:
        raise UserError(str(err)) from None
    return {"file": str(path), **result}


# ---------------------------------------------------------------------------- output


def _number(value, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _display_name(path: str) -> str:
    """Packaged evaluation files by name, the others as given."""
    return Path(path).name if Path(path).parent == EVAL_DIR else path


def format_table(similarity: list[dict], analogy: list[dict]) -> str:
    header = ["file", "task", "pairs/questions", "scored", "OOV %", "Spearman", "Pearson", "accuracy"]
    rows = [
        [
            _display_name(r["file"]),
            "similarity",
            str(r["lines"]),
            str(r["pairs"]),
            _number(r["oov_ratio"], 2),
            _number(r["spearman"], 4),
            _number(r["pearson"], 4),
            "-",
        ]
        for r in similarity
    ]
    rows += [
        [
            _display_name(r["file"]),
            "analogy",
            str(r["questions"]),
            str(r["total"]),
            _number(r["oov_ratio"], 2),
            "-",
            "-",
            f"{_number(100 * r['accuracy'], 2)} %",
        ]
        for r in analogy
    ]
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    lines = []
    for row in [header] + rows:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])] + [c.rjust(w) for c, w in zip(row[2:], widths[2:])]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _json_safe(value):
    """NaN (e.g. a correlation with constant scores) becomes null: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


def run(args) -> dict:
    model_dir = Path(args.model_dir)
    if not args.similarity and not args.analogy:
        args.similarity, args.analogy = [str(DEFAULT_SIMILARITY)], [str(DEFAULT_ANALOGY)]
    similarity_files, analogy_files = [Path(p) for p in args.similarity], [Path(p) for p in args.analogy]
    check_model_dir(model_dir)
    for path in similarity_files + analogy_files:
        if not path.is_file():
            raise UserError(f"file not found: {path}")
    if args.restrict_vocab < 1:
        raise UserError(f"--restrict_vocab must be a positive number of words, got {args.restrict_vocab}")
    # Check every file before loading the model, so a typo fails at once.
    pair_files = [(path, *inspect_pairs_file(path)) for path in similarity_files]
    for path in analogy_files:
        inspect_analogy_file(path)

    vectors = load_vectors(model_dir)
    similarity = [
        evaluate_similarity(vectors, path, delimiter, parsable, args) for path, delimiter, parsable in pair_files
    ]
    analogy = [evaluate_analogy(vectors, path, args) for path in analogy_files]
    print(f"{model_dir}: {len(vectors)} words, dimension {vectors.vector_size}")
    print(format_table(similarity, analogy))
    results = _json_safe(
        {
            "model": str(model_dir),
            "words": len(vectors),
            "dim": vectors.vector_size,
            "restrict_vocab": args.restrict_vocab,
            "case_insensitive": not args.case_sensitive,
            "similarity": similarity,
            "analogy": analogy,
        }
    )
    if args.output:
        output = Path(args.output)
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf8")
        except OSError as err:
            raise UserError(f"cannot write {output}: {err.strerror or err}") from None
        print(f"results written to {output}")
    return results


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        run(args)
    except UserError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
