import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import third_party

from hf_pretrain.vectors.keyed import WordVectors

# ---------------------------------------------------------------------------- fixtures

# Two axes carry meaning (x: royalty vs vehicle, y: male vs female), z carries fruit, so the
# neighbours and the analogy below can be worked out by hand. "man" and "car" are deliberately
# not unit length: every query must normalise.
TINY = {
    "king": [1.0, 1.0, 0.0],
    "queen": [1.0, -1.0, 0.0],
    "man": [0.0, 2.0, 0.0],
    "woman": [0.0, -1.0, 0.0],
    "apple": [0.0, 0.0, 1.0],
    "orange": [0.0, 0.6, 0.8],
    "car": [-3.0, 0.0, 0.0],
    "truck": [-0.8, 0.0, 0.6],
}


@pytest.fixture
def tiny():
    return WordVectors(list(TINY), np.array(list(TINY.values()), dtype=np.float32), counts=[8, 7, 6, 5, 4, 3, 2, 1])


@pytest.fixture
def KeyedVectors():
    return third_party("gensim.models.keyedvectors").KeyedVectors


def to_gensim(KeyedVectors, wv):
    kv = KeyedVectors(wv.vector_size)
    kv.add_vectors(wv.index_to_key, wv.vectors)
    return kv


def random_vectors(words, dim, seed=0):
    rng = np.random.default_rng(seed)
    return WordVectors(words, rng.normal(size=(len(words), dim)).astype(np.float32))


@pytest.fixture
def eval_dir(shared_data) -> Path:
    """The shared evaluation sets (``shared_data`` from conftest skips, or fails on CI, when absent)."""
    path = shared_data / "eval"
    if not path.is_dir():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"evaluation sets not found at {path}")
        pytest.skip(f"evaluation sets not found at {path}")
    return path


# ---------------------------------------------------------------------------- construction


def test_basic_attributes(tiny):
    assert len(tiny) == 8
    assert tiny.vector_size == 3
    assert tiny.index_to_key == list(TINY)
    assert tiny.key_to_index["queen"] == 1
    assert tiny.vectors.dtype == np.float32 and tiny.vectors.shape == (8, 3)
    assert tiny.counts == [8, 7, 6, 5, 4, 3, 2, 1]
    assert "apple" in tiny and "pear" not in tiny and 3 not in tiny
    assert tiny.has_index_for("car") and not tiny.has_index_for("Car")
    assert repr(tiny) == "WordVectors(8 words, dim=3)"


def test_getitem(tiny):
    np.testing.assert_array_equal(tiny["man"], np.array([0, 2, 0], dtype=np.float32))
    block = tiny[["king", "apple"]]
    assert block.shape == (2, 3)
    np.testing.assert_array_equal(block[1], [0, 0, 1])
    # The vector handed out is a copy: editing it must not corrupt the table or its cache.
    vector = tiny["king"]
    vector[:] = 0
    np.testing.assert_array_equal(tiny["king"], [1, 1, 0])


def test_unknown_word_keyerror_names_word(tiny):
    with pytest.raises(KeyError, match="word 'xyz' not in vocabulary"):
        tiny["xyz"]
    with pytest.raises(KeyError, match="'pear'"):
        tiny[["apple", "pear"]]
    with pytest.raises(KeyError, match="'pear'"):
        tiny.similarity("apple", "pear")
    with pytest.raises(KeyError, match="'pear'"):
        tiny.most_similar("pear")
    with pytest.raises(KeyError, match="'pear'"):
        tiny.most_similar(positive=["apple"], negative=["pear"])
    with pytest.raises(KeyError, match="'pear'"):
        tiny.analogy("man", "woman", "pear")


def test_accepts_torch_and_float64():
    wv = WordVectors(["a", "b"], torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64))
    assert wv.vectors.dtype == np.float32
    np.testing.assert_array_equal(wv["b"], [3, 4])
    assert WordVectors(["a"], np.ones((1, 2)), counts=np.array([5])).counts == [5]


@pytest.mark.parametrize(
    "words, vectors, counts, message",
    [
        (["a", "b"], np.zeros((3, 2)), None, "2 words but 3 vectors"),
        (["a", "b"], np.zeros(2), None, "2-D"),
        (["a", "b", "a"], np.zeros((3, 2)), None, "duplicate word 'a' at positions 0 and 2"),
        (["a", "b"], np.array([[0.0, 1.0], [np.nan, 0.0]]), None, "non-finite.*'b'"),
        (["a", "b"], np.array([[0.0, np.inf], [1.0, 0.0]]), None, "non-finite.*'a'"),
        (["a", 7], np.zeros((2, 2)), None, "must be strings"),
        (["a", "b"], np.zeros((2, 2)), [1], "2 words but 1 counts"),
        (["a", "b"], np.zeros((2, 2)), [1, -1], "count for word 'b'"),
        (["a", "b"], np.array([["x", "y"], ["z", "w"]]), None, "numeric"),
    ],
)
def test_constructor_validation(words, vectors, counts, message):
    with pytest.raises(ValueError, match=message):
        WordVectors(words, vectors, counts)


def test_from_pretrained_reads_a_model_folder(tmp_path):
    from hf_pretrain import Vocabulary, Word2VecConfig, Word2VecModel

    vocab = Vocabulary.build(["a b b c c c"], min_count=1)
    model = Word2VecModel(Word2VecConfig(vocab_size=len(vocab), embedding_dim=3))
    model.save_pretrained(tmp_path)
    vocab.save(tmp_path)
    wv = WordVectors.from_pretrained(tmp_path)
    # The dropped unknown token has no vector; the rest keep their order and values.
    assert wv.index_to_key == ["c", "b", "a"] and wv.counts == [3, 2, 1]
    np.testing.assert_array_equal(wv.vectors, model.input_embeddings.weight.detach().numpy()[1:])
    same = WordVectors.from_pretrained(model, vocab)
    np.testing.assert_array_equal(same.vectors, wv.vectors)
    with pytest.raises(ValueError, match="needs its vocab"):
        WordVectors.from_pretrained(model)
    with pytest.raises(FileNotFoundError, match="no model folder"):
        WordVectors.from_pretrained(tmp_path / "missing")


def test_from_pretrained_reads_saved_folder(tiny, tmp_path):
    tiny.save(tmp_path / "wv")
    loaded = WordVectors.from_pretrained(tmp_path / "wv")
    assert loaded.index_to_key == tiny.index_to_key


# ---------------------------------------------------------------------------- similarity


def test_similarity(tiny):
    assert tiny.similarity("apple", "orange") == pytest.approx(0.8)
    assert tiny.similarity("car", "truck") == pytest.approx(0.8)
    assert tiny.similarity("king", "car") == pytest.approx(-1 / math.sqrt(2))
    assert tiny.similarity("man", "man") == pytest.approx(1.0)
    assert tiny.similarity("man", "woman") == pytest.approx(-1.0)


def test_most_similar_word(tiny):
    result = tiny.most_similar("apple", topn=2)
    assert [w for w, _ in result] == ["orange", "truck"]
    assert [s for _, s in result] == pytest.approx([0.8, 0.6])
    assert tiny.most_similar("car", topn=1) == [("truck", pytest.approx(0.8))]
    # The query word itself is never an answer, and topn can exceed what is left.
    assert len(tiny.most_similar("car", topn=100)) == 7
    assert tiny.most_similar("car", topn=0) == []


def test_most_similar_vector_keeps_all_words(tiny):
    # A raw vector excludes nothing: "apple" is its own nearest neighbour.
    assert tiny.most_similar(np.array([0, 0, 5.0]), topn=1) == [("apple", pytest.approx(1.0))]
    assert tiny.most_similar(torch.tensor([0.0, 0.0, 5.0]), topn=1)[0][0] == "apple"
    with pytest.raises(ValueError, match="shape"):
        tiny.most_similar(np.zeros(4))


def test_most_similar_restrict_vocab(tiny):
    assert tiny.most_similar("truck", topn=1)[0][0] == "car"
    # Among the first five words, apple (cos 0.6) beats king and queen (cos -0.57).
    assert tiny.most_similar("truck", topn=1, restrict_vocab=5) == [("apple", pytest.approx(0.6))]
    assert len(tiny.most_similar("truck", topn=None, restrict_vocab=5)) == 5


def test_most_similar_positive_negative(tiny):
    combined = tiny.most_similar(positive=["woman", "king"], negative=["man"], topn=3)
    assert combined[0][0] == "queen"
    assert {w for w, _ in combined}.isdisjoint({"woman", "king", "man"})
    assert tiny.most_similar(positive="apple", topn=1)[0][0] == "orange"
    # (word, weight) tuples as in gensim: weight 1 on apple alone changes nothing.
    assert tiny.most_similar(positive=[("apple", 1.0)], topn=1)[0][0] == "orange"
    with pytest.raises(ValueError, match="at least one"):
        tiny.most_similar()


def test_most_similar_all_scores_match_bruteforce(tiny):
    scores = tiny.most_similar(positive=["king", "orange"], negative=["car"], topn=None)
    unit = tiny.vectors / np.linalg.norm(tiny.vectors, axis=1, keepdims=True)
    query = unit[0] + unit[5] - unit[6]
    np.testing.assert_allclose(scores, unit @ (query / np.linalg.norm(query)), atol=1e-6)


def test_cache_refreshes_when_vectors_assigned(tiny):
    assert tiny.most_similar("apple", topn=1)[0][0] == "orange"
    changed = tiny.vectors.copy()
    changed[tiny.key_to_index["car"]] = [0, 0, 2]
    tiny.vectors = changed
    assert tiny.most_similar("apple", topn=1) == [("car", pytest.approx(1.0))]
    with pytest.raises(ValueError, match="8 words but 2 vectors"):
        tiny.vectors = np.zeros((2, 3))


def test_subclass_get_vector_hook(tiny):
    class CaseFolding(WordVectors):
        def get_vector(self, word):
            return super().get_vector(word.lower())

    folded = CaseFolding(tiny.index_to_key, tiny.vectors)
    assert "APPLE" not in folded
    np.testing.assert_array_equal(folded["APPLE"], [0, 0, 1])
    assert folded.similarity("APPLE", "orange") == pytest.approx(0.8)
    # An unseen word has no row, so nothing is excluded: its base word comes back first.
    assert folded.most_similar("APPLE", topn=1) == [("apple", pytest.approx(1.0))]


# ---------------------------------------------------------------------------- analogy


def test_analogy_3cosadd_by_hand(tiny):
    s = 1 / math.sqrt(2)
    target = np.array([0, -1, 0]) - np.array([0, 1, 0]) + np.array([s, s, 0])
    expected = float(target @ np.array([s, -s, 0]) / np.linalg.norm(target))  # 0.9596
    assert tiny.analogy("man", "woman", "king") == [("queen", pytest.approx(expected, abs=1e-6))]
    result = tiny.analogy("man", "woman", "king", topn=10)
    assert len(result) == 5 and {w for w, _ in result}.isdisjoint({"man", "woman", "king"})


def test_analogy_3cosmul_by_hand(tiny):
    unit = tiny.vectors / np.linalg.norm(tiny.vectors, axis=1, keepdims=True)
    shifted = (1 + unit @ unit[[2, 3, 0]].T) / 2  # cos' to man, woman, king
    score = shifted[:, 1] * shifted[:, 2] / (shifted[:, 0] + 1e-6)
    assert tiny.analogy("man", "woman", "king", method="3cosmul") == [
        ("queen", pytest.approx(float(score[1]), rel=1e-6))
    ]


def test_analogy_restrict_vocab(tiny):
    # target = woman - man + car = (-1, -2, 0): truck wins overall, queen within the first five rows.
    assert tiny.analogy("man", "woman", "car") == [("truck", pytest.approx(0.8 / math.sqrt(5)))]
    assert tiny.analogy("man", "woman", "car", restrict_vocab=5) == [("queen", pytest.approx(1 / math.sqrt(10)))]


def test_analogy_errors(tiny):
    with pytest.raises(ValueError, match="analogy needs three different words, got 'man' twice"):
        tiny.analogy("man", "woman", "man")
    with pytest.raises(ValueError, match="got 'king' twice"):
        tiny.analogy("king", "king", "man")
    with pytest.raises(ValueError, match="method"):
        tiny.analogy("man", "woman", "king", method="3cosmax")


@pytest.mark.filterwarnings("ignore:Call to deprecated:DeprecationWarning")  # gensim's own init_sims call
def test_analogy_matches_gensim(KeyedVectors):
    wv = random_vectors([f"w{i}" for i in range(200)], 16, seed=3)
    kv = to_gensim(KeyedVectors, wv)
    for a, b, c in [("w1", "w2", "w3"), ("w10", "w20", "w30"), ("w199", "w0", "w7")]:
        ours = wv.analogy(a, b, c, topn=5)
        theirs = kv.most_similar(positive=[b, c], negative=[a], topn=5)
        assert [w for w, _ in ours] == [w for w, _ in theirs]
        assert [s for _, s in ours] == pytest.approx([s for _, s in theirs], abs=1e-5)
        ours = wv.analogy(a, b, c, topn=5, method="3cosmul")
        theirs = kv.most_similar_cosmul(positive=[b, c], negative=[a], topn=5)
        assert [w for w, _ in ours] == [w for w, _ in theirs]
        assert [s for _, s in ours] == pytest.approx([s for _, s in theirs], abs=1e-5)


# ---------------------------------------------------------------------------- evaluation vs gensim


def pairs_fixture(tmp_path):
    """200 words with case variants, and a pairs file with comments, junk lines and OOV words."""
    rng = np.random.default_rng(7)
    # "W5" comes after "w5" and "Mixed" before "mixed": the first spelling must win either way.
    words = [f"w{i}" for i in range(190)] + ["Mixed", "mixed", "W5", "W6", "CamelCase"]
    words += [f"tail{i}" for i in range(200 - len(words))]
    wv = random_vectors(words, 12, seed=11)
    lines = ["# word1\tword2\tscore", "#comment"]
    for _ in range(150):
        i, j = rng.integers(0, len(words), size=2)
        a, b = words[i], words[j]
        score = 5 + 4 * wv.similarity(a, b) + rng.normal()  # correlated, so both statistics are informative
        if rng.random() < 0.3:
            a = a.upper()
        lines.append(f"{a}\t{b}\t{score:.2f}")
    lines += [
        "mixed\tw5\t3.5",
        "MIXED\tW6\t7.25",
        "camelcase\tw1\t1.0",
        "unknown\tw1\t2.0",
        "w2\tnowhere\t8.0",
        "only\ttwo",
        "w1\tw2\tnot-a-number",
        "",
        "w1\tw2\t1.5\textra",
    ]
    path = tmp_path / "pairs.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    return wv, path


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"case_insensitive": False},
        {"dummy4unknown": True},
        {"restrict_vocab": 120},
        {"restrict_vocab": 120, "case_insensitive": False, "dummy4unknown": True},
    ],
)
def test_evaluate_word_pairs_matches_gensim(tmp_path, KeyedVectors, kwargs):
    wv, path = pairs_fixture(tmp_path)
    ours = wv.evaluate_word_pairs(path, **kwargs)
    pearson, spearman, oov_ratio = to_gensim(KeyedVectors, wv).evaluate_word_pairs(str(path), **kwargs)
    assert ours["pearson"] == pytest.approx(pearson[0], abs=1e-6)
    assert ours["pearson_pvalue"] == pytest.approx(pearson[1], abs=1e-6)
    assert ours["spearman"] == pytest.approx(spearman[0], abs=1e-6)
    assert ours["spearman_pvalue"] == pytest.approx(spearman[1], abs=1e-6)
    assert ours["oov_ratio"] == pytest.approx(oov_ratio, abs=1e-9)
    assert ours["oov_pairs"] >= 2 and ours["pairs"] > 50


def test_evaluate_word_pairs_counts(tmp_path, tiny):
    path = tmp_path / "tiny.tsv"
    path.write_text("# header\nAPPLE\torange\t9\ncar\ttruck\t9\nking\tcar\t1\nking\tpear\t5\n", encoding="utf8")
    result = tiny.evaluate_word_pairs(path)
    assert (result["pairs"], result["oov_pairs"]) == (3, 1)
    assert result["oov_ratio"] == pytest.approx(25.0)
    assert result["spearman"] == pytest.approx(1.0)
    assert tiny.evaluate_word_pairs(path, dummy4unknown=True)["pairs"] == 4
    assert tiny.evaluate_word_pairs(path, case_insensitive=False)["oov_pairs"] == 2


def test_evaluate_word_pairs_nothing_usable(tmp_path, tiny):
    path = tmp_path / "oov.tsv"
    path.write_text("pear\tplum\t3\n", encoding="utf8")
    with pytest.raises(ValueError, match="no valid similarity judgements"):
        tiny.evaluate_word_pairs(path)


def grid_analogy_fixture(tmp_path, n_questions=400):
    """Words g<i>_<j> = row[i] + col[j] + noise, so grid analogies are solvable but not always.

    Upper-cased near-copies of some words sit later in the vocabulary: case-insensitively they are
    the input words themselves and must be skipped as answers; case-sensitively they are rivals.
    """
    rng = np.random.default_rng(5)
    dim, rows_n, cols_n = 10, 10, 10
    row, col = rng.normal(size=(rows_n, dim)), rng.normal(size=(cols_n, dim))
    words, vectors = [], []
    for i in range(rows_n):
        for j in range(cols_n):
            words.append(f"g{i}_{j}")
            vectors.append(row[i] + col[j] + 0.7 * rng.normal(size=dim))
    for k in range(0, 100, 3):
        words.append(words[k].upper())
        vectors.append(vectors[k] + 0.05 * rng.normal(size=dim))
    while len(words) < 200:
        words.append(f"filler{len(words)}")
        vectors.append(2 * rng.normal(size=dim))
    wv = WordVectors(words, np.array(vectors, dtype=np.float32))

    lines = []
    for section in ("across-rows", "across-columns", "mixed-case"):
        lines.append(f": {section}")
        for _ in range(n_questions // 3):
            i1, i2 = rng.choice(rows_n, 2, replace=False)
            j1, j2 = rng.choice(cols_n, 2, replace=False)
            if section == "across-columns":
                (i1, j1), (i2, j2) = (j1, i1), (j2, i2)
            quad = [f"g{i1}_{j1}", f"g{i1}_{j2}", f"g{i2}_{j1}", f"g{i2}_{j2}"]
            if section == "mixed-case":
                quad = [w.upper() if rng.random() < 0.5 else w for w in quad]
            lines.append(" ".join(quad))
    lines.append(": oov-and-junk")
    lines += ["g1_1 g1_2 g2_1 nowhere", "nowhere g1_2 g2_1 g2_2", "too few words", "", "g1_1 g1_2 g2_1 g2_2"]
    path = tmp_path / "analogies.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    return wv, path


def assert_same_sections(ours, gensim_result):
    score, sections = gensim_result
    assert [s["section"] for s in ours["sections"]] == [s["section"] for s in sections]
    assert [(s["correct"], s["incorrect"]) for s in ours["sections"]] == [
        (len(s["correct"]), len(s["incorrect"])) for s in sections
    ]
    assert ours["accuracy"] == pytest.approx(score)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"case_insensitive": False},
        {"dummy4unknown": True},
        {"restrict_vocab": 90},
        {"restrict_vocab": 150, "case_insensitive": False, "dummy4unknown": True},
    ],
)
def test_evaluate_word_analogies_matches_gensim(tmp_path, KeyedVectors, kwargs):
    wv, path = grid_analogy_fixture(tmp_path)
    ours = wv.evaluate_word_analogies(path, **kwargs)
    assert_same_sections(ours, to_gensim(KeyedVectors, wv).evaluate_word_analogies(str(path), **kwargs))
    if not kwargs:
        # The fixture is only a good test if it has both right and wrong answers.
        assert 0.2 < ours["accuracy"] < 0.9
        assert ours["sections"][-1]["section"] == "Total accuracy"
        assert ours["oov_questions"] == 2 and ours["questions"] == 3 * (400 // 3) + 3


def test_evaluate_word_analogies_all_top_answers_are_input_variants(tmp_path, KeyedVectors):
    # The five best non-input rows are all case variants of the inputs, so gensim falls back to the
    # fifth one; here that is a variant of the expected word, which gensim then counts as correct.
    words = ["aa", "bb", "cc", "dd", "Bb", "bB", "BB", "Cc", "cC", "CC"]
    vectors = [[0, 0, 1], [1, 0, 0], [0, 1, 0], [-1, 0, 0]]
    vectors += [[1, 0.03, 0], [1, 0.02, 0], [1, 0.06, 0], [0.05, 1, 0], [0.04, 1, 0], [0.01, 1, 0]]
    wv = WordVectors(words, np.array(vectors, dtype=np.float32))
    path = tmp_path / "quirk.txt"
    path.write_text(": quirk\naa bb cc bb\naa bb cc cc\naa bb cc dd\n", encoding="utf8")
    ours = wv.evaluate_word_analogies(path)
    assert_same_sections(ours, to_gensim(KeyedVectors, wv).evaluate_word_analogies(str(path)))
    assert ours["sections"][0]["correct"] == 1


def test_evaluate_word_analogies_tiny(tmp_path, tiny):
    path = tmp_path / "tiny.txt"
    path.write_text(": royals\nMAN WOMAN KING QUEEN\nman woman king apple\n: fruit\napple pear king car\n")
    result = tiny.evaluate_word_analogies(path)
    assert [(s["section"], s["correct"], s["incorrect"]) for s in result["sections"]] == [
        ("royals", 1, 1),
        ("fruit", 0, 0),
        ("Total accuracy", 1, 1),
    ]
    assert result["accuracy"] == 0.5 and result["total"] == 2
    assert result["oov_questions"] == 1 and result["oov_ratio"] == pytest.approx(100 / 3)
    assert tiny.evaluate_word_analogies(path, dummy4unknown=True)["sections"][1]["incorrect"] == 1


def test_evaluate_word_analogies_errors(tmp_path, tiny):
    path = tmp_path / "noheader.txt"
    path.write_text("man woman king queen\n")
    with pytest.raises(ValueError, match="line 1: missing ': section' header"):
        tiny.evaluate_word_analogies(path)
    path.write_text(": empty\n")
    with pytest.raises(ValueError, match="no analogy questions"):
        tiny.evaluate_word_analogies(path)


# ---------------------------------------------------------------------------- word2vec / GloVe files


@pytest.fixture
def unicode_vectors():
    words = ["the", "café", "日本", "naïve", "x"] + [f"w{i}" for i in range(45)]
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(len(words), 7)).astype(np.float32) * np.float32(10.0) ** rng.integers(-8, 8, size=(1, 7))
    return WordVectors(words, vectors)


@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_round_trip(tmp_path, unicode_vectors, binary):
    path = tmp_path / "vectors.w2v"
    unicode_vectors.save_word2vec_format(path, binary=binary)
    loaded = WordVectors.load_word2vec_format(path, binary=binary)
    assert loaded.index_to_key == unicode_vectors.index_to_key
    np.testing.assert_array_equal(loaded.vectors, unicode_vectors.vectors)
    assert loaded.counts is None
    head = WordVectors.load_word2vec_format(path, binary=binary, limit=3)
    assert head.index_to_key == ["the", "café", "日本"]


def test_glove_round_trip(tmp_path, unicode_vectors):
    path = tmp_path / "glove.txt"
    unicode_vectors.save_word2vec_format(path, write_header=False)
    assert path.read_text(encoding="utf8").startswith("the ")
    loaded = WordVectors.load_word2vec_format(path, no_header=True)
    assert loaded.index_to_key == unicode_vectors.index_to_key
    np.testing.assert_array_equal(loaded.vectors, unicode_vectors.vectors)
    assert len(WordVectors.load_word2vec_format(path, no_header=True, limit=4)) == 4


@pytest.mark.parametrize("binary", [False, True])
def test_our_files_load_in_gensim(tmp_path, unicode_vectors, KeyedVectors, binary):
    path = tmp_path / "ours.w2v"
    unicode_vectors.save_word2vec_format(path, binary=binary)
    kv = KeyedVectors.load_word2vec_format(str(path), binary=binary)
    assert kv.index_to_key == unicode_vectors.index_to_key
    np.testing.assert_array_equal(kv.vectors, unicode_vectors.vectors)


def test_our_glove_loads_in_gensim(tmp_path, unicode_vectors, KeyedVectors):
    path = tmp_path / "ours.glove"
    unicode_vectors.save_word2vec_format(path, write_header=False)
    kv = KeyedVectors.load_word2vec_format(str(path), no_header=True)
    np.testing.assert_array_equal(kv.vectors, unicode_vectors.vectors)


@pytest.mark.parametrize("binary, write_header", [(False, True), (True, True), (False, False)])
def test_gensim_files_load_in_ours(tmp_path, unicode_vectors, KeyedVectors, binary, write_header):
    path = tmp_path / "gensim.w2v"
    to_gensim(KeyedVectors, unicode_vectors).save_word2vec_format(str(path), binary=binary, write_header=write_header)
    loaded = WordVectors.load_word2vec_format(path, binary=binary, no_header=not write_header)
    assert loaded.index_to_key == unicode_vectors.index_to_key
    np.testing.assert_array_equal(loaded.vectors, unicode_vectors.vectors)


def test_text_reader_tolerates_crlf_and_trailing_blank_lines(tmp_path):
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"2 2\r\na 1 2\r\nb 3.5 -4e-3 \r\n\r\n\n")
    loaded = WordVectors.load_word2vec_format(path)
    assert loaded.index_to_key == ["a", "b"]
    np.testing.assert_array_equal(loaded.vectors, np.array([[1, 2], [3.5, -4e-3]], dtype=np.float32))


@pytest.mark.parametrize(
    "content, kwargs, message",
    [
        ("2 x\na 1 2\nb 3 4\n", {}, r"line 1: header must be"),
        ("", {}, r"line 1: missing"),
        ("3 2\na 1 2\nb 3 4\n", {}, r"header says 3 words but the file ends after 2"),
        ("1 2\na 1 2\nb 3 4\n", {}, r"line 3: header says 1 words but the file has 2"),
        ("2 3\na 1 2 3\nb 3 4\n", {}, r"line 3: expected 4 columns .* found 3"),
        ("2 2\na 1 2\nb 3 4 5\n", {}, r"line 3: expected 3 columns .* found 4"),
        ("2 2\na 1 2\nb 3 x4\n", {}, r"line 3: bad number 'x4' in column 3"),
        ("2 2\na 1 2\na 3 4\n", {}, r"line 3: duplicate word 'a' \(first at line 2\)"),
        ("2 2\na 1 2\nb nan 4\n", {}, r"line 3: non-finite value"),
        ("3 2\na 1 2\n\nb 3 4\n", {}, r"line 3: empty line"),
        ("a 1 2\nb 3 4\nc 5\n", {"no_header": True}, r"line 3: expected 3 columns .* found 2"),
        ("a 1 2\nb 3 4\na 5 6\n", {"no_header": True}, r"line 3: duplicate word 'a' \(first at line 1\)"),
        ("a\n", {"no_header": True}, r"line 1: no vector values"),
    ],
)
def test_malformed_text_files(tmp_path, content, kwargs, message):
    path = tmp_path / "broken.txt"
    path.write_text(content, encoding="utf8")
    with pytest.raises(ValueError, match=message) as info:
        WordVectors.load_word2vec_format(path, **kwargs)
    assert str(path) in str(info.value)


def binary_file(header, entries, newline=True):
    body = b"".join(w + b" " + np.asarray(v, dtype="<f4").tobytes() + (b"\n" if newline else b"") for w, v in entries)
    return header + body


@pytest.mark.parametrize(
    "content, message",
    [
        (binary_file(b"3 2\n", [(b"a", [1, 2]), (b"b", [3, 4])]), r"header says 3 words but the file ends after 2"),
        (binary_file(b"2 2\n", [(b"a", [1, 2]), (b"b", [3])]), r"ends after 1 \(truncated at word #2"),
        (binary_file(b"1 2\n", [(b"a", [1, 2]), (b"b", [3, 4])]), r"header says 1 words but the file has more"),
        (binary_file(b"2 2\n", [(b"a", [1, 2]), (b"a", [3, 4])]), r"word #2 \(byte \d+\): duplicate word 'a'"),
        (binary_file(b"2 2\n", [(b"a", [1, 2]), (b"\xff", [3, 4])]), r"word #2 .*not valid utf8"),
        (binary_file(b"2 2\n", [(b"a", [1, 2]), (b"b", [np.inf, 4])]), r"word #2 .*non-finite"),
        (b"2 2", r"line 1: missing"),
        (b"two 2\n", r"line 1: header must be"),
    ],
)
def test_malformed_binary_files(tmp_path, content, message):
    path = tmp_path / "broken.bin"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as info:
        WordVectors.load_word2vec_format(path, binary=True)
    assert str(path) in str(info.value)


def test_binary_reader_accepts_entries_without_newlines(tmp_path):
    path = tmp_path / "packed.bin"
    path.write_bytes(binary_file(b"2 2\n", [(b"a", [1, 2]), (b"b", [3, 4])], newline=False))
    loaded = WordVectors.load_word2vec_format(path, binary=True)
    np.testing.assert_array_equal(loaded["b"], [3, 4])


def test_save_word2vec_rejects_unstorable_words(tmp_path):
    with pytest.raises(ValueError, match="'new york'.*whitespace"):
        WordVectors(["new york"], np.ones((1, 2))).save_word2vec_format(tmp_path / "x.txt")
    with pytest.raises(ValueError, match="header"):
        WordVectors(["a"], np.ones((1, 2))).save_word2vec_format(tmp_path / "x.bin", binary=True, write_header=False)
    with pytest.raises(ValueError, match="no_header"):
        WordVectors.load_word2vec_format(tmp_path / "x.bin", binary=True, no_header=True)


# ---------------------------------------------------------------------------- safetensors folder


def test_save_load_folder(tmp_path, tiny):
    tiny.save(tmp_path / "wv")
    assert sorted(p.name for p in (tmp_path / "wv").iterdir()) == ["vectors.safetensors", "vocab.json"]
    vocab = json.loads((tmp_path / "wv" / "vocab.json").read_text(encoding="utf8"))
    assert vocab["words"] == list(TINY) and vocab["counts"] == tiny.counts
    loaded = WordVectors.load(tmp_path / "wv")
    assert loaded.index_to_key == tiny.index_to_key and loaded.counts == tiny.counts
    np.testing.assert_array_equal(loaded.vectors, tiny.vectors)

    no_counts = WordVectors(["日本", "b"], np.eye(2))
    no_counts.save(tmp_path / "nc")
    assert WordVectors.load(tmp_path / "nc").counts is None
    assert WordVectors.load(tmp_path / "nc").index_to_key == ["日本", "b"]


def test_load_folder_errors(tmp_path, tiny):
    with pytest.raises(FileNotFoundError, match="vectors.safetensors"):
        WordVectors.load(tmp_path)
    tiny.save(tmp_path / "wv")
    (tmp_path / "wv" / "vocab.json").write_text(json.dumps({"words": ["a", "b"], "counts": None}))
    with pytest.raises(ValueError, match="2 words but 8 vectors"):
        WordVectors.load(tmp_path / "wv")


# ---------------------------------------------------------------------------- shared evaluation sets


def planted_google_vectors(path, dim, noise, seed):
    """Vectors where each section's word pairs differ by a shared offset plus noise.

    Random vectors would answer almost nothing right; planting the relations gives a mix of right
    and wrong answers, so agreement with gensim is tested on both.
    """
    rng = np.random.default_rng(seed)
    sections = []
    with open(path, encoding="utf8") as fin:
        for line in fin:
            if line.startswith(": "):
                sections.append(set())
            else:
                a, b, c, d = line.split()
                sections[-1].update([(a, b), (c, d)])
    vectors: dict[str, np.ndarray] = {}
    scale = 1 / np.sqrt(dim)
    for pairs in sections:
        offset = rng.normal(size=dim) * scale
        for x, y in sorted(pairs):
            if x not in vectors and y not in vectors:
                vectors[x] = rng.normal(size=dim) * scale
            if y not in vectors:
                vectors[y] = vectors[x] + offset + noise * rng.normal(size=dim) * scale
            elif x not in vectors:
                vectors[x] = vectors[y] - offset + noise * rng.normal(size=dim) * scale
    return vectors, rng


@pytest.mark.integration
@pytest.mark.parametrize("name", ["wordsim353_all.tsv", "wordsim353_sim.tsv", "wordsim353_rel.tsv"])
def test_wordsim353_matches_gensim(KeyedVectors, eval_dir, name):
    path = eval_dir / name
    words = []
    with open(path, encoding="utf8") as fin:
        for line in fin:
            words += line.split("\t")[:2]
    words = list(dict.fromkeys(words))
    # Lower-case a third of the words (found only case-insensitively) and drop a few (OOV).
    words = [w.lower() if i % 3 == 0 else w for i, w in enumerate(words) if i % 17 != 5]
    wv = random_vectors(list(dict.fromkeys(words)), 50, seed=4)
    kv = to_gensim(KeyedVectors, wv)
    for kwargs in ({}, {"case_insensitive": False}, {"dummy4unknown": True}):
        ours = wv.evaluate_word_pairs(path, **kwargs)
        pearson, spearman, oov_ratio = kv.evaluate_word_pairs(str(path), **kwargs)
        assert ours["pearson"] == pytest.approx(pearson[0], abs=1e-6)
        assert ours["spearman"] == pytest.approx(spearman[0], abs=1e-6)
        assert ours["spearman_pvalue"] == pytest.approx(spearman[1], abs=1e-6)
        assert ours["oov_ratio"] == pytest.approx(oov_ratio, abs=1e-9)
        assert ours["oov_pairs"] > 0


@pytest.mark.integration
def test_google_analogies_match_gensim(KeyedVectors, eval_dir):
    path = eval_dir / "questions-words.txt"
    planted, rng = planted_google_vectors(path, dim=20, noise=1.0, seed=0)
    words = sorted(planted)
    # Mixed case and a few missing words exercise case folding and OOV skipping; lower-cased
    # copies after the originals are rival candidates that fold onto the same key.
    kept = [w for i, w in enumerate(words) if i % 41 != 7]
    variants = [w.lower() for w in kept[::5] if w.lower() != w]
    all_words = kept + variants
    vectors = np.stack(
        [planted[w] for w in kept] + [planted[next(k for k in kept if k.lower() == v)] for v in variants]
    )
    vectors = vectors + 0.05 * rng.normal(size=vectors.shape) / np.sqrt(vectors.shape[1])
    wv = WordVectors(all_words, vectors.astype(np.float32))

    ours = wv.evaluate_word_analogies(path)
    assert_same_sections(ours, to_gensim(KeyedVectors, wv).evaluate_word_analogies(str(path)))
    assert len(ours["sections"]) == 15 and ours["questions"] == 19544
    assert ours["oov_questions"] > 0 and 0.2 < ours["accuracy"] < 0.9


@pytest.mark.integration
def test_google_analogies_on_large_vocabulary(eval_dir):
    path = eval_dir / "questions-words.txt"
    planted, rng = planted_google_vectors(path, dim=100, noise=1.0, seed=1)
    n_filler = 30000 - len(planted)
    words = list(planted) + [f"filler{i}" for i in range(n_filler)]
    vectors = np.concatenate([np.stack(list(planted.values())), rng.normal(size=(n_filler, 100)) / 10])
    wv = WordVectors(words, vectors.astype(np.float32))
    result = wv.evaluate_word_analogies(path)
    assert result["total"] == 19544
