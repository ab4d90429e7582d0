import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard
from transformers import AutoModel, AutoTokenizer

import hf_pretrain
from hf_pretrain import WordVectors
from hf_pretrain.core.arguments import parse_args
from hf_pretrain.core.loop import TrainingArguments
from hf_pretrain.core.publish import OutputDirError
from hf_pretrain.word2vec.sgd import duplicate_scale
from hf_pretrain.word2vec.train import Word2VecArguments, train_word2vec

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "tiny_corpus.txt"


def run(tmp_path, *flags, name="model"):
    args = parse_args(
        [Word2VecArguments, TrainingArguments],
        [
            "--dataset",
            str(FIXTURE),
            "--output_dir",
            str(tmp_path / name),
            "--min_count",
            "2",
            "--embedding_dim",
            "16",
            "--epochs",
            "2",
            "--batch_size",
            "64",
            "--logging_steps",
            "5",
            "--similarity_file",
            "",
            "--analogy_file",
            "",
            *flags,
        ],
    )
    return train_word2vec(*args)


@pytest.mark.parametrize(
    "flags",
    [
        [],
        ["--architecture", "cbow"],
        ["--loss", "hierarchical_softmax"],
        ["--architecture", "cbow", "--loss", "hierarchical_softmax", "--cbow_combiner", "sum"],
        ["--optimizer", "adam", "--sample_rule", "d2l", "--subsample", "1e-4", "--initializer", "xavier_uniform"],
    ],
)
def test_recipe_writes_a_hub_ready_folder(tmp_path, flags):
    results = run(tmp_path, *flags)
    out = tmp_path / "model"
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "word_counts.json",
        "all_results.json",
        "README.md",
    ):
        assert (out / name).is_file(), name
    saved = json.loads((out / "all_results.json").read_text())
    assert np.isfinite(saved["train_loss"]) and saved["train_words_per_second"] > 0
    assert len(saved["epoch_losses"]) == 2 and saved["train_loss"] == results["train_loss"]
    model = AutoModel.from_pretrained(out)
    assert isinstance(model, hf_pretrain.Word2VecModel)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.convert_ids_to_tokens(0) == "<unk>"
    vectors = WordVectors.from_pretrained(out)
    assert vectors.vector_size == 16 and "the" in vectors
    card = ModelCard.load(out / "README.md")
    assert card.data.library_name == "hf-pretrain" and "word2vec" in card.data.tags
    assert "| `learning_rate` |" in card.text
    assert not list(tmp_path.glob(".model.*")), "no temporary folder may be left behind"


def test_training_reduces_loss_and_is_reproducible(tmp_path):
    a = run(tmp_path, "--epochs", "3", "--seed", "3", name="a")
    b = run(tmp_path, "--epochs", "3", "--seed", "3", name="b")
    assert a["epoch_losses"][-1] < a["epoch_losses"][0]
    assert a["epoch_losses"] == b["epoch_losses"]
    wa = WordVectors.from_pretrained(tmp_path / "a")
    wb = WordVectors.from_pretrained(tmp_path / "b")
    np.testing.assert_array_equal(wa.vectors, wb.vectors)


def test_resume_from_epoch_checkpoint_gives_identical_weights(tmp_path):
    full = run(tmp_path, "--epochs", "3", "--seed", "5", "--checkpointing_steps", "epoch", name="full")
    checkpoints = sorted((tmp_path / "full" / "checkpoints").iterdir(), key=lambda p: int(p.name[5:]))
    assert len(checkpoints) == 3
    # Continue from the end of the first epoch, as after a crash during the second.
    resumed = run(
        tmp_path, "--epochs", "3", "--seed", "5", "--resume_from_checkpoint", str(checkpoints[0]), name="resumed"
    )
    assert resumed["epoch_losses"] == full["epoch_losses"]
    a = WordVectors.from_pretrained(tmp_path / "full").vectors
    b = WordVectors.from_pretrained(tmp_path / "resumed").vectors
    np.testing.assert_array_equal(a, b)


def test_resume_mid_epoch_from_step_checkpoint(tmp_path):
    full = run(tmp_path, "--epochs", "2", "--seed", "9", name="full")
    run(tmp_path, "--epochs", "2", "--seed", "9", "--checkpointing_steps", "3", name="steps")
    checkpoints = sorted((tmp_path / "steps" / "checkpoints").iterdir(), key=lambda p: int(p.name[5:]))
    # Resume from a checkpoint taken in the middle of the first epoch.
    resumed = run(
        tmp_path,
        "--epochs",
        "2",
        "--seed",
        "9",
        "--resume_from_checkpoint",
        str(checkpoints[0]),
        "--overwrite_output_dir",
        "true",
        name="steps",
    )
    assert resumed["epoch_losses"] == pytest.approx(full["epoch_losses"], rel=1e-9)
    np.testing.assert_array_equal(
        WordVectors.from_pretrained(tmp_path / "full").vectors, WordVectors.from_pretrained(tmp_path / "steps").vectors
    )


def test_output_dir_with_another_model_is_refused(tmp_path):
    run(tmp_path, "--epochs", "1")
    (tmp_path / "model" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(OutputDirError, match="already holds a model"):
        run(tmp_path, "--epochs", "1")
    run(tmp_path, "--epochs", "1", "--overwrite_output_dir", "true")
    assert json.loads((tmp_path / "model" / "config.json").read_text())["model_type"] == "word2vec"


@pytest.mark.parametrize(
    "flags,error,match",
    [
        (["--window", "0"], ValueError, "window"),
        (["--window", "-2"], ValueError, "window"),
        (["--embedding_dim", "0"], ValueError, "embedding_dim"),
        (["--architecture", "glove"], ValueError, "architecture"),
        (["--loss", "softmax"], ValueError, "loss"),
        (["--min_count", "1000"], ValueError, "removes every word"),
        (["--optimizer", "adam", "--architecture", "cbow"], ValueError, "skip-gram"),
        (["--dataset", "/no/such/corpus.txt"], ValueError, "does not exist"),
        (["--max_row_updates", "-1"], ValueError, "max_row_updates"),
    ],
)
def test_bad_inputs_fail_clearly_without_writing(tmp_path, flags, error, match):
    with pytest.raises(error, match=match):
        run(tmp_path, *flags)
    assert not (tmp_path / "model" / "config.json").exists()


def test_yaml_config_with_overrides(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("architecture: cbow\nwindow: 3\nepochs: 7\n")
    w2v, training = parse_args([Word2VecArguments, TrainingArguments], [str(config), "--window", "4"])
    assert (w2v.architecture, w2v.window, training.epochs) == ("cbow", 4, 7)
    config.write_text("windw: 3\n")
    with pytest.raises(SystemExit):
        parse_args([Word2VecArguments, TrainingArguments], [str(config)])


def test_shipped_configs_parse():
    import dataclasses

    import yaml

    paths = sorted((REPO / "recipes" / "configs").glob("word2vec_*.yaml"))
    assert paths, "no shipped word2vec config"
    for path in paths:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert isinstance(values, dict) and values, path.name
        parsed = parse_args([Word2VecArguments, TrainingArguments], [str(path)])
        # Every key lands in exactly one argument dataclass, with the value the file gives it: a
        # misspelt key, or one whose value parse_args drops or replaces, fails here.
        for key, value in values.items():
            holders = [args for args in parsed if key in {field.name for field in dataclasses.fields(args)}]
            assert len(holders) == 1, f"{path.name}: {key!r} is an argument of {len(holders)} dataclasses"
            got = getattr(holders[0], key)
            # YAML reads some numbers (1e-4) as strings, which argparse converts with the field's type.
            number = isinstance(got, (int, float)) and not isinstance(got, bool)
            expected = type(got)(value) if isinstance(value, str) and number else value
            assert got == expected, f"{path.name}: {key} = {got!r}, the file says {value!r}"
        w2v, training = parsed
        assert training.output_dir.startswith("outputs/")


def test_duplicate_scale_caps_frequent_rows():
    ids = torch.tensor([3] * 64 + [1] * 8 + [2])
    scale = duplicate_scale(ids, 5, 32)
    assert torch.allclose(scale[:64], torch.full((64,), 0.5))
    assert (scale[64:] == 1).all()


def test_large_batches_stay_finite(tmp_path):
    # One batch holds the whole corpus: without the per-row cap frequent words overshoot.
    results = run(tmp_path, "--batch_size", "100000", "--epochs", "3", "--learning_rate", "0.5")
    assert np.isfinite(results["train_loss"])


def test_recipe_script_runs_under_accelerate_launch(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        "1",
        "--cpu",
        str(REPO / "recipes" / "train_word2vec.py"),
        "--dataset",
        str(FIXTURE),
        "--min_count",
        "2",
        "--epochs",
        "1",
        "--embedding_dim",
        "8",
        "--output_dir",
        str(tmp_path / "out"),
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "out" / "model.safetensors").is_file()
    scores = json.loads((tmp_path / "out" / "all_results.json").read_text())
    assert "wordsim353_spearman" in scores and "google_analogy_accuracy" in scores


def test_max_steps_stops_inside_an_epoch_and_resumes(tmp_path):
    full = run(tmp_path, "--max_steps", "7", "--seed", "4", "--checkpointing_steps", "2", name="full")
    assert full["global_step"] == 7 and np.isfinite(full["train_loss"])
    resumed = run(
        tmp_path,
        "--max_steps",
        "7",
        "--seed",
        "4",
        "--resume_from_checkpoint",
        str(tmp_path / "full" / "checkpoints" / "step_4"),
        name="resumed",
    )
    assert resumed["global_step"] == 7
    np.testing.assert_array_equal(
        WordVectors.from_pretrained(tmp_path / "full").vectors,
        WordVectors.from_pretrained(tmp_path / "resumed").vectors,
    )


def test_max_row_updates_reaches_the_saved_config(tmp_path):
    run(tmp_path, "--epochs", "1", "--max_row_updates", "8")
    assert json.loads((tmp_path / "model" / "config.json").read_text())["max_row_updates"] == 8
