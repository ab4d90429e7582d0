"""Word-level vocabulary: a `tokenizers` WordLevel model plus the word counts.

The tokenizer is what gets saved (`tokenizer.json`, loadable by `AutoTokenizer`); the counts are what
subsampling, negative sampling and Huffman coding need, so they travel beside it as `word_counts.json`.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

COUNTS_FILE = "word_counts.json"
UNK_POLICIES = ("drop", "keep")
# Characters encoded per tokenizer call; a longer line is cut at spaces into pieces of about this size.
ENCODE_BATCH_CHARS = 1 << 20
# Characters counted per batch: large enough that one split() and one Counter.update serve many lines.
COUNT_BATCH_CHARS = 1 << 16
# Python's str.split() also splits at the information separators U+001C-U+001F; the tokenizers'
# WhitespaceSplit (Unicode White_Space) does not. On every other character the two agree.
_SPLIT_DISAGREES = "\x1c\x1d\x1e\x1f"
# str.lower() gives what the Lowercase normalizer gives, much faster, on text made of these
# characters only: Latin, Greek but its capital sigma (which Python lowers to a final sigma at the
# end of a word), Cyrillic, punctuation and symbols, CJK, full-width forms. Elsewhere the two may
# differ: they follow different Unicode versions.
_LOWER_MAY_DISAGREE = re.compile("[^\x00-\u03a2\u03a4-\u052f\u2000-\u2bff\u3000-\u9fff\uff00-\uffef]")


class VocabularyError(ValueError):
    pass


def word_pipeline(lowercase: bool = False) -> tuple[normalizers.Normalizer | None, pre_tokenizers.PreTokenizer]:
    """What makes text into words: the normalizer (None when not lower-casing) and pre-tokenizer of
    every word-level tokenizer here. `count_words` reads text with exactly these."""
    return (normalizers.Lowercase() if lowercase else None), pre_tokenizers.WhitespaceSplit()


def count_words(texts: Iterable[str], lowercase: bool = False) -> Counter:
    """Count the words of `texts` as the tokenizer of `word_pipeline(lowercase)` cuts them, so the
    counts are those of the words that training encodes."""
    normalizer, pre_tokenizer = word_pipeline(lowercase)
    counter: Counter = Counter()
    batch: list[str] = []
    size = 0
    for text in texts:
        for piece in _pieces(text, ENCODE_BATCH_CHARS):
            batch.append(piece)
            size += len(piece)
            if size >= COUNT_BATCH_CHARS:
                counter.update(_words(batch, normalizer, pre_tokenizer))
                batch, size = [], 0
    if batch:
        counter.update(_words(batch, normalizer, pre_tokenizer))
    return counter


def _lowered(lines: list[str], normalizer) -> list[str]:
    """`lines` through the Lowercase `normalizer`, by `str.lower()` wherever the two agree."""
    return [
        line.lower() if line.isascii() or _LOWER_MAY_DISAGREE.search(line) is None else normalizer.normalize_str(line)
        for line in lines
    ]


def _words(lines: list[str], normalizer, pre_tokenizer) -> list[str]:
    """The words of `lines` through `normalizer` and `pre_tokenizer`, with Python doing the work
    where it gives the same result faster."""
    if normalizer is not None:
        lines = _lowered(lines, normalizer)
    # A newline separates words for both splitters, so the lines can be split as one text.
    text = "\n".join(lines)
    if not any(separator in text for separator in _SPLIT_DISAGREES):
        return text.split()
    return [word for word, _ in pre_tokenizer.pre_tokenize_str(text)]


@dataclass
class EncodedCorpus:
    """A corpus as one flat id array; sentence `s` is `ids[offsets[s]:offsets[s + 1]]`.

    `raw_words` counts every whitespace token of the source, before unknown words were dropped, so
    words-per-second figures mean the same thing as gensim's and fastText's.
    """

    ids: np.ndarray
    offsets: np.ndarray
    raw_words: int

    @property
    def num_sentences(self) -> int:
        return len(self.offsets) - 1

    def sentence_ids(self) -> np.ndarray:
        return np.repeat(np.arange(self.num_sentences, dtype=np.int64), np.diff(self.offsets))

    def sentences(self) -> list[np.ndarray]:
        return np.split(self.ids, self.offsets[1:-1])


class Vocabulary:
    """Words in decreasing count order behind the unknown token (always id 0).

    `unk_policy="drop"` removes unknown words from the training stream, as word2vec.c, gensim and d2l
    do; `"keep"` trains `<unk>` like any other word (its count is the sum of everything it replaced).
    `has_counts` is False only for a vocabulary loaded without its counts (`load(require_counts=False)`).
    """

    has_counts = True

    def __init__(self, tokenizer: Tokenizer, counts: Sequence[int], unk_token: str = "<unk>", unk_policy: str = "drop"):
        if unk_policy not in UNK_POLICIES:
            raise VocabularyError(f"unk_policy must be one of {UNK_POLICIES}, got {unk_policy!r}")
        self.tokenizer = tokenizer
        self.counts = np.asarray(counts, dtype=np.int64)
        self.unk_token = unk_token
        self.unk_policy = unk_policy
        self.unk_id = tokenizer.token_to_id(unk_token)
        if len(self.counts) != tokenizer.get_vocab_size():
            raise VocabularyError(f"{len(self.counts)} counts for a tokenizer of {tokenizer.get_vocab_size()} words")
        vocab = tokenizer.get_vocab()
        self._word_index = vocab  # word -> id, for `_split_ids`
        self.index_to_word = [None] * len(vocab)
        for word, index in vocab.items():
            self.index_to_word[index] = word

    @classmethod
    def build(
        cls,
        texts: Iterable[str],
        min_count: int = 5,
        max_vocab_size: int | None = None,
        unk_token: str = "<unk>",
        unk_policy: str = "drop",
        lowercase: bool = False,
        source: str | None = None,
    ) -> "Vocabulary":
        """Words seen `min_count` times or more, most frequent first, at most `max_vocab_size` of them
        with the unknown token; `source` names the corpus in errors."""
        if min_count < 1:
            raise VocabularyError(f"min_count must be >= 1, got {min_count}")
        if max_vocab_size is not None and max_vocab_size < 2:
            raise VocabularyError(f"max_vocab_size must be >= 2 (the unknown token and one word), got {max_vocab_size}")
        counter = count_words(texts, lowercase=lowercase)
        where = f"{source}: " if source else ""
        if not counter:
            raise VocabularyError(f"{where}cannot build a vocabulary from an empty corpus (no words found)")
        # The unknown token is reserved at id 0; a literal "<unk>" in the text (WikiText-2, PTB) joins it.
        unk_count = counter.pop(unk_token, 0)
        if not counter:
            raise VocabularyError(
                f"{where}no word to learn: every word of the corpus is the unknown token {unk_token!r}"
            )
        kept = [(w, c) for w, c in counter.most_common() if c >= min_count]
        if max_vocab_size is not None:
            kept = kept[: max_vocab_size - 1]
        if not kept:
            top = counter.most_common(1)[0]
            raise VocabularyError(
                f"{where}min_count={min_count} removes every word (the most frequent, {top[0]!r}, occurs {top[1]} times)"
            )
        unk_count += sum(counter.values()) - sum(c for _, c in kept)
        words = [unk_token] + [w for w, _ in kept]
        counts = [unk_count] + [c for _, c in kept]
        return cls.from_words(words, counts, unk_token=unk_token, unk_policy=unk_policy, lowercase=lowercase)

    @classmethod
    def from_words(
        cls,
        words: Sequence[str],
        counts: Sequence[int],
        unk_token: str = "<unk>",
        unk_policy: str = "drop",
        lowercase: bool = False,
    ) -> "Vocabulary":
        """A vocabulary with exactly these words in this order (ids 0, 1, ...); `unk_token` must be one of them."""
        index = {w: i for i, w in enumerate(words)}
        if len(index) != len(words):
            duplicate = next(w for i, w in enumerate(words) if index[w] != i)
            raise VocabularyError(f"duplicate word {duplicate!r}; words must be unique")
        if unk_token not in index:
            raise VocabularyError(f"the unknown token {unk_token!r} must be one of the words")
        tokenizer = Tokenizer(models.WordLevel(index, unk_token=unk_token))
        normalizer, tokenizer.pre_tokenizer = word_pipeline(lowercase)
        if normalizer is not None:
            tokenizer.normalizer = normalizer
        return cls(tokenizer, counts, unk_token=unk_token, unk_policy=unk_policy)

    def __len__(self) -> int:
        return len(self.index_to_word)

    @property
    def training_counts(self) -> np.ndarray:
        """Counts as the samplers see them: a dropped `<unk>` is never drawn nor kept."""
        counts = self.counts.copy()
        if self.unk_policy == "drop":
            counts[self.unk_id] = 0
        return counts

    def encode(self, texts: Sequence[str]) -> EncodedCorpus:
        texts = list(texts)
        lengths = np.zeros(len(texts), dtype=np.int64)
        parts: list[np.ndarray] = []
        batch: list[str] = []
        owners: list[int] = []
        size = 0
        raw_words = 0

        def flush() -> None:
            nonlocal raw_words
            ids, counts = self._split_ids(batch) or self._tokenizer_ids(batch)
            raw_words += int(counts.sum())
            if self.unk_policy == "drop":
                # Batch by batch, so that no corpus-sized mask or index outlives its batch.
                keep = ids != self.unk_id
                counts = np.bincount(np.repeat(np.arange(len(counts)), counts)[keep], minlength=len(counts))
                ids = ids[keep]
            parts.append(ids)
            np.add.at(lengths, np.asarray(owners, dtype=np.int64), counts)
            batch.clear()
            owners.clear()

        for sentence, text in enumerate(texts):
            for piece in _pieces(text, ENCODE_BATCH_CHARS):
                batch.append(piece)
                owners.append(sentence)
                size += len(piece)
                if size >= ENCODE_BATCH_CHARS:
                    flush()
                    size = 0
        if batch:
            flush()
        ids = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return EncodedCorpus(ids=ids, offsets=offsets, raw_words=raw_words)

    def _tokenizer_ids(self, lines: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The ids of `lines`, one flat array, and the number of each line's words, by the tokenizer."""
        # Encodings carry tokens and offsets besides ids, several times the ids' size: keep only one
        # batch of them alive at a time.
        encodings = self.tokenizer.encode_batch_fast(lines, add_special_tokens=False)
        counts = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        ids = np.fromiter((i for e in encodings for i in e.ids), dtype=np.int64, count=int(counts.sum()))
        return ids, counts

    def _split_ids(self, lines: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
        """What `_tokenizer_ids` gives, ~3x faster, for the tokenizers `word_pipeline` makes: their
        words are those of Python's `split()` (lower-cased as `_words` does) looked up in the
        WordLevel vocabulary. None where the two could differ: another tokenizer (a loaded folder's
        may have any), an added token inside the text (the tokenizer cuts it out of a word), or the
        separators `split()` alone splits at."""
        lowercase = self._split_lowercase()
        if lowercase is None:
            return None
        joined = "\n".join(lines)
        if any(separator in joined for separator in _SPLIT_DISAGREES):
            return None
        if any(token.content in joined for token in self.tokenizer.get_added_tokens_decoder().values()):
            return None
        if lowercase:
            lines = _lowered(lines, self.tokenizer.normalizer)
        # Arrow splits at exactly the characters str.split() splits at (every code point checked).
        trimmed = pc.utf8_trim_whitespace(pa.array(lines, type=pa.large_string()))
        blank = pc.equal(trimmed, "")  # splits into one empty word
        split = pc.utf8_split_whitespace(trimmed)
        counts = pc.if_else(blank, 0, pc.list_value_length(split)).to_numpy(zero_copy_only=False)
        words = pc.list_flatten(pc.filter(split, pc.invert(blank))).dictionary_encode()
        # The batch's distinct words (a few thousand) are looked up in Python: a lookup table built
        # in Arrow would be rebuilt for every batch, which costs more than the batch for big vocabularies.
        distinct = words.dictionary.to_pylist()
        lookup = np.fromiter(
            map(self._word_index.get, distinct, itertools.repeat(self.unk_id)), dtype=np.int64, count=len(distinct)
        )
        return lookup[words.indices.to_numpy(zero_copy_only=False)], counts.astype(np.int64)

    def _split_lowercase(self) -> bool | None:
        """Whether this tokenizer is `word_pipeline(True)` (True) or `word_pipeline(False)` (False)
        on a WordLevel model that truncates and pads nothing; None for any other tokenizer."""
        tokenizer = self.tokenizer
        plain = (
            isinstance(tokenizer.model, models.WordLevel)
            and isinstance(tokenizer.pre_tokenizer, pre_tokenizers.WhitespaceSplit)
            and tokenizer.truncation is None
            and tokenizer.padding is None
        )
        if not plain:
            return None
        if tokenizer.normalizer is None:
            return False
        return True if isinstance(tokenizer.normalizer, normalizers.Lowercase) else None

    def save(self, directory: str | os.PathLike) -> None:
        from transformers import PreTrainedTokenizerFast

        fast = PreTrainedTokenizerFast(tokenizer_object=self.tokenizer, unk_token=self.unk_token)
        fast.save_pretrained(directory)
        with open(os.path.join(directory, COUNTS_FILE), "w", encoding="utf-8") as f:
            json.dump({"unk_token": self.unk_token, "unk_policy": self.unk_policy, "counts": self.counts.tolist()}, f)

    @classmethod
    def load(cls, directory: str | os.PathLike, require_counts: bool = True) -> "Vocabulary":
        """The vocabulary saved in `directory` by :meth:`save`.

        With `require_counts=False`, a folder holding only `tokenizer.json` (as a plain
        ``tokenizer.save_pretrained`` writes it) is read too: the unknown token comes from the
        tokenizer's WordLevel model (or `tokenizer_config.json`), the unknown-word policy is the
        default `"drop"`, every count is 0 and `has_counts` is False: enough to name vectors, not
        to train (subsampling and negative sampling need the counts)."""
        tokenizer_path = os.path.join(directory, "tokenizer.json")
        counts_path = os.path.join(directory, COUNTS_FILE)
        required = (tokenizer_path, counts_path) if require_counts else (tokenizer_path,)
        for path in required:
            if not os.path.isfile(path):
                raise VocabularyError(f"no vocabulary in {directory}: {os.path.basename(path)} is missing")
        tokenizer = Tokenizer.from_file(tokenizer_path)
        if not os.path.isfile(counts_path):
            unk_token = _saved_unk_token(directory, tokenizer)
            vocab = cls(tokenizer, [0] * tokenizer.get_vocab_size(), unk_token, "drop")
            vocab.has_counts = False
            return vocab
        with open(counts_path, encoding="utf-8") as f:
            meta = json.load(f)
        if len(meta["counts"]) != tokenizer.get_vocab_size():
            raise VocabularyError(
                f"{directory}: {COUNTS_FILE} has {len(meta['counts'])} counts but tokenizer.json has "
                f"{tokenizer.get_vocab_size()} words; they must come from the same vocabulary"
            )
        return cls(tokenizer, meta["counts"], meta["unk_token"], meta["unk_policy"])


def _saved_unk_token(directory, tokenizer: Tokenizer) -> str:
    """The unknown token of a tokenizer saved without `word_counts.json`: its WordLevel model's, else
    `tokenizer_config.json`'s, else "<unk>"."""
    unk = getattr(tokenizer.model, "unk_token", None)
    if isinstance(unk, str) and unk:
        return unk
    config_path = os.path.join(directory, "tokenizer_config.json")
    if os.path.isfile(config_path):
        with open(config_path, encoding="utf-8") as f:
            unk = json.load(f).get("unk_token")
        if isinstance(unk, dict):  # an AddedToken written out
            unk = unk.get("content")
        if isinstance(unk, str) and unk:
            return unk
    return "<unk>"


def _pieces(text: str, limit: int) -> Iterable[str]:
    """`text` cut at spaces into pieces of about `limit` characters, so that one huge line (a whole
    corpus without newlines) is encoded piece by piece. The tokenizer splits at whitespace, so the
    pieces' ids put together are the line's ids; a piece without a space goes whole."""
    start = 0
    while len(text) - start > limit:
        cut = text.find(" ", start + limit)
        if cut < 0:
            break
        yield text[start:cut]
        start = cut
    yield text[start:]
