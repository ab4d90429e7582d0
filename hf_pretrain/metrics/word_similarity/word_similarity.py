"""Word similarity: rank and linear correlation of model similarities with human judgements."""

import datasets
import evaluate

from hf_pretrain.metrics.scores import word_similarity

_DESCRIPTION = """\
Word similarity scores word vectors against human judgements of word pairs (WordSim-353, SimLex-999,
MEN, ...): the Spearman rank correlation and the Pearson correlation between the model's similarity
of each pair (usually the cosine of the two word vectors) and the human score, as gensim's
`KeyedVectors.evaluate_word_pairs` reports them. Pairs with a word the model does not know can be
flagged; the out-of-vocabulary ratio is reported and the flagged pairs are left out of the
correlations, scored 0, or kept as predicted.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `float`): the model's similarity of each pair, e.g. the cosine of the two
        word vectors. The value of a pair left out (`oov_handling="skip"`) is ignored and may be NaN.
    references (`list` of `float`): the human similarity score of each pair.
    oov (`list` of `bool`, *optional*): `True` for a pair with a word outside the model's vocabulary.
        Defaults to no such pair.
    oov_handling (`str`, *optional*, defaults to `"skip"`): what becomes of the flagged pairs:
        `"skip"` leaves them out of the correlations (gensim's default), `"zero"` scores them 0
        (gensim's `dummy4unknown=True`), `"keep"` uses their predictions as given (e.g. vectors
        composed from subwords) and leaves out those predicted NaN or None.
Returns:
    spearman (`float`): Spearman's rank correlation coefficient over the pairs correlated.
    spearman_pvalue (`float`): its two-sided p-value.
    pearson (`float`): Pearson's correlation coefficient over the pairs correlated.
    pearson_pvalue (`float`): its two-sided p-value.
    oov_ratio (`float`): percent of all pairs flagged out of vocabulary, as gensim reports it.
    pairs (`int`): number of pairs correlated.
    oov_pairs (`int`): number of pairs flagged out of vocabulary.
Examples:
    >>> word_similarity = evaluate.load("hf_pretrain/metrics/word_similarity")
    >>> results = word_similarity.compute(
    ...     predictions=[0.9, 0.1, 0.5, 0.0], references=[9.0, 2.0, 6.5, 5.0], oov=[False, False, False, True]
    ... )
    >>> round(results["spearman"], 3), results["pairs"], results["oov_ratio"]
    (1.0, 3, 25.0)
"""

_CITATION = """\
@article{finkelstein2002placing,
  title={Placing search in context: The concept revisited},
  author={Finkelstein, Lev and Gabrilovich, Evgeniy and Matias, Yossi and Rivlin, Ehud and Solan, Zach and Wolfman, Gadi and Ruppin, Eytan},
  journal={ACM Transactions on Information Systems},
  volume={20},
  number={1},
  pages={116--131},
  year={2002}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class WordSimilarity(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}
            ),
            reference_urls=[
                "https://radimrehurek.com/gensim/models/keyedvectors.html",
                "https://docs.scipy.org/doc/scipy/reference/generated/scipy.stats.spearmanr.html",
                "https://docs.scipy.org/doc/scipy/reference/generated/scipy.stats.pearsonr.html",
            ],
        )

    def _compute(self, predictions, references, oov=None, oov_handling="skip"):
        return word_similarity(predictions, references, oov=oov, oov_handling=oov_handling)
