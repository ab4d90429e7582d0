"""Fine-tune a pretrained BERT folder as a text classifier with transformers' Trainer.

accelerate launch recipes/finetune_bert.py --model_name_or_path outputs/bert --dataset reviews.csv \
    --text_column text --label_column label --output_dir outputs/bert-classifier
accelerate launch recipes/finetune_bert.py --model_name_or_path outputs/bert --dataset nyu-mll/glue \
    --dataset_config sst2 --text_column sentence --output_dir outputs/bert-sst2

The folder holds the classifier (config with the label names, weights, tokenizer), all_results.json
(eval_accuracy, ...) and a model card; `pipeline("text-classification", model=folder)` runs it.
"""

import sys

from hf_pretrain.core.startup import imports_without_collection, skip_exit_collection

with imports_without_collection():
    from hf_pretrain.bert.finetune import ClassifierArguments, FinetuneError, FinetuneTrainingArguments, finetune_bert
    from hf_pretrain.core.arguments import parse_args


def main(argv=None):
    args, training = parse_args([ClassifierArguments, FinetuneTrainingArguments], argv)
    try:
        return finetune_bert(args, training)
    except FinetuneError as error:
        raise SystemExit(f"finetune_bert.py: error: {error}") from None


if __name__ == "__main__":
    main(sys.argv[1:])
    skip_exit_collection()
