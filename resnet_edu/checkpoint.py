"""Checkpoints that survive a killed process, and the random state that makes resume exact.

A checkpoint is one plain dict (tensors, numbers, strings, lists, dicts) so that it loads with
``torch.load(weights_only=True)`` -- no pickled code runs when a file is opened. It is written to
a temporary file in the same folder and moved into place with ``os.replace``, which is atomic on
POSIX and Windows: a reader (or a resumed run) sees the old file or the new one, never half of
one, even if the process is killed with SIGKILL in the middle of ``torch.save``.

Used by :func:`resnet_edu.train.fit` (chapter 4: training the paper's nets, resumable in Colab).
"""

from __future__ import annotations

import os
import pickle
import random
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "FORMAT",
    "VERSION",
    "CheckpointError",
    "atomic_write_bytes",
    "get_rng_state",
    "load_checkpoint",
    "save_checkpoint",
    "set_rng_state",
]

#: Marker stored in every checkpoint, to tell ours apart from any other ``.pt`` file.
FORMAT = "resnet_edu.checkpoint"
VERSION = 1
_REQUIRED = ("model", "optimizer", "schedule", "step", "epoch", "rng", "config", "history")


class CheckpointError(RuntimeError):
    """A checkpoint file is truncated, corrupted, or not a resnet_edu checkpoint."""


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


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (plus the format marker) to ``path`` atomically.

    Args:
        path: destination, conventionally ``*.pt``.
        state: dict with the keys ``model, optimizer, schedule, step, epoch, rng, config,
            history``, holding only tensors and plain Python values.

    Example:
        >>> save_checkpoint("run/checkpoint.pt", state)
    """
    missing = [key for key in _REQUIRED if key not in state]
    if missing:
        raise ValueError(f"state is missing the keys {missing}")
    payload = {"format": FORMAT, "version": VERSION, **state}
    return atomic_write_bytes(path, lambda f: torch.save(payload, f))


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
    missing = [key for key in _REQUIRED if key not in state]
    if missing:
        raise CheckpointError(f"checkpoint {str(path)!r} lacks the entries {missing}")
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
