import json

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModel

import hf_pretrain  # noqa: F401  (registers the model types)
from hf_pretrain import Word2VecConfig, Word2VecModel
from hf_pretrain.word2vec import masked_bce
from hf_pretrain.word2vec.sgd import sgd_step


def test_masked_bce_matches_the_book():
    pred = torch.tensor([[1.1, -2.2, 3.3, -4.4]] * 2)
    label = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    torch.testing.assert_close(masked_bce(pred, label, mask), torch.tensor([0.9352, 1.8462]), atol=1e-4, rtol=0)


def test_config_validation():
    with pytest.raises(ValueError, match="architecture"):
        Word2VecConfig(vocab_size=10, architecture="glove")
    with pytest.raises(ValueError, match="loss"):
        Word2VecConfig(vocab_size=10, loss="softmax")
    with pytest.raises(ValueError, match="embedding_dim"):
        Word2VecConfig(vocab_size=10, embedding_dim=0)
    with pytest.raises(ValueError, match="window"):
        Word2VecConfig(vocab_size=10, window=-1)
    with pytest.raises(ValueError, match="num_negatives"):
        Word2VecConfig(vocab_size=10, num_negatives=0)
    assert Word2VecConfig(vocab_size=10, loss="hierarchical_softmax").num_output_vectors == 9


def test_initialisation():
    model = Word2VecModel(Word2VecConfig(vocab_size=50, embedding_dim=8))
    assert model.input_embeddings.weight.abs().max() <= 0.5 / 8
    assert model.output_embeddings.weight.abs().max() == 0
    xavier = Word2VecModel(Word2VecConfig(vocab_size=500, embedding_dim=8, initializer="xavier_uniform"))
    bound = (6 / (500 + 8)) ** 0.5
    for table in (xavier.input_embeddings, xavier.output_embeddings):
        assert table.weight.abs().max() <= bound
        assert float(table.weight.detach().std()) == pytest.approx(bound / 3**0.5, rel=0.05)


def test_forward_skipgram_loss_and_logits():
    torch.manual_seed(0)
    model = Word2VecModel(Word2VecConfig(vocab_size=20, embedding_dim=4, initializer="xavier_uniform"))
    centers = torch.tensor([[1], [2]])
    targets = torch.tensor([[3, 4, 5], [6, 7, 0]])
    labels = torch.tensor([[1.0, 0, 0], [1.0, 0, 0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    out = model(input_ids=centers, target_ids=targets, labels=labels, target_mask=mask)
    expected_logits = torch.einsum(
        "bd,btd->bt", model.input_embeddings.weight[centers[:, 0]], model.output_embeddings.weight[targets]
    )
    torch.testing.assert_close(out.logits, expected_logits)
    torch.testing.assert_close(out.loss, masked_bce(expected_logits, labels, mask).mean())
    out.loss.backward()
    assert model.input_embeddings.weight.grad[1].abs().sum() > 0


def _pairs_loss(model, batch, combiner=None):
    """Reference: the same objective written pair by pair with autograd."""
    syn0 = model.input_embeddings.weight
    syn1 = model.output_embeddings.weight
    m, span = batch["window_mask"].shape
    total = 0.0
    for i in range(m):
        ctx = [batch["tokens"][i + o] for o in range(span) if batch["window_mask"][i, o]]
        if not ctx:
            continue
        if combiner is None:
            inputs = [syn0[c] for c in ctx]
        else:
            h = torch.stack([syn0[c] for c in ctx]).sum(0)
            inputs = [h / len(ctx) if combiner == "mean" else h]
        for x in inputs:
            for t in range(batch["targets"].shape[1]):
                if batch["target_mask"][i, t]:
                    logit = x @ syn1[batch["targets"][i, t]]
                    total = total + F.binary_cross_entropy_with_logits(logit, batch["labels"][i, t])
    return total


def _toy_batch():
    g = torch.Generator().manual_seed(3)
    m, W, T = 5, 2, 3
    mask = torch.rand(m, 2 * W + 1, generator=g) < 0.7
    mask[:, W] = False
    return {
        "tokens": torch.randint(0, 12, (m + 2 * W,), generator=g),
        "window_mask": mask,
        "targets": torch.randint(0, 12, (m, T), generator=g),
        "labels": torch.tensor([[1.0, 0.0, 0.0]] * m),
        "target_mask": torch.rand(m, T, generator=g) < 0.9,
    }


@pytest.mark.parametrize(
    "architecture,combiner,loss_name",
    [
        ("skipgram", None, "negative_sampling"),
        ("cbow", "sum", "negative_sampling"),
        ("cbow", "mean", "negative_sampling"),
        ("skipgram", None, "hierarchical_softmax"),
        ("cbow", "sum", "hierarchical_softmax"),
        ("cbow", "mean", "hierarchical_softmax"),
    ],
)
def test_sgd_step_equals_autograd_step(architecture, combiner, loss_name):
    torch.manual_seed(0)
    config = Word2VecConfig(
        vocab_size=12,
        embedding_dim=6,
        architecture=architecture,
        cbow_combiner=combiner or "mean",
        loss=loss_name,
        initializer="xavier_uniform",
    )
    model = Word2VecModel(config)
    batch = _toy_batch()
    # Hierarchical softmax scores inner nodes: one row fewer than words (CBOW HS takes its own route).
    batch["targets"] = batch["targets"].clamp(max=config.num_output_vectors - 1)
    reference = Word2VecModel(config)
    reference.load_state_dict(model.state_dict())
    loss = _pairs_loss(reference, batch, combiner)
    loss.backward()
    lr = 0.1
    got_loss, count = sgd_step(model, **batch, learning_rate=lr)
    torch.testing.assert_close(got_loss, loss.detach(), rtol=1e-5, atol=1e-5)
    syn0_grad = reference.input_embeddings.weight.grad.clone()
    if combiner == "mean":
        # word2vec.c adds the hidden error to each context unscaled: the true gradient times the
        # number of contexts of that centre. Check against that convention.
        syn0_grad = torch.zeros_like(syn0_grad)
        m, span = batch["window_mask"].shape
        syn1 = reference.output_embeddings.weight.detach()
        syn0 = reference.input_embeddings.weight.detach()
        for i in range(m):
            ctx = [int(batch["tokens"][i + o]) for o in range(span) if batch["window_mask"][i, o]]
            if not ctx:
                continue
            h = syn0[ctx].mean(0)
            for t in range(batch["targets"].shape[1]):
                if batch["target_mask"][i, t]:
                    y = syn1[batch["targets"][i, t]]
                    err = torch.sigmoid(h @ y) - batch["labels"][i, t]
                    for c in ctx:
                        syn0_grad[c] += err * y
    torch.testing.assert_close(model.input_embeddings.weight, reference.input_embeddings.weight - lr * syn0_grad)
    torch.testing.assert_close(
        model.output_embeddings.weight,
        reference.output_embeddings.weight - lr * reference.output_embeddings.weight.grad,
    )


def test_save_load_round_trip_with_automodel(tmp_path):
    model = Word2VecModel(Word2VecConfig(vocab_size=30, embedding_dim=5, loss="hierarchical_softmax"))
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "word2vec"
    assert isinstance(AutoConfig.from_pretrained(tmp_path), Word2VecConfig)
    loaded = AutoModel.from_pretrained(tmp_path)
    assert isinstance(loaded, Word2VecModel)
    assert loaded.output_embeddings.weight.shape == (29, 5)
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)


def test_cbow_shared_negatives_equal_the_unshared_step_with_repeated_noise_words():
    """Sharing noise words across a group is the per-centre step with the same noise words repeated."""
    torch.manual_seed(0)
    config = Word2VecConfig(
        vocab_size=12,
        embedding_dim=6,
        architecture="cbow",
        cbow_combiner="sum",
        initializer="xavier_uniform",
        negative_sharing=3,
        max_row_updates=0,
    )
    batch = _toy_batch()
    m = batch["window_mask"].shape[0]
    g = torch.Generator().manual_seed(1)
    shared = torch.randint(0, 12, (2, 4), generator=g)  # m = 5 centres → groups of 3 and 2
    centers = batch["targets"][:, :1]
    grouped = {
        **batch,
        "targets": centers,
        "labels": torch.ones(m, 1),
        "target_mask": torch.ones(m, 1, dtype=torch.bool),
    }
    expanded_noise = shared.repeat_interleave(3, dim=0)[:m]
    unshared = {
        **batch,
        "targets": torch.cat([centers, expanded_noise], dim=1),
        "labels": torch.cat([torch.ones(m, 1), torch.zeros(m, 4)], dim=1),
        "target_mask": torch.cat([torch.ones(m, 1, dtype=torch.bool), expanded_noise != centers], dim=1),
    }
    a = Word2VecModel(config)
    b = Word2VecModel(Word2VecConfig(**{**config.to_dict(), "negative_sharing": 1}))
    b.load_state_dict(a.state_dict())
    loss_a, count_a = sgd_step(a, **grouped, shared_negatives=shared, learning_rate=0.1)
    loss_b, count_b = sgd_step(b, **unshared, learning_rate=0.1)
    torch.testing.assert_close(loss_a, loss_b)
    torch.testing.assert_close(count_a, count_b)
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb)


def test_negative_sharing_is_for_cbow_negative_sampling_only():
    with pytest.raises(ValueError, match="CBOW"):
        Word2VecConfig(vocab_size=10, negative_sharing=4)
    with pytest.raises(ValueError, match="negative_sharing"):
        Word2VecConfig(vocab_size=10, architecture="cbow", negative_sharing=0)
