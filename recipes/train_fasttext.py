"""Train fastText word vectors (subword-composed skip-gram / CBOW) and write a Hub-ready folder.

accelerate launch recipes/train_fasttext.py                                   # skip-gram on WikiText-2
accelerate launch recipes/train_fasttext.py recipes/configs/fasttext_wikitext2.yaml
accelerate launch recipes/train_fasttext.py --subwords bpe --bpe_vocab_size 8000 --output_dir outputs/fasttext-bpe
"""

import sys

from hf_pretrain.core.startup import imports_without_collection, skip_exit_collection

with imports_without_collection():
    from hf_pretrain.core.arguments import parse_args
    from hf_pretrain.fasttext.train import FastTextArguments, FastTextTrainingArguments, train_fasttext


def main(argv=None):
    fasttext_args, training_args = parse_args([FastTextArguments, FastTextTrainingArguments], argv)
    return train_fasttext(fasttext_args, training_args)


if __name__ == "__main__":
    main(sys.argv[1:])
    skip_exit_collection()
