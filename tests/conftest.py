import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# Plain `pytest` puts only tests/ on sys.path; make the uninstalled package importable too.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def test_data_dir() -> Path:
    """Folder with the shared reference data (wikitext-2/, ptb/, eval/)."""
    env = os.environ.get("HF_PRETRAIN_TEST_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


# Test modules may import this helper; without the flag pytest would collect it there as a test.
test_data_dir.__test__ = False


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = test_data_dir()
    if not path.is_dir():
        message = (
            f"shared test data not found at {path}; set HF_PRETRAIN_TEST_DATA to the folder "
            "holding wikitext-2/ and ptb/"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def third_party(module: str):
    """Import a third-party package a test compares with (gensim, fasttext): skipped where it is not
    installed, but under CI=true a missing package fails, since `.ci/run` installs the test extra."""
    if os.environ.get("CI", "").lower() == "true":
        import importlib

        try:
            return importlib.import_module(module)
        except ImportError as error:
            pytest.fail(f"{module} is missing under CI: the test extra must install it ({error})")
    return pytest.importorskip(module)


third_party.__test__ = False
