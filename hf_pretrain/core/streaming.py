"""Corpora larger than memory: read the lines from a `datasets` stream, encode them a chunk at a time.

The word-vector recipes with `--streaming` make one counting pass over the stream (the vocabulary
and the corpus size, hence the progress bars' totals and ETA), then read the stream again every
epoch and build their training examples chunk by chunk: resident memory follows the chunk size and
the model, never the corpus.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Union

from tqdm.auto import tqdm

from .corpus import corpus_name, load_corpus
from .vocab import EncodedCorpus, Vocabulary

# Characters of text encoded at a time: about 1.4 million words of English.
CHUNK_CHARS = 8 << 20


class LineStream:
    """The lines of one split of a streamed corpus; every iteration reads it again from the start."""

    def __init__(self, dataset, read_batch: int = 4096, source: str | None = None):
        self.dataset = dataset
        self.read_batch = read_batch
        self.source = source  # the corpus, named in errors

    def __iter__(self) -> Iterator[str]:
        for batch in self.dataset.iter(batch_size=self.read_batch):
            yield from batch["text"]


class StreamingCorpus:
    """A `LineStream` encoded with a vocabulary, chunk by chunk.

    `chunks()` yields one `EncodedCorpus` per `chunk_chars` characters of whole lines, so a context
    window, which never crosses a line, loses nothing at a chunk's edge. `raw_words` is the corpus
    size from the vocabulary's counting pass (every whitespace token, as `EncodedCorpus.raw_words`).
    """

    def __init__(self, lines: LineStream, vocab: Vocabulary, chunk_chars: int = CHUNK_CHARS):
        if chunk_chars < 1:
            raise ValueError(f"chunk_chars must be >= 1, got {chunk_chars}")
        self.lines = lines
        self.vocab = vocab
        self.chunk_chars = chunk_chars
        self.raw_words = int(vocab.counts.sum())

    def chunks(self) -> Iterator[EncodedCorpus]:
        buffer: list[str] = []
        size = 0
        for line in self.lines:
            buffer.append(line)
            size += len(line)
            if size >= self.chunk_chars:
                yield self.vocab.encode(buffer)
                buffer, size = [], 0
        if buffer:
            yield self.vocab.encode(buffer)


Corpus = Union[EncodedCorpus, StreamingCorpus]


def corpus_chunks(corpus: Corpus) -> Iterable[EncodedCorpus]:
    """The pieces of a corpus in order: an in-memory corpus is one piece."""
    return corpus.chunks() if isinstance(corpus, StreamingCorpus) else (corpus,)


def training_text(
    dataset, text_column: str | None = None, streaming: bool = False, config_name: str | None = None
) -> Union[list[str], LineStream]:
    """The train split's lines: a list, or with `streaming` a `LineStream` that reads them lazily.

    `dataset` is anything `load_corpus` takes (a name, a path, a Hub id with `config_name`, a
    save_to_disk folder, a `datasets` object). A corpus without a train split is a CorpusError naming
    the splits it has."""
    if not streaming:
        train = load_corpus(dataset, text_column=text_column, split="train", config_name=config_name)
        # One slice gives a plain list in a few ms; iterating the dataset's column (as counting and
        # encoding each would) decodes it row by row, about 0.2 s per pass on WikiText-2.
        return train.with_format(None)[:]["text"]
    corpus = load_corpus(dataset, streaming=True, text_column=text_column, split="train", config_name=config_name)
    return LineStream(corpus, source=corpus_name(dataset))


def build_vocabulary(texts: Union[list[str], LineStream], source: str | None = None, **kwargs) -> Vocabulary:
    """`Vocabulary.build`, with a progress bar over the lines when they are streamed (their number is
    unknown until this pass has read them). `source` (by default a stream's) names the corpus in errors."""
    if isinstance(texts, LineStream):
        source = source or texts.source
        texts = tqdm(texts, desc="counting words", unit=" lines", unit_scale=True, dynamic_ncols=True)
    return Vocabulary.build(texts, source=source, **kwargs)


def encode_corpus(vocab: Vocabulary, texts: Union[list[str], LineStream], chunk_chars: int = CHUNK_CHARS) -> Corpus:
    """The training corpus: encoded in memory, or a `StreamingCorpus` over the stream."""
    if isinstance(texts, LineStream):
        return StreamingCorpus(texts, vocab, chunk_chars)
    return vocab.encode(texts)
