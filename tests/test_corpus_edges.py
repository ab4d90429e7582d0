"""Corpus edge cases: what counts as a word, byte order marks, folder layouts, damaged files,
corpora with nothing to learn, named pipes, and a model folder whose vocabulary does not fit."""

import bz2
import gzip
import json
import lzma
import os
import re
import sys
import threading
from collections import Counter
from pathlib import Path

import datasets
import numpy as np
import pytest
from tokenizers import normalizers, pre_tokenizers

from hf_pretrain.core import vocab as vocab_module
from hf_pretrain.core.corpus import CorpusError, load_corpus
from hf_pretrain.core.streaming import build_vocabulary, encode_corpus, training_text
from hf_pretrain.core.tokenization import build_word_level_tokenizer
from hf_pretrain.core.vocab import COUNTS_FILE, Vocabulary, VocabularyError, count_words, word_pipeline

COMPRESS = {"": lambda data: data, ".gz": gzip.compress, ".xz": lzma.compress, ".bz2": bz2.compress}

# Words on which Python and the tokenizers library disagree: a capital sigma ending a word
# (Python's lower() gives a final sigma), the information separators U+001C-U+001F (Python's
# split() splits at them), and letters that only one side's Unicode tables know.
DISPUTED_LINES = [
    "ΟΔΟΣ ΟΔΟΣ ΣΟΣ ΟΔΟΣ.",
    "a\x1fb a\x1fb c\x1cd e\x1df\x1eg a\x1fb",
    "ΟΔΟΣ a\x1fb \u1c89x \U00016ea0y \ua7cbz",
    "plain ascii Words words WORDS",
]


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    # Keep load_dataset's Arrow cache out of the user's cache.
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")


def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def one_line(error) -> str:
    message = str(error.value)
    assert "\n" not in message, message
    return message


def rows(corpus_or_split) -> list[str]:
    return [row["text"] for row in corpus_or_split]


# ------------------------------------------------------------------------------ 17: words


def encoded_words(vocab: Vocabulary, texts) -> list[str]:
    return [token for text in texts for token in vocab.tokenizer.encode(text, add_special_tokens=False).tokens]


@pytest.mark.parametrize("lowercase", [False, True], ids=["cased", "lowercase"])
def test_counted_words_are_the_words_training_encodes(tmp_path, lowercase):
    vocab = Vocabulary.build(DISPUTED_LINES, min_count=1, unk_policy="keep", lowercase=lowercase)
    # Every counted word is a word the encoder produces, and nothing encodes to <unk>.
    assert set(encoded_words(vocab, DISPUTED_LINES)) == set(vocab.index_to_word[1:])
    encoded = vocab.encode(DISPUTED_LINES)
    counts = np.bincount(encoded.ids, minlength=len(vocab))
    np.testing.assert_array_equal(counts, vocab.counts)
    assert counts[vocab.unk_id] == 0 and encoded.raw_words == int(vocab.counts.sum())
    if lowercase:
        assert "οδοσ" in vocab.index_to_word and "a\x1fb" in vocab.index_to_word
    # What is exported is what was counted.
    vocab.save(tmp_path)
    saved = json.loads((tmp_path / COUNTS_FILE).read_text(encoding="utf-8"))
    assert saved["counts"] == vocab.counts.tolist()
    np.testing.assert_array_equal(
        np.bincount(Vocabulary.load(tmp_path).encode(DISPUTED_LINES).ids, minlength=len(vocab)), counts
    )


def test_streamed_counting_gives_the_words_training_encodes(tmp_path):
    path = write(tmp_path / "greek.txt", "\n".join(DISPUTED_LINES) + "\n")
    stream = training_text(str(path), streaming=True)
    vocab = build_vocabulary(stream, min_count=1, unk_policy="keep", lowercase=True)
    chunks = list(encode_corpus(vocab, stream, chunk_chars=16).chunks())
    ids = np.concatenate([chunk.ids for chunk in chunks])
    np.testing.assert_array_equal(np.bincount(ids, minlength=len(vocab)), vocab.counts)
    in_memory = build_vocabulary(training_text(str(path)), min_count=1, unk_policy="keep", lowercase=True)
    assert vocab.index_to_word == in_memory.index_to_word


# Every code point Python or Rust takes for whitespace, and some near misses (zero-width space,
# Mongolian vowel separator, word joiner, BOM), between words of several scripts.
SPACES = "".join(chr(c) for c in range(0x3000 + 1) if chr(c).isspace()) + "\u200b\u180e\u2060\ufeff"
MIXED_LINES = [f"Word{space}wörd ΟΔΟΣ{space}中文 词语 {space}end" for space in SPACES] + [
    "",
    "   ",
    "a <unk> b",
    "x<unk>y <unk>z",
    "Straße İstanbul ǅemal ﬁne",
]


@pytest.mark.parametrize("lowercase", [False, True], ids=["cased", "lowercase"])
@pytest.mark.parametrize("lines", [DISPUTED_LINES, MIXED_LINES], ids=["disputed", "mixed"])
def test_encoding_by_split_gives_the_tokenizers_ids(tmp_path, lines, lowercase):
    vocab = Vocabulary.build(lines + ["word wörd <unk>"], min_count=1, unk_policy="keep", lowercase=lowercase)
    by_tokenizer = vocab._tokenizer_ids(lines)
    encoded = vocab.encode(lines)
    np.testing.assert_array_equal(encoded.ids, by_tokenizer[0])
    np.testing.assert_array_equal(np.diff(encoded.offsets), by_tokenizer[1])
    # Lines free of what makes the two differ take the fast route, and it gives the same ids too.
    plain = [line for line in lines if not any(c in line for c in "\x1c\x1d\x1e\x1f<")]
    fast = vocab._split_ids(plain)
    assert fast is not None
    for got, expected in zip(fast, vocab._tokenizer_ids(plain)):
        np.testing.assert_array_equal(got, expected)
    # A saved vocabulary carries <unk> as an added token, which the tokenizer cuts out of "x<unk>y".
    vocab.save(tmp_path)
    loaded = Vocabulary.load(tmp_path)
    np.testing.assert_array_equal(loaded.encode(lines).ids, loaded._tokenizer_ids(lines)[0])


def test_a_tokenizer_of_another_kind_is_encoded_by_the_tokenizer(tmp_path):
    vocab = Vocabulary.build(["a-b c d", "c d"], min_count=1)
    vocab.tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()  # splits at punctuation too
    assert vocab._split_ids(["a-b c"]) is None
    assert vocab.encode(["a-b c"]).ids.tolist() == [vocab.tokenizer.token_to_id("c")]
    vocab.tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    vocab.tokenizer.normalizer = normalizers.NFKC()
    assert vocab._split_ids(["a-b c"]) is None


def test_word_level_bert_tokenizer_knows_every_word_it_counted():
    texts = ["ΟΔΟΣ ΟΔΟΣ a\x1fb a\x1fb"]
    tokenizer = build_word_level_tokenizer(texts, min_frequency=2, lowercase=True)
    ids = tokenizer(texts[0], add_special_tokens=False)["input_ids"]
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.convert_ids_to_tokens(ids) == ["οδοσ", "οδοσ", "a\x1fb", "a\x1fb"]


def test_python_fast_paths_agree_with_the_tokenizer_on_every_character():
    # count_words lets str.split() stand in for WhitespaceSplit outside U+001C-U+001F, and
    # str.lower() for the Lowercase normalizer on the characters it trusts; both must stay exact.
    normalizer, pre_tokenizer = word_pipeline(lowercase=True)
    assert isinstance(normalizer, normalizers.Lowercase) and isinstance(pre_tokenizer, pre_tokenizers.WhitespaceSplit)
    chars = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    spaced = " ".join(f"a{c}b" for c in chars if c not in vocab_module._SPLIT_DISAGREES)
    assert spaced.split() == [word for word, _ in pre_tokenizer.pre_tokenize_str(spaced)]
    trusted = [c for c in chars if vocab_module._LOWER_MAY_DISAGREE.search(c) is None]
    assert len(trusted) > 30_000 and "Σ" not in trusted
    # Between capital letters and at a word's end, where Python's lower() looks at the context.
    for text in ("".join(trusted), "A".join(trusted), " ".join(f"A{c} " for c in trusted)):
        assert text.lower() == normalizer.normalize_str(text)
    # Batching lines does not change the counts.
    lines = [f"x{c}y ΟΔΟΣ" for c in "\x1c\x1f \t"] * 3 + DISPUTED_LINES
    one_by_one = sum((count_words([line], lowercase=True) for line in lines), start=Counter())
    assert count_words(lines, lowercase=True) == one_by_one


# -------------------------------------------------------------------- 18: byte order marks


@pytest.mark.parametrize("streaming", [False, True], ids=["in-memory", "streaming"])
@pytest.mark.parametrize("suffix", list(COMPRESS), ids=["txt", "gz", "xz", "bz2"])
def test_byte_order_mark_starting_a_file_is_dropped(tmp_path, suffix, streaming):
    text = "\ufeffthe cat\r\nthe\n\ufeffmid-file stays\n"
    path = write(tmp_path / f"corpus.txt{suffix}", COMPRESS[suffix](text.encode("utf-8")))
    corpus = load_corpus(path, streaming=streaming)
    assert rows(corpus["train"]) == ["the cat", "the", "\ufeffmid-file stays"]
    vocab = build_vocabulary(rows(corpus["train"]), min_count=2)
    assert vocab.index_to_word == ["<unk>", "the"]


@pytest.mark.parametrize("streaming", [False, True], ids=["in-memory", "streaming"])
def test_byte_order_mark_of_each_file_is_dropped(tmp_path, streaming):
    write(tmp_path / "a.txt", "\ufeffone\n")
    write(tmp_path / "b.txt.gz", gzip.compress("\ufefftwo\n".encode("utf-8")))
    write(tmp_path / "c.tokens", "\ufeffthree")
    assert rows(load_corpus(tmp_path, streaming=streaming)["train"]) == ["one", "two", "three"]


def test_file_of_only_a_byte_order_mark_is_empty(tmp_path):
    path = write(tmp_path / "corpus.txt", "\ufeff \n\n")
    with pytest.raises(CorpusError, match=r"corpus is empty \(or whitespace only\): .*corpus\.txt") as error:
        load_corpus(path)
    one_line(error)


# ------------------------------------------------------------------------- 19: folders


def test_folder_without_split_names_is_all_train(tmp_path):
    write(tmp_path / "books.txt", "b1\nb2\n")
    write(tmp_path / "notes.txt", "n1\n")
    corpus = load_corpus(tmp_path)
    assert list(corpus) == ["train"] and rows(corpus["train"]) == ["b1", "b2", "n1"]
    assert list(training_text(str(tmp_path))) == ["b1", "b2", "n1"]


@pytest.mark.parametrize("streaming", [False, True], ids=["in-memory", "streaming"])
def test_folder_mixing_split_files_and_others_names_the_others(tmp_path, streaming):
    write(tmp_path / "train.txt", "t\n")
    write(tmp_path / "news.txt", "n\n")
    write(tmp_path / "books_2020.txt", "b\n")
    write(tmp_path / "README.txt", "not corpus text\n")
    with pytest.raises(CorpusError) as error:
        load_corpus(tmp_path, streaming=streaming)
    message = one_line(error)
    assert str(tmp_path) in message and "books_2020.txt, news.txt" in message
    assert "README" not in message and "train.txt" not in message


def test_latest_is_not_a_test_split_and_is_not_skipped(tmp_path):
    write(tmp_path / "train.txt", "t\n")
    write(tmp_path / "dev.txt", "v\n")
    write(tmp_path / "latest.txt", "no split name\n")
    with pytest.raises(CorpusError, match=r"fit no split \(latest\.txt\)"):
        load_corpus(tmp_path)


@pytest.mark.parametrize("streaming", [False, True], ids=["in-memory", "streaming"])
def test_training_from_a_folder_without_train_split(tmp_path, streaming):
    write(tmp_path / "valid.txt", "v\n")
    write(tmp_path / "test.txt", "t\n")
    with pytest.raises(CorpusError, match=r"has no split 'train'; splits: \['validation', 'test'\]") as error:
        training_text(str(tmp_path), streaming=streaming)
    assert str(tmp_path) in one_line(error)


# ------------------------------------------------------------------ 20: damaged or useless


def truncated(suffix: str) -> bytes:
    data = COMPRESS[suffix](("hello world\n" * 20_000).encode("utf-8"))
    return data[: len(data) // 2]


@pytest.mark.parametrize("streaming", [False, True], ids=["in-memory", "streaming"])
@pytest.mark.parametrize("suffix", [".gz", ".xz", ".bz2"])
def test_truncated_compressed_file_is_named(tmp_path, suffix, streaming):
    path = write(tmp_path / f"corpus.txt{suffix}", truncated(suffix))
    with pytest.raises(CorpusError, match=rf"{re.escape(str(path))} is truncated or damaged") as error:
        rows(load_corpus(path, streaming=streaming)["train"])
    one_line(error)


def test_truncated_file_is_found_before_loading(tmp_path, monkeypatch):
    path = write(tmp_path / "corpus.txt.gz", truncated(".gz"))

    def refuse(*args, **kwargs):
        raise AssertionError("load_dataset reached with a damaged file")

    monkeypatch.setattr(datasets, "load_dataset", refuse)
    with pytest.raises(CorpusError, match="truncated or damaged"):
        load_corpus(path)


def test_corrupted_and_fake_compressed_files_are_named(tmp_path):
    data = gzip.compress(("hello world\n" * 20_000).encode("utf-8"))
    corrupted = write(tmp_path / "corrupted.txt.gz", data[:20] + bytes(64) + data[84:])
    fake = write(tmp_path / "fake.txt.xz", "plain text\n")
    for path in (corrupted, fake):
        with pytest.raises(CorpusError, match=rf"{re.escape(str(path))} is truncated or damaged"):
            load_corpus(path)


@pytest.mark.parametrize("streaming", [False, True], ids=["in-memory", "streaming"])
def test_corpus_of_only_unknown_tokens(tmp_path, streaming):
    path = write(tmp_path / "unk.txt", "<unk> <unk>\n<unk>\n")
    texts = training_text(str(path), streaming=streaming)
    with pytest.raises(VocabularyError, match="every word of the corpus is the unknown token '<unk>'") as error:
        build_vocabulary(texts, min_count=1)
    message = one_line(error)
    # A stream knows its corpus; a list of lines is named by the caller.
    assert message.startswith(f"{path}: ") == streaming
    with pytest.raises(VocabularyError, match=rf"^{re.escape(str(path))}: no word to learn"):
        build_vocabulary(list(texts), min_count=1, source=str(path))


def test_every_word_below_min_count_names_the_corpus(tmp_path):
    path = write(tmp_path / "rare.txt", "a b c a\n")
    with pytest.raises(
        VocabularyError, match=r"rare\.txt: min_count=5 removes every word \(the most frequent, 'a', occurs 2 times\)"
    ) as error:
        build_vocabulary(training_text(str(path), streaming=True), min_count=5)
    one_line(error)


def feed(path: str, data: bytes) -> threading.Thread:
    """Write `data` into a pipe as a producer process would."""

    def run():
        with open(path, "wb") as f:
            f.write(data)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("streaming", [False, True], ids=["in-memory", "streaming"])
def test_named_pipe_is_read_once(tmp_path, streaming):
    fifo = tmp_path / "corpus.fifo"
    os.mkfifo(fifo)
    writer = feed(str(fifo), "\ufeffone two\r\nthree\n\nfour".encode("utf-8"))
    corpus = load_corpus(fifo, streaming=streaming)
    writer.join(5)
    # A stream can be read again, every epoch, though the pipe is spent.
    assert rows(corpus["train"]) == rows(corpus["train"]) == ["one two", "three", "", "four"]


def test_process_substitution(tmp_path):
    # What bash's <(cat f) passes: /dev/fd/N, the read end of a pipe.
    read_end, write_end = os.pipe()
    os.set_inheritable(read_end, True)
    with os.fdopen(write_end, "wb") as f:
        f.write(b"the cat\nthe dog\n")
    try:
        texts = training_text(f"/dev/fd/{read_end}")
    finally:
        os.close(read_end)
    assert list(texts) == ["the cat", "the dog"]


def test_named_pipe_in_a_list_and_its_errors(tmp_path):
    regular = write(tmp_path / "a.txt", "first\n")
    fifo = tmp_path / "b.fifo"
    os.mkfifo(fifo)
    feed(str(fifo), b"second\n")
    assert rows(load_corpus([regular, fifo])["train"]) == ["first", "second"]

    feed(str(fifo), b"ok\n\xff\n")
    with pytest.raises(CorpusError, match=r"b\.fifo is not valid UTF-8: byte 0xff at byte offset 3"):
        load_corpus(fifo)
    feed(str(fifo), b" \n")
    with pytest.raises(CorpusError, match=r"corpus is empty \(or whitespace only\): .*b\.fifo"):
        load_corpus(fifo)


# --------------------------------------------------------- 22: model folder's vocabulary size


@pytest.mark.parametrize("rows_", [6, 3], ids=["more-rows", "fewer-rows"])
def test_model_folder_whose_vocabulary_does_not_fit_the_weights(tmp_path, rows_):
    from hf_pretrain import Word2VecConfig, Word2VecModel, WordVectors

    vocab = Vocabulary.build(["a b b c c c"], min_count=1)  # 4 words with <unk>
    Word2VecModel(Word2VecConfig(vocab_size=rows_, embedding_dim=3)).save_pretrained(tmp_path)
    vocab.save(tmp_path)
    with pytest.raises(ValueError, match=rf"tokenizer\.json has 4 words but the model has {rows_} word rows") as error:
        WordVectors.from_pretrained(tmp_path)
    assert one_line(error).startswith(f"{tmp_path}: ")


def test_word_counts_that_do_not_fit_the_tokenizer(tmp_path):
    Vocabulary.build(["a b b c c c"], min_count=1).save(tmp_path)
    meta = json.loads((tmp_path / COUNTS_FILE).read_text())
    meta["counts"] = meta["counts"][:-1]
    (tmp_path / COUNTS_FILE).write_text(json.dumps(meta))
    with pytest.raises(
        VocabularyError, match=r"word_counts\.json has 3 counts but tokenizer\.json has 4 words"
    ) as error:
        Vocabulary.load(tmp_path)
    assert str(tmp_path) in one_line(error)
