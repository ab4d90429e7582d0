"""Word analogy: accuracy of the answers to "a is to b as c is to ?" questions, overall and per section."""

import datasets
import evaluate

from hf_pretrain.metrics.scores import word_analogy

_DESCRIPTION = """\
Word analogy scores the answers a model gives to analogy questions ("man is to king as woman is to
?", the Google analogy set of Mikolov et al. 2013 and other questions-words files): the accuracy over
all questions and per section (capital-common-countries, gram1-adjective-to-adverb, ...), in the
layout of gensim's `KeyedVectors.evaluate_word_analogies`: one entry per section with its correct and
incorrect counts, then a "Total accuracy" entry. Questions with a word the model does not know can be
flagged; they are left out (gensim's default) or counted wrong.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): the model's answer to each question; `""` when it has none.
    references (`list` of `str`): the expected answer of each question.
    sections (`list` of `str`, *optional*): the section of each question. Defaults to one section, "all".
    section_names (`list` of `str`, *optional*): every section to report, in order, including sections
        without questions. Defaults to the sections in order of first appearance.
    oov (`list` of `bool`, *optional*): `True` for a question with a word outside the model's
        vocabulary. Defaults to no such question.
    oov_handling (`str`, *optional*, defaults to `"skip"`): `"skip"` leaves flagged questions out of
        the counts (gensim's default), `"incorrect"` counts them wrong (gensim's `dummy4unknown=True`).
    case_insensitive (`bool`, *optional*, defaults to `True`): compare answers upper-cased, as gensim.
Returns:
    accuracy (`float`): correct / total over all sections (0.0 when no question counts).
    correct (`int`): questions answered right.
    total (`int`): questions counted (correct + incorrect).
    oov_questions (`int`): questions flagged out of vocabulary.
    oov_ratio (`float`): percent of all questions flagged out of vocabulary.
    questions (`int`): all questions given.
    sections (`list` of `dict`): per section `{"section", "correct", "incorrect", "accuracy"}`, then a
        last `"Total accuracy"` entry.
Examples:
    >>> word_analogy = evaluate.load("hf_pretrain/metrics/word_analogy")
    >>> results = word_analogy.compute(
    ...     predictions=["queen", "paris", "Berlin"], references=["queen", "rome", "berlin"],
    ...     sections=["family", "capitals", "capitals"],
    ... )
    >>> results["accuracy"], [(s["section"], s["correct"], s["incorrect"]) for s in results["sections"]]
    (0.6666666666666666, [('family', 1, 0), ('capitals', 1, 1), ('Total accuracy', 2, 1)])
"""

_CITATION = """\
@article{mikolov2013efficient,
  title={Efficient Estimation of Word Representations in Vector Space},
  author={Mikolov, Tomas and Chen, Kai and Corrado, Greg and Dean, Jeffrey},
  journal={arXiv preprint arXiv:1301.3781},
  year={2013}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class WordAnalogy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            reference_urls=[
                "https://radimrehurek.com/gensim/models/keyedvectors.html",
                "https://github.com/tmikolov/word2vec/blob/master/questions-words.txt",
            ],
        )

    def _compute(
        self,
        predictions,
        references,
        sections=None,
        section_names=None,
        oov=None,
        oov_handling="skip",
        case_insensitive=True,
    ):
        return word_analogy(
            predictions,
            references,
            sections=sections,
            section_names=section_names,
            oov=oov,
            oov_handling=oov_handling,
            case_insensitive=case_insensitive,
        )
