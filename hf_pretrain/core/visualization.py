"""Pictures of word vectors: a labelled 2-D scatter (PCA or t-SNE) and a TensorBoard projector export.

matplotlib (and scikit-learn for t-SNE) are optional: `pip install 'hf-pretrain[viz]'`. They are
imported when a picture is drawn, so importing the package stays free of them. Figures are drawn on
matplotlib's Agg canvas without pyplot, so nothing here changes a notebook's or a script's backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

VIZ_EXTRA = "pip install 'hf-pretrain[viz]'"


def _select(vectors, words: Sequence[str] | None, topn: int | None) -> tuple[list[str], np.ndarray]:
    """The words to show (given, or the first `topn` of the vocabulary) and their vectors."""
    if words is None:
        words = vectors.index_to_key if topn is None else vectors.index_to_key[: int(topn)]
    elif isinstance(words, str):
        raise TypeError("words must be a list of words, not one string")
    words = list(words)
    unknown = [word for word in words if word not in vectors and getattr(vectors, "subword_vectors", None) is None]
    if unknown:
        raise KeyError(f"{len(unknown)} word(s) not in the vocabulary: {', '.join(map(repr, unknown[:10]))}")
    return words, np.asarray(vectors[words], dtype=np.float64).reshape(len(words), -1)


def pca_2d(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows projected onto their first two principal components (by SVD of the centred matrix), and
    the share of the variance each component explains."""
    centred = matrix - matrix.mean(axis=0, keepdims=True)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    coords = np.zeros((matrix.shape[0], 2))
    k = min(2, components.shape[0])
    coords[:, :k] = centred @ components[:k].T
    variance = singular**2
    explained = np.zeros(2)
    if variance.sum() > 0:
        explained[:k] = variance[:k] / variance.sum()
    return coords, explained


def tsne_2d(matrix: np.ndarray, random_state: int = 0, perplexity: float | None = None) -> np.ndarray:
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise ImportError(f"method='tsne' needs scikit-learn: {VIZ_EXTRA} (or pip install scikit-learn)") from None
    # t-SNE needs a perplexity below the number of points; 30 is scikit-learn's default.
    perplexity = perplexity if perplexity is not None else min(30.0, max(1.0, (matrix.shape[0] - 1) / 3))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=random_state).fit_transform(matrix)


def plot_embeddings(
    vectors,
    words: Sequence[str] | None = None,
    method: str = "pca",
    path=None,
    topn: int | None = 100,
    *,
    title: str | None = None,
    figsize: tuple[float, float] = (8.0, 8.0),
    dpi: int = 100,
    random_state: int = 0,
    perplexity: float | None = None,
):
    """A scatter of `words` (default: the first `topn` words of the vocabulary, the most frequent)
    reduced to two dimensions, each point labelled with its word.

    Args:
        vectors: a `WordVectors` (a `FastTextVectors` also draws words it composes from subwords).
        method: "pca" (numpy SVD, deterministic) or "tsne" (scikit-learn, seeded by `random_state`).
        path: where to write the PNG. Without it the matplotlib `Figure` is returned, e.g. to show in
            a notebook or to draw on further.

    Returns:
        The `Path` written, or the `Figure` when `path` is None.

    Raises:
        ImportError: matplotlib (or, for t-SNE, scikit-learn) is missing; the message names the extra.
        KeyError: a word of `words` is not in the vocabulary.
        ValueError: an unknown `method`, or fewer than two words.
    """
    method = method.lower()
    if method not in ("pca", "tsne"):
        raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(f"plot_embeddings needs matplotlib: {VIZ_EXTRA} (or pip install matplotlib)") from None
    words, matrix = _select(vectors, words, topn)
    if len(words) < 2:
        raise ValueError(f"plot_embeddings needs at least two words, got {len(words)}")

    figure = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if method == "pca":
        coords, explained = pca_2d(matrix)
        axes.set_xlabel(f"PC1 ({100 * explained[0]:.1f} % of variance)")
        axes.set_ylabel(f"PC2 ({100 * explained[1]:.1f} % of variance)")
    else:
        coords = tsne_2d(matrix, random_state=random_state, perplexity=perplexity)
        axes.set_xlabel("t-SNE 1")
        axes.set_ylabel("t-SNE 2")
    axes.scatter(coords[:, 0], coords[:, 1], s=12, color="tab:blue", alpha=0.7)
    for word, (x, y) in zip(words, coords):
        axes.annotate(word, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=8)
    axes.set_title(title or f"{len(words)} words, {method.upper()} of {matrix.shape[1]}-dimensional vectors")
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    if path is None:
        return figure
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def export_projector(vectors, folder, words: Sequence[str] | None = None) -> Path:
    """Write the TensorBoard embedding projector's files into `folder`: `vectors.tsv` (one row of
    tab-separated values per word, no header), `metadata.tsv` (the words; with a `word\\tcount`
    header and the counts when the vectors have counts) and `projector_config.pbtxt`, so that
    `tensorboard --logdir FOLDER` shows them; projector.tensorflow.org loads the two TSV files.

    Returns the folder.
    """
    words, matrix = _select(vectors, words, None)
    for word in words:
        if not word or any(ch in word for ch in "\t\r\n"):
            raise ValueError(f"word {word!r} is empty or holds a tab or line break, which a TSV file cannot store")
    counts = getattr(vectors, "counts", None)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    np.savetxt(folder / "vectors.tsv", matrix.astype(np.float32), fmt="%.8g", delimiter="\t")
    with open(folder / "metadata.tsv", "w", encoding="utf8", newline="\n") as fout:
        if counts is not None:
            # With more than one column the projector reads the first line as the header.
            fout.write("word\tcount\n")
            for word in words:
                index = vectors.key_to_index.get(word)
                fout.write(f"{word}\t{'' if index is None else counts[index]}\n")
        else:
            # A single column has no header line.
            fout.writelines(f"{word}\n" for word in words)
    (folder / "projector_config.pbtxt").write_text(
        'embeddings {\n  tensor_name: "word_vectors"\n  tensor_path: "vectors.tsv"\n  metadata_path: "metadata.tsv"\n}\n',
        encoding="utf8",
    )
    return folder


def plot_training(results: dict, path, *, title: str | None = None, dpi: int = 100) -> Path:
    """The training loss of a run as a PNG: the running loss at every logging step
    (`results["loss_history"]`, pairs of step and loss) and each epoch's mean at the step where the
    epoch ended, with the evaluation scores of the run (`results` keys starting with `eval_`,
    `wordsim353_`, `google_analogy_`) written beside the curve.

    Raises:
        ImportError: matplotlib is missing; the message names the extra.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(f"plot_training needs matplotlib: {VIZ_EXTRA} (or pip install matplotlib)") from None
    figure = Figure(figsize=(8.0, 5.0), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    history = results.get("loss_history") or []
    if history:
        steps, losses = zip(*history)
        axes.plot(steps, losses, color="tab:blue", linewidth=1.2, label="running loss")
    epoch_losses, epoch_steps = results.get("epoch_losses") or [], results.get("epoch_end_steps") or []
    if epoch_losses and len(epoch_steps) == len(epoch_losses):
        axes.plot(epoch_steps, epoch_losses, "o-", color="tab:orange", label="epoch mean")
    scores = [
        f"{key} = {value:.4g}"
        for key, value in results.items()
        if isinstance(value, float) and key.startswith(("eval_", "wordsim353_spearman", "google_analogy_accuracy"))
    ]
    if scores:
        axes.text(
            0.98,
            0.98,
            "\n".join(scores),
            transform=axes.transAxes,
            ha="right",
            va="top",
            fontsize=8,
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8},
        )
    axes.set_xlabel("step")
    axes.set_ylabel("training loss")
    axes.set_title(title or "training loss")
    axes.grid(True, alpha=0.3)
    if history or epoch_losses:
        axes.legend(loc="lower left")
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path
