"""Kill a training run at a random checkpoint (SIGKILL) or stop it there as a scheduler does (SIGTERM),
resume it, and compare the final weights with those of an uninterrupted run, bit for bit.

    python tests/stress/kill_resume.py --repeat 10                 # every family, 10 kills each
    python tests/stress/kill_resume.py --family glove --repeat 3
    python tests/stress/kill_resume.py --signal TERM --repeat 5    # SIGTERM: the run writes its own checkpoint

Each run is a real `python recipes/train_*.py` process on the tiny fixture corpus, with one torch
thread (`--threads` for more), checkpointing every 2 steps. The killer waits until a randomly
chosen checkpoint has been written and kills the process at once, while it trains on; a kill that
comes after the run has finished does not count as a kill and is retried with an earlier checkpoint.
With SIGTERM the run must stop after its current step, write a checkpoint there and exit with 143.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from safetensors.numpy import load_file

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "tiny_corpus.txt"
WORD = [
    "--dataset",
    str(FIXTURE),
    "--min_count",
    "2",
    "--embedding_dim",
    "16",
    "--similarity_file",
    "",
    "--analogy_file",
    "",
]
RUNS = {
    "word2vec_ns": ("train_word2vec.py", [*WORD, "--batch_size", "64", "--epochs", "3"]),
    "word2vec_hs": (
        "train_word2vec.py",
        [*WORD, "--batch_size", "64", "--epochs", "3", "--loss", "hierarchical_softmax"],
    ),
    "glove": ("train_glove.py", [*WORD, "--batch_size", "1024", "--epochs", "4"]),
    "fasttext": ("train_fasttext.py", [*WORD, "--batch_size", "64", "--epochs", "3", "--bucket", "5000"]),
    "bert": (
        "pretrain_bert.py",
        [
            "--dataset",
            str(FIXTURE),
            "--min_frequency",
            "2",
            "--max_len",
            "32",
            "--batch_size",
            "8",
            "--max_steps",
            "0",
            "--epochs",
            "2",
            "--eval_batches",
            "0",
        ],
    ),
}
CHECKPOINT_EVERY = 2
THREADS = 1
SIGNAL = signal.SIGKILL


def command(family: str, output_dir: Path, *extra: str) -> list[str]:
    script, flags = RUNS[family]
    return [
        sys.executable,
        str(REPO / "recipes" / script),
        *flags,
        "--output_dir",
        str(output_dir),
        "--seed",
        "0",
        "--num_threads",
        str(THREADS),
        "--checkpointing_steps",
        str(CHECKPOINT_EVERY),
        "--logging_steps",
        "1000",
        *extra,
    ]


def environment() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": str(THREADS)}


def run(cmd: list[str]) -> None:
    completed = subprocess.run(cmd, env=environment(), capture_output=True, text=True)
    if completed.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{completed.stderr[-3000:]}")


def checkpoint_steps(output_dir: Path) -> list[int]:
    root = output_dir / "checkpoints"
    if not root.is_dir():
        return []
    return sorted(int(d.name[5:]) for d in root.iterdir() if d.name.startswith("step_") and d.name[5:].isdigit())


def kill_at(family: str, output_dir: Path, step: int, timeout: float = 300) -> bool:
    """Start the run and send it SIGNAL as soon as checkpoint `step` exists. False if it ended first."""
    process = subprocess.Popen(
        command(family, output_dir), env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if step in checkpoint_steps(output_dir):
            process.send_signal(SIGNAL)
            process.wait()
            if SIGNAL == signal.SIGTERM and process.returncode == 0:
                return False  # the signal came after the last step: the run finished
            if SIGNAL == signal.SIGTERM and process.returncode != 128 + signal.SIGTERM:
                raise RuntimeError(f"{family}: SIGTERM ended the run with exit {process.returncode}, not 143")
            return True
        time.sleep(0.002)
    process.kill()
    process.wait()
    return False


def same_weights(a: Path, b: Path) -> bool:
    left, right = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    return left.keys() == right.keys() and all(
        left[k].dtype == right[k].dtype and left[k].tobytes() == right[k].tobytes() for k in left
    )


def reference(family: str, root: Path) -> tuple[Path, list[int]]:
    """The uninterrupted run, and the steps at which it wrote checkpoints."""
    output = root / "uninterrupted"
    run(command(family, output))
    return output, checkpoint_steps(output)


def kill_and_resume(family: str, root: Path, uninterrupted: Path, steps: list[int], rng: random.Random) -> dict:
    """One kill at a random checkpoint (retried earlier if the run outpaced the killer), then resume."""
    candidates = steps[:-1]  # the last checkpoint comes at the very end
    while candidates:
        step = rng.choice(candidates)
        output = root / f"killed_{step}_{rng.randrange(10**6)}"
        if kill_at(family, output, step):
            break
        shutil.rmtree(output, ignore_errors=True)
        candidates = [s for s in candidates if s < step]
    else:
        raise RuntimeError(f"{family}: every run finished before the killer struck")
    killed_with = checkpoint_steps(output)
    assert not (output / "model.safetensors").exists(), "a killed run must not leave a final model"
    run(command(family, output, "--resume_from_checkpoint", "latest"))
    return {
        "family": family,
        "kill_after_checkpoint": step,
        "resumed_from": max(killed_with),
        "identical": same_weights(uninterrupted, output),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", choices=sorted(RUNS), action="append")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--seed", type=int, default=None, help="Seed of the kill points (default: random).")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each run.")
    parser.add_argument(
        "--signal",
        choices=("KILL", "TERM"),
        default="KILL",
        help="KILL: die at once; TERM: stop after the step with a checkpoint, as on preemption.",
    )
    args = parser.parse_args(argv)
    global THREADS, SIGNAL
    THREADS = args.threads
    SIGNAL = getattr(signal, f"SIG{args.signal}")
    rng = random.Random(args.seed)
    tally = {}
    for family in args.family or sorted(RUNS):
        with tempfile.TemporaryDirectory() as tmp:
            uninterrupted, steps = reference(family, Path(tmp))
            for i in range(args.repeat):
                result = kill_and_resume(family, Path(tmp) / str(i), uninterrupted, steps, rng)
                tally.setdefault(family, []).append(result["identical"])
                print(
                    f"{family:12} kill {i + 1:2}/{args.repeat}: checkpoint {result['kill_after_checkpoint']:3}, "
                    f"resumed from {result['resumed_from']:3} of {steps[-1]}: "
                    f"{'identical' if result['identical'] else 'DIFFERENT'}",
                    flush=True,
                )
    for family, outcomes in tally.items():
        print(f"{family:12} {sum(outcomes)}/{len(outcomes)} bit-identical")
    return 0 if all(all(o) for o in tally.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
