"""What a user sees: embedding scatters rendered to PNG and the TensorBoard projector files."""

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from matplotlib.image import imread  # noqa: E402

from hf_pretrain import WordVectors, export_projector, plot_embeddings  # noqa: E402
from hf_pretrain.core.arguments import parse_args  # noqa: E402
from hf_pretrain.core.loop import TrainingArguments  # noqa: E402
from hf_pretrain.core.visualization import pca_2d  # noqa: E402
from hf_pretrain.word2vec.train import Word2VecArguments, train_word2vec  # noqa: E402

CORPUS = Path(__file__).resolve().parent / "fixtures" / "tiny_corpus.txt"


@pytest.fixture(scope="module")
def vectors(tmp_path_factory):
    out = tmp_path_factory.mktemp("plots") / "word2vec"
    train_word2vec(
        *parse_args(
            [Word2VecArguments, TrainingArguments],
            [
                "--dataset",
                str(CORPUS),
                "--output_dir",
                str(out),
                "--min_count",
                "2",
                "--embedding_dim",
                "16",
                "--epochs",
                "2",
                "--batch_size",
                "64",
                "--logging_steps",
                "5",
                "--similarity_file",
                "",
                "--analogy_file",
                "",
            ],
        )
    )
    return WordVectors.from_pretrained(out)


def assert_non_trivial_png(path: Path, size=(800, 800)):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 20_000  # labels and points, not an empty frame
    pixels = imread(path)[..., :3]
    assert pixels.shape[:2] == (size[1], size[0])
    assert pixels.std() > 0.05
    # Mostly white background, but points and words cover a visible share of it.
    assert 0.01 < (pixels.min(axis=-1) < 0.9).mean() < 0.5


def test_pca_png_of_the_most_frequent_words(vectors, tmp_path):
    path = plot_embeddings(vectors, path=tmp_path / "pictures" / "pca.png", topn=60)
    assert path == tmp_path / "pictures" / "pca.png"
    assert_non_trivial_png(path)


def test_chosen_words_size_and_title(vectors, tmp_path):
    words = ["the", "of", "lobster", "species", "city", "river", "he", "was"]
    path = plot_embeddings(vectors, words, path=tmp_path / "chosen.png", figsize=(6, 4), dpi=100, title="chosen")
    assert_non_trivial_png(path, size=(600, 400))


def test_without_path_returns_the_figure(vectors):
    figure = plot_embeddings(vectors, topn=10)
    axes = figure.axes[0]
    assert [text.get_text() for text in axes.texts] == vectors.index_to_key[:10]
    assert "PC1" in axes.get_xlabel() and "PCA of 16-dimensional" in axes.get_title()


def test_pca_finds_the_main_direction():
    direction = np.array([3.0, 4.0, 0.0]) / 5
    rng = np.random.default_rng(0)
    points = np.outer(np.linspace(-5, 5, 20), direction) + 0.01 * rng.standard_normal((20, 3))
    coords, explained = pca_2d(points)
    assert explained[0] > 0.99 and explained.sum() <= 1 + 1e-9
    assert abs(np.corrcoef(coords[:, 0], np.linspace(-5, 5, 20))[0, 1]) > 0.999


def test_tsne(vectors, tmp_path, monkeypatch):
    try:
        import sklearn  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"scikit-learn: pip install 'hf-pretrain\[viz\]'"):
            plot_embeddings(vectors, method="tsne", topn=30, path=tmp_path / "tsne.png")
        return
    assert_non_trivial_png(plot_embeddings(vectors, method="tsne", topn=30, path=tmp_path / "tsne.png"))
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)
    with pytest.raises(ImportError, match=r"hf-pretrain\[viz\]"):
        plot_embeddings(vectors, method="tsne", topn=30)


def test_missing_matplotlib_names_the_extra(vectors, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"matplotlib: pip install 'hf-pretrain\[viz\]'"):
        plot_embeddings(vectors, topn=10)


def test_bad_arguments(vectors):
    with pytest.raises(KeyError, match="'notaword'"):
        plot_embeddings(vectors, ["the", "notaword"])
    with pytest.raises(ValueError, match="'pca' or 'tsne'"):
        plot_embeddings(vectors, method="umap")
    with pytest.raises(ValueError, match="at least two words"):
        plot_embeddings(vectors, ["the"])
    with pytest.raises(TypeError, match="list of words"):
        plot_embeddings(vectors, "the")


def test_projector_files(vectors, tmp_path):
    folder = export_projector(vectors, tmp_path / "projector")
    rows = (folder / "vectors.tsv").read_text().splitlines()
    assert len(rows) == len(vectors)
    assert {len(row.split("\t")) for row in rows} == {vectors.vector_size}
    np.testing.assert_allclose(np.loadtxt(folder / "vectors.tsv", delimiter="\t"), vectors.vectors, rtol=1e-6)
    metadata = (folder / "metadata.tsv").read_text(encoding="utf8").splitlines()
    assert metadata[0] == "word\tcount" and len(metadata) == len(vectors) + 1
    assert [line.split("\t") for line in metadata[1:3]] == [
        [w, str(c)] for w, c in zip(vectors.index_to_key[:2], vectors.counts)
    ]
    config = (folder / "projector_config.pbtxt").read_text()
    assert 'tensor_path: "vectors.tsv"' in config and 'metadata_path: "metadata.tsv"' in config


def test_projector_without_counts_has_one_column_and_no_header(vectors, tmp_path):
    plain = WordVectors(vectors.index_to_key[:5], vectors.vectors[:5])
    folder = export_projector(plain, tmp_path / "p", words=["of", "the"])
    assert (folder / "metadata.tsv").read_text().splitlines() == ["of", "the"]
    assert len((folder / "vectors.tsv").read_text().splitlines()) == 2
    with pytest.raises(ValueError, match="tab or line break"):
        export_projector(WordVectors(["a\tb", "c"], np.ones((2, 3))), tmp_path / "bad")


def test_every_recipe_writes_a_loss_curve(tmp_path):
    from matplotlib.image import imread

    from hf_pretrain.core.arguments import parse_args
    from hf_pretrain.glove.train import GloVeArguments, GloVeTrainingArguments, train_glove

    fixture = Path(__file__).resolve().parent / "fixtures" / "tiny_corpus.txt"
    args = parse_args(
        [GloVeArguments, GloVeTrainingArguments],
        [
            "--dataset",
            str(fixture),
            "--output_dir",
            str(tmp_path / "glove"),
            "--min_count",
            "2",
            "--embedding_dim",
            "8",
            "--epochs",
            "3",
            "--batch_size",
            "256",
            "--logging_steps",
            "2",
            "--similarity_file",
            "",
            "--analogy_file",
            "",
        ],
    )
    results = train_glove(*args)
    assert len(results["loss_history"]) >= 3 and len(results["epoch_end_steps"]) == 3
    image = imread(tmp_path / "glove" / "loss.png")
    assert image.shape[0] >= 300 and image.shape[1] >= 500 and image[..., :3].std() > 0.05
    card = (tmp_path / "glove" / "README.md").read_text()
    assert "loss_history" not in card
