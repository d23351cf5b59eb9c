"""Checkpoints that survive a killed process, and the random state that makes resume exact.

A checkpoint is one plain dict (tensors, numbers, strings, lists, dicts) so that it loads with
``torch.load(weights_only=True)`` -- no pickled code runs when a file is opened. It is written to
a temporary file in the same folder and moved into place with ``os.replace``, which is atomic on
POSIX and Windows: a reader (or a resumed run) sees the old file or the new one, never half of
one, even if the process is killed with SIGKILL in the middle of ``torch.save``. Until the rename
both files exist, so a write needs the new file's size free on the disk; it is checked first.

What the dict holds is :class:`resnet_edu.train.TrainState`'s business; this module only writes,
reads and guards files: :func:`run_lock` keeps two runs out of one checkpoint, and
:func:`remove_stale_temps` deletes what a killed write left behind.

Used by :func:`resnet_edu.train.fit` (chapter 7: training the paper's nets, resumable in Colab).
"""

from __future__ import annotations

import errno
import io
import math
import os
import pickle
import random
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "FORMAT",
    "VERSION",
    "CheckpointError",
    "RunLockedError",
    "atomic_write_bytes",
    "check_writable",
    "get_rng_state",
    "load_checkpoint",
    "remove_stale_temps",
    "run_lock",
    "save_checkpoint",
    "set_rng_state",
]

#: Marker stored in every checkpoint, to tell ours apart from any other ``.pt`` file.
FORMAT = "resnet_edu.checkpoint"
VERSION = 3  # 3: the history holds step_error


class CheckpointError(RuntimeError):
    """A checkpoint file is truncated, corrupted, or not a resnet_edu checkpoint."""


class RunLockedError(RuntimeError):
    """Another running process holds the lock of this checkpoint."""


def atomic_write_bytes(path: str | Path, write) -> Path:
    """Call ``write(file_object)`` on a temp file next to ``path``, then rename it to ``path``.

    The temp file is removed if ``write`` raises, so no partial file is ever left behind.

    Args:
        path: final file name; its folder must exist.
        write: function that writes the content to a binary file object.

    Example:
        >>> atomic_write_bytes("out.bin", lambda f: f.write(b"hello"))
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (plus the format marker) to ``path`` atomically.

    The file is serialised in memory first, so its size is known: if the disk has less free
    space than that (the old checkpoint stays until the new one is complete, so a write needs
    twice a checkpoint's size in all), an ``OSError`` says how much is needed, and the old file
    is left as it was.

    Args:
        path: destination, conventionally ``*.pt``; its folder must exist.
        state: a dict of tensors and plain Python values (see
            :meth:`resnet_edu.train.TrainState.state_dict`).

    Raises:
        OSError: not enough free space (``errno.ENOSPC``), or the folder is not writable.

    Example:
        >>> save_checkpoint("run/checkpoint.pt", state)
    """
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict, got {type(state).__name__}")
    if not state:
        raise ValueError("state is empty: a checkpoint needs at least one entry (see TrainState)")
    path = Path(path)
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, **state}, buffer)
    data = buffer.getbuffer()
    old = path.stat().st_size if path.is_file() else 0
    try:
        usage = shutil.disk_usage(path.parent)
        free = usage.free if usage.total > 0 else math.inf  # some FUSE mounts report 0 / 0
    except OSError:  # the folder is missing or unreadable: the write below says so
        free = math.inf
    free_text = _megabytes(free) if free < math.inf else "too little"
    message = (
        f"not enough disk space for the checkpoint {str(path)!r}: it needs "
        f"{_megabytes(len(data))} free next to the previous one ({_megabytes(old)}; an atomic "
        f"write keeps both until the new file is complete), and {free_text} is free. "
        "Free some space, or write the run to another disk"
    )
    if free < len(data):
        raise OSError(errno.ENOSPC, message)
    try:
        return atomic_write_bytes(path, lambda f: f.write(data))
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise OSError(errno.ENOSPC, message) from None
        raise


def _temps(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Delete the temporary files a killed :func:`atomic_write_bytes` of ``path`` left behind.

    Call it only while holding :func:`run_lock` (a running writer's temp file is not stale).

    Returns:
        The files removed.

    Example:
        >>> remove_stale_temps("run/checkpoint.pt")
        [PosixPath('run/.checkpoint.pt.x1y2z3.tmp')]
    """
    path = Path(path)
    removed = []
    for tmp in _temps(path):
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


_held: set[Path] = set()  # lock files this process holds


@contextmanager
def run_lock(path: str | Path) -> Iterator[Path]:
    """Hold the lock of checkpoint ``path`` (the file ``.<name>.lock`` next to it) inside ``with``.

    A second process asking for the same lock gets a :class:`RunLockedError` at once, instead
    of two runs overwriting one checkpoint. The lock is the operating system's (``flock``, or
    ``msvcrt.locking`` on Windows): it ends with its process, even one killed by SIGKILL, so
    the lock file left behind never blocks a later run. A folder where files cannot be created
    is refused first, with the real reason, before any work. Nested use in one process is
    allowed (the command line locks its folder, then :func:`resnet_edu.train.fit` again).

    Raises:
        RunLockedError: another process holds the lock.
        OSError: the folder is not writable (e.g. ``PermissionError``), with its name.

    Example:
        >>> with run_lock("run/checkpoint.pt"):
        ...     ...  # this process alone writes run/checkpoint.pt
    """
    lock = Path(path).resolve().parent / f".{Path(path).name}.lock"
    if lock in _held:  # the outer ``with`` of this process holds it
        yield lock
        return
    check_writable(lock.parent)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if _lock(fd, lock):
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        _held.add(lock)
        yield lock
    finally:
        _held.discard(lock)
        os.close(fd)  # releases the lock


def _lock(fd: int, lock: Path) -> bool:
    """Lock ``fd`` without waiting; False (with a warning) where the file system cannot lock."""
    try:
        if os.name == "nt":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as error:
        if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK):
            warnings.warn(  # e.g. a network or FUSE file system without locks
                f"cannot lock {str(lock)!r} ({error.strerror}): nothing stops a second run "
                "from writing the same checkpoint",
                stacklevel=4,
            )
            return False
    try:
        owner = os.read(fd, 64).decode(errors="replace").strip() or "another process"
    except OSError:  # Windows: the holder's locked byte cannot be read
        owner = "another process"
    raise RunLockedError(
        f"{str(lock.parent / lock.name[1:-5])!r} is in use by a running process (pid {owner}, "
        f"lock file {str(lock)!r}): wait for it to end, or use another folder"
    )


def check_writable(folder: str | Path) -> None:
    """Refuse a folder where files cannot be created, before any work is done there.

    Raises:
        OSError: of the kind the file system gave (e.g. ``PermissionError``), naming the folder.

    Example:
        >>> check_writable("run")
    """
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise type(error)(
            error.errno,
            f"cannot write into {str(folder)!r} ({error.strerror}): checkpoints go there; make "
            "it writable, or choose another folder",
        ) from None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, with ``weights_only=True``.

    Args:
        path: the checkpoint file.
        map_location: where to put the tensors (CPU by default; ``fit`` moves them).

    Raises:
        FileNotFoundError: there is no such file.
        CheckpointError: the file is truncated, corrupted, or not one of ours; the message
            names the file.

    Example:
        >>> state = load_checkpoint("run/checkpoint.pt"); state["step"]
        120
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            errno.EISDIR, f"{str(path)!r} is a folder, not a checkpoint file; name the .pt file"
        )
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (
        RuntimeError,
        EOFError,
        OSError,
        ValueError,
        KeyError,
        IndexError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
        UnicodeDecodeError,
    ) as error:
        first_line = (str(error).splitlines() or [""])[0]
        raise CheckpointError(
            f"cannot read checkpoint {str(path)!r}: the file is truncated, corrupted or not a "
            f"PyTorch file ({type(error).__name__}: {first_line[:200]}). "
            "Delete it to start over, or point resume= at an intact checkpoint."
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(
            f"{str(path)!r} is a PyTorch file but not a resnet_edu checkpoint (no "
            f"format={FORMAT!r} marker); a bare state_dict loads with model.load_state_dict."
        )
    if state.get("version") != VERSION:
        raise CheckpointError(
            f"{str(path)!r} has checkpoint version {state.get('version')!r}; this resnet_edu "
            f"reads version {VERSION}"
        )
    return state


def get_rng_state() -> dict[str, Any]:
    """Every global random state a training step may touch, as tensors and plain lists.

    Example:
        >>> state = get_rng_state(); torch.rand(1); set_rng_state(state)  # rand again = same
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` returned.

    Example:
        >>> set_rng_state(load_checkpoint("run/checkpoint.pt")["rng"])
    """
    torch.set_rng_state(state["torch"].cpu())
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["kind"],
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = [s.cpu() for s in state["cuda"]]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
