"""Fine-tuning a pretrained BERT folder as a text classifier (recipes/finetune_bert.py): the held-out
accuracy beats the majority class, the folder runs in `pipeline("text-classification")` with the
label names, and bad inputs are refused in one line before training.

tests/fixtures/sentiment_tiny.csv: 300 made-up rows, `text,label`, half "military", half "city", each
a few words of tiny_corpus.txt's vocabulary drawn from one topic's words and from function words.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import pipeline

from hf_pretrain.bert.finetune import ClassifierArguments, FinetuneError, FinetuneTrainingArguments, finetune_bert
from hf_pretrain.core.arguments import parse_args

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "fixtures" / "sentiment_tiny.csv"
sys.path.insert(0, str(REPO / "recipes"))
sys.path.insert(0, str(REPO / "tests"))

from finetune_bert import main  # noqa: E402
from test_bert_heads import pretrain  # noqa: E402

FAST = ("--epochs", "20", "--learning_rate", "1e-3", "--dropout", "0", "--batch_size", "16", "--seed", "1")


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return pretrain(tmp_path_factory.mktemp("bert") / "out")


def argv(bert, out, *flags, dataset=DATA):
    return ["--model_name_or_path", str(bert), "--dataset", str(dataset), "--output_dir", str(out), *flags]


@pytest.fixture(scope="module")
def classifier(bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("classifier") / "out"
    results = main(argv(bert, out, *FAST, "--validation_split", "0.2", "--num_threads", "1"))
    return out, results


def test_held_out_accuracy_beats_the_majority_class(classifier):
    out, results = classifier
    saved = json.loads((out / "all_results.json").read_text())
    assert saved["eval_accuracy"] == results["eval_accuracy"]
    assert saved["labels"] == ["city", "military"] and saved["num_labels"] == 2
    assert saved["train_examples"] == 240 and saved["eval_examples"] == 60 and saved["seed"] == 1
    for key in ("eval_loss", "train_loss"):
        assert saved[key] > 0
    assert saved["eval_accuracy"] > saved["majority_baseline"] + 0.2, saved


def test_folder_holds_the_classifier_and_a_model_card_and_no_checkpoints(classifier):
    out, _ = classifier
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md", "all_results.json"} <= names
    assert not any(name.startswith(("checkpoint", ".hf_pretrain", "runs")) for name in names), names
    assert "training_args.bin" not in names  # no pickle
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "city", "1": "military"}
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: transformers\npipeline_tag: text-classification\n")
    assert "base_model" not in card.split("---")[1]  # a local folder is no Hub id
    assert "eval_accuracy" in card


def test_text_classification_pipeline_returns_label_names(classifier):
    out, _ = classifier
    classify = pipeline("text-classification", model=str(out), device="cpu")
    result = classify(["the squadron commander of the air force wing", "the city council and the downtown library"])
    assert [r["label"] for r in result] == ["military", "city"]


def test_refuses_an_output_folder_holding_a_model(bert, classifier):
    out, _ = classifier
    with pytest.raises(SystemExit, match="already holds a model.*--overwrite_output_dir"):
        main(argv(bert, out))


def test_text_pairs_from_a_jsonl_file(bert, tmp_path):
    rows = [{"a": "the air force", "b": "squadron", "y": 1}, {"a": "the city", "b": "park", "y": 0}] * 8
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    args = parse_args(
        [ClassifierArguments, FinetuneTrainingArguments],
        argv(
            bert, tmp_path / "out", "--text_column", "a", "--text_pair_column", "b", "--label_column", "y", dataset=data
        )
        + ["--epochs", "1", "--max_length", "16"],
    )
    results = finetune_bert(*args)
    assert results["labels"] == ["0", "1"] and results["eval_examples"] == 2 and results["max_length"] == 16


def test_a_dataset_object_and_a_save_to_disk_folder(bert, tmp_path):
    import datasets

    rows = datasets.load_dataset("csv", data_files=str(DATA), split="train")
    args = parse_args(
        [ClassifierArguments, FinetuneTrainingArguments],
        argv(bert, tmp_path / "from_object") + ["--epochs", "1", "--max_length", "16"],
    )
    args[0].dataset = rows  # from Python: a Dataset, held out by a seeded slice of train
    results = finetune_bert(*args)
    assert results["dataset"] == "the Dataset csv" and results["eval_split"].endswith("of train (seed 42)")
    card = (tmp_path / "from_object" / "README.md").read_text(encoding="utf-8")
    assert "num_rows" not in card and "datasets:" not in card

    split = rows.train_test_split(test_size=0.25, seed=0)
    datasets.DatasetDict({"train": split["train"], "validation": split["test"]}).save_to_disk(tmp_path / "saved")
    results = main(argv(bert, tmp_path / "from_folder", "--epochs", "1", dataset=tmp_path / "saved"))
    assert results["eval_split"] == "validation" and results["eval_examples"] == len(split["test"])


@pytest.mark.parametrize(
    "flags, rows, message",
    [
        (
            ("--text_column", "sentence"),
            None,
            r"--text_column 'sentence' is not a column of .*sentiment_tiny.csv; its columns are: text, label",
        ),
        (("--label_column", "topic"), None, r"--label_column 'topic' is not a column .*its columns are: text, label"),
        (
            (),
            "text,label\na city,city\nthe park,city\n",
            r"1 distinct label\(s\) \(city\); classification needs at least 2",
        ),
    ],
    ids=["text-column", "label-column", "one-label"],
)
def test_bad_data_is_refused_in_one_line_before_training(bert, tmp_path, flags, rows, message):
    dataset = DATA
    if rows is not None:
        dataset = tmp_path / "one_label.csv"
        dataset.write_text(rows)
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match=message) as raised:
        main(argv(bert, out, *flags, dataset=dataset))
    assert "\n" not in str(raised.value)
    assert not out.exists()  # refused before anything was written


def test_a_folder_that_is_not_bert_is_refused(tmp_path):
    other = tmp_path / "vectors"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    for folder, message in (
        (other, "is not a BERT folder: its model_type is 'gpt2'"),
        (tmp_path, "has no config.json"),
    ):
        with pytest.raises(FinetuneError, match=message):
            finetune_bert(*parse_args([ClassifierArguments, FinetuneTrainingArguments], argv(folder, tmp_path / "o")))


def test_a_file_as_output_dir_is_refused(bert, tmp_path):
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(SystemExit, match="is a file, not a folder"):
        main(argv(bert, file))


@pytest.mark.slow
def test_recipe_help():
    completed = subprocess.run(
        [sys.executable, str(REPO / "recipes" / "finetune_bert.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert "--model_name_or_path" in completed.stdout and "--text_pair_column" in completed.stdout
