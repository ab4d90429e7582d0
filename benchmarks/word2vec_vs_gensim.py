"""hf-pretrain word2vec against gensim on WikiText-2: same hyperparameters, same threads, same run.

    python benchmarks/word2vec_vs_gensim.py                        # skip-gram NS
    python benchmarks/word2vec_vs_gensim.py --architecture cbow
    python benchmarks/word2vec_vs_gensim.py --loss hierarchical_softmax --seeds 3
    python benchmarks/word2vec_vs_gensim.py --profile              # torch profiler table of our step

words/s = epochs × corpus words / training seconds (vocabulary building excluded on both sides).
WordSim-353 is scored by gensim's `evaluate_word_pairs` on both models; our vectors go through
`save_word2vec_format` → `KeyedVectors.load_word2vec_format` so the file format is exercised too.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import torch

from hf_pretrain import load_corpus
from hf_pretrain.core.loop import TrainingArguments
from hf_pretrain.vectors.evaluation import EVAL_DIR
from hf_pretrain.word2vec.train import Word2VecArguments, train_word2vec

WS353 = str(EVAL_DIR / "wordsim353_all.tsv")
ANALOGIES = str(EVAL_DIR / "questions-words.txt")


def gensim_scores(keyed_vectors):
    pairs = keyed_vectors.evaluate_word_pairs(WS353)
    analogy, _ = keyed_vectors.evaluate_word_analogies(ANALOGIES)
    return float(pairs[1][0]), float(analogy)


def run_gensim(sentences, args, seed):
    from gensim.models import Word2Vec

    model = Word2Vec(
        vector_size=args.embedding_dim,
        window=args.window,
        negative=args.negative if args.loss == "negative_sampling" else 0,
        hs=int(args.loss == "hierarchical_softmax"),
        sample=args.subsample,
        min_count=args.min_count,
        workers=args.threads,
        sg=int(args.architecture == "skipgram"),
        seed=seed,
        epochs=args.epochs,
    )
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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.profile:
        profile_step(args)
        return

    sentences = [line.split() for line in load_corpus("wikitext-2")["train"]["text"] if line.strip()]
    rows = {"gensim": [], "hf-pretrain": []}
    for seed in range(1, args.seeds + 1):
        rows["gensim"].append(run_gensim(sentences, args, seed))
        rows["hf-pretrain"].append(run_ours(args, seed))
    summary = {}
    print(
        f"\n{args.architecture} / {args.loss}, d{args.embedding_dim}, window {args.window}, batch {args.batch_size}, "
        f"{args.epochs} epochs, {args.threads} threads, {args.seeds} seed(s), WikiText-2 train"
    )
    print(f"{'':12} {'words/s':>12} {'WS353 ρ':>9} {'analogy':>8}")
    for name, runs in rows.items():
        speed = statistics.mean(r[0] for r in runs)
        ws = statistics.mean(r[1][0] for r in runs)
        an = statistics.mean(r[1][1] for r in runs)
        summary[name] = {
            "words_per_second": speed,
            "wordsim353_spearman": ws,
            "google_analogy": an,
            "runs": [
                {"words_per_second": r[0], "wordsim353_spearman": r[1][0], "google_analogy": r[1][1]} for r in runs
            ],
        }
        print(f"{name:12} {speed:12,.0f} {ws:9.3f} {an:8.3%}")
    ratio = summary["hf-pretrain"]["words_per_second"] / summary["gensim"]["words_per_second"]
    summary["speed_ratio"] = ratio
    print(f"speed ratio hf-pretrain / gensim: {ratio:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), **summary}, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
