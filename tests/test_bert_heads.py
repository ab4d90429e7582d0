"""BERT as a transformers family: the task heads load a pretraining folder through their Auto
classes, compute transformers' losses, run in pipelines, and the saved tokenizer truncates like a
Hub one, without hf_pretrain."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForNextSentencePrediction,
    AutoModelForPreTraining,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
    pipeline,
)
from transformers.testing_utils import CaptureLogger
from transformers.utils import logging

from hf_pretrain.bert import (
    HfpBertConfig,
    HfpBertForMaskedLM,
    HfpBertForNextSentencePrediction,
    HfpBertForPreTraining,
    HfpBertForQuestionAnswering,
    HfpBertForSequenceClassification,
    HfpBertForTokenClassification,
    HfpBertModel,
)
from hf_pretrain.bert.train import BertArguments, BertTrainingArguments, pretrain_bert
from hf_pretrain.core.arguments import parse_args

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "tiny_corpus.txt"
TEXTS = ["the cat sat on the mat", "a dog ran in the park and the cat sat"]


def pretrain(out, *flags):
    """The recipe's tiny pretraining (tests/test_loop.py): d2l-small, 2 epochs of the fixture."""
    args = parse_args(
        [BertArguments, BertTrainingArguments],
        [
            *("--dataset", str(FIXTURE), "--min_frequency", "2", "--max_len", "32", "--batch_size", "16"),
            *("--epochs", "2", "--max_steps", "0", "--logging_steps", "5", "--eval_batches", "0"),
            *("--num_threads", "1", "--seed", "0", "--output_dir", str(out), *flags),
        ],
    )
    pretrain_bert(*args)
    return Path(out)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return pretrain(tmp_path_factory.mktemp("bert") / "out")


@pytest.fixture(scope="module")
def tokenizer(folder):
    return AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def batch(tokenizer):
    return tokenizer(TEXTS, padding=True, return_tensors="pt")


@pytest.fixture(scope="module")
def pretrained(folder):
    return AutoModelForPreTraining.from_pretrained(folder).eval()


HEADS = [
    # Auto class, our class, the parameters the pretraining folder lacks.
    (AutoModelForMaskedLM, HfpBertForMaskedLM, set()),
    (AutoModelForNextSentencePrediction, HfpBertForNextSentencePrediction, set()),
    (AutoModelForSequenceClassification, HfpBertForSequenceClassification, {"classifier.weight", "classifier.bias"}),
    (AutoModelForTokenClassification, HfpBertForTokenClassification, {"classifier.weight", "classifier.bias"}),
    (AutoModelForQuestionAnswering, HfpBertForQuestionAnswering, {"qa_outputs.weight", "qa_outputs.bias"}),
]


@pytest.mark.parametrize("auto, cls, fresh", HEADS, ids=[h[1].__name__ for h in HEADS])
def test_auto_classes_load_the_pretraining_folder(folder, pretrained, auto, cls, fresh):
    with CaptureLogger(logging.get_logger("transformers.modeling_utils")) as captured:
        model, info = auto.from_pretrained(folder, output_loading_info=True)
    assert type(model) is cls
    assert set(info["missing_keys"]) == fresh
    assert not info["mismatched_keys"]
    if fresh:  # transformers' report names the newly initialised head
        assert "MISSING" in captured.out and all(key in captured.out for key in fresh)
    # The encoder, and the pretraining heads that exist, come from the checkpoint.
    expected = pretrained.state_dict()
    state = model.state_dict()
    loaded = [key for key in state if key not in fresh]
    assert any(key.startswith("bert.encoder.") for key in loaded)
    for key in loaded:
        torch.testing.assert_close(state[key], expected[key], rtol=0, atol=0, msg=key)


def test_masked_lm_matches_the_pretraining_model_and_its_loss(folder, pretrained, batch):
    model = AutoModelForMaskedLM.from_pretrained(folder).eval()
    labels = torch.full_like(batch["input_ids"], -100)
    labels[:, 2] = batch["input_ids"][:, 2]
    labels[1, 5] = batch["input_ids"][1, 5]
    with torch.no_grad():
        out = model(**batch, labels=labels)
        reference = pretrained(**batch)
    assert out.logits.shape == (2, batch["input_ids"].shape[1], model.config.vocab_size)
    torch.testing.assert_close(out.logits, reference.prediction_logits)
    masked = labels != -100
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits[masked], labels[masked]))
    # return_dict=False: (loss, logits), as transformers' tuples.
    loss, logits = model(**batch, labels=labels, return_dict=False)
    torch.testing.assert_close(loss, out.loss)


def test_next_sentence_prediction_matches_the_pretraining_model(folder, pretrained, tokenizer):
    model = AutoModelForNextSentencePrediction.from_pretrained(folder).eval()
    pair = tokenizer(["the cat sat", "a dog"], ["on the mat", "ran away"], padding=True, return_tensors="pt")
    labels = torch.tensor([0, 1])
    with torch.no_grad():
        out = model(**pair, labels=labels)
        reference = pretrained(**pair)
    assert out.logits.shape == (2, 2)
    torch.testing.assert_close(out.logits, reference.seq_relationship_logits)
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, labels))


@pytest.mark.parametrize(
    "num_labels, labels, problem_type",
    [
        (3, torch.tensor([0, 2]), "single_label_classification"),
        (1, torch.tensor([0.5, -1.0]), "regression"),
        (3, torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]), "multi_label_classification"),
    ],
)
def test_sequence_classification_losses(folder, batch, num_labels, labels, problem_type):
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=num_labels).eval()
    with torch.no_grad():
        out = model(**batch, labels=labels)
        pooled = model.bert(**batch).pooler_output
    assert model.config.problem_type == problem_type
    assert out.logits.shape == (2, num_labels)
    torch.testing.assert_close(out.logits, model.classifier(pooled))
    if problem_type == "regression":
        expected = F.mse_loss(out.logits.squeeze(), labels)
    elif problem_type == "single_label_classification":
        expected = F.cross_entropy(out.logits, labels)
    else:
        expected = F.binary_cross_entropy_with_logits(out.logits, labels)
    torch.testing.assert_close(out.loss, expected)


def test_token_classification_loss_ignores_minus_100(folder, batch):
    model = AutoModelForTokenClassification.from_pretrained(folder, num_labels=5).eval()
    length = batch["input_ids"].shape[1]
    labels = torch.arange(2 * length).view(2, length) % 5
    labels[batch["attention_mask"] == 0] = -100
    with torch.no_grad():
        out = model(**batch, labels=labels)
    assert out.logits.shape == (2, length, 5)
    kept = labels != -100
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits[kept], labels[kept]))


def test_question_answering_loss_clamps_positions_outside_the_input(folder, batch):
    model = AutoModelForQuestionAnswering.from_pretrained(folder).eval()
    length = batch["input_ids"].shape[1]
    start, end = torch.tensor([1, 3]), torch.tensor([2, length + 7])  # the second end is ignored
    with torch.no_grad():
        out = model(**batch, start_positions=start, end_positions=end)
    assert out.start_logits.shape == out.end_logits.shape == (2, length)
    expected = (F.cross_entropy(out.start_logits, start) + F.cross_entropy(out.end_logits[:1], end[:1])) / 2
    torch.testing.assert_close(out.loss, expected)


def test_hidden_states_attentions_and_inputs_embeds(folder, batch):
    model = AutoModel.from_pretrained(folder).eval()
    config = model.config
    with torch.no_grad():
        plain = model(**batch)
        out = model(**batch, output_hidden_states=True, output_attentions=True)
        embeds = model.get_input_embeddings()(batch["input_ids"])
        from_embeds = model(
            inputs_embeds=embeds, attention_mask=batch["attention_mask"], token_type_ids=batch["token_type_ids"]
        )
        packed = model(**batch, output_hidden_states=True, skip_padding=True)
    batch_size, length = batch["input_ids"].shape
    assert len(out.hidden_states) == config.num_hidden_layers + 1
    assert all(h.shape == (batch_size, length, config.hidden_size) for h in out.hidden_states)
    assert len(out.attentions) == config.num_hidden_layers
    assert out.attentions[0].shape == (batch_size, config.num_attention_heads, length, length)
    torch.testing.assert_close(out.attentions[0].sum(-1), torch.ones(batch_size, config.num_attention_heads, length))
    # Padding gets no attention; the spelt-out attention gives SDPA's outputs.
    padding = (batch["attention_mask"] == 0)[:, None, None, :].expand_as(out.attentions[0])
    assert padding.any() and float(out.attentions[0][padding].abs().max()) < 1e-6
    torch.testing.assert_close(out.last_hidden_state, plain.last_hidden_state, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.hidden_states[-1], out.last_hidden_state)
    torch.testing.assert_close(from_embeds.last_hidden_state, plain.last_hidden_state)
    real = batch["attention_mask"].bool()
    torch.testing.assert_close(packed.hidden_states[-1][real], plain.last_hidden_state[real], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="exactly one"):
        model(input_ids=batch["input_ids"], inputs_embeds=embeds)


def test_gradient_checkpointing_gives_the_same_gradients(folder, batch):
    torch.manual_seed(0)
    labels = torch.tensor([0, 1])
    grads = []
    for checkpointing in (False, True):
        model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2, classifier_dropout=0.0)
        model.config.hidden_dropout_prob = 0.0
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
            if hasattr(module, "dropout_prob"):
                module.dropout_prob = 0.0
        if checkpointing:
            # transformers 5.x renames gradient checkpointing to activation checkpointing.
            enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
            enable()
            assert any(getattr(m, "gradient_checkpointing", False) for m in model.modules())
        model.train()
        model(**batch, labels=labels).loss.backward()
        grads.append(model.bert.encoder.layer[0].attention.self.query.weight.grad.clone())
    torch.testing.assert_close(grads[1], grads[0])


def test_fill_mask_and_feature_extraction_pipelines_on_the_recipes_folder(folder, tokenizer):
    fill = pipeline("fill-mask", model=str(folder), device="cpu")
    predictions = fill(f"the cat {tokenizer.mask_token} on the mat", top_k=3)
    assert len(predictions) == 3 and all(p["token_str"] in tokenizer.get_vocab() for p in predictions)
    extract = pipeline("feature-extraction", model=str(folder), device="cpu")
    features = torch.tensor(extract("the cat sat"))
    config = AutoConfig.from_pretrained(folder)
    length = len(tokenizer("the cat sat")["input_ids"])
    assert features.shape == (1, length, config.hidden_size)


def test_fine_tuned_sequence_classifier_runs_in_the_text_classification_pipeline(folder, tokenizer, tmp_path):
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        folder,
        num_labels=2,
        id2label={0: "PLACE", 1: "OTHER"},
        label2id={"PLACE": 0, "OTHER": 1},
        # The tiny model's [CLS] vectors are nearly alike: without dropout a few steps separate them.
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    texts = ["the city of meridian", "a city in mississippi", "he was at the air base", "his first two state county"]
    labels = torch.tensor([0, 0, 1, 1])
    inputs = tokenizer(texts, padding=True, return_tensors="pt")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(40):
        model(**inputs, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    saved = tmp_path / "classifier"
    model.save_pretrained(saved)
    tokenizer.save_pretrained(saved)
    auto_map = json.loads((saved / "config.json").read_text())["auto_map"]
    assert auto_map["AutoModelForSequenceClassification"] == "modeling_bert.HfpBertForSequenceClassification"
    classify = pipeline("text-classification", model=str(saved), device="cpu")
    result = classify(texts)
    assert [r["label"] for r in result] == ["PLACE", "PLACE", "OTHER", "OTHER"]
    reloaded = AutoModelForSequenceClassification.from_pretrained(saved).eval()
    with torch.no_grad():
        probabilities = reloaded(**tokenizer(texts[0], return_tensors="pt")).logits.softmax(-1)[0]
    assert result[0]["score"] == pytest.approx(float(probabilities.max()), abs=1e-5)


def test_heads_round_trip_to_transformers_classes(folder, batch):
    model = AutoModelForTokenClassification.from_pretrained(folder, num_labels=4).eval()
    theirs = model.to_transformers().eval()
    assert type(theirs).__name__ == "BertForTokenClassification"
    with torch.no_grad():
        torch.testing.assert_close(theirs(**batch).logits, model(**batch).logits, rtol=1e-4, atol=1e-5)


def test_masked_lm_ties_its_decoder_when_the_config_does(tmp_path):
    config = HfpBertConfig(
        vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    assert config.tie_word_embeddings
    HfpBertForPreTraining(config).save_pretrained(tmp_path)
    model = AutoModelForMaskedLM.from_pretrained(tmp_path)
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    assert model.cls.predictions.decoder.bias is model.cls.predictions.bias


def test_the_encoder_without_pooler():
    config = HfpBertConfig.from_preset("d2l-small", vocab_size=50)
    model = HfpBertModel(config, add_pooling_layer=False).eval()
    out = model(torch.tensor([[2, 7, 9, 3]]))
    assert out.pooler_output is None and out.last_hidden_state.shape == (1, 4, 128)


# ------------------------------------------------------------------------------------ tokenizers


def test_saved_tokenizer_truncates_at_the_models_positions(folder, tokenizer):
    config = AutoConfig.from_pretrained(folder)
    assert tokenizer.model_max_length == config.max_position_embeddings == 1000
    encoded = tokenizer(" ".join(["the"] * 1200), truncation=True)
    assert len(encoded["input_ids"]) == 1000
    assert encoded["input_ids"][0] == tokenizer.cls_token_id and encoded["input_ids"][-1] == tokenizer.sep_token_id
    for role in ("mask_token", "pad_token", "cls_token", "sep_token", "unk_token"):
        assert getattr(tokenizer, role) is not None and getattr(tokenizer, role + "_id") is not None, role


ISOLATED = r"""
import importlib.abc, json, sys

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "hf_pretrain":
            raise ModuleNotFoundError(f"No module named {name!r}")

sys.meta_path.insert(0, Refuse())
sys.path = [p for p in sys.path if p not in ("", REPO)]
from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer

result = {}
for name, folder in json.loads(sys.argv[1]).items():
    # trust_remote_code=False only answers the question AutoConfig would ask about config.json's
    # auto_map (transformers reads config.json before tokenizer_config.json); the tokenizer itself
    # is transformers' own class and runs no custom code either way.
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    ids = tokenizer(" ".join(["the"] * 1200), truncation=True)["input_ids"]
    result[name] = [type(tokenizer).__module__, tokenizer.model_max_length, len(ids), tokenizer.mask_token]
bert = json.loads(sys.argv[1])["word"]
heads = [AutoModelForMaskedLM.from_pretrained(bert, trust_remote_code=True),
         AutoModelForSequenceClassification.from_pretrained(bert, trust_remote_code=True, num_labels=2)]
result["heads"] = [type(m).__module__.split(".")[0] + "." + type(m).__name__ for m in heads]
result["imported"] = sorted(m for m in sys.modules if m.split(".")[0] == "hf_pretrain")
print(json.dumps(result))
"""


def test_auto_tokenizer_loads_every_saved_tokenizer_without_hf_pretrain(folder, tmp_path):
    folders = {"word": folder, "bpe": pretrain(tmp_path / "bpe", "--tokenizer", "bpe", "--bpe_vocab_size", "300")}
    for path in folders.values():
        config = json.loads((path / "tokenizer_config.json").read_text())
        assert "auto_map" not in config, config  # no custom code, so no trust_remote_code prompt
    script = tmp_path / "isolated.py"
    script.write_text(ISOLATED.replace("REPO", repr(str(REPO))), encoding="utf-8")
    completed = subprocess.run(
        [sys.executable, "-I", str(script), json.dumps({k: str(v) for k, v in folders.items()})],
        cwd=tmp_path,
        env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home"), "PATH": "/usr/bin:/bin"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "custom code" not in completed.stdout + completed.stderr  # no trust_remote_code prompt
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    for name in ("word", "bpe"):
        module, max_length, length, mask = result[name]
        assert module.startswith("transformers."), module
        assert max_length == 1000 and length == 1000 and mask is not None, result[name]
    assert result["heads"] == [
        "transformers_modules.HfpBertForMaskedLM",
        "transformers_modules.HfpBertForSequenceClassification",
    ]
    assert result["imported"] == []
