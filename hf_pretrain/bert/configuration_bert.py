"""Configuration of BERT (Devlin et al., 2019), with the attribute names of transformers' `BertConfig`."""

from transformers import PretrainedConfig

PRESETS = {
    # The book's pretraining model (d2l.ai "Pretraining BERT"): ReLU feed-forward and MLM hidden
    # layer, dropout 0.2 on every sublayer and the attention weights, torch's LayerNorm epsilon, an
    # MLM decoder of its own (not tied to the token embeddings) and PyTorch's default initialisation.
    "d2l-small": dict(
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=256,
        hidden_act="relu",
        hidden_dropout_prob=0.2,
        attention_probs_dropout_prob=0.2,
        max_position_embeddings=1000,
        layer_norm_eps=1e-5,
        tie_word_embeddings=False,
        initializer="pytorch",
    ),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096),
}
ACTIVATIONS = ("gelu", "relu", "gelu_new", "gelu_python", "gelu_pytorch_tanh", "silu", "swish", "tanh")


class HfpBertConfig(PretrainedConfig):
    r"""
    Args:
        vocab_size: number of tokens of the tokenizer.
        hidden_size: width of the embeddings and of every encoder layer.
        num_hidden_layers: encoder layers.
        num_attention_heads: heads per attention layer; must divide `hidden_size`.
        intermediate_size: width of the position-wise feed-forward network.
        hidden_act: activation of the feed-forward network and of the masked-LM head's transform.
        hidden_dropout_prob: dropout on the embeddings and on each sublayer's output.
        attention_probs_dropout_prob: dropout on the attention weights.
        max_position_embeddings: longest input; the position table has this many rows, and a
            longer input is refused with a ValueError.
        type_vocab_size: number of segments (2: sentence A and sentence B).
        layer_norm_eps: epsilon of every LayerNorm.
        initializer_range: standard deviation of the normal initialisation of weights.
        initializer: `"bert"` (normal with `initializer_range`, as BERT and transformers) or
            `"pytorch"` (each layer's PyTorch default: embeddings N(0, 1), linear layers uniform in
            ±1/sqrt(fan_in)), which is what the book's d2l code gets.
        pad_token_id: id of the padding token (its embedding row starts at zero).
        tie_word_embeddings: share the masked-LM decoder's weight with the token embeddings.
        classifier_dropout: dropout before the classifier of the sequence and token classification
            heads; None: `hidden_dropout_prob`, as in transformers' `BertConfig`.

    `HfpBertConfig.from_preset("d2l-small" | "base" | "large", vocab_size=...)` gives the book's
    model or BERT-Base / BERT-Large.
    """

    model_type = "hfp_bert"

    def __init__(
        self,
        vocab_size: int = 30522,
        hidden_size: int = 768,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        intermediate_size: int = 3072,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.1,
        attention_probs_dropout_prob: float = 0.1,
        max_position_embeddings: int = 512,
        type_vocab_size: int = 2,
        layer_norm_eps: float = 1e-12,
        initializer_range: float = 0.02,
        initializer: str = "bert",
        pad_token_id: int = 0,
        tie_word_embeddings: bool = True,
        classifier_dropout: float | None = None,
        **kwargs,
    ):
        sizes = {
            "vocab_size": vocab_size,
            "hidden_size": hidden_size,
            "num_hidden_layers": num_hidden_layers,
            "num_attention_heads": num_attention_heads,
            "intermediate_size": intermediate_size,
            "max_position_embeddings": max_position_embeddings,
            "type_vocab_size": type_vocab_size,
        }
        for name, value in sizes.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if hidden_size % num_attention_heads:
            raise ValueError(
                f"hidden_size ({hidden_size}) must be divisible by num_attention_heads ({num_attention_heads})"
            )
        if hidden_act not in ACTIVATIONS:
            raise ValueError(f"hidden_act must be one of {ACTIVATIONS}, got {hidden_act!r}")
        for name, value in (
            ("hidden_dropout_prob", hidden_dropout_prob),
            ("attention_probs_dropout_prob", attention_probs_dropout_prob),
        ):
            if not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValueError(f"{name} must be in [0, 1), got {value!r}")
        if classifier_dropout is not None and (
            not isinstance(classifier_dropout, (int, float)) or not 0 <= classifier_dropout < 1
        ):
            raise ValueError(f"classifier_dropout must be None or in [0, 1), got {classifier_dropout!r}")
        for name, value in (("layer_norm_eps", layer_norm_eps), ("initializer_range", initializer_range)):
            if not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        if initializer not in ("bert", "pytorch"):
            raise ValueError(f"initializer must be 'bert' or 'pytorch', got {initializer!r}")
        if pad_token_id is not None and not (isinstance(pad_token_id, int) and 0 <= pad_token_id < vocab_size):
            raise ValueError(f"pad_token_id must be None or an id in [0, {vocab_size}), got {pad_token_id!r}")
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = float(hidden_dropout_prob)
        self.attention_probs_dropout_prob = float(attention_probs_dropout_prob)
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.layer_norm_eps = float(layer_norm_eps)
        self.initializer_range = float(initializer_range)
        self.initializer = initializer
        self.pad_token_id = pad_token_id
        self.tie_word_embeddings = tie_word_embeddings
        self.classifier_dropout = classifier_dropout
        super().__init__(**kwargs)

    @classmethod
    def from_preset(cls, name: str, vocab_size: int, **overrides) -> "HfpBertConfig":
        """The book's `"d2l-small"` model, or `"base"` / `"large"` as in the BERT paper; `overrides`
        replace any preset value."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
        return cls(vocab_size=vocab_size, **{**PRESETS[name], **overrides})
