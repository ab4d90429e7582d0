"""The run around the loop: the Accelerator (and the launches it completes), threads, memory, and
leaving the process group together."""

from __future__ import annotations

import ctypes
import os
import time
import warnings
from typing import Optional

import torch
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration

from .preemption import follow_launcher


def make_accelerator(args) -> Accelerator:
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
