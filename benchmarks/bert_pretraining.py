"""hf-pretrain BERT against transformers' BertForPreTraining: same weights, same masked WikiText-2
batches, same threads; training steps per second (forward, backward, AdamW).

    python benchmarks/bert_pretraining.py                           # the book's model, batches of 512
    python benchmarks/bert_pretraining.py --preset base --batch_size 8 --max_len 128 --vocab_size 30522 --steps 3
    python benchmarks/bert_pretraining.py --preset base --batch_size 8 --max_len 128 --vocab_size 30522 --dense

Both models compute the same loss; ours projects onto the vocabulary only at the masked positions
(about 15 % of the real tokens), transformers' at every position, and ours runs everything but the
attention on the real tokens only, transformers' on the padding too. The two models alternate step
by step, so that a change in the machine's load hits both alike. tokens/s counts every position of
the batch (batch × max_len) on both sides; the share of padding is printed.

With `--dense` every position of a batch is a real token (the padding is filled with random words
and unmasked), so neither side has padding to skip: what remains of the difference is the
masked-position projection and the layers themselves.
"""

import argparse
import json
import time

import torch

from hf_pretrain import HfpBertConfig, HfpBertForPreTraining, load_corpus
from hf_pretrain.bert.data import BertPretrainingData, d2l_wiki_paragraphs
from hf_pretrain.bert.train import adamw
from hf_pretrain.core.runtime import keep_freed_memory
from hf_pretrain.core.tokenization import build_word_level_tokenizer


def time_step(model, optimizer, batch, bf16=False):
    start = time.perf_counter()
    # Ours as the recipe trains it on a CPU: the real tokens packed (transformers' has no such option).
    options = {"skip_padding": True} if isinstance(model, HfpBertForPreTraining) else {}
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = model(**batch, **options).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach()), time.perf_counter() - start


def fill_padding(batch: dict, first_word: int, vocab_size: int, generator: torch.Generator) -> dict:
    """The batch with every padding position made a real, unmasked word (no special token) of sentence B."""
    padding = batch["attention_mask"] == 0
    words = torch.randint(first_word, vocab_size, batch["input_ids"].shape, generator=generator)
    return {
        **batch,
        "input_ids": torch.where(padding, words, batch["input_ids"]),
        "token_type_ids": torch.where(padding, 1, batch["token_type_ids"]),
        "attention_mask": torch.ones_like(batch["attention_mask"]),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="d2l-small")
    parser.add_argument("--batch_size", type=int, default=512)
    parser.add_argument("--max_len", type=int, default=64)
    parser.add_argument("--steps", type=int, default=6, help="Timed steps (after one warm-up step).")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--vocab_size",
        type=int,
        default=None,
        help="Size the vocabulary up to this (e.g. BERT's 30522); the batches keep the word-level ids.",
    )
    parser.add_argument(
        "--mixed_precision",
        default="no",
        choices=["no", "bf16"],
        help="bf16: autocast on both sides, as `accelerate launch --mixed_precision bf16` trains.",
    )
    parser.add_argument("--dense", action="store_true", help="No padding: fill it with random unmasked words.")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    keep_freed_memory()  # as the recipes do; it speeds up both sides

    texts = load_corpus("wikitext-2")["train"]["text"]
    tokenizer = build_word_level_tokenizer([s for p in d2l_wiki_paragraphs(texts) for s in p], min_frequency=5)
    data = BertPretrainingData(texts, tokenizer, max_len=args.max_len, seed=args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    batches = []
    for batch in data.batches(args.batch_size, generator):
        batch.pop("words")
        if args.dense:
            batch = fill_padding(batch, max(tokenizer.all_special_ids) + 1, len(tokenizer), generator)
        batches.append(batch)
        if len(batches) == args.steps + 1:
            break

    vocab_size = max(len(tokenizer), args.vocab_size or 0)
    config = HfpBertConfig.from_preset(
        args.preset, vocab_size=vocab_size, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    )
    torch.manual_seed(args.seed)
    ours = HfpBertForPreTraining(config)
    theirs = ours.to_transformers()
    padding = sum(float((b["attention_mask"] == 0).sum()) for b in batches) / sum(
        b["attention_mask"].numel() for b in batches
    )
    report = {
        "preset": args.preset,
        "vocab_size": vocab_size,
        "batch_size": args.batch_size,
        "max_len": args.max_len,
        "threads": torch.get_num_threads(),
        "padding_share": padding,
        "dense": args.dense,
        "mixed_precision": args.mixed_precision,
    }
    models = {"hf_pretrain": ours, "transformers": theirs}
    # Both sides with the recipe's optimizer, the fused AdamW transformers' Trainer also defaults to.
    optimizers = {name: adamw(model.parameters(), 0.01, 0.0, torch.device("cpu")) for name, model in models.items()}
    runs = {name: ([], []) for name in models}
    for batch in batches:
        for name, model in models.items():
            model.train()
            loss, seconds = time_step(model, optimizers[name], batch, bf16=args.mixed_precision == "bf16")
            runs[name][0].append(loss)
            runs[name][1].append(seconds)
    for name, (losses, seconds) in runs.items():
        timed = seconds[1:]  # the first step warms up
        report[name] = {
            "seconds_per_step": sum(timed) / len(timed),
            "examples_per_second": args.batch_size * len(timed) / sum(timed),
            "tokens_per_second": args.batch_size * args.max_len * len(timed) / sum(timed),
            "first_loss": losses[0],
            "last_loss": losses[-1],
        }
    report["speedup"] = report["transformers"]["seconds_per_step"] / report["hf_pretrain"]["seconds_per_step"]
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
