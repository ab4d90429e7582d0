"""`import hf_pretrain` stays light (no torch, transformers, datasets or matplotlib), the model types
still reach transformers' Auto classes whichever is imported first, and saved word2vec / GloVe
vectors are queried without transformers or torch. Each check runs in a fresh interpreter, since
this one has imported everything long ago."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("transformers", "torch", "datasets", "matplotlib")


def run_python(code: str, *args: str) -> dict:
    """Run `code` in a new interpreter that imports the checkout's package; its last stdout line is JSON."""
    completed = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(REPO),
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        },
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


LOADED = f"[m for m in {HEAVY!r} if m in sys.modules]"


def test_import_loads_no_heavy_library():
    result = run_python(f"import json, sys\nimport hf_pretrain\nprint(json.dumps({LOADED}))")
    assert result == []


def test_public_names_still_import():
    code = f"""
import json, sys
import hf_pretrain
light = {{"version": hf_pretrain.__version__, "loaded": {LOADED}}}
from hf_pretrain import Vocabulary, WordVectors, load_corpus, HfpBertForPreTraining, FastTextVectors
missing = [name for name in hf_pretrain.__all__ if getattr(hf_pretrain, name, None) is None]
print(json.dumps({{**light, "missing": missing, "bert": hf_pretrain.bert.HfpBertModel.__name__,
                  "dir": sorted(set(hf_pretrain.__all__) - set(dir(hf_pretrain)))}}))
"""
    result = run_python(code)
    assert result == {"version": "0.1.0", "loaded": [], "missing": [], "bert": "HfpBertModel", "dir": []}


REGISTERED = """
import json, sys
from transformers.models.auto import configuration_auto, modeling_auto
import hf_pretrain
from hf_pretrain import bert

configs = {t: configuration_auto.CONFIG_MAPPING[t].__name__ for t in ("word2vec", "glove", "fasttext", "hfp_bert")}
models = {c.__name__: modeling_auto.MODEL_MAPPING[c].__name__
          for c in (hf_pretrain.Word2VecConfig, hf_pretrain.GloVeConfig, hf_pretrain.FastTextConfig)}
heads = {auto: getattr(modeling_auto, auto)._model_mapping[bert.HfpBertConfig].__name__ for auto in bert.AUTO_CLASSES}
saved = {name: getattr(bert, name)._auto_class for name in bert.AUTO_CLASSES.values()}
print(json.dumps({"configs": configs, "models": models, "heads": heads, "saved": saved,
                  "for_model": type(configuration_auto.AutoConfig.for_model("word2vec")).__name__}))
"""


@pytest.mark.parametrize(
    "first",
    [
        "import hf_pretrain\nfrom transformers import AutoModel, AutoConfig",
        "from transformers import AutoModel, AutoConfig\nimport hf_pretrain",
        "from transformers import AutoConfig\nimport hf_pretrain\nfrom transformers import AutoModel",
        # transformers imports its auto modules from within modeling_utils and the model files.
        "import hf_pretrain\nfrom transformers import BertModel",
        "import hf_pretrain\nfrom transformers import PreTrainedModel",
        "import hf_pretrain\nfrom transformers import AutoTokenizer",
        "import hf_pretrain.word2vec",
        "from hf_pretrain.glove.modeling_glove import GloVeModel",
    ],
    ids=[
        "package-first",
        "transformers-first",
        "config-between",
        "bert",
        "modeling-utils",
        "tokenizer",
        "family",
        "modeling",
    ],
)
def test_model_types_reach_the_auto_classes(first):
    from hf_pretrain.bert.modeling_bert import AUTO_CLASSES

    # The first lines run alone first: the check's own imports must not be what registers.
    check = "\nmodule = sys.modules.get('hf_pretrain')\n"
    check += "loaded = [m for m in ('transformers.models.auto.configuration_auto', 'transformers.models.auto.modeling_auto') if m in sys.modules]\n"
    check += "assert module is None or set(loaded) <= module._done, (loaded, module and module._done)\n"
    result = run_python("import sys\n" + first + check + REGISTERED)
    assert result["configs"] == {
        "word2vec": "Word2VecConfig",
        "glove": "GloVeConfig",
        "fasttext": "FastTextConfig",
        "hfp_bert": "HfpBertConfig",
    }
    assert result["models"] == {
        "Word2VecConfig": "Word2VecModel",
        "GloVeConfig": "GloVeModel",
        "FastTextConfig": "FastTextModel",
    }
    assert result["heads"] == AUTO_CLASSES
    assert result["saved"] == {name: auto for auto, name in AUTO_CLASSES.items()}
    assert result["for_model"] == "Word2VecConfig"


@pytest.fixture(scope="module")
def word2vec_folder(tmp_path_factory) -> Path:
    from hf_pretrain import Vocabulary, Word2VecConfig, Word2VecModel

    folder = tmp_path_factory.mktemp("word2vec")
    vocab = Vocabulary.build(["a b b c c c d d d d"], min_count=1)
    Word2VecModel(Word2VecConfig(vocab_size=len(vocab), embedding_dim=4)).save_pretrained(folder)
    vocab.save(folder)
    return folder


def test_saved_vectors_load_without_transformers_or_torch(word2vec_folder):
    code = f"""
import json, sys
from hf_pretrain import WordVectors
from hf_pretrain.cli import main

vectors = WordVectors.from_pretrained(sys.argv[1])
status = main(["similar", sys.argv[1], "d", "-n", "2"])
status += main(["analogy", sys.argv[1], "a", "b", "c", "-n", "1"])
print(json.dumps({{"words": vectors.index_to_key, "status": status, "loaded": {LOADED}}}))
"""
    result = run_python(code, str(word2vec_folder))
    assert result == {"words": ["d", "c", "b", "a"], "status": 0, "loaded": []}


def test_recipes_import_with_the_collector_paused_and_freeze_what_they_imported():
    code = """
import gc, json
from hf_pretrain.core.startup import imports_without_collection, skip_exit_collection
states = []
with imports_without_collection():
    states.append(gc.isenabled())
    import datasets
frozen = gc.get_freeze_count()
try:
    with imports_without_collection():
        raise KeyError
except KeyError:
    pass
states.append(gc.isenabled())
gc.disable()
with imports_without_collection():
    pass
states.append(gc.isenabled())  # a collector the caller had paused stays paused
gc.enable()
garbage = [[] for _ in range(1000)]
skip_exit_collection()
print(json.dumps({"states": states, "frozen": frozen, "after": gc.get_freeze_count()}))
"""
    result = run_python(code)
    assert result["states"] == [False, True, False]
    assert result["frozen"] > 50_000  # what importing datasets created
    assert result["after"] >= result["frozen"] + 1000
    # Every recipe imports that way and freezes when its work is done.
    for recipe in sorted((REPO / "recipes").glob("*.py")):
        text = recipe.read_text()
        assert "with imports_without_collection():" in text and "    skip_exit_collection()" in text, recipe.name
