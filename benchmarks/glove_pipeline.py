"""The whole GloVe pipeline on WikiText-2, timed: corpus and vocabulary, co-occurrence counting, training.

    python benchmarks/glove_pipeline.py                  # the default recipe, 2 threads
    python benchmarks/glove_pipeline.py --batch_size 32768 --epochs 5
    python benchmarks/glove_pipeline.py --profile        # torch profiler table of the training step
    python benchmarks/glove_pipeline.py --seeds 3 --reference ~/GloVe/build   # against glove.c, same run

With `--reference`, the GloVe reference tools (`vocab_count`, `cooccur`, `shuffle`, `glove` built
from https://github.com/stanfordnlp/GloVe) run on the same corpus with the same settings (min_count 5,
symmetric window 10, x_max 10, alpha 0.75, eta 0.05, 15 iterations, d100, `-model 2`, 2 threads), the
two sides alternating seed by seed. glove.c refuses a corpus holding the literal token `<unk>`, so
the reference reads WikiText-2 with `<unk>` removed, which is what our vocabulary's `unk_policy="drop"`
does with it; both sides' vectors are scored by the same `WordVectors` code.

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
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from hf_pretrain import WordVectors, load_corpus
from hf_pretrain.glove.train import GloVeArguments, GloVeTrainingArguments, train_glove
from hf_pretrain.vectors.evaluation import EvaluationArguments, evaluate_vectors


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def profile_step(args):
    from hf_pretrain import Vocabulary, load_corpus
    from hf_pretrain.core.runtime import keep_freed_memory
    from hf_pretrain.glove import GloVeConfig, GloVeModel
    from hf_pretrain.glove.adagrad import adagrad_step
    from hf_pretrain.glove.cooccurrence import CooccurrenceBatches, build_cooccurrence

    keep_freed_memory()  # as the recipe does
    texts = load_corpus("wikitext-2")["train"]["text"]
    vocab = Vocabulary.build(texts, min_count=args.min_count)
    matrix = build_cooccurrence(vocab.encode(texts), len(vocab), window=args.window)
    batches = CooccurrenceBatches(matrix, args.batch_size).epoch(torch.Generator().manual_seed(0))
    model = GloVeModel(GloVeConfig(vocab_size=len(vocab), embedding_dim=args.embedding_dim, x_max=args.x_max))
    for _ in range(5):
        batch = next(batches)
        batch.pop("words")
        adagrad_step(model, **batch)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(20):
            batch = next(batches)
            batch.pop("words")
            adagrad_step(model, **batch)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18))


def run_ours(args, seed: int) -> dict:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        start, cpu_start = time.perf_counter(), cpu_seconds()
        results = train_glove(
            GloVeArguments(
                dataset="wikitext-2",
                min_count=args.min_count,
                embedding_dim=args.embedding_dim,
                window=args.window,
                x_max=args.x_max,
            ),
            GloVeTrainingArguments(
                output_dir=os.path.join(tmp, "glove"),
                seed=seed,
                epochs=args.epochs,
                batch_size=args.batch_size,
                num_threads=args.threads,
                logging_steps=10**9,
            ),
        )
        total, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    counting, training = results["cooccurrence_seconds"], results["train_runtime"]
    return {
        "side": "hf-pretrain",
        "seed": seed,
        "counting_seconds": counting,
        "train_seconds": training,
        "pipeline_seconds": counting + training,
        "total_seconds": total,
        "cpu_seconds": cpu,
        "nonzeros": results["nonzeros"],
        "wordsim353_spearman": results.get("wordsim353_spearman"),
        "google_analogy_accuracy": results.get("google_analogy_accuracy"),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
    }


def run_reference(args, seed: int, build: str, corpus_file: str, work: str) -> dict:
    """The four glove.c tools as its demo.sh chains them, each timed."""
    tool = lambda name: os.path.join(build, name)  # noqa: E731
    load_before = os.getloadavg()[0]
    times = {}

    def timed(name, argv, stdin, stdout):
        start = time.perf_counter()
        with open(stdin, "rb") as fin, open(stdout, "wb") as fout:
            subprocess.run(argv, stdin=fin, stdout=fout, stderr=subprocess.DEVNULL, check=True)
        times[name] = time.perf_counter() - start

    vocab, cooc, shuf = (os.path.join(work, n) for n in ("vocab.txt", "cooccurrence.bin", "cooccurrence.shuf.bin"))
    timed("vocab_count", [tool("vocab_count"), "-min-count", str(args.min_count), "-verbose", "0"], corpus_file, vocab)
    timed(
        "cooccur",
        [tool("cooccur"), "-memory", "4.0", "-vocab-file", vocab, "-verbose", "0", "-window-size", str(args.window)],
        corpus_file,
        cooc,
    )
    timed("shuffle", [tool("shuffle"), "-memory", "4.0", "-verbose", "0", "-seed", str(seed)], cooc, shuf)
    save = os.path.join(work, "vectors")
    timed(
        "glove",
        [
            tool("glove"),
            "-save-file",
            save,
            "-threads",
            str(args.threads),
            "-input-file",
            shuf,
            "-x-max",
            str(args.x_max),
            "-iter",
            str(args.epochs),
            "-vector-size",
            str(args.embedding_dim),
            "-binary",
            "0",
            "-vocab-file",
            vocab,
            "-verbose",
            "0",
            "-seed",
            str(seed),
            "-eta",
            "0.05",
            "-alpha",
            "0.75",
            "-model",
            "2",
        ],
        os.devnull,
        os.devnull,
    )
    vectors = WordVectors.load_word2vec_format(save + ".txt", no_header=True)
    scores = evaluate_vectors(vectors, EvaluationArguments())
    counting = times["vocab_count"] + times["cooccur"] + times["shuffle"]
    return {
        "side": "glove.c",
        "seed": seed,
        "counting_seconds": counting,
        "train_seconds": times["glove"],
        "pipeline_seconds": counting + times["glove"],
        "total_seconds": sum(times.values()),
        "nonzeros": os.path.getsize(cooc) // 16,
        "wordsim353_spearman": scores.get("wordsim353_spearman"),
        "google_analogy_accuracy": scores.get("google_analogy_accuracy"),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedding_dim", type=int, default=100)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--x_max", type=float, default=10.0)
    parser.add_argument("--min_count", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch_size", type=int, default=GloVeTrainingArguments.batch_size)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42, help="The first seed; --seeds N runs seed, seed+1, ...")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--reference", help="A folder holding glove.c's built tools: also run them, seed by seed.")
    parser.add_argument("--profile", action="store_true", help="Print a torch profiler table of the step and exit.")
    parser.add_argument("--json", help="Also write the figures to this file.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.profile:
        profile_step(args)
        return
    if args.reference:
        missing = [
            t
            for t in ("vocab_count", "cooccur", "shuffle", "glove")
            if not os.access(os.path.join(args.reference, t), os.X_OK)
        ]
        if missing:
            sys.exit(
                f"--reference {args.reference}: missing executables {missing} (build github.com/stanfordnlp/GloVe)"
            )

    runs = []
    with tempfile.TemporaryDirectory() as work:
        corpus_file = os.path.join(work, "wiki.train.tokens")
        if args.reference:
            with open(corpus_file, "w", encoding="utf-8") as f:
                for line in load_corpus("wikitext-2")["train"]["text"]:
                    f.write(" ".join(w for w in line.split(" ") if w != "<unk>") + "\n")
        for seed in range(args.seed, args.seed + args.seeds):
            runs.append(run_ours(args, seed))
            if args.reference:
                runs.append(run_reference(args, seed, args.reference, corpus_file, work))

    print(
        f"\nGloVe on WikiText-2 train: d{args.embedding_dim}, window {args.window}, x_max {args.x_max}, "
        f"{args.epochs} epochs, {args.threads} threads; ours with batches of {args.batch_size} pairs"
    )
    print(
        f"{'side':12} {'seed':>4} {'counting s':>10} {'training s':>10} {'pipeline s':>10} {'non-zeros':>10} "
        f"{'WS353':>7} {'analogy':>8} {'load avg':>9}"
    )
    for r in runs:
        print(
            f"{r['side']:12} {r['seed']:>4} {r['counting_seconds']:>10.1f} {r['train_seconds']:>10.1f} "
            f"{r['pipeline_seconds']:>10.1f} {r['nonzeros']:>10,} {r['wordsim353_spearman']:>7.4f} "
            f"{r['google_analogy_accuracy']:>8.2%} {r['load_average_before']:>4.1f}/{r['load_average_after']:.1f}"
        )
    summary = {}
    for side in sorted({r["side"] for r in runs}):
        mine = [r for r in runs if r["side"] == side]
        summary[side] = {
            k: statistics.mean(r[k] for r in mine)
            for k in ("pipeline_seconds", "wordsim353_spearman", "google_analogy_accuracy")
        }
        print(
            f"{side:12} mean: pipeline {summary[side]['pipeline_seconds']:.1f} s, WS353 "
            f"{summary[side]['wordsim353_spearman']:.4f}, analogy {summary[side]['google_analogy_accuracy']:.2%}"
        )
    if args.reference:
        ratio = summary["glove.c"]["pipeline_seconds"] / summary["hf-pretrain"]["pipeline_seconds"]
        print(f"speed ratio (glove.c pipeline time / ours): {ratio:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "runs": runs, "summary": summary}, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
