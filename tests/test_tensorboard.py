"""`--report_to tensorboard`: the training loop's losses reach TensorBoard event files.

The recipes log through Accelerate's trackers with `project_dir` = the output folder, so the
TensorBoard writer puts its files under the output folder (`<logging_dir>/<family>/`). tensorboard itself (the `[viz]` and
`[test]` extras) is needed to read them back; without it the tests are skipped, except under
`CI=true`, where they fail.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from accelerate import Accelerator

from hf_pretrain.core.arguments import parse_args
from hf_pretrain.core.loop import TrainingArguments
from hf_pretrain.word2vec.train import Word2VecArguments, train_word2vec

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "tiny_corpus.txt"
EVENTS = "events.out.tfevents.*"
EPOCHS = 2

try:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
except ImportError as error:  # pragma: no cover - depends on the environment
    EventAccumulator = None
    if os.environ.get("CI", "").lower() == "true":
        raise ImportError(f"tensorboard is needed for these tests under CI=true: pip install tensorboard ({error})")
    pytestmark = pytest.mark.skip(reason=f"tensorboard is not installed (pip install tensorboard): {error}")


def scalars(root: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of every event file under `root`, by tag, as (step, value) in step order."""
    found: dict[str, list[tuple[int, float]]] = {}
    for folder in sorted({path.parent for path in root.rglob(EVENTS)}):
        accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0})
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            found.setdefault(tag, []).extend((event.step, event.value) for event in accumulator.Scalars(tag))
    return {tag: sorted(values) for tag, values in found.items()}


@pytest.fixture(scope="module")
def tensorboard_run(tmp_path_factory):
    """One tiny word2vec run with `--report_to tensorboard`. The tracker's files are also copied
    aside when the recipe ends training (trackers closed), before the final folder is written."""
    root = tmp_path_factory.mktemp("tensorboard")
    output_dir, snapshot = root / "model", root / "at_end_training"
    end_training = Accelerator.end_training

    def end_training_and_snapshot(self, *args, **kwargs):
        result = end_training(self, *args, **kwargs)
        for path in output_dir.rglob(EVENTS):
            target = snapshot / path.relative_to(output_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        return result

    args = parse_args(
        [Word2VecArguments, TrainingArguments],
        [
            "--dataset",
            str(FIXTURE),
            "--output_dir",
            str(output_dir),
            "--min_count",
            "2",
            "--embedding_dim",
            "16",
            "--epochs",
            str(EPOCHS),
            "--batch_size",
            "64",
            "--logging_steps",
            "10",
            "--num_threads",
            "1",
            "--similarity_file",
            "",
            "--analogy_file",
            "",
            "--report_to",
            "tensorboard",
        ],
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Accelerator, "end_training", end_training_and_snapshot)
        results = train_word2vec(*args)
    return output_dir, snapshot, results


def test_train_loss_is_logged_to_tensorboard(tensorboard_run):
    output_dir, snapshot, results = tensorboard_run
    files = list(snapshot.rglob(EVENTS))
    assert files, f"no TensorBoard events file was written under {output_dir} during training"
    logged = scalars(snapshot)
    assert "train_loss" in logged, f"scalars logged: {sorted(logged)}"
    history = results["loss_history"]
    assert len(history) >= 2
    assert [step for step, _ in logged["train_loss"]] == [step for step, _ in history]
    assert [value for _, value in logged["train_loss"]] == pytest.approx([loss for _, loss in history], rel=1e-6)
    # One `epoch_loss` per epoch, at the step that ended it.
    assert [step for step, _ in logged["epoch_loss"]] == results["epoch_end_steps"]
    assert [value for _, value in logged["epoch_loss"]] == pytest.approx(results["epoch_losses"], rel=1e-6)
    assert len(results["epoch_losses"]) == EPOCHS


def test_tensorboard_events_remain_in_the_output_folder(tensorboard_run):
    output_dir, _, _ = tensorboard_run
    assert (output_dir / "model.safetensors").is_file()
    # Under runs/, which the final folder keeps and a Hub push leaves out.
    assert list((output_dir / "runs").rglob(EVENTS)), f"no TensorBoard events file left under {output_dir}/runs"
    assert "train_loss" in scalars(output_dir)
