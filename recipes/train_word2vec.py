"""Train word2vec (skip-gram / CBOW, negative sampling / hierarchical softmax) and write a Hub-ready folder.

accelerate launch recipes/train_word2vec.py                                  # skip-gram NS on WikiText-2
accelerate launch recipes/train_word2vec.py recipes/configs/word2vec_ptb_d2l.yaml
accelerate launch recipes/train_word2vec.py --architecture cbow --epochs 3 --output_dir outputs/cbow
"""

import sys

from hf_pretrain.core.startup import imports_without_collection, skip_exit_collection

with imports_without_collection():
    from hf_pretrain.core.arguments import parse_args
    from hf_pretrain.core.loop import TrainingArguments
    from hf_pretrain.word2vec.train import Word2VecArguments, train_word2vec


def main(argv=None):
    word2vec_args, training_args = parse_args([Word2VecArguments, TrainingArguments], argv)
    return train_word2vec(word2vec_args, training_args)


if __name__ == "__main__":
    main(sys.argv[1:])
    skip_exit_collection()
