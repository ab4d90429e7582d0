"""The word2vec recipe: corpus → vocabulary → batches → model → shared loop → evaluation → folder."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Optional

import torch
from accelerate.utils import set_seed

from ..core.arguments import config_from_arguments
from ..core.corpus import corpus_name
from ..core.distributed import empty_loss, shard_rows
from ..core.loop import TrainingArguments, linear_decay, train_loop
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
from . import Word2VecConfig, Word2VecModel
from .data import D2LWord2VecData, WindowBatches
from .sgd import sgd_step


@dataclass
class Word2VecArguments(EvaluationArguments):
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
    unk_policy: str = field(default="drop", metadata={"help": "'drop' unknown words from training or 'keep' <unk>."})
    lowercase: bool = field(default=False, metadata={"help": "Lower-case the corpus."})
    architecture: str = field(default="skipgram", metadata={"help": "skipgram or cbow."})
    loss: str = field(default="negative_sampling", metadata={"help": "negative_sampling or hierarchical_softmax."})
    cbow_combiner: str = field(default="mean", metadata={"help": "mean or sum of the context vectors (CBOW)."})
    embedding_dim: int = field(default=100, metadata={"help": "Vector size."})
    window: int = field(default=5, metadata={"help": "Maximum context distance."})
    shrink_windows: bool = field(default=True, metadata={"help": "Dynamic windows drawn from 1..window."})
    num_negatives: int = field(default=5, metadata={"help": "Noise words per positive (negative sampling)."})
    ns_exponent: float = field(default=0.75, metadata={"help": "Noise distribution exponent."})
    subsample: float = field(default=1e-3, metadata={"help": "Subsampling threshold t (0: off)."})
    sample_rule: str = field(default="word2vec", metadata={"help": "word2vec ((sqrt(f/t)+1)t/f) or d2l (sqrt(t/f))."})
    initializer: str = field(default="word2vec", metadata={"help": "word2vec (uniform/zero) or xavier_uniform (d2l)."})
    negative_sharing: int = field(default=1, metadata={"help": "CBOW NS: centres sharing one draw of noise words."})
    max_row_updates: int = field(
        default=32,
        metadata={"help": "Scale a row's summed update in one batch down to this many updates' worth (0: off)."},
    )


def _config(args: Word2VecArguments, vocab_size: int) -> Word2VecConfig:
    return config_from_arguments(Word2VecConfig, args, renamed={"sample": "subsample"}, vocab_size=vocab_size)


def train_word2vec(args: Word2VecArguments, training: TrainingArguments) -> dict:
    with claim_output_dir(training, "word2vec"):
        return _train_word2vec(args, training)


def _train_word2vec(args: Word2VecArguments, training: TrainingArguments) -> dict:
    repo_id = check_hub_access(training, training.output_dir)
    check_evaluation_files(args)
    accelerator = make_accelerator(training)
    set_threads(accelerator, training.num_threads)
    set_seed(training.seed)
    _check_optimizer(args, training)  # everything cheap is validated before the corpus is read

    texts = training_text(args.dataset, args.text_column, args.streaming, config_name=args.dataset_config)
    vocab = build_vocabulary(
        texts,
        min_count=args.min_count,
        max_vocab_size=args.max_vocab_size,
        unk_policy=args.unk_policy,
        lowercase=args.lowercase,
    )
    corpus = encode_corpus(vocab, texts)
    config = _config(args, vocab_size=len(vocab))
    if training.learning_rate is None:
        # word2vec.c's / gensim's defaults for SGD, the book's for Adam.
        training.learning_rate = (
            0.002 if training.optimizer == "adam" else (0.05 if config.architecture == "cbow" else 0.025)
        )
    plan = _sgd_plan if training.optimizer == "sgd" else _adam_plan
    model, epoch_batches, step = plan(accelerator, Word2VecModel(config), corpus, vocab.training_counts, training)
    core = accelerator.unwrap_model(model)

    if training.report_to:
        accelerator.init_trackers("word2vec", config=without_secrets({**asdict(args), **asdict(training)}))
    results = train_loop(
        accelerator,
        training,
        models=[model],
        epoch_batches=epoch_batches,
        step=step,
        words_per_epoch=corpus.raw_words,
        family="word2vec",
        identity=run_identity(args, training, vocabulary=vocabulary_of(vocab), dataset=args.dataset),
        distribute="interleave" if training.optimizer == "sgd" else "split",
    )
    results.update(vocab_size=len(vocab), corpus_words=corpus.raw_words, seed=training.seed)
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
        "word2vec",
        results,
    )
    return results


def _check_optimizer(args: Word2VecArguments, training: TrainingArguments) -> None:
    probe = _config(args, vocab_size=2)
    if training.optimizer == "adagrad":
        raise ValueError("optimizer 'adagrad' is GloVe's; word2vec trains with 'sgd' or 'adam'")
    if training.optimizer == "adam" and (probe.architecture, probe.loss) != ("skipgram", "negative_sampling"):
        raise ValueError(
            "optimizer 'adam' runs the book's pipeline, which covers skip-gram with negative sampling only"
        )
    if training.optimizer == "adam" and args.streaming:
        raise ValueError(
            "--streaming builds examples a chunk at a time, which the fast path does: use --optimizer sgd "
            "(the book's pipeline with Adam keeps all its examples in memory)"
        )


def _sgd_plan(accelerator, model: Word2VecModel, corpus, counts, training: TrainingArguments):
    """word2vec.c's way: padded windows built on the device, closed-form SGD with linear decay."""
    config, device = model.config, accelerator.device
    schedule = linear_decay(training.learning_rate, training.min_learning_rate)
    batches = WindowBatches(
        corpus,
        counts,
        window=config.window,
        batch_size=training.batch_size,
        loss=config.loss,
        num_negatives=config.num_negatives,
        ns_exponent=config.ns_exponent,
        sample=config.sample,
        sample_rule=config.sample_rule,
        shrink_windows=config.shrink_windows,
        negative_sharing=config.negative_sharing,
        device=device,
    )
    model = prepare_sparse_model(accelerator, model)
    core = accelerator.unwrap_model(model)

    def epoch_batches(epoch, generator):
        return batches.epoch(generator)

    def step(batch, progress):
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        return sgd_step(core, **batch, learning_rate=schedule(progress))

    return model, epoch_batches, step


def _adam_plan(accelerator, model: Word2VecModel, corpus, counts, training: TrainingArguments):
    """The book's way: its padded minibatches of centres, contexts and noise words, and Adam."""
    config, device = model.config, accelerator.device
    world, rank = accelerator.num_processes, accelerator.process_index
    data = D2LWord2VecData(
        corpus,
        counts,
        window=config.window,
        num_negatives=config.num_negatives,
        sample=config.sample,
        sample_rule=config.sample_rule,
        ns_exponent=config.ns_exponent,
        generator=torch.Generator().manual_seed(training.seed),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=training.learning_rate)
    model, optimizer = accelerator.prepare(model, optimizer)
    num_batches = data.num_batches(training.batch_size * world)

    def epoch_batches(epoch, generator):
        # Several processes: each draws the same global batch and trains on its rows (see distributed).
        for index, batch in enumerate(data.batches(training.batch_size * world, generator)):
            batch["words"] = round(corpus.raw_words * (index + 1) / num_batches)
            yield batch

    def step(batch, progress):
        size = len(batch["centers"])
        batch = {k: v.to(device, non_blocking=True) for k, v in shard_rows(batch, rank, world).items()}
        rows = len(batch["centers"])
        if rows == 0:
            accelerator.backward(empty_loss(model))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            return torch.zeros(()), torch.zeros(())
        out = model(
            input_ids=batch["centers"],
            target_ids=batch["contexts_negatives"],
            labels=batch["labels"],
            target_mask=batch["masks"],
        )
        # The book averages the per-example losses over the batch: weight this slice's mean by its
        # share of the global batch, times the processes DDP's gradient mean divides by.
        accelerator.backward(out.loss * (rows * world / size))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return out.loss.detach() * rows, torch.tensor(float(rows))

    return model, epoch_batches, step


def _write(folder, model, vocab, vectors, args, training, results):
    plot_training(results, os.path.join(folder, "loss.png"), title=f"word2vec on {corpus_name(args.dataset)}")
    model.save_pretrained(folder)
    vocab.save(folder)
    results["precision"] = str(model.dtype).removeprefix("torch.")  # of the saved weights
    with open(os.path.join(folder, "all_results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    config = model.config
    hyperparameters = {
        "architecture": config.architecture,
        "loss": config.loss,
        "embedding_dim": config.embedding_dim,
        "window": config.window,
        "num_negatives": config.num_negatives,
        "subsample": config.sample,
        "sample_rule": config.sample_rule,
        "min_count": args.min_count,
        "epochs": training.epochs,
        "batch_size": training.batch_size,
        "optimizer": training.optimizer,
        "learning_rate": training.learning_rate,
        "seed": training.seed,
        "vocab_size": len(vocab),
    }
    card = render_model_card(
        "word2vec",
        model_name=os.path.basename(os.path.abspath(training.output_dir)),
        dataset=args.dataset,
        hyperparameters=hyperparameters,
        results={k: v for k, v in results.items() if k != "epoch_losses"},
        extra={
            "architecture": config.architecture,
            "loss": config.loss,
            **card_examples(vectors),
            "runtime": f"{results['train_runtime']:.1f} s ({results['train_words_per_second']:,.0f} words/s)",
            "corpus_note": corpus_note(args.dataset, results["corpus_words"]),
        },
    )
    with open(os.path.join(folder, "README.md"), "w", encoding="utf-8") as f:
        f.write(card)
