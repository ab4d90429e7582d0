"""The BPE recipe: corpus → byte pair encoding tokenizer → a folder `AutoTokenizer` loads."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Optional

from .output_dir import OutputDirLock
from .publish import HubArguments, OutputDirError, check_hub_access, publish, without_secrets
from .streaming import training_text
from .tokenization import BERT_SPECIAL_TOKENS, train_bpe_tokenizer


@dataclass
class BpeArguments(HubArguments):
    dataset: str = field(default="wikitext-2", metadata={"help": "wikitext-2, ptb, a text file/folder or a Hub id."})
    text_column: Optional[str] = field(default=None, metadata={"help": "Text column of a Hub dataset."})
    vocab_size: int = field(default=30000, metadata={"help": "Symbols in the vocabulary, special tokens included."})
    min_frequency: int = field(default=2, metadata={"help": "Merge only pairs seen at least this often."})
    lowercase: bool = field(default=False, metadata={"help": "Lower-case the text first."})
    split_punctuation: bool = field(default=False, metadata={"help": "Split punctuation off words (raw text)."})
    model_max_length: Optional[int] = field(default=None, metadata={"help": "Longest input the model takes."})
    output_dir: str = field(default="outputs/bpe", metadata={"help": "Where the tokenizer folder is written."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Replace a tokenizer already in output_dir."})


def train_bpe(args: BpeArguments) -> dict:
    if os.path.exists(args.output_dir) and not os.path.isdir(args.output_dir):
        raise OutputDirError(
            f"--output_dir {args.output_dir} is a file, not a folder: choose a folder to write the tokenizer to"
        )
    if os.path.isfile(os.path.join(args.output_dir, "tokenizer.json")) and not args.overwrite_output_dir:
        raise OutputDirError(
            f"{args.output_dir} already holds a tokenizer; pass --overwrite_output_dir to replace it "
            "or choose another --output_dir"
        )
    repo_id = check_hub_access(args, args.output_dir)
    texts = training_text(args.dataset, args.text_column)
    tokenizer = train_bpe_tokenizer(
        texts,
        vocab_size=args.vocab_size,
        min_frequency=args.min_frequency,
        lowercase=args.lowercase,
        special_tokens=BERT_SPECIAL_TOKENS,
        split_punctuation=args.split_punctuation,
        model_max_length=args.model_max_length,
    )
    results = {"vocab_size": len(tokenizer), **without_secrets(asdict(args))}

    def write(folder):
        tokenizer.save_pretrained(folder)
        with open(os.path.join(folder, "bpe_args.json"), "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)

    os.makedirs(args.output_dir, exist_ok=True)
    with OutputDirLock(args.output_dir):
        publish(args.output_dir, write, repo_id, args, "BPE tokenizer", results)
    return results
