"""Several processes on one run: `accelerate launch --num_processes 2 --cpu` for every family (gloo)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.numpy import load_file

from hf_pretrain.core.distributed import ReplicaSync, replicas_differ, rounds, shard_rows

# Each test starts recipe or command processes: `pytest -m "not slow"` leaves them out.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "tiny_corpus.txt"
SCRIPTS = {
    "word2vec": "train_word2vec.py",
    "glove": "train_glove.py",
    "fasttext": "train_fasttext.py",
    "bert": "pretrain_bert.py",
}
WORD_FLAGS = [
    "--min_count",
    "2",
    "--embedding_dim",
    "16",
    "--epochs",
    "2",
    "--logging_steps",
    "5",
    "--similarity_file",
    "",
    "--analogy_file",
    "",
]
FLAGS = {
    "word2vec": WORD_FLAGS,
    "glove": WORD_FLAGS,
    "fasttext": [*WORD_FLAGS, "--bucket", "20000"],
    "bert": [
        "--min_frequency",
        "2",
        "--max_len",
        "32",
        "--max_steps",
        "6",
        "--logging_steps",
        "1",
        "--dropout",
        "0",
        "--eval_batches",
        "0",
        "--export_transformers",
        "false",
    ],
}


def launch(tmp_path, family, name, batch_size, *flags, processes=2, config_file=None, stderr=None):
    """Run a recipe script under `accelerate launch`; returns its all_results.json (and appends what
    it printed on stderr to the list `stderr`, if given)."""
    out = tmp_path / name
    launcher = [sys.executable, "-m", "accelerate.commands.launch"]
    launcher += ["--config_file", str(config_file)] if config_file else ["--num_processes", str(processes), "--cpu"]
    # A free port per run, so that runs on one machine never meet in the same process group.
    launcher += ["--main_process_port", str(_free_port())]
    command = [
        *launcher,
        str(REPO / "recipes" / SCRIPTS[family]),
        "--dataset",
        str(FIXTURE),
        "--output_dir",
        str(out),
        "--batch_size",
        str(batch_size),
        *FLAGS[family],
        *flags,
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    if stderr is not None:
        stderr.append(done.stderr)
    return json.loads((out / "all_results.json").read_text())


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- units


def test_rounds_deal_every_batch_to_exactly_one_process():
    batches = [{"id": i, "words": 10 * (i + 1)} for i in range(7)]
    seen = []
    for rank in range(3):
        got = list(rounds([dict(b) for b in batches], 3, rank))
        # Every process sees the same rounds, with the words at each round's end.
        assert [words for words, _ in got] == [30, 60, 70]
        seen += [batch["id"] for _, batch in got if batch is not None]
    assert sorted(seen) == list(range(7))
    assert list(rounds([], 2, 0)) == []


def test_shard_rows_splits_every_tensor_and_keeps_the_rest():
    batch = {"x": torch.arange(10).view(5, 2), "y": torch.arange(5), "scalar": torch.tensor(3.0), "n": 7}
    parts = [shard_rows(batch, rank, 2) for rank in range(2)]
    assert torch.equal(torch.cat([p["x"] for p in parts]), batch["x"])
    assert [len(p["y"]) for p in parts] == [3, 2]
    assert all(p["n"] == 7 and p["scalar"] is batch["scalar"] for p in parts)
    assert shard_rows(batch, 0, 1) is batch


def _replica_sync_worker(rank, world, port, results):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        table = torch.nn.Embedding(6, 3)
        torch.nn.init.constant_(table.weight, 1.0)
        counts = torch.nn.Module()
        counts.register_buffer("squares", torch.ones(6))
        counts.register_buffer("ids", torch.arange(6))  # not floating point: never synchronised
        sync = ReplicaSync([table, counts])
        with torch.no_grad():
            # Process 0 moves row 1, process 1 moves rows 1 and 4: row 1 gets both changes.
            table.weight[1] += 0.5 if rank == 0 else 0.25
            if rank == 1:
                table.weight[4] -= 2.0
            counts.squares[rank] += 1.0
        changed = sync()
        different_before = None
        with torch.no_grad():
            table.weight[0] += rank  # only process 1 moves it
        different_before = replicas_differ([table])
        sync()
        results[rank] = (
            changed,
            table.weight.tolist(),
            counts.squares.tolist(),
            different_before,
            replicas_differ([table]),
        )
    finally:
        dist.destroy_process_group()


def test_replica_sync_sums_the_changes_of_every_process():
    manager = mp.Manager()
    results = manager.dict()
    mp.spawn(_replica_sync_worker, args=(2, _free_port(), results), nprocs=2)
    expected = np.ones((6, 3))
    expected[1] += 0.75
    expected[4] -= 2.0
    for rank in range(2):
        changed, weight, squares, before, after = results[rank]
        assert changed == 2 + 2  # table rows 1 and 4, buffer entries 0 and 1
        expected_now = expected.copy()
        expected_now[0] += 1.0
        np.testing.assert_allclose(weight, expected_now)
        assert squares == [2.0, 2.0, 1.0, 1.0, 1.0, 1.0]
        assert before == ["weight"] and after == []


# ----------------------------------------------------------------------------- recipes


@pytest.mark.parametrize("family", ["word2vec", "glove", "fasttext"])
def test_word_models_train_on_two_processes(tmp_path, family):
    batch = 256 if family == "glove" else 32
    one = launch(tmp_path, family, "one", 2 * batch, processes=1)
    two = launch(tmp_path, family, "two", batch)
    assert one["num_processes"] == 1 and two["num_processes"] == 2
    unit = "pairs" if family == "glove" else "words"
    # Each process trained on its own share: together they covered the corpus once per epoch.
    assert two[f"train_{unit}"] == one[f"train_{unit}"]
    # A round is one batch per process, so a step covers the 1-process run's global batch.
    assert abs(two["global_step"] - one["global_step"]) <= 2
    # Same global batch: the losses agree within the noise of different random draws.
    assert two["train_loss"] == pytest.approx(one["train_loss"], rel=0.1)
    out = tmp_path / "two"
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()
    weights = load_file(str(out / "model.safetensors"))
    assert all(np.isfinite(w).all() for w in weights.values())


@pytest.mark.parametrize("mlm_loss", ["d2l", "masked"])
def test_bert_on_two_processes_follows_one_process_with_the_same_global_batch(tmp_path, mlm_loss):
    one = launch(tmp_path, "bert", "one", 16, "--mlm_loss", mlm_loss, processes=1)
    two = launch(tmp_path, "bert", "two", 8, "--mlm_loss", mlm_loss)
    assert two["num_processes"] == 2 and two["global_step"] == one["global_step"] == 6
    # Every step's loss, not just the last: DDP's averaged gradient is the global batch's.
    assert [s for s, _ in two["loss_history"]] == [s for s, _ in one["loss_history"]]
    np.testing.assert_allclose([v for _, v in two["loss_history"]], [v for _, v in one["loss_history"]], rtol=2e-5)
    for key in ("mlm_loss", "nsp_loss", "mlm_loss_masked_tokens"):
        assert two[key] == pytest.approx(one[key], rel=2e-5), key


def test_the_shipped_cpu_config_starts_two_processes(tmp_path):
    results = launch(tmp_path, "word2vec", "config", 32, config_file=REPO / "recipes" / "accelerate" / "cpu_2proc.yaml")
    assert results["num_processes"] == 2


def test_the_shipped_fsdp_config_on_cpus_warns_and_runs_ddp(tmp_path):
    # Accelerate shards with FSDP on accelerators only; here the same launch must still train, as DDP,
    # and say so rather than leave the user believing the model is sharded.
    config = (REPO / "recipes" / "accelerate" / "fsdp.yaml").read_text()
    config = config.replace("num_processes: 8", "num_processes: 2").replace(
        "mixed_precision: bf16", 'mixed_precision: "no"'
    )
    (tmp_path / "fsdp_cpu.yaml").write_text(config)
    printed = []
    two = launch(tmp_path, "bert", "fsdp", 8, config_file=tmp_path / "fsdp_cpu.yaml", stderr=printed)
    one = launch(tmp_path, "bert", "one", 16, processes=1)
    assert two["num_processes"] == 2 and "FSDP needs GPUs" in printed[0]
    np.testing.assert_allclose([v for _, v in two["loss_history"]], [v for _, v in one["loss_history"]], rtol=2e-5)
