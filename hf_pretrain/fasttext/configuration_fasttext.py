"""Configuration of fastText models: word2vec whose input vectors are composed of subword vectors."""

from transformers import PretrainedConfig

ARCHITECTURES = ("skipgram", "cbow")
LOSSES = ("negative_sampling", "hierarchical_softmax")
COMPOSITIONS = ("mean", "sum")
SUBWORDS = ("char_ngrams", "bpe")


def _integer(name, value, low):
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


class FastTextConfig(PretrainedConfig):
    r"""
    Args:
        vocab_size: number of words, the unknown token included (the first rows of the input table).
        embedding_dim: size of each vector.
        architecture: `"skipgram"` or `"cbow"`, as word2vec.
        loss: `"negative_sampling"` or `"hierarchical_softmax"`, as word2vec.
        window, shrink_windows, num_negatives, ns_exponent, sample, sample_rule, max_row_updates: as
            in `Word2VecConfig`. `sample` defaults to 1e-4, fastText's `-t`. `max_row_updates`
            defaults to 8, not word2vec's 32: a common n-gram row ("ing>", "<th") is shared by
            hundreds of positions of a batch, and with 32 a WikiText-2 run diverged in its first epoch.
        subwords: `"char_ngrams"` (hashed character n-grams of "<word>", as fastText) or `"bpe"` (the
            pieces of a BPE model trained on the corpus).
        minn, maxn: n-gram lengths in characters (char_ngrams); `maxn=0` turns n-grams off.
        bucket: number of hashed n-gram rows (char_ngrams); an n-gram's row is
            `vocab_size + fnv1a(ngram) % bucket`, the layout of fastText's input matrix.
        bpe_vocab_size: number of BPE pieces (bpe); a piece's row is `vocab_size + piece id`.
        composition: a word's vector from its own row and its subword rows: `"mean"` (the fastText
            reference) or `"sum"` (the book's description). In `sgd_step` every row of a composed
            vector gets the full gradient for the mean (the reference's rule) and 1/rows of it for
            the sum, so that either composed vector moves as far as a word2vec vector would.
        num_subword_ids: length of the flat subword-id buffer of the model (set when the subwords of
            the vocabulary are attached; it sizes the buffer when a saved model is loaded).
    """

    model_type = "fasttext"

    def __init__(
        self,
        vocab_size: int = 2,
        embedding_dim: int = 100,
        architecture: str = "skipgram",
        loss: str = "negative_sampling",
        window: int = 5,
        shrink_windows: bool = True,
        num_negatives: int = 5,
        ns_exponent: float = 0.75,
        sample: float = 1e-4,
        sample_rule: str = "word2vec",
        max_row_updates: int = 8,
        subwords: str = "char_ngrams",
        minn: int = 3,
        maxn: int = 6,
        bucket: int = 2_000_000,
        bpe_vocab_size: int = 10_000,
        composition: str = "mean",
        num_subword_ids: int = 0,
        **kwargs,
    ):
        checks = {
            "architecture": (architecture, ARCHITECTURES),
            "loss": (loss, LOSSES),
            "composition": (composition, COMPOSITIONS),
            "subwords": (subwords, SUBWORDS),
            "sample_rule": (sample_rule, ("word2vec", "d2l")),
        }
        for name, (value, allowed) in checks.items():
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        _integer("vocab_size", vocab_size, 2)
        _integer("embedding_dim", embedding_dim, 1)
        _integer("window", window, 1)
        _integer("max_row_updates", max_row_updates, 0)
        _integer("num_subword_ids", num_subword_ids, 0)
        if loss == "negative_sampling":
            _integer("num_negatives", num_negatives, 1)
        if not isinstance(sample, (int, float)) or isinstance(sample, bool) or sample < 0:
            raise ValueError(f"sample must be a number >= 0, got {sample!r}")
        if isinstance(ns_exponent, bool) or not isinstance(ns_exponent, (int, float)):
            raise ValueError(f"ns_exponent must be a number, got {ns_exponent!r}")
        if not isinstance(shrink_windows, bool):
            raise ValueError(f"shrink_windows must be true or false, got {shrink_windows!r}")
        if subwords == "char_ngrams":
            _integer("minn", minn, 1)
            _integer("maxn", maxn, 0)
            if maxn and maxn < minn:
                raise ValueError(f"maxn must be >= minn (or 0 to turn n-grams off), got minn={minn}, maxn={maxn}")
            if maxn:
                _integer("bucket", bucket, 1)
        else:
            _integer("bpe_vocab_size", bpe_vocab_size, 1)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.architecture = architecture
        self.loss = loss
        self.window = window
        self.shrink_windows = shrink_windows
        self.num_negatives = num_negatives
        self.ns_exponent = float(ns_exponent)
        self.sample = float(sample)
        self.sample_rule = sample_rule
        self.max_row_updates = max_row_updates
        self.subwords = subwords
        self.minn = minn
        self.maxn = maxn
        self.bucket = bucket
        self.bpe_vocab_size = bpe_vocab_size
        self.composition = composition
        self.num_subword_ids = num_subword_ids
        super().__init__(**kwargs)

    @property
    def num_subword_rows(self) -> int:
        """Rows of the input table after the word rows."""
        if self.subwords == "bpe":
            return self.bpe_vocab_size
        return self.bucket if self.maxn else 0

    @property
    def num_output_vectors(self) -> int:
        return self.vocab_size - 1 if self.loss == "hierarchical_softmax" else self.vocab_size
