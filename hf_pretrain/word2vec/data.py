"""Training examples for word2vec (and the families that reuse it), built with array operations.

Two producers share the samplers below:
- `WindowBatches`, the fast path: a batch is a run of consecutive centre positions of the (subsampled)
  corpus plus `window` positions either side, so every context vector is a shifted view of one gathered
  block and gradients fold back by shifting, never by a per-pair scatter;
- `D2LWord2VecData`, the book's pipeline (`centers`, `contexts_negatives`, `masks`, `labels`), for
  teaching, for tests, and to reproduce the book's numbers.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from ..core.streaming import Corpus, corpus_chunks
from ..core.vocab import EncodedCorpus

SAMPLE_RULES = ("word2vec", "d2l")


def keep_probabilities(counts: np.ndarray, sample: float, rule: str = "word2vec") -> np.ndarray:
    """Probability of keeping each occurrence of a word when subsampling frequent words.

    `word2vec` is word2vec.c / gensim: (sqrt(f / t) + 1) * t / f; `d2l` is the book's sqrt(t / f).
    Words with count 0 (a dropped `<unk>`) are never kept.
    """
    if rule not in SAMPLE_RULES:
        raise ValueError(f"sample_rule must be one of {SAMPLE_RULES}, got {rule!r}")
    if sample < 0:
        raise ValueError(f"sample must be >= 0, got {sample}")
    counts = np.asarray(counts, dtype=np.float64)
    present = counts > 0
    keep = present.astype(np.float64)
    if sample == 0:
        return keep
    f = counts[present] / counts.sum()
    keep[present] = (np.sqrt(f / sample) + 1) * sample / f if rule == "word2vec" else np.sqrt(sample / f)
    return np.minimum(keep, 1.0)


class NegativeSampler:
    """Draws noise words with P(w) ∝ count(w)^power from a precomputed table, as word2vec.c does.

    A table lookup with `randint` costs a fraction of `multinomial`/`searchsorted` per draw.
    """

    def __init__(self, counts: np.ndarray, power: float = 0.75, table_size: int = 10_000_000):
        weights = np.asarray(counts, dtype=np.float64) ** power
        weights[np.asarray(counts) <= 0] = 0.0
        if weights.sum() <= 0:
            raise ValueError("cannot sample negatives: every word count is zero")
        self.probabilities = weights / weights.sum()
        slots = np.floor(np.cumsum(self.probabilities) * table_size).astype(np.int64)
        self.table = torch.from_numpy(np.repeat(np.arange(len(weights)), np.diff(slots, prepend=0)))

    def sample(self, shape: tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
        return self.table[torch.randint(len(self.table), shape, generator=generator, device=self.table.device)]

    def to(self, device) -> "NegativeSampler":
        self.table = self.table.to(device)
        return self


@dataclass
class HuffmanTree:
    """Binary codes and inner-node paths for hierarchical softmax (word2vec.c's `CreateBinaryTree`).

    `points[w, :lengths[w]]` are the inner nodes from the root down to `w` (ids in 0..V-2, the root is
    V-2) and `codes[w, :lengths[w]]` the branch taken at each (1 = the less frequent child).
    """

    codes: np.ndarray
    points: np.ndarray
    lengths: np.ndarray

    @classmethod
    def build(cls, counts: np.ndarray) -> "HuffmanTree":
        counts = np.asarray(counts, dtype=np.int64)
        vocab_size = len(counts)
        if vocab_size < 2:
            raise ValueError("hierarchical softmax needs at least two words")
        # Ties break on the node id so the tree, and so the model, is the same on every run.
        heap = [(int(c), i) for i, c in enumerate(counts)]
        heapq.heapify(heap)
        parent = np.zeros(2 * vocab_size - 1, dtype=np.int64)
        branch = np.zeros(2 * vocab_size - 1, dtype=np.int8)
        next_id = vocab_size
        while len(heap) > 1:
            c1, n1 = heapq.heappop(heap)
            c2, n2 = heapq.heappop(heap)
            parent[n1] = parent[n2] = next_id
            branch[n2] = 1
            heapq.heappush(heap, (c1 + c2, next_id))
            next_id += 1
        root = next_id - 1
        paths = []
        for word in range(vocab_size):
            node, codes, points = word, [], []
            while node != root:
                codes.append(branch[node])
                node = parent[node]
                points.append(node - vocab_size)
            paths.append((codes[::-1], points[::-1]))
        lengths = np.array([len(c) for c, _ in paths], dtype=np.int64)
        codes = np.zeros((vocab_size, lengths.max()), dtype=np.int64)
        points = np.zeros((vocab_size, lengths.max()), dtype=np.int64)
        for word, (c, p) in enumerate(paths):
            codes[word, : len(c)] = c
            points[word, : len(p)] = p
        return cls(codes=codes, points=points, lengths=lengths)


class TargetBuilder:
    """What each centre word is scored against: itself plus K noise words (negative sampling), or
    the inner nodes on its Huffman path (hierarchical softmax). Both come out as
    (`targets`, `labels`, `target_mask`) so one model step serves both losses."""

    def __init__(
        self,
        counts: np.ndarray,
        loss: str,
        num_negatives: int = 5,
        ns_exponent: float = 0.75,
        negative_sharing: int = 1,
    ):
        self.loss = loss
        if negative_sharing < 1:
            raise ValueError(f"negative_sharing must be >= 1, got {negative_sharing}")
        self.negative_sharing = negative_sharing
        if loss == "negative_sampling":
            if num_negatives < 1:
                raise ValueError(f"num_negatives must be >= 1, got {num_negatives}")
            self.num_negatives = num_negatives
            self.sampler = NegativeSampler(counts, ns_exponent)
        elif loss == "hierarchical_softmax":
            tree = HuffmanTree.build(counts)
            self.points = torch.from_numpy(tree.points)
            # word2vec.c trains node outputs towards 1 - code.
            self.labels = torch.from_numpy(1 - tree.codes).float()
            self.path_mask = torch.arange(tree.points.shape[1])[None, :] < torch.from_numpy(tree.lengths)[:, None]
        else:
            raise ValueError(f"loss must be 'negative_sampling' or 'hierarchical_softmax', got {loss!r}")

    def to(self, device) -> "TargetBuilder":
        if self.loss == "negative_sampling":
            self.sampler.to(device)
        else:
            self.points, self.labels, self.path_mask = (
                t.to(device) for t in (self.points, self.labels, self.path_mask)
            )
        return self

    def __call__(self, centers: torch.Tensor, generator: torch.Generator | None = None):
        if self.loss == "hierarchical_softmax":
            return self.points[centers], self.labels[centers], self.path_mask[centers]
        if self.negative_sharing > 1:
            # One draw of noise words per group of consecutive centres (see `sgd_step`).
            groups = -(-len(centers) // self.negative_sharing)
            ones = torch.ones(len(centers), 1, device=centers.device)
            shared = self.sampler.sample((groups, self.num_negatives), generator)
            return centers[:, None], ones, ones.bool(), shared
        negatives = self.sampler.sample((len(centers), self.num_negatives), generator)
        targets = torch.cat([centers[:, None], negatives], dim=1)
        labels = torch.zeros(targets.shape, device=centers.device)
        labels[:, 0] = 1.0
        # As word2vec.c, a noise word equal to the centre word is skipped.
        mask = torch.ones(targets.shape, dtype=torch.bool, device=centers.device)
        mask[:, 1:] = negatives != centers[:, None]
        return targets, labels, mask


class WindowBatches:
    """Fast-path batches: for centres i in [s, e) of the subsampled corpus,

    - `tokens` [m + 2W]: the ids of positions s-W .. e+W-1 (0 where outside the corpus),
    - `window_mask` [m, 2W+1]: position i+o-W is a context of centre i (inside the centre's dynamic
      window 1..W drawn uniformly, inside its sentence, o != W),
    - `targets`, `labels`, `target_mask` [m, T]: from `TargetBuilder`,
    - `shared_negatives` [ceil(m / G), K], only with `negative_sharing` G > 1: the noise words of
      each group of G consecutive centres (`targets` then holds the centres alone),
    - `words`: raw corpus words covered so far this epoch, for progress and learning-rate decay.

    The corpus is an `EncodedCorpus` in memory or a `StreamingCorpus`, read and batched one chunk at
    a time. With `device`, each chunk moves there once and every batch is drawn there.
    """

    def __init__(
        self,
        corpus: Corpus,
        counts: np.ndarray,
        *,
        window: int,
        batch_size: int,
        loss: str = "negative_sampling",
        num_negatives: int = 5,
        ns_exponent: float = 0.75,
        sample: float = 1e-3,
        sample_rule: str = "word2vec",
        shrink_windows: bool = True,
        negative_sharing: int = 1,
        device: torch.device | str = "cpu",
    ):
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if isinstance(corpus, EncodedCorpus) and len(corpus.ids) == 0:
            raise ValueError("the encoded corpus holds no in-vocabulary words to train on")
        self.corpus = corpus
        self.window = window
        self.batch_size = batch_size
        self.shrink_windows = shrink_windows
        self.device = torch.device(device)
        self.keep = torch.from_numpy(keep_probabilities(counts, sample, sample_rule)).float().to(self.device)
        self.targets = TargetBuilder(counts, loss, num_negatives, ns_exponent, negative_sharing).to(self.device)
        self.offsets = torch.arange(-window, window + 1, device=self.device)

    def epoch(self, generator: torch.Generator) -> Iterator[dict]:
        if self.device.type != "cpu":
            # Draw on the device, from a generator seeded by the epoch's: no batch crosses the bus.
            seed = int(torch.randint(2**62, (1,), generator=generator))
            generator = torch.Generator(device=self.device).manual_seed(seed)
        words = 0
        for chunk in corpus_chunks(self.corpus):
            yield from self._batches(chunk, generator, words)
            words += chunk.raw_words

    def _batches(self, corpus: EncodedCorpus, generator: torch.Generator, words_before: int) -> Iterator[dict]:
        W = self.window
        device = self.device
        all_ids = torch.from_numpy(corpus.ids).to(device)
        kept = torch.rand(len(all_ids), generator=generator, device=device) < self.keep[all_ids]
        ids, sentence = all_ids[kept], torch.from_numpy(corpus.sentence_ids()).to(device)[kept]
        n = len(ids)
        pad = torch.zeros(W, dtype=ids.dtype, device=device)
        padded_ids = torch.cat([pad, ids, pad])
        padded_sentence = torch.cat([pad - 1, sentence, pad - 1])
        raw = corpus.raw_words
        for s in range(0, n, self.batch_size):
            e = min(n, s + self.batch_size)
            centers = ids[s:e]
            if self.shrink_windows:
                reach = torch.randint(1, W + 1, (e - s, 1), generator=generator, device=device)
            else:
                reach = torch.full((e - s, 1), W, device=device)
            window_sentence = padded_sentence[s : e + 2 * W].unfold(0, 2 * W + 1, 1)
            window_mask = (window_sentence == sentence[s:e, None]) & (self.offsets.abs() <= reach) & (self.offsets != 0)
            targets, labels, target_mask, *shared = self.targets(centers, generator)
            batch = {
                "tokens": padded_ids[s : e + 2 * W],
                "window_mask": window_mask,
                "targets": targets,
                "labels": labels,
                "target_mask": target_mask,
                "words": words_before + round(raw * e / n),
            }
            if shared:
                batch["shared_negatives"] = shared[0]
            yield batch


class D2LWord2VecData:
    """The book's skip-gram data (d2l 15.3), vectorized: subsample, centres and contexts with a
    dynamic window, K noise words per context that are not among the contexts, then padded batches
    of `centers` [B, 1], `contexts_negatives` [B, L], `masks` [B, L] and `labels` [B, L]."""

    def __init__(
        self,
        corpus: EncodedCorpus,
        counts: np.ndarray,
        *,
        window: int = 5,
        num_negatives: int = 5,
        sample: float = 1e-4,
        sample_rule: str = "d2l",
        ns_exponent: float = 0.75,
        generator: torch.Generator | None = None,
    ):
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if num_negatives < 1:
            raise ValueError(f"num_negatives must be >= 1, got {num_negatives}")
        ids = torch.from_numpy(corpus.ids)
        sentence = torch.from_numpy(corpus.sentence_ids())
        keep = torch.from_numpy(keep_probabilities(counts, sample, sample_rule)).float()
        kept = torch.rand(len(ids), generator=generator) < keep[ids]
        self.subsampled_ids, subsampled_sentence = ids[kept], sentence[kept]
        self.centers, self.contexts, self.context_lengths = self._centers_and_contexts(
            self.subsampled_ids, subsampled_sentence, window, generator
        )
        self.negatives = self._negatives(NegativeSampler(counts, ns_exponent), num_negatives, generator)
        self.num_negatives = num_negatives

    @staticmethod
    def _centers_and_contexts(ids, sentence, window, generator):
        n = len(ids)
        sentence_length = torch.bincount(sentence, minlength=int(sentence.max()) + 1 if n else 0)
        # The book skips sentences with fewer than two words.
        usable = sentence_length[sentence] >= 2
        reach = torch.randint(1, window + 1, (n,), generator=generator)
        offsets = torch.cat([torch.arange(-window, 0), torch.arange(1, window + 1)])
        positions = torch.arange(n)[:, None] + offsets
        inside = (positions >= 0) & (positions < n)
        positions = positions.clamp(0, max(n - 1, 0))
        valid = inside & (sentence[positions] == sentence[:, None]) & (offsets.abs() <= reach[:, None])
        valid &= usable[:, None]
        lengths = valid.sum(1)
        has_context = lengths > 0
        # Left-align each centre's contexts (in window order) so row i holds lengths[i] real entries.
        order = torch.argsort((~valid).to(torch.int8), dim=1, stable=True)
        contexts = torch.gather(ids[positions], 1, order)
        return ids[has_context], contexts[has_context], lengths[has_context]

    def _negatives(self, sampler, k, generator):
        width = self.contexts.shape[1] * k
        needed = torch.arange(width)[None, :] < (self.context_lengths * k)[:, None]
        negatives = sampler.sample((len(self.centers), width), generator)
        # Rejection as the book: redraw any noise word that is one of the centre's contexts.
        context_valid = torch.arange(self.contexts.shape[1])[None, :] < self.context_lengths[:, None]
        for _ in range(100):
            clash = ((negatives[:, :, None] == self.contexts[:, None, :]) & context_valid[:, None, :]).any(-1) & needed
            if not clash.any():
                break
            negatives[clash] = sampler.sample((int(clash.sum()),), generator)
        return negatives

    @property
    def num_pairs(self) -> int:
        return int(self.context_lengths.sum())

    def __len__(self) -> int:
        return len(self.centers)

    def batch(self, index: torch.Tensor) -> dict:
        lengths = self.context_lengths[index]
        width = int(lengths.max()) * (1 + self.num_negatives)
        L = lengths[:, None]
        col = torch.arange(width)[None, :]
        is_context = col < L
        is_negative = (col >= L) & (col < L * (1 + self.num_negatives))
        source = torch.cat([self.contexts[index], self.negatives[index]], dim=1)
        # Column c reads contexts[c] for c < L, then negatives[c - L] from column C + (c - L).
        gather_col = torch.where(is_context, col, self.contexts.shape[1] + col - L).clamp(0, source.shape[1] - 1)
        masks = is_context | is_negative
        contexts_negatives = torch.where(masks, torch.gather(source, 1, gather_col), 0)
        return {
            "centers": self.centers[index][:, None],
            "contexts_negatives": contexts_negatives,
            "masks": masks.float(),
            "labels": is_context.float(),
        }

    def batches(
        self, batch_size: int, generator: torch.Generator | None = None, shuffle: bool = True
    ) -> Iterator[dict]:
        order = torch.randperm(len(self), generator=generator) if shuffle else torch.arange(len(self))
        for s in range(0, len(order), batch_size):
            yield self.batch(order[s : s + batch_size])

    def num_batches(self, batch_size: int) -> int:
        return math.ceil(len(self) / batch_size)
