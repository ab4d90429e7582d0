"""Reporting after training: evaluations that cannot score are skipped with a reason, not fatal;
bad evaluation files fail before training; model cards publish only representative scores."""

import logging

import numpy as np
import pytest
import yaml

from hf_pretrain.core.publish import MIN_MODEL_INDEX_COVERAGE, render_model_card
from hf_pretrain.vectors.evaluation import EVAL_DIR, EvaluationArguments, check_evaluation_files, evaluate_vectors
from hf_pretrain.vectors.keyed import WordVectors

WORDSIM = EVAL_DIR / "wordsim353_all.tsv"
ANALOGIES = EVAL_DIR / "questions-words.txt"
CHINESE = ["的", "中国", "北京", "上海", "城市", "国王", "女王", "男人", "女人", "电脑"]


def chinese_vectors():
    rng = np.random.default_rng(0)
    return WordVectors(CHINESE, rng.normal(size=(len(CHINESE), 8)).astype(np.float32))


def english_vectors(words):
    rng = np.random.default_rng(1)
    return WordVectors(list(words), rng.normal(size=(len(words), 8)).astype(np.float32))


def metadata(card: str) -> dict:
    return yaml.safe_load(card.split("---\n")[1])


def card(results: dict, family: str = "word2vec") -> str:
    extra = {
        "architecture": "skipgram",
        "loss": "ns",
        "probe_word": "king",
        "analogy_example": "",
        "runtime": "1 s",
        "corpus_note": "test corpus",
    }
    return render_model_card(family, model_name="m", dataset="corpus", hyperparameters={}, results=results, extra=extra)


# ---------------------------------------------------------------------------- evaluate_vectors


def test_vocabulary_without_any_evaluation_word_is_skipped_with_reasons(caplog):
    with caplog.at_level(logging.WARNING, logger="hf_pretrain.vectors.evaluation"):
        results = evaluate_vectors(chinese_vectors(), EvaluationArguments())
    assert set(results) == {"wordsim353_skipped", "google_analogy_skipped"}
    assert "no pair of" in results["wordsim353_skipped"] and "(0 of 353)" in results["wordsim353_skipped"]
    assert str(WORDSIM) in results["wordsim353_skipped"]
    assert "(0 of 19544)" in results["google_analogy_skipped"]
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "wordsim353 evaluation skipped" in logged and "google_analogy evaluation skipped" in logged


def test_a_single_scorable_pair_is_skipped_not_fatal(tmp_path):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("king\tqueen\t8\nking\tzeppelin\t2\nquasar\tqueen\t1\n")
    results = evaluate_vectors(english_vectors(["king", "queen"]), EvaluationArguments(str(pairs), ""))
    assert "only 1 of the 3 pairs" in results["wordsim353_skipped"]


def test_a_file_gone_by_the_end_of_training_is_skipped(tmp_path):
    args = EvaluationArguments(str(tmp_path / "gone.tsv"), str(tmp_path / "gone.txt"))
    results = evaluate_vectors(english_vectors(["king", "queen"]), args)
    assert "cannot read" in results["wordsim353_skipped"] and "gone.tsv" in results["wordsim353_skipped"]
    assert "cannot read" in results["google_analogy_skipped"] and "gone.txt" in results["google_analogy_skipped"]


def test_a_malformed_file_at_the_end_is_skipped(tmp_path):
    questions = tmp_path / "headless.txt"
    questions.write_text("king queen man woman\n: section\n")
    results = evaluate_vectors(english_vectors(["king", "queen"]), EvaluationArguments("", str(questions)))
    assert "missing ': section' header" in results["google_analogy_skipped"]


def test_scored_evaluations_report_their_coverage(tmp_path):
    pairs = tmp_path / "pairs.txt"  # space-separated: read with any whitespace
    pairs.write_text("king queen 8\nman woman 7\nking man 5\nking quasar 1\n")
    questions = tmp_path / "questions.txt"
    questions.write_text(": family\nman king woman queen\nman king woman zeppelin\n")
    vectors = english_vectors(["king", "queen", "man", "woman"])
    results = evaluate_vectors(vectors, EvaluationArguments(str(pairs), str(questions)))
    assert results["wordsim353_oov_ratio"] == 25.0 and -1 <= results["wordsim353_spearman"] <= 1
    assert results["google_analogy_questions"] == 1 and results["google_analogy_oov_ratio"] == 50.0
    assert not any(key.endswith("_skipped") for key in results)


def test_fasttext_scores_composed_pairs_and_skips_the_in_vocabulary_figure():
    from hf_pretrain import FastTextConfig, FastTextModel, FastTextVectors
    from hf_pretrain.fasttext.subwords import char_ngram_subwords

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    config = FastTextConfig(vocab_size=len(CHINESE), embedding_dim=8, bucket=64)
    model = FastTextModel(config)
    model.set_subwords(*char_ngram_subwords(CHINESE, config.minn, config.maxn, config.bucket))
    vocab = type("V", (), {"index_to_word": CHINESE, "counts": [1] * len(CHINESE), "unk_policy": "keep", "unk_id": 0})
    results = evaluate_vectors(FastTextVectors.from_model(model, vocab), EvaluationArguments(str(WORDSIM), ""))
    # Every English word is composed from hashed n-grams: scored, but at 100 % out of vocabulary.
    assert results["wordsim353_oov_ratio"] == 100.0 and "wordsim353_spearman" in results
    assert "(0 of 353)" in results["wordsim353_in_vocab_skipped"] and "wordsim353_spearman_in_vocab" not in results
    assert "model-index" not in metadata(card(results, "fasttext"))


def test_programming_errors_still_propagate():
    class Broken(WordVectors):
        def evaluate_word_pairs(self, *args, **kwargs):
            raise ValueError("a bug, not an unscorable file")

    broken = Broken(["king", "queen"], np.eye(2, dtype=np.float32))
    with pytest.raises(ValueError, match="a bug"):
        evaluate_vectors(broken, EvaluationArguments(str(WORDSIM), ""))


# ---------------------------------------------------------------------------- check_evaluation_files


def test_check_accepts_the_packaged_files_and_disabled_evaluations():
    check_evaluation_files(EvaluationArguments())
    check_evaluation_files(EvaluationArguments("", None))


@pytest.mark.parametrize("option", ["similarity_file", "analogy_file"])
def test_check_names_a_missing_file(tmp_path, option):
    missing = tmp_path / "nowhere.txt"
    args = EvaluationArguments(**{"similarity_file": "", "analogy_file": "", option: str(missing)})
    with pytest.raises(FileNotFoundError, match=f"--{option} not found: .*nowhere.txt"):
        check_evaluation_files(args)


@pytest.mark.parametrize(
    "option, content, message",
    [
        ("similarity_file", b"# nothing\nonly two\n", "no word pair lines"),
        ("similarity_file", b"king\tqueen\t\xff\n", "not UTF-8"),
        ("similarity_file", ANALOGIES.read_bytes()[:2000], "no word pair lines"),
        ("analogy_file", WORDSIM.read_bytes(), "before the first ': section' header"),
        ("analogy_file", b": section\nonly three words\n", "no analogy questions"),
    ],
    ids=["pairs-no-pair-line", "pairs-not-utf8", "pairs-given-questions", "questions-given-pairs", "questions-none"],
)
def test_check_rejects_a_file_in_the_wrong_format(tmp_path, option, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    args = EvaluationArguments(**{"similarity_file": "", "analogy_file": "", option: str(path)})
    with pytest.raises(ValueError, match=message) as raised:
        check_evaluation_files(args)
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)


def test_check_rejects_a_folder(tmp_path):
    with pytest.raises(ValueError, match="is not a file"):
        check_evaluation_files(EvaluationArguments(str(tmp_path), ""))


# ---------------------------------------------------------------------------- model card


def test_low_coverage_score_stays_out_of_the_model_index_but_is_labelled_in_the_table():
    results = {
        "wordsim353_spearman": 0.943,
        "wordsim353_pearson": 0.9,
        "wordsim353_oov_ratio": 98.3,
        "google_analogy_accuracy": 0.25,
        "google_analogy_questions": 9000,
        "google_analogy_oov_ratio": 40.0,
    }
    text = card(results)
    meta = metadata(text)
    published = [r["dataset"]["type"] for r in meta["model-index"][0]["results"]]
    assert published == ["google_analogy"] and meta["metrics"] == ["accuracy"]
    assert "| wordsim353_spearman (in-vocabulary coverage 1.7 %" in text and "0.9430" in text


def test_score_with_enough_coverage_is_published():
    results = {"wordsim353_spearman": 0.35, "wordsim353_oov_ratio": 100 - MIN_MODEL_INDEX_COVERAGE}
    metrics = metadata(card(results))["model-index"][0]["results"][0]["metrics"]
    assert metrics == [{"type": "spearmanr", "value": 0.35, "name": "Spearman correlation"}]


def test_skipped_evaluations_leave_no_model_index():
    results = {"train_loss": 1.0, **evaluate_vectors(chinese_vectors(), EvaluationArguments())}
    text = card(results)
    meta = metadata(text)
    assert "model-index" not in meta and "metrics" not in meta
    assert "model-index" not in text  # nor in the body: the metadata block is the only place it may appear
    assert "| wordsim353_skipped | no pair of" in text
    assert "$min_coverage" not in text and f"{MIN_MODEL_INDEX_COVERAGE:g} %" in text


def test_scores_without_a_coverage_or_not_finite_stay_out():
    assert "model-index" not in metadata(card({"wordsim353_spearman": 0.5}))
    assert "model-index" not in metadata(card({"wordsim353_spearman": float("nan"), "wordsim353_oov_ratio": 0.0}))


def test_bert_metrics_without_coverage_are_published():
    entries = (("eval_mlm_accuracy", "WikiText-2 validation", "wikitext", "accuracy", "MLM accuracy"),)
    text = render_model_card(
        "bert",
        model_name="m",
        dataset="wikitext-2",
        hyperparameters={},
        results={"eval_mlm_accuracy": 0.1},
        extra={},
        tags=("fill-mask",),
        task={"type": "fill-mask", "name": "MLM"},
        eval_results=entries,
    )
    meta = metadata(text)
    assert meta["model-index"][0]["results"][0]["metrics"][0]["value"] == 0.1 and meta["metrics"] == ["accuracy"]
