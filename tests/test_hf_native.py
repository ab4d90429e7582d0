"""Hugging Face habits, with the real `datasets` package: corpora given as `datasets` objects, as
`save_to_disk` folders or as Hub ids with a configuration; folders saved with plain `save_pretrained`;
model cards whose metadata the Hub reads as meant."""

import json
import socket
from pathlib import Path

import datasets
import numpy as np
import pytest
import yaml

from hf_pretrain import WordVectors
from hf_pretrain.core import corpus as corpus_module
from hf_pretrain.core.arguments import parse_args
from hf_pretrain.core.corpus import CorpusError, load_corpus
from hf_pretrain.core.loop import TrainingArguments
from hf_pretrain.core.publish import render_model_card
from hf_pretrain.core.streaming import LineStream, training_text
from hf_pretrain.word2vec.train import Word2VecArguments, train_word2vec

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "tiny_corpus.txt"
OFFLINE_VARS = ("HF_PRETRAIN_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
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
    "--epochs",
    "1",
]
LINES = FIXTURE.read_text(encoding="utf-8").splitlines()


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    for var in OFFLINE_VARS + (corpus_module.PTB_DIR_ENV,):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def rows(dataset):
    return [row["text"] for row in dataset]


def metadata(card: str) -> dict:
    return yaml.safe_load(card.split("---\n")[1])


def run(output_dir, *flags, dataset):
    args = parse_args(
        [Word2VecArguments, TrainingArguments],
        ["--dataset", str(dataset), "--output_dir", str(output_dir), *WORD2VEC, *flags],
    )
    return train_word2vec(*args)


# ------------------------------------------------------------------------- datasets objects


def test_dataset_object_is_the_train_split():
    ds = datasets.Dataset.from_dict({"id": [1, 2, 3], "body": ["a b", "", "c d"]})
    corpus = load_corpus(ds)
    assert isinstance(corpus, datasets.DatasetDict) and list(corpus) == ["train"]
    assert corpus["train"].column_names == ["text"] and corpus["train"]["text"] == ["a b", "", "c d"]
    streamed = load_corpus(ds, streaming=True)
    assert isinstance(streamed, datasets.IterableDatasetDict)
    assert rows(streamed["train"]) == ["a b", "", "c d"]
    assert training_text(ds) == ["a b", "", "c d"]
    stream = training_text(ds, streaming=True)
    assert isinstance(stream, LineStream) and list(stream) == list(stream) == ["a b", "", "c d"]


def test_dataset_dict_keeps_its_splits_and_the_text_column_rule():
    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"title": ["t1", "t2"], "text": ["one two", "three"]}),
            "test": datasets.Dataset.from_dict({"title": ["t3"], "text": ["four"]}),
        }
    )
    corpus = load_corpus(dd)
    assert list(corpus) == ["train", "test"] and corpus["test"]["text"] == ["four"]
    assert load_corpus(dd, split="test")["text"] == ["four"]
    assert load_corpus(dd, text_column="title", split="train")["text"] == ["t1", "t2"]
    assert rows(load_corpus(dd, streaming=True, split="train")) == ["one two", "three"]
    with pytest.raises(CorpusError, match="no split 'validation'"):
        load_corpus(dd, split="validation")
    two_strings = datasets.Dataset.from_dict({"a": ["x"], "b": ["y"]})
    with pytest.raises(CorpusError, match="2 string columns"):
        load_corpus(two_strings)
    with pytest.raises(CorpusError, match="empty"):
        load_corpus(datasets.Dataset.from_dict({"text": ["", "  "]}))


def test_iterable_dataset_streams_or_is_read_into_memory():
    def generate():
        yield {"n": 1, "content": "hello world"}
        yield {"n": 2, "content": "hello again"}

    stream = datasets.IterableDataset.from_generator(generate)
    assert stream.features is None  # the schema is known only once read
    corpus = load_corpus(stream)
    assert isinstance(corpus, datasets.DatasetDict)
    assert corpus["train"]["text"] == ["hello world", "hello again"]
    streamed = load_corpus(stream, streaming=True, split="train")
    assert isinstance(streamed, datasets.IterableDataset)
    assert rows(streamed) == ["hello world", "hello again"]
    both = datasets.IterableDatasetDict({"train": stream, "validation": stream})
    assert list(load_corpus(both, streaming=True)) == ["train", "validation"]
    assert load_corpus(both, split="validation")["text"] == ["hello world", "hello again"]
    known = datasets.Dataset.from_dict({"text": ["x y"]}).to_iterable_dataset()
    assert list(training_text(known, streaming=True)) == ["x y"]


def test_save_to_disk_folders(tmp_path):
    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"sentence": LINES[:20]}),
            "validation": datasets.Dataset.from_dict({"sentence": LINES[20:25]}),
        }
    )
    dd.save_to_disk(tmp_path / "dict")
    dd["train"].save_to_disk(tmp_path / "single")
    assert (tmp_path / "dict" / "dataset_dict.json").is_file()
    assert (tmp_path / "single" / "state.json").is_file()

    corpus = load_corpus(tmp_path / "dict")
    assert list(corpus) == ["train", "validation"] and corpus["train"]["text"] == LINES[:20]
    assert load_corpus(str(tmp_path / "dict"), split="validation")["text"] == LINES[20:25]
    assert rows(load_corpus(tmp_path / "dict", streaming=True)["validation"]) == LINES[20:25]
    assert load_corpus(tmp_path / "single")["train"]["text"] == LINES[:20]
    assert list(training_text(str(tmp_path / "single"), streaming=True)) == LINES[:20]
    with pytest.raises(CorpusError, match="save_to_disk"):
        load_corpus(tmp_path / "dict", config_name="en")


# --------------------------------------------------------------------------- configurations


def test_hub_config_reaches_load_dataset(monkeypatch):
    calls = []

    def fake_load(path, *args, **kwargs):
        calls.append((path, args, kwargs))
        return datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": [f"{args} line"]})})

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    assert load_corpus("someone/corpus", config_name="en", split="train")["text"] == ["('en',) line"]
    assert calls[-1][:2] == ("someone/corpus", ("en",))
    assert load_corpus("someone/corpus", split="train")["text"] == ["() line"]  # no config: none passed
    load_corpus("someone/corpus", config_name="fr", streaming=True)
    assert calls[-1][1] == ("fr",) and calls[-1][2]["streaming"] is True
    assert training_text("someone/corpus", config_name="de") == ["('de',) line"]

    with pytest.raises(CorpusError, match="known corpus"):
        load_corpus("wikitext-2", config_name="en")
    with pytest.raises(CorpusError, match="single file"):
        load_corpus(FIXTURE, config_name="en")
    with pytest.raises(CorpusError, match="datasets object"):
        load_corpus(datasets.Dataset.from_dict({"text": ["a"]}), config_name="en")


def test_recipe_dataset_config_reaches_load_dataset(tmp_path, monkeypatch):
    seen = []

    def fake_load(path, *args, **kwargs):
        seen.append((path, args))
        return datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": LINES})})

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    results = run(tmp_path / "out", "--dataset_config", "tiny", dataset="someone/corpus")
    assert seen == [("someone/corpus", ("tiny",))]
    assert results["vocab_size"] > 1
    card = metadata((tmp_path / "out" / "README.md").read_text(encoding="utf-8"))
    assert card["datasets"] == ["someone/corpus"]


def test_local_dataset_repository_folder_with_configurations(tmp_path, no_network):
    repo = tmp_path / "repo"
    for config, text in (("en", "hello world\ngood day\n"), ("fr", "bonjour monde\n")):
        (repo / config).mkdir(parents=True)
        (repo / config / "train.txt").write_text(text, encoding="utf-8")
    (repo / "README.md").write_text(
        "---\nconfigs:\n"
        "- config_name: en\n  data_files:\n  - split: train\n    path: en/train.txt\n"
        "- config_name: fr\n  data_files:\n  - split: train\n    path: fr/train.txt\n---\n",
        encoding="utf-8",
    )
    assert load_corpus(repo, config_name="fr", split="train")["text"] == ["bonjour monde"]
    assert rows(load_corpus(repo, config_name="en", split="train", streaming=True)) == ["hello world", "good day"]
    with pytest.raises(CorpusError, match="'de'"):
        load_corpus(repo, config_name="de")


# ----------------------------------------------------------------------------- the recipe


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """word2vec trained on a save_to_disk folder of the tiny corpus (a DatasetDict with a `line` column)."""
    root = tmp_path_factory.mktemp("saved_run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(datasets.config, "HF_DATASETS_CACHE", root / "hf-cache")
        data = root / "tiny_saved"
        datasets.DatasetDict(
            {"train": datasets.Dataset.from_dict({"id": list(range(len(LINES))), "line": LINES})}
        ).save_to_disk(data)
        results = run(root / "out", dataset=data)
    return root / "out", data, results


def test_word2vec_trains_on_a_save_to_disk_folder(saved_run):
    out, data, results = saved_run
    reference = WordVectors.from_pretrained(out)
    assert results["vocab_size"] == len(reference) + 1  # <unk> is dropped from the vectors
    words = sum(len(line.split()) for line in LINES)
    assert results["corpus_words"] == words
    card = (out / "README.md").read_text(encoding="utf-8")
    meta = metadata(card)
    assert "datasets" not in meta  # a local folder is no Hub dataset
    assert str(data) not in card.split("---\n")[1]
    assert f"the local corpus `{data}`" in card  # described in the text instead
    assert meta["pipeline_tag"] == "feature-extraction"


def test_word2vec_streams_a_save_to_disk_folder(saved_run, tmp_path):
    _, data, results = saved_run
    streamed = run(tmp_path / "streamed", "--streaming", dataset=data)
    assert streamed["vocab_size"] == results["vocab_size"]
    assert streamed["corpus_words"] == results["corpus_words"]


def test_plain_save_pretrained_folder_is_readable(saved_run, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    out, _, _ = saved_run
    model = AutoModel.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    plain = tmp_path / "plain"
    model.save_pretrained(plain)
    tokenizer.save_pretrained(plain)
    assert not (plain / "word_counts.json").exists()

    original = WordVectors.from_pretrained(out)
    again = WordVectors.from_pretrained(plain)
    assert again.index_to_key == original.index_to_key  # <unk> left out, as under the default "drop"
    np.testing.assert_array_equal(again.vectors, original.vectors)
    assert original.counts is not None and again.counts is None
    assert again.most_similar(again.index_to_key[0], topn=3)


def test_plain_folder_reads_the_unknown_token_of_its_tokenizer(tmp_path):
    from hf_pretrain.core.vocab import Vocabulary

    Vocabulary.from_words(["[UNK]", "a", "b"], [0, 3, 2], unk_token="[UNK]").save(tmp_path)
    (tmp_path / "word_counts.json").unlink()
    vocab = Vocabulary.load(tmp_path, require_counts=False)
    assert vocab.unk_token == "[UNK]" and vocab.unk_id == 0 and not vocab.has_counts
    with pytest.raises(ValueError, match="word_counts.json is missing"):
        Vocabulary.load(tmp_path)  # training still needs the counts


# ---------------------------------------------------------------------------- model cards


def card(dataset, **kwargs):
    results = {
        "wordsim353_spearman": 0.5,
        "wordsim353_oov_ratio": 10.0,
        "google_analogy_accuracy": 0.3,
        "google_analogy_oov_ratio": 20.0,
    }
    return render_model_card(
        "word2vec", model_name="m", dataset=dataset, hyperparameters={}, results=results, extra={}, **kwargs
    )


def test_card_yaml_is_plain_with_pipeline_tag():
    text = card("wikitext-2")
    head = text.split("---\n")[1]
    assert "&id" not in head and "*id" not in head  # two results share one task object
    meta = metadata(text)
    assert meta["pipeline_tag"] == "feature-extraction"
    assert meta["datasets"] == ["Salesforce/wikitext"]
    results = meta["model-index"][0]["results"]
    assert len(results) == 2 and results[0]["task"] == results[1]["task"] == {
        "type": "feature-extraction",
        "name": "Word similarity and analogy",
    }
    bert = render_model_card(
        "bert",
        model_name="m",
        dataset="ptb",
        hyperparameters={},
        results={},
        extra={},
        tags=("fill-mask",),
        task={"type": "fill-mask", "name": "MLM"},
        eval_results=(),
    )
    assert metadata(bert)["pipeline_tag"] == "fill-mask"
    assert metadata(bert)["datasets"] == ["ptb-text-only/ptb_text_only"]


def test_card_datasets_name_hub_ids_only(tmp_path):
    assert metadata(card("someone/corpus"))["datasets"] == ["someone/corpus"]
    local = tmp_path / "corpus.txt"
    local.write_text("a b\n", encoding="utf-8")
    for dataset in (str(local), "./data/corpus.txt", "data/corpus.txt", "corpus"):
        text = card(dataset)
        assert "datasets" not in metadata(text), dataset
    text = card(str(local))
    assert f"the local corpus `{local}`" in text.split("---\n", 2)[2]
    # A folder that exists locally is local even when its name looks like a Hub id.
    (tmp_path / "owner" / "name").mkdir(parents=True)
    assert "datasets" not in metadata(card(str(tmp_path / "owner" / "name")))
    obj = datasets.Dataset.from_dict({"text": ["a"]})
    assert "datasets" not in metadata(card(obj))


def test_card_metadata_round_trips_through_the_hub_parser():
    huggingface_hub = pytest.importorskip("huggingface_hub")
    data = huggingface_hub.ModelCard(card("wikitext-2")).data
    assert data.pipeline_tag == "feature-extraction" and data.datasets == ["Salesforce/wikitext"]
    assert json.loads(json.dumps(data.to_dict()))["library_name"] == "hf-pretrain"


def test_word2vec_on_a_dataset_object_names_it_not_its_repr(tmp_path, monkeypatch):
    """A datasets object handed to the recipe from Python: the card, the plot title and the results
    name it by its kind, never by a multi-line repr."""
    import hf_pretrain.word2vec.train as recipe

    titles = []
    monkeypatch.setattr(recipe, "plot_training", lambda results, path, title: titles.append(title))
    model_args, training = parse_args(
        [Word2VecArguments, TrainingArguments],
        ["--dataset", "unused", "--output_dir", str(tmp_path / "out"), *WORD2VEC],
    )
    model_args.dataset = datasets.Dataset.from_dict({"line": LINES})
    results = train_word2vec(model_args, training)
    assert results["corpus_words"] == sum(len(line.split()) for line in LINES)
    card = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    assert "Dataset({" not in card and "num_rows" not in card
    assert "`the Dataset given`, train split" in card
    assert "datasets" not in metadata(card)
    assert titles == ["word2vec on the Dataset given"]
    assert "num_rows" not in (tmp_path / "out" / "all_results.json").read_text(encoding="utf-8")
