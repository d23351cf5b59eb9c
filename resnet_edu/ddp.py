"""Several processes, one run: the process group under ``torchrun`` (chapter 7 and the appendix).

``torchrun --nproc_per_node=N`` starts N copies of the same program and tells each who it is
through environment variables (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``). :func:`process_group` reads them, joins the group (NCCL on GPUs, gloo on
CPUs) and leaves it at the end; outside torchrun it is a world of one process and does nothing.
:func:`resnet_edu.train.fit` wraps the model in ``DistributedDataParallel`` inside it.

Two mistakes used to hang or fail deep inside torch: ``WORLD_SIZE=2`` set by hand without a
launcher (the other ranks never come), and a launcher variable missing. Both now end with one
``RuntimeError`` that says what to do; waiting for the other processes gives up after
:data:`TIMEOUT_S` seconds (environment variable ``RESNET_EDU_DDP_TIMEOUT``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import Tensor, nn

__all__ = ["TIMEOUT_S", "World", "launched_rank", "process_group"]

#: Seconds to wait for the other processes (joining the group, and each collective operation).
TIMEOUT_S = 300.0
_LAUNCHER_VARIABLES = ("RANK", "MASTER_ADDR", "MASTER_PORT")


class World:
    """Who this process is among the processes of one run: ``rank`` of ``size``."""

    def __init__(self, rank: int = 0, size: int = 1) -> None:
        self.rank, self.size = rank, size

    def sum(self, t: Tensor) -> Tensor:
        """``t`` summed over the processes (NCCL needs it on the GPU, gloo anywhere)."""
        if self.size == 1:
            return t
        on = t.to("cuda") if dist.get_backend() == "nccl" else t.cpu()
        dist.all_reduce(on)
        return on.to(t.device)

    def broadcast_buffers(self, model: nn.Module) -> None:
        """Give every process rank 0's buffers (BatchNorm running statistics)."""
        if self.size > 1:
            for buffer in model.buffers():
                dist.broadcast(buffer, src=0)


def _world_size() -> int:
    text = os.environ.get("WORLD_SIZE", "1")
    try:
        size = int(text)
    except ValueError:
        raise ValueError(f"WORLD_SIZE must be a whole number >= 1, got {text!r}") from None
    if size < 1:
        raise ValueError(f"WORLD_SIZE must be >= 1, got {size}")
    return size


def _timeout_s() -> float:
    text = os.environ.get("RESNET_EDU_DDP_TIMEOUT", str(TIMEOUT_S))
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ValueError(f"RESNET_EDU_DDP_TIMEOUT must be a number of seconds > 0, got {text!r}")
    return seconds


def launched_rank() -> int:
    """This process's rank as the launcher set it (0 without one), checked before any work.

    Raises:
        RuntimeError: ``WORLD_SIZE > 1`` but the launcher's other variables are missing.

    Example:
        >>> launched_rank()  # not under torchrun
        0
    """
    size = _world_size()
    if size == 1:
        return 0
    missing = [name for name in _LAUNCHER_VARIABLES if name not in os.environ]
    if missing:
        raise RuntimeError(
            f"WORLD_SIZE={size} but {', '.join(missing)} not set: start the {size} processes "
            f"with torchrun (torchrun --nproc_per_node={size} -m resnet_edu.train ...), or "
            "unset WORLD_SIZE to train in one process"
        )
    rank = os.environ["RANK"]
    if not rank.isdigit() or int(rank) >= size:
        raise ValueError(f"RANK must be a whole number in [0, WORLD_SIZE={size}), got {rank!r}")
    return int(rank)


def _join(size: int) -> None:
    launched_rank()
    timeout = _timeout_s()
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    try:
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout))
    except (RuntimeError, OSError) as error:  # DistStoreError / DistNetworkError
        where = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
        raise RuntimeError(
            f"rank {os.environ['RANK']} of WORLD_SIZE={size} could not join the others at "
            f"{where} within {timeout:g} s ({type(error).__name__}); start all {size} "
            "processes together (torchrun does), or set RESNET_EDU_DDP_TIMEOUT"
        ) from None


@contextmanager
def process_group() -> Iterator[World]:
    """The :class:`World` of this run; joins ``torchrun``'s process group if there is one.

    A group that already exists (created by the caller) is used and left open.

    Raises:
        RuntimeError: ``WORLD_SIZE > 1`` without the other launcher variables, or the other
            processes did not come within the timeout.

    Example:
        >>> with process_group() as world:
        ...     world.rank, world.size
        (0, 1)
    """
    if not dist.is_available():  # a PyTorch built without torch.distributed
        yield World()
        return
    created = False
    if not dist.is_initialized():
        size = _world_size()
        if size > 1:
            _join(size)
            created = True
    try:
        if dist.is_initialized():
            yield World(dist.get_rank(), dist.get_world_size())
        else:
            yield World()
    finally:
        if created:
            dist.destroy_process_group()
