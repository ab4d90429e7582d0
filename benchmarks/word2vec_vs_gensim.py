"""hf-pretrain word2vec against gensim on WikiText-2: same hyperparameters, same threads, same run.

    python benchmarks/word2vec_vs_gensim.py                        # skip-gram NS
    python benchmarks/word2vec_vs_gensim.py --architecture cbow
    python benchmarks/word2vec_vs_gensim.py --loss hierarchical_softmax --seeds 3
    python benchmarks/word2vec_vs_gensim.py --profile              # torch profiler table of our step
    python benchmarks/word2vec_vs_gensim.py --whole_process --variants all   # the four variants as users run them

words/s = epochs × corpus words / training seconds (vocabulary building excluded on both sides).

`--whole_process` times what a user waits for, end to end, each side in a fresh process:
`accelerate launch recipes/train_word2vec.py` with the recipe's defaults (packaged WikiText-2, its
evaluation, folder, card and plot), against a gensim script that imports gensim, reads the same
training text from a plain file, builds the vocabulary, trains and saves its vectors. Both print
their training-only seconds too; the quality columns score both sides' vectors with gensim's
evaluation, outside the timed part.
WordSim-353 is scored by gensim's `evaluate_word_pairs` on both models; our vectors go through
`save_word2vec_format` → `KeyedVectors.load_word2vec_format` so the file format is exercised too.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from hf_pretrain import load_corpus
from hf_pretrain.core.loop import TrainingArguments
from hf_pretrain.vectors.evaluation import EVAL_DIR
from hf_pretrain.word2vec.train import Word2VecArguments, train_word2vec

REPO = str(Path(__file__).resolve().parents[1])
VARIANTS = [
    ("skipgram", "negative_sampling"),
    ("cbow", "negative_sampling"),
    ("skipgram", "hierarchical_softmax"),
    ("cbow", "hierarchical_softmax"),
]
WS353 = str(EVAL_DIR / "wordsim353_all.tsv")
ANALOGIES = str(EVAL_DIR / "questions-words.txt")


def gensim_scores(keyed_vectors):
    pairs = keyed_vectors.evaluate_word_pairs(WS353)
    analogy, _ = keyed_vectors.evaluate_word_analogies(ANALOGIES)
    return float(pairs[1][0]), float(analogy)


def run_gensim(sentences, args, seed):
    from gensim.models import Word2Vec

    model = Word2Vec(**gensim_options(args, seed))
    model.build_vocab(sentences)
    words = sum(len(s) for s in sentences)
    start = time.perf_counter()
    model.train(sentences, total_examples=len(sentences), epochs=args.epochs)
    seconds = time.perf_counter() - start
    return args.epochs * words / seconds, gensim_scores(model.wv)


def run_ours(args, seed):
    from gensim.models import KeyedVectors

    from hf_pretrain import WordVectors

    with tempfile.TemporaryDirectory() as tmp:
        results = train_word2vec(
            Word2VecArguments(
                dataset="wikitext-2",
                min_count=args.min_count,
                architecture=args.architecture,
                loss=args.loss,
                embedding_dim=args.embedding_dim,
                window=args.window,
                num_negatives=args.negative,
                subsample=args.subsample,
                negative_sharing=args.negative_sharing,
                similarity_file="",
                analogy_file="",
            ),
            TrainingArguments(
                output_dir=os.path.join(tmp, "model"),
                seed=seed,
                epochs=args.epochs,
                batch_size=args.batch_size,
                num_threads=args.threads,
                logging_steps=10**9,
            ),
        )
        path = os.path.join(tmp, "vectors.txt")
        WordVectors.from_pretrained(os.path.join(tmp, "model")).save_word2vec_format(path)
        scores = gensim_scores(KeyedVectors.load_word2vec_format(path))
    return results["train_words_per_second"], scores


GENSIM_SCRIPT = """
import json, sys, time
from gensim.models import Word2Vec
from gensim.models.word2vec import LineSentence
corpus, out, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sentences = LineSentence(corpus)
model = Word2Vec(**options)
model.build_vocab(sentences)
start = time.perf_counter()
model.train(sentences, total_examples=model.corpus_count, epochs=model.epochs)
seconds = time.perf_counter() - start
model.wv.save_word2vec_format(out, binary=True)
print(json.dumps({"train_seconds": seconds, "train_words": model.epochs * model.corpus_total_words}))
"""


def gensim_options(args, seed) -> dict:
    return {
        "vector_size": args.embedding_dim,
        "window": args.window,
        "negative": args.negative if args.loss == "negative_sampling" else 0,
        "hs": int(args.loss == "hierarchical_softmax"),
        "sample": args.subsample,
        "min_count": args.min_count,
        "workers": args.threads,
        "sg": int(args.architecture == "skipgram"),
        "seed": seed,
        "epochs": args.epochs,
    }


def timed(command) -> tuple:
    """(wall seconds, stdout) of a fresh process."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"{command[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def whole_gensim(corpus_file, args, seed, tmp):
    from gensim.models import KeyedVectors

    out = os.path.join(tmp, "gensim.bin")
    seconds, stdout = timed(
        [sys.executable, "-c", GENSIM_SCRIPT, corpus_file, out, json.dumps(gensim_options(args, seed))]
    )
    train = json.loads(stdout.strip().splitlines()[-1])
    return (
        seconds,
        train["train_words"] / train["train_seconds"],
        gensim_scores(KeyedVectors.load_word2vec_format(out, binary=True)),
    )


def whole_ours(args, seed, tmp):
    """The recipe as a user runs it: only the variant and the seed are passed (the corpus, the
    dimensions, the window, the noise words, subsampling and epochs are the recipe's defaults)."""
    from gensim.models import KeyedVectors

    from hf_pretrain import WordVectors

    out = os.path.join(tmp, f"ours-{seed}")
    command = ["accelerate", "launch", "--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no"]
    command += ["--dynamo_backend", "no", os.path.join(REPO, "recipes", "train_word2vec.py")]
    command += ["--architecture", args.architecture, "--loss", args.loss, "--seed", str(seed), "--output_dir", out]
    seconds, _ = timed(command)
    with open(os.path.join(out, "all_results.json")) as f:
        results = json.load(f)
    path = os.path.join(tmp, "ours.txt")
    WordVectors.from_pretrained(out).save_word2vec_format(path)
    return seconds, results["train_words_per_second"], gensim_scores(KeyedVectors.load_word2vec_format(path))


def whole_process(args) -> dict:
    rows = {"gensim": [], "hf-pretrain": []}
    with tempfile.TemporaryDirectory() as tmp:
        corpus_file = os.path.join(tmp, "train.txt")
        with open(corpus_file, "w", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in load_corpus("wikitext-2")["train"]["text"])
        for seed in range(1, args.seeds + 1):
            rows["gensim"].append(whole_gensim(corpus_file, args, seed, tmp))
            rows["hf-pretrain"].append(whole_ours(args, seed, tmp))
    summary = {
        name: _means(runs, ("seconds", "train_words_per_second", "wordsim353_spearman", "google_analogy"))
        for name, runs in rows.items()
    }
    ours, theirs = summary["hf-pretrain"], summary["gensim"]
    summary["whole_process_ratio"] = theirs["seconds"] / ours["seconds"]
    summary["training_ratio"] = ours["train_words_per_second"] / theirs["train_words_per_second"]
    return summary


def _means(runs, names) -> dict:
    flat = [(r[0], r[1], r[2][0], r[2][1]) for r in runs]
    return {name: statistics.mean(r[i] for r in flat) for i, name in enumerate(names)} | {
        "runs": [dict(zip(names, r)) for r in flat]
    }


def profile_step(args):
    from hf_pretrain.core.vocab import Vocabulary
    from hf_pretrain.word2vec import Word2VecConfig, Word2VecModel
    from hf_pretrain.word2vec.data import WindowBatches
    from hf_pretrain.word2vec.sgd import sgd_step

    texts = load_corpus("wikitext-2")["train"]["text"]
    vocab = Vocabulary.build(texts, min_count=args.min_count)
    model = Word2VecModel(
        Word2VecConfig(
            vocab_size=len(vocab),
            architecture=args.architecture,
            loss=args.loss,
            negative_sharing=args.negative_sharing,
        )
    )
    batches = WindowBatches(
        vocab.encode(texts),
        vocab.training_counts,
        window=args.window,
        batch_size=args.batch_size,
        loss=args.loss,
        sample=args.subsample,
        negative_sharing=args.negative_sharing,
    )
    it = batches.epoch(torch.Generator().manual_seed(0))
    warm = [next(it) for _ in range(20)]
    for b in warm:
        b.pop("words")
        sgd_step(model, **b, learning_rate=0.025)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(100):
            b = next(it)
            b.pop("words")
            sgd_step(model, **b, learning_rate=0.025)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--architecture", default="skipgram", choices=["skipgram", "cbow"])
    parser.add_argument("--loss", default="negative_sampling", choices=["negative_sampling", "hierarchical_softmax"])
    parser.add_argument("--embedding_dim", type=int, default=100)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--negative", type=int, default=5)
    parser.add_argument("--subsample", type=float, default=1e-3)
    parser.add_argument("--min_count", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch_size", type=int, default=2048)
    parser.add_argument("--negative_sharing", type=int, default=1, help="CBOW NS: centres sharing noise words.")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=1, help="Runs per side (different seeds).")
    parser.add_argument("--profile", action="store_true", help="Print a torch profiler table of our step and exit.")
    parser.add_argument("--json", help="Also write the figures to this file.")
    parser.add_argument(
        "--whole_process", action="store_true", help="Time both sides end to end as users run them (see above)."
    )
    parser.add_argument("--variants", default="one", choices=["one", "all"], help="all: skip-gram/CBOW × NS/HS.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.profile:
        profile_step(args)
        return

    variants = VARIANTS if args.variants == "all" else [(args.architecture, args.loss)]
    table = {}
    for architecture, loss in variants:
        args.architecture, args.loss = architecture, loss
        table[f"{architecture} / {loss}"] = whole_process(args) if args.whole_process else training_only(args)
    report(table, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "cpu": cpu_name(), "variants": table}, f, indent=2)


def training_only(args) -> dict:
    sentences = [line.split() for line in load_corpus("wikitext-2")["train"]["text"] if line.strip()]
    rows = {"gensim": [], "hf-pretrain": []}
    for seed in range(1, args.seeds + 1):
        speed, scores = run_gensim(sentences, args, seed)
        rows["gensim"].append((0.0, speed, scores))
        speed, scores = run_ours(args, seed)
        rows["hf-pretrain"].append((0.0, speed, scores))
    names = ("seconds", "train_words_per_second", "wordsim353_spearman", "google_analogy")
    summary = {name: _means(runs, names) for name, runs in rows.items()}
    summary["training_ratio"] = (
        summary["hf-pretrain"]["train_words_per_second"] / summary["gensim"]["train_words_per_second"]
    )
    return summary


def report(table: dict, args) -> None:
    mode = "whole process" if args.whole_process else "training only"
    print(f"\n{mode}: WikiText-2 train, {args.threads} threads, {args.seeds} seed(s), {cpu_name()}")
    print(f"{'variant':34} {'side':12} {'seconds':>8} {'train words/s':>14} {'WS353 ρ':>8} {'analogy':>8}")
    for variant, summary in table.items():
        for side in ("gensim", "hf-pretrain"):
            row = summary[side]
            seconds = f"{row['seconds']:8.1f}" if args.whole_process else f"{'':>8}"
            print(
                f"{variant:34} {side:12} {seconds} {row['train_words_per_second']:14,.0f} "
                f"{row['wordsim353_spearman']:8.3f} {row['google_analogy']:8.2%}"
            )
        ratios = f"training {summary['training_ratio']:.2f}x"
        if args.whole_process:
            ratios = f"whole process {summary['whole_process_ratio']:.2f}x, " + ratios
        print(f"{variant:34} {'ratio':12} hf-pretrain / gensim: {ratios}")


def cpu_name() -> str:
    """The CPU's model name and whether it has AVX-512 (figures depend on both)."""
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return "unknown CPU"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    return f"{name}, {os.cpu_count()} cores, {'with' if 'avx512f' in info else 'no'} AVX-512"


if __name__ == "__main__":
    sys.exit(main())
