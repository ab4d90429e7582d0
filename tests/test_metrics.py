"""The packaged `evaluate` metrics (word similarity, word analogy) and the evaluation command line."""

import fnmatch
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib
from scipy import stats

from hf_pretrain import WordVectors
from hf_pretrain.evaluate import main as evaluate_main
from hf_pretrain.metrics import METRICS_DIR, WORD_ANALOGY, WORD_SIMILARITY, load_metric, metric_path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1"}


def similarity_fixture():
    """Columns of similarity_scores.tsv: human score, model score (nan where unknown), oov flag."""
    rows = [
        line.split("\t")
        for line in (FIXTURES / "similarity_scores.tsv").read_text().splitlines()
        if not line.startswith("#")
    ]
    human = np.array([float(r[2]) for r in rows])
    model = np.array([float(r[3]) for r in rows])
    oov = np.array([r[4] == "1" for r in rows])
    return human, model, oov


def analogy_fixture():
    """Columns of analogy_answers.tsv: section, expected answer, predicted answer ("" for '-'), oov flag."""
    rows = [
        line.split("\t")
        for line in (FIXTURES / "analogy_answers.tsv").read_text().splitlines()
        if not line.startswith("#")
    ]
    return (
        [r[0] for r in rows],
        [r[4] for r in rows],
        ["" if r[5] == "-" else r[5] for r in rows],
        [r[6] == "1" for r in rows],
    )


def subprocess_env(**extra):
    env = dict(os.environ, **OFFLINE, **extra)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


# ---------------------------------------------------------------------------- loading


# Run in a fresh process so that the offline switches are read when `evaluate` is imported, with an
# empty cache so that nothing loaded before can stand in for the packaged folders. The command-line
# module is imported first: `import evaluate` must still give the library.
OFFLINE_SCRIPT = """
import json, sys
import hf_pretrain.evaluate
import evaluate
import numpy as np

assert not evaluate.__file__.startswith(sys.argv[1]), evaluate.__file__
human, model, oov, sections, expected, predicted, flags = json.loads(sys.stdin.read())
similarity = evaluate.load(sys.argv[2])
analogy = evaluate.load(sys.argv[3])
print(json.dumps({
    "module": evaluate.__name__,
    "names": [similarity.name, analogy.name],
    "similarity": similarity.compute(predictions=model, references=human, oov=oov),
    "analogy": analogy.compute(predictions=predicted, references=expected, sections=sections, oov=flags),
}))
"""


def test_metrics_load_offline_from_their_folders(tmp_path):
    human, model, oov = similarity_fixture()
    sections, expected, predicted, flags = analogy_fixture()
    payload = json.dumps(
        [
            human.tolist(),
            [None if np.isnan(m) else m for m in model],
            oov.tolist(),
            sections,
            expected,
            predicted,
            flags,
        ]
    )
    done = subprocess.run(
        [sys.executable, "-c", OFFLINE_SCRIPT, str(REPO / "hf_pretrain"), WORD_SIMILARITY, WORD_ANALOGY],
        input=payload,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env=subprocess_env(HF_HOME=str(tmp_path / "hf_home")),
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["module"] == "evaluate" and out["names"] == ["word_similarity", "word_analogy"]
    keep = ~oov
    assert out["similarity"]["spearman"] == pytest.approx(stats.spearmanr(human[keep], model[keep])[0], abs=1e-12)
    assert out["similarity"]["pearson"] == pytest.approx(stats.pearsonr(human[keep], model[keep])[0], abs=1e-12)
    assert out["analogy"]["correct"] == 6 and out["analogy"]["total"] == 9
    # The module was copied into the fresh cache, not found in the user's.
    assert list((tmp_path / "hf_home").rglob("word_similarity.py"))


def test_packaged_paths_and_loader():
    assert Path(WORD_SIMILARITY, "word_similarity.py").is_file() and Path(WORD_SIMILARITY, "README.md").is_file()
    assert Path(WORD_ANALOGY, "word_analogy.py").is_file() and Path(WORD_ANALOGY, "README.md").is_file()
    assert metric_path("word_analogy") == WORD_ANALOGY
    with pytest.raises(ValueError, match="unknown metric 'bleu'"):
        metric_path("bleu")
    assert load_metric("word_similarity") is load_metric("word_similarity")  # loaded once
    assert load_metric("word_analogy").name == "word_analogy"


def test_metric_folders_are_package_data():
    """Every file of the metric folders matches a package-data pattern, so the wheel carries them."""
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["hf_pretrain"]
    files = [
        p.relative_to(REPO / "hf_pretrain").as_posix()
        for p in METRICS_DIR.glob("*/*")
        if p.is_file() and p.suffix in (".py", ".md")
    ]
    assert len(files) == 4
    for name in files:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name


# ---------------------------------------------------------------------------- word similarity


def test_word_similarity_agrees_with_scipy():
    human, model, oov = similarity_fixture()
    metric = load_metric("word_similarity")
    keep = ~oov

    skipped = metric.compute(predictions=model, references=human, oov=oov)
    assert skipped["spearman"] == pytest.approx(stats.spearmanr(human[keep], model[keep])[0], abs=1e-12)
    assert skipped["spearman_pvalue"] == pytest.approx(stats.spearmanr(human[keep], model[keep])[1], abs=1e-12)
    assert skipped["pearson"] == pytest.approx(stats.pearsonr(human[keep], model[keep])[0], abs=1e-12)
    assert skipped["pearson_pvalue"] == pytest.approx(stats.pearsonr(human[keep], model[keep])[1], abs=1e-12)
    assert (skipped["pairs"], skipped["oov_pairs"]) == (16, 3)
    assert skipped["oov_ratio"] == pytest.approx(3 / 19 * 100)

    zeroed = metric.compute(predictions=model, references=human, oov=oov, oov_handling="zero")
    as_zero = np.where(oov, 0.0, model)
    assert zeroed["spearman"] == pytest.approx(stats.spearmanr(human, as_zero)[0], abs=1e-12)
    assert zeroed["pearson"] == pytest.approx(stats.pearsonr(human, as_zero)[0], abs=1e-12)
    assert zeroed["pairs"] == 19

    # "keep" uses the predictions of flagged pairs that have one (quasar-galaxy) and drops the others.
    kept = metric.compute(predictions=model, references=human, oov=oov, oov_handling="keep")
    has_score = ~np.isnan(model)
    assert kept["spearman"] == pytest.approx(stats.spearmanr(human[has_score], model[has_score])[0], abs=1e-12)
    assert (kept["pairs"], kept["oov_pairs"]) == (17, 3)

    plain = metric.compute(predictions=model[keep], references=human[keep])
    assert plain["spearman"] == skipped["spearman"] and plain["oov_ratio"] == 0.0


def test_word_similarity_errors():
    metric = load_metric("word_similarity")
    with pytest.raises(ValueError, match="oov_handling"):
        metric.compute(predictions=[0.1, 0.2], references=[1.0, 2.0], oov_handling="drop")
    with pytest.raises(ValueError, match="2 pairs but 3 oov flags"):
        metric.compute(predictions=[0.1, 0.2], references=[1.0, 2.0], oov=[False, False, True])
    with pytest.raises(ValueError, match="no pairs left"):
        metric.compute(predictions=[0.1, 0.2], references=[1.0, 2.0], oov=[True, True])
    with pytest.raises(ValueError, match="at least 2 pairs, got 1"):
        metric.compute(predictions=[0.1, 0.2], references=[1.0, 2.0], oov=[False, True])
    with pytest.raises(ValueError, match="NaN"):
        metric.compute(predictions=[0.1, float("nan"), 0.3], references=[1.0, 2.0, 3.0])


# ---------------------------------------------------------------------------- word analogy


def test_word_analogy_counts_by_hand():
    sections, expected, predicted, flags = analogy_fixture()
    metric = load_metric("word_analogy")
    result = metric.compute(predictions=predicted, references=expected, sections=sections, oov=flags)
    # capitals: France right, italy right (case folded), Sweden wrong, one unknown question skipped;
    # family: queen right, no answer wrong, one skipped; plurals: dogs, cats, PIGS right, mouses wrong.
    assert [(s["section"], s["correct"], s["incorrect"]) for s in result["sections"]] == [
        ("capitals", 2, 1),
        ("family", 1, 1),
        ("plurals", 3, 1),
        ("Total accuracy", 6, 3),
    ]
    assert [s["accuracy"] for s in result["sections"]] == pytest.approx([2 / 3, 1 / 2, 3 / 4, 6 / 9])
    assert (result["accuracy"], result["correct"], result["total"]) == (pytest.approx(6 / 9), 6, 9)
    assert (result["questions"], result["oov_questions"]) == (11, 2)
    assert result["oov_ratio"] == pytest.approx(2 / 11 * 100)

    strict = metric.compute(
        predictions=predicted,
        references=expected,
        sections=sections,
        oov=flags,
        oov_handling="incorrect",
        case_insensitive=False,
        section_names=["family", "empty", "capitals", "plurals"],
    )
    # Case-sensitively italy and PIGS are wrong; the unknown questions count as wrong; the section
    # without questions is listed where section_names puts it.
    assert [(s["section"], s["correct"], s["incorrect"]) for s in strict["sections"]] == [
        ("family", 1, 2),
        ("empty", 0, 0),
        ("capitals", 1, 3),
        ("plurals", 2, 2),
        ("Total accuracy", 4, 7),
    ]
    assert strict["sections"][1]["accuracy"] == 0.0 and strict["total"] == 11

    unlabelled = metric.compute(predictions=["a", "b"], references=["a", "c"])
    assert [(s["section"], s["correct"], s["incorrect"]) for s in unlabelled["sections"]] == [
        ("all", 1, 1),
        ("Total accuracy", 1, 1),
    ]


def test_word_analogy_errors():
    metric = load_metric("word_analogy")
    with pytest.raises(ValueError, match="oov_handling"):
        metric.compute(predictions=["a"], references=["a"], oov_handling="zero")
    with pytest.raises(ValueError, match="1 questions but 2 sections"):
        metric.compute(predictions=["a"], references=["a"], sections=["x", "y"])
    with pytest.raises(ValueError, match=r"sections \['y'\] are not in section_names"):
        metric.compute(predictions=["a", "b"], references=["a", "b"], sections=["x", "y"], section_names=["x"])


# ---------------------------------------------------------------------------- WordVectors through the metrics


def test_word_vectors_evaluation_goes_through_the_metrics(tmp_path):
    rng = np.random.default_rng(0)
    words = ["city", "county", "January", "June", "July", "December", "west", "north", "east", "south"]
    wv = WordVectors(words, rng.normal(size=(len(words), 6)).astype(np.float32))
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("city\tcounty\t7.5\nJanuary\tJune\t8\nwest\tnorth\t8.2\ncity\tjune\t2\nwest\tzeppelin\t3\n")
    ours = wv.evaluate_word_pairs(pairs)
    gold, model = (
        [7.5, 8.0, 8.2, 2.0],
        [
            wv.similarity(a, b)
            for a, b in [("city", "county"), ("January", "June"), ("west", "north"), ("city", "June")]
        ],
    )
    assert ours["spearman"] == pytest.approx(stats.spearmanr(gold, model)[0], abs=1e-7)
    assert ours["pearson"] == pytest.approx(stats.pearsonr(gold, model)[0], abs=1e-6)
    assert (ours["pairs"], ours["oov_pairs"], ours["oov_ratio"]) == (4, 1, 20.0)
    assert set(ours) == {"pearson", "pearson_pvalue", "spearman", "spearman_pvalue", "oov_ratio", "pairs", "oov_pairs"}
    spaced = tmp_path / "pairs.txt"
    spaced.write_text(pairs.read_text().replace("\t", " "))
    assert wv.evaluate_word_pairs(spaced, delimiter=None) == ours

    analogies = tmp_path / "analogies.txt"
    analogies.write_text(
        ": months\nJanuary June July December\njanuary june july zeppelin\n: empty\n: directions\nwest north east south\n"
    )
    result = wv.evaluate_word_analogies(analogies)
    assert [s["section"] for s in result["sections"]] == ["months", "empty", "directions", "Total accuracy"]
    answered = [wv.analogy(a, b, c)[0][0] for a, b, c in [("January", "June", "July"), ("west", "north", "east")]]
    right = [answered[0] == "December", answered[1] == "south"]
    assert result["correct"] == sum(right) and result["total"] == 2
    assert (result["questions"], result["oov_questions"]) == (3, 1)


# ---------------------------------------------------------------------------- command line


@pytest.fixture(scope="module")
def word2vec_dir(tmp_path_factory):
    """A word2vec model trained for one epoch on the tiny corpus and saved by the recipe."""
    from hf_pretrain.core.arguments import parse_args
    from hf_pretrain.core.loop import TrainingArguments
    from hf_pretrain.word2vec.train import Word2VecArguments, train_word2vec

    out = tmp_path_factory.mktemp("cli") / "word2vec"
    args = parse_args(
        [Word2VecArguments, TrainingArguments],
        [
            "--dataset",
            str(FIXTURES / "tiny_corpus.txt"),
            "--output_dir",
            str(out),
            "--min_count",
            "2",
            "--embedding_dim",
            "16",
            "--epochs",
            "1",
            "--batch_size",
            "256",
            "--seed",
            "0",
            "--similarity_file",
            "",
            "--analogy_file",
            "",
        ],
    )
    train_word2vec(*args)
    return out


def test_cli_prints_a_table_and_writes_json(word2vec_dir, tmp_path):
    spaced = tmp_path / "word_pairs_spaces.txt"
    spaced.write_text((FIXTURES / "word_pairs.tsv").read_text().replace("\t", " "))
    output = tmp_path / "results" / "eval.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hf_pretrain.evaluate",
            str(word2vec_dir),
            "--similarity",
            str(FIXTURES / "word_pairs.tsv"),
            str(spaced),
            "--analogy",
            str(FIXTURES / "analogies.txt"),
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env=subprocess_env(),
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("file"))
    for column in ("pairs/questions", "OOV %", "Spearman", "Pearson", "accuracy"):
        assert column in header
    assert sum("similarity" in line for line in lines) == 2 and sum(" analogy " in line for line in lines) == 1

    results = json.loads(output.read_text())
    vectors = WordVectors.from_pretrained(word2vec_dir)
    expected = vectors.evaluate_word_pairs(FIXTURES / "word_pairs.tsv")
    tab, space = results["similarity"]
    assert (tab["delimiter"], space["delimiter"]) == ("tab", "whitespace")
    for row in (tab, space):
        assert row["lines"] == 13 and row["oov_pairs"] == 1 and row["pairs"] == 12
        for key in ("spearman", "pearson", "oov_ratio"):
            assert row[key] == pytest.approx(expected[key], abs=1e-12)
        assert f"{row['spearman']:.4f}" in done.stdout
    analogy = results["analogy"][0]
    direct = vectors.evaluate_word_analogies(FIXTURES / "analogies.txt")
    assert analogy["sections"] == direct["sections"] and analogy["questions"] == 7
    assert results["words"] == len(vectors) and results["dim"] == 16


def test_cli_defaults_to_the_packaged_sets(word2vec_dir, capsys):
    assert evaluate_main([str(word2vec_dir)]) == 0
    out = capsys.readouterr().out
    assert "wordsim353_all.tsv" in out and "questions-words.txt" in out
    assert "  353  " in out and "19544" in out


def test_cli_bad_input_exits_nonzero_without_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "hf_pretrain.evaluate", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env=subprocess_env(),
    )
    assert done.returncode == 1
    assert "model folder not found" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda d, t: [str(t)], "holds neither a saved model"),
        (lambda d, t: [str(d), "--similarity", str(t / "nowhere.tsv")], "file not found"),
        (lambda d, t: [str(d), "--similarity", str(t / "junk.tsv")], "no word pair lines"),
        (lambda d, t: [str(d), "--similarity", str(t / "binary.tsv")], "not a UTF-8 text file"),
        (lambda d, t: [str(d), "--analogy", str(t / "junk.tsv")], "no analogy questions"),
        (lambda d, t: [str(d), "--analogy", str(t / "headless.txt")], "line 1: a question before any ': section'"),
        (lambda d, t: [str(d), "--restrict_vocab", "0"], "--restrict_vocab must be a positive"),
        (lambda d, t: [str(d), "--similarity", str(t / "one_pair.tsv")], "at least 2 pairs, got 1"),
    ],
)
def test_cli_user_errors(word2vec_dir, tmp_path, capsys, make_args, message):
    (tmp_path / "junk.tsv").write_text("# nothing here\nonly two\n\n")
    (tmp_path / "binary.tsv").write_bytes(b"\xff\xfe\x00abc\n")
    (tmp_path / "headless.txt").write_text("a b c d\n: section\n")
    (tmp_path / "one_pair.tsv").write_text("city\tcounty\t7.5\nzeppelin\tcity\t2\n")
    assert evaluate_main(make_args(word2vec_dir, tmp_path)) == 1
    assert message in capsys.readouterr().err


def test_cli_all_pairs_unknown_is_reported_not_fatal(word2vec_dir, tmp_path, capsys):
    pairs = tmp_path / "unknown.tsv"
    pairs.write_text("zeppelin\tquasar\t5\n")
    output = tmp_path / "r.json"
    assert evaluate_main([str(word2vec_dir), "--similarity", str(pairs), "--output", str(output)]) == 0
    assert "n/a" in capsys.readouterr().out
    row = json.loads(output.read_text())["similarity"][0]
    assert row["spearman"] is None and row["oov_ratio"] == 100.0 and row["pairs"] == 0
