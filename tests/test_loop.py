"""The shared loop: its whole state travels in checkpoints, a recipe's own running totals too."""

import json
from pathlib import Path

import pytest
import torch

from hf_pretrain.bert.train import BertArguments, BertTrainingArguments, pretrain_bert
from hf_pretrain.core.arguments import parse_args
from hf_pretrain.core.checkpoints import non_finite_weight
from hf_pretrain.core.loop import LoopState

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "tiny_corpus.txt"


def pretrain(out, *flags):
    args = parse_args(
        [BertArguments, BertTrainingArguments],
        [
            "--dataset",
            str(FIXTURE),
            "--min_frequency",
            "2",
            "--max_len",
            "32",
            "--batch_size",
            "16",
            "--epochs",
            "2",
            "--max_steps",
            "0",
            "--logging_steps",
            "5",
            "--eval_batches",
            "0",
            "--num_threads",
            "1",
            "--seed",
            "0",
            "--output_dir",
            str(out),
            *flags,
        ],
    )
    return pretrain_bert(*args)


@pytest.mark.parametrize("mlm_loss", ["masked", "d2l"])
def test_bert_losses_after_a_resume_cover_every_step_of_the_run(tmp_path, mlm_loss):
    whole = pretrain(tmp_path / "whole", "--mlm_loss", mlm_loss, "--checkpointing_steps", "3")
    resumed = pretrain(
        tmp_path / "resumed",
        "--mlm_loss",
        mlm_loss,
        "--resume_from_checkpoint",
        str(tmp_path / "whole" / "checkpoints" / "step_3"),
    )
    assert resumed["global_step"] == whole["global_step"] > 3
    for key in ("mlm_loss", "nsp_loss", "mlm_loss_masked_tokens"):
        assert resumed[key] == pytest.approx(whole[key], rel=1e-9), key


def test_a_checkpoint_holds_the_whole_loop_state(tmp_path):
    pretrain(tmp_path / "run", "--checkpointing_steps", "2")
    saved = json.loads((tmp_path / "run" / "checkpoints" / "step_2" / "trainer_state.json").read_text())
    state = LoopState(**saved["state"])
    assert state.global_step == 2 and state.step_in_epoch == 2 and state.epoch == 0
    assert len(saved["totals"]) == 3 and saved["totals"][0] > 0
    assert saved["identity"]["arguments"]["max_len"] == 32


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_non_finite_weight_is_found_by_name(bad, dtype):
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)).to(dtype)
    assert non_finite_weight([model]) is None
    with torch.no_grad():
        model[1].weight[1, 2] = bad
    assert non_finite_weight([torch.nn.Linear(2, 0), model]) == "1.weight"
