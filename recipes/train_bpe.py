"""Train a byte pair encoding tokenizer for BERT and write a folder `AutoTokenizer.from_pretrained` loads.

python recipes/train_bpe.py                                              # WikiText-2, 30,000 symbols
python recipes/train_bpe.py --dataset ptb --vocab_size 10000 --lowercase --output_dir outputs/bpe-ptb
"""

import sys

from hf_pretrain.core.startup import imports_without_collection, skip_exit_collection

with imports_without_collection():
    from hf_pretrain.core.arguments import parse_args
    from hf_pretrain.core.bpe import BpeArguments, train_bpe


def main(argv=None):
    (args,) = parse_args([BpeArguments], argv)
    results = train_bpe(args)
    print(f"{results['vocab_size']} symbols written to {args.output_dir}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
    skip_exit_collection()
