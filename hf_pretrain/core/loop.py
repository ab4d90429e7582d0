"""The one training loop every recipe uses, on top of Accelerate.

A recipe hands over its prepared models and two callables:
- `epoch_batches(epoch, generator)` yields the batches of one epoch, each carrying `words`, the corpus
  words covered by the end of that batch (for progress, learning-rate decay and words/s), or whatever
  `unit` the recipe counts instead (GloVe counts co-occurrence pairs);
- `step(batch, progress)` trains on one batch and returns (summed loss, count) as tensors, `progress`
  being the fraction of the whole run done, in [0, 1).
The loop owns progress bars, tracker logging, checkpoints, resuming and stopping on a signal. Each
epoch's batches come from a generator seeded with (seed, epoch), so a resumed run replays the same
batches and skips the ones already trained on. Everything a resume needs is in `LoopState`, saved
whole in every checkpoint, plus `totals`, a tensor of the recipe's own running sums.
"""

from __future__ import annotations

import math
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Optional, Sequence

import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from .checkpoints import load_checkpoint, non_finite_weight, save_checkpoint
from .distributed import ReplicaSync, replicas_differ, rounds
from .preemption import StopRequest, TrainingInterrupted
from .publish import HubArguments
from .resume import new_run_id


@dataclass
class TrainingArguments(HubArguments):
    output_dir: str = field(default="outputs/word2vec", metadata={"help": "Where the Hub-ready folder is written."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Replace an existing model in output_dir."})
    seed: int = field(default=42, metadata={"help": "Seed for every random choice of the run."})
    epochs: int = field(default=5, metadata={"help": "Passes over the corpus."})
    max_steps: Optional[int] = field(
        default=None, metadata={"help": "Stop after this many steps, whatever the epochs (0 or unset: no limit)."}
    )
    batch_size: int = field(default=2048, metadata={"help": "Centre words (or examples) per step."})
    optimizer: str = field(
        default="sgd",
        metadata={"help": "'sgd' (linear decay, as word2vec.c), 'adam' (as d2l) or 'adagrad' (GloVe, as glove.c)."},
    )
    learning_rate: Optional[float] = field(
        default=None, metadata={"help": "Default: 0.025 for skip-gram SGD, 0.05 for CBOW SGD, 0.002 for Adam."}
    )
    min_learning_rate: float = field(default=1e-4, metadata={"help": "Floor of the linear decay (SGD)."})
    logging_steps: int = field(default=50, metadata={"help": "Log the running loss every N steps."})
    checkpointing_steps: Optional[str] = field(
        default=None, metadata={"help": "Save a checkpoint every N steps, or 'epoch'."}
    )
    resume_from_checkpoint: Optional[str] = field(
        default=None, metadata={"help": "A checkpoint folder, or 'latest' for the newest in output_dir."}
    )
    ignore_checkpoint_mismatch: bool = field(
        default=False,
        metadata={
            "help": "Resume even when the arguments or the corpus differ from the checkpoint's run (not recommended)."
        },
    )
    report_to: Optional[str] = field(default=None, metadata={"help": "Accelerate tracker: tensorboard, wandb, all..."})
    num_threads: Optional[int] = field(default=None, metadata={"help": "torch intra-op threads (default: all cores)."})
    sync_steps: int = field(
        default=8,
        metadata={
            "help": "Several processes, sparse word models: sum the processes' changes every N rounds "
            "(and at every epoch end, checkpoint and the end of the run)."
        },
    )

    def __post_init__(self):
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.max_steps is not None and self.max_steps < 0:
            raise ValueError(f"max_steps must be >= 0, got {self.max_steps}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.optimizer not in ("sgd", "adam", "adagrad"):
            raise ValueError(f"optimizer must be 'sgd', 'adam' or 'adagrad', got {self.optimizer!r}")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.sync_steps < 1:
            raise ValueError(f"sync_steps must be >= 1, got {self.sync_steps}")
        if self.checkpointing_steps not in (None, "epoch") and not str(self.checkpointing_steps).isdigit():
            raise ValueError(
                f"checkpointing_steps must be a number of steps or 'epoch', got {self.checkpointing_steps!r}"
            )


def linear_decay(initial: float, minimum: float) -> Callable[[float], float]:
    """word2vec.c / gensim schedule: from `initial` down to `minimum` over the run."""
    return lambda progress: max(minimum, initial - (initial - minimum) * progress)


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite: training stops before any model is written."""


class NoTrainingDataError(ValueError):
    """An epoch gave no batch to train on: the corpus is too small for the settings."""


@dataclass
class LoopState:
    """Where the run is: saved whole in every checkpoint."""

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    loss_sum: float = 0.0  # of the current epoch
    loss_count: float = 0.0
    epoch_losses: list = field(default_factory=list)
    run_loss_sum: float = 0.0  # of every epoch: what d2l prints
    run_loss_count: float = 0.0
    loss_history: list = field(default_factory=list)  # (step, running loss) at every logging step
    epoch_end_steps: list = field(default_factory=list)


class TrainLoop:
    """The epochs of one run. With several processes (see `distributed`), `distribute="interleave"`
    trains each process on every N-th batch and keeps the replicas equal with `ReplicaSync`;
    `"split"` hands every process every (global) batch, for the recipe to take its rows with
    `shard_rows`, and leaves the gradients to DDP. Steps count rounds, so they mean the same on every
    process; losses and words are summed over the processes.

    `identity` (see `resume.run_identity`) is saved in every checkpoint, and a resume from a checkpoint
    whose identity differs is refused. SIGTERM or SIGINT stop the run after the current step (with
    several processes, at the next logging step, which they all reach together) with a checkpoint,
    raising `TrainingInterrupted`.
    """

    def __init__(
        self,
        accelerator: Accelerator,
        args: TrainingArguments,
        *,
        models: Sequence[torch.nn.Module],
        epoch_batches: Callable[[int, torch.Generator], Iterable[dict]],
        step: Callable[[dict, float], tuple[torch.Tensor, torch.Tensor]],
        words_per_epoch: int,
        family: str,
        unit: str = "word",
        distribute: str = "interleave",
        identity: Optional[dict] = None,
        totals: Optional[torch.Tensor] = None,
    ):
        if distribute not in ("interleave", "split"):
            raise ValueError(f"distribute must be 'interleave' or 'split', got {distribute!r}")
        self.accelerator, self.args = accelerator, args
        self.models = [accelerator.unwrap_model(model) for model in models]
        self.epoch_batches, self.step = epoch_batches, step
        self.words_per_epoch, self.family, self.unit, self.identity = words_per_epoch, family, unit, identity
        self.totals = totals
        self.world, self.rank = accelerator.num_processes, accelerator.process_index
        self.interleave = self.world > 1 and distribute == "interleave"
        self.sync: Optional[ReplicaSync] = None
        self.state = LoopState()
        self.run_id = new_run_id()
        self.last_checkpoint: Optional[str] = None
        self.by_steps = bool(args.max_steps)  # the run may end inside an epoch: progress counts steps
        self.total_words = args.epochs * words_per_epoch
        self.stop = StopRequest()
        device = accelerator.device
        # On an accelerator the losses stay on the device between logging steps: reading one back every
        # step would stall the queue. On a CPU reading it is free, so a NaN is caught at the step it appears.
        self.check_each_step = device.type == "cpu"
        # Summed loss and count since the last flush, and (several processes) whether a stop was asked for.
        self.pending = torch.zeros(3, dtype=torch.float32 if device.type == "mps" else torch.float64, device=device)
        self.running = [0.0, 0.0]
        self.trained_words = 0
        self.partial_loss: Optional[float] = None

    # ------------------------------------------------------------------------------ the run

    def run(self) -> dict:
        if self.args.resume_from_checkpoint:
            self.resume()
        if self.interleave:
            self.sync = ReplicaSync(self.models)  # its base copy is taken after the checkpoint is loaded
        self.bar = self.progress_bar()
        self.start = time.perf_counter()
        with self.stop.installed():
            for epoch in range(self.state.epoch, 10**9 if self.by_steps else self.args.epochs):
                if self.reached_max_steps() or not self.run_epoch(epoch):
                    break
        self.bar.close()
        self.synchronise()
        self.check_finite_weights()
        if self.world > 1:
            differ = replicas_differ(self.models)
            if differ:
                raise RuntimeError(f"the processes ended with different weights: {', '.join(differ[:5])}")
        return self.results(time.perf_counter() - self.start)

    def run_epoch(self, epoch: int) -> bool:
        """Train one epoch (or its rest, after a resume); False when the run ended inside it."""
        state = self.state
        skip = state.step_in_epoch if epoch == state.epoch else 0
        if epoch != state.epoch:
            state.epoch, state.step_in_epoch, state.loss_sum, state.loss_count = epoch, 0, 0.0, 0.0
        self.running[:] = [0.0, 0.0]
        generator = torch.Generator().manual_seed(self.args.seed * 1_000_003 + epoch)
        stream = self.epoch_batches(epoch, generator)
        epoch_words, index = 0, -1
        for index, (words, batch) in enumerate(
            rounds(stream, self.world, self.rank) if self.interleave else rounds(stream, 1, 0)
        ):
            if index >= skip:
                self.train_round(index, batch, epoch_words, words)
            epoch_words = words
            if self.reached_max_steps():
                break
        if index < 0:
            raise NoTrainingDataError(
                f"epoch {epoch} gave no batch to train on: the corpus gives no training example with these "
                "settings (more text, a lower --min_count or a smaller --window or --max_len give it some)"
            )
        self.flush()
        if self.reached_max_steps():
            # Ended inside an epoch: report its partial mean, and keep the position resumable.
            if state.loss_count:
                self.partial_loss = state.loss_sum / state.loss_count
            if self.args.checkpointing_steps is not None:
                self.checkpoint()
            return False
        self.end_epoch(epoch)
        return True

    def train_round(self, index: int, batch: Optional[dict], epoch_words: int, words: int) -> None:
        """One step (a process without a batch this round only counts it), then the bookkeeping due."""
        state, args = self.state, self.args
        if self.by_steps:
            progress = state.global_step / args.max_steps
        else:
            progress = (state.epoch * self.words_per_epoch + epoch_words) / self.total_words
        if batch is not None:
            loss_sum, count = self.step(batch, progress)
            if self.check_each_step and not math.isfinite(float(loss_sum)):
                raise NonFiniteLossError(
                    f"the loss became {float(loss_sum)} at epoch {state.epoch}, step {state.global_step + 1}; "
                    + self.stopped_note()
                )
            self.pending[:2] += torch.stack(
                [loss_sum.detach().to(self.pending), torch.as_tensor(count).to(self.pending)]
            )
        state.step_in_epoch = index + 1
        state.global_step += 1
        self.bar.update(1 if self.by_steps else words - epoch_words)
        self.trained_words += words - epoch_words
        if self.interleave and state.global_step % args.sync_steps == 0:
            self.synchronise()
        if state.global_step % args.logging_steps == 0:
            if self.log_running_loss():
                self.interrupt()
        elif self.world == 1 and self.stop:
            self.interrupt()
        steps = args.checkpointing_steps
        if steps not in (None, "epoch") and state.global_step % int(steps) == 0:
            self.flush()
            self.checkpoint()

    def end_epoch(self, epoch: int) -> None:
        state = self.state
        self.synchronise()
        state.epoch_losses.append(state.loss_sum / max(state.loss_count, 1.0))
        state.epoch_end_steps.append(state.global_step)
        state.epoch, state.step_in_epoch, state.loss_sum, state.loss_count = epoch + 1, 0, 0.0, 0.0
        self.accelerator.log({"epoch_loss": state.epoch_losses[-1]}, step=state.global_step)
        if self.args.checkpointing_steps is not None:
            self.checkpoint()

    def reached_max_steps(self) -> bool:
        return self.by_steps and self.state.global_step >= self.args.max_steps

    # ------------------------------------------------------------------------------ losses and logs

    def flush(self) -> bool:
        """Add the pending losses of every process to the running, epoch and run totals; returns
        whether any process was asked to stop (the stop flag travels in the same reduction)."""
        if self.stop:
            self.pending[2] = 1.0
        totals = self.accelerator.reduce(self.pending, "sum") if self.world > 1 else self.pending
        loss_sum, count, stops = totals.tolist()
        self.pending = torch.zeros_like(self.pending)
        if not math.isfinite(loss_sum):
            raise NonFiniteLossError(
                f"the loss became {loss_sum} by step {self.state.global_step} (epoch {self.state.epoch}); "
                + self.stopped_note()
            )
        self.running[0] += loss_sum
        self.running[1] += count
        self.state.loss_sum += loss_sum
        self.state.loss_count += count
        self.state.run_loss_sum += loss_sum
        self.state.run_loss_count += count
        return stops > 0

    def log_running_loss(self) -> bool:
        """At a logging step: the running loss to the bar, the trackers and the loss curve. Returns
        whether a stop was asked for."""
        stopping = self.flush()
        loss_sum, count = self.running
        if count:
            elapsed = time.perf_counter() - self.start
            self.bar.set_postfix(
                {"loss": f"{loss_sum / count:.4f}", f"{self.unit}s_s": f"{self.trained_words / elapsed:,.0f}"}
            )
            self.accelerator.log(
                {"train_loss": loss_sum / count, "epoch": self.state.epoch}, step=self.state.global_step
            )
            self.state.loss_history.append([self.state.global_step, loss_sum / count])
        self.running[:] = [0.0, 0.0]
        return stopping

    def progress_bar(self) -> tqdm:
        state, by_steps = self.state, self.by_steps
        return tqdm(
            total=self.args.max_steps if by_steps else self.total_words,
            initial=state.global_step if by_steps else state.epoch * self.words_per_epoch,
            unit="step" if by_steps else self.unit,
            unit_scale=not by_steps,
            desc=f"{self.family} training",
            disable=not self.accelerator.is_local_main_process,
            dynamic_ncols=True,
        )

    def results(self, runtime: float) -> dict:
        state, unit = self.state, self.unit
        last_epoch = state.epoch_losses[-1] if state.epoch_losses else float("nan")
        return {
            "train_loss": self.partial_loss if self.partial_loss is not None else last_epoch,
            "epoch_losses": state.epoch_losses,
            "epoch_end_steps": state.epoch_end_steps,
            # (step, running loss) at every logging step: the curve of loss.png.
            "loss_history": state.loss_history,
            # What d2l prints: its loss accumulator spans every epoch of the run.
            "train_loss_all_epochs": state.run_loss_sum / max(state.run_loss_count, 1.0),
            "train_runtime": runtime,
            f"train_{unit}s": self.trained_words,
            f"train_{unit}s_per_second": self.trained_words / runtime if runtime > 0 else float("nan"),
            "global_step": state.global_step,
            "num_processes": self.world,
            "run_id": self.run_id,
        }

    # ------------------------------------------------------------------------------ checkpoints

    def synchronise(self) -> None:
        if self.sync is not None:
            self.sync()

    def checkpoint(self) -> str:
        self.synchronise()
        # A loss can stay finite for a step after the weights overflowed: never save those as good.
        self.check_finite_weights()
        saved = {
            "family": self.family,
            "run_id": self.run_id,
            "identity": self.identity,
            "state": asdict(self.state),
            "totals": self.summed_totals(),
        }
        self.last_checkpoint = save_checkpoint(
            self.accelerator, self.args.output_dir, saved, last_good=self.last_checkpoint
        )
        return self.last_checkpoint

    def summed_totals(self) -> Optional[list]:
        if self.totals is None:
            return None
        summed = self.accelerator.reduce(self.totals.clone(), "sum") if self.world > 1 else self.totals
        return summed.tolist()

    def resume(self) -> None:
        self.last_checkpoint, saved = load_checkpoint(self.accelerator, self.args, self.family, self.identity)
        self.state = LoopState(**saved["state"])
        self.run_id = saved.get("run_id") or self.run_id
        if self.totals is not None and saved.get("totals") is not None:
            # The sums of every process were saved added up: the main process carries them on.
            self.totals.zero_()
            if self.accelerator.is_main_process:
                self.totals += torch.tensor(saved["totals"], dtype=self.totals.dtype, device=self.totals.device)

    def interrupt(self) -> None:
        """Save where the run is and leave: what a preempted job needs to continue later."""
        self.bar.close()
        self.flush()
        path = self.last_checkpoint
        if path is None or not path.endswith(f"step_{self.state.global_step}"):
            path = self.checkpoint()
        name = signal.Signals(self.stop.signum).name if self.stop.signum else "a stop signal on another process"
        message = (
            f"training stopped by {name} at step {self.state.global_step} (epoch {self.state.epoch}); checkpoint "
            f"{path} holds the run: continue it with the same command and --resume_from_checkpoint latest"
        )
        if self.accelerator.is_main_process:
            print(message, file=sys.stderr, flush=True)
        raise TrainingInterrupted(message, self.stop.signum or signal.SIGTERM)

    def check_finite_weights(self) -> None:
        name = non_finite_weight(self.models)
        if name is not None:
            raise NonFiniteLossError(
                f"weight {name} became non-finite by step {self.state.global_step} (epoch {self.state.epoch}); "
                + self.stopped_note()
            )

    def stopped_note(self) -> str:
        if self.last_checkpoint:
            kept = (
                f"the last good checkpoint is {self.last_checkpoint}: resume from it with --resume_from_checkpoint "
                "and a lower --learning_rate"
            )
        else:
            kept = "no checkpoint was saved before it (--checkpointing_steps keeps one)"
        return f"training stopped and no model was written; lower the learning rate; {kept}"


def train_loop(accelerator: Accelerator, args: TrainingArguments, **kwargs) -> dict:
    """Run a `TrainLoop` (see its arguments) and return its results."""
    return TrainLoop(accelerator, args, **kwargs).run()
