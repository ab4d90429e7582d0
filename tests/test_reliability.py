"""The reliability promises of docs/reliability.md, each tested with the real failure: a folder of the
user's files, a mount point, a full disk, SIGTERM, SIGKILL, a second run on the same folder.

Runs are the word2vec recipe on the tiny fixture corpus (one thread); the ones that need a process
of their own to kill are marked `slow`.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from hf_pretrain import WordVectors
from hf_pretrain.core.arguments import parse_args
from hf_pretrain.core.loop import NoTrainingDataError, TrainingArguments
from hf_pretrain.core.output_dir import (
    LOCK,
    STAGING,
    OutputDirError,
    OutputWriteError,
    finish_interrupted_write,
    write_folder_atomically,
)
from hf_pretrain.core.resume import CheckpointMismatchError, latest_checkpoint
from hf_pretrain.glove.train import GloVeArguments, GloVeTrainingArguments, train_glove
from hf_pretrain.word2vec.train import Word2VecArguments, train_word2vec

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "tiny_corpus.txt"
SCRIPT = REPO / "recipes" / "train_word2vec.py"
WORD2VEC = [
    "--min_count",
    "2",
    "--embedding_dim",
    "8",
    "--batch_size",
    "512",
    "--logging_steps",
    "5",
    "--similarity_file",
    "",
    "--analogy_file",
    "",
    "--num_threads",
    "1",
]
MODEL_FILES = {
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "word_counts.json",
    "all_results.json",
    "README.md",
}


def run(output_dir, *flags, dataset=FIXTURE):
    args = parse_args(
        [Word2VecArguments, TrainingArguments],
        ["--dataset", str(dataset), "--output_dir", str(output_dir), "--epochs", "1", *WORD2VEC, *flags],
    )
    return train_word2vec(*args)


def command(output_dir, *flags, dataset=FIXTURE):
    return [sys.executable, str(SCRIPT), "--dataset", str(dataset), "--output_dir", str(output_dir), *WORD2VEC, *flags]


def environment():
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}


def weights(folder):
    return WordVectors.from_pretrained(folder).vectors


def wait_for(predicate, process, timeout=120):
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            raise AssertionError(f"the run ended (exit {process.returncode}) before the condition was met")
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


def checkpoint_exists(folder, step):
    return lambda: (Path(folder) / "checkpoints" / f"step_{step}" / "trainer_state.json").is_file()


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    """A real mount point of `size` (a full disk is a real ENOSPC); needs root, as CI has."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if done.returncode:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"cannot mount a tmpfs: {done.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


# ------------------------------------------------------------ 1. a run deletes nothing it did not write


def test_user_files_in_output_dir_stay(tmp_path):
    out = tmp_path / "mine"
    (out / "notes").mkdir(parents=True)
    (out / "notes" / "day1.txt").write_text("a day of work")
    (out / "data.csv").write_text("a,b\n")
    run(out)
    assert (out / "notes" / "day1.txt").read_text() == "a day of work"
    assert (out / "data.csv").read_text() == "a,b\n"
    assert MODEL_FILES <= set(os.listdir(out))
    assert not (out / STAGING).exists() and not (out / LOCK).exists()


def test_output_dir_dot_inside_a_git_checkout_keeps_the_checkout(tmp_path, monkeypatch):
    checkout = tmp_path / "project"
    checkout.mkdir()
    subprocess.run(["git", "init", "-q", str(checkout)], check=True)
    (checkout / "train.py").write_text("print('mine')\n")
    monkeypatch.chdir(checkout)
    run(".")
    assert (checkout / ".git" / "HEAD").is_file() and (checkout / "train.py").read_text() == "print('mine')\n"
    assert (checkout / "model.safetensors").is_file()


def test_output_dir_that_is_a_file_is_refused_before_training(tmp_path):
    corpus = tmp_path / "corpus.txt"
    shutil.copy(FIXTURE, corpus)
    with pytest.raises(OutputDirError, match=r"corpus\.txt is a file, not a folder"):
        run(corpus)
    assert corpus.read_bytes() == FIXTURE.read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["corpus.txt"]


def test_output_dir_on_a_mount_point_and_through_a_symlink(tmp_path):
    with tmpfs(tmp_path / "volume", "64m") as volume:
        run(volume)
        assert MODEL_FILES <= set(os.listdir(volume))
        (volume / "elsewhere").mkdir()
        link = tmp_path / "link"
        link.symlink_to(volume / "elsewhere")
        run(link)
        assert link.is_symlink() and (volume / "elsewhere" / "model.safetensors").is_file()


def test_failure_while_moving_files_into_place_keeps_checkpoints_and_completes_later(tmp_path, monkeypatch):
    out = tmp_path / "model"
    run(out, "--checkpointing_steps", "1", "--max_steps", "2")
    old = weights(out)
    calls = []
    real_replace = os.replace

    def failing_replace(source, target):
        moving = STAGING in str(source) and STAGING not in str(target)
        calls.extend([target] if moving else [])
        if moving and len(calls) == 3:
            raise OSError(5, "Input/output error", str(target))
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="Input/output error"):
        run(out, "--overwrite_output_dir", "--seed", "7", "--max_steps", "2", "--checkpointing_steps", "1")
    monkeypatch.setattr(os, "replace", real_replace)
    # The new run's checkpoints and the old one's (set aside) are all there.
    assert latest_checkpoint(str(out)).endswith("step_2")
    assert any(name.startswith("checkpoints.previous-") for name in os.listdir(out))
    assert finish_interrupted_write(str(out)) == "completed"
    assert json.loads((out / "all_results.json").read_text())["seed"] == 7
    assert not np.array_equal(weights(out), old)


def test_files_follow_the_umask(tmp_path):
    previous = os.umask(0o002)
    try:
        run(tmp_path / "shared")
    finally:
        os.umask(previous)
    folder = tmp_path / "shared"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o775
    for name in MODEL_FILES:
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o664, name


# ------------------------------------------------------- 2. the final write: the old model or the new one

WRITER = textwrap.dedent("""
    import importlib.util, os, sys, time
    # The module alone, without the package's imports, so the kill times below fall inside the write.
    spec = importlib.util.spec_from_file_location("output_dir", sys.argv[3])
    output_dir = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(output_dir)
    folder, tag = sys.argv[1], sys.argv[2]
    real = os.replace
    def slow_replace(a, b):  # widen the window between the renames, where a kill is the hardest case
        time.sleep(0.02)
        return real(a, b)
    os.replace = slow_replace
    def write(tmp):
        for i in range(8):
            with open(os.path.join(tmp, f"part{i}.txt"), "w") as f:
                f.write(tag * 1000)
            time.sleep(0.02)
    print("ready", flush=True)
    output_dir.write_folder_atomically(folder, write)
""")


def write_parts(tag):
    def write(folder):
        for i in range(8):
            Path(folder, f"part{i}.txt").write_text(tag * 1000)

    return write


def test_sigkill_at_any_moment_of_the_final_write_leaves_the_old_or_the_new_model(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    module = REPO / "hf_pretrain" / "core" / "output_dir.py"
    outcomes = set()
    for i, delay in enumerate(np.linspace(0.0, 0.45, 16)):
        folder = tmp_path / f"f{i}"
        write_folder_atomically(str(folder), write_parts("o"))
        process = subprocess.Popen(
            [sys.executable, str(script), str(folder), "n", str(module)], stdout=subprocess.PIPE, text=True
        )
        assert process.stdout.readline().strip() == "ready"
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        finish_interrupted_write(str(folder))
        contents = {(folder / f"part{k}.txt").read_text()[0] for k in range(8)}
        assert len(contents) == 1, f"a mix of old and new files after a kill at {delay:.2f} s"
        assert sorted(os.listdir(folder)) == [f"part{k}.txt" for k in range(8)]
        outcomes |= contents
    assert outcomes == {"o", "n"}, "the kills should land both before and after the manifest"


def test_a_run_completes_or_removes_an_interrupted_write_before_its_own(tmp_path):
    out = tmp_path / "model"
    run(out)
    (out / STAGING).mkdir()
    (out / STAGING / "model.safetensors").write_bytes(b"half")  # no manifest: an unfinished write
    run(out, "--overwrite_output_dir")
    assert not (out / STAGING).exists()
    assert weights(out).shape[1] == 8


def test_a_full_disk_during_the_final_write_leaves_the_old_model(tmp_path):
    with tmpfs(tmp_path / "disk", "600k") as disk:
        out = disk / "model"
        run(out)
        before = {name: (out / name).read_bytes() for name in os.listdir(out)}
        (disk / "filler").write_bytes(b"\0" * (disk_free(disk) - 60_000))
        with pytest.raises(
            OutputWriteError, match=r"could not be written to .*model: No space left on device; nothing"
        ):
            run(out, "--overwrite_output_dir", "--seed", "3")
        assert {name: (out / name).read_bytes() for name in os.listdir(out)} == before
        assert not (out / STAGING).exists()


def disk_free(path):
    return shutil.disk_usage(path).free


# ---------------------------------------------------------- 3. evaluation never throws a finished run away


def test_a_corpus_that_shares_no_pair_with_wordsim_still_writes_its_model(tmp_path):
    corpus = tmp_path / "zh.txt"
    words = ["猫", "狗", "鸟", "鱼", "马", "牛", "羊", "猪", "鸡", "鸭"]
    rng = np.random.default_rng(0)
    corpus.write_text("\n".join(" ".join(rng.choice(words, 12)) for _ in range(300)) + "\n", encoding="utf-8")
    args = parse_args(
        [Word2VecArguments, TrainingArguments],
        [
            "--dataset",
            str(corpus),
            "--output_dir",
            str(tmp_path / "zh"),
            "--min_count",
            "2",
            "--embedding_dim",
            "8",
            "--epochs",
            "1",
            "--num_threads",
            "1",
        ],
    )
    results = train_word2vec(*args)
    saved = json.loads((tmp_path / "zh" / "all_results.json").read_text())
    assert "wordsim353_spearman" not in saved and "no pair" in saved["wordsim353_skipped"]
    assert results["wordsim353_skipped"] == saved["wordsim353_skipped"]
    assert (tmp_path / "zh" / "model.safetensors").is_file()
    card = (tmp_path / "zh" / "README.md").read_text(encoding="utf-8")
    assert "model-index" not in card.split("---")[1]


def test_a_missing_evaluation_file_is_refused_before_training(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.tsv"):
        run(tmp_path / "model", "--similarity_file", str(tmp_path / "nowhere.tsv"))
    assert not (tmp_path / "model").exists()


# ------------------------------------------------------------ 4. a resume continues the same run or refuses


@pytest.fixture(scope="module")
def checkpointed(tmp_path_factory):
    """A stopped run: checkpoints after steps 2 and 4 of 6, no final model."""
    root = tmp_path_factory.mktemp("checkpointed")
    corpus = root / "corpus.txt"
    shutil.copy(FIXTURE, corpus)
    out = root / "model"
    run(out, "--max_steps", "4", "--checkpointing_steps", "2", dataset=corpus)
    for name in os.listdir(out):
        if name != "checkpoints":
            os.remove(out / name)
    return out, corpus


def copy_run(checkpointed, tmp_path):
    out, corpus = checkpointed
    shutil.copytree(out, tmp_path / "model")
    shutil.copy(corpus, tmp_path / "corpus.txt")
    return tmp_path / "model", tmp_path / "corpus.txt"


@pytest.mark.parametrize(
    "flags,field",
    [
        (["--architecture", "cbow"], "architecture"),
        (["--window", "3"], "window"),
        (["--seed", "1"], "seed"),
        (["--num_negatives", "2"], "num_negatives"),
        (["--embedding_dim", "16"], "embedding_dim"),
        (["--loss", "hierarchical_softmax"], "loss"),
        (["--min_count", "3"], "min_count"),
    ],
)
def test_resume_with_other_model_arguments_is_refused_naming_them(checkpointed, tmp_path, flags, field):
    out, corpus = copy_run(checkpointed, tmp_path)
    with pytest.raises(CheckpointMismatchError, match=rf"--{field} is .* here but .* in the checkpoint's run"):
        run(out, "--max_steps", "6", "--resume_from_checkpoint", "latest", *flags, dataset=corpus)
    assert not (out / "config.json").exists()


def test_resume_after_the_corpus_was_edited_is_refused(checkpointed, tmp_path):
    out, corpus = copy_run(checkpointed, tmp_path)
    lines = corpus.read_text().splitlines()
    lines[len(lines) // 2] = " ".join(reversed(lines[len(lines) // 2].split()))  # same words, same size
    words = lines[len(lines) // 2 + 1].split()
    lines[len(lines) // 2 + 1] = " ".join([words[1], words[1], *words[2:]])  # one count moves
    corpus.write_text("\n".join(lines) + "\n")
    with pytest.raises(CheckpointMismatchError, match=r"the corpus differs .*changed: corpus\.txt"):
        run(out, "--max_steps", "6", "--resume_from_checkpoint", "latest", dataset=corpus)


def test_resume_with_the_same_arguments_continues_and_a_lower_learning_rate_is_allowed(checkpointed, tmp_path):
    out, corpus = copy_run(checkpointed, tmp_path)
    results = run(out, "--max_steps", "6", "--resume_from_checkpoint", "latest", dataset=corpus)
    assert results["global_step"] == 6
    state = json.loads((out / "checkpoints" / "step_2" / "trainer_state.json").read_text())
    assert results["run_id"] == state["run_id"]
    out2, corpus2 = copy_run(checkpointed, tmp_path / "again")
    run(out2, "--max_steps", "6", "--resume_from_checkpoint", "latest", "--learning_rate", "0.01", dataset=corpus2)


def test_ignore_checkpoint_mismatch_resumes_anyway(checkpointed, tmp_path):
    out, corpus = copy_run(checkpointed, tmp_path)
    results = run(
        out,
        "--max_steps",
        "6",
        "--resume_from_checkpoint",
        "latest",
        "--window",
        "3",
        "--ignore_checkpoint_mismatch",
        dataset=corpus,
    )
    assert results["global_step"] == 6


def test_a_fresh_run_never_mixes_with_an_earlier_runs_checkpoints(checkpointed, tmp_path):
    out, corpus = copy_run(checkpointed, tmp_path)
    with pytest.raises(OutputDirError, match="holds the checkpoints of an earlier run"):
        run(out, dataset=corpus)
    with pytest.raises(OutputDirError, match="pass one of them"):
        run(out, "--overwrite_output_dir", "--resume_from_checkpoint", "latest", dataset=corpus)


def test_overwrite_starts_a_new_run_whose_latest_is_its_own(checkpointed, tmp_path):
    out, corpus = copy_run(checkpointed, tmp_path)
    old = sorted(os.listdir(out / "checkpoints"))
    run(out, "--overwrite_output_dir", "--seed", "5", "--max_steps", "3", "--checkpointing_steps", "3", dataset=corpus)
    aside = [name for name in os.listdir(out) if name.startswith("checkpoints.previous-")]
    assert len(aside) == 1 and sorted(os.listdir(out / aside[0])) == old
    assert sorted(os.listdir(out / "checkpoints")) == ["step_3"]
    state = json.loads((out / "checkpoints" / "step_3" / "trainer_state.json").read_text())
    assert state["identity"]["arguments"]["seed"] == 5


def test_resume_into_a_folder_that_holds_another_model_is_refused(tmp_path):
    glove = tmp_path / "glove"
    args = parse_args(
        [GloVeArguments, GloVeTrainingArguments],
        [
            "--dataset",
            str(FIXTURE),
            "--output_dir",
            str(glove),
            "--min_count",
            "2",
            "--embedding_dim",
            "8",
            "--epochs",
            "1",
            "--similarity_file",
            "",
            "--analogy_file",
            "",
            "--num_threads",
            "1",
        ],
    )
    train_glove(*args)
    before = (glove / "model.safetensors").read_bytes()
    run(tmp_path / "other", "--max_steps", "2", "--checkpointing_steps", "2")
    with pytest.raises(OutputDirError, match=r"already holds a model \(glove, this run trains word2vec\)"):
        run(glove, "--resume_from_checkpoint", str(tmp_path / "other" / "checkpoints" / "step_2"))
    assert (glove / "model.safetensors").read_bytes() == before


def test_latest_skips_a_damaged_checkpoint(checkpointed, tmp_path, caplog):
    out, corpus = copy_run(checkpointed, tmp_path)
    damaged = out / "checkpoints" / "step_4" / "model.safetensors"
    damaged.write_bytes(damaged.read_bytes()[:100])
    assert latest_checkpoint(str(out)).endswith("step_2")
    assert "skipping checkpoint" in caplog.text and "truncated" in caplog.text
    (out / "checkpoints" / "step_6.tmp").mkdir()  # what a kill in mid-checkpoint leaves
    results = run(out, "--max_steps", "6", "--resume_from_checkpoint", "latest", dataset=corpus)
    assert results["global_step"] == 6 and not (out / "checkpoints" / "step_6.tmp").exists()


# -------------------------------------------------------------------------- 5. one writer per folder

HOLDER = "import sys, time; from hf_pretrain.core.output_dir import OutputDirLock\nwith OutputDirLock(sys.argv[1]):\n print('held', flush=True); time.sleep(60)"


def test_a_second_run_on_a_folder_in_use_is_refused_and_a_dead_holder_is_not(tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, text=True, env=environment()
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OutputDirError, match=rf"in use by another run \(pid {holder.pid} on "):
            run(out)
        assert not (out / "config.json").exists()
    finally:
        holder.kill()
        holder.wait()
    assert (out / LOCK).exists()  # left behind by the killed holder, and stale now
    run(out)
    assert (out / "model.safetensors").is_file() and not (out / LOCK).exists()


# -------------------------------------------------------------------------- 6. preemption is survivable


@pytest.mark.slow
def test_sigterm_checkpoints_and_the_resume_is_bit_identical(tmp_path):
    flags = ["--epochs", "60", "--batch_size", "64", "--checkpointing_steps", "100", "--seed", "3"]
    subprocess.run(command(tmp_path / "whole", *flags), check=True, env=environment(), capture_output=True)
    out = tmp_path / "stopped"
    process = subprocess.Popen(command(out, *flags), env=environment(), stderr=subprocess.PIPE, text=True)
    wait_for(checkpoint_exists(out, 100), process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert "training stopped by SIGTERM at step" in stderr and "--resume_from_checkpoint latest" in stderr
    assert not (out / "model.safetensors").exists() and not (out / LOCK).exists()
    stopped_at = int(stderr.split("training stopped by SIGTERM at step ")[1].split()[0])
    assert stopped_at > 100 and (out / "checkpoints" / f"step_{stopped_at}").is_dir()
    subprocess.run(
        command(out, *flags, "--resume_from_checkpoint", "latest"), check=True, env=environment(), capture_output=True
    )
    assert np.array_equal(weights(out), weights(tmp_path / "whole"))


@pytest.mark.slow
def test_sigterm_to_accelerate_launch_reaches_the_trainer(tmp_path):
    out = tmp_path / "model"
    launcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--num_processes",
            "1",
            "--cpu",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            *command(out, "--epochs", "60", "--batch_size", "64", "--checkpointing_steps", "100")[1:],
        ],
        env=environment(),
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(launcher.stderr), daemon=True)
    reader.start()
    wait_for(checkpoint_exists(out, 100), launcher)
    trainers = children(launcher.pid)
    assert trainers
    launcher.send_signal(signal.SIGTERM)
    launcher.wait(timeout=60)
    deadline = time.monotonic() + 60
    while any(alive(pid) for pid in trainers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in trainers), "the trainer outlived its launcher"
    reader.join(timeout=10)
    assert any("training stopped by SIGTERM" in line for line in lines), "".join(lines)[-2000:]
    assert not (out / "model.safetensors").exists() and not (out / LOCK).exists()


@pytest.mark.slow
def test_sigterm_to_a_two_process_launch_checkpoints_every_process_at_one_step(tmp_path):
    out = tmp_path / "model"
    launch = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(REPO / "recipes" / "accelerate" / "cpu_2proc.yaml"),
    ]
    flags = ["--batch_size", "64", "--checkpointing_steps", "100", "--logging_steps", "20"]
    launcher = subprocess.Popen(
        [*launch, *command(out, "--epochs", "100", *flags)[1:]], env=environment(), stderr=subprocess.PIPE, text=True
    )
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(launcher.stderr), daemon=True)
    reader.start()
    wait_for(checkpoint_exists(out, 100), launcher)
    launcher.send_signal(signal.SIGTERM)
    launcher.wait(timeout=60)
    reader.join(timeout=60)
    log = "".join(lines)
    assert "training stopped by SIGTERM at step" in log, log[-3000:]
    step = int(log.split("training stopped by SIGTERM at step ")[1].split()[0])
    assert step % 20 == 0 and (out / "checkpoints" / f"step_{step}" / "random_states_1.pkl").is_file()
    assert not (out / "model.safetensors").exists()
    resumed = subprocess.run(
        [*launch, *command(out, "--epochs", "100", *flags, "--resume_from_checkpoint", "latest")[1:]],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((out / "all_results.json").read_text())["num_processes"] == 2


def children(pid):
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


# ----------------------------------------------------------- 7. a full disk during a checkpoint


def test_a_full_disk_during_a_checkpoint_names_it_and_keeps_the_last_good_one(tmp_path):
    with tmpfs(tmp_path / "disk", "1m") as disk:
        out = disk / "model"
        probe = tmp_path / "probe"
        run(probe, "--max_steps", "2", "--checkpointing_steps", "2")
        one = sum(f.stat().st_size for f in (probe / "checkpoints" / "step_2").iterdir())
        out.mkdir()
        (disk / "filler").write_bytes(b"\0" * (disk_free(disk) - int(1.5 * one)))
        with pytest.raises(OutputWriteError) as caught:
            run(out, "--max_steps", "6", "--checkpointing_steps", "2")
        message = str(caught.value)
        assert "\n" not in message
        assert re.search(
            r"step_4 could not be written: No space left on device( \(\S+\))?; training stopped; the last good checkpoint \S+step_2 is intact",
            message,
        ), message
        assert sorted(os.listdir(out / "checkpoints")) == ["step_2"]
        assert latest_checkpoint(str(out)).endswith("step_2")
        assert not (out / "model.safetensors").exists()


# ------------------------------------------------------------------------------- 8. corpus edge cases


def test_a_corpus_too_small_for_one_batch_is_refused_without_a_model(tmp_path):
    corpus = tmp_path / "one.txt"
    corpus.write_text("the cat sat on the mat the cat\n")
    with pytest.raises(NoTrainingDataError, match="gave no batch to train on"):
        run(tmp_path / "model", "--min_count", "1", dataset=corpus)
    assert not (tmp_path / "model").exists()


def test_max_steps_with_an_empty_epoch_raises_instead_of_looping(tmp_path):
    corpus = tmp_path / "one.txt"
    corpus.write_text("the cat sat on the mat the cat\n")
    with pytest.raises(NoTrainingDataError):
        run(tmp_path / "model", "--min_count", "1", "--max_steps", "10", dataset=corpus)


# ------------------------------------------------------------------------- the exports leave the model be


def test_export_never_overwrites_the_model_and_asks_before_replacing_a_file(tmp_path):
    out = tmp_path / "model"
    run(out)
    model = (out / "model.safetensors").read_bytes()
    cli = [sys.executable, "-m", "hf_pretrain.cli", "export", str(out)]
    done = subprocess.run(
        [*cli, str(out / "model.safetensors"), "--overwrite"], capture_output=True, text=True, env=environment()
    )
    assert done.returncode == 1 and "would destroy the model" in done.stderr
    assert (out / "model.safetensors").read_bytes() == model
    target = tmp_path / "vectors.txt"
    target.write_text("keep me")
    done = subprocess.run([*cli, str(target)], capture_output=True, text=True, env=environment())
    assert done.returncode == 1 and "already exists: pass --overwrite" in done.stderr
    assert target.read_text() == "keep me"
    done = subprocess.run([*cli, str(target), "--overwrite"], capture_output=True, text=True, env=environment())
    assert done.returncode == 0, done.stderr
    assert WordVectors.load_word2vec_format(target).vectors.shape == weights(out).shape


def test_write_folder_atomically_returns_only_the_runs_files(tmp_path):
    (tmp_path / "mine.txt").write_text("x")
    written = write_folder_atomically(str(tmp_path), lambda folder: Path(folder, "a.json").write_text("{}"))
    assert written == ["a.json"] and (tmp_path / "mine.txt").read_text() == "x"
