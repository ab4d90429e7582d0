import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from hf_pretrain.core.vocab import Vocabulary, VocabularyError
from hf_pretrain.word2vec.data import (
    D2LWord2VecData,
    HuffmanTree,
    NegativeSampler,
    TargetBuilder,
    WindowBatches,
    keep_probabilities,
)

TEXT = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "",
    "a cat and a dog",
    "the end",
]


@pytest.fixture
def vocab():
    return Vocabulary.build(TEXT, min_count=1)


def test_vocabulary_order_counts_and_unk(vocab):
    assert vocab.index_to_word[0] == "<unk>"
    assert vocab.index_to_word[1] == "the"
    assert vocab.counts[1] == 5
    assert list(vocab.counts[1:]) == sorted(vocab.counts[1:], reverse=True)


def test_min_count_folds_rare_words_into_unk():
    v = Vocabulary.build(TEXT, min_count=2, unk_policy="keep")
    assert "mat" not in v.tokenizer.get_vocab()
    # 19 words in all; the, sat, on, cat, dog, a (2+) stay.
    assert v.counts.sum() == 19
    assert v.counts[0] == 19 - sum(v.counts[1:])


def test_max_vocab_size_and_errors():
    assert len(Vocabulary.build(TEXT, min_count=1, max_vocab_size=3)) == 3
    with pytest.raises(VocabularyError, match="removes every word"):
        Vocabulary.build(TEXT, min_count=100)
    with pytest.raises(VocabularyError, match="empty corpus"):
        Vocabulary.build(["", "   "])
    with pytest.raises(VocabularyError, match="min_count"):
        Vocabulary.build(TEXT, min_count=0)
    with pytest.raises(VocabularyError, match="unk_policy"):
        Vocabulary.build(TEXT, unk_policy="ignore")


def test_encode_drop_and_keep_policies():
    drop = Vocabulary.build(TEXT, min_count=2, unk_policy="drop").encode(TEXT)
    keep = Vocabulary.build(TEXT, min_count=2, unk_policy="keep").encode(TEXT)
    assert drop.raw_words == keep.raw_words == 19
    assert len(keep.ids) == 19 and 0 in keep.ids
    assert 0 not in drop.ids and len(drop.ids) == 19 - int((keep.ids == 0).sum())
    assert drop.num_sentences == len(TEXT)
    assert [len(s) for s in keep.sentences()] == [6, 6, 0, 5, 2]


def test_vocabulary_saves_as_tokenizer_json(vocab, tmp_path):
    vocab.save(tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path)
    assert tok("the cat zebra")["input_ids"] == [1, vocab.tokenizer.token_to_id("cat"), 0]
    again = Vocabulary.load(tmp_path)
    assert again.index_to_word == vocab.index_to_word and (again.counts == vocab.counts).all()


def test_keep_probabilities_rules():
    counts = np.array([0, 1000, 10, 1])
    total = counts.sum()
    t = 1e-3
    w2v = keep_probabilities(counts, t, "word2vec")
    f = 1000 / total
    assert w2v[1] == pytest.approx((np.sqrt(f / t) + 1) * t / f)
    assert w2v[0] == 0 and w2v[3] == 1.0
    d2l = keep_probabilities(counts, 1e-4, "d2l")
    assert d2l[1] == pytest.approx(np.sqrt(1e-4 / f))
    assert (keep_probabilities(counts, 0) == [0, 1, 1, 1]).all()
    with pytest.raises(ValueError, match="sample_rule"):
        keep_probabilities(counts, t, "gensim")


def test_subsampling_rate_matches_probability():
    counts = np.array([0, 10**6, 10])
    p = keep_probabilities(counts, 1e-3)
    g = torch.Generator().manual_seed(0)
    ids = torch.ones(200_000, dtype=torch.long)
    kept = (torch.rand(len(ids), generator=g) < torch.from_numpy(p).float()[ids]).float().mean()
    assert float(kept) == pytest.approx(p[1], abs=0.005)


def test_negative_distribution_follows_power():
    counts = np.array([0, 1000, 100, 10])
    sampler = NegativeSampler(counts, power=0.75)
    draws = sampler.sample((200_000,), torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=4).double() / len(draws)
    expected = counts**0.75 / (counts**0.75).sum()
    assert freq[0] == 0
    np.testing.assert_allclose(freq.numpy(), expected, atol=0.005)


def test_huffman_tree_is_prefix_code_with_frequent_words_short():
    counts = np.array([45, 13, 12, 16, 9, 5])  # the textbook Huffman example
    tree = HuffmanTree.build(counts)
    codes = ["".join(map(str, tree.codes[w, : tree.lengths[w]])) for w in range(6)]
    assert sorted(len(c) for c in codes) == [1, 3, 3, 3, 4, 4]
    assert len(codes[0]) == 1
    for a in codes:
        for b in codes:
            assert a == b or not b.startswith(a)
    # Paths start at the root (the last inner node, id V-2) and use inner-node ids 0..V-2.
    assert (tree.points[:, 0] == len(counts) - 2).all()
    assert tree.points.max() <= len(counts) - 2
    # Expected code length equals the optimum for these weights (224 / 100).
    assert (tree.lengths * counts).sum() == 224


def test_target_builder_negative_sampling_and_hs():
    counts = np.array([0, 50, 30, 20, 10])
    g = torch.Generator().manual_seed(0)
    centers = torch.tensor([1, 2, 3])
    targets, labels, mask = TargetBuilder(counts, "negative_sampling", 4)(centers, g)
    assert targets.shape == (3, 5) and (targets[:, 0] == centers).all()
    assert labels[:, 0].eq(1).all() and labels[:, 1:].eq(0).all()
    assert (mask[:, 1:] == (targets[:, 1:] != centers[:, None])).all()
    hs = TargetBuilder(counts, "hierarchical_softmax")
    points, hs_labels, path_mask = hs(centers)
    tree = HuffmanTree.build(counts)
    for row, w in enumerate(centers.tolist()):
        n = tree.lengths[w]
        assert path_mask[row].sum() == n
        assert (points[row, :n].numpy() == tree.points[w, :n]).all()
        assert (hs_labels[row, :n].numpy() == 1 - tree.codes[w, :n]).all()
    with pytest.raises(ValueError, match="loss"):
        TargetBuilder(counts, "softmax")


def test_window_batches_masks_respect_windows_and_sentences(vocab):
    corpus = vocab.encode(TEXT)
    wb = WindowBatches(corpus, vocab.training_counts, window=2, batch_size=4, sample=0, shrink_windows=False)
    batches = list(wb.epoch(torch.Generator().manual_seed(0)))
    ids = torch.from_numpy(corpus.ids)
    sentence = torch.from_numpy(corpus.sentence_ids())
    start = 0
    for b in batches:
        m = b["window_mask"].shape[0]
        assert b["tokens"].shape == (m + 4,)
        assert b["window_mask"].shape == (m, 5) and not b["window_mask"][:, 2].any()
        for i in range(m):
            for o in range(5):
                j = start + i + o - 2
                inside = 0 <= j < len(ids) and sentence[j] == sentence[start + i]
                assert bool(b["window_mask"][i, o]) == (inside and o != 2)
                if inside:
                    assert b["tokens"][i + o] == ids[j]
        start += m
    assert start == len(ids) and batches[-1]["words"] == corpus.raw_words


def test_dynamic_windows_are_uniform(vocab):
    corpus = vocab.encode([" ".join(["the cat sat on the mat"] * 3000)])
    wb = WindowBatches(corpus, vocab.training_counts, window=4, batch_size=100_000, sample=0)
    batch = next(wb.epoch(torch.Generator().manual_seed(0)))
    reach = batch["window_mask"][100:-100, 4:].sum(1)  # contexts to the right = drawn window size
    freq = torch.bincount(reach, minlength=5)[1:].double() / len(reach)
    np.testing.assert_allclose(freq.numpy(), [0.25] * 4, atol=0.02)


def test_window_batches_are_reproducible(vocab):
    corpus = vocab.encode(TEXT)
    wb = WindowBatches(corpus, vocab.training_counts, window=2, batch_size=3)
    a = list(wb.epoch(torch.Generator().manual_seed(7)))
    b = list(wb.epoch(torch.Generator().manual_seed(7)))
    assert all(torch.equal(x[k], y[k]) for x, y in zip(a, b) for k in ("tokens", "window_mask", "targets"))


def test_window_batches_reject_bad_settings(vocab):
    corpus = vocab.encode(TEXT)
    with pytest.raises(ValueError, match="window"):
        WindowBatches(corpus, vocab.training_counts, window=0, batch_size=4)
    with pytest.raises(ValueError, match="num_negatives"):
        WindowBatches(corpus, vocab.training_counts, window=2, batch_size=4, num_negatives=0)


def test_d2l_batches_shapes_masks_labels(vocab):
    corpus = vocab.encode(TEXT * 20)
    data = D2LWord2VecData(
        corpus, vocab.training_counts, window=2, num_negatives=3, sample=0, generator=torch.Generator().manual_seed(0)
    )
    batch = data.batch(torch.arange(len(data)))
    n_ctx = data.context_lengths
    width = int(n_ctx.max()) * 4
    assert batch["centers"].shape == (len(data), 1)
    assert batch["contexts_negatives"].shape == batch["masks"].shape == batch["labels"].shape == (len(data), width)
    assert (batch["masks"].sum(1) == n_ctx * 4).all()
    assert (batch["labels"].sum(1) == n_ctx).all()
    for row in range(len(data)):
        contexts = set(batch["contexts_negatives"][row, : n_ctx[row]].tolist())
        negatives = batch["contexts_negatives"][row, n_ctx[row] : n_ctx[row] * 4].tolist()
        assert not contexts & set(negatives)  # the book redraws noise words that are contexts
        assert batch["masks"][row, n_ctx[row] * 4 :].sum() == 0


@pytest.mark.integration
def test_d2l_ptb_numbers(shared_data):
    lines = (shared_data / "ptb" / "ptb.train.txt").read_text().splitlines()
    vocab = Vocabulary.build(lines, min_count=10)
    assert len(vocab) == 6719
    the = vocab.tokenizer.token_to_id("the")
    assert vocab.counts[the] == 50770
    data = D2LWord2VecData(vocab.encode(lines), vocab.training_counts, generator=torch.Generator().manual_seed(0))
    after = int((data.subsampled_ids == the).sum())
    assert 1900 < after < 2120  # the book: ≈2010
    assert 1.47e6 < data.num_pairs < 1.53e6  # the book: ≈1.50M
    batch = next(data.batches(512, torch.Generator().manual_seed(0)))
    assert batch["centers"].shape == (512, 1)
    assert batch["contexts_negatives"].shape == (512, 60)
