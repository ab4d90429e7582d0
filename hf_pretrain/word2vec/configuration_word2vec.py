"""Configuration of word2vec models (skip-gram / CBOW, negative sampling / hierarchical softmax)."""

from transformers import PretrainedConfig

ARCHITECTURES = ("skipgram", "cbow")
LOSSES = ("negative_sampling", "hierarchical_softmax")
CBOW_COMBINERS = ("mean", "sum")
INITIALIZERS = ("word2vec", "xavier_uniform")


class Word2VecConfig(PretrainedConfig):
    r"""
    Args:
        vocab_size: number of words, the unknown token included.
        embedding_dim: size of each word vector.
        architecture: `"skipgram"` (predict the context from a word) or `"cbow"` (predict a word from
            its context).
        loss: `"negative_sampling"` or `"hierarchical_softmax"` (Huffman tree over the word counts).
        cbow_combiner: `"mean"` or `"sum"` of the context vectors (CBOW only).
        window: maximum distance between a centre word and a context word.
        shrink_windows: draw each centre's window uniformly from 1..window, as word2vec.c.
        num_negatives: noise words per positive example (negative sampling only).
        ns_exponent: noise distribution P(w) ∝ count(w)^ns_exponent.
        sample: subsampling threshold t (0 disables subsampling).
        sample_rule: `"word2vec"` (keep = (sqrt(f/t) + 1) t/f) or `"d2l"` (keep = sqrt(t/f)).
        negative_sharing: CBOW with negative sampling only: this many consecutive centre words share
            one draw of noise words, which turns the noise scores into small matrix products (1 draws
            per centre, as word2vec.c).
        max_row_updates: in `sgd_step`, a row updated more often than this within one batch has its
            summed update scaled down to this many updates' worth (0 disables the cap).
        initializer: `"word2vec"` (input vectors uniform in ±0.5/dim, output vectors zero) or
            `"xavier_uniform"` (both tables, as the book's training function initialises them).
    """

    model_type = "word2vec"

    def __init__(
        self,
        vocab_size: int = 2,
        embedding_dim: int = 100,
        architecture: str = "skipgram",
        loss: str = "negative_sampling",
        cbow_combiner: str = "mean",
        window: int = 5,
        shrink_windows: bool = True,
        num_negatives: int = 5,
        ns_exponent: float = 0.75,
        sample: float = 1e-3,
        sample_rule: str = "word2vec",
        initializer: str = "word2vec",
        negative_sharing: int = 1,
        max_row_updates: int = 32,
        **kwargs,
    ):
        checks = {
            "architecture": (architecture, ARCHITECTURES),
            "loss": (loss, LOSSES),
            "cbow_combiner": (cbow_combiner, CBOW_COMBINERS),
            "sample_rule": (sample_rule, ("word2vec", "d2l")),
            "initializer": (initializer, INITIALIZERS),
        }
        for name, (value, allowed) in checks.items():
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        for name, value, low in (
            ("vocab_size", vocab_size, 2),
            ("embedding_dim", embedding_dim, 1),
            ("window", window, 1),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if loss == "negative_sampling" and (not isinstance(num_negatives, int) or num_negatives < 1):
            raise ValueError(f"num_negatives must be an integer >= 1, got {num_negatives!r}")
        if not isinstance(negative_sharing, int) or negative_sharing < 1:
            raise ValueError(f"negative_sharing must be an integer >= 1, got {negative_sharing!r}")
        if negative_sharing > 1 and (architecture, loss) != ("cbow", "negative_sampling"):
            raise ValueError("negative_sharing > 1 applies to CBOW with negative sampling only")
        if not isinstance(sample, (int, float)) or sample < 0:
            raise ValueError(f"sample must be a number >= 0, got {sample!r}")
        if isinstance(ns_exponent, bool) or not isinstance(ns_exponent, (int, float)):
            raise ValueError(f"ns_exponent must be a number, got {ns_exponent!r}")
        if not isinstance(shrink_windows, bool):
            raise ValueError(f"shrink_windows must be true or false, got {shrink_windows!r}")
        if not isinstance(max_row_updates, int) or isinstance(max_row_updates, bool) or max_row_updates < 0:
            raise ValueError(f"max_row_updates must be an integer >= 0, got {max_row_updates!r}")
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.architecture = architecture
        self.loss = loss
        self.cbow_combiner = cbow_combiner
        self.window = window
        self.shrink_windows = shrink_windows
        self.num_negatives = num_negatives
        self.ns_exponent = float(ns_exponent)
        self.sample = float(sample)
        self.sample_rule = sample_rule
        self.initializer = initializer
        self.negative_sharing = negative_sharing
        self.max_row_updates = max_row_updates
        super().__init__(**kwargs)

    @property
    def num_output_vectors(self) -> int:
        # Hierarchical softmax scores the V - 1 inner nodes of the Huffman tree instead of the words.
        return self.vocab_size - 1 if self.loss == "hierarchical_softmax" else self.vocab_size
