"""Word vectors as static sentence embedders, loaded by the real sentence-transformers and model2vec."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import third_party

from hf_pretrain import WordVectors
from hf_pretrain.core.arguments import parse_args
from hf_pretrain.core.loop import TrainingArguments
from hf_pretrain.fasttext.train import FastTextArguments, train_fasttext
from hf_pretrain.vectors.static import known_word_mean, to_model2vec, to_sentence_transformers
from hf_pretrain.word2vec.train import Word2VecArguments, train_word2vec

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "tiny_corpus.txt"
FLAGS = ["--dataset", str(FIXTURE), "--min_count", "2", "--embedding_dim", "8", "--epochs", "1",
         "--similarity_file", "", "--analogy_file", "", "--num_threads", "1"]  # fmt: skip
SENTENCES = ["the lobster zzqx is a crustacean", "a crane is flying over the river", "qqq www"]


@pytest.fixture(scope="module")
def word2vec_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("static") / "w2v"
    train_word2vec(*parse_args([Word2VecArguments, TrainingArguments], [*FLAGS, "--output_dir", str(out)]))
    return out


def test_model2vec_gives_the_mean_of_the_known_words(word2vec_dir, tmp_path):
    model2vec = third_party("model2vec")
    vectors = WordVectors.from_pretrained(word2vec_dir)
    to_model2vec(word2vec_dir, tmp_path / "m2v")
    model = model2vec.StaticModel.from_pretrained(str(tmp_path / "m2v"))
    encoded = model.encode(SENTENCES)
    for sentence, row in zip(SENTENCES[:2], encoded):
        assert any(w not in vectors for w in sentence.split())  # an unknown word is skipped
        np.testing.assert_allclose(row, known_word_mean(vectors, sentence), atol=1e-6)
    assert not encoded[2].any()  # no known word: model2vec's zero vector


def test_sentence_transformers_loads_it_unchanged_with_the_known_words_direction(word2vec_dir, tmp_path):
    st = third_party("sentence_transformers")
    vectors = WordVectors.from_pretrained(word2vec_dir)
    to_sentence_transformers(word2vec_dir, tmp_path / "st")
    to_sentence_transformers(word2vec_dir, tmp_path / "st_normalized", normalize=True)
    plain = st.SentenceTransformer(str(tmp_path / "st"), device="cpu").encode(SENTENCES[:2])
    unit = st.SentenceTransformer(str(tmp_path / "st_normalized"), device="cpu").encode(SENTENCES[:2])
    for sentence, row, unit_row in zip(SENTENCES, plain, unit):
        mean = known_word_mean(vectors, sentence)
        known = sum(w in vectors for w in sentence.split())
        # StaticEmbedding averages every token; the unknown ones add a zero row.
        np.testing.assert_allclose(row, mean * known / len(sentence.split()), atol=1e-6)
        np.testing.assert_allclose(unit_row, mean / np.linalg.norm(mean), atol=1e-6)


def test_fasttext_exports_bake_the_vocabulary_and_extra_words(tmp_path):
    model2vec = third_party("model2vec")
    out = tmp_path / "ft"
    args = parse_args([FastTextArguments, TrainingArguments], [*FLAGS, "--bucket", "5000", "--output_dir", str(out)])
    train_fasttext(*args)
    vectors = WordVectors.from_pretrained(out)
    to_model2vec(vectors, tmp_path / "m2v", extra_words=["lobsterz"])
    model = model2vec.StaticModel.from_pretrained(str(tmp_path / "m2v"))
    np.testing.assert_allclose(model.encode(["lobsterz"])[0], vectors["lobsterz"], atol=1e-6)
    assert not model.encode(["neverseenword"])[0].any()


def test_export_command_writes_both_folders_and_refuses_to_clobber(word2vec_dir, tmp_path):
    third_party("sentence_transformers")
    third_party("model2vec")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cli = [sys.executable, "-m", "hf_pretrain.cli", "export", str(word2vec_dir)]
    for fmt in ("sentence-transformers", "model2vec"):
        done = subprocess.run([*cli, str(tmp_path / fmt), "--format", fmt], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / fmt / "modules.json").is_file() and (tmp_path / fmt / "model.safetensors").is_file()
    done = subprocess.run([*cli, str(word2vec_dir), "--format", "model2vec"], capture_output=True, text=True, env=env)
    assert done.returncode == 1 and "the model folder" in done.stderr
    done = subprocess.run(
        [*cli, str(tmp_path / "model2vec"), "--format", "model2vec"], capture_output=True, text=True, env=env
    )
    assert done.returncode == 1 and "not empty: pass --overwrite" in done.stderr
