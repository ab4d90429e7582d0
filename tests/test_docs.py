"""Every ```python block of docs/*.md runs, each in a fresh Python process.

The blocks find the fixtures through `HF_PRETRAIN_FIXTURES` (default `tests/fixtures`, so they also
run from the repository root) and write only under temporary folders. They run in a working folder of
their own, offline, with one torch thread; two at a time by default (`HF_PRETRAIN_DOCS_JOBS`), since
most of each block's time is importing torch and transformers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

# Each test starts recipe or command processes: `pytest -m "not slow"` leaves them out.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
FIXTURES = REPO / "tests" / "fixtures"
FAMILY_PAGES = ("word2vec.md", "glove.md", "fasttext_and_bpe.md", "bert.md")
BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
TIMEOUT = 300


def python_blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


BLOCKS = [(page.name, index) for page in sorted(DOCS.glob("*.md")) for index, _ in enumerate(python_blocks(page))]


def run_block(page: str, index: int) -> subprocess.CompletedProcess:
    code = python_blocks(DOCS / page)[index]
    with tempfile.TemporaryDirectory(prefix=f"docs-{Path(page).stem}-{index}-") as workdir:
        script = Path(workdir) / "block.py"
        script.write_text(code, encoding="utf-8")
        env = dict(os.environ)
        env.update(
            HF_HUB_OFFLINE="1",
            HF_DATASETS_OFFLINE="1",
            OMP_NUM_THREADS="1",
            TOKENIZERS_PARALLELISM="false",
            MPLBACKEND="Agg",
            HF_PRETRAIN_FIXTURES=str(FIXTURES),
            HF_DATASETS_CACHE=str(Path(workdir) / "datasets-cache"),
            # The checkout's package, whether or not (and wherever) it is installed.
            PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p),
        )
        return subprocess.run(
            [sys.executable, str(script)], cwd=workdir, env=env, capture_output=True, text=True, timeout=TIMEOUT
        )


@pytest.fixture(scope="module")
def block_runs(request):
    """Start every selected block at once on a small pool; each test then waits for its own."""
    selected = [
        (item.callspec.params["page"], item.callspec.params["index"])
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_docs_block" and hasattr(item, "callspec")
    ]
    jobs = int(os.environ.get("HF_PRETRAIN_DOCS_JOBS", min(2, os.cpu_count() or 1)))
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        yield {key: pool.submit(run_block, *key) for key in selected}


@pytest.mark.parametrize("page", FAMILY_PAGES)
def test_docs_page_has_a_snippet(page):
    assert (DOCS / page).is_file(), f"docs/{page} is missing"
    assert python_blocks(DOCS / page), f"docs/{page} has no ```python block"


@pytest.mark.parametrize(("page", "index"), BLOCKS, ids=[f"{page}-block{index}" for page, index in BLOCKS])
def test_docs_block(block_runs, page, index):
    result = block_runs[(page, index)].result()
    if result.returncode != 0:
        pytest.fail(
            f"docs/{page}, python block {index} exited with {result.returncode}\n"
            f"--- stdout (end) ---\n{result.stdout[-3000:]}\n--- stderr (end) ---\n{result.stderr[-6000:]}",
            pytrace=False,
        )
