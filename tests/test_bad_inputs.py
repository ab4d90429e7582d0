"""Bad inputs: each fails with an exception naming the problem and leaves nothing half-written.

One test (or parameter) per row of the README's "Bad inputs" table, in the same order.
"""

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from accelerate.utils import load as accelerate_load
from safetensors.numpy import load_file
from transformers import AutoModel

from hf_pretrain import WordVectors
from hf_pretrain.bert import HfpBertConfig, HfpBertForPreTraining
from hf_pretrain.core.arguments import parse_args
from hf_pretrain.core.corpus import CorpusError
from hf_pretrain.core.loop import NonFiniteLossError, TrainingArguments
from hf_pretrain.core.publish import CorruptFileError
from hf_pretrain.core.vocab import Vocabulary, VocabularyError
from hf_pretrain.fasttext import FastTextConfig, FastTextModel
from hf_pretrain.fasttext.vectors import FastTextVectors
from hf_pretrain.glove.train import GloVeArguments, GloVeTrainingArguments, train_glove
from hf_pretrain.word2vec.train import Word2VecArguments, train_word2vec

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "tiny_corpus.txt"


def run(output_dir, *flags, dataset=FIXTURE):
    args = parse_args(
        [Word2VecArguments, TrainingArguments],
        [
            "--dataset",
            str(dataset),
            "--output_dir",
            str(output_dir),
            "--min_count",
            "2",
            "--embedding_dim",
            "8",
            "--epochs",
            "1",
            "--batch_size",
            "512",
            "--logging_steps",
            "5",
            "--similarity_file",
            "",
            "--analogy_file",
            "",
            *flags,
        ],
    )
    return train_word2vec(*args)


def assert_nothing_written(output_dir):
    assert not Path(output_dir).exists() or not any(Path(output_dir).iterdir()), sorted(os.listdir(output_dir))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A word2vec folder with checkpoints after steps 2 and 4."""
    out = tmp_path_factory.mktemp("trained") / "model"
    run(out, "--max_steps", "4", "--checkpointing_steps", "2")
    return out


# ------------------------------------------------------------------------------------- corpus


@pytest.mark.parametrize(
    "content,match",
    [
        (None, r"corpus path does not exist: .*corpus\.txt"),
        (b"", r"corpus is empty \(or whitespace only\): .*corpus\.txt"),
        (b"  \n\t\n \r\n\n", r"corpus is empty \(or whitespace only\): .*corpus\.txt"),
        (
            FIXTURE.read_bytes()[:1000] + b"\xff" + FIXTURE.read_bytes()[1000:],
            r"corpus\.txt is not valid UTF-8: byte 0xff at byte offset 1000",
        ),
    ],
    ids=["missing", "empty", "whitespace", "not-utf8"],
)
def test_unusable_corpus(tmp_path, content, match):
    corpus = tmp_path / "corpus.txt"
    if content is not None:
        corpus.write_bytes(content)
    with pytest.raises(CorpusError, match=match):
        run(tmp_path / "model", dataset=corpus)
    assert_nothing_written(tmp_path / "model")


def test_one_huge_line_without_newline_trains_in_bounded_pieces(tmp_path):
    words = FIXTURE.read_text().split()
    line = " ".join(np.random.default_rng(0).choice(words, size=2_100_000))
    assert len(line) > 10 * 2**20 and "\n" not in line
    corpus = tmp_path / "one_line.txt"
    corpus.write_text(line)
    results = run(tmp_path / "model", "--max_steps", "2", dataset=corpus)
    assert results["corpus_words"] == 2_100_000 and (tmp_path / "model" / "model.safetensors").is_file()

    # Encoding goes in batches of about ENCODE_BATCH_CHARS, not the whole line, by either route.
    vocab = Vocabulary.build([line], min_count=2)
    calls = []
    split_ids, tokenizer_ids = Vocabulary._split_ids, Vocabulary._tokenizer_ids

    def recording(route):
        def record(self, lines):
            calls.append((route.__name__, sum(map(len, lines))))
            return route(self, lines)

        return record

    expected = np.array([vocab.tokenizer.token_to_id(w) for w in line.split()])
    for route in (split_ids, tokenizer_ids):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(Vocabulary, route.__name__, recording(route))
            if route is tokenizer_ids:
                patch.setattr(Vocabulary, "_split_ids", lambda self, lines: None)
            calls.clear()
            encoded = vocab.encode([line])
        sizes = [size for name, size in calls if name == route.__name__]
        assert len(sizes) >= 10 and max(sizes) < 2 * 2**20
        np.testing.assert_array_equal(encoded.ids, expected[expected != vocab.unk_id])
        assert encoded.num_sentences == 1 and encoded.raw_words == 2_100_000


# ---------------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "flags,error,match",
    [
        (
            ["--min_count", "100000"],
            VocabularyError,
            r"min_count=100000 removes every word \(the most frequent, ',', occurs 975 times\)",
        ),
        (["--window", "0"], ValueError, "window must be an integer >= 1, got 0"),
        (["--window", "-3"], ValueError, "window must be an integer >= 1, got -3"),
        (["--embedding_dim", "0"], ValueError, "embedding_dim must be an integer >= 1, got 0"),
        (["--architecture", "glove"], ValueError, r"architecture must be one of \('skipgram', 'cbow'\), got 'glove'"),
        (["--loss", "softmax"], ValueError, "loss must be one of .*, got 'softmax'"),
    ],
    ids=["min_count", "window-0", "window-negative", "embedding_dim-0", "architecture", "loss"],
)
def test_bad_settings(tmp_path, flags, error, match):
    with pytest.raises(error, match=match):
        run(tmp_path / "model", *flags)
    assert_nothing_written(tmp_path / "model")


# ------------------------------------------------------------------------------------- queries


def test_unknown_word_is_a_keyerror_naming_it_but_fasttext_answers():
    vectors = WordVectors(["apple", "apples", "banana", "cherry"], np.eye(4))
    for query in (
        lambda: vectors.most_similar("applez"),
        lambda: vectors.similarity("apple", "applez"),
        lambda: vectors.analogy("apple", "applez", "banana"),
    ):
        with pytest.raises(KeyError, match="word 'applez' not in vocabulary"):
            query()
    torch.manual_seed(0)
    vocab = Vocabulary.from_words(["<unk>", "apple", "apples", "banana", "cherry"], [0, 5, 4, 3, 2])
    subwords = FastTextVectors.from_model(
        FastTextModel(FastTextConfig(vocab_size=5, embedding_dim=8, bucket=100)), vocab
    )
    assert "applez" not in subwords
    assert len(subwords.most_similar("applez", topn=2)) == 2
    assert np.isfinite(subwords.similarity("applez", "apple"))
    assert len(subwords.analogy("apple", "applez", "banana", topn=1)) == 1


def test_analogy_with_a_repeated_word():
    vectors = WordVectors(["a", "b", "c", "d"], np.eye(4) + 0.1)
    with pytest.raises(ValueError, match="analogy needs three different words, got 'a' twice"):
        vectors.analogy("a", "b", "a")
    # gensim's spelling allows it: the query is the sum, and every input word is excluded from the answers.
    answers = [w for w, _ in vectors.most_similar(positive=["b", "a"], negative=["a"])]
    assert answers == ["c", "d"] or answers == ["d", "c"]


# ---------------------------------------------------------------------------------- files


@pytest.mark.parametrize(
    "text,no_header,match",
    [
        (
            "3 2\na 1 0\nb 0\nc 1 1\n",
            False,
            r"line 3: expected 3 columns \(word and 2 values, as the header says\), found 2",
        ),
        ("a 1 0\nb 0 1 1\n", True, r"line 2: expected 3 columns \(word and 2 values, as the first line has\), found 4"),
        ("3 2\na 1 0\nb 0 x\nc 1 1\n", False, r"line 3: bad number 'x' in column 3"),
        ("a 1 0\nb 0 1e\n", True, r"line 2: bad number '1e' in column 3"),
        ("4 2\na 1 0\nb 0 1\nc 1 1\n", False, "header says 4 words but the file ends after 3"),
        ("2 2\na 1 0\nb 0 1\nc 1 1\n", False, "header says 2 words but the file has 3"),
        (
            "a 1 0\nb 0 1\n",
            False,
            r"line 1: header must be 'num_words dim' \(two non-negative integers\), got b'a 1 0'",
        ),
    ],
    ids=["columns", "glove-columns", "float", "glove-float", "header-more", "header-fewer", "no-header"],
)
def test_malformed_vector_text_file(tmp_path, text, no_header, match):
    path = tmp_path / "vectors.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ", " + match if "line" in match else match):
        WordVectors.load_word2vec_format(path, no_header=no_header)


def test_truncated_safetensors(tmp_path, trained):
    model = tmp_path / "model"
    shutil.copytree(trained, model)
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(
        CorruptFileError, match=re.escape(str(weights)) + " is truncated or damaged: .* but the file has"
    ):
        WordVectors.from_pretrained(model)

    WordVectors.from_pretrained(trained).save(tmp_path / "saved")
    saved = tmp_path / "saved" / "vectors.safetensors"
    saved.write_bytes(saved.read_bytes()[:20])
    with pytest.raises(CorruptFileError, match=re.escape(str(saved)) + " is truncated"):
        WordVectors.load(tmp_path / "saved")

    checkpoint = model / "checkpoints" / "step_2" / "model.safetensors"
    checkpoint.write_bytes(checkpoint.read_bytes()[:-1])
    with pytest.raises(CorruptFileError, match="step_2/model.safetensors is truncated"):
        run(tmp_path / "resumed", "--max_steps", "4", "--resume_from_checkpoint", str(checkpoint.parent))
    assert_nothing_written(tmp_path / "resumed")


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("embedding_dim", "8", "embedding_dim must be an integer >= 1, got '8'"),
        ("window", 2.5, "window must be an integer >= 1, got 2.5"),
        ("vocab_size", None, "vocab_size must be an integer >= 2, got None"),
        ("architecture", 1, "architecture must be one of .*, got 1"),
        ("shrink_windows", "false", "shrink_windows must be true or false, got 'false'"),
        ("ns_exponent", "0.75", "ns_exponent must be a number, got '0.75'"),
    ],
)
def test_config_json_with_wrong_types(tmp_path, trained, key, value, match):
    model = tmp_path / "model"
    shutil.copytree(trained, model, ignore=shutil.ignore_patterns("checkpoints"))
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, key: value}))
    with pytest.raises(ValueError, match=match):
        AutoModel.from_pretrained(model)
    with pytest.raises(ValueError, match=match):
        WordVectors.from_pretrained(model)


def test_glove_config_refuses_a_string_for_a_flag():
    from hf_pretrain.glove import GloVeConfig

    with pytest.raises(ValueError, match="symmetric must be true or false, got 'false'"):
        GloVeConfig(vocab_size=10, embedding_dim=4, symmetric="false")


def test_checkpoint_of_another_family_is_refused(tmp_path):
    args = parse_args(
        [GloVeArguments, GloVeTrainingArguments],
        [
            "--dataset",
            str(FIXTURE),
            "--output_dir",
            str(tmp_path / "glove"),
            "--min_count",
            "2",
            "--embedding_dim",
            "8",
            "--epochs",
            "1",
            "--checkpointing_steps",
            "epoch",
            "--similarity_file",
            "",
            "--analogy_file",
            "",
        ],
    )
    train_glove(*args)
    checkpoint = next((tmp_path / "glove" / "checkpoints").iterdir())
    with pytest.raises(
        ValueError, match=re.escape(str(checkpoint)) + " is a 'glove' checkpoint; this recipe trains 'word2vec'"
    ):
        run(tmp_path / "model", "--resume_from_checkpoint", str(checkpoint))
    assert_nothing_written(tmp_path / "model")


def test_bert_input_longer_than_max_positions_is_refused():
    config = HfpBertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=12,
    )
    model = HfpBertForPreTraining(config).eval()
    with pytest.raises(
        ValueError, match=r"input of 13 tokens is longer than max_position_embeddings \(12\); truncate it"
    ):
        model(torch.ones(1, 13, dtype=torch.long))
    model(torch.ones(1, 12, dtype=torch.long))


# ---------------------------------------------------------------------------------- training


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, trained):
    out = tmp_path / "model"
    shutil.copytree(trained / "checkpoints", out / "checkpoints")
    # Real inputs, not a patched loss: this learning rate overflows the weights within a few steps.
    with pytest.raises(
        NonFiniteLossError,
        match=(
            r"training stopped and no model was written; lower the learning rate; the last good checkpoint is "
            + re.escape(str(out / "checkpoints" / "step_2"))
            + ": resume from it"
        ),
    ):
        run(
            out,
            "--max_steps",
            "20",
            "--learning_rate",
            "1e30",
            "--min_learning_rate",
            "1e29",
            "--checkpointing_steps",
            "2",
            "--resume_from_checkpoint",
            str(out / "checkpoints" / "step_2"),
        )
    assert sorted(os.listdir(out)) == ["checkpoints"]
    assert sorted(os.listdir(out / "checkpoints")) == ["step_2", "step_4"]
    for step in ("step_2", "step_4"):
        weights = load_file(str(out / "checkpoints" / step / "model.safetensors"))
        assert weights and all(np.isfinite(w).all() for w in weights.values())
    results = run(out, "--max_steps", "6", "--resume_from_checkpoint", str(out / "checkpoints" / "step_2"))
    assert np.isfinite(results["train_loss"]) and (out / "model.safetensors").is_file()

    # Without checkpoints the message says so; whether the loss or the weights turn first, nothing is written.
    with pytest.raises(NonFiniteLossError, match="no model was written; .*no checkpoint was saved before it"):
        run(tmp_path / "plain", "--learning_rate", "1e30", "--min_learning_rate", "1e29")
    assert_nothing_written(tmp_path / "plain")


# ---------------------------------------------------------------------------------- security


def test_checkpoints_and_folders_hold_no_pickled_code(trained):
    """Weights are safetensors and metadata JSON. accelerate writes the RNG states as a torch pickle
    (random_states_0.pkl); it must hold plain data that loads with weights_only=True, as resuming does."""
    for path in [p for p in trained.rglob("*") if p.is_file()]:
        if path.suffix in (".safetensors", ".json", ".md", ".py", ".png"):
            continue
        assert path.name.startswith("random_states_") and path.suffix == ".pkl", path
        # accelerate's loader: torch.load with weights_only=True and numpy arrays allowed, nothing else.
        state = accelerate_load(path, weights_only=True)
        assert {"random_state", "numpy_random_seed", "torch_manual_seed"} <= set(state)
    assert (trained / "model.safetensors").is_file() and (
        trained / "checkpoints" / "step_2" / "model.safetensors"
    ).is_file()
    json.loads((trained / "word_counts.json").read_text())


def test_package_never_unpickles():
    for path in (REPO / "hf_pretrain").rglob("*.py"):
        source = path.read_text()
        assert "import pickle" not in source and "allow_pickle=True" not in source, path
        for call in re.findall(r"torch\.load\([^)]*\)", source):
            assert "weights_only=True" in call, (path, call)
        code = [line for line in source.splitlines() if not line.lstrip().startswith("#")]
        assert not any("trust_remote_code=True" in line for line in code), path
