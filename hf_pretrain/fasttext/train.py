"""The fastText recipe: corpus → vocabulary → subwords → batches → model → shared loop → evaluation → folder.

The batches are word2vec's (`WindowBatches`); only the model differs, composing each word from its
subword rows.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np
import torch
from accelerate.utils import set_seed

from ..core.arguments import config_from_arguments
from ..core.corpus import corpus_name
from ..core.loop import TrainingArguments, linear_decay, train_loop
from ..core.output_dir import claim_output_dir
from ..core.publish import (
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
from ..word2vec.data import WindowBatches
from . import FastTextConfig, FastTextModel
from .sgd import ParallelSGD
from .subwords import bpe_subwords, char_ngram_subwords, train_bpe
from .vectors import BPE_FILE, FastTextVectors


@dataclass
class FastTextArguments(EvaluationArguments):
    dataset: str = field(default="wikitext-2", metadata={"help": "wikitext-2, ptb, a text file/folder or a Hub id."})
    text_column: Optional[str] = field(default=None, metadata={"help": "Text column of a Hub dataset."})
    dataset_config: Optional[str] = field(
        default=None, metadata={"help": "Configuration (subset) of a Hub dataset, as in load_dataset(id, config)."}
    )
    streaming: bool = field(
        default=False,
        metadata={"help": "Read the corpus as a stream, a chunk at a time, instead of loading it into memory."},
    )
    min_count: int = field(
        default=5, metadata={"help": "Drop words seen fewer times (they still get subword vectors)."}
    )
    max_vocab_size: Optional[int] = field(default=None, metadata={"help": "Keep at most this many words."})
    unk_policy: str = field(default="drop", metadata={"help": "'drop' unknown words from training or 'keep' <unk>."})
    lowercase: bool = field(default=False, metadata={"help": "Lower-case the corpus."})
    architecture: str = field(default="skipgram", metadata={"help": "skipgram or cbow."})
    loss: str = field(default="negative_sampling", metadata={"help": "negative_sampling or hierarchical_softmax."})
    embedding_dim: int = field(default=100, metadata={"help": "Vector size."})
    window: int = field(default=5, metadata={"help": "Maximum context distance."})
    shrink_windows: bool = field(default=True, metadata={"help": "Dynamic windows drawn from 1..window."})
    num_negatives: int = field(default=5, metadata={"help": "Noise words per positive (negative sampling)."})
    ns_exponent: float = field(default=0.75, metadata={"help": "Noise distribution exponent."})
    subsample: float = field(default=1e-4, metadata={"help": "Subsampling threshold t (fastText's -t; 0: off)."})
    sample_rule: str = field(
        default="word2vec", metadata={"help": "word2vec/fastText ((sqrt(f/t)+1)t/f) or d2l (sqrt(t/f))."}
    )
    subwords: str = field(default="char_ngrams", metadata={"help": "char_ngrams (hashed, as fastText) or bpe."})
    minn: int = field(default=3, metadata={"help": "Shortest character n-gram."})
    maxn: int = field(default=6, metadata={"help": "Longest character n-gram (0: no n-grams)."})
    bucket: int = field(default=2_000_000, metadata={"help": "Hashed n-gram rows."})
    bpe_vocab_size: int = field(default=10_000, metadata={"help": "BPE pieces (subwords=bpe)."})
    composition: str = field(default="mean", metadata={"help": "mean (fastText) or sum (the book) of a word's rows."})
    max_row_updates: int = field(default=8, metadata={"help": "Per-batch cap on one row's summed updates (0: off)."})


def _config(args: FastTextArguments, vocab_size: int, bpe_vocab_size: Optional[int] = None) -> FastTextConfig:
    return config_from_arguments(
        FastTextConfig,
        args,
        renamed={"sample": "subsample"},
        vocab_size=vocab_size,
        bpe_vocab_size=bpe_vocab_size or args.bpe_vocab_size,
    )


@dataclass
class FastTextTrainingArguments(TrainingArguments):
    """The shared training arguments with fastText's defaults."""

    output_dir: str = field(default="outputs/fasttext", metadata={"help": "Where the Hub-ready folder is written."})
    learning_rate: Optional[float] = field(default=0.05, metadata={"help": "SGD learning rate (fastText's -lr)."})


def train_fasttext(args: FastTextArguments, training: TrainingArguments) -> dict:
    with claim_output_dir(training, "fasttext"):
        return _train_fasttext(args, training)


def _train_fasttext(args: FastTextArguments, training: TrainingArguments) -> dict:
    repo_id = check_hub_access(training, training.output_dir)
    check_evaluation_files(args)
    accelerator = make_accelerator(training)
    threads = set_threads(accelerator, training.num_threads)
    set_seed(training.seed)
    # Validate everything cheap before the corpus is read.
    _config(args, vocab_size=2)
    if training.optimizer != "sgd":
        raise ValueError("fastText trains with SGD and closed-form gradients only (optimizer 'sgd')")

    texts = training_text(args.dataset, args.text_column, args.streaming, config_name=args.dataset_config)
    vocab = build_vocabulary(
        texts,
        min_count=args.min_count,
        max_vocab_size=args.max_vocab_size,
        unk_policy=args.unk_policy,
        lowercase=args.lowercase,
    )
    corpus = encode_corpus(vocab, texts)
    model, bpe = _model(args, vocab, texts)

    if training.learning_rate is None:  # a caller that passed the shared TrainingArguments
        training.learning_rate = FastTextTrainingArguments.learning_rate
    model, epoch_batches, step = _plan(accelerator, model, corpus, vocab.training_counts, training, threads)
    core = accelerator.unwrap_model(model)

    if training.report_to:
        accelerator.init_trackers("fasttext", config=without_secrets({**asdict(args), **asdict(training)}))
    try:
        results = train_loop(
            accelerator,
            training,
            models=[model],
            epoch_batches=epoch_batches,
            step=step,
            words_per_epoch=corpus.raw_words,
            family="fasttext",
            identity=run_identity(args, training, vocabulary=vocabulary_of(vocab), dataset=args.dataset),
        )
    finally:
        torch.set_num_threads(threads)
    results.update(vocab_size=len(vocab), corpus_words=corpus.raw_words, seed=training.seed)
    finish_training(accelerator)
    if not accelerator.is_main_process:
        return results

    vectors = FastTextVectors.from_model(core, vocab, bpe_tokenizer=bpe)
    # Unseen words composed from their subwords; the in-vocabulary figure beside it.
    results.update(evaluate_vectors(vectors, args))
    publish(
        training.output_dir,
        lambda tmp: _write(tmp, core, vocab, bpe, vectors, args, training, results),
        repo_id,
        training,
        "fasttext",
        results,
    )
    return results


def _plan(accelerator, model: FastTextModel, corpus, counts, training: TrainingArguments, threads: int):
    """word2vec's padded windows, and the closed-form SGD step spread over the CPU's threads."""
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
        device=device,
    )
    model = prepare_sparse_model(accelerator, model)
    core = accelerator.unwrap_model(model)
    workers = threads if device.type == "cpu" else 1
    if workers > 1:
        torch.set_num_threads(1)  # each worker thread runs its ops alone (see ParallelSGD)
    sgd = ParallelSGD(core, workers)

    def epoch_batches(epoch, generator):
        return batches.epoch(generator)

    def step(batch, progress):
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        return sgd(batch, schedule(progress))

    return model, epoch_batches, step


def _model(args: FastTextArguments, vocab, texts):
    """The model with each word's subword rows: hashed character n-grams, or BPE pieces (then also
    the BPE tokenizer, which composes unseen words later)."""
    if args.subwords == "bpe":
        bpe = train_bpe(texts, args.bpe_vocab_size, lowercase=args.lowercase)
        model = FastTextModel(_config(args, len(vocab), bpe_vocab_size=bpe.get_vocab_size()))
        model.set_subwords(*bpe_subwords(vocab.index_to_word, bpe))
        return model, bpe
    config = _config(args, len(vocab))
    model = FastTextModel(config)
    if config.maxn:
        model.set_subwords(*char_ngram_subwords(vocab.index_to_word, config.minn, config.maxn, config.bucket))
    else:
        model.set_subwords(np.arange(len(vocab)), np.arange(len(vocab) + 1))
    return model, None


def _write(folder, model, vocab, bpe, vectors, args, training, results):
    plot_training(results, os.path.join(folder, "loss.png"), title=f"fastText on {corpus_name(args.dataset)}")
    model.save_pretrained(folder)
    vocab.save(folder)
    if bpe is not None:
        bpe.save(os.path.join(folder, BPE_FILE))
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
        "subwords": config.subwords,
        "minn": config.minn,
        "maxn": config.maxn,
        "bucket": config.bucket,
        "composition": config.composition,
        "min_count": args.min_count,
        "epochs": training.epochs,
        "batch_size": training.batch_size,
        "learning_rate": training.learning_rate,
        "seed": training.seed,
        "vocab_size": len(vocab),
    }
    if config.subwords == "bpe":
        for key in ("minn", "maxn", "bucket"):
            hyperparameters.pop(key)
        hyperparameters["bpe_vocab_size"] = config.bpe_vocab_size
    probe = next(
        (w for w in ("king", "chip", "france", "good") if w in vectors), vectors.index_to_key[min(1, len(vectors) - 1)]
    )
    subwords = (
        f"hashed character {config.minn}- to {config.maxn}-grams of `<word>` ({config.bucket:,} buckets)"
        if config.subwords == "char_ngrams"
        else f"the {config.bpe_vocab_size:,} pieces of a BPE model trained on the corpus"
    )
    card = render_model_card(
        "fasttext",
        model_name=os.path.basename(os.path.abspath(training.output_dir)),
        dataset=args.dataset,
        hyperparameters=hyperparameters,
        results={k: v for k, v in results.items() if k != "epoch_losses"},
        extra={
            "architecture": config.architecture,
            "subword_note": subwords,
            "composition": config.composition,
            "probe_word": probe,
            "unseen_word": probe + probe[-1] + "s",
            "runtime": f"{results['train_runtime']:.1f} s ({results['train_words_per_second']:,.0f} words/s)",
            "corpus_note": corpus_note(args.dataset, results["corpus_words"]),
        },
    )
    with open(os.path.join(folder, "README.md"), "w", encoding="utf-8") as f:
        f.write(card)
