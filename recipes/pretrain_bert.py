"""Pretrain BERT (masked language modelling + next sentence prediction) and write a Hub-ready folder.

accelerate launch recipes/pretrain_bert.py                                   # the book's setup on WikiText-2
accelerate launch recipes/pretrain_bert.py recipes/configs/bert_d2l.yaml
accelerate launch recipes/pretrain_bert.py --tokenizer bpe --bpe_vocab_size 8000 --epochs 3 --output_dir outputs/bert-bpe
"""

import sys

from hf_pretrain.core.startup import imports_without_collection, skip_exit_collection

with imports_without_collection():
    from hf_pretrain.bert.train import BertArguments, BertTrainingArguments, pretrain_bert
    from hf_pretrain.core.arguments import parse_args


def main(argv=None):
    bert_args, training_args = parse_args([BertArguments, BertTrainingArguments], argv)
    return pretrain_bert(bert_args, training_args)


if __name__ == "__main__":
    main(sys.argv[1:])
    skip_exit_collection()
