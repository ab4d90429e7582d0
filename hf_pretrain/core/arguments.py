"""Recipe arguments: `HfArgumentParser` dataclasses, a YAML file of defaults, then CLI overrides."""

from __future__ import annotations

import dataclasses
import inspect
import os
import sys
from typing import Sequence

import yaml
from transformers import HfArgumentParser


def parse_args(dataclass_types: Sequence[type], args: Sequence[str] | None = None):
    """`recipe.py [config.yaml] [--flag value ...]`: the YAML sets defaults, flags override them."""
    parser = HfArgumentParser(list(dataclass_types))
    argv = list(sys.argv[1:] if args is None else args)
    if argv and not argv[0].startswith("-") and argv[0].endswith((".yaml", ".yml")):
        path = argv.pop(0)
        if not os.path.isfile(path):
            parser.error(f"config file not found: {path}")
        with open(path, encoding="utf-8") as f:
            values = yaml.safe_load(f) or {}
        if not isinstance(values, dict):
            parser.error(f"{path} must hold a mapping of argument names to values")
        known = {field.name for dc in dataclass_types for field in dataclasses.fields(dc)}
        unknown = sorted(set(values) - known)
        if unknown:
            parser.error(f"{path}: unknown argument(s) {', '.join(unknown)}")
        parser.set_defaults(**values)
    return parser.parse_args_into_dataclasses(args=argv)


def config_from_arguments(config_class: type, arguments, *, renamed: dict | None = None, **values):
    """`config_class(...)` with every hyperparameter its `__init__` takes read from the field of the same
    name in `arguments`, so that a hyperparameter is declared in the arguments dataclass and the config
    and copied nowhere by hand. `renamed` maps a config name to the argument that feeds it (word2vec's
    `sample` is the `--subsample` flag); `values` gives what the arguments do not hold (`vocab_size`)."""
    renamed = renamed or {}
    names = [name for name in inspect.signature(config_class.__init__).parameters if name not in ("self", "kwargs")]
    taken = {
        name: getattr(arguments, renamed.get(name, name))
        for name in names
        if name not in values and hasattr(arguments, renamed.get(name, name))
    }
    return config_class(**taken, **values)
