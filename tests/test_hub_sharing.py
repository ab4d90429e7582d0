"""Sharing: saved folders carry their code (trust_remote_code without hf_pretrain installed), and
`--push_to_hub` fails fast without access and uploads every file of the folder."""

import json
import os
import subprocess
import sys
from pathlib import Path

import huggingface_hub
import numpy as np
import pytest
import torch
from huggingface_hub import HfApi
from transformers import AutoModel, AutoModelForPreTraining, AutoTokenizer

from hf_pretrain import WordVectors
from hf_pretrain.bert.train import BertArguments, BertTrainingArguments, pretrain_bert
from hf_pretrain.core.arguments import parse_args
from hf_pretrain.core.loop import TrainingArguments
from hf_pretrain.core.publish import HubAccessError
from hf_pretrain.fasttext.train import FastTextArguments, train_fasttext
from hf_pretrain.glove.train import GloVeArguments, GloVeTrainingArguments, train_glove
from hf_pretrain.word2vec.train import Word2VecArguments, train_word2vec

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "tiny_corpus.txt"
WORD_FLAGS = [
    "--dataset",
    str(FIXTURE),
    "--min_count",
    "2",
    "--embedding_dim",
    "16",
    "--epochs",
    "1",
    "--similarity_file",
    "",
    "--analogy_file",
    "",
    "--logging_steps",
    "5",
]


def train(family: str, output_dir: Path, *flags: str) -> dict:
    if family == "word2vec":
        args = parse_args([Word2VecArguments, TrainingArguments], [*WORD_FLAGS, "--batch_size", "64", *flags])
        return _run(train_word2vec, args, output_dir)
    if family == "glove":
        args = parse_args([GloVeArguments, GloVeTrainingArguments], [*WORD_FLAGS, "--batch_size", "2048", *flags])
        return _run(train_glove, args, output_dir)
    if family == "fasttext":
        args = parse_args(
            [FastTextArguments, TrainingArguments], [*WORD_FLAGS, "--batch_size", "64", "--bucket", "5000", *flags]
        )
        return _run(train_fasttext, args, output_dir)
    args = parse_args(
        [BertArguments, BertTrainingArguments],
        [
            "--dataset",
            str(FIXTURE),
            "--min_frequency",
            "2",
            "--max_len",
            "32",
            "--batch_size",
            "16",
            "--max_steps",
            "2",
            "--eval_batches",
            "0",
            "--logging_steps",
            "5",
            *flags,
        ],
    )
    return _run(pretrain_bert, args, output_dir)


def _run(recipe, args, output_dir):
    args[1].output_dir = str(output_dir)
    return recipe(*args)


FAMILIES = ("word2vec", "glove", "fasttext", "bert")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("shared")
    for family in FAMILIES:
        train(family, root / family)
    return {family: root / family for family in FAMILIES}


CODE_FILES = {
    "word2vec": ("configuration_word2vec.py", "modeling_word2vec.py"),
    "glove": ("configuration_glove.py", "modeling_glove.py"),
    "fasttext": ("configuration_fasttext.py", "modeling_fasttext.py"),
    "bert": ("configuration_bert.py", "modeling_bert.py"),
}


def test_saved_folders_carry_their_code(folders):
    for family, folder in folders.items():
        for name in CODE_FILES[family]:
            assert (folder / name).is_file(), (family, name)
        auto_map = json.loads((folder / "config.json").read_text())["auto_map"]
        assert auto_map["AutoConfig"].startswith(CODE_FILES[family][0][:-3] + "."), family
        assert auto_map["AutoModel"].startswith(CODE_FILES[family][1][:-3] + "."), family
    assert json.loads((folders["bert"] / "config.json").read_text())["auto_map"]["AutoModelForPreTraining"] == (
        "modeling_bert.HfpBertForPreTraining"
    )


# Runs where hf_pretrain cannot be imported, whatever way it is installed: a finder refuses it, and
# neither the repository nor the working directory is on sys.path.
CLEAN_LOADER = r"""
import importlib.abc, json, sys

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "hf_pretrain":
            raise ModuleNotFoundError(f"No module named {name!r}")

sys.meta_path.insert(0, Refuse())
sys.path = [p for p in sys.path if p not in ("", REPO)]
try:
    import hf_pretrain  # noqa: F401
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("hf_pretrain is importable: the environment is not clean")

import numpy as np
import torch
from transformers import AutoModel, AutoModelForPreTraining, AutoTokenizer

folders, result = json.loads(sys.argv[1]), sys.argv[2]
arrays = {}
for family, folder in folders.items():
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if family == "bert":
        model = AutoModelForPreTraining.from_pretrained(folder, trust_remote_code=True).eval()
        encoder = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        batch = tokenizer(["the cat sat on the mat", "a dog"], ["it was happy", "ran away"], padding=True, return_tensors="pt")
        with torch.no_grad():
            out = model(**batch)
            hidden = encoder(**batch).last_hidden_state
        arrays.update(bert_input_ids=batch["input_ids"].numpy(), bert_prediction_logits=out.prediction_logits.numpy(),
                      bert_nsp_logits=out.seq_relationship_logits.numpy(), bert_hidden=hidden.numpy())
    else:
        model = AutoModel.from_pretrained(folder, trust_remote_code=True)
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        arrays[family + "_vectors"] = model.word_embeddings().numpy()
        arrays[family + "_words"] = np.array(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer)))))
np.savez(result, **arrays)
"""


def test_trust_remote_code_without_hf_pretrain_gives_the_same_models(folders, tmp_path):
    script = tmp_path / "load.py"
    script.write_text(CLEAN_LOADER.replace("REPO", repr(str(REPO))), encoding="utf-8")
    result = tmp_path / "outputs.npz"
    env = {
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf_home"),
        "HF_MODULES_CACHE": str(tmp_path / "modules"),
        "PATH": "/usr/bin:/bin",
        "TOKENIZERS_PARALLELISM": "false",
    }
    completed = subprocess.run(
        [sys.executable, str(script), json.dumps({k: str(v) for k, v in folders.items()}), str(result)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    remote = np.load(result)

    for family in ("word2vec", "glove", "fasttext"):
        vectors = WordVectors.from_pretrained(folders[family])
        index = {word: i for i, word in enumerate(remote[family + "_words"])}
        rows = [index[word] for word in vectors.index_to_key]
        np.testing.assert_array_equal(remote[family + "_vectors"][rows], vectors.vectors, err_msg=family)

    model = AutoModelForPreTraining.from_pretrained(folders["bert"]).eval()
    encoder = AutoModel.from_pretrained(folders["bert"]).eval()
    ids = torch.from_numpy(remote["bert_input_ids"])
    tokenizer = AutoTokenizer.from_pretrained(folders["bert"])
    batch = tokenizer(
        ["the cat sat on the mat", "a dog"], ["it was happy", "ran away"], padding=True, return_tensors="pt"
    )
    assert torch.equal(batch["input_ids"], ids)
    with torch.no_grad():
        out = model(**batch)
        hidden = encoder(**batch).last_hidden_state
    np.testing.assert_array_equal(out.prediction_logits.numpy(), remote["bert_prediction_logits"])
    np.testing.assert_array_equal(out.seq_relationship_logits.numpy(), remote["bert_nsp_logits"])
    np.testing.assert_array_equal(hidden.numpy(), remote["bert_hidden"])


# ------------------------------------------------------------------------------------ push_to_hub


def test_push_without_a_token_fails_before_training(tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(HubAccessError, match="needs a Hub token"):
        train("word2vec", tmp_path / "out", "--push_to_hub")
    assert not (tmp_path / "out").exists()


def test_push_while_offline_fails_before_training(tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubAccessError, match="HF_HUB_OFFLINE"):
        train("glove", tmp_path / "out", "--push_to_hub", "--hub_token", "hf_x")
    assert not (tmp_path / "out").exists()


def test_push_with_the_hub_unreachable_fails_before_training(tmp_path, monkeypatch):
    # A real request, to a port on this machine where nothing listens.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(HubAccessError, match="127.0.0.1:9 could not confirm the token"):
        train("fasttext", tmp_path / "out", "--push_to_hub", "--hub_token", "hf_x")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("family", FAMILIES)
def test_push_uploads_every_file_of_the_folder_in_one_commit(tmp_path, monkeypatch, family):
    """The upload path runs for real down to `HfApi.create_commit`, where the commit is captured."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    calls = {"repos": [], "commits": []}
    monkeypatch.setattr(HfApi, "whoami", lambda self, *a, **k: {"name": "someone"})

    def create_repo(self, repo_id, *, private=None, exist_ok=False, **kwargs):
        calls["repos"].append((repo_id, private, exist_ok, self.token))
        return huggingface_hub.RepoUrl(f"https://huggingface.co/{repo_id}")

    def create_commit(self, repo_id, operations, *, commit_message, **kwargs):
        calls["commits"].append((repo_id, commit_message, {op.path_in_repo: op for op in operations}))
        return huggingface_hub.CommitInfo(
            commit_url=f"https://huggingface.co/{repo_id}/commit/0123",
            commit_message=commit_message,
            commit_description="",
            oid="0123",
            pr_url=None,
        )

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "create_commit", create_commit)
    out = tmp_path / f"my-{family}"
    results = train(
        family, out, "--push_to_hub", "--hub_token", "hf_secret", "--hub_private_repo", "--checkpointing_steps", "epoch"
    )
    assert calls["repos"] == [(f"someone/my-{family}", True, True, "hf_secret")]
    [(repo_id, message, files)] = calls["commits"]
    assert repo_id == f"someone/my-{family}" and family in message
    assert results["hub_commit_url"].endswith("/commit/0123")
    card = huggingface_hub.ModelCard(Path(files["README.md"].path_or_fileobj).read_text(encoding="utf-8")).data
    assert card.library_name and card.license and family in card.tags
    expected = {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "README.md",
        "all_results.json",
        *CODE_FILES[family],
    }
    assert expected <= set(files), expected - set(files)
    assert not any(name.startswith("checkpoints/") for name in files)
    local = {
        str(p.relative_to(out))
        for p in out.rglob("*")
        if p.is_file() and not p.relative_to(out).parts[0] == "checkpoints"
    }
    assert set(files) == local
    # The token is neither saved nor uploaded.
    for name, operation in files.items():
        content = operation.path_or_fileobj
        data = Path(content).read_bytes() if isinstance(content, (str, Path)) else bytes(content)
        assert b"hf_secret" not in data, name


# ------------------------------------------------------------------------------------ model cards


def test_model_cards_parse_and_their_code_runs(folders):
    for family, folder in folders.items():
        text = (folder / "README.md").read_text(encoding="utf-8")
        card = huggingface_hub.ModelCard(text).data
        assert (
            card.library_name == "hf-pretrain"
            and card.license
            and not card.datasets
            and card.pipeline_tag
            and family in card.tags
        )
        for heading in ("## How to use", "## Training", "## Limitations"):
            assert heading in text, (family, heading)
        assert "Corpus:" in text and "Runtime:" in text and "CPU" in text
        code = "\n".join(block.split("```", 1)[0] for block in text.split("```python\n")[1:])
        assert "from_pretrained" in code
        completed = subprocess.run(
            [sys.executable, "-c", code],
            cwd=folder.parent,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        assert completed.returncode == 0, (family, completed.stderr[-2000:])
