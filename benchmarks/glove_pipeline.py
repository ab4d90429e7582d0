"""The whole GloVe pipeline on WikiText-2, timed: corpus and vocabulary, co-occurrence counting, training.

    python benchmarks/glove_pipeline.py                  # the default recipe, 2 threads
    python benchmarks/glove_pipeline.py --batch_size 32768 --epochs 5
    python benchmarks/glove_pipeline.py --profile        # torch profiler table of the training step

It runs the recipe itself (`train_glove`, the default settings: d100, window 10, x_max 10, 15 epochs,
min_count 5), so the figures are what `accelerate launch recipes/train_glove.py` costs, evaluation
and writing the folder included. The load average and this process's CPU time are printed beside the
wall-clock time: on a shared machine a CPU time well below threads × wall time means another process
took cores during the run.
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import time

import torch

from hf_pretrain.recipes.glove import GloVeArguments, GloVeTrainingArguments, train_glove


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def profile_step(args):
    from hf_pretrain import Vocabulary, load_corpus
    from hf_pretrain.data.glove import CooccurrenceBatches, build_cooccurrence
    from hf_pretrain.models.glove import GloVeConfig, GloVeModel

    texts = load_corpus("wikitext-2")["train"]["text"]
    vocab = Vocabulary.build(texts, min_count=args.min_count)
    matrix = build_cooccurrence(vocab.encode(texts), len(vocab), window=args.window)
    batches = CooccurrenceBatches(matrix, args.batch_size).epoch(torch.Generator().manual_seed(0))
    model = GloVeModel(GloVeConfig(vocab_size=len(vocab), embedding_dim=args.embedding_dim, x_max=args.x_max))
    for _ in range(5):
        batch = next(batches)
        batch.pop("words")
        model.adagrad_step(**batch)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(20):
            batch = next(batches)
            batch.pop("words")
            model.adagrad_step(**batch)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedding_dim", type=int, default=100)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--x_max", type=float, default=10.0)
    parser.add_argument("--min_count", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch_size", type=int, default=GloVeTrainingArguments.batch_size)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--profile", action="store_true", help="Print a torch profiler table of the step and exit.")
    parser.add_argument("--json", help="Also write the figures to this file.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.profile:
        profile_step(args)
        return

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        start, cpu_start = time.perf_counter(), cpu_seconds()
        results = train_glove(
            GloVeArguments(
                dataset="wikitext-2", min_count=args.min_count, embedding_dim=args.embedding_dim,
                window=args.window, x_max=args.x_max,
            ),
            GloVeTrainingArguments(
                output_dir=os.path.join(tmp, "glove"), seed=args.seed, epochs=args.epochs,
                batch_size=args.batch_size, num_threads=args.threads, logging_steps=10**9,
            ),
        )
        total, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    load_after = os.getloadavg()
    counting, training = results["cooccurrence_seconds"], results["train_runtime"]
    figures = {
        "total_seconds": total,
        "cooccurrence_seconds": counting,
        "train_seconds": training,
        "other_seconds": total - counting - training,
        "pipeline_seconds": counting + training,
        "cpu_seconds": cpu,
        "train_pairs_per_second": results["train_pairs_per_second"],
        "nonzeros": results["nonzeros"],
        "wordsim353_spearman": results["wordsim353_spearman"],
        "google_analogy_accuracy": results["google_analogy_accuracy"],
        "load_average_before": load_before[0],
        "load_average_after": load_after[0],
    }
    print(f"\nGloVe on WikiText-2 train: d{args.embedding_dim}, window {args.window}, x_max {args.x_max}, "
          f"{args.epochs} epochs, batch {args.batch_size}, {args.threads} threads, seed {args.seed}")
    print(f"  co-occurrence counting  {counting:7.1f} s   ({results['nonzeros']:,} non-zeros)")
    print(f"  training                {training:7.1f} s   ({results['train_pairs_per_second']:,.0f} pairs/s)")
    print(f"  counting + training     {counting + training:7.1f} s")
    print(f"  corpus, vocabulary, evaluation, writing  {total - counting - training:.1f} s")
    print(f"  total                   {total:7.1f} s wall, {cpu:.1f} s CPU "
          f"(load average {load_before[0]:.2f} before, {load_after[0]:.2f} after)")
    print(f"  WordSim-353 Spearman {results['wordsim353_spearman']:.4f}, "
          f"Google analogy {results['google_analogy_accuracy']:.2%}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), **figures}, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
