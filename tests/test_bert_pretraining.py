"""BERT pretraining data (d2l.ai "The Dataset for Pretraining BERT") and the pretraining recipe."""

import json
import random
from pathlib import Path

import pytest
from huggingface_hub import ModelCard
import torch
from transformers import AutoModelForPreTraining, AutoTokenizer, pipeline

from hf_pretrain import HfpBertForPreTraining
from hf_pretrain.arguments import parse_args
from hf_pretrain.data.bert import BertPretrainingData, d2l_wiki_paragraphs, next_sentence_pairs
from hf_pretrain.recipes.bert import BertArguments, BertTrainingArguments, pretrain_bert
from hf_pretrain.tokenization import build_word_level_tokenizer

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
    assert results["mlm_loss"] > 0 and results["nsp_loss"] > 0
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
