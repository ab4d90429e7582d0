"""Hub-ready output folders: weights, config, tokenizer, results and a model card, written atomically."""

from __future__ import annotations

import json
import os
import platform
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import yaml

from .output_dir import NOT_PUBLISHED, OutputDirError, check_output_dir, write_folder_atomically  # noqa: F401 (re-exported)

CARD_DIR = Path(__file__).resolve().parents[2] / "model_cards"
MODEL_FILES = ("config.json", "model.safetensors")


class HubAccessError(RuntimeError):
    """`--push_to_hub` cannot work: no token, offline, or the Hub refuses the token."""


@dataclass
class HubArguments:
    push_to_hub: bool = field(default=False, metadata={"help": "Upload the final folder to the Hugging Face Hub."})
    hub_model_id: Optional[str] = field(
        default=None, metadata={"help": "Repository 'user/name' or 'name' (default: your user / output_dir's name)."}
    )
    hub_private_repo: bool = field(default=False, metadata={"help": "Create the repository as private."})
    hub_token: Optional[str] = field(
        default=None, repr=False, metadata={"help": "Hub token (default: HF_TOKEN or the cached `hf auth login`)."}
    )
    hub_push_checkpoints: bool = field(default=False, metadata={"help": "Also upload output_dir/checkpoints."})


def without_secrets(arguments: dict) -> dict:
    """Arguments as they may be logged or saved: the Hub token left out."""
    return {k: v for k, v in arguments.items() if k != "hub_token"}


def check_hub_access(args: HubArguments, output_dir: str) -> Optional[str]:
    """With `push_to_hub`, make sure before any training that the upload at the end can happen:
    a token, the Hub reachable, the token accepted. Returns the repository id (None without push)."""
    if not args.push_to_hub:
        return None
    from huggingface_hub import HfApi, constants, get_token

    if constants.HF_HUB_OFFLINE:
        raise HubAccessError(
            "--push_to_hub: HF_HUB_OFFLINE is set, so nothing can be uploaded; unset it or drop --push_to_hub"
        )
    token = args.hub_token or get_token()
    if not token:
        raise HubAccessError("--push_to_hub needs a Hub token: pass --hub_token, set HF_TOKEN or run `hf auth login`")
    try:
        user = HfApi(token=token).whoami()["name"]
    except Exception as error:  # no network, a proxy, a revoked token: all end the same way
        raise HubAccessError(
            f"--push_to_hub: the Hub at {constants.ENDPOINT} could not confirm the token ({type(error).__name__}: {error})"
        ) from error
    repo_id = args.hub_model_id or os.path.basename(os.path.abspath(output_dir))
    return repo_id if "/" in repo_id else f"{user}/{repo_id}"


def publish(
    output_dir: str, write: Callable[[str], None], repo_id: Optional[str], args: HubArguments, what: str, results: dict
) -> None:
    """The end of every recipe: write the folder atomically, then, when `repo_id` is set (by
    `check_hub_access`), push it and record the commit's URL in `results["hub_commit_url"]`."""
    written = write_folder_atomically(output_dir, write)
    if repo_id:
        results["hub_commit_url"] = push_folder(
            output_dir, repo_id, args, commit_message=f"{what} trained with hf-pretrain", files=written
        )


def push_folder(
    folder: str, repo_id: str, args: HubArguments, commit_message: str, files: Optional[list[str]] = None
) -> str:
    """Create the repository if needed and upload `files` of `folder` (the run's own; default: every
    file but the run's bookkeeping) as one commit, plus its checkpoints with `hub_push_checkpoints`;
    returns the commit's URL. The user's own files in the folder stay off the Hub."""
    from huggingface_hub import CommitOperationAdd, HfApi, get_token

    root = Path(folder)
    if files is None:
        paths = [
            p for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] not in ("checkpoints", "runs")
        ]
    else:
        paths = [root / name for name in files]
    if args.hub_push_checkpoints and (root / "checkpoints").is_dir():
        paths += [p for p in (root / "checkpoints").rglob("*") if p.is_file()]
    files = sorted(p for p in paths if p.relative_to(root).parts[0] not in NOT_PUBLISHED)
    api = HfApi(token=args.hub_token or get_token())
    api.create_repo(repo_id, private=args.hub_private_repo, exist_ok=True)
    operations = [
        CommitOperationAdd(path_in_repo=path.relative_to(root).as_posix(), path_or_fileobj=str(path)) for path in files
    ]
    commit = api.create_commit(repo_id, operations=operations, commit_message=commit_message)
    return str(getattr(commit, "commit_url", commit))


class CorruptFileError(ValueError):
    """A saved file is truncated or damaged."""


def check_safetensors(path) -> None:
    """Raise CorruptFileError naming `path` if it is not a whole safetensors file.

    safetensors' own error for a cut file ("incomplete metadata, file not fully covered") names
    neither the file nor the cause; this reads only the header and compares the size it promises
    with the size on disk.
    """
    path = os.fspath(path)
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CorruptFileError(
                f"{path} is truncated or not a safetensors file: {size} bytes, too short for a header"
            )
        length = int.from_bytes(head, "little")
        if 8 + length > size:
            raise CorruptFileError(
                f"{path} is truncated: its header needs {8 + length} bytes but the file has {size}; save or download it again"
            )
        try:
            header = json.loads(f.read(length))
            end = max((int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__"), default=0)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
            raise CorruptFileError(f"{path} is not a valid safetensors file: unreadable header ({e})") from None
    if 8 + length + end != size:
        raise CorruptFileError(
            f"{path} is truncated or damaged: its header describes {8 + length + end} bytes but the file has {size}; "
            "save or download it again"
        )


def card_examples(vectors) -> dict:
    """Words for the query code of a word-vector card, taken from its vocabulary so the code runs:
    `probe_word` for `most_similar` and `analogy_example`, an `analogy(...)` line (or a comment when
    the book's man : king :: woman words are missing)."""
    probe = next(
        (w for w in ("king", "chip", "france", "good") if w in vectors), vectors.index_to_key[min(1, len(vectors) - 1)]
    )
    if all(w in vectors for w in ("man", "king", "woman")):
        analogy = 'vectors.analogy("man", "king", "woman")          # man : king :: woman : ?'
    else:
        analogy = "# vectors.analogy(a, b, c) answers a : b :: c : ?"
    return {"probe_word": probe, "analogy_example": analogy}


# A score enters a card's model-index only when at least this percent of its evaluation set (word
# pairs, analogy questions) is in the vocabulary: a Spearman over 6 of 353 pairs says nothing about
# the vectors, yet the Hub would list it beside scores over the whole set.
MIN_MODEL_INDEX_COVERAGE = 50.0

# (results key, dataset name, dataset type, metric type, label, results key of the percent of the
# set left out as out of vocabulary). The coverage key is optional: entries without it (BERT's
# validation metrics) are published whenever their value is a finite number.
WORD_VECTOR_RESULTS = (
    ("wordsim353_spearman", "WordSim-353", "wordsim353", "spearmanr", "Spearman correlation", "wordsim353_oov_ratio"),
    (
        "google_analogy_accuracy",
        "Google analogy",
        "google_analogy",
        "accuracy",
        "Accuracy (3CosAdd)",
        "google_analogy_oov_ratio",
    ),
)


def _left_out_of_index(results: dict, entry: tuple) -> Optional[str]:
    """Why the score `entry` names stays out of the model-index, or None when it is published: it is
    missing (not evaluated, or skipped), not a finite number, or its coverage is unknown or below
    MIN_MODEL_INDEX_COVERAGE."""
    import math
    import numbers

    def number(value) -> bool:
        return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)

    value = results.get(entry[0])
    if value is None:
        return "not evaluated"
    if not number(value):
        return "not a finite number"
    if len(entry) > 5:
        oov_ratio = results.get(entry[5])
        if not number(oov_ratio):
            return f"in-vocabulary coverage unknown: no {entry[5]} in the results"
        coverage = 100.0 - float(oov_ratio)
        if coverage < MIN_MODEL_INDEX_COVERAGE:
            return (
                f"in-vocabulary coverage {coverage:.1f} %, below the {MIN_MODEL_INDEX_COVERAGE:g} % needed "
                "to publish it in the card metadata"
            )
    return None


def _model_index(model_name: str, task: dict, results: dict, entries: tuple) -> list:
    found = [
        {
            "task": task,
            "dataset": {"type": entry[2], "name": entry[1]},
            "metrics": [{"type": entry[3], "value": round(float(results[entry[0]]), 4), "name": entry[4]}],
        }
        for entry in entries
        if _left_out_of_index(results, entry) is None
    ]
    return [{"name": model_name, "results": found}] if found else []


# Hub ids of the corpora hf-pretrain knows by name.
HUB_DATASETS = {
    "wikitext-2": "Salesforce/wikitext",
    "wikitext-2-raw": "Salesforce/wikitext",
    "ptb": "ptb-text-only/ptb_text_only",
}


class _PlainDumper(yaml.SafeDumper):
    """Plain YAML for the Hub's metadata parser: an object used twice (the model-index's task) is
    written out twice, never as an ``&id001`` anchor and ``*id001`` alias."""

    def ignore_aliases(self, data) -> bool:
        return True


def _hub_dataset_id(dataset) -> Optional[str]:
    """The Hub id a card's `datasets:` metadata names for `dataset`, or None when it is no Hub
    dataset (a local file or folder, a datasets object, a bare name)."""
    if not isinstance(dataset, str):
        return None
    if dataset in HUB_DATASETS:
        return HUB_DATASETS[dataset]
    from .corpus import _looks_like_hub_id

    if os.path.exists(os.path.expanduser(dataset)) or not _looks_like_hub_id(dataset):
        return None
    return dataset


def corpus_note(dataset, words: Optional[int] = None) -> str:
    """The card's one line on the training corpus: its source and licence for the known corpora, its
    name otherwise (a datasets object by its builder, never its repr)."""
    from .corpus import corpus_name

    size = f", {words:,} words" if words is not None else ""
    name = corpus_name(dataset)
    if isinstance(dataset, str) and dataset.startswith("wikitext"):
        return f"WikiText-2 (Merity et al. 2016), train split{size}; text from English Wikipedia, CC BY-SA 3.0."
    if dataset == "ptb":
        return f"Penn Treebank (Mikolov's language-modelling version), train split{size}; research use."
    return f"`{name}`, train split{size}."


def _dataset_description(dataset) -> str:
    """How the card's text names the corpus: a Hub id or a known name as it is, a local file or folder
    as a local corpus (it is left out of the `datasets:` metadata)."""
    from .corpus import _looks_like_path, corpus_name

    if not isinstance(dataset, str):
        return corpus_name(dataset)
    if dataset in HUB_DATASETS or _hub_dataset_id(dataset):
        return dataset
    if os.path.exists(os.path.expanduser(dataset)) or _looks_like_path(dataset):
        return f"the local corpus `{dataset}` (not a Hub dataset)"
    return dataset


def render_model_card(
    family: str,
    *,
    model_name: str,
    dataset,
    hyperparameters: dict,
    results: dict,
    extra: dict,
    tags: tuple = ("word-embeddings",),
    task: dict | None = None,
    eval_results: tuple = WORD_VECTOR_RESULTS,
    pipeline_tag: str | None = None,
) -> str:
    """Fill `model_cards/<family>.md` (a `string.Template`) and prepend YAML metadata for the Hub.

    `eval_results` lists (results key, dataset name, dataset type, metric type, label[, results key
    of the out-of-vocabulary percent]) for the card's `model-index`; word-vector families keep the
    default. A score is published there only when it is a finite number and, for entries with the
    sixth field, at least MIN_MODEL_INDEX_COVERAGE percent of its set is in the vocabulary; a skipped
    evaluation (``*_skipped`` in `results`, no score) is not published. The metadata's `metrics` list
    the published metric types. Templates may use ``$min_coverage``.

    `datasets:` names Hub dataset ids only (a known corpus by its Hub id); a local file or folder or
    a datasets object is left out of it and described in the card's text (``$dataset``) instead.
    `pipeline_tag` defaults to the task's type: feature-extraction for word vectors, fill-mask for
    BERT. The YAML is plain: no anchors or aliases.
    """
    task = task or {"type": "feature-extraction", "name": "Word similarity and analogy"}
    metadata = {
        "library_name": "hf-pretrain",
        "pipeline_tag": pipeline_tag or task.get("type") or "feature-extraction",
        "license": "cc-by-sa-3.0" if isinstance(dataset, str) and dataset.startswith("wikitext") else "apache-2.0",
        "tags": ["hf-pretrain", family, *tags],
    }
    hub_id = _hub_dataset_id(dataset)
    if hub_id is not None:
        metadata["datasets"] = [hub_id]
    index = _model_index(model_name, task, results, eval_results)
    if index:
        metadata["metrics"] = sorted({metric["type"] for result in index[0]["results"] for metric in result["metrics"]})
        metadata["model-index"] = index
    rows = "\n".join(f"| `{k}` | {v} |" for k, v in hyperparameters.items())
    # A score kept out of the model-index for its coverage stays in the table, the run's full record,
    # labelled with the reason, so a reader sees both the number and how little it covers.
    low_coverage = {}
    for entry in eval_results:
        reason = _left_out_of_index(results, entry)
        if reason and reason.startswith("in-vocabulary coverage"):
            low_coverage[entry[0]] = reason
    result_rows = "\n".join(
        f"| {k}{f' ({low_coverage[k]})' if k in low_coverage else ''} | "
        + (f"{v:.4f}" if isinstance(v, float) else str(v).replace("|", "\\|"))
        + " |"
        for k, v in results.items()
        if not isinstance(v, (list, dict))  # curves and per-section details live in all_results.json
    )
    template = string.Template((CARD_DIR / f"{family}.md").read_text(encoding="utf-8"))
    body = template.safe_substitute(
        model_name=model_name,
        dataset=_dataset_description(dataset),
        hyperparameters=rows,
        results=result_rows,
        hardware=f"{platform.machine()} CPU, {os.cpu_count()} cores" if not extra.get("device") else extra["device"],
        **{"min_coverage": f"{MIN_MODEL_INDEX_COVERAGE:g}", **{k: v for k, v in extra.items() if k != "device"}},
    )
    return "---\n" + yaml.dump(metadata, Dumper=_PlainDumper, sort_keys=False) + "---\n\n" + body
