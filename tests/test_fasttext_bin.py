"""fastText out, whole: the reference's `.bin` written from a model trained here (read back by the
`fasttext` package and gensim with the same vectors, seen and unseen words), `hf-pretrain export
--format fasttext-bin`, `FastTextVectors.save`/`load` keeping the subword table, and a reference
`.bin` turned into a Hub folder."""

from pathlib import Path

import numpy as np
import pytest
from conftest import third_party

from hf_pretrain import FastTextVectors, WordVectors
from hf_pretrain.cli import main
from hf_pretrain.core.arguments import parse_args
from hf_pretrain.core.loop import TrainingArguments
from hf_pretrain.fasttext.train import FastTextArguments, train_fasttext
from hf_pretrain.fasttext.vectors import fasttext_bin_to_hub, load_fasttext_model

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "tiny_corpus.txt"
UNSEEN = ["lobsterss", "unseenword", "naïveté", "東京都", "ab", "x"]
TOLERANCE = 1e-5


def train(folder, *flags):
    args = parse_args(
        [FastTextArguments, TrainingArguments],
        [
            "--dataset",
            str(FIXTURE),
            "--output_dir",
            str(folder),
            "--min_count",
            "2",
            "--embedding_dim",
            "16",
            "--epochs",
            "1",
            "--batch_size",
            "64",
            "--bucket",
            "5000",
            "--similarity_file",
            "",
            "--analogy_file",
            "",
            "--num_threads",
            "1",
            *flags,
        ],
    )
    train_fasttext(*args)
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny skip-gram trained by the recipe, its vectors and its `.bin`."""
    folder = train(tmp_path_factory.mktemp("fasttext") / "model")
    vectors = WordVectors.from_pretrained(folder)
    path = folder.parent / "model.bin"
    vectors.save_fasttext_bin(path)
    return folder, vectors, path


def max_delta(vectors, other, words) -> float:
    return max(float(np.abs(np.asarray(other(w)) - vectors[w]).max()) for w in words)


def test_bin_loads_in_the_reference_with_the_same_vectors(trained):
    fasttext = third_party("fasttext")
    _, vectors, path = trained
    reference = fasttext.load_model(str(path))
    assert reference.get_words() == vectors.index_to_key
    assert reference.get_words(include_freq=True)[1].tolist() == vectors.counts
    assert reference.get_dimension() == 16
    assert all(w not in vectors for w in UNSEEN)
    assert max_delta(vectors, reference.get_word_vector, vectors.index_to_key) <= TOLERANCE
    assert max_delta(vectors, reference.get_word_vector, UNSEEN) <= TOLERANCE
    for word in ("lobster", "unseenword"):
        names, ids = reference.get_subwords(word)
        assert len(names) == len(ids) > 1
    np.testing.assert_array_equal(reference.get_output_matrix(), vectors.output_vectors)


def test_bin_loads_in_gensim_with_the_same_vectors(trained):
    third_party("gensim")
    from gensim.models.fasttext import load_facebook_model, load_facebook_vectors

    _, vectors, path = trained
    model = load_facebook_model(str(path))
    assert model.wv.index_to_key == vectors.index_to_key
    assert (model.wv.min_n, model.wv.max_n, model.wv.bucket) == (3, 6, 5000)
    assert max_delta(vectors, model.wv.get_vector, vectors.index_to_key) <= TOLERANCE
    assert max_delta(vectors, model.wv.get_vector, UNSEEN) <= TOLERANCE
    keyed = load_facebook_vectors(str(path))
    assert max_delta(vectors, keyed.get_vector, vectors.index_to_key + UNSEEN) <= TOLERANCE


def test_bin_reads_back_with_our_reader(trained):
    folder, vectors, path = trained
    loaded = FastTextVectors.load_fasttext_format(path)
    assert loaded.index_to_key == vectors.index_to_key
    assert max_delta(vectors, loaded.get_vector, vectors.index_to_key + UNSEEN) <= TOLERANCE
    model, words, _ = load_fasttext_model(path)
    assert model.config.bucket == 5000 and len(words) == len(vectors)


def test_cbow_hierarchical_softmax_writes_a_bin(tmp_path):
    fasttext = third_party("fasttext")
    folder = train(
        tmp_path / "cbow", "--architecture", "cbow", "--loss", "hierarchical_softmax", "--unk_policy", "keep"
    )
    vectors = WordVectors.from_pretrained(folder)
    assert "<unk>" in vectors
    vectors.save_fasttext_bin(tmp_path / "cbow.bin")
    reference = fasttext.load_model(str(tmp_path / "cbow.bin"))
    assert reference.get_words() == vectors.index_to_key
    assert max_delta(vectors, reference.get_word_vector, vectors.index_to_key + UNSEEN) <= TOLERANCE
    # Hierarchical softmax: nwords - 1 inner nodes, padded to the reference's nwords output rows.
    output = reference.get_output_matrix()
    assert output.shape == (len(vectors), 16) and not output[-1].any()


def test_export_command_writes_the_bin(trained, tmp_path, capsys):
    fasttext = third_party("fasttext")
    folder, vectors, _ = trained
    out = tmp_path / "exported" / "model.bin"
    assert main(["export", str(folder), str(out), "--format", "fasttext-bin"]) == 0
    assert "(fasttext-bin)" in capsys.readouterr().out
    reference = fasttext.load_model(str(out))
    assert max_delta(vectors, reference.get_word_vector, vectors.index_to_key + UNSEEN) <= TOLERANCE
    assert main(["export", str(folder), str(out), "--format", "fasttext-bin"]) == 1
    assert "already exists" in capsys.readouterr().err
    # A FastTextVectors.save folder exports too, with its subword table.
    vectors.save(tmp_path / "saved")
    again = tmp_path / "again.bin"
    assert main(["export", str(tmp_path / "saved"), str(again), "--format", "fasttext-bin"]) == 0
    assert again.read_bytes() == out.read_bytes()
    assert not list(tmp_path.glob("**/*.partial"))


def test_export_bin_refuses_vectors_without_subwords(trained, tmp_path, capsys):
    _, vectors, _ = trained
    WordVectors(vectors.index_to_key, vectors.vectors).save(tmp_path / "plain")
    assert main(["export", str(tmp_path / "plain"), str(tmp_path / "x.bin"), "--format", "fasttext-bin"]) == 1
    assert "holds no fastText model" in capsys.readouterr().err
    assert not (tmp_path / "x.bin").exists()


def test_save_and_load_keep_the_subword_table(trained, tmp_path):
    _, vectors, _ = trained
    vectors.save(tmp_path / "saved")
    loaded = FastTextVectors.load(tmp_path / "saved")
    assert isinstance(loaded, FastTextVectors) and loaded.ngrams == (3, 6, 5000)
    assert loaded.index_to_key == vectors.index_to_key and loaded.counts == vectors.counts
    for word in UNSEEN:
        assert word not in loaded
        np.testing.assert_array_equal(loaded[word], vectors[word])
    np.testing.assert_array_equal(loaded.output_vectors, vectors.output_vectors)
    assert loaded.most_similar("lobsterss", topn=3) == vectors.most_similar("lobsterss", topn=3)
    loaded.save_fasttext_bin(tmp_path / "again.bin")
    assert (tmp_path / "again.bin").read_bytes() == trained[2].read_bytes()
    # No pickle: safetensors and JSON only.
    saved = sorted(p.name for p in (tmp_path / "saved").iterdir())
    assert saved == ["subwords.safetensors", "vectors.safetensors", "vectors_config.json", "vocab.json"]


def test_save_and_load_of_bpe_vectors_keep_the_pieces(tmp_path, capsys):
    folder = train(tmp_path / "bpe", "--subwords", "bpe", "--bpe_vocab_size", "400")
    vectors = WordVectors.from_pretrained(folder)
    vectors.save(tmp_path / "saved")
    loaded = FastTextVectors.load(tmp_path / "saved")
    for word in UNSEEN[:3]:
        np.testing.assert_array_equal(loaded[word], vectors[word])
    for which in (vectors, loaded):
        with pytest.raises(ValueError, match="BPE subwords cannot be written as a fastText .bin"):
            which.save_fasttext_bin(tmp_path / "bpe.bin")
    assert main(["export", str(folder), str(tmp_path / "bpe.bin"), "--format", "fasttext-bin"]) == 1
    assert "BPE subwords cannot be written as a fastText .bin" in capsys.readouterr().err
    assert not (tmp_path / "bpe.bin").exists()


def test_sum_composition_and_plain_vectors_are_refused(tmp_path):
    folder = train(tmp_path / "sum", "--composition", "sum")
    with pytest.raises(ValueError, match="composition='sum' cannot be written as a fastText .bin"):
        WordVectors.from_pretrained(folder).save_fasttext_bin(tmp_path / "sum.bin")
    vec = tmp_path / "v.vec"
    WordVectors.from_pretrained(folder).save_word2vec_format(vec)
    with pytest.raises(ValueError, match="no subword table"):
        FastTextVectors.load_word2vec_format(vec).save_fasttext_bin(tmp_path / "vec.bin")
    assert not list(tmp_path.glob("*.bin"))


def test_reference_bin_to_hub_folder_answers_unseen_words(trained, tmp_path):
    fasttext = third_party("fasttext")
    _, _, path = trained
    reference = fasttext.load_model(str(path))
    hub = WordVectors.from_pretrained(fasttext_bin_to_hub(path, tmp_path / "hub"))
    assert isinstance(hub, FastTextVectors) and hub.index_to_key == reference.get_words()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "word_counts.json"):
        assert (tmp_path / "hub" / name).is_file()
    assert max_delta(hub, reference.get_word_vector, reference.get_words() + UNSEEN) <= TOLERANCE


def test_model_without_ngrams_writes_a_bin_with_no_buckets(tmp_path):
    fasttext = third_party("fasttext")
    vectors = WordVectors.from_pretrained(train(tmp_path / "words", "--maxn", "0"))
    vectors.save_fasttext_bin(tmp_path / "words.bin")
    reference = fasttext.load_model(str(tmp_path / "words.bin"))
    assert reference.get_input_matrix().shape == (len(vectors), 16)
    assert max_delta(vectors, reference.get_word_vector, vectors.index_to_key) <= TOLERANCE
    assert not reference.get_word_vector("unseenword").any()  # no n-grams: the reference's zero vector
