"""Configuration of GloVe models (Pennington, Socher and Manning, 2014)."""

from transformers import PretrainedConfig

EXPORTS = ("sum", "center", "concat")


class GloVeConfig(PretrainedConfig):
    r"""
    Args:
        vocab_size: number of words, the unknown token included.
        embedding_dim: size of each word vector (the biases come on top).
        x_max: co-occurrence count from which a pair gets the full weight f(x) = 1.
        alpha: exponent of the weighting f(x) = (x / x_max)^alpha below `x_max`.
        export: the vectors `word_embeddings()` returns: `"sum"` of centre and context vectors (the
            reference's `-model 2`, its default), `"center"` vectors only (`-model 1`), or both
            `"concat"`enated.
        window: maximum distance between two words counted as co-occurring.
        symmetric: count each pair both ways round (left and right context); otherwise a word's
            row holds only the words to its right.
        distance_weighting: a pair d words apart adds 1/d to the count (otherwise 1).
        max_row_updates: in `adagrad_step`, a word that occurs in more pairs of one batch than this
            has its summed update scaled down to this many pairs' worth (0 disables the cap).
    """

    model_type = "glove"

    def __init__(
        self,
        vocab_size: int = 2,
        embedding_dim: int = 100,
        x_max: float = 100.0,
        alpha: float = 0.75,
        export: str = "sum",
        window: int = 10,
        symmetric: bool = True,
        distance_weighting: bool = True,
        max_row_updates: int = 16,
        **kwargs,
    ):
        if export not in EXPORTS:
            raise ValueError(f"export must be one of {EXPORTS}, got {export!r}")
        integers = (
            ("vocab_size", vocab_size, 1),
            ("embedding_dim", embedding_dim, 1),
            ("window", window, 1),
            ("max_row_updates", max_row_updates, 0),
        )
        for name, value, low in integers:
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        for name, value in (("x_max", x_max), ("alpha", alpha)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        for name, value in (("symmetric", symmetric), ("distance_weighting", distance_weighting)):
            # bool("false") is True: a string here would silently mean the opposite.
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false, got {value!r}")
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.x_max = float(x_max)
        self.alpha = float(alpha)
        self.export = export
        self.window = window
        self.symmetric = bool(symmetric)
        self.distance_weighting = bool(distance_weighting)
        self.max_row_updates = max_row_updates
        super().__init__(**kwargs)
