import json
import lzma
import socket
import time
from pathlib import Path

import datasets
import pytest

from hf_pretrain.core import corpus as corpus_module
from hf_pretrain.core.corpus import KNOWN_CORPORA, CorpusError, load_corpus

WIKITEXT2_LINES = {"train": 36_718, "validation": 3_760, "test": 4_358}
WIKITEXT2_FILES = {"train": "wiki.train.tokens", "validation": "wiki.valid.tokens", "test": "wiki.test.tokens"}
OFFLINE_VARS = ("HF_PRETRAIN_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    # Keep load_dataset's Arrow cache out of the user's cache, and start every test online
    # with no local PTB override so the environment cannot change the outcome.
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    # datasets reads HF_HUB_OFFLINE once at import; CI exports it, so reset the copy too.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    for var in OFFLINE_VARS + (corpus_module.PTB_DIR_ENV,):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def offline(monkeypatch, no_network):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8", newline="")
    return path


# ------------------------------------------------------------------------ packaged wikitext


def test_corpus_error_is_value_error():
    assert issubclass(CorpusError, ValueError)
    assert set(KNOWN_CORPORA) == {"wikitext-2", "wikitext-2-raw", "ptb"}


def test_packaged_wikitext2_row_counts_and_first_line(no_network):
    corpus = load_corpus("wikitext-2")
    assert isinstance(corpus, datasets.DatasetDict)
    assert {s: corpus[s].num_rows for s in corpus} == WIKITEXT2_LINES
    assert corpus["train"].column_names == ["text"]
    train = corpus["train"]["text"][:3]
    assert train == [" ", " = Valkyria Chronicles III = ", " "]
    assert corpus["validation"][1]["text"] == " = Homarus gammarus = "


@pytest.mark.integration
@pytest.mark.parametrize("split", list(WIKITEXT2_LINES))
def test_packaged_wikitext2_matches_reference_files(shared_data, split):
    reference = (shared_data / "wikitext-2" / WIKITEXT2_FILES[split]).read_bytes()
    lines = load_corpus("wikitext-2", split=split)["text"]
    assert ("\n".join(lines) + "\n").encode("utf-8") == reference
    first = next(line for line in reference.decode("utf-8").split("\n") if line.strip())
    assert next(line for line in lines if line.strip()) == first


@pytest.mark.parametrize("var", OFFLINE_VARS)
def test_wikitext2_offline_uses_packaged_copy(monkeypatch, no_network, var):
    monkeypatch.setenv(var, "1")
    corpus = load_corpus("wikitext-2", split="validation")
    assert isinstance(corpus, datasets.Dataset)
    assert corpus.num_rows == WIKITEXT2_LINES["validation"]


def test_wikitext2_prefer_hub_offline_skips_hub(offline):
    assert load_corpus("wikitext-2", prefer_hub=True, split="test").num_rows == WIKITEXT2_LINES["test"]


def test_wikitext2_prefer_hub_falls_back_on_error(monkeypatch):
    calls = []

    def failing_load(*args, **kwargs):
        calls.append(args)
        raise ConnectionError("hub unreachable")

    monkeypatch.setattr(datasets, "load_dataset", failing_load)
    corpus = load_corpus("wikitext-2", prefer_hub=True, split="test")
    assert calls and calls[0][:2] == ("Salesforce/wikitext", "wikitext-2-v1")
    assert corpus.num_rows == WIKITEXT2_LINES["test"]


def test_wikitext2_streaming(no_network):
    corpus = load_corpus("wikitext-2", streaming=True)
    assert isinstance(corpus, datasets.IterableDatasetDict)
    assert set(corpus) == set(WIKITEXT2_LINES)
    rows = list(corpus["validation"])
    assert len(rows) == WIKITEXT2_LINES["validation"]
    assert rows[1] == {"text": " = Homarus gammarus = "}


def test_hub_id_offline_searches_only_the_cache(monkeypatch, no_network):
    # With offline mode set before datasets was imported, a cache-only load is safe to try.
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    assert load_corpus("wikitext-2", split="test").num_rows == WIKITEXT2_LINES["test"]
    start = time.monotonic()
    with pytest.raises(CorpusError, match="offline"):
        load_corpus("someone/some-corpus")
    assert time.monotonic() - start < 5


def test_wikitext2_prefer_hub_strips_line_endings(monkeypatch):
    hub_rows = ["", " = Valkyria Chronicles III = \n", ""]
    calls = []

    def fake_load(*args, **kwargs):
        calls.append((args, kwargs))
        return datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": hub_rows})})

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    corpus = load_corpus("wikitext-2", prefer_hub=True)
    assert calls[0][0] == ("Salesforce/wikitext", "wikitext-2-v1")
    assert corpus["train"]["text"] == ["", " = Valkyria Chronicles III = ", ""]


# --------------------------------------------------------------------- other known corpora


def test_wikitext2_raw_offline_is_clear_error(offline):
    with pytest.raises(CorpusError, match="not packaged") as info:
        load_corpus("wikitext-2-raw")
    assert "local path" in str(info.value)


def test_ptb_offline_without_local_copy(offline):
    with pytest.raises(CorpusError) as info:
        load_corpus("ptb")
    message = str(info.value)
    assert "ptb.train.txt" in message and corpus_module.PTB_DIR_ENV in message


@pytest.mark.integration
def test_ptb_local_directory(shared_data):
    ptb = shared_data / "ptb"
    corpus = load_corpus(ptb)
    assert {s: corpus[s].num_rows for s in corpus} == {"train": 42_068, "validation": 3_370, "test": 3_761}
    first = (ptb / "ptb.train.txt").read_text(encoding="utf-8").split("\n", 1)[0]
    assert corpus["train"][0]["text"] == first


@pytest.mark.integration
def test_ptb_from_env_dir(shared_data, monkeypatch, offline):
    monkeypatch.setenv(corpus_module.PTB_DIR_ENV, str(shared_data / "ptb"))
    assert load_corpus("ptb", split="train").num_rows == 42_068


def test_ptb_env_dir_missing_files(tmp_path, monkeypatch):
    write(tmp_path / "ptb.train.txt", "a b\n")
    monkeypatch.setenv(corpus_module.PTB_DIR_ENV, str(tmp_path))
    with pytest.raises(CorpusError, match="ptb.valid.txt"):
        load_corpus("ptb")


def test_ptb_from_hub_parquet_export(monkeypatch):
    calls = []

    def fake_load(*args, **kwargs):
        calls.append((args, kwargs))
        return datasets.DatasetDict(
            {s: datasets.Dataset.from_dict({"sentence": [f"{s} line"]}) for s in ("train", "validation", "test")}
        )

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    corpus = load_corpus("ptb")
    assert calls[0][0] == ("ptb-text-only/ptb_text_only",)
    assert calls[0][1]["revision"] == "refs/convert/parquet"
    assert corpus["validation"].column_names == ["text"]
    assert corpus["validation"]["text"] == ["validation line"]


def test_hub_id_picks_single_string_column(monkeypatch):
    def fake_load(repo_id, **kwargs):
        assert repo_id == "someone/some-corpus"
        return datasets.DatasetDict({"train": datasets.Dataset.from_dict({"id": [1, 2], "content": ["a", "b"]})})

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    corpus = load_corpus("someone/some-corpus")
    assert corpus["train"].column_names == ["text"]
    assert corpus["train"]["text"] == ["a", "b"]


def test_hub_load_failure_is_corpus_error(monkeypatch):
    def fake_load(*args, **kwargs):
        raise FileNotFoundError("no such dataset")

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    with pytest.raises(CorpusError, match="no such dataset") as info:
        load_corpus("someone/some-corpus")
    assert isinstance(info.value.__cause__, FileNotFoundError)


# ------------------------------------------------------------------------------ local files


def test_single_file(tmp_path):
    path = write(tmp_path / "corpus.txt", "first line\n\n  \r\nlast line without newline")
    corpus = load_corpus(path)
    assert list(corpus) == ["train"]
    assert corpus["train"]["text"] == ["first line", "", "  ", "last line without newline"]
    assert load_corpus(str(path), split="train")["text"][0] == "first line"


def test_list_of_files(tmp_path):
    a = write(tmp_path / "a.txt", "one\ntwo\n")
    b = write(tmp_path / "b.tokens", "three\n")
    corpus = load_corpus([a, str(b)])
    assert list(corpus) == ["train"]
    assert corpus["train"]["text"] == ["one", "two", "three"]


def test_directory_with_splits(tmp_path):
    write(tmp_path / "wiki.train.tokens", "t1\nt2\n")
    write(tmp_path / "dev.txt", "v1\n")
    write(tmp_path / "test.raw", "")  # an empty split stays present
    write(tmp_path / "README.txt", "not corpus text\n")
    write(tmp_path / "sub" / "train.txt", "not searched\n")
    corpus = load_corpus(tmp_path)
    assert list(corpus) == ["train", "validation", "test"]
    assert corpus["train"]["text"] == ["t1", "t2"]
    assert corpus["validation"]["text"] == ["v1"]
    assert corpus["test"].num_rows == 0
    assert load_corpus(tmp_path, split="validation")["text"] == ["v1"]


def test_directory_without_split_names(tmp_path):
    write(tmp_path / "part1.txt", "a\n")
    write(tmp_path / "part2.txt", "b\n")
    write(tmp_path / "LICENSE.txt", "licence\n")
    write(tmp_path / "notes.md", "ignored\n")
    corpus = load_corpus(tmp_path)
    assert list(corpus) == ["train"]
    assert corpus["train"]["text"] == ["a", "b"]


def test_directory_without_text_files(tmp_path):
    write(tmp_path / "data.bin", b"\x00")
    with pytest.raises(CorpusError, match="no text files"):
        load_corpus(tmp_path)


def test_compressed_text_file(tmp_path):
    path = tmp_path / "corpus.txt.xz"
    path.write_bytes(lzma.compress("α\nβ\n".encode("utf-8")))
    assert load_corpus(path)["train"]["text"] == ["α", "β"]


def test_local_streaming(tmp_path):
    write(tmp_path / "train.txt", "a\r\nb\n\n")
    write(tmp_path / "test.txt", "c")
    corpus = load_corpus(tmp_path, streaming=True)
    assert isinstance(corpus, datasets.IterableDatasetDict)
    assert [r["text"] for r in corpus["train"]] == ["a", "b", ""]
    assert [r["text"] for r in corpus["test"]] == ["c"]


def test_unknown_split(tmp_path):
    path = write(tmp_path / "c.txt", "x\n")
    with pytest.raises(CorpusError, match="no split 'test'"):
        load_corpus(path, split="test")


def test_ten_megabyte_single_line(tmp_path):
    path = write(tmp_path / "long.txt", b"x" * (10 * 1024 * 1024))
    corpus = load_corpus(path)
    assert corpus["train"].num_rows == 1
    assert len(corpus["train"][0]["text"]) == 10 * 1024 * 1024


# ------------------------------------------------------------------------------- bad input


def test_unknown_name():
    with pytest.raises(CorpusError) as info:
        load_corpus("no-such-corpus")
    message = str(info.value)
    assert "no-such-corpus" in message
    assert all(name in message for name in KNOWN_CORPORA)


@pytest.mark.parametrize("name", ["missing/corpus.txt", "./missing", "missing.tokens"])
def test_missing_path(name):
    with pytest.raises(CorpusError, match="corpus path does not exist"):
        load_corpus(name)


def test_missing_path_object_and_list(tmp_path):
    with pytest.raises(CorpusError, match="corpus path does not exist"):
        load_corpus(tmp_path / "absent")
    with pytest.raises(CorpusError, match="corpus path does not exist"):
        load_corpus([write(tmp_path / "a.txt", "a\n"), tmp_path / "absent.txt"])


def test_hub_id_offline_fails_fast(offline):
    start = time.monotonic()
    with pytest.raises(CorpusError, match="offline"):
        load_corpus("someone/some-corpus")
    assert time.monotonic() - start < 2


@pytest.mark.parametrize("content", ["", " \n\t\n\r\n  "])
def test_empty_or_whitespace_file(tmp_path, content):
    path = write(tmp_path / "empty.txt", content)
    with pytest.raises(CorpusError, match="empty") as info:
        load_corpus(path)
    assert str(path) in str(info.value)


def test_not_utf8_reports_file_and_offset(tmp_path):
    path = write(tmp_path / "latin1.txt", b"hello\nwor\xffld\n")
    with pytest.raises(CorpusError) as info:
        load_corpus(path)
    message = str(info.value)
    assert str(path) in message
    assert "byte offset 9" in message and "0xff" in message


def test_not_utf8_in_one_file_of_a_directory(tmp_path):
    write(tmp_path / "train.txt", "fine\n")
    bad = write(tmp_path / "valid.txt", b"ok\n\xc3(")
    with pytest.raises(CorpusError, match="byte 0xc3 at byte offset 3") as info:
        load_corpus(tmp_path)
    assert str(bad) in str(info.value)


def test_not_utf8_streaming_raises_when_read(tmp_path):
    path = write(tmp_path / "bad.txt", b"good\nbad \xfe\n")
    corpus = load_corpus(path, streaming=True)
    with pytest.raises(CorpusError, match="byte offset 9"):
        list(corpus["train"])


def test_utf8_offsets_across_chunk_boundaries(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_module, "_CHUNK_SIZE", 4)
    # "é" (2 bytes) straddles the 4-byte boundary, so the decoder holds one byte back.
    path = write(tmp_path / "a.txt", b"abc" + "é".encode("utf-8") + b"xy\xffz")
    with pytest.raises(CorpusError, match="byte offset 7"):
        corpus_module._check_utf8(path)
    # A sequence cut off by the end of the file is reported where it starts.
    path = write(tmp_path / "b.txt", b"abcdef\xe2\x82")
    with pytest.raises(CorpusError, match="byte offset 6"):
        corpus_module._check_utf8(path)
    path = write(tmp_path / "c.txt", "aé€😀 \n".encode("utf-8") * 3)
    assert corpus_module._check_utf8(path) is True


# ---------------------------------------------------------------------------- text columns


def test_jsonl_single_string_column(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(json.dumps({"id": i, "body": f"doc {i}"}) for i in range(3)) + "\n")
    corpus = load_corpus(path)
    assert corpus["train"].column_names == ["text"]
    assert corpus["train"]["text"] == ["doc 0", "doc 1", "doc 2"]


def test_csv_text_column(tmp_path):
    path = write(tmp_path / "docs.csv", "title,body\nA,alpha\nB,beta\n")
    with pytest.raises(CorpusError, match="text_column") as info:
        load_corpus(path)
    assert "'title'" in str(info.value) and "'body'" in str(info.value)
    assert load_corpus(path, text_column="body")["train"]["text"] == ["alpha", "beta"]
    with pytest.raises(CorpusError, match="no column 'missing'"):
        load_corpus(path, text_column="missing")
