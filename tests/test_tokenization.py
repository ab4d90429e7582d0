"""BPE and word-level tokenizers for BERT (d2l.ai "Subword Embedding" and "The Dataset for Pretraining BERT")."""

import collections
import json
import string
from pathlib import Path

import pytest
from tokenizers import Tokenizer, models, trainers
from transformers import AutoTokenizer

from hf_pretrain.bert.data import d2l_wiki_paragraphs
from hf_pretrain.core.arguments import parse_args
from hf_pretrain.core.bpe import BpeArguments, train_bpe
from hf_pretrain.core.publish import OutputDirError
from hf_pretrain.core.tokenization import (
    bpe_merges,
    build_word_level_tokenizer,
    train_bpe_tokenizer,
)

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "tiny_corpus.txt"

# The book's toy corpus: words with their end-of-word symbol "_" and their counts.
BOOK_TOKEN_FREQS = {"fast_": 4, "faster_": 3, "tall_": 5, "taller_": 4}
BOOK_SYMBOLS = [*string.ascii_lowercase, "_", "[UNK]"]
BOOK_MERGES = [
    ("t", "a"),
    ("ta", "l"),
    ("tal", "l"),
    ("f", "a"),
    ("fa", "s"),
    ("fas", "t"),
    ("e", "r"),
    ("er", "_"),
    ("tall", "_"),
    ("fast", "_"),
]
# What `tokenizers` learns from the same counts: identical pair counts at every step, other choices
# among tied pairs (see `test_book_bpe_example`).
TOKENIZERS_MERGES = [
    ("a", "l"),
    ("t", "al"),
    ("tal", "l"),
    ("a", "s"),
    ("e", "r"),
    ("f", "as"),
    ("er", "_"),
    ("fas", "t"),
    ("tall", "_"),
    ("tall", "er_"),
]


def book_bpe(token_freqs: dict[str, int], num_merges: int) -> list[tuple[str, str]]:
    """The book's `get_max_freq_pair` / `merge_symbols` loop, on words as space-separated symbols."""
    words = {" ".join(word): freq for word, freq in token_freqs.items()}
    merges = []
    for _ in range(num_merges):
        pairs = _pair_counts(words)
        best = max(pairs, key=pairs.get)  # the first pair seen among those with the top count
        merges.append(best)
        words = {word.replace(" ".join(best), "".join(best)): freq for word, freq in words.items()}
    return merges


def _pair_counts(words: dict[str, int]) -> collections.Counter:
    pairs = collections.Counter()
    for word, freq in words.items():
        symbols = word.split()
        for pair in zip(symbols, symbols[1:]):
            pairs[pair] += freq
    return pairs


def replay(merges) -> list[tuple[int, int]]:
    """(count of the merged pair, highest pair count) at each step of applying `merges` in order."""
    words = {" ".join(word): freq for word, freq in BOOK_TOKEN_FREQS.items()}
    steps = []
    for merge in merges:
        pairs = _pair_counts(words)
        steps.append((pairs[merge], max(pairs.values())))
        words = {word.replace(" ".join(merge), "".join(merge)): freq for word, freq in words.items()}
    return steps


def book_bpe_tokenizer(merges=None) -> Tokenizer:
    """A `tokenizers` BPE over exactly the book's symbols and no pre-tokenizer, so `_` is an ordinary
    symbol inside a word. Without `merges` it is trained on the book's counts; with them it applies
    those merges."""
    if merges is not None:
        vocab = {symbol: index for index, symbol in enumerate(BOOK_SYMBOLS)}
        for left, right in merges:
            vocab[left + right] = len(vocab)
        return Tokenizer(models.BPE(vocab, list(merges), unk_token="[UNK]"))
    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    alphabet = BOOK_SYMBOLS[:-1]
    trainer = trainers.BpeTrainer(
        vocab_size=len(BOOK_SYMBOLS) + 10,
        min_frequency=1,
        special_tokens=["[UNK]"],
        initial_alphabet=alphabet,
        limit_alphabet=len(alphabet),
        show_progress=False,
    )
    tokenizer.train_from_iterator([word for word, freq in BOOK_TOKEN_FREQS.items() for _ in range(freq)], trainer)
    return tokenizer


def segment(tokenizer: Tokenizer, word: str) -> str:
    return " ".join(tokenizer.encode(word).tokens)


def test_book_bpe_example(tmp_path):
    """The book's 10 merges, and what `tokenizers` learns from the same data.

    Both learn a merge at a time, always of a pair with the highest count, and the counts agree at
    every step; they differ only in which pair wins a tie. The book's `max` over a dict returns the
    tied pair seen first while scanning the words in insertion order ('fast_' first). `tokenizers`'
    BpeTrainer returns the tied pair with the smallest token ids, compared left id first: special
    tokens come first, then the alphabet in code-point order ('_' < 'a' < ... < 'z'), then each new
    symbol gets the next id. Hence:
    - count 9: (a,l) (t,al) (tal,l) instead of (t,a) (ta,l) (tal,l): both end at 'tall', through
      'al'/'tal' instead of 'ta'/'tal';
    - count 7: (a,s) (e,r) (f,as) (er,_) (fas,t) instead of (f,a) (fa,s) (fas,t) (e,r) (er,_): 'fa'
      never forms ('as' does);
    - count 4, the last merge: (tall,er_) instead of (fast,_), since 'tall' was created before
      'fast' and has the smaller id.
    So `tokenizers` segments fast_ as "fast _" and keeps taller_ whole, and fatter_ becomes
    "f a t t er_" instead of the book's "fa t t er_". Given the book's merges, `tokenizers`' BPE
    model segments exactly as the book does.
    """
    assert book_bpe(BOOK_TOKEN_FREQS, 10) == BOOK_MERGES

    trained = book_bpe_tokenizer()
    path = tmp_path / "book_bpe.json"
    trained.save(str(path))
    saved = json.loads(path.read_text(encoding="utf-8"))["model"]
    assert [tuple(m) for m in saved["merges"]] == TOKENIZERS_MERGES
    assert bpe_merges(trained) == TOKENIZERS_MERGES
    assert trained.get_vocab_size() == len(BOOK_SYMBOLS) + 10
    # Each merge, in both orders, is of a pair with the top count at its step: only ties differ.
    assert (
        replay(BOOK_MERGES)
        == replay(TOKENIZERS_MERGES)
        == [(9, 9), (9, 9), (9, 9), (7, 7), (7, 7), (7, 7), (7, 7), (7, 7), (5, 5), (4, 4)]
    )
    assert [segment(trained, w) for w in BOOK_TOKEN_FREQS] == ["fast _", "fast er_", "tall_", "taller_"]
    assert segment(trained, "tallest_") == "tall e s t _"
    assert segment(trained, "fatter_") == "f a t t er_"

    book = book_bpe_tokenizer(BOOK_MERGES)
    assert [segment(book, w) for w in BOOK_TOKEN_FREQS] == ["fast_", "fast er_", "tall_", "tall er_"]
    assert segment(book, "tallest_") == "tall e s t _"
    assert segment(book, "fatter_") == "fa t t er_"


TEXTS = [
    "the taller tree is the tallest tree in the forest",
    "i went to the bank to deposit cash",
    "i went to the bank to sit down",
    "a faster runner is the fastest runner",
] * 20


def test_bpe_tokenizer_bert_template_and_round_trip(tmp_path):
    tokenizer = train_bpe_tokenizer(TEXTS, vocab_size=120, min_frequency=2)
    assert len(tokenizer) <= 120
    assert [tokenizer.convert_ids_to_tokens(i) for i in range(5)] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert (
        tokenizer.pad_token,
        tokenizer.unk_token,
        tokenizer.cls_token,
        tokenizer.sep_token,
        tokenizer.mask_token,
    ) == (
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
    )
    single = tokenizer("the tallest tree")
    tokens = tokenizer.convert_ids_to_tokens(single["input_ids"])
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    assert set(single["token_type_ids"]) == {0}

    pair = tokenizer("the tallest tree", "i went to the [MASK]")
    tokens = tokenizer.convert_ids_to_tokens(pair["input_ids"])
    first_sep = tokens.index("[SEP]")
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and "[MASK]" in tokens
    assert pair["token_type_ids"] == [0] * (first_sep + 1) + [1] * (len(tokens) - first_sep - 1)
    assert tokenizer.decode(pair["input_ids"], skip_special_tokens=True) == "the tallest tree i went to the"

    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded("the tallest tree", "i went to the [MASK]") == pair
    assert loaded.mask_token_id == 4 and loaded.pad_token_id == 0
    batch = loaded(["the tree", "i went to the bank to deposit cash"], padding=True, return_tensors="pt")
    assert batch["input_ids"][0, -1] == loaded.pad_token_id and batch["attention_mask"][0, -1] == 0


def test_bpe_tokenizer_subwords_lowercase_and_errors():
    tokenizer = train_bpe_tokenizer(TEXTS, vocab_size=60, min_frequency=2, lowercase=True)
    tokens = tokenizer.tokenize("The TALLEST forest")
    assert all(t == t.lower() for t in tokens)
    assert any(t.startswith("##") for t in tokens)  # 60 symbols cannot hold every word
    assert (
        tokenizer.decode(tokenizer("The TALLEST forest")["input_ids"], skip_special_tokens=True) == "the tallest forest"
    )
    with pytest.raises(ValueError, match="special_tokens"):
        train_bpe_tokenizer(TEXTS, special_tokens=("[PAD]", "[UNK]"))
    with pytest.raises(ValueError, match="distinct"):
        train_bpe_tokenizer(TEXTS, special_tokens=("[PAD]", "[PAD]", "[CLS]", "[SEP]", "[MASK]"))
    with pytest.raises(ValueError, match="vocab_size"):
        train_bpe_tokenizer(TEXTS, vocab_size=3)
    with pytest.raises(ValueError, match="min_frequency"):
        train_bpe_tokenizer(TEXTS, min_frequency=0)


def test_word_level_tokenizer():
    texts = ["b a <unk> a", "c a b", "d"]
    tokenizer = build_word_level_tokenizer(texts, min_frequency=2)
    vocab = tokenizer.get_vocab()
    # The literal "<unk>" of the text is the special token, not a second entry.
    assert vocab == {"<pad>": 0, "<unk>": 1, "<cls>": 2, "<sep>": 3, "<mask>": 4, "a": 5, "b": 6}
    encoded = tokenizer("a b c", "b <mask>")
    assert tokenizer.convert_ids_to_tokens(encoded["input_ids"]) == [
        "<cls>",
        "a",
        "b",
        "<unk>",
        "<sep>",
        "b",
        "<mask>",
        "<sep>",
    ]
    assert encoded["token_type_ids"] == [0, 0, 0, 0, 0, 1, 1, 1]
    assert tokenizer.decode(encoded["input_ids"], skip_special_tokens=True) == "a b b"


def test_d2l_wiki_paragraphs():
    lines = [" A b . C d . \n", " one sentence only \n", " = = Title = = \n", "x . y\n"]
    assert d2l_wiki_paragraphs(lines) == [["a b", "c d ."], ["x", "y"]]


def test_train_bpe_recipe(tmp_path):
    out = tmp_path / "bpe"
    (args,) = parse_args(
        [BpeArguments], ["--dataset", str(FIXTURE), "--vocab_size", "300", "--lowercase", "--output_dir", str(out)]
    )
    results = train_bpe(args)
    assert results["vocab_size"] == 300
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert len(tokenizer) == 300 and tokenizer.mask_token == "[MASK]"
    assert tokenizer.tokenize("The European lobster")[0] == "the"
    with pytest.raises(OutputDirError, match="overwrite_output_dir"):
        train_bpe(args)


@pytest.mark.integration
def test_word_level_vocabulary_matches_the_book(shared_data):
    """The book's BERT vocabulary on WikiText-2: 20256 tokens."""
    with open(shared_data / "wikitext-2" / "wiki.train.tokens", encoding="utf-8") as f:
        paragraphs = d2l_wiki_paragraphs(f.readlines())
    sentences = [sentence for paragraph in paragraphs for sentence in paragraph]
    tokenizer = build_word_level_tokenizer(sentences, min_frequency=5)
    assert len(tokenizer) == 20256
    assert sorted(tokenizer.get_vocab().values()) == list(range(20256))
