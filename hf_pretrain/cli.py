"""`hf-pretrain`: the everyday questions about a saved model, from the shell.

    hf-pretrain similar MODEL WORD [-n 10]          nearest words by cosine
    hf-pretrain analogy MODEL A B C [-n 5]          A is to B as C is to ?
    hf-pretrain evaluate MODEL [...]                word similarity and analogy scores (python -m hf_pretrain.evaluate)
    hf-pretrain export MODEL OUT --format word2vec|glove|fasttext-vec|fasttext-bin
    hf-pretrain encode BERT_MODEL TEXT [TEXT_B]     tokens and contextual vectors
    hf-pretrain fill-mask BERT_MODEL TEXT           the likeliest words at [MASK]

MODEL is any folder the package saves (word2vec, GloVe, fastText, or `WordVectors.save`); BERT_MODEL a
folder written by the BERT recipe. A problem with the inputs (a missing folder, an unknown word, a model
of the wrong family) is reported as one line on stderr with exit status 1; a malformed command line
exits with argparse's status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from hf_pretrain import evaluate as evaluation
from hf_pretrain.evaluate import UserError, check_model_dir, load_vectors

PROG = "hf-pretrain"
BERT_TYPE = "hfp_bert"
EXPORT_FORMATS = {
    # format: (write_header, usual suffix)
    "word2vec": (True, ".txt"),
    "glove": (False, ".txt"),
    "fasttext-vec": (True, ".vec"),
    "fasttext-bin": (None, ".bin"),  # the fastText reference's model file (fastText models only)
    "sentence-transformers": (None, ""),  # a folder: SentenceTransformer(OUT), one StaticEmbedding module
    "model2vec": (None, ""),  # a folder: model2vec.StaticModel.from_pretrained(OUT)
}
FOLDER_FORMATS = ("sentence-transformers", "model2vec")


# ---------------------------------------------------------------------------- loading


def model_type(folder: Path) -> str:
    """The `model_type` of a saved model folder ("vectors" for a `WordVectors.save` folder)."""
    check_model_dir(folder)
    config = folder / "config.json"
    if not config.is_file():
        return "vectors"
    try:
        return str(json.loads(config.read_text(encoding="utf8")).get("model_type", "unknown"))
    except (OSError, ValueError, AttributeError) as err:
        raise UserError(f"{config}: not a readable model config: {err}") from None


def require_word_vectors(folder: Path, command: str) -> None:
    if model_type(folder) == BERT_TYPE:
        raise UserError(
            f"{folder} is a BERT model; '{command}' needs word vectors (word2vec, GloVe, fastText): "
            f"use '{PROG} encode' or '{PROG} fill-mask' for BERT"
        )


def load_word_vectors(folder: Path, command: str):
    require_word_vectors(folder, command)
    return load_vectors(folder)


def check_word(vectors, word: str, folder: Path) -> None:
    """An unknown word is an error, unless the vectors compose unseen words from subwords (fastText)."""
    if word in vectors or getattr(vectors, "subword_vectors", None) is not None:
        return
    hint = ""
    for variant in (word.lower(), word.capitalize(), word.upper()):
        if variant != word and variant in vectors:
            hint = f" (did you mean {variant!r}?)"
            break
    raise UserError(f"word {word!r} is not in the vocabulary of {folder} ({len(vectors)} words){hint}")


def load_bert(folder: Path, command: str):
    """The pretraining model (encoder + heads) and tokenizer of a BERT recipe folder."""
    kind = model_type(folder)
    if kind != BERT_TYPE:
        family = "saved word vectors" if kind == "vectors" else f"a {kind} model"
        raise UserError(
            f"{folder} holds {family}; '{command}' needs a BERT model (written by recipes/pretrain_bert.py)"
        )
    from transformers import AutoTokenizer

    from hf_pretrain import HfpBertForPreTraining

    try:
        with quiet_transformers():
            model = HfpBertForPreTraining.from_pretrained(folder)
            tokenizer = AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise UserError(f"cannot load a BERT model from {folder}: {err}") from None
    return model.eval(), tokenizer


@contextlib.contextmanager
def quiet_transformers():
    """No loading progress bars or notices from transformers while answering; restored afterwards."""
    from transformers.utils import logging as transformers_logging

    bar_was_enabled = transformers_logging.is_progress_bar_enabled()
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers_logging.set_verbosity(verbosity)
        if bar_was_enabled:
            transformers_logging.enable_progress_bar()


# ---------------------------------------------------------------------------- subcommands


def _print_ranking(pairs: list[tuple[str, float]]) -> None:
    width = max([len(word) for word, _ in pairs] + [4])
    for rank, (word, score) in enumerate(pairs, start=1):
        print(f"{rank:>3}  {word.ljust(width)}  {score:.4f}")


def cmd_similar(args) -> None:
    folder = Path(args.model)
    vectors = load_word_vectors(folder, "similar")
    check_word(vectors, args.word, folder)
    note = "" if args.word in vectors else " (not in the vocabulary: composed from subwords)"
    print(f"words nearest to {args.word!r}{note}, by cosine:")
    _print_ranking(vectors.most_similar(args.word, topn=args.n))


def cmd_analogy(args) -> None:
    folder = Path(args.model)
    vectors = load_word_vectors(folder, "analogy")
    for word in (args.a, args.b, args.c):
        check_word(vectors, word, folder)
    try:
        answers = vectors.analogy(args.a, args.b, args.c, topn=args.n, method=args.method)
    except ValueError as err:
        raise UserError(str(err)) from None
    print(f"{args.a} : {args.b} :: {args.c} : ?  ({args.method})")
    _print_ranking(answers)


def cmd_evaluate(args) -> None:
    require_word_vectors(Path(args.model_dir), "evaluate")
    evaluation.run(args)


def cmd_export(args) -> None:
    folder, out = Path(args.model), Path(args.out)
    if args.format in FOLDER_FORMATS:
        return export_static(folder, out, args)
    vectors = load_word_vectors(folder, "export")
    write_header, _ = EXPORT_FORMATS[args.format]
    check_export_target(folder, out, args.overwrite)
    if args.format == "fasttext-bin":
        vectors = fasttext_vectors(folder, vectors)
    # Written beside the target and renamed over it, so a failure (a full disk) leaves the old file.
    temporary = out.with_name(f".{out.name}.partial")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if args.format == "fasttext-bin":
            vectors.save_fasttext_bin(temporary)
        else:
            vectors.save_word2vec_format(temporary, write_header=write_header)
        os.replace(temporary, out)
    except ValueError as err:
        raise UserError(f"cannot export {folder}: {err}") from None
    except OSError as err:
        raise UserError(f"cannot write {out}: {err.strerror or err}") from None
    finally:
        temporary.unlink(missing_ok=True)
    print(f"wrote {len(vectors)} words x {vectors.vector_size} dimensions to {out} ({args.format})")


def export_static(folder: Path, out: Path, args) -> None:
    """A sentence-transformers or model2vec folder, written by those libraries (see vectors.static)."""
    from hf_pretrain.vectors import static

    require_word_vectors(folder, "export")
    if out.exists() and (out.resolve() == folder.resolve() or not out.is_dir()):
        raise UserError(f"{out} is {'the model folder' if out.is_dir() else 'a file'}: give a new folder to write")
    if out.is_dir() and any(out.iterdir()) and not args.overwrite:
        raise UserError(f"{out} is not empty: pass --overwrite to write into it, or choose another folder")
    write = static.to_sentence_transformers if args.format == "sentence-transformers" else static.to_model2vec
    try:
        write(folder, out)
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"cannot export {folder} as {args.format}: {err}") from None
    print(f"wrote {folder} to {out} ({args.format})")


def fasttext_vectors(folder: Path, vectors):
    """The `FastTextVectors` of a fastText folder (a `FastTextVectors.save` folder read with its
    subword table); anything else cannot become a fastText `.bin`."""
    from hf_pretrain.fasttext.vectors import SETTINGS_FILE, FastTextVectors

    if not (folder / "config.json").is_file() and (folder / SETTINGS_FILE).is_file():
        try:
            vectors = FastTextVectors.load(folder)
        except (OSError, ValueError, KeyError) as err:
            raise UserError(f"cannot load fastText vectors from {folder}: {err}") from None
    if not isinstance(vectors, FastTextVectors):
        raise UserError(f"{folder} holds no fastText model; --format fasttext-bin needs one (use fasttext-vec)")
    return vectors


def check_export_target(folder: Path, out: Path, overwrite: bool) -> None:
    """Never export over the model being read, and over another existing file only when asked."""
    if out.is_dir():
        raise UserError(f"{out} is a folder; give the path of the file to write")
    if out.exists() and out.resolve().parent == folder.resolve():
        raise UserError(
            f"{out} is a file of the model {folder}: exporting over it would destroy the model; choose another path"
        )
    if out.exists() and not overwrite:
        raise UserError(f"{out} already exists: pass --overwrite to replace it, or choose another path")


def cmd_encode(args) -> None:
    from hf_pretrain.bert import get_bert_encoding

    folder = Path(args.model)
    model, tokenizer = load_bert(folder, "encode")
    try:
        encoding = get_bert_encoding(model, tokenizer, args.text, args.text_pair)
    except ValueError as err:  # e.g. an input longer than the model's positions
        raise UserError(str(err)) from None
    cls = encoding.cls
    norm = float(cls.norm())
    print(f"tokens ({len(encoding.tokens)}): {' '.join(encoding.tokens)}")
    dims = min(args.dims, cls.shape[0])
    first = " ".join(f"{value:.4f}" for value in cls[:dims].tolist())
    print(f"[CLS] vector: {cls.shape[0]} dimensions, norm {norm:.4f}, first {dims}: {first}")
    if args.output:
        output = Path(args.output)
        result = {
            "model": str(folder),
            "text": args.text,
            "text_pair": args.text_pair,
            "tokens": encoding.tokens,
            "sequence_ids": encoding.sequence_ids,
            "words": encoding.words,
            "cls_norm": norm,
            "cls": cls.tolist(),
            "last_hidden_state": encoding.last_hidden_state.tolist(),
        }
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(json.dumps(result, ensure_ascii=False) + "\n", encoding="utf8")
        except OSError as err:
            raise UserError(f"cannot write {output}: {err.strerror or err}") from None
        print(f"encoding written to {output}")


def _fill_with_pipeline(folder: Path, text: str, top_k: int) -> list[list[dict]]:
    from transformers import pipeline

    with quiet_transformers():
        fill = pipeline("fill-mask", model=str(folder), device="cpu")
        result = fill(text, top_k=top_k)
    return result if result and isinstance(result[0], list) else [result]


def _fill_with_model(model, tokenizer, text: str, top_k: int) -> list[list[dict]]:
    """The fill-mask pipeline's answers, from `HfpBertForPreTraining`'s masked-LM head."""
    import torch

    encoded = tokenizer(text, return_tensors="pt")
    input_ids = encoded["input_ids"][0]
    with torch.no_grad():
        logits = model(
            **{k: v for k, v in encoded.items() if k in ("input_ids", "attention_mask", "token_type_ids")},
            return_dict=True,
        ).prediction_logits[0]
    results = []
    for position in (input_ids == tokenizer.mask_token_id).nonzero().flatten().tolist():
        probabilities = logits[position].float().softmax(-1)
        scores, ids = probabilities.topk(min(top_k, probabilities.shape[0]))
        results.append(
            [
                {"score": score, "token": token_id, "token_str": tokenizer.decode([token_id])}
                for score, token_id in zip(scores.tolist(), ids.tolist())
            ]
        )
    return results


def _fill(text: str, mask: str, index: int, token: str) -> str:
    """`text` with its `index`-th mask replaced by `token`."""
    pieces = text.split(mask)
    return mask.join(pieces[: index + 1]) + token + mask.join(pieces[index + 1 :])


def cmd_fill_mask(args) -> None:
    folder = Path(args.model)
    model, tokenizer = load_bert(folder, "fill-mask")
    mask = tokenizer.mask_token
    if mask is None:
        raise UserError(f"the tokenizer of {folder} has no mask token")
    text = args.text.replace("[MASK]", mask)
    if mask not in text:
        raise UserError(f"no mask in {args.text!r}: write [MASK] (or {mask}) where a word is missing")
    length = len(tokenizer(text)["input_ids"])
    if length > model.config.max_position_embeddings:
        raise UserError(
            f"the text is {length} tokens long; {folder} reads at most {model.config.max_position_embeddings}"
        )
    exported = folder / "transformers"
    if (exported / "config.json").is_file():
        results = _fill_with_pipeline(exported, text, args.n)
    else:
        results = _fill_with_model(model, tokenizer, text, args.n)
    for index, answers in enumerate(results):
        if len(results) > 1:
            print(f"mask {index + 1} of {len(results)}:")
        width = max([len(answer["token_str"].strip()) for answer in answers] + [5])
        for answer in answers:
            token = answer["token_str"].strip()
            print(f"{answer['score']:.4f}  {token.ljust(width)}  {_fill(text, mask, index, token)}")


# ---------------------------------------------------------------------------- parser


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Query, evaluate and export models trained with hf-pretrain.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_examples(
            f"{PROG} similar outputs/word2vec king -n 5",
            f'{PROG} fill-mask outputs/bert "the [MASK] is a species of lobster"',
            f"{PROG} COMMAND --help     (the options and examples of one command)",
        ),
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help: str, examples: list[str], handler):
        sub = commands.add_parser(
            name,
            help=help,
            description=help,
            epilog=_examples(*examples),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(handler=handler)
        return sub

    _word_vector_commands(add)
    _bert_commands(add)
    return parser


def _word_vector_commands(add) -> None:
    """similar, analogy, evaluate, export: the commands on word vectors."""
    sub = add(
        "similar",
        "Words nearest to WORD by cosine similarity.",
        [f"{PROG} similar outputs/word2vec king", f"{PROG} similar outputs/fasttext unseenword -n 20"],
        cmd_similar,
    )
    sub.add_argument("model", metavar="MODEL", help="a saved word2vec, GloVe or fastText folder (or WordVectors.save)")
    sub.add_argument("word", metavar="WORD")
    sub.add_argument("-n", type=_positive, default=10, help="how many words to list (default 10)")

    sub = add(
        "analogy",
        "A is to B as C is to ?: the words nearest to B - A + C.",
        [
            f"{PROG} analogy outputs/word2vec man king woman",
            f"{PROG} analogy outputs/glove paris france berlin -n 10 --method 3cosmul",
        ],
        cmd_analogy,
    )
    sub.add_argument("model", metavar="MODEL", help="a saved word2vec, GloVe or fastText folder (or WordVectors.save)")
    sub.add_argument("a", metavar="A")
    sub.add_argument("b", metavar="B")
    sub.add_argument("c", metavar="C")
    sub.add_argument("-n", type=_positive, default=5, help="how many answers to list (default 5)")
    sub.add_argument("--method", choices=("3cosadd", "3cosmul"), default="3cosadd", help="ranking (default 3cosadd)")

    sub = add(
        "evaluate",
        evaluation.DESCRIPTION + " Without files: WordSim-353 and the Google analogy set.",
        [
            f"{PROG} evaluate outputs/word2vec",
            f"{PROG} evaluate outputs/fasttext --similarity simlex999.txt --analogy questions-words.txt "
            "--output results.json",
        ],
        cmd_evaluate,
    )
    evaluation.add_arguments(sub)

    sub = add(
        "export",
        "Write the word vectors as a file other tools read (gensim, GloVe, fastText; a fastText model also as .bin).",
        [
            f"{PROG} export outputs/word2vec vectors.txt                      # word2vec text, 'N D' header",
            f"{PROG} export outputs/glove glove.txt --format glove             # no header",
            f"{PROG} export outputs/fasttext vectors.vec --format fasttext-vec",
            f"{PROG} export outputs/fasttext model.bin --format fasttext-bin   # fasttext.load_model, gensim",
            f"{PROG} export outputs/word2vec st-model --format sentence-transformers  # SentenceTransformer(...)",
            f"{PROG} export outputs/word2vec m2v-model --format model2vec      # StaticModel.from_pretrained(...)",
        ],
        cmd_export,
    )
    sub.add_argument("model", metavar="MODEL", help="a saved word2vec, GloVe or fastText folder (or WordVectors.save)")
    sub.add_argument("out", metavar="OUT", help="the file to write (a folder for sentence-transformers / model2vec)")
    sub.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    sub.add_argument(
        "--format",
        choices=tuple(EXPORT_FORMATS),
        default="word2vec",
        help="word2vec text ('N D' header; the default), GloVe text (no header), fastText .vec, or the fastText "
        "reference's .bin (fastText models with char n-grams and mean composition; unseen words keep their vectors), "
        "or a static sentence embedder folder for sentence-transformers or model2vec (the mean of the known words)",
    )


def _bert_commands(add) -> None:
    """encode and fill-mask: the commands on a BERT folder."""
    sub = add(
        "encode",
        "Tokens and contextual vectors of a text (or a text pair) from BERT's encoder.",
        [
            f'{PROG} encode outputs/bert "a crane is flying"',
            f'{PROG} encode outputs/bert "a crane is flying" "it is a big bird" --output encoding.json',
        ],
        cmd_encode,
    )
    sub.add_argument("model", metavar="BERT_MODEL", help="a folder written by recipes/pretrain_bert.py")
    sub.add_argument("text", metavar="TEXT")
    sub.add_argument("text_pair", metavar="TEXT_B", nargs="?", default=None, help="an optional second sentence")
    sub.add_argument("--dims", type=_positive, default=8, help="[CLS] dimensions to print (default 8)")
    sub.add_argument("--output", metavar="JSON", help="also write tokens, [CLS] and every token's vector to this file")

    sub = add(
        "fill-mask",
        "The likeliest tokens at each [MASK] of a text, from BERT's masked-LM head.",
        [
            f'{PROG} fill-mask outputs/bert "the [MASK] is a species of lobster"',
            f'{PROG} fill-mask outputs/bert "the <mask> sat on the <mask>" -n 3',
        ],
        cmd_fill_mask,
    )
    sub.add_argument("model", metavar="BERT_MODEL", help="a folder written by recipes/pretrain_bert.py")
    sub.add_argument("text", metavar="TEXT", help="text with [MASK] (or the tokenizer's own mask token, e.g. <mask>)")
    sub.add_argument("-n", type=_positive, default=5, help="answers per mask (default 5)")


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value!r}")
    return number


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except UserError as err:
        print(f"{PROG} {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
