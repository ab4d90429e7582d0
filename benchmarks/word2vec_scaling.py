"""How word2vec's cost grows with the corpus: hf-pretrain against gensim on a corpus N times WikiText-2,
and vocabulary building on a corpus with millions of distinct words.

    python benchmarks/word2vec_scaling.py corpus --scale 10 --epochs 1   # 20.5M words, in memory and streamed
    python benchmarks/word2vec_scaling.py vocabulary --distinct 2000000  # counting 2M distinct words

`corpus` writes WikiText-2's train text `--scale` times into one file and trains skip-gram NS on it
with the recipe's defaults otherwise: ours in memory and with `--streaming`
(`python recipes/train_word2vec.py`, a fresh process each), gensim 4.4.0 from the same file in its
`corpus_file` mode (its fastest for large files) with 2 workers. Each side reports its
training-only words/s and the whole process's wall time and peak memory (`ru_maxrss` of the child).

`vocabulary` writes a corpus whose words follow a Zipf law over `--distinct` types and times
`Vocabulary.build` against gensim's `Word2Vec.build_vocab` (min_count 5 on both), each in a fresh
process, with its peak memory.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

GENSIM_TRAIN = """
import json, sys, time
from gensim.models import Word2Vec
corpus, epochs = sys.argv[1], int(sys.argv[2])
model = Word2Vec(vector_size=100, window=5, negative=5, sample=1e-3, min_count=5, workers=2, sg=1, epochs=epochs)
model.build_vocab(corpus_file=corpus)
start = time.perf_counter()
model.train(corpus_file=corpus, total_words=model.corpus_total_words, epochs=epochs)
seconds = time.perf_counter() - start
print(json.dumps({"words_per_second": epochs * model.corpus_total_words / seconds}))
"""

GENSIM_VOCAB = """
import json, sys, time
from gensim.models import Word2Vec
from gensim.models.word2vec import LineSentence
start = time.perf_counter()
model = Word2Vec(min_count=5)
model.build_vocab(LineSentence(sys.argv[1]))
print(json.dumps({"seconds": time.perf_counter() - start, "kept": len(model.wv)}))
"""

OURS_VOCAB = """
import json, sys, time
from hf_pretrain.core.vocab import Vocabulary
start = time.perf_counter()
with open(sys.argv[1], encoding="utf-8") as f:
    vocab = Vocabulary.build(f, min_count=5)
print(json.dumps({"seconds": time.perf_counter() - start, "kept": len(vocab) - 1}))
"""


# Runs a command and prints its peak memory: RUSAGE_CHILDREN of a process with one child is that child's.
PROBE = (
    "import resource, subprocess, sys;"
    "done = subprocess.run(sys.argv[1:]);"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024);"
    "sys.exit(done.returncode)"
)


def child(command: list[str]) -> tuple[float, int, str]:
    """(wall seconds, peak RSS in MiB, stdout) of `command` in a fresh process."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PROBE, *command], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"{command[:3]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    lines = done.stdout.strip().splitlines()
    return seconds, int(lines[-1]), "\n".join(lines[:-1])


def corpus(args) -> dict:
    from hf_pretrain import load_corpus

    lines = load_corpus("wikitext-2")["train"]["text"]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"wikitext2x{args.scale}.txt")
        with open(path, "w", encoding="utf-8") as f:
            for _ in range(args.scale):
                f.writelines(line + "\n" for line in lines if line.strip())
        sides = [("gensim corpus_file", [sys.executable, "-c", GENSIM_TRAIN, path, str(args.epochs)])]
        for name, extra in (("hf-pretrain in memory", []), ("hf-pretrain --streaming", ["--streaming"])):
            out = os.path.join(tmp, name.split()[-1].strip("-"))
            recipe = [sys.executable, str(REPO / "recipes" / "train_word2vec.py"), "--dataset", path]
            recipe += ["--epochs", str(args.epochs), "--output_dir", out, *extra]
            sides.append((name, recipe))
        for name, command in sides:
            seconds, peak, stdout = child(command)
            if name.startswith("gensim"):
                speed = json.loads(stdout.strip().splitlines()[-1])["words_per_second"]
            else:
                with open(os.path.join(command[command.index("--output_dir") + 1], "all_results.json")) as f:
                    speed = json.load(f)["train_words_per_second"]
            results[name] = {"seconds": seconds, "peak_rss_mib": peak, "train_words_per_second": speed}
            print(f"{name:26} {seconds:8.1f} s whole  {speed:12,.0f} train words/s  {peak:6,} MiB", flush=True)
    return results


def vocabulary(args) -> dict:
    import numpy as np

    rng = np.random.default_rng(0)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "zipf.txt")
        # Zipf ranks over `distinct` types; every type appears at least once, so all of them are seen.
        ranks = np.minimum(rng.zipf(1.1, size=args.tokens), args.distinct) - 1
        ranks = np.concatenate([np.arange(args.distinct), ranks])
        rng.shuffle(ranks)
        with open(path, "w", encoding="utf-8") as f:
            for row in np.array_split(ranks, max(1, len(ranks) // 20)):
                f.write(" ".join(f"w{r}" for r in row) + "\n")
        for name, script in (("gensim build_vocab", GENSIM_VOCAB), ("hf-pretrain Vocabulary.build", OURS_VOCAB)):
            _, peak, stdout = child([sys.executable, "-c", script, path])
            figures = json.loads(stdout.strip().splitlines()[-1]) | {"peak_rss_mib": peak}
            results[name] = figures
            print(f"{name:30} {figures['seconds']:7.1f} s  {peak:6,} MiB  kept {figures['kept']:,}", flush=True)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["corpus", "vocabulary"])
    parser.add_argument("--scale", type=int, default=10, help="corpus: copies of WikiText-2 train.")
    parser.add_argument("--epochs", type=int, default=1, help="corpus: epochs on both sides.")
    parser.add_argument("--distinct", type=int, default=2_000_000, help="vocabulary: distinct words.")
    parser.add_argument(
        "--tokens", type=int, default=20_000_000, help="vocabulary: Zipf-drawn tokens besides one of each type."
    )
    parser.add_argument("--json", help="Also write the figures to this file.")
    args = parser.parse_args()
    results = corpus(args) if args.what == "corpus" else vocabulary(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
