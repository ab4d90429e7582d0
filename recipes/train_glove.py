"""Train GloVe word vectors (co-occurrence counts + weighted least squares, AdaGrad) and write a Hub-ready folder.

accelerate launch recipes/train_glove.py                                      # WikiText-2, d100, 15 epochs
accelerate launch recipes/train_glove.py recipes/configs/glove_wikitext2.yaml
accelerate launch recipes/train_glove.py --window 5 --x_max 100 --epochs 25 --output_dir outputs/glove-w5
"""

import sys

from hf_pretrain.core.startup import imports_without_collection, skip_exit_collection

with imports_without_collection():
    from hf_pretrain.core.arguments import parse_args
    from hf_pretrain.glove.train import GloVeArguments, GloVeTrainingArguments, train_glove


def main(argv=None):
    glove_args, training_args = parse_args([GloVeArguments, GloVeTrainingArguments], argv)
    return train_glove(glove_args, training_args)


if __name__ == "__main__":
    main(sys.argv[1:])
    skip_exit_collection()
