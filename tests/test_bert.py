"""BERT written from scratch (d2l.ai "Bidirectional Encoder Representations from Transformers")."""

import pytest
import torch
import torch.nn.functional as F
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForPreTraining,
    BertConfig,
    BertForPreTraining,
    pipeline,
)

import hf_pretrain
from hf_pretrain import HfpBertConfig, HfpBertForPreTraining, HfpBertModel, Word2VecConfig, Word2VecModel
from hf_pretrain.bert import get_bert_encoding
from hf_pretrain.core.tokenization import train_bpe_tokenizer

TEXTS = [
    "i went to the bank to deposit cash",
    "i went to the bank to sit down",
    "the river bank is green and the sky is blue",
    "paris is the capital of france",
] * 10


def tiny_config(**overrides) -> HfpBertConfig:
    values = dict(
        vocab_size=120,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=24,
    )
    return HfpBertConfig(**{**values, **overrides})


def tiny_model(**overrides) -> HfpBertForPreTraining:
    torch.manual_seed(0)
    return HfpBertForPreTraining(tiny_config(**overrides)).eval()


@pytest.fixture(scope="module")
def tokenizer():
    return train_bpe_tokenizer(TEXTS, vocab_size=120, min_frequency=2)


def random_batch(vocab_size=120, batch=3, length=12):
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(5, vocab_size, (batch, length), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 8:] = 0
    attention_mask[2, 4:] = 0
    input_ids[attention_mask == 0] = 0
    token_type_ids = torch.zeros_like(input_ids)
    token_type_ids[:, 5:] = 1
    return input_ids, attention_mask, token_type_ids


def test_config_validation_and_presets():
    with pytest.raises(ValueError, match="divisible by num_attention_heads"):
        HfpBertConfig(hidden_size=100, num_attention_heads=3)
    with pytest.raises(ValueError, match="vocab_size"):
        HfpBertConfig(vocab_size=0)
    with pytest.raises(ValueError, match="hidden_act"):
        HfpBertConfig(hidden_act="sigmoid")
    with pytest.raises(ValueError, match="hidden_dropout_prob"):
        HfpBertConfig(hidden_dropout_prob=1.0)
    with pytest.raises(ValueError, match="layer_norm_eps"):
        HfpBertConfig(layer_norm_eps=0)
    with pytest.raises(ValueError, match="pad_token_id"):
        HfpBertConfig(vocab_size=10, pad_token_id=10)
    with pytest.raises(ValueError, match="unknown preset"):
        HfpBertConfig.from_preset("huge", vocab_size=10)
    small = HfpBertConfig.from_preset("d2l-small", vocab_size=20256)
    assert (small.num_hidden_layers, small.hidden_size, small.num_attention_heads, small.intermediate_size) == (
        2,
        128,
        2,
        256,
    )
    assert (small.hidden_dropout_prob, small.attention_probs_dropout_prob, small.max_position_embeddings) == (
        0.2,
        0.2,
        1000,
    )
    assert HfpBertConfig.from_preset("base", vocab_size=100, hidden_dropout_prob=0.0).hidden_dropout_prob == 0.0
    assert AutoConfig.for_model("hfp_bert").model_type == "hfp_bert"


@pytest.mark.parametrize("preset, expected", [("base", 110_106_428), ("large", 336_226_108), ("d2l-small", None)])
def test_parameter_counts_match_transformers(preset, expected):
    config = HfpBertConfig.from_preset(preset, vocab_size=30522)
    with torch.device("meta"):
        ours = HfpBertForPreTraining(config)
        theirs = BertForPreTraining(
            BertConfig(
                **{
                    k: getattr(config, k)
                    for k in (
                        "vocab_size",
                        "hidden_size",
                        "num_hidden_layers",
                        "num_attention_heads",
                        "intermediate_size",
                        "max_position_embeddings",
                        "tie_word_embeddings",
                    )
                }
            )
        )
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in theirs.parameters())
    if expected is not None:
        assert count == expected
    else:  # the book's MLM decoder has its own weight
        assert not config.tie_word_embeddings and count == 4_364_348 + 30522 * 129  # + weight and bias
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_embeddings_are_the_sum_of_token_segment_and_position():
    model = tiny_model()
    embeddings = model.bert.embeddings
    input_ids, _, token_type_ids = random_batch()
    total = (
        embeddings.word_embeddings.weight[input_ids]
        + embeddings.token_type_embeddings.weight[token_type_ids]
        + embeddings.position_embeddings.weight[: input_ids.shape[1]]
    )
    expected = F.layer_norm(total, (32,), embeddings.LayerNorm.weight, embeddings.LayerNorm.bias, 1e-12)
    torch.testing.assert_close(embeddings(input_ids, token_type_ids), expected)


def test_padding_changes_nothing_for_real_tokens():
    model = tiny_model()
    input_ids, attention_mask, token_type_ids = random_batch()
    out = model.bert(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
    for row in range(3):
        n = int(attention_mask[row].sum())
        alone = model.bert(
            input_ids[row : row + 1, :n], token_type_ids=token_type_ids[row : row + 1, :n]
        ).last_hidden_state
        torch.testing.assert_close(out[row, :n], alone[0], atol=1e-5, rtol=0)
    other = input_ids.clone()
    other[attention_mask == 0] = 77  # what sits under the padding does not matter either
    again = model.bert(other, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
    torch.testing.assert_close(again[attention_mask == 1], out[attention_mask == 1], atol=1e-5, rtol=0)


def test_tied_weights_also_after_save_and_load(tmp_path):
    model = tiny_model()
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    assert model.cls.predictions.decoder.bias is model.cls.predictions.bias
    model.save_pretrained(tmp_path)
    loaded = AutoModelForPreTraining.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, HfpBertForPreTraining)
    assert loaded.cls.predictions.decoder.weight is loaded.bert.embeddings.word_embeddings.weight
    assert loaded.cls.predictions.decoder.bias is loaded.cls.predictions.bias
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor, atol=0, rtol=0, msg=name)
    encoder = AutoModel.from_pretrained(tmp_path)
    assert isinstance(encoder, HfpBertModel)
    torch.testing.assert_close(encoder.embeddings.word_embeddings.weight, model.bert.embeddings.word_embeddings.weight)


def test_initialisation():
    model = HfpBertForPreTraining(tiny_config(vocab_size=2000, initializer_range=0.05))
    weight = model.bert.embeddings.word_embeddings.weight.detach()
    assert weight[0].abs().max() == 0  # the padding row
    assert float(weight[1:].std()) == pytest.approx(0.05, rel=0.1)
    layer = model.bert.encoder.layer[0]
    assert float(layer.attention.self.query.weight.detach().std()) == pytest.approx(0.05, rel=0.2)
    assert layer.attention.self.query.bias.abs().max() == 0
    assert torch.equal(layer.output.LayerNorm.weight, torch.ones(32))
    assert model.cls.predictions.bias.abs().max() == 0


def test_pytorch_initialisation_as_the_books_code():
    torch.manual_seed(0)
    model = HfpBertForPreTraining(tiny_config(initializer="pytorch", tie_word_embeddings=False, vocab_size=400))
    embeddings = model.bert.embeddings
    for table in (embeddings.word_embeddings, embeddings.position_embeddings):
        assert table.weight.std().item() == pytest.approx(1.0, abs=0.1)
    query = model.bert.encoder.layer[0].attention.self.query
    bound = 1 / 32**0.5  # nn.Linear's default: uniform in ±1/sqrt(fan_in)
    assert query.weight.abs().max() <= bound and query.weight.abs().max() > 0.9 * bound
    decoder = model.cls.predictions.decoder
    assert (
        decoder.weight.abs().max() <= bound
        and decoder.weight.data_ptr() != embeddings.word_embeddings.weight.data_ptr()
    )
    with pytest.raises(ValueError, match="initializer must be"):
        tiny_config(initializer="xavier")


def mlm_batch():
    """`random_batch()` with three masked positions (rows 0 and 1) and NSP labels."""
    input_ids, attention_mask, token_type_ids = random_batch()
    labels = torch.full_like(input_ids, -100)
    labels[0, [1, 3]] = torch.tensor([7, 9])
    labels[1, 2] = 11
    return dict(
        input_ids=input_ids,
        attention_mask=attention_mask,
        token_type_ids=token_type_ids,
        labels=labels,
        next_sentence_label=torch.tensor([0, 1, 0]),
    )


def test_losses_match_a_manual_computation():
    model = tiny_model()
    inputs = mlm_batch()
    labels, nsp = inputs["labels"], inputs["next_sentence_label"]
    out = model(**inputs)
    full = model(inputs["input_ids"], attention_mask=inputs["attention_mask"], token_type_ids=inputs["token_type_ids"])
    assert full.prediction_logits.shape == (3, 12, 120) and full.loss is None and full.masked_lm_logits is None
    # With labels only the masked positions are projected onto the vocabulary, under their own name.
    assert out.prediction_logits is None
    assert out.masked_lm_logits.shape == (3, 120)
    masked_logits = full.prediction_logits[labels != -100]
    torch.testing.assert_close(out.masked_lm_logits, masked_logits)
    # transformers' MLM loss: cross-entropy over every position, -100 ignored.
    mlm = F.cross_entropy(full.prediction_logits.view(-1, 120), labels.view(-1), ignore_index=-100)
    next_sentence = F.cross_entropy(full.seq_relationship_logits, nsp)
    torch.testing.assert_close(out.mlm_loss, mlm)
    torch.testing.assert_close(out.nsp_loss, next_sentence)
    torch.testing.assert_close(out.loss, mlm + next_sentence)
    # Asking for the full logits, or skipping the padding, leaves the loss as it is.
    for options in (dict(output_logits=True), dict(skip_padding=True), dict(output_logits=True, skip_padding=True)):
        torch.testing.assert_close(model(**inputs, **options).loss, out.loss, atol=1e-6, rtol=0, msg=str(options))
    # transformers computes the same total from the full projection.
    theirs = model.to_transformers()(**inputs)
    torch.testing.assert_close(out.loss, theirs.loss, atol=1e-5, rtol=0)
    only_nsp = model(
        inputs["input_ids"], attention_mask=inputs["attention_mask"], next_sentence_label=nsp, return_dict=False
    )
    assert isinstance(only_nsp, tuple)
    no_mask = model(inputs["input_ids"], labels=torch.full_like(labels, -100))
    assert no_mask.mlm_loss == 0 and no_mask.loss == 0 and no_mask.masked_lm_logits.shape == (0, 120)
    out.loss.backward()
    assert model.bert.embeddings.word_embeddings.weight.grad.abs().sum() > 0


def test_outputs_do_not_depend_on_labels():
    """Labels add losses and leave every other output, padding positions included, as it is: the
    encoder takes the same path whatever the labels and the device."""
    model = tiny_model()
    inputs = mlm_batch()
    assert not inputs["attention_mask"].all()  # the batch has padding
    plain = model(inputs["input_ids"], attention_mask=inputs["attention_mask"], token_type_ids=inputs["token_type_ids"])
    for options in ({}, dict(output_logits=True), dict(output_logits=False)):
        labelled = model(**inputs, **options)
        torch.testing.assert_close(labelled.last_hidden_state, plain.last_hidden_state, atol=1e-6, rtol=0)
        torch.testing.assert_close(labelled.seq_relationship_logits, plain.seq_relationship_logits, atol=1e-6, rtol=0)
        assert labelled.last_hidden_state[inputs["attention_mask"] == 0].norm(dim=-1).min() > 0  # not zeroed
    # The encoder alone agrees too.
    encoder = model.bert(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"]).last_hidden_state
    torch.testing.assert_close(encoder, plain.last_hidden_state, atol=0, rtol=0)


def test_prediction_logits_are_batch_by_length_by_vocab_whenever_returned():
    model = tiny_model()
    inputs = mlm_batch()
    plain = {k: inputs[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    reference = model(**plain).prediction_logits
    assert reference.shape == (3, 12, 120)
    calls = [
        dict(plain),
        dict(plain, output_logits=True),
        dict(plain, output_logits=False),
        dict(inputs),
        dict(inputs, output_logits=True),
        dict(inputs, output_logits=False),
        dict(plain, next_sentence_label=inputs["next_sentence_label"]),
        dict(inputs, skip_padding=True, output_logits=True),
    ]
    returned = 0
    for call in calls:
        logits = model(**call).prediction_logits
        if logits is not None:
            returned += 1
            assert logits.shape == (3, 12, 120), sorted(call)
            valid = inputs["attention_mask"].bool() if call.get("skip_padding") else torch.ones(3, 12, dtype=torch.bool)
            torch.testing.assert_close(logits[valid], reference[valid], atol=1e-5, rtol=0)
        if call.get("output_logits") is not None:
            assert (logits is not None) == call["output_logits"], sorted(call)
    assert returned == 5
    # In tuples too: no output is ever laid out another way.
    loss, mlm, nsp, logits, *_ = model(**inputs, output_logits=True, return_dict=False)
    assert logits.shape == (3, 12, 120)


def test_skipping_padding_gives_the_same_states_and_gradients():
    model = tiny_model()
    input_ids, attention_mask, token_type_ids = random_batch()
    valid = attention_mask.bool()
    packed = model.bert(input_ids, attention_mask, token_type_ids, skip_padding=True).last_hidden_state
    padded = model.bert(input_ids, attention_mask, token_type_ids).last_hidden_state
    torch.testing.assert_close(packed[valid], padded[valid], atol=1e-5, rtol=0)
    assert packed[~valid].abs().sum() == 0
    # Training with skip_padding skips the padding only when asked; its gradients are transformers' own.
    labels = torch.full_like(input_ids, -100)
    labels[0, [1, 3]] = torch.tensor([7, 9])
    labels[2, 2] = 11
    inputs = dict(
        input_ids=input_ids,
        attention_mask=attention_mask,
        token_type_ids=token_type_ids,
        labels=labels,
        next_sentence_label=torch.tensor([0, 1, 1]),
    )
    torch.testing.assert_close(model(**inputs, skip_padding=True).last_hidden_state, packed)
    theirs = model.to_transformers()
    model(**inputs, skip_padding=True).loss.backward()
    theirs(**inputs).loss.backward()
    their_grads = dict(theirs.named_parameters())
    for name, parameter in model.named_parameters():
        torch.testing.assert_close(parameter.grad, their_grads[name].grad, atol=1e-5, rtol=1e-4, msg=name)


def test_bf16_on_the_cpu_writes_the_attention_out_and_matches_transformers_sdpa(monkeypatch):
    """In bf16 on a CPU the attention runs as products and a softmax, not SDPA's fused kernel (which
    transformers' BERT keeps): outputs and gradients agree with transformers' to bf16 precision."""
    model = tiny_model()
    theirs = model.to_transformers()
    input_ids, attention_mask, token_type_ids = random_batch()
    inputs = dict(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
    fused = []
    sdpa = torch.nn.functional.scaled_dot_product_attention
    monkeypatch.setattr(
        torch.nn.functional, "scaled_dot_product_attention", lambda *a, **k: fused.append(1) or sdpa(*a, **k)
    )
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = model(**inputs, skip_padding=True)
        assert not fused  # ours never called SDPA
        reference = theirs(**inputs)
        assert fused  # transformers' did
    valid = attention_mask.bool()
    ours_logits, their_logits = ours.prediction_logits.float()[valid], reference.prediction_logits.float()[valid]
    torch.testing.assert_close(ours_logits, their_logits, atol=0.1, rtol=0.05)
    ours_logits.sum().backward()
    their_logits.sum().backward()
    their_grads = dict(theirs.named_parameters())
    for name in ("bert.encoder.layer.0.attention.self.query.weight", "bert.embeddings.word_embeddings.weight"):
        ours_grad, their_grad = dict(model.named_parameters())[name].grad, their_grads[name].grad
        assert torch.nn.functional.cosine_similarity(ours_grad.flatten(), their_grad.flatten(), dim=0) > 0.999, name


def test_export_to_transformers_gives_the_same_outputs():
    model = tiny_model()
    exported = model.to_transformers()
    assert isinstance(exported, BertForPreTraining) and not exported.training
    input_ids, attention_mask, token_type_ids = random_batch()
    ours = model(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
    theirs = exported(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
    valid = attention_mask.bool()
    assert (ours.prediction_logits - theirs.prediction_logits)[valid].abs().max() <= 1e-5
    assert (ours.seq_relationship_logits - theirs.seq_relationship_logits).abs().max() <= 1e-5
    encoder = model.bert.to_transformers()
    hidden = encoder(
        input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
    ).last_hidden_state
    assert (ours.last_hidden_state - hidden)[valid].abs().max() <= 1e-5


def test_fill_mask_pipeline_on_a_saved_export(tmp_path, tokenizer):
    model = tiny_model(vocab_size=len(tokenizer))
    model.to_transformers().save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    fill = pipeline("fill-mask", model=str(tmp_path), tokenizer=str(tmp_path), device="cpu")
    predictions = fill("i went to the [MASK] to deposit cash", top_k=3)
    assert len(predictions) == 3
    assert all(p["sequence"].startswith("i went to the") for p in predictions)
    # The pipeline's scores are our masked-LM head's, softmaxed.
    encoded = tokenizer("i went to the [MASK] to deposit cash", return_tensors="pt")
    logits = model(**encoded).prediction_logits[0, encoded["input_ids"][0].tolist().index(tokenizer.mask_token_id)]
    best = logits.softmax(-1).topk(3)
    assert [p["token"] for p in predictions] == best.indices.tolist()
    assert [p["score"] for p in predictions] == pytest.approx(best.values.tolist(), abs=1e-5)


def test_context_sensitive_representations(tokenizer):
    model = tiny_model(vocab_size=len(tokenizer))
    deposit = get_bert_encoding(model, tokenizer, "i went to the bank to deposit cash")
    sit = get_bert_encoding(model, tokenizer, "i went to the bank to sit down")
    assert deposit.tokens[0] == "[CLS]" and deposit.cls.shape == (32,)
    assert deposit.last_hidden_state.shape == (len(deposit.tokens), 32)
    bank_deposit, bank_sit = deposit.word_vector("bank"), sit.word_vector("bank")
    assert not torch.allclose(bank_deposit, bank_sit, atol=1e-3)
    # The same sentence gives the same vectors: the difference is the context, not dropout.
    torch.testing.assert_close(
        get_bert_encoding(model, tokenizer, "i went to the bank to sit down").word_vector("bank"), bank_sit
    )
    pair = get_bert_encoding(model, tokenizer, "the river bank is green", "i went to the bank to sit down")
    assert not torch.allclose(pair.word_vector("bank", sequence=0), pair.word_vector("bank", sequence=1), atol=1e-3)
    torch.testing.assert_close(pair.word_vector("bank", occurrence=1), pair.word_vector("bank", sequence=1))
    with pytest.raises(KeyError, match="bank"):
        deposit.word_vector("bank", occurrence=1)

    # word2vec has one vector per word, whatever the sentence.
    words = sorted({w for text in TEXTS for w in text.split()})
    index = {w: i for i, w in enumerate(words)}
    word2vec = Word2VecModel(Word2VecConfig(vocab_size=len(words), embedding_dim=8))
    vectors = [word2vec.word_embeddings()[[index[w] for w in text.split()]] for text in TEXTS[:2]]
    torch.testing.assert_close(vectors[0][4], vectors[1][4])


def test_long_input_is_refused():
    model = tiny_model()
    with pytest.raises(ValueError, match="longer than max_position_embeddings"):
        model(torch.ones(1, 25, dtype=torch.long))
    model(torch.ones(1, 24, dtype=torch.long))


def test_registered_with_the_auto_classes():
    config = tiny_config()
    assert isinstance(AutoModel.from_config(config), HfpBertModel)
    assert isinstance(AutoModelForPreTraining.from_config(config), HfpBertForPreTraining)
    assert hf_pretrain.HfpBertConfig is HfpBertConfig
