"""hf-pretrain fastText against the fastText reference (`fasttext.train_unsupervised`) on WikiText-2:
same hyperparameters, same threads, same run.

    python benchmarks/fasttext_vs_reference.py                 # skip-gram, d100, ws 5, neg 5, 3-6-grams, 5 epochs
    python benchmarks/fasttext_vs_reference.py --batch_size 4096 --json out.json
    python benchmarks/fasttext_vs_reference.py --profile       # torch profiler table of our step

Each side runs in its own process so that its peak RSS (with the full bucket table) is its own.
words/s = epochs × corpus words / training seconds. Ours times the training loop (vocabulary and
subwords excluded); the reference's `train_unsupervised` call also reads the corpus and builds its
dictionary, so its figure is also given from its own progress line (words/sec/thread × threads, which
counts the end-of-line tokens too). Both models are scored by the same code: the reference's `.bin`
is read with `FastTextVectors.load_fasttext_format`, and WordSim-353 is scored over all pairs (unseen
words composed from their n-grams) and over the in-vocabulary pairs only.
"""

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

NUMBERS = (
    "words_per_second",
    "reported_words_per_second",
    "train_seconds",
    "peak_rss_mib",
    "wordsim353_all_pairs",
    "wordsim353_in_vocab",
    "google_analogy",
)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scores(vectors, ws353, analogies):
    return {
        "wordsim353_all_pairs": float(vectors.evaluate_word_pairs(ws353, oov="compose")["spearman"]),
        "wordsim353_in_vocab": float(vectors.evaluate_word_pairs(ws353, oov="skip")["spearman"]),
        "google_analogy": float(vectors.evaluate_word_analogies(analogies)["accuracy"]),
    }


def probe(vectors):
    return {
        w: [n for n, _ in vectors.most_similar(w, topn=5)] for w in ("goverment", "recieved", "runnning", "lobsters")
    }


def run_reference(args, corpus_path, words):
    import fasttext

    err_path = corpus_path + ".log"
    # The reference reports its own throughput on stderr (C++), which Python cannot capture directly.
    saved = os.dup(2)
    with open(err_path, "w") as err:
        os.dup2(err.fileno(), 2)
        try:
            start = time.perf_counter()
            model = fasttext.train_unsupervised(
                corpus_path,
                model="skipgram",
                dim=args.embedding_dim,
                ws=args.window,
                neg=args.negative,
                minn=args.minn,
                maxn=args.maxn,
                bucket=args.bucket,
                epoch=args.epochs,
                minCount=args.min_count,
                t=args.subsample,
                lr=args.learning_rate,
                thread=args.threads,
                verbose=2,
            )
            seconds = time.perf_counter() - start
        finally:
            os.dup2(saved, 2)
    rss = peak_rss_mib()
    reported = re.findall(r"words/sec/thread:\s*(\d+)", open(err_path).read())
    bin_path = corpus_path + ".bin"
    model.save_model(bin_path)
    del model
    from hf_pretrain import FastTextVectors
    from hf_pretrain.vectors.evaluation import EVAL_DIR

    vectors = FastTextVectors.load_fasttext_format(bin_path)
    return {
        "words_per_second": args.epochs * words / seconds,
        "reported_words_per_second": int(reported[-1]) * args.threads if reported else None,
        "train_seconds": seconds,
        "peak_rss_mib": rss,
        **scores(vectors, str(EVAL_DIR / "wordsim353_all.tsv"), str(EVAL_DIR / "questions-words.txt")),
        "neighbours": probe(vectors),
    }


def run_ours(args, tmp):
    from hf_pretrain import WordVectors
    from hf_pretrain.core.loop import TrainingArguments
    from hf_pretrain.fasttext.train import FastTextArguments, train_fasttext
    from hf_pretrain.vectors.evaluation import EVAL_DIR

    results = train_fasttext(
        FastTextArguments(
            dataset="wikitext-2",
            min_count=args.min_count,
            embedding_dim=args.embedding_dim,
            window=args.window,
            num_negatives=args.negative,
            subsample=args.subsample,
            minn=args.minn,
            maxn=args.maxn,
            bucket=args.bucket,
            max_row_updates=args.max_row_updates,
            similarity_file="",
            analogy_file="",
        ),
        TrainingArguments(
            output_dir=os.path.join(tmp, "model"),
            seed=args.seed,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            num_threads=args.threads,
            logging_steps=10**9,
        ),
    )
    rss = peak_rss_mib()  # training, folder writing and the vectors view included
    vectors = WordVectors.from_pretrained(os.path.join(tmp, "model"))
    return {
        "words_per_second": results["train_words_per_second"],
        "train_seconds": results["train_runtime"],
        "peak_rss_mib": rss,
        **scores(vectors, str(EVAL_DIR / "wordsim353_all.tsv"), str(EVAL_DIR / "questions-words.txt")),
        "neighbours": probe(vectors),
    }


def profile_step(args):
    import torch

    from hf_pretrain import Vocabulary, load_corpus
    from hf_pretrain.fasttext import FastTextConfig, FastTextModel
    from hf_pretrain.fasttext.sgd import sgd_step
    from hf_pretrain.fasttext.subwords import char_ngram_subwords
    from hf_pretrain.word2vec.data import WindowBatches

    texts = load_corpus("wikitext-2")["train"]["text"]
    vocab = Vocabulary.build(texts, min_count=args.min_count)
    model = FastTextModel(
        FastTextConfig(
            vocab_size=len(vocab),
            minn=args.minn,
            maxn=args.maxn,
            bucket=args.bucket,
            max_row_updates=args.max_row_updates,
        )
    )
    model.set_subwords(*char_ngram_subwords(vocab.index_to_word, args.minn, args.maxn, args.bucket))
    batches = WindowBatches(
        vocab.encode(texts),
        vocab.training_counts,
        window=args.window,
        batch_size=args.batch_size,
        sample=args.subsample,
    )
    it = batches.epoch(torch.Generator().manual_seed(0))
    for _ in range(20):
        b = next(it)
        b.pop("words")
        sgd_step(model, **b, learning_rate=0.05)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(50):
            b = next(it)
            b.pop("words")
            sgd_step(model, **b, learning_rate=0.05)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedding_dim", type=int, default=100)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--negative", type=int, default=5)
    parser.add_argument("--minn", type=int, default=3)
    parser.add_argument("--maxn", type=int, default=6)
    parser.add_argument("--bucket", type=int, default=2_000_000)
    parser.add_argument("--subsample", type=float, default=1e-4, help="fastText's -t (its default), both sides.")
    parser.add_argument("--min_count", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--learning_rate", type=float, default=0.05, help="fastText's default, both sides.")
    parser.add_argument("--batch_size", type=int, default=2048)
    parser.add_argument("--max_row_updates", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rounds", type=int, default=1, help="Runs per side, alternating.")
    parser.add_argument("--profile", action="store_true", help="Print a torch profiler table of our step and exit.")
    parser.add_argument("--json", help="Also write the figures to this file.")
    parser.add_argument("--side", choices=["ours", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--side_out", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.profile:
        import torch

        torch.set_num_threads(args.threads)
        profile_step(args)
        return
    if args.side:
        with tempfile.TemporaryDirectory() as tmp:
            if args.side == "reference":
                from hf_pretrain import load_corpus

                texts = load_corpus("wikitext-2")["train"]["text"]
                corpus_path = os.path.join(tmp, "wiki.train.txt")
                with open(corpus_path, "w", encoding="utf-8") as f:
                    f.write("\n".join(texts) + "\n")
                out = run_reference(args, corpus_path, sum(len(t.split()) for t in texts))
            else:
                out = run_ours(args, tmp)
        with open(args.side_out, "w") as f:
            json.dump(out, f)
        return

    runs = {"reference": [], "ours": []}
    with tempfile.TemporaryDirectory() as tmp:
        # Sides alternate, so that a change in the machine's load falls on both.
        for round_ in range(args.rounds):
            for side in ("reference", "ours"):
                path = os.path.join(tmp, f"{side}{round_}.json")
                cmd = [sys.executable, os.path.abspath(__file__), *sys.argv[1:], "--side", side, "--side_out", path]
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
                with open(path) as f:
                    runs[side].append(json.load(f))
                with open("/proc/loadavg") as f:
                    runs[side][-1]["load_average"] = f.read().split()[:3]
                print(side, json.dumps({k: v for k, v in runs[side][-1].items() if k != "neighbours"}), flush=True)
    rows = {
        side: {k: statistics.mean(r[k] for r in rs) for k in NUMBERS if rs[0].get(k) is not None}
        for side, rs in runs.items()
    }
    print(
        f"\nskip-gram, d{args.embedding_dim}, ws {args.window}, neg {args.negative}, {args.minn}-{args.maxn}-grams, "
        f"bucket {args.bucket:,}, t {args.subsample:g}, lr {args.learning_rate}, minCount {args.min_count}, "
        f"{args.epochs} epochs, {args.threads} threads, our batch {args.batch_size}, {args.rounds} round(s); "
        f"load averages after each run: {[r['load_average'][0] for rs in runs.values() for r in rs]}"
    )
    print(
        f"{'':12} {'words/s':>10} {'(own log)':>10} {'WS353 all':>10} {'in-vocab':>9} {'analogy':>8} {'peak RSS':>10}"
    )
    for name, r in (("fastText", rows["reference"]), ("hf-pretrain", rows["ours"])):
        own = f"{r['reported_words_per_second']:,.0f}" if r.get("reported_words_per_second") else ""
        print(
            f"{name:12} {r['words_per_second']:10,.0f} {own:>10} {r['wordsim353_all_pairs']:10.3f} "
            f"{r['wordsim353_in_vocab']:9.3f} {r['google_analogy']:8.2%} {r['peak_rss_mib']:8,.0f} MiB"
        )
    ratio = rows["ours"]["words_per_second"] / rows["reference"]["words_per_second"]
    print(f"speed ratio hf-pretrain / fastText: {ratio:.2f}x")
    for name, side in (("fastText", "reference"), ("hf-pretrain", "ours")):
        print(
            f"{name} neighbours: " + "; ".join(f"{w}: {', '.join(n)}" for w, n in runs[side][-1]["neighbours"].items())
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "speed_ratio": ratio, "mean": rows, "runs": runs}, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
