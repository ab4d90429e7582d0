"""BERT pretraining data (d2l.ai "The Dataset for Pretraining BERT") and the pretraining recipe."""

import json
import math
import random
from collections import Counter
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from huggingface_hub import ModelCard
from transformers import AutoModelForPreTraining, AutoTokenizer, pipeline

from hf_pretrain import HfpBertForPreTraining, load_corpus
from hf_pretrain.bert.data import BertPretrainingData, d2l_wiki_paragraphs, next_sentence_pairs
from hf_pretrain.bert.train import BertArguments, BertTrainingArguments, pretrain_bert
from hf_pretrain.core.arguments import parse_args
from hf_pretrain.core.tokenization import build_word_level_tokenizer

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "tiny_corpus.txt"


@pytest.fixture(scope="module")
def lines():
    return FIXTURE.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def data(lines):
    sentences = [s for p in d2l_wiki_paragraphs(lines) for s in p]
    tokenizer = build_word_level_tokenizer(sentences, min_frequency=2)
    return BertPretrainingData(lines, tokenizer, max_len=32, seed=0)


def test_next_sentence_pairs():
    paragraphs = [[f"p{p} s{s}" for s in range(6)] for p in range(40)]
    pairs = next_sentence_pairs(paragraphs, random.Random(0))
    assert len(pairs["text_a"]) == 40 * 5
    assert 0.4 < sum(pairs["next_sentence_label"]) / 200 < 0.6
    for a, b, label in zip(pairs["text_a"], pairs["text_b"], pairs["next_sentence_label"]):
        (pa, sa), (pb, sb) = a.split(), b.split()
        if label == 0:
            assert pb == pa and int(sb[1:]) == int(sa[1:]) + 1
        else:
            assert pb != pa
    assert next_sentence_pairs(paragraphs, random.Random(0)) == pairs
    with pytest.raises(ValueError, match="2 paragraphs"):
        next_sentence_pairs(paragraphs[:1], random.Random(0))


def test_examples_are_bert_pairs_truncated_to_max_len(data):
    tokenizer = data.tokenizer
    lengths = [len(ids) for ids in data.dataset["input_ids"]]
    assert max(lengths) == 32  # long pairs are truncated, not dropped
    assert len(data) == sum(len(p) - 1 for p in d2l_wiki_paragraphs(FIXTURE.read_text(encoding="utf-8").splitlines()))
    row = data.dataset[0]
    tokens = tokenizer.convert_ids_to_tokens(row["input_ids"])
    first_sep = tokens.index("<sep>")
    assert tokens[0] == "<cls>" and tokens[-1] == "<sep>"
    assert row["token_type_ids"] == [0] * (first_sep + 1) + [1] * (len(tokens) - first_sep - 1)


def test_dynamic_masking_is_seeded_and_follows_80_10_10(data):
    tokenizer = data.tokenizer
    first = list(data.batches(64, torch.Generator().manual_seed(5)))
    again = list(data.batches(64, torch.Generator().manual_seed(5)))
    other = list(data.batches(64, torch.Generator().manual_seed(6)))
    for a, b in zip(first, again):
        assert all(torch.equal(a[k], b[k]) for k in ("input_ids", "labels", "next_sentence_label"))
    assert not torch.equal(first[0]["labels"], other[0]["labels"])
    assert first[-1]["words"] == data.num_tokens

    # The template's tokens; an <unk> of the text is a word like any other, as in the book.
    specials = torch.tensor([tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id])
    counts = {"candidates": 0, "masked": 0, "mask_token": 0, "unchanged": 0}
    for batch in first:
        labels, inputs, attention = batch["labels"], batch["input_ids"], batch["attention_mask"].bool()
        masked = labels != -100
        original = torch.where(masked, labels, inputs)
        is_special = torch.isin(original, specials)
        assert not (masked & is_special).any()  # [CLS], [SEP] and padding are never masked
        counts["candidates"] += int((attention & ~is_special).sum())
        counts["masked"] += int(masked.sum())
        counts["mask_token"] += int((inputs[masked] == tokenizer.mask_token_id).sum())
        counts["unchanged"] += int((inputs[masked] == labels[masked]).sum())
    assert counts["masked"] / counts["candidates"] == pytest.approx(0.15, abs=0.01)
    assert counts["mask_token"] / counts["masked"] == pytest.approx(0.8, abs=0.03)
    # 10 % are kept, plus the few random replacements that drew the original token.
    assert counts["unchanged"] / counts["masked"] == pytest.approx(0.1, abs=0.02)


def recompute_evaluation(model, tokenizer, texts, *, max_len, batch_size, batches, seed):
    """The recipe's validation scores, from the full [batch, length, vocab] logits of `model` run
    without labels on the batches `evaluate` draws: the same fixed pairs and masks."""
    data = BertPretrainingData(texts, tokenizer, max_len=max_len, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    totals = {"loss": 0.0, "correct": 0, "masked": 0, "nsp_correct": 0, "examples": 0, "targets": Counter()}
    for index, batch in enumerate(data.batches(batch_size, generator, shuffle=False)):
        if index == batches:
            break
        with torch.no_grad():
            out = model(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                token_type_ids=batch["token_type_ids"],
            )
        logits, labels = out.prediction_logits, batch["labels"]
        masked = labels != -100
        totals["loss"] += float(F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1), reduction="sum"))
        totals["correct"] += int((logits.argmax(-1)[masked] == labels[masked]).sum())
        totals["masked"] += int(masked.sum())
        totals["targets"].update(labels[masked].tolist())
        totals["nsp_correct"] += int((out.seq_relationship_logits.argmax(-1) == batch["next_sentence_label"]).sum())
        totals["examples"] += labels.shape[0]
    return totals


def test_pretrain_bert_recipe(tmp_path, lines):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "train.txt").write_text("\n".join(lines[:120]) + "\n", encoding="utf-8")
    (corpus / "valid.txt").write_text("\n".join(lines[120:]) + "\n", encoding="utf-8")
    out = tmp_path / "bert"
    args = parse_args(
        [BertArguments, BertTrainingArguments],
        [
            "--dataset",
            str(corpus),
            "--min_frequency",
            "2",
            "--max_len",
            "32",
            "--batch_size",
            "32",
            "--epochs",
            "2",
            "--max_steps",
            "0",
            "--logging_steps",
            "5",
            "--eval_batches",
            "2",
            "--output_dir",
            str(out),
        ],
    )
    results = pretrain_bert(*args)
    assert results["epoch_losses"][1] < results["epoch_losses"][0]
    assert results["mlm_loss_definition"] == "d2l"  # the d2l-small preset trains the book's objective
    # The book's unused prediction slots (the unknown token at [CLS]) are easy: they pull its loss
    # below the loss over the masked tokens alone.
    assert 0 < results["mlm_loss"] < results["mlm_loss_masked_tokens"] < math.log(results["vocab_size"])
    assert math.isfinite(results["nsp_loss"]) and results["nsp_loss"] > 0
    saved = json.loads((out / "all_results.json").read_text(encoding="utf-8"))
    assert saved["arguments"]["preset"] == "d2l-small" and saved["arguments"]["learning_rate"] == 0.01

    model = AutoModelForPreTraining.from_pretrained(out).eval()
    assert isinstance(model, HfpBertForPreTraining) and model.config.hidden_size == 128
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert len(tokenizer) == model.config.vocab_size and tokenizer.mask_token == "<mask>"

    # The validation scores are the saved model's own on the validation batches, recomputed here
    # from its full logits rather than from the masked-position projection `evaluate` reads.
    expected = recompute_evaluation(
        model,
        tokenizer,
        load_corpus(str(corpus))["validation"]["text"],
        max_len=32,
        batch_size=32,
        batches=2,
        seed=args[1].seed,
    )
    masked = expected["masked"]
    assert results["eval_examples"] == expected["examples"] == 64 and masked > 100
    # One masked token may flip between two near-tied tokens with float rounding, no more.
    assert results["eval_mlm_accuracy"] == pytest.approx(expected["correct"] / masked, abs=1.01 / masked)
    assert results["eval_mlm_loss"] == pytest.approx(expected["loss"] / masked, rel=1e-5)
    assert results["eval_mlm_perplexity"] == pytest.approx(math.exp(results["eval_mlm_loss"]), rel=1e-9)
    assert results["eval_nsp_accuracy"] == expected["nsp_correct"] / expected["examples"]
    # Better than guessing: uniform guessing scores 1/vocab and a loss of log(vocab); after 28 steps
    # the model has at least learnt the most frequent target, the unknown token.
    _, count = expected["targets"].most_common(1)[0]
    assert results["eval_mlm_accuracy"] > 10 / results["vocab_size"]
    assert results["eval_mlm_accuracy"] >= 0.9 * count / masked
    assert results["eval_mlm_loss"] < math.log(results["vocab_size"])

    card = ModelCard.load(out / "README.md")
    assert "fill-mask" in card.data.tags
    scores = {e.metric_name: e.metric_value for e in card.data.eval_results}
    assert scores["MLM accuracy"] == pytest.approx(results["eval_mlm_accuracy"], abs=1e-4)
    assert scores["NSP accuracy"] == pytest.approx(results["eval_nsp_accuracy"], abs=1e-4)
    # The exported transformers model fills masks with the saved model's scores.
    text = "the european lobster is a <mask> of lobster"
    fill = pipeline("fill-mask", model=str(out / "transformers"), device="cpu")
    predictions = fill(text, top_k=2)
    encoded = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        logits = model(**encoded).prediction_logits[0, encoded["input_ids"][0].tolist().index(tokenizer.mask_token_id)]
    best = logits.softmax(-1).topk(2)
    assert [p["token"] for p in predictions] == best.indices.tolist()
    assert [p["score"] for p in predictions] == pytest.approx(best.values.tolist(), abs=1e-5)


def copying_model(vocab_size: int, pad_token_id: int) -> HfpBertForPreTraining:
    """A BERT whose masked-LM head predicts each position's input token: no position or segment
    embeddings, sublayers that add nothing to the residual and an identity head transform, so that
    the tied decoder scores each token's own embedding highest. On masked batches it is right at the
    positions left unchanged (about 10 %) and wrong elsewhere: varied predictions, at known places."""
    from hf_pretrain.bert import HfpBertConfig

    torch.manual_seed(0)
    config = HfpBertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        pad_token_id=pad_token_id,
    )
    model = HfpBertForPreTraining(config).eval()
    with torch.no_grad():
        model.bert.embeddings.position_embeddings.weight.zero_()
        model.bert.embeddings.token_type_embeddings.weight.zero_()
        for layer in model.bert.encoder.layer:
            layer.attention.output.dense.weight.zero_()
            layer.output.dense.weight.zero_()
        model.cls.predictions.transform.dense.weight.copy_(torch.eye(32))
    return model


def test_evaluation_scores_are_the_models_own_predictions(tmp_path, lines, data):
    """`evaluate` reads the masked positions' logits; its scores equal those recomputed from the full
    logits, position by position, for a model whose predictions differ from position to position."""
    from hf_pretrain.bert.train import evaluate

    tokenizer = data.tokenizer
    model = copying_model(len(tokenizer), tokenizer.pad_token_id)
    args, training = parse_args(
        [BertArguments, BertTrainingArguments],
        ["--max_len", "32", "--batch_size", "32", "--eval_batches", "2", "--output_dir", str(tmp_path / "out")],
    )
    texts = lines[120:]
    results = evaluate(model, tokenizer, texts, args, training)
    expected = recompute_evaluation(model, tokenizer, texts, max_len=32, batch_size=32, batches=2, seed=training.seed)
    masked = expected["masked"]
    assert results["eval_examples"] == expected["examples"] == 64
    # The model is right about 10 % of the time: a count that a misaligned or mis-divided tally misses.
    assert 0.05 < expected["correct"] / masked < 0.2
    assert results["eval_mlm_accuracy"] == expected["correct"] / masked
    assert results["eval_mlm_loss"] == pytest.approx(expected["loss"] / masked, rel=1e-5)
    assert results["eval_nsp_accuracy"] == expected["nsp_correct"] / expected["examples"]
    assert not model.training  # evaluate leaves the mode as it found it


def test_d2l_mlm_loss_is_the_mean_over_the_books_prediction_slots():
    """d2l's `_get_batch_loss_bert`: round(0.15 max_len) slots per example, unused slots predict the
    unknown token at position 0, and the loss is the mean cross-entropy over all slots."""
    from hf_pretrain.bert import HfpBertConfig
    from hf_pretrain.bert.train import _d2l_step

    torch.manual_seed(0)
    config = HfpBertConfig.from_preset("d2l-small", vocab_size=50, pad_token_id=1)
    model = HfpBertForPreTraining(config).eval()
    input_ids = torch.randint(5, 50, (3, 12))
    labels = torch.full_like(input_ids, -100)
    masks = {0: [(3, 7), (5, 9)], 1: [(2, 11), (4, 12), (6, 13), (8, 14)], 2: []}
    for row, items in masks.items():
        for position, label in items:
            labels[row, position] = label
    batch = {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "token_type_ids": torch.zeros_like(input_ids),
        "labels": labels,
        "next_sentence_label": torch.tensor([0, 1, 0]),
    }
    slots, unk = 3, 0
    out, loss, masked_only = _d2l_step(model, batch, slots, unk)

    full = model(input_ids=input_ids, attention_mask=batch["attention_mask"], token_type_ids=batch["token_type_ids"])
    log_probs = full.prediction_logits.log_softmax(-1)
    slot_losses, real = [], []
    for row, items in masks.items():
        chosen = items + [(0, unk)] * max(0, slots - len(items))
        for position, label in chosen:
            slot_losses.append(-log_probs[row, position, label])
        real += [-log_probs[row, p, label] for p, label in items]
    nsp = torch.nn.functional.cross_entropy(full.seq_relationship_logits, batch["next_sentence_label"])
    # Row 1 has more masked tokens than slots: all of them count, and no unused slot.
    torch.testing.assert_close(loss, torch.stack(slot_losses).mean())
    torch.testing.assert_close(masked_only, torch.stack(real).mean())
    torch.testing.assert_close(out.nsp_loss, nsp)


def test_unknown_mlm_loss_fails_before_reading_the_corpus(tmp_path):
    args = parse_args(
        [BertArguments, BertTrainingArguments],
        ["--dataset", str(tmp_path / "missing"), "--mlm_loss", "sum", "--output_dir", str(tmp_path / "out")],
    )
    with pytest.raises(ValueError, match="--mlm_loss must be 'masked' or 'd2l'"):
        pretrain_bert(*args)
    assert not (tmp_path / "out").exists()


@pytest.mark.integration
def test_the_books_run_lands_in_the_books_loss_range(tmp_path):
    """d2l 15.10 prints MLM loss 5.3-5.9 and NSP loss 0.74-0.80 after 50 steps of the small BERT on
    WikiText-2 (batches of 512 × 64, Adam 0.01), both the mean over the 50 steps. The default recipe is
    that run; seed 42 measured 5.55 and 0.766."""
    args = parse_args([BertArguments, BertTrainingArguments], ["--output_dir", str(tmp_path / "bert")])
    results = pretrain_bert(*args)
    assert results["global_step"] == 50 and results["mlm_loss_definition"] == "d2l"
    assert 5.3 <= results["mlm_loss"] <= 5.9, results
    assert 0.74 <= results["nsp_loss"] <= 0.80, results
    # Without the book's unused prediction slots, the loss over the masked tokens alone is higher.
    assert results["mlm_loss_masked_tokens"] > results["mlm_loss"]


def test_grouping_by_length_covers_every_example_with_less_padding(data):
    def padding_and_examples(**kwargs):
        padded = real = 0
        examples = []
        for batch in data.batches(4, torch.Generator().manual_seed(5), **kwargs):
            padded += batch["attention_mask"].numel()
            real += int(batch["attention_mask"].sum())
            examples += [
                tuple(row[mask.bool()].tolist()) for row, mask in zip(batch["input_ids"], batch["attention_mask"])
            ]
        return 1 - real / padded, examples

    plain_padding, plain = padding_and_examples()
    grouped_padding, grouped = padding_and_examples(group_by_length=True)
    assert len(grouped) == len(plain) == len(data)
    assert grouped_padding < plain_padding / 2
