"""Streaming corpora: a chunk at a time gives what the in-memory corpus gives."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from hf_pretrain.core.arguments import parse_args
from hf_pretrain.core.corpus import load_corpus
from hf_pretrain.core.loop import TrainingArguments
from hf_pretrain.core.streaming import LineStream, StreamingCorpus, build_vocabulary, encode_corpus, training_text
from hf_pretrain.fasttext.train import FastTextArguments, train_fasttext
from hf_pretrain.glove.cooccurrence import build_cooccurrence
from hf_pretrain.glove.train import GloVeArguments, GloVeTrainingArguments, train_glove
from hf_pretrain.word2vec.data import WindowBatches
from hf_pretrain.word2vec.train import Word2VecArguments, train_word2vec

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "tiny_corpus.txt"


@pytest.fixture(scope="module")
def texts():
    return training_text(str(FIXTURE))


@pytest.fixture(scope="module")
def stream():
    return training_text(str(FIXTURE), streaming=True)


def test_a_stream_reads_the_same_lines_every_time(texts, stream):
    assert isinstance(stream, LineStream)
    assert list(stream) == texts
    assert list(stream) == texts  # read again from the start


def test_counting_pass_gives_the_in_memory_vocabulary(texts, stream):
    in_memory = build_vocabulary(texts, min_count=2)
    streamed = build_vocabulary(stream, min_count=2)
    assert streamed.index_to_word == in_memory.index_to_word
    np.testing.assert_array_equal(streamed.counts, in_memory.counts)


@pytest.mark.parametrize("chunk_chars", [1, 5000, 1 << 30])
def test_chunks_put_together_are_the_encoded_corpus(texts, stream, chunk_chars):
    vocab = build_vocabulary(texts, min_count=2)
    whole = vocab.encode(texts)
    corpus = encode_corpus(vocab, stream, chunk_chars=chunk_chars)
    assert isinstance(corpus, StreamingCorpus) and corpus.raw_words == whole.raw_words
    chunks = list(corpus.chunks())
    if chunk_chars == 1:
        assert len(chunks) == len(texts)  # never more than one line per chunk past the limit
    np.testing.assert_array_equal(np.concatenate([c.ids for c in chunks]), whole.ids)
    assert sum(c.raw_words for c in chunks) == whole.raw_words
    lengths = np.concatenate([np.diff(c.offsets) for c in chunks])
    np.testing.assert_array_equal(lengths, np.diff(whole.offsets))


def test_one_chunk_gives_the_in_memory_batches(texts, stream):
    vocab = build_vocabulary(texts, min_count=2)
    kwargs = dict(window=3, batch_size=64)
    memory = WindowBatches(vocab.encode(texts), vocab.training_counts, **kwargs)
    streamed = WindowBatches(encode_corpus(vocab, stream), vocab.training_counts, **kwargs)
    a = list(memory.epoch(torch.Generator().manual_seed(3)))
    b = list(streamed.epoch(torch.Generator().manual_seed(3)))
    assert len(a) == len(b) > 1
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for key in x:
            assert torch.equal(torch.as_tensor(x[key]), torch.as_tensor(y[key])), key


def test_many_chunks_cover_the_corpus_with_rising_word_counts(texts, stream):
    vocab = build_vocabulary(texts, min_count=2)
    corpus = encode_corpus(vocab, stream, chunk_chars=3000)
    batches = list(
        WindowBatches(corpus, vocab.training_counts, window=3, batch_size=64).epoch(torch.Generator().manual_seed(0))
    )
    words = [b["words"] for b in batches]
    assert words == sorted(words) and words[-1] == corpus.raw_words
    assert len(list(corpus.chunks())) > 3


@pytest.mark.parametrize("chunk_chars", [2000, 1 << 30])
def test_streamed_cooccurrence_counts_equal_the_in_memory_ones(texts, stream, chunk_chars):
    vocab = build_vocabulary(texts, min_count=2)
    whole = build_cooccurrence(vocab.encode(texts), len(vocab), window=5)
    streamed = build_cooccurrence(encode_corpus(vocab, stream, chunk_chars=chunk_chars), len(vocab), window=5)
    assert (whole != streamed).nnz == 0 or np.allclose((whole - streamed).data, 0.0, atol=1e-9)
    assert whole.nnz == streamed.nnz


def test_load_corpus_streams_an_iterable_dataset():
    split = load_corpus(str(FIXTURE), streaming=True)["train"]
    first = next(iter(split))
    assert set(first) == {"text"}


RECIPES = {
    "word2vec": (Word2VecArguments, TrainingArguments, train_word2vec, []),
    "glove": (GloVeArguments, GloVeTrainingArguments, train_glove, []),
    "fasttext": (FastTextArguments, TrainingArguments, train_fasttext, ["--bucket", "20000"]),
}


@pytest.mark.parametrize("family", sorted(RECIPES))
def test_streaming_recipe_trains_the_in_memory_model(tmp_path, family):
    """The tiny corpus is one chunk: the streamed run draws the same batches and ends bit-identical."""
    arguments, training_arguments, train, extra = RECIPES[family]
    outputs = {}
    for name, flags in (("memory", []), ("streaming", ["--streaming"])):
        out = tmp_path / name
        args = parse_args(
            [arguments, training_arguments],
            [
                "--dataset",
                str(FIXTURE),
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
                "--num_threads",
                "1",
                "--similarity_file",
                "",
                "--analogy_file",
                "",
                *extra,
                *flags,
            ],
        )
        results = train(*args)
        outputs[name] = (
            load_file(str(out / "model.safetensors")),
            results,
            json.loads((out / "all_results.json").read_text()),
        )
    (memory, memory_results, _), (streamed, streamed_results, saved) = outputs["memory"], outputs["streaming"]
    assert memory.keys() == streamed.keys()
    for key in memory:
        np.testing.assert_array_equal(memory[key], streamed[key], err_msg=key)
    assert streamed_results["train_loss"] == memory_results["train_loss"]
    assert saved["corpus_words"] == memory_results["corpus_words"]


def test_streaming_refuses_the_books_in_memory_pipeline(tmp_path):
    args = parse_args(
        [Word2VecArguments, TrainingArguments],
        ["--dataset", str(FIXTURE), "--output_dir", str(tmp_path / "out"), "--streaming", "--optimizer", "adam"],
    )
    with pytest.raises(ValueError, match="--streaming .*sgd"):
        train_word2vec(*args)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("shard_paragraphs", [3, 10_000])
def test_streamed_bert_pairs_cover_every_pair_of_consecutive_sentences(texts, stream, shard_paragraphs):
    from hf_pretrain.bert.data import BertPretrainingData, StreamingBertData, d2l_wiki_paragraphs
    from hf_pretrain.core.tokenization import build_word_level_tokenizer

    sentences = [s for p in d2l_wiki_paragraphs(texts) for s in p]
    tokenizer = build_word_level_tokenizer(sentences, min_frequency=2)
    memory = BertPretrainingData(texts, tokenizer, max_len=32, seed=0)
    streamed = StreamingBertData(stream, tokenizer, max_len=32, shard_paragraphs=shard_paragraphs)
    assert len(streamed) == len(memory) > 0
    batches = list(streamed.batches(16, torch.Generator().manual_seed(0)))
    sizes = [len(b["input_ids"]) for b in batches]
    # Leftovers at a shard's end open the next batch: only the last batch is short.
    assert all(size == 16 for size in sizes[:-1]) and sum(sizes) == len(memory)
    assert [b["words"] for b in batches][-1] == len(memory)
    labels = torch.cat([b["next_sentence_label"] for b in batches])
    assert 0.3 < float(labels.float().mean()) < 0.7
    masked = torch.cat([(b["labels"] != -100).flatten() for b in batches])
    real = torch.cat([(b["attention_mask"] == 1).flatten() for b in batches])
    assert 0.08 < float(masked.sum() / real.sum()) < 0.2
    again = list(streamed.batches(16, torch.Generator().manual_seed(0)))
    assert all(torch.equal(a["input_ids"], b["input_ids"]) for a, b in zip(batches, again))


def test_streaming_bert_recipe_trains(tmp_path):
    from hf_pretrain.bert.train import BertArguments, BertTrainingArguments, pretrain_bert

    args = parse_args(
        [BertArguments, BertTrainingArguments],
        [
            "--dataset",
            str(FIXTURE),
            "--min_frequency",
            "2",
            "--max_len",
            "32",
            "--batch_size",
            "16",
            "--max_steps",
            "0",
            "--epochs",
            "1",
            "--logging_steps",
            "5",
            "--eval_batches",
            "0",
            "--export_transformers",
            "false",
            "--streaming",
            "--num_threads",
            "1",
            "--output_dir",
            str(tmp_path / "bert"),
        ],
    )
    results = pretrain_bert(*args)
    assert results["train_examples"] == results["examples"] > 0 and np.isfinite(results["train_loss"])
    assert (tmp_path / "bert" / "model.safetensors").is_file()


def test_streamed_bert_data_refuses_bad_inputs(stream, tmp_path):
    from hf_pretrain.bert.data import StreamingBertData, d2l_wiki_sentences
    from hf_pretrain.core.tokenization import build_word_level_tokenizer

    tokenizer = build_word_level_tokenizer(list(d2l_wiki_sentences(stream)), min_frequency=2)
    with pytest.raises(ValueError, match="shard_paragraphs must be >= 2"):
        StreamingBertData(stream, tokenizer, shard_paragraphs=1)
    with pytest.raises(ValueError, match="max_len must be >= 5"):
        StreamingBertData(stream, tokenizer, max_len=4)
    one_paragraph = [next(line for line in stream if len(line.split(" . ")) >= 2)]
    with pytest.raises(ValueError, match="at least 2 paragraphs, got 1"):
        StreamingBertData(one_paragraph, tokenizer)


def test_grouping_by_length_is_refused_with_streaming(tmp_path):
    from hf_pretrain.bert.train import BertArguments, BertTrainingArguments, pretrain_bert

    args = parse_args(
        [BertArguments, BertTrainingArguments],
        ["--dataset", str(FIXTURE), "--streaming", "--group_by_length", "--output_dir", str(tmp_path / "bert")],
    )
    with pytest.raises(ValueError, match="--group_by_length .* not --streaming"):
        pretrain_bert(*args)
    assert not (tmp_path / "bert").exists()
