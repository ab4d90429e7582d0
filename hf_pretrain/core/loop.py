"""The one training loop every recipe uses, on top of Accelerate.

A recipe hands over two callables:
- `epoch_batches(epoch, generator)` yields the batches of one epoch, each carrying `words`, the corpus
  words covered by the end of that batch (for progress, learning-rate decay and words/s), or whatever
  `unit` the recipe counts instead (GloVe counts co-occurrence pairs);
- `step(batch, progress)` trains on one batch and returns (summed loss, count) as tensors, `progress`
  being the fraction of the whole run done, in [0, 1).
The loop owns progress bars, tracker logging, checkpoints and resuming. Each epoch's batches come
from a generator seeded with (seed, epoch), so a resumed run replays the same batches and skips the
ones already trained on.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import shutil
import signal
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

import torch
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration
from tqdm.auto import tqdm

from .distributed import rounds
from .publish import CorruptFileError, HubArguments
from .output_dir import write_error
from .preemption import StopRequest, TrainingInterrupted, follow_launcher
from .resume import STATE_FILE, CheckpointMismatchError, check_same_run, checkpoint_problem, latest_checkpoint, new_run_id


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
        default="sgd", metadata={"help": "'sgd' (linear decay, as word2vec.c), 'adam' (as d2l) or 'adagrad' (GloVe, as glove.c)."}
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
        metadata={"help": "Resume even when the arguments or the corpus differ from the checkpoint's run (not recommended)."},
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
            raise ValueError(f"checkpointing_steps must be a number of steps or 'epoch', got {self.checkpointing_steps!r}")


def linear_decay(initial: float, minimum: float) -> Callable[[float], float]:
    """word2vec.c / gensim schedule: from `initial` down to `minimum` over the run."""
    return lambda progress: max(minimum, initial - (initial - minimum) * progress)


def make_accelerator(args: TrainingArguments) -> Accelerator:
    """The run's `Accelerator`, logging to `args.report_to` under the output folder.

    Two launches are completed here. `accelerate launch --cpu --num_processes N` starts a CPU script
    as one process (accelerate needs MPI for more): the script restarts itself under torchrun with N
    processes. And processes started by torchrun on a machine without an accelerator are told to
    use the CPU, so that they join one gloo process group instead of each training alone.
    """
    from .distributed import cpu_processes_requested, relaunch_with_torchrun

    follow_launcher()
    processes = cpu_processes_requested()
    if processes:
        relaunch_with_torchrun(processes)
    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1
    accelerator_available = torch.cuda.is_available() or (hasattr(torch, "xpu") and torch.xpu.is_available())
    cpu = launched and not accelerator_available
    if cpu and os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true":
        # Accelerate shards with FSDP on accelerators only; on CPUs the same launch runs DDP.
        warnings.warn("FSDP needs GPUs (or other accelerators): on the CPU every process holds the whole model (DDP)")
    # Tracker logs go to output_dir/runs, which the final folder keeps and a Hub push leaves out.
    project = ProjectConfiguration(project_dir=args.output_dir, logging_dir=os.path.join(args.output_dir, "runs"))
    return Accelerator(log_with=args.report_to, project_config=project, cpu=cpu)


def prepare_sparse_model(accelerator: Accelerator, model: torch.nn.Module) -> torch.nn.Module:
    """Place a word model that trains with its own closed-form updates, and register it for
    checkpoints, without DDP's wrapper: its gradients are never all-reduced (`ReplicaSync` keeps the
    processes' tables equal instead), and a wrapper nobody uses still holds the process group."""
    return accelerator.prepare_model(model, evaluation_mode=True)


def finish_training(accelerator: Accelerator) -> None:
    """Stop the trackers and leave the process group together, once every process got here."""
    accelerator.wait_for_everyone()
    if accelerator.num_processes > 1:
        # After a collective, a gloo worker thread drops the tensors it was given, which takes the
        # GIL. Destroying the group (here, or when DDP's wrapper is freed) joins those threads while
        # holding the GIL, so a worker still releasing the last barrier's tensors deadlocked the
        # run now and then; and exiting with it still pending aborted. Give the workers the GIL.
        time.sleep(0.2)
    accelerator.end_training()


def set_threads(accelerator: Accelerator, num_threads: Optional[int]) -> int:
    """Give each process its share of the cores. `accelerate launch` exports OMP_NUM_THREADS=1, which
    would leave a single-process CPU run on one core."""
    if not num_threads:
        num_threads = max(1, (os.cpu_count() or 1) // accelerator.state.num_processes)
    torch.set_num_threads(num_threads)
    keep_freed_memory()
    return num_threads


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed blocks for reuse instead of returning them to the system.

    A training step allocates and frees the same large buffers (batch-sized gathers, gradients)
    every step. By default glibc serves each one with a fresh `mmap` and unmaps it on free, so every
    step pays page faults to zero the pages again: a fifth of a GloVe epoch on WikiText-2, measured.
    Raising the mmap and trim thresholds makes the heap keep and reuse them; the price is that the
    process's resident memory stays at its peak. Returns False where the C library is not glibc.
    """
    global _kept_freed_memory
    if _kept_freed_memory is None:
        _kept_freed_memory = False
        try:
            libc = ctypes.CDLL("libc.so.6")
            m_trim_threshold, m_mmap_threshold = -1, -3
            _kept_freed_memory = bool(libc.mallopt(m_mmap_threshold, 1 << 30)) and bool(
                libc.mallopt(m_trim_threshold, (1 << 31) - 1)
            )
        except (OSError, AttributeError):
            pass
    return _kept_freed_memory


_kept_freed_memory: Optional[bool] = None


def checkpoint_dir(output_dir: str) -> str:
    return os.path.join(output_dir, "checkpoints")


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite: training stops before any model is written."""


class NoTrainingDataError(ValueError):
    """An epoch gave no batch to train on: the corpus is too small for the settings."""


def train_loop(
    accelerator: Accelerator,
    args: TrainingArguments,
    *,
    epoch_batches: Callable[[int, torch.Generator], Iterable[dict]],
    step: Callable[[dict, float], tuple[torch.Tensor, torch.Tensor]],
    words_per_epoch: int,
    family: str,
    unit: str = "word",
    distribute: str = "interleave",
    identity: Optional[dict] = None,
) -> dict:
    """Run the epochs. With several processes (see `distributed`), `distribute="interleave"` trains
    each process on every N-th batch and keeps the replicas equal with `ReplicaSync`;
    `"split"` hands every process every (global) batch, for the recipe to take its rows with
    `shard_rows`, and leaves the gradients to DDP. Steps count rounds, so they mean the same on
    every process; losses and words are summed over the processes.

    `identity` (see `resume.run_identity`) is saved in every checkpoint, and a resume from a checkpoint
    whose identity differs is refused. SIGTERM or SIGINT stop the run after the current step (with
    several processes, at the next logging step, which they all reach together) with a checkpoint,
    raising `TrainingInterrupted`."""
    if distribute not in ("interleave", "split"):
        raise ValueError(f"distribute must be 'interleave' or 'split', got {distribute!r}")
    world, rank = accelerator.num_processes, accelerator.process_index
    interleave = world > 1 and distribute == "interleave"
    state = {
        "epoch": 0, "step_in_epoch": 0, "global_step": 0, "loss_sum": 0.0, "loss_count": 0.0, "epoch_losses": [],
        "run_loss_sum": 0.0, "run_loss_count": 0.0, "loss_history": [], "epoch_end_steps": [],
    }
    last_checkpoint = None
    sync = None
    run_id = new_run_id()

    def synchronise():
        if sync is not None:
            sync()

    def checkpoint() -> str:
        synchronise()
        # A loss can stay finite for a step after the weights overflowed: never save those as good.
        check_finite_weights(accelerator, state, last_checkpoint)
        return save_checkpoint(
            accelerator, args.output_dir, state, family, identity=identity, run_id=run_id, last_good=last_checkpoint
        )

    if args.resume_from_checkpoint:
        last_checkpoint, saved = resume_state(accelerator, args, family, identity)
        state.update(saved["state"])
        run_id = saved.get("run_id", run_id)
    if interleave:
        from .distributed import ReplicaSync

        sync = ReplicaSync(accelerator.unwrap_model(model) for model in accelerator._models)
    total_words = args.epochs * words_per_epoch
    by_steps = bool(args.max_steps)
    # With max_steps the run may end inside an epoch: progress then counts steps, not words.
    bar = tqdm(
        total=args.max_steps if by_steps else total_words,
        initial=state["global_step"] if by_steps else state["epoch"] * words_per_epoch,
        unit="step" if by_steps else unit, unit_scale=not by_steps, desc=f"{family} training",
        disable=not accelerator.is_local_main_process, dynamic_ncols=True,
    )
    epochs = 10**9 if by_steps else args.epochs
    partial_loss = None
    stopped = by_steps and state["global_step"] >= args.max_steps
    start = time.perf_counter()
    trained_words = 0
    device = accelerator.device
    # On an accelerator the losses stay on the device between logging steps: reading one back every
    # step would stall the queue. On a CPU reading it is free, so a NaN is caught at the step it appears.
    check_each_step = device.type == "cpu"
    # Summed loss and count since the last flush, and (several processes) whether a stop was asked for.
    pending = torch.zeros(3, dtype=torch.float32 if device.type == "mps" else torch.float64, device=device)
    running = [0.0, 0.0]
    stop = StopRequest()

    def flush() -> bool:
        """Add the pending losses of every process to the running, epoch and run totals; returns
        whether any process was asked to stop (the stop flag travels in the same reduction)."""
        nonlocal pending
        if stop:
            pending[2] = 1.0
        totals = accelerator.reduce(pending, "sum") if world > 1 else pending
        loss_sum, count, stops = totals.tolist()
        pending = torch.zeros_like(pending)
        if not math.isfinite(loss_sum):
            raise NonFiniteLossError(
                f"the loss became {loss_sum} by step {state['global_step']} (epoch {state['epoch']}); "
                + _stopped(last_checkpoint)
            )
        running[0] += loss_sum
        running[1] += count
        state["loss_sum"] += loss_sum
        state["loss_count"] += count
        state["run_loss_sum"] += loss_sum
        state["run_loss_count"] += count
        return stops > 0

    def interrupt():
        """Save where the run is and leave: what a preempted job needs to continue later."""
        flush()
        path = last_checkpoint
        if path is None or not path.endswith(f"step_{state['global_step']}"):
            path = checkpoint()
        name = signal_name(stop.signum)
        message = (
            f"training stopped by {name} at step {state['global_step']} (epoch {state['epoch']}); checkpoint {path} "
            "holds the run: continue it with the same command and --resume_from_checkpoint latest"
        )
        if accelerator.is_main_process:
            print(message, file=sys.stderr, flush=True)
        raise TrainingInterrupted(message, stop.signum or signal.SIGTERM)

    with stop.installed():
        for epoch in range(state["epoch"], epochs):
            if stopped:
                break
            generator = torch.Generator().manual_seed(args.seed * 1_000_003 + epoch)
            epoch_words = 0
            skip = state["step_in_epoch"] if epoch == state["epoch"] else 0
            if epoch != state["epoch"]:
                state.update(epoch=epoch, step_in_epoch=0, loss_sum=0.0, loss_count=0.0)
            running[:] = [0.0, 0.0]
            stream = epoch_batches(epoch, generator)
            index = -1
            for index, (words, batch) in enumerate(rounds(stream, world, rank) if interleave else rounds(stream, 1, 0)):
                if index < skip:
                    epoch_words = words
                    continue
                if by_steps:
                    progress = state["global_step"] / args.max_steps
                else:
                    progress = (epoch * words_per_epoch + epoch_words) / total_words
                if batch is not None:
                    loss_sum, count = step(batch, progress)
                    if check_each_step and not math.isfinite(float(loss_sum)):
                        raise NonFiniteLossError(
                            f"the loss became {float(loss_sum)} at epoch {epoch}, step {state['global_step'] + 1}; "
                            + _stopped(last_checkpoint)
                        )
                    pending[:2] += torch.stack([loss_sum.detach().to(pending), torch.as_tensor(count).to(pending)])
                state["step_in_epoch"] = index + 1
                state["global_step"] += 1
                bar.update(1 if by_steps else words - epoch_words)
                trained_words += words - epoch_words
                epoch_words = words
                if interleave and state["global_step"] % args.sync_steps == 0:
                    synchronise()
                if state["global_step"] % args.logging_steps == 0:
                    stopping = flush()
                    if running[1]:
                        elapsed = time.perf_counter() - start
                        bar.set_postfix({"loss": f"{running[0] / running[1]:.4f}", f"{unit}s_s": f"{trained_words / elapsed:,.0f}"})
                        accelerator.log({"train_loss": running[0] / running[1], "epoch": epoch}, step=state["global_step"])
                        state["loss_history"].append([state["global_step"], running[0] / running[1]])
                    running[:] = [0.0, 0.0]
                    if stopping:
                        bar.close()
                        interrupt()
                elif world == 1 and stop:
                    bar.close()
                    interrupt()
                steps = args.checkpointing_steps
                if steps not in (None, "epoch") and state["global_step"] % int(steps) == 0:
                    flush()
                    last_checkpoint = checkpoint()
                if by_steps and state["global_step"] >= args.max_steps:
                    stopped = True
                    break
            if index < 0:
                raise NoTrainingDataError(
                    f"epoch {epoch} gave no batch to train on: the corpus gives no training example with these "
                    "settings (more text, a lower --min_count or a smaller --window or --max_len give it some)"
                )
            flush()
            if stopped:
                # Ended inside an epoch: report its partial mean, and keep the position resumable.
                if state["loss_count"]:
                    partial_loss = state["loss_sum"] / state["loss_count"]
                if args.checkpointing_steps is not None:
                    last_checkpoint = checkpoint()
                break
            synchronise()
            state["epoch_losses"].append(state["loss_sum"] / max(state["loss_count"], 1.0))
            state["epoch_end_steps"].append(state["global_step"])
            state.update(epoch=epoch + 1, step_in_epoch=0, loss_sum=0.0, loss_count=0.0)
            accelerator.log({"epoch_loss": state["epoch_losses"][-1]}, step=state["global_step"])
            if args.checkpointing_steps is not None:
                last_checkpoint = checkpoint()
    bar.close()
    synchronise()
    check_finite_weights(accelerator, state, last_checkpoint)
    if world > 1:
        from .distributed import replicas_differ

        differ = replicas_differ(accelerator.unwrap_model(model) for model in accelerator._models)
        if differ:
            raise RuntimeError(f"the processes ended with different weights: {', '.join(differ[:5])}")
    runtime = time.perf_counter() - start
    return {
        "train_loss": partial_loss if partial_loss is not None else (
            state["epoch_losses"][-1] if state["epoch_losses"] else float("nan")
        ),
        "epoch_losses": state["epoch_losses"],
        "epoch_end_steps": state["epoch_end_steps"],
        # (step, running loss) at every logging step: the curve of loss.png.
        "loss_history": state["loss_history"],
        # What d2l prints: its loss accumulator spans every epoch of the run.
        "train_loss_all_epochs": state["run_loss_sum"] / max(state["run_loss_count"], 1.0),
        "train_runtime": runtime,
        f"train_{unit}s": trained_words,
        f"train_{unit}s_per_second": trained_words / runtime if runtime > 0 else float("nan"),
        "global_step": state["global_step"],
        "num_processes": world,
        "run_id": run_id,
    }


def _stopped(last_checkpoint: Optional[str]) -> str:
    if last_checkpoint:
        kept = (
            f"the last good checkpoint is {last_checkpoint}: resume from it with --resume_from_checkpoint "
            "and a lower --learning_rate"
        )
    else:
        kept = "no checkpoint was saved before it (--checkpointing_steps keeps one)"
    return f"training stopped and no model was written; lower the learning rate; {kept}"


def check_finite_weights(accelerator: Accelerator, state: dict, last_checkpoint: Optional[str] = None) -> None:
    """Raise NonFiniteLossError if a prepared model holds a NaN or infinite weight."""
    for model in accelerator._models:
        for name, parameter in model.named_parameters():
            if not torch.isfinite(parameter.detach()).all():
                raise NonFiniteLossError(
                    f"weight {name} became non-finite by step {state['global_step']} (epoch {state['epoch']}); "
                    + _stopped(last_checkpoint)
                )


def signal_name(signum: Optional[int]) -> str:
    return signal.Signals(signum).name if signum else "a stop signal on another process"


def resume_state(accelerator: Accelerator, args: TrainingArguments, family: str, identity: Optional[dict]):
    """Load the checkpoint `--resume_from_checkpoint` names, once it is known to be whole and of this
    run; returns its path and its saved loop state."""
    resume = args.resume_from_checkpoint
    path = latest_checkpoint(args.output_dir) if resume == "latest" else resume
    if path is None or not os.path.isfile(os.path.join(path, STATE_FILE)):
        raise FileNotFoundError(f"no checkpoint to resume from at {resume!r} (looked for {STATE_FILE})")
    problem = checkpoint_problem(path)
    if problem:
        raise CorruptFileError(f"cannot resume from {path}: {problem}")
    with open(os.path.join(path, STATE_FILE), encoding="utf-8") as f:
        saved = json.load(f)
    if saved.get("family") != family:
        raise ValueError(f"{path} is a {saved.get('family')!r} checkpoint; this recipe trains {family!r}")
    check_same_run(path, saved, identity, args.ignore_checkpoint_mismatch)
    try:
        # weights_only is accelerate's default too; said here so that resuming never unpickles code.
        accelerator.load_state(path, load_kwargs={"weights_only": True})
    except RuntimeError as error:
        if "size mismatch" not in str(error) and "Missing key" not in str(error):
            raise
        raise CheckpointMismatchError(
            f"cannot resume from {path}: its weights have other shapes than this command's model "
            f"({str(error).splitlines()[-1].strip()[:200]})"
        ) from None
    return path, saved


def save_checkpoint(accelerator: Accelerator, output_dir: str, state: dict, family: str, *,
                    identity: Optional[dict] = None, run_id: Optional[str] = None, last_good: Optional[str] = None) -> str:
    """`accelerator.save_state` plus the loop's position and the run's identity, written beside the
    final name and renamed into place, so that a crash or a full disk mid-save leaves the previous
    checkpoint intact and no partial folder behind."""
    final = os.path.join(checkpoint_dir(output_dir), f"step_{state['global_step']}")
    temporary = final + ".tmp"
    try:
        if accelerator.is_main_process:
            shutil.rmtree(temporary, ignore_errors=True)
        accelerator.wait_for_everyone()
        accelerator.save_state(temporary)
        # save_state returns on each process when its own files are written: every process's RNG
        # state must be in the folder before the main process renames it into place.
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            with open(os.path.join(temporary, STATE_FILE), "w", encoding="utf-8") as f:
                json.dump({"family": family, "run_id": run_id, "identity": identity, "state": state}, f)
                f.flush()
                os.fsync(f.fileno())
    except Exception as error:
        shutil.rmtree(temporary, ignore_errors=True)
        kept = f"the last good checkpoint {last_good} is intact" if last_good else "no earlier checkpoint exists"
        converted = write_error(error, f"checkpoint {final} could not be written", f"training stopped; {kept}")
        if converted is None:
            raise
        raise converted from error
    if accelerator.is_main_process:
        shutil.rmtree(final, ignore_errors=True)
        os.replace(temporary, final)
    accelerator.wait_for_everyone()
    return final
