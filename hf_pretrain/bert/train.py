"""The BERT pretraining recipe: corpus → tokenizer → next-sentence pairs → masked batches → model →
shared loop → validation losses → folder."""

from __future__ import annotations

import itertools
import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F
from accelerate.utils import set_seed
from transformers import AutoTokenizer

from ..core.corpus import CorpusError, corpus_name, load_corpus
from ..core.distributed import empty_loss, shard_rows
from ..core.loop import TrainingArguments, train_loop
from ..core.output_dir import claim_output_dir
from ..core.publish import (
    check_hub_access,
    corpus_note,
    publish,
    render_model_card,
    without_secrets,
)
from ..core.resume import run_identity, vocabulary_of
from ..core.runtime import finish_training, make_accelerator, set_threads
from ..core.streaming import LineStream
from ..core.tokenization import build_word_level_tokenizer, train_bpe_tokenizer
from ..core.visualization import plot_training
from . import HfpBertConfig, HfpBertForPreTraining
from .data import BertPretrainingData, StreamingBertData, d2l_wiki_sentences


@dataclass
class BertArguments:
    dataset: str = field(default="wikitext-2", metadata={"help": "wikitext-2, ptb, a text file/folder or a Hub id."})
    text_column: Optional[str] = field(default=None, metadata={"help": "Text column of a Hub dataset."})
    dataset_config: Optional[str] = field(
        default=None, metadata={"help": "Configuration (subset) of a Hub dataset, as in load_dataset(id, config)."}
    )
    tokenizer: str = field(
        default="word",
        metadata={"help": "'word' (the book's word-level vocabulary), 'bpe' (trained here) or a tokenizer folder."},
    )
    min_frequency: int = field(default=5, metadata={"help": "Words/merges seen fewer times are left out."})
    bpe_vocab_size: int = field(default=10000, metadata={"help": "Vocabulary size of --tokenizer bpe."})
    preset: str = field(default="d2l-small", metadata={"help": "d2l-small (the book), base or large."})
    max_len: int = field(default=64, metadata={"help": "Tokens per example, [CLS] and [SEP]s included."})
    mlm_probability: float = field(default=0.15, metadata={"help": "Share of tokens masked for MLM."})
    mlm_loss: Optional[str] = field(
        default=None,
        metadata={
            "help": "'masked': mean cross-entropy over the masked tokens (BERT, transformers). 'd2l': the book's "
            "objective, a mean over round(0.15 max_len) prediction slots per example whose unused slots "
            "predict the unknown token at position 0. Default: d2l for the d2l-small preset, else masked."
        },
    )
    initializer: Optional[str] = field(
        default=None,
        metadata={
            "help": "'bert': weights N(0, 0.02) as BERT. 'pytorch': PyTorch's layer defaults (embeddings N(0, 1)), "
            "as the book's code. Default: the preset's (pytorch for d2l-small, bert for base and large)."
        },
    )
    streaming: bool = field(
        default=False,
        metadata={"help": "Read the corpus as a stream and build sentence pairs shard by shard, instead of in memory."},
    )
    group_by_length: bool = field(
        default=False,
        metadata={"help": "Batch examples of similar length together (less padding; not with --streaming)."},
    )
    dropout: Optional[float] = field(
        default=None, metadata={"help": "Dropout on every sublayer and the attention weights (default: the preset's)."}
    )
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay (0: Adam, as the book)."})
    max_grad_norm: float = field(default=0.0, metadata={"help": "Clip the gradient norm (0: off, as the book)."})
    eval_batches: int = field(default=20, metadata={"help": "Validation batches scored at the end (0: none)."})
    export_transformers: bool = field(
        default=True, metadata={"help": "Also write transformers' BertForPreTraining to output_dir/transformers."}
    )


@dataclass
class BertTrainingArguments(TrainingArguments):
    # The book's `train_bert`: Adam, learning rate 0.01, batches of 512.
    output_dir: str = field(default="outputs/bert", metadata={"help": "Where the Hub-ready folder is written."})
    epochs: int = field(default=1, metadata={"help": "Passes over the next-sentence pairs."})
    max_steps: Optional[int] = field(
        default=50, metadata={"help": "Stop after this many steps (the book: 50; 0: epochs)."}
    )
    batch_size: int = field(default=512, metadata={"help": "Examples per step."})
    optimizer: str = field(default="adam", metadata={"help": "BERT trains with 'adam' (AdamW)."})
    learning_rate: Optional[float] = field(default=0.01, metadata={"help": "Adam learning rate."})


def build_tokenizer(args: BertArguments, texts):
    if args.tokenizer == "word":
        # Lower-casing matters only for new text: the pretraining sentences already are.
        return build_word_level_tokenizer(d2l_wiki_sentences(texts), min_frequency=args.min_frequency, lowercase=True)
    if args.tokenizer == "bpe":
        return train_bpe_tokenizer(
            texts, vocab_size=args.bpe_vocab_size, min_frequency=args.min_frequency, lowercase=True
        )
    if not os.path.isdir(args.tokenizer):
        raise ValueError(f"--tokenizer must be 'word', 'bpe' or a tokenizer folder, got {args.tokenizer!r}")
    return AutoTokenizer.from_pretrained(args.tokenizer)


def pretrain_bert(args: BertArguments, training: TrainingArguments) -> dict:
    with claim_output_dir(training, "hfp_bert"):
        return _pretrain_bert(args, training)


def _pretrain_bert(args: BertArguments, training: TrainingArguments) -> dict:
    repo_id = check_hub_access(training, training.output_dir)
    mlm_loss = _check_arguments(args, training)
    accelerator = make_accelerator(training)
    set_threads(accelerator, training.num_threads)
    set_seed(training.seed)

    data, tokenizer, validation = _pretraining_data(args, training)
    model = _model(args, tokenizer, mlm_loss)
    learning_rate = training.learning_rate if training.learning_rate is not None else 0.01
    optimizer = adamw(model.parameters(), learning_rate, args.weight_decay, accelerator.device)
    model, optimizer = accelerator.prepare(model, optimizer)
    core = accelerator.unwrap_model(model)
    world = accelerator.num_processes
    # Sums over the run's steps of the MLM loss, the MLM loss over masked tokens only and the NSP loss:
    # the loop keeps them in checkpoints, so a resumed run reports the means over every step.
    parts = torch.zeros(3, dtype=torch.float64, device=accelerator.device)

    def epoch_batches(epoch, generator):
        # Several processes: each draws the same global batch, masks included, and trains on its rows.
        if args.group_by_length:
            return data.batches(training.batch_size * world, generator, group_by_length=True)
        return data.batches(training.batch_size * world, generator)

    step = _step(accelerator, model, optimizer, args, mlm_loss, tokenizer.unk_token_id, parts)
    if training.report_to:
        accelerator.init_trackers("bert", config=without_secrets({**asdict(args), **asdict(training)}))
    results = train_loop(
        accelerator,
        training,
        models=[model],
        epoch_batches=epoch_batches,
        step=step,
        # The streamed data counts its progress in sentence pairs, the in-memory data in tokens.
        words_per_epoch=data.num_pairs if args.streaming else data.num_tokens,
        family="bert",
        unit="example" if args.streaming else "token",
        identity=run_identity(args, training, vocabulary=vocabulary_of(tokenizer), dataset=args.dataset),
        distribute="split",
        totals=parts,
    )
    steps = max(results["global_step"], 1)
    mlm_sum, masked_sum, nsp_sum = (accelerator.reduce(parts, "sum") if world > 1 else parts).tolist()
    results.update(
        # As the book prints them: means over every step of the run.
        mlm_loss=mlm_sum / steps,
        nsp_loss=nsp_sum / steps,
        mlm_loss_definition=mlm_loss,
        mlm_loss_masked_tokens=masked_sum / steps,
        examples=len(data),
        vocab_size=len(tokenizer),
        seed=training.seed,
        num_parameters=sum(p.numel() for p in core.parameters()),
    )
    if args.eval_batches and validation is not None:
        results.update(evaluate(core, tokenizer, validation, args, training))
    finish_training(accelerator)
    if not accelerator.is_main_process:
        return results
    publish(
        training.output_dir,
        lambda tmp: _write(tmp, core, tokenizer, args, training, results),
        repo_id,
        training,
        "bert",
        results,
    )
    return results


def adamw(parameters, learning_rate: float, weight_decay: float, device: torch.device) -> torch.optim.AdamW:
    """BERT's optimizer: AdamW, in its fused form where PyTorch has one (as transformers' `Trainer`
    defaults to). On a CPU it updates BERT-base's 110M weights in 0.045 s instead of 0.21 s."""
    fused = True if device.type in ("cpu", "cuda") else None
    return torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=weight_decay, fused=fused)


def _check_arguments(args: BertArguments, training: TrainingArguments) -> str:
    """Refuse what needs no corpus to refuse; returns the MLM objective."""
    if training.optimizer != "adam":
        raise ValueError(f"BERT pretraining uses --optimizer adam, got {training.optimizer!r}")
    mlm_loss = args.mlm_loss or ("d2l" if args.preset == "d2l-small" else "masked")
    if mlm_loss not in ("masked", "d2l"):
        raise ValueError(f"--mlm_loss must be 'masked' or 'd2l', got {args.mlm_loss!r}")
    if args.group_by_length and args.streaming:
        raise ValueError(
            "--group_by_length sorts the whole corpus' examples by length: it needs the in-memory data, not --streaming"
        )
    return mlm_loss


def _pretraining_data(args: BertArguments, training: TrainingArguments):
    """The train split's sentence pairs (in memory or streamed), the tokenizer, and validation lines."""
    corpus = load_corpus(
        args.dataset, text_column=args.text_column, streaming=args.streaming, config_name=args.dataset_config
    )
    if "train" not in corpus:
        raise CorpusError(
            f"{corpus_name(args.dataset)} has no train split (it has {', '.join(corpus) or 'none'}): name a train file or split"
        )
    if args.streaming:
        texts = LineStream(corpus["train"])
        tokenizer = build_tokenizer(args, texts)
        data = StreamingBertData(texts, tokenizer, max_len=args.max_len, mlm_probability=args.mlm_probability)
        validation = (
            list(itertools.islice(LineStream(corpus["validation"]), 20_000)) if "validation" in corpus else None
        )
    else:
        texts = corpus["train"]["text"]
        tokenizer = build_tokenizer(args, texts)
        data = BertPretrainingData(
            texts, tokenizer, max_len=args.max_len, mlm_probability=args.mlm_probability, seed=training.seed
        )
        validation = corpus["validation"]["text"] if "validation" in corpus else None
    return data, tokenizer, validation


def _model(args: BertArguments, tokenizer, mlm_loss: str) -> HfpBertForPreTraining:
    overrides = {"initializer": args.initializer} if args.initializer else {}
    if args.dropout is not None:
        overrides.update(hidden_dropout_prob=args.dropout, attention_probs_dropout_prob=args.dropout)
    config = HfpBertConfig.from_preset(
        args.preset, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, **overrides
    )
    if args.max_len > config.max_position_embeddings:
        raise ValueError(
            f"max_len {args.max_len} exceeds the {args.preset} preset's {config.max_position_embeddings} positions"
        )
    if mlm_loss == "d2l" and tokenizer.unk_token_id is None:
        raise ValueError("--mlm_loss d2l needs a tokenizer with an unknown token")
    model = HfpBertForPreTraining(config)
    head = model.cls.predictions
    if head.decoder.bias is not head.bias:
        # An untied decoder (d2l-small) trains its own bias and leaves the head's unused; DDP
        # refuses a trainable parameter that gets no gradient.
        head.bias.requires_grad_(False)
    return model


def _step(accelerator, model, optimizer, args: BertArguments, mlm_loss: str, unk_id, parts: torch.Tensor):
    """One AdamW step on this process's rows of a global batch; adds its losses to `parts`."""
    device = accelerator.device
    world, rank = accelerator.num_processes, accelerator.process_index
    slots = max(1, round(args.max_len * 0.15))

    def step(batch, progress):
        model.train()
        # Each slice's mean losses are weighted by its share of the global batch's masked tokens,
        # prediction slots and examples, so that DDP's gradient mean is the global batch's gradient.
        labels = batch["labels"] != -100
        total = labels.shape[0]
        masked_total = int(labels.sum())
        slots_total = int(labels.sum(1).clamp(min=slots).sum())
        part = shard_rows(batch, rank, world)
        rows = part["input_ids"].shape[0]
        if rows == 0:
            accelerator.backward(empty_loss(model))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            return torch.zeros(()), torch.tensor(total / world)
        labels = part["labels"] != -100
        masked_share = int(labels.sum()) / masked_total if masked_total else 0.0
        part = {k: v.to(device, non_blocking=True) for k, v in part.items()}
        if mlm_loss == "d2l":
            out, mlm, masked_only = _d2l_step(model, part, slots, unk_id)
            mlm_share = int(labels.sum(1).clamp(min=slots).sum()) / slots_total
        else:
            # Packing the real tokens pays on a CPU and costs on a GPU (see HfpBertForPreTraining.forward).
            out = model(**part, skip_padding=device.type == "cpu")
            mlm, masked_only, mlm_share = out.mlm_loss, out.mlm_loss, masked_share
        mlm = mlm * mlm_share
        nsp = out.nsp_loss * (rows / total)
        accelerator.backward((mlm + nsp) * world)
        if args.max_grad_norm:
            accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        parts.add_(torch.stack([mlm.detach(), masked_only.detach() * masked_share, nsp.detach()]).to(parts))
        return (mlm + nsp).detach() * total, torch.tensor(total / world)

    return step


def _d2l_step(model, batch, slots: int, unk_id: int):
    """The book's MLM objective (d2l 15.10 `_get_batch_loss_bert`): each example has `slots` prediction
    slots; the masked tokens fill the first ones and the unused ones point at position 0 ([CLS]) with
    the unknown token (id 0 in the book's vocabulary) as their label. The loss is the mean cross-entropy
    over all slots, so the unused ones, which the model soon learns to predict, pull it down.

    All unused slots of an example share position 0, hence its logits: position 0 is scored once and
    weighted by the number of unused slots. Returns (model output, the book's MLM loss, MLM loss over
    masked tokens).
    """
    labels = batch["labels"]
    unused = (slots - (labels != -100).sum(1)).clamp_(min=0)
    labels = labels.clone()
    labels[:, 0] = torch.where(unused > 0, torch.full_like(unused, unk_id), labels[:, 0])
    out = model(**{**batch, "labels": labels}, skip_padding=labels.device.type == "cpu")
    where = (labels != -100).nonzero()  # row-major, the order of out.masked_lm_logits
    targets = labels[where[:, 0], where[:, 1]]
    losses = F.cross_entropy(out.masked_lm_logits.float(), targets, reduction="none")
    at_cls = where[:, 1] == 0
    weights = torch.where(at_cls, unused[where[:, 0]].to(losses.dtype), torch.ones_like(losses))
    mlm = (losses * weights).sum() / weights.sum()
    masked = (~at_cls).to(losses.dtype)
    masked_only = (losses * masked).sum() / masked.sum().clamp(min=1.0)
    return out, mlm, masked_only


@torch.no_grad()
def evaluate(model: HfpBertForPreTraining, tokenizer, texts, args: BertArguments, training: TrainingArguments) -> dict:
    """Masked-LM loss (per masked token), NSP loss and NSP accuracy on up to `eval_batches` batches
    of the validation split, with fixed pairs and masks."""
    try:
        data = BertPretrainingData(
            texts, tokenizer, max_len=args.max_len, mlm_probability=args.mlm_probability, seed=training.seed
        )
    except ValueError:  # too few paragraphs for next sentence prediction
        return {}
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    totals = {"mlm": 0.0, "masked": 0, "mlm_correct": 0, "nsp": 0.0, "correct": 0, "examples": 0}
    generator = torch.Generator().manual_seed(training.seed)
    for index, batch in enumerate(data.batches(training.batch_size, generator, shuffle=False)):
        if index == args.eval_batches:
            break
        batch.pop("words")
        batch = {k: v.to(device) for k, v in batch.items()}
        out = model(**batch)
        masked = int((batch["labels"] != -100).sum())
        size = batch["input_ids"].shape[0]
        totals["mlm"] += float(out.mlm_loss) * masked
        # With labels the model scores only the masked positions, in row-major order.
        targets = batch["labels"][batch["labels"] != -100]
        totals["mlm_correct"] += int((out.masked_lm_logits.argmax(-1) == targets).sum())
        totals["masked"] += masked
        totals["nsp"] += float(out.nsp_loss) * size
        totals["correct"] += int((out.seq_relationship_logits.argmax(-1) == batch["next_sentence_label"]).sum())
        totals["examples"] += size
    model.train(was_training)
    if not totals["examples"]:
        return {}
    mlm = totals["mlm"] / max(totals["masked"], 1)
    return {
        "eval_mlm_loss": mlm,
        "eval_mlm_perplexity": math.exp(min(mlm, 50.0)),
        "eval_mlm_accuracy": totals["mlm_correct"] / max(totals["masked"], 1),
        "eval_nsp_loss": totals["nsp"] / totals["examples"],
        "eval_nsp_accuracy": totals["correct"] / totals["examples"],
        "eval_examples": totals["examples"],
    }


def _write(folder, model, tokenizer, args, training, results):
    plot_training(results, os.path.join(folder, "loss.png"), title=f"BERT on {corpus_name(args.dataset)}")
    model.save_pretrained(folder)
    # As on the Hub (bert-base-uncased: 512), `tokenizer(text, truncation=True)` cuts at the longest
    # input the model accepts, max_position_embeddings, rather than at --max_len: that is only the
    # pretraining length, and fine-tuning may use every position the model has (longer is refused).
    # A tokenizer folder given with its own, shorter limit keeps it.
    tokenizer.model_max_length = min(tokenizer.model_max_length, model.config.max_position_embeddings)
    tokenizer.save_pretrained(folder)
    if args.export_transformers:
        # transformers' own class, so that pipelines (fill-mask) and other libraries load it.
        exported = os.path.join(folder, "transformers")
        model.to_transformers().save_pretrained(exported)
        tokenizer.save_pretrained(exported)
    results["precision"] = str(model.dtype).removeprefix("torch.")  # of the saved weights
    with open(os.path.join(folder, "all_results.json"), "w", encoding="utf-8") as f:
        json.dump({**results, "arguments": without_secrets({**asdict(args), **asdict(training)})}, f, indent=2)
    config = model.config
    card = render_model_card(
        "bert",
        model_name=os.path.basename(os.path.abspath(training.output_dir)),
        dataset=args.dataset,
        hyperparameters={
            "preset": args.preset,
            "vocab_size": config.vocab_size,
            "max_len": args.max_len,
            "tokenizer": args.tokenizer,
            "mlm_probability": args.mlm_probability,
            "batch_size": training.batch_size,
            "max_steps": training.max_steps,
            "epochs": training.epochs,
            "learning_rate": training.learning_rate,
            "weight_decay": args.weight_decay,
            "max_grad_norm": args.max_grad_norm,
            "seed": training.seed,
            "parameters": f"{results['num_parameters']:,}",
        },
        results={k: v for k, v in results.items() if k not in ("epoch_losses", "arguments")},
        extra={
            "preset": args.preset,
            "layers": config.num_hidden_layers,
            "hidden": config.hidden_size,
            "heads": config.num_attention_heads,
            "runtime": f"{results['train_runtime']:.1f} s ({_speed(results)})",
            "corpus_note": corpus_note(args.dataset),
        },
        tags=("fill-mask",),
        task={"type": "fill-mask", "name": "Masked language modelling and next sentence prediction"},
        eval_results=(
            ("eval_mlm_accuracy", "WikiText-2 validation", "wikitext", "accuracy", "MLM accuracy"),
            ("eval_mlm_perplexity", "WikiText-2 validation", "wikitext", "perplexity", "MLM perplexity"),
            ("eval_nsp_accuracy", "WikiText-2 validation", "wikitext", "accuracy", "NSP accuracy"),
        ),
    )
    with open(os.path.join(folder, "README.md"), "w", encoding="utf-8") as f:
        f.write(card)


def _speed(results: dict) -> str:
    if "train_tokens_per_second" in results:
        return f"{results['train_tokens_per_second']:,.0f} tokens/s"
    return f"{results['train_examples_per_second']:,.0f} sentence pairs/s"
