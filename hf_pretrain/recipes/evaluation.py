"""Evaluation shared by the word-vector recipes: WordSim-353 and the Google analogy set."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

EVAL_DIR = Path(__file__).resolve().parent.parent / "data" / "eval"


@dataclass
class EvaluationArguments:
    similarity_file: Optional[str] = field(
        default=str(EVAL_DIR / "wordsim353_all.tsv"), metadata={"help": "Word-pair TSV ('' to skip)."}
    )
    analogy_file: Optional[str] = field(
        default=str(EVAL_DIR / "questions-words.txt"), metadata={"help": "questions-words file ('' to skip)."}
    )


def evaluate_vectors(vectors, args: EvaluationArguments) -> dict:
    results = {}
    if args.similarity_file:
        if not os.path.isfile(args.similarity_file):
            raise FileNotFoundError(f"similarity_file not found: {args.similarity_file}")
        pairs = vectors.evaluate_word_pairs(args.similarity_file)
        results.update(
            wordsim353_spearman=float(pairs["spearman"]),
            wordsim353_pearson=float(pairs["pearson"]),
            wordsim353_oov_ratio=float(pairs["oov_ratio"]),
        )
    if args.analogy_file:
        if not os.path.isfile(args.analogy_file):
            raise FileNotFoundError(f"analogy_file not found: {args.analogy_file}")
        analogies = vectors.evaluate_word_analogies(args.analogy_file)
        results.update(
            google_analogy_accuracy=float(analogies["accuracy"]),
            google_analogy_questions=int(analogies["total"]),
        )
    return results
