"""Hub-ready output folders: weights, config, tokenizer, results and a model card, written atomically."""

from __future__ import annotations

import json
import os
import platform
import shutil
import string
import tempfile
from pathlib import Path
from typing import Callable

import yaml

CARD_DIR = Path(__file__).resolve().parent.parent / "model_cards"
MODEL_FILES = ("config.json", "model.safetensors")


class OutputDirError(ValueError):
    pass


def check_output_dir(output_dir: str, overwrite: bool, model_type: str, resuming: bool = False) -> None:
    """Refuse, before any training, to clobber a different model that already lives in `output_dir`."""
    config = os.path.join(output_dir, "config.json")
    if overwrite or resuming or not os.path.isfile(config):
        return
    try:
        with open(config, encoding="utf-8") as f:
            existing = json.load(f).get("model_type")
    except (OSError, ValueError):
        existing = "an unreadable config"
    raise OutputDirError(
        f"{output_dir} already holds a model ({existing}, this run trains {model_type}); "
        "pass --overwrite_output_dir to replace it or choose another --output_dir"
    )


def write_folder_atomically(output_dir: str, write: Callable[[str], None]) -> None:
    """Let `write(tmp)` fill a temporary sibling, then swap it into place: a crash leaves either the
    old folder or the new one, never a half-written model. Checkpoints already in `output_dir` are
    carried over."""
    output_dir = os.path.abspath(output_dir)
    parent = os.path.dirname(output_dir)
    os.makedirs(parent, exist_ok=True)
    temporary = tempfile.mkdtemp(prefix=f".{os.path.basename(output_dir)}.", dir=parent)
    try:
        write(temporary)
        old = None
        if os.path.exists(output_dir):
            for keep in ("checkpoints", "runs"):
                if os.path.isdir(os.path.join(output_dir, keep)):
                    os.replace(os.path.join(output_dir, keep), os.path.join(temporary, keep))
            old = temporary + ".old"
            os.replace(output_dir, old)
        os.replace(temporary, output_dir)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


WORD_VECTOR_RESULTS = (
    ("wordsim353_spearman", "WordSim-353", "wordsim353", "spearmanr", "Spearman correlation"),
    ("google_analogy_accuracy", "Google analogy", "google_analogy", "accuracy", "Accuracy (3CosAdd)"),
)


def _model_index(model_name: str, task: dict, results: dict, entries: tuple) -> list:
    found = [
        {
            "task": task,
            "dataset": {"type": ds_type, "name": ds_name},
            "metrics": [{"type": metric, "value": round(float(results[key]), 4), "name": label}],
        }
        for key, ds_name, ds_type, metric, label in entries
        if results.get(key) is not None
    ]
    return [{"name": model_name, "results": found}] if found else []


def render_model_card(
    family: str,
    *,
    model_name: str,
    dataset: str,
    hyperparameters: dict,
    results: dict,
    extra: dict,
    tags: tuple = ("word-embeddings",),
    task: dict | None = None,
    eval_results: tuple = WORD_VECTOR_RESULTS,
) -> str:
    """Fill `model_cards/<family>.md` (a `string.Template`) and prepend YAML metadata for the Hub.

    `eval_results` lists (results key, dataset name, dataset type, metric type, label) for the
    card's `model-index`; word-vector families keep the default.
    """
    metadata = {
        "library_name": "hf-pretrain",
        "license": "cc-by-sa-3.0" if dataset.startswith("wikitext") else "apache-2.0",
        "tags": ["hf-pretrain", family, *tags],
        "datasets": [{"wikitext-2": "Salesforce/wikitext", "ptb": "ptb-text-only/ptb_text_only"}.get(dataset, dataset)],
        "metrics": sorted({entry[3] for entry in eval_results}),
    }
    task = task or {"type": "feature-extraction", "name": "Word similarity and analogy"}
    index = _model_index(model_name, task, results, eval_results)
    if index:
        metadata["model-index"] = index
    rows = "\n".join(f"| `{k}` | {v} |" for k, v in hyperparameters.items())
    result_rows = "\n".join(
        f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |"
        for k, v in results.items()
        if not isinstance(v, (list, dict))
    )
    template = string.Template((CARD_DIR / f"{family}.md").read_text(encoding="utf-8"))
    body = template.safe_substitute(
        model_name=model_name,
        dataset=dataset,
        hyperparameters=rows,
        results=result_rows,
        hardware=f"{platform.machine()} CPU, {os.cpu_count()} cores" if not extra.get("device") else extra["device"],
        **{k: v for k, v in extra.items() if k != "device"},
    )
    return "---\n" + yaml.safe_dump(metadata, sort_keys=False) + "---\n\n" + body
