"""Surviving preemption: SIGTERM (what a scheduler sends before it takes the machine back) and SIGINT
(Ctrl-C) ask the loop to stop after the current step, write a checkpoint and exit non-zero; and a
trainer started by `accelerate launch` or torchrun is sent SIGTERM when its launcher dies, so no
orphan trains on and writes the folder after the job is gone."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from typing import Iterator, Optional

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
PR_SET_PDEATHSIG = 1


class TrainingInterrupted(SystemExit):
    """Training stopped on a signal after saving a checkpoint; exits with 128 + the signal's number."""

    def __init__(self, message: str, signum: int):
        super().__init__(128 + signum)
        self.message = message
        self.signum = signum

    def __str__(self) -> str:
        return self.message


class StopRequest:
    """Set by a stop signal; the loop reads it between steps. A second SIGINT stops at once."""

    def __init__(self):
        self.signum: Optional[int] = None

    def __bool__(self) -> bool:
        return self.signum is not None

    def _handle(self, signum, frame) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum
        print(
            f"\n{signal.Signals(signum).name} received: stopping after this step and writing a checkpoint"
            + (" (Ctrl-C again to stop without one)" if signum == signal.SIGINT else ""),
            file=sys.stderr,
            flush=True,
        )

    @contextlib.contextmanager
    def installed(self) -> Iterator["StopRequest"]:
        """Catch the stop signals while training (only possible from the main thread; elsewhere,
        for example in a notebook's worker thread, the signals keep their handlers)."""
        try:
            previous = {s: signal.signal(s, self._handle) for s in STOP_SIGNALS}
        except ValueError:
            yield self
            return
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


def follow_launcher() -> bool:
    """When the parent is accelerate's or torchrun's launcher, ask Linux to send this process SIGTERM
    if the launcher dies (accelerate's does not pass SIGTERM on). Returns whether it was arranged.
    Other parents (a shell, nohup, a notebook) are left alone: their end must not stop a run."""
    if not sys.platform.startswith("linux") or not _parent_is_launcher():
        return False
    parent = os.getppid()
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent:  # the launcher died before the request was made
        os.kill(os.getpid(), signal.SIGTERM)
    return True


def _parent_is_launcher() -> bool:
    try:
        with open(f"/proc/{os.getppid()}/cmdline", "rb") as f:
            parts = [p.decode("utf-8", "replace") for p in f.read().split(b"\0") if p]
    except OSError:
        return False
    return any(
        os.path.basename(p) in ("accelerate", "torchrun")
        or p in ("accelerate.commands.launch", "torch.distributed.run")
        or p.endswith(("accelerate/commands/launch.py", "accelerate.commands.accelerate_cli"))
        for p in parts[:3]
    )
