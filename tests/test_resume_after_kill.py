"""A run killed with SIGKILL and resumed from its last checkpoint ends with the same weights, bit for
bit, as a run never interrupted: word2vec (negative sampling and hierarchical softmax), GloVe,
fastText and BERT. `tests/stress/kill_resume.py --repeat 10` repeats it at random kill points."""

import random
import sys
from pathlib import Path

import pytest

# Each test starts recipe or command processes: `pytest -m "not slow"` leaves them out.
pytestmark = pytest.mark.slow

sys.path.insert(0, str(Path(__file__).resolve().parent / "stress"))
from kill_resume import RUNS, kill_and_resume, reference  # noqa: E402


@pytest.mark.parametrize("family", sorted(RUNS))
def test_killed_run_resumes_to_identical_weights(tmp_path, family):
    uninterrupted, steps = reference(family, tmp_path)
    assert len(steps) >= 4, steps
    result = kill_and_resume(family, tmp_path / "killed", uninterrupted, steps, random.Random(family))
    assert result["resumed_from"] < steps[-1]
    assert result["identical"], result
