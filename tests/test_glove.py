import json
import math
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer

import hf_pretrain
from hf_pretrain import GloVeConfig, GloVeModel, WordVectors, glove_model_from_text
from hf_pretrain.core.arguments import parse_args
from hf_pretrain.core.publish import OutputDirError
from hf_pretrain.core.vocab import EncodedCorpus
from hf_pretrain.glove import weighting
from hf_pretrain.glove.adagrad import adagrad_step
from hf_pretrain.glove.cooccurrence import CooccurrenceBatches, build_cooccurrence
from hf_pretrain.glove.train import GloVeArguments, GloVeTrainingArguments, train_glove

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "tiny_corpus.txt"
GLOVE_TINY = REPO / "tests" / "fixtures" / "glove_tiny.txt"


def corpus_of(sentences):
    ids = np.array([i for s in sentences for i in s], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sentences])]).astype(np.int64)
    return EncodedCorpus(ids=ids, offsets=offsets, raw_words=len(ids))


def brute_force(sentences, vocab_size, window, symmetric, distance_weighting):
    counts = defaultdict(float)
    for sentence in sentences:
        for j, right in enumerate(sentence):
            for k in range(max(0, j - window), j):
                weight = 1.0 / (j - k) if distance_weighting else 1.0
                counts[sentence[k], right] += weight
                if symmetric:
                    counts[right, sentence[k]] += weight
    dense = np.zeros((vocab_size, vocab_size))
    for (a, b), value in counts.items():
        dense[a, b] = value
    return dense


# ----------------------------------------------------------------------------- co-occurrence


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("distance_weighting", [True, False])
@pytest.mark.parametrize("window", [1, 3, 50])
def test_cooccurrence_matches_brute_force(symmetric, distance_weighting, window):
    rng = np.random.default_rng(window)
    # Sentences of every length from 0 to 12, words repeated, so pairs (w, w) and duplicates occur.
    sentences = [list(rng.integers(1, 9, size=n)) for n in (5, 0, 1, 12, 2, 7, 3, 0, 9)]
    expected = brute_force(sentences, 9, window, symmetric, distance_weighting)
    for chunk_tokens in (4, 1 << 20):
        matrix = build_cooccurrence(
            corpus_of(sentences),
            9,
            window=window,
            symmetric=symmetric,
            distance_weighting=distance_weighting,
            chunk_tokens=chunk_tokens,
        )
        assert matrix.format == "csr" and matrix.dtype == np.float64 and matrix.shape == (9, 9)
        np.testing.assert_allclose(matrix.toarray(), expected, rtol=1e-12)
        assert matrix.nnz == np.count_nonzero(expected)


def test_cooccurrence_window_stops_at_sentence_end():
    matrix = build_cooccurrence(corpus_of([[1, 2], [3, 4]]), 5, window=10)
    assert matrix[2, 3] == 0 and matrix[3, 2] == 0
    assert matrix[1, 2] == 1.0 and matrix[2, 1] == 1.0


def test_cooccurrence_bad_inputs():
    corpus = corpus_of([[1, 2, 3]])
    for window in (0, -1, 2.5):
        with pytest.raises(ValueError, match="window"):
            build_cooccurrence(corpus, 4, window=window)
    with pytest.raises(ValueError, match="empty corpus"):
        build_cooccurrence(corpus_of([[], []]), 4)
    with pytest.raises(ValueError, match="no word pair"):
        build_cooccurrence(corpus_of([[1], [2]]), 4)
    with pytest.raises(ValueError, match="word ids"):
        build_cooccurrence(corpus, 3)


def test_batches_cover_every_nonzero_once_per_epoch():
    matrix = build_cooccurrence(corpus_of([[1, 2, 3, 1, 2], [3, 3, 4]]), 5, window=2)
    batches = CooccurrenceBatches(matrix, batch_size=3)
    seen = [b for b in batches.epoch(torch.Generator().manual_seed(0))]
    assert 0 < len(seen) <= len(batches) and seen[-1]["words"] == matrix.nnz
    rows = torch.cat([b["rows"] for b in seen]).numpy()
    cols = torch.cat([b["cols"] for b in seen]).numpy()
    counts = torch.cat([b["counts"] for b in seen]).numpy()
    assert len(set(zip(rows, cols))) == matrix.nnz
    np.testing.assert_allclose(counts, matrix.toarray()[rows, cols], rtol=1e-6)


# ----------------------------------------------------------------------------- model


def test_weighting_function():
    x = torch.tensor([1.0, 5.0, 10.0, 50.0])
    expected = torch.tensor([0.1**0.75, 0.5**0.75, 1.0, 1.0])
    torch.testing.assert_close(weighting(x, 10.0, 0.75), expected)
    torch.testing.assert_close(weighting(x, 100.0, 1.0), x / 100)


def tiny_model(**kwargs):
    model = GloVeModel(GloVeConfig(vocab_size=3, embedding_dim=2, x_max=4.0, alpha=0.5, **kwargs))
    with torch.no_grad():
        model.center_embeddings.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 2.0], [0.5, -1.0]]))
        model.context_embeddings.weight.copy_(torch.tensor([[0.0, 0.0], [3.0, 0.0], [1.0, 1.0]]))
        model.center_biases.weight.copy_(torch.tensor([[0.0], [0.5], [-0.5]]))
        model.context_biases.weight.copy_(torch.tensor([[0.0], [0.25], [1.0]]))
    return model


def test_loss_on_a_hand_computed_example():
    model = tiny_model()
    rows, cols, counts = torch.tensor([1, 2]), torch.tensor([2, 1]), torch.tensor([1.0, 16.0])
    out = model(rows=rows, cols=cols, counts=counts)
    # Pair (1, 2): w·c = 1 + 2 = 3, + 0.5 + 1.0 = 4.5, log 1 = 0, f(1) = (1/4)^0.5 = 0.5 -> 0.5 * 4.5² = 10.125
    # Pair (2, 1): w·c = 1.5, - 0.5 + 0.25 = 1.25, log 16, f(16) = 1 -> (1.25 - log 16)²
    expected = (10.125 + (1.25 - math.log(16)) ** 2) / 2
    assert out.loss.item() == pytest.approx(expected, rel=1e-6)
    torch.testing.assert_close(out.scores, torch.tensor([4.5, 1.25]))


def test_forward_backward_gives_gradients_for_all_four_tables():
    model = tiny_model()
    model(rows=torch.tensor([1, 2]), cols=torch.tensor([2, 1]), counts=torch.tensor([1.0, 16.0])).loss.backward()
    for table in (model.center_embeddings, model.context_embeddings, model.center_biases, model.context_biases):
        assert table.weight.grad is not None and table.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "export,expected",
    [
        ("sum", [[4.0, 2.0], [1.5, 0.0]]),
        ("center", [[1.0, 2.0], [0.5, -1.0]]),
        ("concat", [[1.0, 2.0, 3.0, 0.0], [0.5, -1.0, 1.0, 1.0]]),
    ],
)
def test_exported_vectors(export, expected):
    vectors = tiny_model(export=export).word_embeddings()
    torch.testing.assert_close(vectors[1:], torch.tensor(expected))


def test_initialisation_as_glove_c():
    model = GloVeModel(GloVeConfig(vocab_size=500, embedding_dim=20))
    for table in (model.center_embeddings, model.context_embeddings, model.center_biases, model.context_biases):
        w = table.weight
        assert w.abs().max() <= 0.5 / 20 and w.std() > 0.1 / 20
    for name in ("center_grad_sq", "context_grad_sq", "center_bias_grad_sq", "context_bias_grad_sq"):
        assert (getattr(model, name) == 1).all()


def model_state(model):
    return (
        model.center_embeddings.weight,
        model.context_embeddings.weight,
        model.center_biases.weight.view(-1),
        model.context_biases.weight.view(-1),
        model.center_grad_sq,
        model.context_grad_sq,
        model.center_bias_grad_sq.view(-1),
        model.context_bias_grad_sq.view(-1),
    )


def glove_c_updates(config, state, rows, cols, counts, lr, sequential=True):
    """glove.c's per-pair AdaGrad update in float64, pair after pair (`sequential`), or with every pair
    reading the state from before the batch. Returns (summed loss, new state)."""
    new = [t.detach().double().clone() for t in state]
    old = new if sequential else [t.clone() for t in new]
    W, C, bw, bc, GW, GC, Gbw, Gbc = old
    loss = 0.0
    for i, j, x in zip(rows.tolist(), cols.tolist(), counts.tolist()):
        diff = float(W[i] @ C[j]) + float(bw[i] + bc[j]) - math.log(x)
        fdiff = min(1.0, (x / config.x_max) ** config.alpha) * diff
        loss += fdiff * diff
        fdiff *= lr
        g_w, g_c = fdiff * C[j], fdiff * W[i]
        new[0][i] -= g_w / GW[i].sqrt()
        new[1][j] -= g_c / GC[j].sqrt()
        new[2][i] -= fdiff / Gbw[i].sqrt()
        new[3][j] -= fdiff / Gbc[j].sqrt()
        new[4][i] += g_w**2
        new[5][j] += g_c**2
        new[6][i] += fdiff**2
        new[7][j] += fdiff**2
    return loss, new


# 30 pairs: a vocabulary of 50 updates the rows touched, one of 30 updates whole tables.
@pytest.mark.parametrize("vocab_size", [50, 30])
def test_adagrad_step_equals_glove_c_when_no_word_repeats(vocab_size):
    torch.manual_seed(0)
    model = GloVeModel(GloVeConfig(vocab_size=vocab_size, embedding_dim=8, x_max=10.0))
    with torch.no_grad():  # larger than the initial values, so that every term of the update matters
        for table in (model.center_embeddings, model.context_embeddings, model.center_biases, model.context_biases):
            table.weight.normal_()
    rows, cols = torch.randperm(vocab_size)[:30], torch.randperm(vocab_size)[:30]
    counts = torch.rand(30) * 20 + 0.2
    state = model_state(model)
    # Two steps: the second starts from accumulators that are no longer 1.
    for _ in range(2):
        expected_loss, state = glove_c_updates(model.config, state, rows, cols, counts, lr=0.05)
        loss, count = adagrad_step(model, rows, cols, counts, learning_rate=0.05)
        assert loss.item() == pytest.approx(expected_loss, rel=1e-5) and count.item() == 30
        for got, want in zip(model_state(model), state):
            torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("vocab_size", [6, 20])
def test_adagrad_step_with_repeated_words_sums_the_per_pair_updates(vocab_size):
    # A word seen several times in one batch gets the sum of its per-pair updates, each computed
    # from the parameters and accumulators before the batch.
    torch.manual_seed(1)
    model = GloVeModel(GloVeConfig(vocab_size=vocab_size, embedding_dim=4, x_max=10.0))
    rows = torch.tensor([1, 1, 2, 1, 3, 2])
    cols = torch.tensor([2, 3, 2, 4, 2, 5])
    counts = torch.tensor([3.0, 1.0, 12.0, 0.5, 2.0, 7.0])
    _, expected = glove_c_updates(model.config, model_state(model), rows, cols, counts, lr=0.05, sequential=False)
    adagrad_step(model, rows, cols, counts, learning_rate=0.05)
    for got, want in zip(model_state(model), expected):
        torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-7)


def test_a_word_in_many_pairs_of_a_batch_has_its_update_capped():
    torch.manual_seed(2)
    rows = torch.tensor([1] * 40 + [2])
    cols = torch.arange(41) % 7 + 3
    counts = torch.full((41,), 4.0)
    start = GloVeModel(GloVeConfig(vocab_size=10, embedding_dim=4)).state_dict()
    updates = {}
    for limit in (0, 16):
        model = GloVeModel(GloVeConfig(vocab_size=10, embedding_dim=4, max_row_updates=limit))
        model.load_state_dict(start)
        adagrad_step(model, rows, cols, counts)
        updates[limit] = {k: v - start[k] for k, v in model.state_dict().items()}
    for name in ("center_embeddings.weight", "center_biases.weight"):
        torch.testing.assert_close(updates[16][name][1], updates[0][name][1] * 16 / 40)
        torch.testing.assert_close(updates[16][name][2], updates[0][name][2])  # one pair: untouched
    # The accumulators still add every pair's squared gradient.
    torch.testing.assert_close(updates[16]["center_grad_sq"], updates[0]["center_grad_sq"])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"x_max": 0.0}, "x_max"),
        ({"x_max": -1.0}, "x_max"),
        ({"alpha": 0}, "alpha"),
        ({"window": 0}, "window"),
        ({"embedding_dim": 0}, "embedding_dim"),
        ({"export": "mean"}, "export"),
    ],
)
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GloVeConfig(vocab_size=10, **kwargs)


def test_save_and_load_with_auto_classes_leave_out_the_accumulators(tmp_path):
    model = GloVeModel(GloVeConfig(vocab_size=7, embedding_dim=5, export="concat"))
    with torch.no_grad():
        model.center_grad_sq.fill_(3.0)
    state = model.state_dict()
    assert "center_grad_sq" in state  # checkpoints (accelerate's save_state) keep them
    model.save_pretrained(tmp_path)
    from safetensors.torch import load_file

    assert not any("grad_sq" in k for k in load_file(tmp_path / "model.safetensors"))
    assert AutoConfig.from_pretrained(tmp_path).model_type == "glove"
    loaded = AutoModel.from_pretrained(tmp_path)
    assert isinstance(loaded, GloVeModel)
    torch.testing.assert_close(loaded.word_embeddings(), model.word_embeddings())
    torch.testing.assert_close(loaded.center_biases.weight, model.center_biases.weight)
    assert (loaded.center_grad_sq == 1).all() and (loaded.context_bias_grad_sq == 1).all()


# ----------------------------------------------------------------------------- recipe


def run(tmp_path, *flags, name="model"):
    args = parse_args(
        [GloVeArguments, GloVeTrainingArguments],
        [
            "--dataset",
            str(FIXTURE),
            "--output_dir",
            str(tmp_path / name),
            "--min_count",
            "2",
            "--embedding_dim",
            "16",
            "--epochs",
            "3",
            "--batch_size",
            "2048",
            "--logging_steps",
            "5",
            "--similarity_file",
            "",
            "--analogy_file",
            "",
            *flags,
        ],
    )
    return train_glove(*args)


def test_recipe_writes_a_hub_ready_folder(tmp_path):
    results = run(tmp_path)
    out = tmp_path / "model"
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "word_counts.json",
        "all_results.json",
        "README.md",
    ):
        assert (out / name).is_file(), name
    saved = json.loads((out / "all_results.json").read_text())
    for key in ("train_loss", "train_runtime", "cooccurrence_seconds", "nonzeros", "train_pairs_per_second"):
        assert key in saved, key
    assert saved["train_loss"] == results["train_loss"] == saved["epoch_losses"][-1]
    assert saved["epoch_losses"][-1] < saved["epoch_losses"][0]
    assert saved["train_pairs"] == 3 * saved["nonzeros"]
    config = json.loads((out / "config.json").read_text())
    assert (config["model_type"], config["x_max"], config["window"]) == ("glove", 10.0, 10)
    model = AutoModel.from_pretrained(out)
    assert isinstance(model, hf_pretrain.GloVeModel)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.convert_ids_to_tokens(0) == "<unk>"
    vectors = WordVectors.from_pretrained(out)
    assert vectors.vector_size == 16 and "the" in vectors and "<unk>" not in vectors
    np.testing.assert_allclose(
        vectors["the"], model.word_embeddings()[tokenizer.convert_tokens_to_ids("the")].numpy(), rtol=1e-6
    )
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "- glove" in card and "model-index" not in card
    assert not re.search(r"\$[a-z_]+", card), "every placeholder of the card template is filled"
    assert not list(tmp_path.glob(".model.*")), "no temporary folder may be left behind"


def test_resume_from_a_checkpoint_gives_identical_weights(tmp_path):
    full = run(tmp_path, "--seed", "5", "--batch_size", "1024", "--checkpointing_steps", "epoch", name="full")
    checkpoints = sorted((tmp_path / "full" / "checkpoints").iterdir(), key=lambda p: int(p.name[5:]))
    assert len(checkpoints) == 3
    resumed = run(
        tmp_path, "--seed", "5", "--batch_size", "1024", "--resume_from_checkpoint", str(checkpoints[0]), name="resumed"
    )
    assert resumed["epoch_losses"] == full["epoch_losses"]
    a = AutoModel.from_pretrained(tmp_path / "full")
    b = AutoModel.from_pretrained(tmp_path / "resumed")
    for name, tensor in a.state_dict().items():
        torch.testing.assert_close(tensor, b.state_dict()[name], rtol=0, atol=0, msg=name)


def test_resume_mid_epoch_from_a_step_checkpoint(tmp_path):
    full = run(tmp_path, "--seed", "9", "--batch_size", "1024", name="full")
    run(tmp_path, "--seed", "9", "--batch_size", "1024", "--checkpointing_steps", "4", name="steps")
    first = sorted((tmp_path / "steps" / "checkpoints").iterdir(), key=lambda p: int(p.name[5:]))[0]
    resumed = run(
        tmp_path,
        "--seed",
        "9",
        "--batch_size",
        "1024",
        "--resume_from_checkpoint",
        str(first),
        "--overwrite_output_dir",
        "true",
        name="steps",
    )
    assert resumed["epoch_losses"] == pytest.approx(full["epoch_losses"], rel=1e-9)
    np.testing.assert_array_equal(
        WordVectors.from_pretrained(tmp_path / "full").vectors, WordVectors.from_pretrained(tmp_path / "steps").vectors
    )


@pytest.mark.parametrize(
    "flags,match",
    [
        (["--window", "0"], "window"),
        (["--x_max", "0"], "x_max"),
        (["--x_max", "-5"], "x_max"),
        (["--alpha", "0"], "alpha"),
        (["--embedding_dim", "0"], "embedding_dim"),
        (["--export", "mean"], "export"),
        (["--optimizer", "sgd"], "adagrad"),
        (["--min_count", "100000"], "removes every word"),
        (["--dataset", "/no/such/corpus.txt"], "does not exist"),
    ],
)
def test_bad_inputs_fail_clearly_without_writing(tmp_path, flags, match):
    with pytest.raises(ValueError, match=match):
        run(tmp_path, *flags)
    assert not (tmp_path / "model").exists()


def test_empty_corpus_fails_clearly_without_writing(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(ValueError, match="empty"):
        run(tmp_path, "--dataset", str(empty))
    assert not (tmp_path / "model").exists()


def test_output_dir_with_another_model_is_refused(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text(json.dumps({"model_type": "word2vec"}))
    with pytest.raises(OutputDirError, match="already holds a model"):
        run(tmp_path)


def test_shipped_config_is_the_default_recipe():
    from_yaml = parse_args(
        [GloVeArguments, GloVeTrainingArguments], [str(REPO / "recipes" / "configs" / "glove_wikitext2.yaml")]
    )
    defaults = parse_args([GloVeArguments, GloVeTrainingArguments], [])
    for a, b in zip(from_yaml, defaults):
        a, b = vars(a), vars(b)
        assert {k: v for k, v in a.items() if k != "output_dir"} == {k: v for k, v in b.items() if k != "output_dir"}


# ----------------------------------------------------------------------------- published vectors (d2l 15.7)


def test_glove_text_file_becomes_a_hub_model_with_the_same_vectors(tmp_path):
    model, vocab = glove_model_from_text(GLOVE_TINY)
    original = WordVectors.load_word2vec_format(GLOVE_TINY, no_header=True)
    assert model.config.export == "sum" and len(vocab) == len(original) + 1 and vocab.index_to_word[0] == "<unk>"
    model.save_pretrained(tmp_path)
    vocab.save(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path)
    assert isinstance(loaded, GloVeModel)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    assert tokenizer("Chip chips")["input_ids"] == [
        vocab.tokenizer.token_to_id("chip"),
        vocab.tokenizer.token_to_id("chips"),
    ]
    vectors = WordVectors.from_pretrained(tmp_path)
    assert vectors.index_to_key == original.index_to_key
    np.testing.assert_array_equal(vectors.vectors, original.vectors)
    # d2l's queries on glove.6B.50d, answered by the fixture built to mirror them.
    assert [w for w, _ in vectors.most_similar("chip", topn=3)] == ["chips", "intel", "electronics"]
    for a, b, c, answer in (
        ("man", "woman", "son", "daughter"),
        ("beijing", "china", "tokyo", "japan"),
        ("bad", "worst", "big", "biggest"),
        ("do", "did", "go", "went"),
    ):
        assert vectors.analogy(a, b, c)[0][0] == answer


def test_glove_text_file_with_its_own_unknown_token(tmp_path):
    path = tmp_path / "with_unk.txt"
    path.write_text("the 1 0\n<unk> 0.5 0.5\nCat 0 1\n")
    model, vocab = glove_model_from_text(path)
    assert vocab.unk_policy == "keep" and vocab.index_to_word == ["the", "<unk>", "Cat"]
    vectors = WordVectors.from_model(model, vocab)
    assert vectors.index_to_key == ["the", "<unk>", "Cat"]
    np.testing.assert_array_equal(vectors["<unk>"], [0.5, 0.5])
    assert vocab.tokenizer.normalizer is None  # a capitalised word: the tokenizer keeps case


# ----------------------------------------------------------------------------- the default recipe on WikiText-2


@pytest.mark.integration
def test_default_recipe_on_wikitext2_scores_as_glove_c(tmp_path, shared_data):
    """The default recipe (d100, window 10, x_max 10, 15 epochs, min_count 5, AdaGrad lr 0.05, seed 42).

    glove.c, given the same text (its `cooccur` counts the same 8,107,689 non-zeros), scored
    WordSim-353 Spearman 0.253 / 0.258 / 0.278 and Google analogy 3.36 / 3.87 / 3.61 % over three
    seeds here (`benchmarks/glove_pipeline.py --reference`); this recipe scored 0.277 / 0.277 / 0.292
    and 3.49 / 3.93 / 4.01 % over the same seeds. The floors sit below seed 42's 0.277 and 3.49 % by
    about one seed-to-seed standard deviation.
    """
    args = parse_args(
        [GloVeArguments, GloVeTrainingArguments],
        [
            "--output_dir",
            str(tmp_path / "glove"),
            "--similarity_file",
            str(shared_data / "eval" / "wordsim353_all.tsv"),
            "--analogy_file",
            str(shared_data / "eval" / "questions-words.txt"),
        ],
    )
    results = train_glove(*args)
    assert results["nonzeros"] == 8_107_689 and results["corpus_words"] == 2_051_910
    assert results["wordsim353_spearman"] >= 0.265, results
    assert results["google_analogy_accuracy"] >= 0.033, results
    card = (tmp_path / "glove" / "README.md").read_text()
    assert "model-index" in card and "wordsim353" in card
