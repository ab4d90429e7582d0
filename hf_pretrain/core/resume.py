"""What makes a resume continue the same run: each checkpoint records the run's identity (the
arguments that shape the result, a hash of the vocabulary, a fingerprint of the corpus files), and a
resume whose own identity differs is refused before training, naming what differs."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from dataclasses import fields
from pathlib import Path
from typing import Any, Optional

logger = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"

# Arguments that change where a run writes, what it reports or how fast it goes, never its weights;
# every other argument must be the same to resume. `dataset` is left out because the corpus
# fingerprint compares the text itself (a moved or renamed corpus still resumes).
NOT_SHAPING = frozenset(
    {
        "output_dir",
        "overwrite_output_dir",
        "resume_from_checkpoint",
        "ignore_checkpoint_mismatch",
        "logging_steps",
        "checkpointing_steps",
        "report_to",
        "num_threads",
        "dataset",
        "push_to_hub",
        "hub_model_id",
        "hub_private_repo",
        "hub_token",
        "hub_push_checkpoints",
        "similarity_file",
        "analogy_file",
        "eval_batches",
    }
)
# The step size and the length of the run may change on a resume (a lower learning rate after a NaN, a
# longer run): the model stays the same model, and a warning says the run now differs from one that
# was never stopped.
SCHEDULE = frozenset({"learning_rate", "min_learning_rate", "epochs", "max_steps"})
SAMPLE_BYTES = 1 << 20  # hashed at each end of every corpus file


class CheckpointMismatchError(ValueError):
    """The checkpoint was written by another run than the one this command describes."""


def new_run_id() -> str:
    return uuid.uuid4().hex


def vocabulary_hash(words_and_counts: Any) -> str:
    """sha256 of a vocabulary given as any JSON-serialisable value (words in order, with counts)."""
    return hashlib.sha256(json.dumps(words_and_counts, ensure_ascii=False).encode("utf-8")).hexdigest()


def corpus_fingerprint(dataset: str) -> dict:
    """For a local file or folder: each file's name, size and a hash of its first and last MiB (an edit
    that keeps the size and the ends is left to the vocabulary hash, whose counts change). For a
    packaged corpus or a Hub id: its name."""
    if not isinstance(dataset, (str, os.PathLike)):  # a datasets object handed over in Python
        return {"name": type(dataset).__name__, "fingerprint": getattr(dataset, "_fingerprint", None)}
    path = Path(dataset)
    if not path.exists():
        return {"name": dataset}
    files = (
        [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    )
    fingerprint = {}
    for file in files:
        size = file.stat().st_size
        digest = hashlib.sha256()
        with open(file, "rb") as f:
            digest.update(f.read(SAMPLE_BYTES))
            if size > 2 * SAMPLE_BYTES:
                f.seek(size - SAMPLE_BYTES)
            digest.update(f.read(SAMPLE_BYTES))
        name = file.name if file == path else file.relative_to(path).as_posix()
        fingerprint[name] = f"{size}:{digest.hexdigest()[:16]}"
    return {"files": fingerprint}


def run_identity(*arguments, vocabulary: str, dataset: str) -> dict:
    """The identity a checkpoint records: `arguments` (the recipe's argument dataclasses) without the
    ones in NOT_SHAPING, the vocabulary's hash and the corpus fingerprint."""
    shaping = {}
    for group in arguments:
        # Field by field, not asdict: that would deep-copy a datasets object given as `dataset`.
        shaping.update({f.name: getattr(group, f.name) for f in fields(group) if f.name not in NOT_SHAPING})
    return {"arguments": shaping, "vocabulary": vocabulary, "corpus": corpus_fingerprint(dataset)}


def differences(saved: Optional[dict], current: dict) -> list[str]:
    """What differs between a checkpoint's identity and this command's, one phrase each."""
    if not saved:
        return ["the checkpoint records no run identity (it was written by an older hf-pretrain)"]
    found = []
    saved_args, args = saved.get("arguments", {}), current["arguments"]
    for name in sorted((set(saved_args) | set(args)) - SCHEDULE):
        if saved_args.get(name) != args.get(name):
            found.append(f"--{name} is {args.get(name)!r} here but {saved_args.get(name)!r} in the checkpoint's run")
    if saved.get("corpus") != current["corpus"]:
        found.append(
            f"the corpus differs from the one the checkpoint's run trained on ({_corpus_change(saved.get('corpus'), current['corpus'])})"
        )
    if saved.get("vocabulary") != current["vocabulary"] and not found:
        found.append("the vocabulary built from the corpus differs from the checkpoint's (the corpus was edited)")
    return found


def _corpus_change(saved: Optional[dict], current: dict) -> str:
    saved_files, files = (saved or {}).get("files"), current.get("files")
    if saved_files is None or files is None:
        return (
            f"{(saved or {}).get('name', saved_files and 'local files')} then, {current.get('name', 'local files')} now"
        )
    changed = sorted(n for n in set(saved_files) | set(files) if saved_files.get(n) != files.get(n))
    return "changed: " + ", ".join(changed[:5])


def check_same_run(path: str, saved: dict, current: Optional[dict], ignore: bool) -> None:
    """Refuse to resume from `path` when its run is not the one this command describes."""
    if current is None:
        return
    saved_args = (saved.get("identity") or {}).get("arguments", {})
    changed = sorted(n for n in SCHEDULE if n in saved_args and saved_args[n] != current["arguments"].get(n))
    if changed:
        logger.warning(
            "resuming from %s with %s changed: the run continues, but differs from one that was never stopped",
            path,
            ", ".join(f"--{n} {saved_args[n]!r} -> {current['arguments'].get(n)!r}" for n in changed),
        )
    found = differences(saved.get("identity"), current)
    if not found:
        return
    if ignore:
        logger.warning("--ignore_checkpoint_mismatch: resuming from %s although %s", path, "; ".join(found))
        return
    raise CheckpointMismatchError(
        f"cannot resume from {path}: {'; '.join(found)}. Resume with the run's own arguments and corpus, "
        "or pass --ignore_checkpoint_mismatch to continue anyway"
    )


def checkpoint_problem(path: str) -> Optional[str]:
    """Why the checkpoint folder `path` cannot be resumed from (None when it is whole)."""
    from .publish import CorruptFileError, check_safetensors

    state = os.path.join(path, STATE_FILE)
    if not os.path.isfile(state):
        return f"{STATE_FILE} is missing (the checkpoint was not finished)"
    try:
        with open(state, encoding="utf-8") as f:
            json.load(f)
        for name in sorted(os.listdir(path)):
            if name.endswith(".safetensors"):
                check_safetensors(os.path.join(path, name))
    except (OSError, ValueError, CorruptFileError) as error:
        return str(error)
    return None


def latest_checkpoint(output_dir: str) -> Optional[str]:
    """The newest whole checkpoint of `output_dir`; damaged or unfinished ones are passed over, with a warning."""
    root = os.path.join(output_dir, "checkpoints")
    if not os.path.isdir(root):
        return None
    steps = sorted(
        (d for d in os.listdir(root) if d.startswith("step_") and d[5:].isdigit()), key=lambda d: -int(d[5:])
    )
    for name in steps:
        path = os.path.join(root, name)
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        logger.warning("skipping checkpoint %s: %s", path, problem)
    return None


def vocabulary_of(vocab_or_tokenizer) -> str:
    """The hash of a word vocabulary (its words in order and their counts) or of a tokenizer's vocabulary."""
    if hasattr(vocab_or_tokenizer, "index_to_word"):
        return vocabulary_hash([vocab_or_tokenizer.index_to_word, [int(c) for c in vocab_or_tokenizer.counts]])
    return vocabulary_hash(sorted(vocab_or_tokenizer.get_vocab().items(), key=lambda item: item[1]))
