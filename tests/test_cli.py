"""The `hf-pretrain` command on tiny models trained here: every subcommand runs once in a subprocess, as a
user runs it; bad inputs and help texts run in-process through `main`, which is the same code."""

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tomllib

from hf_pretrain import WordVectors
from hf_pretrain.bert.train import BertArguments, BertTrainingArguments, pretrain_bert
from hf_pretrain.cli import main
from hf_pretrain.core.arguments import parse_args
from hf_pretrain.core.loop import TrainingArguments
from hf_pretrain.word2vec.train import Word2VecArguments, train_word2vec

# Each test starts recipe or command processes: `pytest -m "not slow"` leaves them out.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
CORPUS = FIXTURES / "tiny_corpus.txt"
SUBCOMMANDS = ("similar", "analogy", "evaluate", "export", "encode", "fill-mask")


@pytest.fixture(scope="module")
def word2vec_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "word2vec"
    train_word2vec(
        *parse_args(
            [Word2VecArguments, TrainingArguments],
            [
                "--dataset",
                str(CORPUS),
                "--output_dir",
                str(out),
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
            ],
        )
    )
    return out


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "bert"
    pretrain_bert(
        *parse_args(
            [BertArguments, BertTrainingArguments],
            [
                "--dataset",
                str(CORPUS),
                "--min_frequency",
                "2",
                "--max_len",
                "32",
                "--batch_size",
                "32",
                "--epochs",
                "1",
                "--max_steps",
                "5",
                "--logging_steps",
                "5",
                "--eval_batches",
                "0",
                "--output_dir",
                str(out),
            ],
        )
    )
    return out


@pytest.fixture(scope="module")
def runs(word2vec_dir, bert_dir):
    """Each subcommand run once as a separate process, a few at a time: starting Python with torch and
    transformers is most of the cost of a call."""
    out = word2vec_dir.parent
    commands = {
        "similar": ["similar", str(word2vec_dir), "the", "-n", "3"],
        "analogy": ["analogy", str(word2vec_dir), "the", "of", "a", "-n", "4"],
        "evaluate": [
            "evaluate",
            str(word2vec_dir),
            "--similarity",
            str(FIXTURES / "word_pairs.tsv"),
            "--analogy",
            str(FIXTURES / "analogies.txt"),
            "--output",
            str(out / "results.json"),
        ],
        "export": ["export", str(word2vec_dir), str(out / "exported" / "vectors.vec"), "--format", "fasttext-vec"],
        "encode": [
            "encode",
            str(bert_dir),
            "the european lobster",
            "it is big",
            "--output",
            str(out / "encoding.json"),
        ],
        "fill-mask": ["fill-mask", str(bert_dir), "the [MASK] lobster", "-n", "3"],
    }
    # One thread each: several torch processes share the cores, and tiny models gain nothing from more.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }

    def call(argv):
        return subprocess.run(
            [sys.executable, "-m", "hf_pretrain.cli", *argv], capture_output=True, text=True, env=env, timeout=180
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip(commands, pool.map(call, commands.values())))
    return results, out


def check_ok(result):
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def ranked_lines(stdout: str) -> list[tuple[str, float]]:
    rows = [line.split() for line in stdout.splitlines() if line[:3].strip().isdigit()]
    return [(word, float(score)) for _, word, score in rows]


def test_console_script_is_declared():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["hf-pretrain"] == "hf_pretrain.cli:main"


def test_similar(runs, word2vec_dir):
    stdout = check_ok(runs[0]["similar"])
    assert "nearest to 'the'" in stdout
    expected = WordVectors.from_pretrained(word2vec_dir).most_similar("the", topn=3)
    assert [word for word, _ in ranked_lines(stdout)] == [word for word, _ in expected]
    assert [score for _, score in ranked_lines(stdout)] == pytest.approx([s for _, s in expected], abs=1e-4)


def test_analogy(runs, word2vec_dir):
    stdout = check_ok(runs[0]["analogy"])
    assert "the : of :: a : ?" in stdout
    expected = WordVectors.from_pretrained(word2vec_dir).analogy("the", "of", "a", topn=4)
    assert [word for word, _ in ranked_lines(stdout)] == [word for word, _ in expected]


def test_evaluate(runs):
    stdout = check_ok(runs[0]["evaluate"])
    assert "word_pairs.tsv" in stdout and "analogies.txt" in stdout and "Spearman" in stdout
    saved = json.loads((runs[1] / "results.json").read_text())
    assert saved["dim"] == 16 and len(saved["similarity"]) == 1 and len(saved["analogy"]) == 1


def test_export(runs, word2vec_dir):
    stdout = check_ok(runs[0]["export"])
    path = runs[1] / "exported" / "vectors.vec"
    assert f"to {path} (fasttext-vec)" in stdout
    original = WordVectors.from_pretrained(word2vec_dir)
    assert path.read_text().split("\n", 1)[0] == f"{len(original)} 16"
    exported = WordVectors.load_word2vec_format(path)
    assert exported.index_to_key == original.index_to_key
    np.testing.assert_array_equal(exported.vectors, original.vectors)


def test_encode(runs):
    stdout = check_ok(runs[0]["encode"])
    assert "tokens (" in stdout and "<cls> the european lobster <sep> it is" in stdout
    assert "[CLS] vector: 128 dimensions, norm" in stdout and "first 8:" in stdout
    saved = json.loads((runs[1] / "encoding.json").read_text())
    assert saved["tokens"][0] == "<cls>" and saved["text_pair"] == "it is big"
    assert len(saved["cls"]) == 128 and len(saved["last_hidden_state"]) == len(saved["tokens"])
    assert saved["cls_norm"] == pytest.approx(float(np.linalg.norm(saved["cls"])), rel=1e-5)
    assert f"norm {saved['cls_norm']:.4f}" in stdout


def test_fill_mask_translates_mask_and_uses_the_pipeline(runs):
    lines = check_ok(runs[0]["fill-mask"]).splitlines()
    assert len(lines) == 3
    scores = [float(line.split()[0]) for line in lines]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
    for line in lines:
        score, token, *sequence = line.split()
        assert sequence == ["the", token, "lobster"]  # [MASK] became the tokenizer's <mask>, then the answer


# ------------------------------------------------------------------------------- in-process: same code


def call_main(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


def test_fill_mask_without_the_transformers_export_scores_with_the_model(tmp_path, bert_dir, capsys):
    code, with_pipeline, _ = call_main(capsys, "fill-mask", bert_dir, "the <mask> lobster of the [MASK]", "-n", "2")
    assert code == 0 and with_pipeline.count("mask ") == 2  # two masks, two lists
    alone = tmp_path / "bert"
    shutil.copytree(bert_dir, alone, ignore=shutil.ignore_patterns("transformers"))
    code, with_model, _ = call_main(capsys, "fill-mask", alone, "the <mask> lobster of the [MASK]", "-n", "2")
    assert code == 0
    # Same tokens in the same order; scores agree to the printed digits but for rounding.
    parse = lambda out: [line.split() for line in out.splitlines() if not line.startswith("mask ")]  # noqa: E731
    assert [row[1:] for row in parse(with_model)] == [row[1:] for row in parse(with_pipeline)]
    assert [float(r[0]) for r in parse(with_model)] == pytest.approx(
        [float(r[0]) for r in parse(with_pipeline)], abs=2e-4
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["similar", "{w2v}", "lobsterz"], "word 'lobsterz' is not in the vocabulary"),
        (["similar", "{missing}", "the"], "model folder not found"),
        (["analogy", "{w2v}", "the", "of", "zzzz"], "word 'zzzz' is not in the vocabulary"),
        (["analogy", "{bert}", "the", "of", "a"], "is a BERT model; 'analogy' needs word vectors"),
        (["evaluate", "{w2v}", "--similarity", "{missing}"], "file not found"),
        (["evaluate", "{bert}"], "is a BERT model; 'evaluate' needs word vectors"),
        (["export", "{bert}", "{tmp}/v.txt"], "is a BERT model; 'export' needs word vectors"),
        (["export", "{w2v}", "{tmp}", "--format", "glove"], "is a folder; give the path of the file to write"),
        (["encode", "{w2v}", "some text"], "holds a word2vec model; 'encode' needs a BERT model"),
        (["encode", "{bert}", "the " * 1000], "longer"),
        (["fill-mask", "{bert}", "no mask here"], "no mask in 'no mask here': write [MASK] (or <mask>)"),
        (["fill-mask", "{w2v}", "the [MASK]"], "'fill-mask' needs a BERT model"),
    ],
)
def test_bad_inputs_print_one_line_and_exit_1(tmp_path, capsys, word2vec_dir, bert_dir, argv, message):
    names = {"w2v": word2vec_dir, "bert": bert_dir, "missing": tmp_path / "missing", "tmp": tmp_path}
    code, out, err = call_main(capsys, *[arg.format(**names) for arg in argv])
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and f"hf-pretrain {argv[0]}: error:" in err
    assert message in err


def test_unknown_word_is_one_line_with_a_hint(word2vec_dir, capsys):
    code, out, err = call_main(capsys, "similar", word2vec_dir, "THE")
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"hf-pretrain similar: error: word 'THE' is not in the vocabulary of {word2vec_dir} "
        f"({len(WordVectors.from_pretrained(word2vec_dir))} words) (did you mean 'the'?)"
    ]


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["similar", "m"],
        ["similar", "m", "w", "-n", "0"],
        ["analogy", "m", "a", "b"],
        ["export", "m", "o", "--format", "csv"],
        ["encode", "m"],
        ["fill-mask", "m", "t", "-n", "x"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage: hf-pretrain" in capsys.readouterr().err


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_help_of_every_subcommand_has_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert (
        f"usage: hf-pretrain {command}" in out
        and "examples:" in out
        and f"hf-pretrain {command} " in out.split("examples:")[1]
    )


@pytest.mark.parametrize("fmt, header", [("word2vec", True), ("glove", False)])
def test_export_formats_read_back(tmp_path, word2vec_dir, capsys, fmt, header):
    code, out, _ = call_main(capsys, "export", word2vec_dir, tmp_path / "v.txt", "--format", fmt)
    assert code == 0 and f"({fmt})" in out
    exported = WordVectors.load_word2vec_format(tmp_path / "v.txt", no_header=not header)
    np.testing.assert_array_equal(exported.vectors, WordVectors.from_pretrained(word2vec_dir).vectors)
