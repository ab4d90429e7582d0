"""Every family on one GPU, in one run: the recipes' own code path, and transformers' BertForPreTraining
as the anchor for BERT.

    python benchmarks/gpu.py --output gpu.json              # the whole table (about 6 minutes on an H100)
    python benchmarks/gpu.py --only bert --bert_steps 20

- word2vec skip-gram NS and fastText: words/s of the recipe's training loop on WikiText-2 (d100, window
  5, 5 noise words, 5 epochs; the batches are drawn on the GPU), with the run's WordSim-353 and analogy
  scores, so that a batch size that is fast but learns less shows;
- GloVe: seconds per epoch over WikiText-2's co-occurrence matrix (window 10);
- BERT-base, bf16 autocast, AdamW, masked WikiText-2 batches of `--bert_batch` × 128 tokens: tokens/s
  and model FLOPs utilisation for ours (with and without `skip_padding`) and for transformers'
  BertForPreTraining with the same weights and batches, alternating step by step.

MFU counts the FLOPs the task needs, the same for both models: 6 × (non-embedding parameters) per
token, plus attention's 12 × layers × hidden × length per token, plus the MLM projection at the
masked positions (6 × hidden × vocabulary each), over the GPU's dense bf16 peak (`--peak_tflops`,
by default 989 for an H100 / H200 SXM).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import torch

from hf_pretrain import HfpBertConfig, HfpBertForPreTraining, load_corpus
from hf_pretrain.bert.data import BertPretrainingData, d2l_wiki_paragraphs
from hf_pretrain.core.arguments import parse_args
from hf_pretrain.core.tokenization import build_word_level_tokenizer

PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0, "A10": 125.0}


def tolerant_fingerprints() -> None:
    """`datasets` fingerprints a dataset by pickling it with dill, which fails on some Python and
    pyarrow pairs (Python 3.12 with pyarrow 26 here: "Can't pickle <class 'MonthDayNano'>"). A
    fingerprint only names cache files, so a random one loses nothing in a benchmark."""
    from datasets import fingerprint

    original = fingerprint.Hasher.hash

    def hash(cls, value):
        try:
            return original(value)
        except Exception:
            return fingerprint.generate_random_fingerprint()

    fingerprint.Hasher.hash = classmethod(hash)


def word_recipe(family: str, batch_size: int, epochs: int, extra: list[str]) -> dict:
    from hf_pretrain.core.loop import TrainingArguments
    from hf_pretrain.fasttext.train import FastTextArguments, train_fasttext
    from hf_pretrain.glove.train import GloVeArguments, GloVeTrainingArguments, train_glove
    from hf_pretrain.word2vec.train import Word2VecArguments, train_word2vec

    recipes = {
        "word2vec": (Word2VecArguments, TrainingArguments, train_word2vec),
        "fasttext": (FastTextArguments, TrainingArguments, train_fasttext),
        "glove": (GloVeArguments, GloVeTrainingArguments, train_glove),
    }
    arguments, training, train = recipes[family]
    with tempfile.TemporaryDirectory() as out:
        args = parse_args(
            [arguments, training],
            [
                "--output_dir",
                os.path.join(out, family),
                "--batch_size",
                str(batch_size),
                "--epochs",
                str(epochs),
                "--logging_steps",
                "1000000",
                *extra,
            ],
        )
        results = train(*args)
    unit = "pair" if family == "glove" else "word"
    row = {
        "family": family,
        "batch_size": batch_size,
        "epochs": epochs,
        f"{unit}s_per_second": results[f"train_{unit}s_per_second"],
        "train_runtime": results["train_runtime"],
        "wordsim353": results.get("wordsim353_spearman"),
        "analogy": results.get("google_analogy_accuracy"),
    }
    if family == "glove":
        row["seconds_per_epoch"] = results["train_runtime"] / epochs
    return row


def bert_flops_per_step(config: HfpBertConfig, batch: dict) -> float:
    tokens = batch["input_ids"].numel()
    hidden, layers, length = config.hidden_size, config.num_hidden_layers, batch["input_ids"].shape[1]
    per_layer = 4 * hidden * hidden + 2 * hidden * config.intermediate_size  # attention projections + FFN
    dense = 6 * layers * per_layer * tokens + 12 * layers * hidden * length * tokens
    masked = int((batch["labels"] != -100).sum())
    head = (
        6 * masked * (hidden * hidden + hidden * config.vocab_size) + 6 * batch["input_ids"].shape[0] * hidden * hidden
    )
    return float(dense + head)


def bert(args, device) -> list[dict]:
    texts = load_corpus("wikitext-2")["train"]["text"]
    tokenizer = build_word_level_tokenizer([s for p in d2l_wiki_paragraphs(texts) for s in p], min_frequency=5)
    data = BertPretrainingData(texts, tokenizer, max_len=128, seed=0)
    batches = []
    for batch in data.batches(args.bert_batch, torch.Generator().manual_seed(0), group_by_length=args.group_by_length):
        batch.pop("words")
        batches.append({k: v.to(device) for k, v in batch.items()})
        if len(batches) == args.bert_steps + 3:
            break
    # BERT's 30522-token vocabulary, as a real BERT-base has; the batches keep the word-level ids.
    config = HfpBertConfig.from_preset(
        args.bert_preset, vocab_size=max(30522, len(tokenizer)), pad_token_id=tokenizer.pad_token_id
    )
    torch.manual_seed(0)
    ours = HfpBertForPreTraining(config).to(device).train()
    theirs = ours.to_transformers().train()
    # Ours twice: with the real tokens packed (skip_padding) and with the padding kept in every layer,
    # as the recipe trains on a GPU and as transformers does.
    padded = HfpBertForPreTraining(config).to(device).train()
    padded.load_state_dict(ours.state_dict())
    models = {"hf-pretrain, skip_padding": ours, "hf-pretrain, padded": padded, "transformers": theirs}
    options = {"hf-pretrain, skip_padding": {"skip_padding": True}}
    optimizers = {name: torch.optim.AdamW(m.parameters(), lr=1e-4, fused=True) for name, m in models.items()}
    times = {name: [] for name in models}
    flops = []
    for index, batch in enumerate(batches):
        for name, model in models.items():
            torch.cuda.synchronize()
            start = time.perf_counter()
            with torch.autocast(device.type, dtype=torch.bfloat16):
                loss = model(**batch, **options.get(name, {})).loss
            loss.backward()
            optimizers[name].step()
            optimizers[name].zero_grad(set_to_none=True)
            torch.cuda.synchronize()
            if index >= 3:  # warm-up: allocator, kernels' autotuning
                times[name].append(time.perf_counter() - start)
        if index >= 3:
            flops.append(bert_flops_per_step(config, batch))
    peak = args.peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in torch.cuda.get_device_name()), None)
    rows = []
    tokens = args.bert_batch * 128
    padding = 1 - sum(float(b["attention_mask"].float().mean()) for b in batches) / len(batches)
    for name, taken in times.items():
        seconds = sum(taken)
        achieved = sum(flops) / seconds / 1e12
        rows.append(
            {
                "family": f"bert-{args.bert_preset} bf16 ({name}{', grouped by length' if args.group_by_length else ''})",
                "batch_size": args.bert_batch,
                "steps": len(taken),
                "tokens_per_second": tokens * len(taken) / seconds,
                "step_seconds": seconds / len(taken),
                "model_tflops": achieved,
                "mfu": achieved / peak if peak else None,
                "padding": padding,
            }
        )
    for row in rows[:-1]:
        row["speedup_over_transformers"] = rows[-1]["step_seconds"] / row["step_seconds"]
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=["word2vec", "fasttext", "glove", "bert"])
    parser.add_argument("--word2vec_batch", type=int, nargs="*", default=[2048])
    parser.add_argument("--word2vec_epochs", type=int, default=5)
    parser.add_argument(
        "--word2vec_sweep",
        type=lambda v: tuple(map(int, v.split(":"))),
        nargs="*",
        default=[(8192, 8), (16384, 8)],
        help="Extra word2vec runs as BATCH:MAX_ROW_UPDATES pairs, e.g. 32768:4.",
    )
    parser.add_argument("--fasttext_batch", type=int, nargs="*", default=[2048, 8192])
    parser.add_argument("--fasttext_epochs", type=int, default=5)
    parser.add_argument("--glove_batch", type=int, default=65536)
    parser.add_argument("--glove_epochs", type=int, default=15)
    parser.add_argument("--bert_preset", default="base")
    parser.add_argument(
        "--group_by_length", action="store_true", help="BERT batches of similar lengths (less padding)."
    )
    parser.add_argument("--bert_batch", type=int, default=128)
    parser.add_argument("--bert_steps", type=int, default=20)
    parser.add_argument("--peak_tflops", type=float, default=None)
    parser.add_argument("--output", default=None, help="Write the rows as JSON here.")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        sys.exit("benchmarks/gpu.py needs a CUDA GPU")
    device = torch.device("cuda")
    tolerant_fingerprints()
    torch.backends.cuda.matmul.allow_tf32 = True
    header = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__}
    print(json.dumps(header), flush=True)
    rows = []

    def record(row):
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.output:
            with open(args.output, "w") as f:
                json.dump({**header, "rows": rows}, f, indent=2)

    runs = []
    for batch, cap in args.word2vec_sweep if "word2vec" in args.only else []:
        extra = ["--max_row_updates", str(cap)]
        runs.append(
            (
                "word2vec",
                lambda b=batch, e=extra: [
                    {**word_recipe("word2vec", b, args.word2vec_epochs, e), "max_row_updates": int(e[1])}
                ],
            )
        )
    for family in args.only:
        if family == "word2vec":
            runs += [
                ("word2vec", lambda b=b: [word_recipe("word2vec", b, args.word2vec_epochs, [])])
                for b in args.word2vec_batch
            ]
        elif family == "fasttext":
            runs += [
                ("fasttext", lambda b=b: [word_recipe("fasttext", b, args.fasttext_epochs, [])])
                for b in args.fasttext_batch
            ]
        elif family == "glove":
            runs.append(("glove", lambda: [word_recipe("glove", args.glove_batch, args.glove_epochs, [])]))
        elif family == "bert":
            runs.append(("bert", lambda: bert(args, device)))
    for family, run in runs:
        try:
            for row in run():
                record(row)
        except Exception as error:  # one run's failure must not cost the others' figures
            record({"family": family, "error": f"{type(error).__name__}: {error}"})
    return rows


if __name__ == "__main__":
    main()
