"""The output folder of a run: what is checked before training, one writer at a time, and a final
write that a crash at any moment leaves as the old model or the new one.

The rules, each checked by a test (docs/reliability.md lists them):
- A run deletes nothing it did not write. The final files are written into `output_dir` itself, file by
  file: first into a staging folder inside it, then renamed over their old versions with `os.replace`.
  Everything stays on the folder's own filesystem, so this works on a mount point and through a symlink,
  and files the run does not write (the user's own, `checkpoints/`, `runs/`) are never touched.
- The staging folder's manifest is written last. A crash before it leaves the old model and an
  unfinished staging folder, which the next run on the folder removes; a crash after it leaves a
  committed staging folder, whose renames the next run (or `finish_interrupted_write`) completes.
- One run writes to a folder at a time: a lock file holds the pid and host of the run that owns it, and
  the kernel releases its lock when that process ends, however it ends.
- Folders and files follow the user's umask.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import logging
import os
import re
import shutil
import socket
import sys
from pathlib import Path
from typing import Callable, Iterator, Optional

logger = logging.getLogger(__name__)

STAGING = ".hf_pretrain-staging"
MANIFEST = "MANIFEST.json"  # inside the staging folder, written last: the files it lists are the new model
LOCK = ".hf_pretrain.lock"
CHECKPOINTS = "checkpoints"
# What a push of the folder leaves out: the run's bookkeeping, and by default checkpoints and logs.
NOT_PUBLISHED = (STAGING, LOCK)


class OutputDirError(ValueError):
    """`--output_dir` cannot be used as asked: refused before any training."""


class OutputWriteError(OSError):
    """The final folder or a checkpoint could not be written (a full disk, a read-only folder)."""

    def __str__(self) -> str:
        return str(self.strerror)


def _existing_model_type(output_dir: str) -> Optional[str]:
    config = os.path.join(output_dir, "config.json")
    if not os.path.isfile(config):
        return None
    try:
        with open(config, encoding="utf-8") as f:
            return str(json.load(f).get("model_type"))
    except (OSError, ValueError, AttributeError):
        return "an unreadable config"


def has_checkpoints(output_dir: str) -> bool:
    root = os.path.join(output_dir, CHECKPOINTS)
    return os.path.isdir(root) and any(name.startswith("step_") for name in os.listdir(root))


def check_output_dir(
    output_dir: str, overwrite: bool, model_type: str, resuming: bool = False, resume_path: Optional[str] = None
) -> None:
    """Refuse, before any training, an `output_dir` this run must not write to: a file, a folder
    holding a model of another family (or, without `--overwrite_output_dir`, any model), or a folder
    holding an earlier run's checkpoints that this run would mix its own with."""
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise OutputDirError(
            f"--output_dir {output_dir} is a file, not a folder: choose a folder to write the model to"
        )
    existing = _existing_model_type(output_dir)
    if existing is not None and not overwrite and not (resuming and existing == model_type):
        raise OutputDirError(
            f"{output_dir} already holds a model ({existing}, this run trains {model_type}); "
            "pass --overwrite_output_dir to replace it or choose another --output_dir"
        )
    if overwrite and resume_path == "latest":
        raise OutputDirError(
            "--overwrite_output_dir starts a new run, --resume_from_checkpoint latest continues the last one: "
            "pass one of them"
        )
    if not resuming and not overwrite and has_checkpoints(output_dir):
        raise OutputDirError(
            f"{output_dir} holds the checkpoints of an earlier run: continue it with --resume_from_checkpoint latest, "
            "or pass --overwrite_output_dir to start a new run (the old checkpoints are then kept under "
            f"{CHECKPOINTS}.previous-<time>)"
        )


def _is_main_process() -> bool:
    # Decided before Accelerate starts: torchrun and accelerate export RANK to every process.
    return os.environ.get("RANK", "0") == "0"


@contextlib.contextmanager
def claim_output_dir(training, model_type: str) -> Iterator[None]:
    """Everything a recipe does happens inside this: the checks above, then, on the main process,
    the folder's lock, the completion (or removal) of an interrupted final write, and with
    `--overwrite_output_dir` the old checkpoints set aside. A folder this run created and left empty
    (it stopped before writing anything) is removed again."""
    output_dir = training.output_dir
    resume = training.resume_from_checkpoint
    check_output_dir(output_dir, training.overwrite_output_dir, model_type, bool(resume), resume)
    if not _is_main_process():
        yield
        return
    created = not os.path.exists(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    try:
        with OutputDirLock(output_dir):
            finish_interrupted_write(output_dir)
            remove_unfinished_checkpoints(output_dir)
            if training.overwrite_output_dir and has_checkpoints(output_dir) and not _inside(resume, output_dir):
                set_aside_checkpoints(output_dir)
            yield
    finally:
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(output_dir)  # only succeeds when empty


def _inside(path: Optional[str], folder: str) -> bool:
    if not path:
        return False
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


def set_aside_checkpoints(output_dir: str) -> str:
    """Move an earlier run's `checkpoints/` to `checkpoints.previous-<time>/`, so that a new run
    neither resumes from them nor mixes its own with them, and nothing is deleted."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    target = os.path.join(output_dir, f"{CHECKPOINTS}.previous-{stamp}")
    suffix = 1
    while os.path.exists(target):
        target = os.path.join(output_dir, f"{CHECKPOINTS}.previous-{stamp}-{suffix}")
        suffix += 1
    os.replace(os.path.join(output_dir, CHECKPOINTS), target)
    logger.warning("--overwrite_output_dir: the earlier run's checkpoints were moved to %s", target)
    return target


def remove_unfinished_checkpoints(output_dir: str) -> None:
    """Remove the `step_N.tmp` folders a run killed in mid-checkpoint left (its own litter)."""
    root = os.path.join(output_dir, CHECKPOINTS)
    if os.path.isdir(root):
        for name in os.listdir(root):
            if name.startswith("step_") and name.endswith(".tmp"):
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)


class OutputDirLock:
    """An exclusive `flock` on `output_dir/.hf_pretrain.lock`, which names its holder.

    The kernel drops the lock when the holding process ends, even by SIGKILL, so a lock file left by
    a crash is stale and simply taken over; on NFS Linux maps `flock` to a POSIX lock the server holds.
    """

    def __init__(self, output_dir: str):
        self.output_dir = output_dir
        self.path = os.path.join(output_dir, LOCK)
        self.fd: Optional[int] = None

    def __enter__(self) -> "OutputDirLock":
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                holder = os.read(fd, 4096).decode("utf-8", "replace").strip()
                os.close(fd)
                if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                raise OutputDirError(
                    f"{self.output_dir} is in use by another run ({_describe(holder)}): wait for it to end, "
                    "or choose another --output_dir"
                ) from None
            # The holder before us unlinks the file when it is done; a lock on an unlinked file guards nothing.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": _now(), "command": " ".join(sys.argv)}
        os.write(fd, json.dumps(holder).encode())
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self.fd)
        self.fd = None


def _describe(holder: str) -> str:
    try:
        info = json.loads(holder)
        return f"pid {info['pid']} on {info['host']}, started {info['started']}"
    except (ValueError, KeyError, TypeError):
        return "a process that holds its lock"


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def write_folder_atomically(output_dir: str, write: Callable[[str], None]) -> list[str]:
    """Let `write(folder)` fill a staging folder inside `output_dir`, then move its files over the old
    ones. Returns the paths written, relative to `output_dir`.

    A failure while writing (a full disk, an error in `write`) removes the staging folder and leaves
    `output_dir` as it was; the error names the file when the system gave one.
    """
    os.makedirs(output_dir, exist_ok=True)
    staging = os.path.join(output_dir, STAGING)
    finish_interrupted_write(output_dir)
    os.mkdir(staging)
    try:
        write(staging)
        files = sorted(path.relative_to(staging).as_posix() for path in Path(staging).rglob("*") if path.is_file())
        mode = 0o666 & ~_umask()
        for name in files:
            # Some writers (safetensors) create their files 0600: give every file the umask's mode,
            # so a model on a shared cluster is as readable as the user's other files.
            os.chmod(os.path.join(staging, name), mode)
            _fsync_file(os.path.join(staging, name))
        _write_json_durably(os.path.join(staging, MANIFEST), {"files": files})
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        converted = write_error(
            error,
            f"the model could not be written to {output_dir}",
            "nothing in the folder was changed",
            folder=output_dir,
        )
        if converted is not None:
            raise converted from error
        raise
    _move_into_place(output_dir)
    return files


def finish_interrupted_write(output_dir: str) -> Optional[str]:
    """After a crash in `write_folder_atomically`: complete a write whose manifest was written, or
    remove one that never got that far. Returns what was done, or None when nothing was pending."""
    staging = os.path.join(output_dir, STAGING)
    if not os.path.isdir(staging):
        return None
    if os.path.isfile(os.path.join(staging, MANIFEST)):
        _move_into_place(output_dir)
        logger.warning("%s: completed the final write an earlier run was stopped in", output_dir)
        return "completed"
    shutil.rmtree(staging)
    logger.warning("%s: removed the unfinished write of a run stopped before its model was complete", output_dir)
    return "removed"


def _move_into_place(output_dir: str) -> None:
    staging = os.path.join(output_dir, STAGING)
    with open(os.path.join(staging, MANIFEST), encoding="utf-8") as f:
        files = json.load(f)["files"]
    for name in files:
        source = os.path.join(staging, name)
        if os.path.exists(source):  # already moved by an earlier, interrupted completion
            target = os.path.join(output_dir, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(source, target)
    _fsync_dir(output_dir)
    shutil.rmtree(staging)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_json_durably(path: str, data) -> None:
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)
    _fsync_dir(os.path.dirname(path))


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str) -> None:
    with contextlib.suppress(OSError):  # some filesystems refuse to sync a folder; their renames are durable anyway
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_error(
    error: BaseException, what: str, consequence: str, folder: Optional[str] = None
) -> Optional[OutputWriteError]:
    """A failed write (a full disk, a read-only folder, a quota) as one OutputWriteError saying `what`
    failed, why, and `consequence`; None for an error that is not about writing.

    torch and safetensors report a full disk in their own words ("file write failed", "IoError(Os {
    code: 28 ...})", "(os error 28)"): the errno is read back from the message where it is given."""
    if isinstance(error, OutputWriteError):
        return None
    if isinstance(error, OSError):
        code, reason = error.errno, _os_reason(error, folder)
    elif type(error).__name__ == "SafetensorError" or (isinstance(error, RuntimeError) and "write" in str(error)):
        match = re.search(r"(?:code: |os error )(\d+)", str(error))
        code = int(match.group(1)) if match else None
        reason = os.strerror(code) if code else str(error).splitlines()[0][:200]
    else:
        return None
    return OutputWriteError(code, f"{what}: {reason}; {consequence}")


def _os_reason(error: OSError, folder: Optional[str] = None) -> str:
    """The system's reason, with the file it names when that file is in `folder` (a copy's error
    names its source, which is not where the write failed)."""
    reason = error.strerror or str(error)
    name = error.filename
    if name and (folder is None or _inside(str(name), folder)):
        return f"{reason} ({name})"
    return reason
