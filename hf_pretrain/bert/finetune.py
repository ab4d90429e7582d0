"""Fine-tune a pretrained BERT folder as a text classifier (the book's step after pretraining).

The loop is transformers' `Trainer` with `TrainingArguments`, not this package's own loop: sequence
classification is the task `Trainer` is built and maintained for (padding collator, evaluation,
learning-rate schedule, mixed precision, and it runs unchanged under `accelerate launch` on one or
many devices), so nothing here re-implements it. Data come from `datasets`: a Hub id (with
`--dataset_config`), a local csv / tsv / jsonl / json / parquet file, a `save_to_disk` folder, or
(from Python) a `Dataset` / `DatasetDict`.

Every bad input (a missing column, fewer than two labels, a folder that is not a BERT model, an
output folder that already holds a model) is refused with a one-line `FinetuneError` before training.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

import numpy as np
import torch
import yaml

from ..core.corpus import corpus_name, is_saved_dataset
from ..core.output_dir import claim_output_dir, write_folder_atomically

BERT_MODEL_TYPES = ("hfp_bert", "bert")
BUILDERS = {".csv": "csv", ".tsv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}


class FinetuneError(ValueError):
    """The fine-tuning run cannot start as asked: refused before any training."""


@dataclass
class ClassifierArguments:
    model_name_or_path: str = field(metadata={"help": "A BERT folder (pretrain_bert.py's output) or Hub id."})
    dataset: str = field(
        metadata={
            "help": "A Hub dataset id, a local csv/tsv/jsonl/json/parquet file or a save_to_disk folder "
            "(from Python also a datasets Dataset or DatasetDict)."
        }
    )
    dataset_config: Optional[str] = field(default=None, metadata={"help": "Configuration of a Hub dataset."})
    text_column: str = field(default="text", metadata={"help": "Column holding the text."})
    text_pair_column: Optional[str] = field(
        default=None, metadata={"help": "Column holding the second text of a pair (e.g. a hypothesis)."}
    )
    label_column: str = field(default="label", metadata={"help": "Column holding the label (strings or ints)."})
    max_length: Optional[int] = field(
        default=None, metadata={"help": "Tokens per example (default: the tokenizer's limit, at most 512)."}
    )
    validation_split: float = field(
        default=0.1, metadata={"help": "Share of train held out when the dataset has no validation/test split."}
    )
    dropout: Optional[float] = field(
        default=None, metadata={"help": "Dropout on the encoder and classifier (default: the model's)."}
    )


@dataclass
class FinetuneTrainingArguments:
    output_dir: str = field(default="outputs/bert-classifier", metadata={"help": "Where the classifier is written."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Replace a model already in output_dir."})
    seed: int = field(default=42, metadata={"help": "Seed of the split, the head's initialisation and shuffling."})
    epochs: float = field(default=3.0, metadata={"help": "Passes over the training rows."})
    learning_rate: float = field(default=1e-4, metadata={"help": "AdamW learning rate (the book: 1e-4)."})
    batch_size: int = field(default=32, metadata={"help": "Examples per step and device."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    num_threads: Optional[int] = field(default=None, metadata={"help": "torch CPU threads (default: torch's)."})


def finetune_bert(args: ClassifierArguments, training: FinetuneTrainingArguments) -> dict:
    """Fine-tune `args.model_name_or_path` on `args.dataset`; write the classifier to `training.output_dir`
    and return its results (those of all_results.json)."""
    _check_paths(args, training)
    claim = SimpleNamespace(
        output_dir=training.output_dir, overwrite_output_dir=training.overwrite_output_dir, resume_from_checkpoint=None
    )
    try:
        with claim_output_dir(claim, "hfp_bert"):
            return _finetune(args, training)
    except FinetuneError:
        raise
    except ValueError as error:  # OutputDirError and friends: the same one-line contract
        raise FinetuneError(str(error).splitlines()[0]) from error


def _check_paths(args: ClassifierArguments, training: FinetuneTrainingArguments) -> None:
    if os.path.isdir(args.model_name_or_path) and os.path.exists(training.output_dir):
        if os.path.samefile(args.model_name_or_path, training.output_dir):
            raise FinetuneError(
                f"--output_dir {training.output_dir} is the pretrained model's folder: choose another --output_dir"
            )
    if not 0.0 < args.validation_split < 1.0:
        raise FinetuneError(f"--validation_split must be between 0 and 1, got {args.validation_split}")


def _finetune(args: ClassifierArguments, training: FinetuneTrainingArguments) -> dict:
    # hfp_bert is registered with the Auto classes on `import hf_pretrain`, done by importing this module.
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    if training.num_threads:
        torch.set_num_threads(training.num_threads)
    config = _bert_config(args.model_name_or_path)
    train, held_out, held_out_name = _load_splits(args, training.seed)
    names, label_of = _labels(train, held_out, args)
    tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path)
    max_length = _max_length(args, tokenizer, config)

    def encode(batch):
        texts = [args.text_column] + ([args.text_pair_column] if args.text_pair_column else [])
        encoded = tokenizer(*(batch[c] for c in texts), truncation=True, max_length=max_length)
        encoded["labels"] = [label_of[value] for value in batch[args.label_column]]
        return encoded

    columns = train.column_names
    train_set = train.map(encode, batched=True, remove_columns=columns, desc="Tokenizing train")
    eval_set = held_out.map(encode, batched=True, remove_columns=held_out.column_names, desc="Tokenizing eval")

    set_seed(training.seed)
    overrides = {}
    if args.dropout is not None:
        overrides = dict(
            hidden_dropout_prob=args.dropout, attention_probs_dropout_prob=args.dropout, classifier_dropout=args.dropout
        )
    model = AutoModelForSequenceClassification.from_pretrained(
        args.model_name_or_path,
        num_labels=len(names),
        id2label=dict(enumerate(names)),
        label2id={name: i for i, name in enumerate(names)},
        **overrides,
    )
    trainer_args = TrainingArguments(
        output_dir=training.output_dir,
        num_train_epochs=training.epochs,
        learning_rate=training.learning_rate,
        weight_decay=training.weight_decay,
        per_device_train_batch_size=training.batch_size,
        per_device_eval_batch_size=training.batch_size,
        seed=training.seed,
        eval_strategy="epoch",
        logging_strategy="epoch",
        save_strategy="no",  # no Trainer checkpoints left in the folder
        report_to="none",
        dataloader_pin_memory=torch.cuda.is_available(),
    )
    trainer = Trainer(
        model=model,
        args=trainer_args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=_accuracy_metric(),
    )
    train_output = trainer.train()
    metrics = trainer.evaluate()
    results = {
        "eval_accuracy": float(metrics["eval_accuracy"]),
        "eval_loss": float(metrics["eval_loss"]),
        "train_loss": float(train_output.training_loss),
        "train_runtime": float(train_output.metrics.get("train_runtime", 0.0)),
        "num_labels": len(names),
        "labels": names,
        "train_examples": len(train_set),
        "eval_examples": len(eval_set),
        "eval_split": held_out_name,
        "majority_baseline": _majority(eval_set["labels"]),
        "max_length": max_length,
        "seed": training.seed,
        "epochs": training.epochs,
        "learning_rate": training.learning_rate,
        "batch_size": training.batch_size,
        "base_model": args.model_name_or_path,
        "dataset": corpus_name(args.dataset),
    }
    if trainer.is_world_process_zero():

        def write(folder):
            trainer.save_model(folder)
            # Trainer also pickles its TrainingArguments there; the folder keeps no pickle (the
            # hyperparameters are in all_results.json).
            pickled = os.path.join(folder, "training_args.bin")
            if os.path.exists(pickled):
                os.remove(pickled)
            tokenizer.save_pretrained(folder)
            with open(os.path.join(folder, "all_results.json"), "w", encoding="utf-8") as f:
                json.dump(results, f, indent=2)
            with open(os.path.join(folder, "README.md"), "w", encoding="utf-8") as f:
                f.write(model_card(args, results, os.path.basename(os.path.abspath(training.output_dir))))

        write_folder_atomically(training.output_dir, write)
    return results


def _bert_config(path: str):
    from transformers import AutoConfig

    if os.path.isdir(path) and not os.path.isfile(os.path.join(path, "config.json")):
        raise FinetuneError(f"--model_name_or_path {path} is not a BERT folder: it has no config.json")
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError, KeyError) as error:
        raise FinetuneError(f"--model_name_or_path {path}: not a BERT model ({str(error).splitlines()[0]})") from None
    if config.model_type not in BERT_MODEL_TYPES:
        raise FinetuneError(
            f"--model_name_or_path {path} is not a BERT folder: its model_type is {config.model_type!r} "
            f"(expected {' or '.join(BERT_MODEL_TYPES)})"
        )
    return config


def _load_splits(args: ClassifierArguments, seed: int):
    """(train, held-out, the held-out split's name): the dataset's validation or test split when it has
    one, else a seeded slice of train."""
    import datasets

    if isinstance(args.dataset, (datasets.Dataset, datasets.DatasetDict)):  # handed in from Python
        data = args.dataset
        if isinstance(data, datasets.Dataset):
            data = datasets.DatasetDict({"train": data})
        return _split_held_out(data, args, seed, corpus_name(args.dataset))
    source = args.dataset
    extension = os.path.splitext(source)[1].lower()
    try:
        if os.path.isdir(source) and is_saved_dataset(Path(source)):
            data = datasets.load_from_disk(source)
            if isinstance(data, datasets.Dataset):
                data = datasets.DatasetDict({"train": data})
        elif os.path.isfile(source):
            if extension not in BUILDERS:
                raise FinetuneError(f"--dataset {source}: unknown file type (use {', '.join(BUILDERS)})")
            extra = {"delimiter": "\t"} if extension == ".tsv" else {}
            data = datasets.load_dataset(BUILDERS[extension], data_files={"train": source}, **extra)
        elif extension in BUILDERS:
            raise FinetuneError(f"--dataset {source}: file not found")
        else:
            data = datasets.load_dataset(source, args.dataset_config)
    except FinetuneError:
        raise
    except Exception as error:  # datasets raises many kinds; one line names the dataset
        raise FinetuneError(f"--dataset {source} could not be loaded: {str(error).splitlines()[0]}") from None
    return _split_held_out(data, args, seed, source)


def _split_held_out(data, args: ClassifierArguments, seed: int, source: str):
    if "train" not in data:
        raise FinetuneError(f"--dataset {source} has no train split (splits: {', '.join(data)})")
    for name in ("validation", "test"):
        if name in data and len(data[name]):
            _check_columns(data[name], args, f"{source} ({name} split)")
            _check_columns(data["train"], args, source)
            return data["train"], data[name], name
    _check_columns(data["train"], args, source)
    split = data["train"].train_test_split(test_size=args.validation_split, seed=seed)
    return split["train"], split["test"], f"{args.validation_split:g} of train (seed {seed})"


def _check_columns(split, args: ClassifierArguments, where: str) -> None:
    wanted = [("--text_column", args.text_column), ("--label_column", args.label_column)]
    if args.text_pair_column:
        wanted.insert(1, ("--text_pair_column", args.text_pair_column))
    for flag, column in wanted:
        if column not in split.column_names:
            raise FinetuneError(
                f"{flag} {column!r} is not a column of {where}; its columns are: {', '.join(split.column_names)}"
            )


def _labels(train, held_out, args: ClassifierArguments):
    """The label names in id order and the map from a row's label value to its id. A ClassLabel
    column keeps its own names and ids; other values (strings or ints) are sorted."""
    from datasets import ClassLabel

    feature = train.features[args.label_column]
    if isinstance(feature, ClassLabel):
        names = list(feature.names)
        label_of = {i: i for i in range(len(names))}
        used = set(train[args.label_column])
        if -1 in used:
            raise FinetuneError(
                f"{corpus_name(args.dataset)}: train has rows with no label (-1) in {args.label_column!r}"
            )
    else:
        values = set(train[args.label_column]) | set(held_out[args.label_column])
        if None in values:
            raise FinetuneError(f"{corpus_name(args.dataset)}: some rows have no value in {args.label_column!r}")
        if any(isinstance(v, float) and not float(v).is_integer() for v in values):
            raise FinetuneError(
                f"{corpus_name(args.dataset)}: {args.label_column!r} holds fractional numbers: classification needs class labels"
            )
        try:
            ordered = sorted(values)
        except TypeError:
            ordered = sorted(values, key=str)
        names = [str(v) for v in ordered]
        label_of = {v: i for i, v in enumerate(ordered)}
    if len(names) < 2:
        raise FinetuneError(
            f"{corpus_name(args.dataset)}: {args.label_column!r} has {len(names)} distinct label(s) ({', '.join(names)}); "
            "classification needs at least 2"
        )
    held = set(held_out[args.label_column]) - set(label_of)
    if held:
        raise FinetuneError(
            f"{corpus_name(args.dataset)}: held-out labels not in {args.label_column!r}'s classes: {sorted(held)}"
        )
    return names, label_of


def _max_length(args: ClassifierArguments, tokenizer, config) -> int:
    limit = min(config.max_position_embeddings, tokenizer.model_max_length)
    if args.max_length is None:
        return min(limit, 512)
    if not 2 <= args.max_length <= limit:
        raise FinetuneError(f"--max_length must be between 2 and the model's {limit} positions, got {args.max_length}")
    return args.max_length


def _accuracy_metric():
    try:
        import evaluate

        metric = evaluate.load("accuracy")
        compute = metric.compute
    except Exception:
        # evaluate fetches its "accuracy" script from the Hub, so offline (HF_HUB_OFFLINE=1, nothing
        # cached) it does not load: the same number, the share of correct predictions, with numpy.
        def compute(predictions, references):
            return {"accuracy": float(np.mean(np.asarray(predictions) == np.asarray(references)))}

    def compute_metrics(prediction):
        logits, labels = prediction
        return {"accuracy": float(compute(predictions=np.argmax(logits, axis=-1), references=labels)["accuracy"])}

    return compute_metrics


def _majority(labels) -> float:
    counts = np.bincount(np.asarray(labels))
    return float(counts.max() / counts.sum())


def _is_local(path) -> bool:
    """True for a local file or folder and for a datasets object: neither is a Hub id."""
    if not isinstance(path, str):
        return True
    return os.path.exists(path) or path.startswith((".", "/", "~"))


def model_card(args: ClassifierArguments, results: dict, name: str) -> str:
    """A short card: YAML metadata for the Hub, then what the classifier is and how it scored."""
    metadata = {
        "library_name": "transformers",
        "pipeline_tag": "text-classification",
        "tags": ["hf-pretrain", "bert", "text-classification"],
        "metrics": ["accuracy"],
    }
    if not _is_local(args.model_name_or_path):
        metadata["base_model"] = args.model_name_or_path  # a Hub id; a local folder is described below
    if not _is_local(args.dataset):
        metadata["datasets"] = [args.dataset]
    pair = f" and `{args.text_pair_column}`" if args.text_pair_column else ""
    lines = [
        "---",
        yaml.safe_dump(metadata, sort_keys=False).rstrip(),
        "---",
        "",
        f"# {name}",
        "",
        f"A BERT text classifier fine-tuned with `recipes/finetune_bert.py` (hf-pretrain, transformers' `Trainer`) "
        f"from `{args.model_name_or_path}` on `{corpus_name(args.dataset)}` (text `{args.text_column}`{pair}, "
        f"label `{args.label_column}`).",
        "",
        f"Labels: {', '.join(results['labels'])}.",
        "",
        "| eval_accuracy | majority class | eval_loss | train_loss | train rows | eval rows (split) |",
        "|---|---|---|---|---|---|",
        f"| {results['eval_accuracy']:.4f} | {results['majority_baseline']:.4f} | {results['eval_loss']:.4f} "
        f"| {results['train_loss']:.4f} | {results['train_examples']} | {results['eval_examples']} "
        f"({results['eval_split']}) |",
        "",
        f"Hyperparameters: epochs {results['epochs']:g}, learning rate {results['learning_rate']:g}, "
        f"batch size {results['batch_size']}, max_length {results['max_length']}, seed {results['seed']}.",
        "",
        "```python",
        "import hf_pretrain  # registers the model class (or pass trust_remote_code)",
        "from transformers import pipeline",
        "",
        f'classify = pipeline("text-classification", model="{name}")',
        "```",
        "",
    ]
    return "\n".join(lines)
