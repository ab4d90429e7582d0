"""Several processes on one run (`accelerate launch --num_processes N`): who trains on what, and how
the replicas stay equal.

Every process builds the same stream of batches from the run's seed, so no data moves between them.
A recipe then shares the work in one of two ways:

- **interleave** (word2vec with SGD, fastText, GloVe): a *round* is N consecutive batches and
  process r trains on the r-th of each, so the global batch is N × `batch_size`. These models update
  a few rows of large tables per step with closed-form gradients, which DDP's dense gradient
  all-reduce would turn into whole-table traffic. Instead `ReplicaSync` adds up what every process
  changed since the last synchronisation, every `sync_steps` rounds, at the end of every epoch, before
  every checkpoint and at the end: the rows are then equal everywhere again. Between two
  synchronisations the replicas drift apart as Hogwild threads would, for at most `sync_steps` rounds.
- **split** (BERT, the book's word2vec with Adam): every process draws the same global batch of
  N × `batch_size` examples, masks included, and trains on its own slice of rows; DDP averages the
  gradients. The recipe divides each slice's summed loss by the *global* count (masked tokens,
  examples), which every process can compute from the global batch it holds, so the averaged
  gradient is exactly the global batch's, and a run of N processes follows a 1-process run with
  the same global batch up to floating-point rounding.
"""

from __future__ import annotations

import os
import sys
from typing import Iterable, Iterator, Optional

import torch
import torch.distributed as dist


def cpu_processes_requested() -> Optional[int]:
    """The process count of an `accelerate launch --cpu --num_processes N` that started this process
    alone, or None.

    Without an MPI hostfile, accelerate's launcher runs a CPU script as one plain process, whatever
    `--num_processes` says (it only exports MASTER_ADDR when N > 1). Read N back from the launcher's
    command line, so that the run can start its N processes itself (`relaunch_with_torchrun`).
    """
    if not os.environ.get("MASTER_ADDR") or os.environ.get("ACCELERATE_USE_CPU", "").lower() not in ("1", "true"):
        return None
    if any(
        os.environ.get(v)
        for v in ("WORLD_SIZE", "LOCAL_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
    ):
        return None
    try:
        with open(f"/proc/{os.getppid()}/cmdline", "rb") as f:
            parent = [part.decode() for part in f.read().split(b"\0") if part]
    except OSError:
        return None
    marks = [i for i, part in enumerate(parent) if part == "launch" or part.endswith("accelerate.commands.launch")]
    if not marks:
        return None
    from accelerate.commands.launch import launch_command_parser

    launch, _ = launch_command_parser().parse_known_args(parent[marks[0] + 1 :])
    if launch.mpirun_hostfile:
        return None
    processes, machines = launch.num_processes, launch.num_machines
    if processes is None and launch.config_file:
        from accelerate.commands.config.config_args import load_config_from_file

        config = load_config_from_file(launch.config_file)
        processes, machines = config.num_processes, machines or config.num_machines
    if machines and machines > 1:
        raise RuntimeError(
            "several CPU machines need accelerate's MPI launcher: pass --mpirun_hostfile to accelerate launch"
        )
    return processes if processes and processes > 1 else None


def relaunch_with_torchrun(processes: int) -> None:
    """Replace this process by `torchrun --standalone --nproc_per_node N` of the same script and
    arguments; the launcher that started it waits for the new one as it would have for this one."""
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        str(processes),
        sys.argv[0],
        *sys.argv[1:],
    ]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command)


def rounds(batches: Iterable[dict], world: int, rank: int) -> Iterator[tuple[int, Optional[dict]]]:
    """Group a batch stream into rounds of `world` batches: yields, per round, the stream's `words`
    at the round's end and this process's batch (None when a last, short round has none for it)."""
    mine, index, words = None, -1, 0
    for index, batch in enumerate(batches):
        words = batch.pop("words")
        if index % world == rank:
            mine = batch
        if index % world == world - 1:
            yield words, mine
            mine = None
    if index >= 0 and index % world != world - 1:
        yield words, mine


def shard_rows(batch: dict, rank: int, world: int) -> dict:
    """This process's slice of a global batch: rows [rank·n/world, (rank+1)·n/world) of every tensor
    (as `torch.tensor_split`, so the first slices take one more row when n is not a multiple)."""
    if world == 1:
        return batch
    return {
        key: torch.tensor_split(value, world)[rank] if isinstance(value, torch.Tensor) and value.dim() else value
        for key, value in batch.items()
    }


def empty_loss(model: torch.nn.Module) -> torch.Tensor:
    """A zero loss connected to every parameter, for a process whose slice of a short last batch is
    empty: DDP still needs it to take part in the gradient all-reduce."""
    return sum(parameter.sum() for parameter in model.parameters()) * 0.0


class ReplicaSync:
    """Makes the replicas of sparse word models equal again by summing their changes.

    Holds a copy of every floating-point parameter and buffer as it was at the last synchronisation
    (the base). `__call__` finds the rows any process changed since, all-reduces those rows' changes
    (replica − base) with a sum, and sets base + Σ changes on every process. A sum, not a mean: a row
    that only one process touched keeps its whole update, as if one process had applied every batch
    in turn (Hogwild), where averaging would divide its learning rate by the number of processes.
    Costs one extra copy of the tables and, per call, a comparison of every row plus the transfer of
    the changed ones.
    """

    def __init__(self, modules: Iterable[torch.nn.Module]):
        self.tensors = []
        for module in modules:
            for tensor in [*module.parameters(), *module.buffers()]:
                if tensor.is_floating_point() and tensor.numel():
                    self.tensors.append(tensor)
        self.bases = [tensor.detach().clone() for tensor in self.tensors]

    @torch.no_grad()
    def __call__(self) -> int:
        """Synchronise; returns the number of rows that changed somewhere."""
        changed_rows = 0
        for tensor, base in zip(self.tensors, self.bases):
            rows = tensor.detach().view(tensor.shape[0], -1) if tensor.dim() else tensor.detach().view(1, 1)
            base_rows = base.view_as(rows)
            changed = (rows != base_rows).any(1).to(torch.int32)
            dist.all_reduce(changed, op=dist.ReduceOp.MAX)
            index = changed.nonzero().view(-1)
            changed_rows += len(index)
            if len(index) == 0:
                continue
            if 2 * len(index) > len(changed):
                delta = rows - base_rows
                dist.all_reduce(delta)
                rows.copy_(base_rows.add_(delta))
                continue
            base_part = base_rows.index_select(0, index)
            delta = rows.index_select(0, index).sub_(base_part)
            dist.all_reduce(delta)
            merged = base_part.add_(delta)
            rows.index_copy_(0, index, merged)
            base_rows.index_copy_(0, index, merged)
        return changed_rows


@torch.no_grad()
def replicas_differ(modules: Iterable[torch.nn.Module]) -> list[str]:
    """Names of the parameters whose value differs between processes (compared by checksum)."""
    names, sums = [], []
    for module in modules:
        for name, parameter in module.named_parameters():
            names.append(name)
            sums.append(parameter.detach().double().sum())
    if not sums:
        return []
    local = torch.stack(sums)
    highest, lowest = local.clone(), local.clone()
    dist.all_reduce(highest, op=dist.ReduceOp.MAX)
    dist.all_reduce(lowest, op=dist.ReduceOp.MIN)
    return [name for name, differs in zip(names, (highest != lowest).tolist()) if differs]
