"""`WordVectors.from_saved_tables`, the numpy-only read of word2vec and GloVe folders, gives exactly
the vectors of loading the model (`model.word_embeddings()` through `AutoModel`): same rows, same
order, same counts, same unknown-token handling; and steps aside where it cannot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hf_pretrain import GloVeConfig, GloVeModel, Vocabulary, Word2VecConfig, Word2VecModel, WordVectors
from hf_pretrain.core.arguments import parse_args
from hf_pretrain.core.loop import TrainingArguments
from hf_pretrain.glove.train import GloVeArguments, GloVeTrainingArguments, train_glove
from hf_pretrain.word2vec.train import Word2VecArguments, train_word2vec

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "tiny_corpus.txt"
TEXT = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog"]
RECIPE_FLAGS = ["--dataset", str(FIXTURE), "--min_count", "2", "--embedding_dim", "8", "--epochs", "1"]
RECIPE_FLAGS += ["--similarity_file", "", "--analogy_file", ""]


def through_the_model(folder, vocab=None) -> WordVectors:
    """What `from_pretrained` gave before the numpy read: the model loaded by AutoModel."""
    original = WordVectors.from_saved_tables
    WordVectors.from_saved_tables = classmethod(lambda cls, folder, vocab=None: None)
    try:
        return WordVectors.from_pretrained(folder, vocab)
    finally:
        WordVectors.from_saved_tables = original


def assert_same(folder, vocab=None) -> WordVectors:
    fast = WordVectors.from_saved_tables(folder, vocab)
    assert fast is not None, f"{folder} was not read from its tables"
    slow = through_the_model(folder, vocab)
    assert type(fast) is type(slow) is WordVectors
    assert fast.index_to_key == slow.index_to_key
    assert fast.counts == slow.counts
    assert fast.vectors.dtype == slow.vectors.dtype == np.float32
    assert np.array_equal(fast.vectors, slow.vectors)
    via_from_pretrained = WordVectors.from_pretrained(folder, vocab)
    assert via_from_pretrained.index_to_key == fast.index_to_key
    assert np.array_equal(via_from_pretrained.vectors, fast.vectors)
    return fast


def randomised(model):
    # Non-trivial values in every table (word2vec starts its output vectors at zero).
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    return model


def save(folder: Path, model, vocab, counts: bool = True) -> Path:
    model.save_pretrained(folder)
    vocab.save(folder)
    if not counts:
        (folder / "word_counts.json").unlink()
    return folder


@pytest.mark.parametrize("architecture", ["skipgram", "cbow"])
@pytest.mark.parametrize("unk_policy", ["drop", "keep"])
def test_word2vec(tmp_path, architecture, unk_policy):
    vocab = Vocabulary.build(TEXT, min_count=2, unk_policy=unk_policy)
    config = Word2VecConfig(vocab_size=len(vocab), embedding_dim=5, architecture=architecture)
    folder = save(tmp_path, randomised(Word2VecModel(config)), vocab)
    vectors = assert_same(folder)
    assert ("<unk>" in vectors) == (unk_policy == "keep")
    assert vectors.counts is not None


@pytest.mark.parametrize("export", ["sum", "center", "concat"])
def test_glove(tmp_path, export):
    vocab = Vocabulary.build(TEXT, min_count=1)
    config = GloVeConfig(vocab_size=len(vocab), embedding_dim=4, export=export)
    folder = save(tmp_path, randomised(GloVeModel(config)), vocab)
    vectors = assert_same(folder)
    assert vectors.vector_size == (8 if export == "concat" else 4)


def test_without_counts_and_with_a_vocab_given(tmp_path):
    vocab = Vocabulary.build(TEXT, min_count=1, unk_policy="keep")
    folder = save(tmp_path, randomised(Word2VecModel(Word2VecConfig(vocab_size=len(vocab), embedding_dim=3))), vocab)
    assert_same(folder, vocab)
    (folder / "word_counts.json").unlink()
    vectors = assert_same(folder)
    assert vectors.counts is None and "<unk>" not in vectors  # no counts: the default policy, "drop"


@pytest.mark.parametrize("family", ["word2vec-skipgram", "word2vec-cbow", "glove"])
def test_recipe_folders(tmp_path, family):
    if family == "glove":
        args = parse_args([GloVeArguments, GloVeTrainingArguments], [*RECIPE_FLAGS, "--batch_size", "2048"])
        recipe = train_glove
    else:
        flags = [*RECIPE_FLAGS, "--batch_size", "64", "--architecture", family.split("-")[1]]
        args = parse_args([Word2VecArguments, TrainingArguments], flags)
        recipe = train_word2vec
    args[1].output_dir = str(tmp_path / family)
    recipe(*args)
    assert_same(tmp_path / family)


def test_config_json_is_checked_as_the_configuration_class_checks_it(tmp_path):
    vocab = Vocabulary.build(TEXT, min_count=1)
    folder = save(tmp_path, randomised(GloVeModel(GloVeConfig(vocab_size=len(vocab), embedding_dim=4))), vocab)
    config = json.loads((folder / "config.json").read_text())
    # A setting missing from config.json takes the configuration class's default.
    (folder / "config.json").write_text(json.dumps({k: v for k, v in config.items() if k != "export"}))
    assert_same(folder)
    for key, value, message in [
        ("export", "both", "export must be one of"),
        ("symmetric", "no", "must be true or false"),
    ]:
        (folder / "config.json").write_text(json.dumps({**config, key: value}))
        with pytest.raises(ValueError, match=message):
            WordVectors.from_saved_tables(folder)
        with pytest.raises(ValueError, match=message):
            through_the_model(folder)


def test_a_vocabulary_of_another_size_is_refused(tmp_path):
    vocab = Vocabulary.build(TEXT, min_count=1)
    folder = save(tmp_path, Word2VecModel(Word2VecConfig(vocab_size=len(vocab), embedding_dim=3)), vocab)
    other = Vocabulary.build(TEXT, min_count=2)
    with pytest.raises(ValueError, match="the vocabulary and the weights must come from the same run"):
        WordVectors.from_pretrained(folder, other)


def test_steps_aside_where_the_model_must_decide(tmp_path):
    vocab = Vocabulary.build(TEXT, min_count=1)
    model = randomised(GloVeModel(GloVeConfig(vocab_size=len(vocab), embedding_dim=4)))
    # Half precision: the model loads in the dtype config.json names.
    half = save(tmp_path / "half", model.to(torch.float16), vocab)
    assert WordVectors.from_saved_tables(half) is None
    loaded = WordVectors.from_pretrained(half)
    expected = (model.center_embeddings.weight + model.context_embeddings.weight).float().detach().numpy()[1:]
    assert np.array_equal(loaded.vectors, expected)
    # Another family, and a folder written by WordVectors.save.
    assert WordVectors.from_saved_tables(tmp_path / "nothing-here") is None
    loaded.save(tmp_path / "saved")
    assert WordVectors.from_saved_tables(tmp_path / "saved") is None
    with pytest.raises(ValueError, match="truncated"):
        weights = save(tmp_path / "cut", Word2VecModel(Word2VecConfig(vocab_size=len(vocab))), vocab)
        data = (weights / "model.safetensors").read_bytes()
        (weights / "model.safetensors").write_bytes(data[: len(data) // 2])
        WordVectors.from_pretrained(weights)
