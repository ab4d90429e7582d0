"""BERT pretraining data (d2l.ai "The Dataset for Pretraining BERT") and the pretraining recipe."""

import json
import random
from pathlib import Path

import pytest
from huggingface_hub import ModelCard
import torch
from transformers import AutoModelForPreTraining, AutoTokenizer, pipeline

from hf_pretrain import HfpBertForPreTraining
from hf_pretrain.core.arguments import parse_args
from hf_pretrain.bert.data import BertPretrainingData, d2l_wiki_paragraphs, next_sentence_pairs
from hf_pretrain.bert.train import BertArguments, BertTrainingArguments, pretrain_bert
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


def test_pretrain_bert_recipe(tmp_path, lines):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "train.txt").write_text("\n".join(lines[:120]) + "\n", encoding="utf-8")
    (corpus / "valid.txt").write_text("\n".join(lines[120:]) + "\n", encoding="utf-8")
    out = tmp_path / "bert"
    args = parse_args(
        [BertArguments, BertTrainingArguments],
        ["--dataset", str(corpus), "--min_frequency", "2", "--max_len", "32", "--batch_size", "32",
         "--epochs", "2", "--max_steps", "0", "--logging_steps", "5", "--eval_batches", "2", "--output_dir", str(out)],
    )
    results = pretrain_bert(*args)
    assert results["epoch_losses"][1] < results["epoch_losses"][0]
    assert results["mlm_loss"] > 0 and results["nsp_loss"] > 0 and results["mlm_loss_masked_tokens"] > 0
    assert results["mlm_loss_definition"] == "d2l"  # the d2l-small preset trains the book's objective
    assert 0 <= results["eval_mlm_accuracy"] <= 1 and results["eval_mlm_perplexity"] > 1
    assert 0 <= results["eval_nsp_accuracy"] <= 1 and results["eval_examples"] > 0
    saved = json.loads((out / "all_results.json").read_text(encoding="utf-8"))
    assert saved["arguments"]["preset"] == "d2l-small" and saved["arguments"]["learning_rate"] == 0.01

    model = AutoModelForPreTraining.from_pretrained(out)
    assert isinstance(model, HfpBertForPreTraining) and model.config.hidden_size == 128
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert len(tokenizer) == model.config.vocab_size and tokenizer.mask_token == "<mask>"
    card = ModelCard.load(out / "README.md")
    assert "fill-mask" in card.data.tags and card.data.eval_results
    fill = pipeline("fill-mask", model=str(out / "transformers"), device="cpu")
    assert len(fill("the european lobster is a <mask> of lobster", top_k=2)) == 2


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
    batch = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids),
             "token_type_ids": torch.zeros_like(input_ids), "labels": labels,
             "next_sentence_label": torch.tensor([0, 1, 0])}
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
    that run; seed 42 measured 5.53 and 0.766."""
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
            examples += [tuple(row[mask.bool()].tolist()) for row, mask in zip(batch["input_ids"], batch["attention_mask"])]
        return 1 - real / padded, examples

    plain_padding, plain = padding_and_examples()
    grouped_padding, grouped = padding_and_examples(group_by_length=True)
    assert len(grouped) == len(plain) == len(data)
    assert grouped_padding < plain_padding / 2
