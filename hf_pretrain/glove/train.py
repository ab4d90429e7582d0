"""The GloVe recipe: corpus → vocabulary → co-occurrence matrix → model → shared loop → evaluation → folder."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Optional

from accelerate.utils import set_seed

from ..core.arguments import config_from_arguments
from ..core.corpus import corpus_name
from ..core.loop import TrainingArguments, train_loop
from ..core.output_dir import claim_output_dir
from ..core.publish import (
    card_examples,
    check_hub_access,
    corpus_note,
    publish,
    render_model_card,
    without_secrets,
)
from ..core.resume import run_identity, vocabulary_of
from ..core.runtime import finish_training, make_accelerator, prepare_sparse_model, set_threads
from ..core.streaming import build_vocabulary, encode_corpus, training_text
from ..core.visualization import plot_training
from ..vectors.evaluation import EvaluationArguments, check_evaluation_files, evaluate_vectors
from ..vectors.keyed import WordVectors
from . import GloVeConfig, GloVeModel
from .adagrad import adagrad_step
from .cooccurrence import CooccurrenceBatches, build_cooccurrence


@dataclass
class GloVeArguments(EvaluationArguments):
    dataset: str = field(default="wikitext-2", metadata={"help": "wikitext-2, ptb, a text file/folder or a Hub id."})
    text_column: Optional[str] = field(default=None, metadata={"help": "Text column of a Hub dataset."})
    dataset_config: Optional[str] = field(
        default=None, metadata={"help": "Configuration (subset) of a Hub dataset, as in load_dataset(id, config)."}
    )
    streaming: bool = field(
        default=False,
        metadata={"help": "Read the corpus as a stream, a chunk at a time, instead of loading it into memory."},
    )
    min_count: int = field(default=5, metadata={"help": "Drop words seen fewer times."})
    max_vocab_size: Optional[int] = field(default=None, metadata={"help": "Keep at most this many words."})
    lowercase: bool = field(default=False, metadata={"help": "Lower-case the corpus."})
    embedding_dim: int = field(default=100, metadata={"help": "Vector size."})
    window: int = field(default=10, metadata={"help": "Maximum distance between co-occurring words."})
    symmetric: bool = field(default=True, metadata={"help": "Count left and right context (else left only)."})
    distance_weighting: bool = field(default=True, metadata={"help": "A pair d words apart counts 1/d."})
    x_max: float = field(default=10.0, metadata={"help": "Count from which a pair gets full weight."})
    alpha: float = field(default=0.75, metadata={"help": "Exponent of the weighting (x / x_max)^alpha."})
    export: str = field(default="sum", metadata={"help": "Exported vectors: sum (W + C), center (W) or concat."})


@dataclass
class GloVeTrainingArguments(TrainingArguments):
    """The shared training arguments with GloVe's defaults (glove.c's AdaGrad, batches of pairs)."""

    output_dir: str = field(default="outputs/glove", metadata={"help": "Where the Hub-ready folder is written."})
    epochs: int = field(default=15, metadata={"help": "Passes over the co-occurrence matrix."})
    batch_size: int = field(default=65536, metadata={"help": "Co-occurrence pairs (non-zeros) per step."})
    optimizer: str = field(default="adagrad", metadata={"help": "GloVe trains with 'adagrad' only, as glove.c."})
    learning_rate: Optional[float] = field(default=0.05, metadata={"help": "AdaGrad learning rate (glove.c's eta)."})


def _config(args: GloVeArguments, vocab_size: int) -> GloVeConfig:
    return config_from_arguments(GloVeConfig, args, vocab_size=vocab_size)


def train_glove(args: GloVeArguments, training: TrainingArguments) -> dict:
    with claim_output_dir(training, "glove"):
        return _train_glove(args, training)


def _train_glove(args: GloVeArguments, training: TrainingArguments) -> dict:
    repo_id = check_hub_access(training, training.output_dir)
    check_evaluation_files(args)
    # Validate everything cheap before the corpus is read.
    if training.optimizer != "adagrad":
        raise ValueError(
            f"GloVe trains with AdaGrad, as glove.c: optimizer must be 'adagrad', got {training.optimizer!r}"
        )
    _config(args, vocab_size=2)
    accelerator = make_accelerator(training)
    set_threads(accelerator, training.num_threads)
    set_seed(training.seed)

    texts = training_text(args.dataset, args.text_column, args.streaming, config_name=args.dataset_config)
    # glove.c's cooccur skips unknown words (the window spans them), so <unk> is never trained.
    vocab = build_vocabulary(
        texts, min_count=args.min_count, max_vocab_size=args.max_vocab_size, unk_policy="drop", lowercase=args.lowercase
    )
    corpus = encode_corpus(vocab, texts)
    config = _config(args, vocab_size=len(vocab))
    start = time.perf_counter()
    matrix = build_cooccurrence(
        corpus,
        len(vocab),
        window=config.window,
        symmetric=config.symmetric,
        distance_weighting=config.distance_weighting,
    )
    cooccurrence_seconds = time.perf_counter() - start
    batches = CooccurrenceBatches(matrix, training.batch_size)
    del matrix
    model = prepare_sparse_model(accelerator, GloVeModel(config))
    core = accelerator.unwrap_model(model)
    device = accelerator.device
    learning_rate = training.learning_rate or 0.05

    def epoch_batches(epoch, generator):
        return batches.epoch(generator)

    def step(batch, progress):
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        return adagrad_step(core, **batch, learning_rate=learning_rate)

    if training.report_to:
        accelerator.init_trackers("glove", config=without_secrets({**asdict(args), **asdict(training)}))
    results = train_loop(
        accelerator,
        training,
        models=[model],
        epoch_batches=epoch_batches,
        step=step,
        words_per_epoch=batches.num_pairs,
        family="glove",
        unit="pair",
        identity=run_identity(args, training, vocabulary=vocabulary_of(vocab), dataset=args.dataset),
    )
    results.update(
        cooccurrence_seconds=cooccurrence_seconds,
        nonzeros=batches.num_pairs,
        vocab_size=len(vocab),
        corpus_words=corpus.raw_words,
        seed=training.seed,
    )
    finish_training(accelerator)
    if not accelerator.is_main_process:
        return results

    vectors = WordVectors.from_model(core, vocab)
    results.update(evaluate_vectors(vectors, args))
    publish(
        training.output_dir,
        lambda tmp: _write(tmp, core, vocab, vectors, args, training, results),
        repo_id,
        training,
        "glove",
        results,
    )
    return results


def _write(folder, model, vocab, vectors, args, training, results):
    plot_training(results, os.path.join(folder, "loss.png"), title=f"GloVe on {corpus_name(args.dataset)}")
    model.save_pretrained(folder)
    vocab.save(folder)
    results["precision"] = str(model.dtype).removeprefix("torch.")  # of the saved weights
    with open(os.path.join(folder, "all_results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    config = model.config
    hyperparameters = {
        "embedding_dim": config.embedding_dim,
        "window": config.window,
        "symmetric": config.symmetric,
        "distance_weighting": config.distance_weighting,
        "x_max": config.x_max,
        "alpha": config.alpha,
        "export": config.export,
        "min_count": args.min_count,
        "epochs": training.epochs,
        "batch_size": training.batch_size,
        "optimizer": "adagrad",
        "learning_rate": training.learning_rate or 0.05,
        "seed": training.seed,
        "vocab_size": len(vocab),
    }
    card = render_model_card(
        "glove",
        model_name=os.path.basename(os.path.abspath(training.output_dir)),
        dataset=args.dataset,
        hyperparameters=hyperparameters,
        results={k: v for k, v in results.items() if k != "epoch_losses"},
        extra={
            **card_examples(vectors),
            "export_note": _EXPORT_NOTES[config.export],
            "runtime": (
                f"{results['cooccurrence_seconds']:.1f} s counting {results['nonzeros']:,} co-occurring pairs, "
                f"{results['train_runtime']:.1f} s training ({results['train_pairs_per_second']:,.0f} pairs/s)"
            ),
            "corpus_note": corpus_note(args.dataset, results["corpus_words"]),
        },
    )
    with open(os.path.join(folder, "README.md"), "w", encoding="utf-8") as f:
        f.write(card)


_EXPORT_NOTES = {
    "sum": "the sum of each word's centre and context vectors (W + C), as glove.c writes by default",
    "center": "each word's centre vector (W)",
    "concat": "each word's centre and context vectors concatenated ([W, C])",
}
