"""Tokenizers for BERT pretraining, built with `tokenizers` and returned as `PreTrainedTokenizerFast`.

- `train_bpe_tokenizer`: byte pair encoding (Sennrich et al., 2016) learnt from a corpus;
- `build_word_level_tokenizer`: the book's word-level vocabulary (every word seen `min_frequency`
  times, the rest `<unk>`).

Both add BERT's template: `[CLS] A [SEP]` for one text, `[CLS] A [SEP] B [SEP]` for a pair, with
token_type_ids 0 up to and including the first `[SEP]` and 1 after it. The returned tokenizer saves
a folder that `AutoTokenizer.from_pretrained` loads.

`special_tokens` lists the five tokens by role, in this order: padding, unknown, classification,
separator, mask. They get ids 0-4 in that order.
"""

from __future__ import annotations

import json
from typing import Iterable, Iterator, Sequence

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from .vocab import count_words, word_pipeline

__all__ = [
    "BERT_SPECIAL_TOKENS",
    "D2L_SPECIAL_TOKENS",
    "bpe_merges",
    "build_word_level_tokenizer",
    "train_bpe_tokenizer",
]

BERT_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# The book's reserved tokens ('<pad>', '<mask>', '<cls>', '<sep>' and '<unk>'), in role order.
D2L_SPECIAL_TOKENS = ("<pad>", "<unk>", "<cls>", "<sep>", "<mask>")
SUBWORD_PREFIX = "##"
_ROLES = ("pad_token", "unk_token", "cls_token", "sep_token", "mask_token")
_BATCH = 1000


def train_bpe_tokenizer(
    texts: Iterable[str],
    vocab_size: int = 30000,
    min_frequency: int = 2,
    lowercase: bool = False,
    special_tokens: Sequence[str] = BERT_SPECIAL_TOKENS,
    split_punctuation: bool = False,
    model_max_length: int | None = None,
) -> PreTrainedTokenizerFast:
    """Learn a BPE vocabulary of `vocab_size` symbols (special tokens and the character alphabet
    included) from `texts`; a merge must occur at least `min_frequency` times.

    Words are whitespace-separated, as in WikiText and the book's corpora (so `<unk>` or `@-@` stay
    single words); `split_punctuation=True` also splits punctuation off words, for raw text. A
    subword that continues a word carries the `##` prefix, as BERT's WordPiece pieces do, so
    decoding rejoins the pieces of a word.
    """
    roles = _check_special_tokens(special_tokens)
    if not isinstance(vocab_size, int) or vocab_size <= len(special_tokens):
        raise ValueError(
            f"vocab_size must be an integer > {len(special_tokens)} (the special tokens), got {vocab_size!r}"
        )
    if not isinstance(min_frequency, int) or min_frequency < 1:
        raise ValueError(f"min_frequency must be an integer >= 1, got {min_frequency!r}")
    tokenizer = Tokenizer(models.BPE(unk_token=roles["unk_token"], continuing_subword_prefix=SUBWORD_PREFIX))
    _set_text_processing(
        tokenizer, lowercase, pre_tokenizers.Whitespace() if split_punctuation else pre_tokenizers.WhitespaceSplit()
    )
    tokenizer.decoder = decoders.WordPiece(prefix=SUBWORD_PREFIX)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(special_tokens),
        continuing_subword_prefix=SUBWORD_PREFIX,
        show_progress=False,
    )
    tokenizer.train_from_iterator(_batches(texts), trainer)
    return _wrap(tokenizer, roles, model_max_length)


def build_word_level_tokenizer(
    texts: Iterable[str],
    min_frequency: int = 5,
    lowercase: bool = False,
    special_tokens: Sequence[str] = D2L_SPECIAL_TOKENS,
    model_max_length: int | None = None,
) -> PreTrainedTokenizerFast:
    """One id per whitespace-separated word seen at least `min_frequency` times (the book's
    `d2l.Vocab`); every other word maps to the unknown token.

    Ids: the special tokens (0-4), then words by decreasing count, ties in alphabetical order. A
    literal unknown token in the text (WikiText-2's `<unk>`) is that special token, not a second
    entry.
    """
    roles = _check_special_tokens(special_tokens)
    if not isinstance(min_frequency, int) or min_frequency < 1:
        raise ValueError(f"min_frequency must be an integer >= 1, got {min_frequency!r}")
    # Counted here rather than with `WordLevelTrainer`: when a special token also occurs in the
    # corpus, the trainer gives it a second id and leaves a hole in the id range. `count_words`
    # reads words through the same normalizer and pre-tokenizer as the tokenizer below.
    counter = count_words(texts, lowercase=lowercase)
    reserved = set(special_tokens)
    words = sorted(
        (w for w, c in counter.items() if c >= min_frequency and w not in reserved), key=lambda w: (-counter[w], w)
    )
    vocab = {token: index for index, token in enumerate([*special_tokens, *words])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token=roles["unk_token"]))
    normalizer, pre_tokenizer = word_pipeline(lowercase)
    if normalizer is not None:
        tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    return _wrap(tokenizer, roles, model_max_length)


def bpe_merges(tokenizer: Tokenizer | PreTrainedTokenizerFast) -> list[tuple[str, str]]:
    """The merges of a BPE tokenizer in the order they were learnt, read from its saved JSON."""
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    model = json.loads(backend.to_str())["model"]
    if model.get("type") != "BPE":
        raise ValueError(f"not a BPE tokenizer (model type {model.get('type')!r})")
    # Older `tokenizers` releases store each merge as one "left right" string.
    return [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]


def _check_special_tokens(special_tokens: Sequence[str]) -> dict[str, str]:
    if isinstance(special_tokens, str) or len(special_tokens) != len(_ROLES):
        raise ValueError(f"special_tokens must list {len(_ROLES)} tokens ({', '.join(_ROLES)}), got {special_tokens!r}")
    if len(set(special_tokens)) != len(special_tokens) or not all(
        isinstance(t, str) and t.strip() for t in special_tokens
    ):
        raise ValueError(f"special_tokens must be distinct non-empty strings, got {special_tokens!r}")
    return dict(zip(_ROLES, special_tokens))


def _set_text_processing(tokenizer: Tokenizer, lowercase: bool, pre_tokenizer) -> None:
    if lowercase:
        tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizer


def _wrap(tokenizer: Tokenizer, roles: dict[str, str], model_max_length: int | None) -> PreTrainedTokenizerFast:
    cls, sep = roles["cls_token"], roles["sep_token"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}",
        pair=f"{cls} $A {sep} $B:1 {sep}:1",
        special_tokens=[(cls, tokenizer.token_to_id(cls)), (sep, tokenizer.token_to_id(sep))],
    )
    extra = {} if model_max_length is None else {"model_max_length": model_max_length}
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        # Without token_type_ids in the inputs a pair would reach BERT as one segment.
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
        **roles,
        **extra,
    )


def _batches(texts: Iterable[str]) -> Iterator[list[str]]:
    batch = []
    for text in texts:
        batch.append(text)
        if len(batch) == _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
