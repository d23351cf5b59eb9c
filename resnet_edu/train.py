"""Training the paper's way: ``fit(model, data, config) -> History`` (chapters 1, 4 and 7).

The recipe of section 4.2 is the default: SGD with momentum 0.9 and weight decay 1e-4, learning
rate 0.1 divided by 10 at fixed fractions of training ("at 32k and 48k iterations, and terminate
training at 64k", i.e. at 1/2 and 3/4), optionally warmed up at 0.01 "until the training error is
below 80%" as the paper does for ResNet-110.

What ``fit`` adds to a bare loop is what a long run needs: the device picked for you (CUDA, then
Apple's MPS, then the CPU), mixed precision and channels_last on CUDA, a progress bar, atomic
checkpoints that resume *exactly* (same weights, bit for bit, on the same machine and thread
count), and DistributedDataParallel when launched by ``torchrun``. The data order of epoch ``e``
is a pure function of ``(config.seed, e)`` (see :class:`resnet_edu.data.EpochSampler`); that is
what makes resume exact and what lets N processes split one global batch.

Command line: ``python -m resnet_edu.train --help`` (see :mod:`resnet_edu.cli`).
"""

from __future__ import annotations

import json
import os
import random
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ._checks import check_int, check_module, check_positive_number
from .checkpoint import atomic_write_bytes, get_rng_state, load_checkpoint, save_checkpoint
from .checkpoint import set_rng_state as _set_rng_state
from .data import EpochSampler, Loaders

__all__ = ["FitEvent", "History", "TrainConfig", "fit", "pick_device", "learning_rate"]

#: Fields that may change between a run and its resumption without changing the result.
_PRESENTATION_FIELDS = ("progress", "checkpoint_every", "threads", "device")
_LOG_EVERY = 25  # steps between copies of the loss from the device (one sync each)


@dataclass(frozen=True)
class TrainConfig:
    """How to train; the defaults are the paper's CIFAR-10 recipe (section 4.2).

    The batch size is not here: it is the training loader's (under ``torchrun`` the *global*
    batch, split across the processes).

    Example:
        >>> config = TrainConfig(epochs=182, warmup_until_error=80.0)  # ResNet-110, 64k steps
    """

    epochs: int = 10  # passes over the training set (paper: 64k steps at batch 128 = 182)
    lr: float = 0.1  # base learning rate (paper: 0.1)
    momentum: float = 0.9  # SGD momentum (paper: 0.9)
    weight_decay: float = 1e-4  # L2 penalty of SGD (paper: 0.0001)
    milestones: tuple[float, ...] = (0.5, 0.75)  # lr *= gamma at these fractions of all steps
    gamma: float = 0.1  # factor applied at each milestone (paper: divide by 10)
    warmup_lr: float = 0.01  # learning rate during warm-up (paper, ResNet-110: 0.01)
    warmup_steps: int = 0  # warm up for at most this many steps (0: no step limit)
    warmup_until_error: float | None = None  # end warm-up once train error % < this (paper: 80)
    seed: int = 0  # seeds torch/numpy/random and the data order of every epoch
    threads: int | None = None  # torch.set_num_threads (None: leave PyTorch's choice)
    device: str = "auto"  # "auto" = CUDA, then MPS, then CPU; or e.g. "cpu", "cuda:1"
    amp: bool = False  # float16 autocast + gradient scaling (CUDA only; ignored elsewhere)
    channels_last: bool = False  # NHWC memory format, faster convs on tensor cores (CUDA only)
    sync_bn: bool = False  # under DDP: BatchNorm statistics over the global batch (CUDA only)
    checkpoint_every: int = 0  # also checkpoint every N steps (0: only at epoch ends)
    progress: bool = True  # tqdm progress bar and one line per epoch (rank 0 only)

    def __post_init__(self) -> None:
        check_int("epochs", self.epochs, minimum=1)
        for name in ("lr", "gamma", "warmup_lr"):
            check_positive_number(name, getattr(self, name))
        for name in ("momentum", "weight_decay"):
            check_positive_number(name, getattr(self, name), allow_zero=True)
        if not all(isinstance(m, (int, float)) and 0 < m < 1 for m in self.milestones):
            raise ValueError(f"milestones must be fractions in (0, 1), got {self.milestones}")
        object.__setattr__(self, "milestones", tuple(sorted(float(m) for m in self.milestones)))
        check_int("warmup_steps", self.warmup_steps, minimum=0)
        if self.warmup_until_error is not None:
            check_positive_number("warmup_until_error", self.warmup_until_error)
        check_int("seed", self.seed, minimum=0)
        if self.threads is not None:
            check_int("threads", self.threads, minimum=1)
        check_int("checkpoint_every", self.checkpoint_every, minimum=0)
        if not isinstance(self.device, str):
            raise TypeError("device must be a str such as 'auto', 'cpu', 'cuda', 'mps'")

    @property
    def warmup(self) -> bool:
        """Whether this config warms up at all."""
        return self.warmup_steps > 0 or self.warmup_until_error is not None

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain JSON-able values (milestones as a list)."""
        d = asdict(self)
        d["milestones"] = list(self.milestones)
        return d


@dataclass
class History:
    """What happened during training, as plain lists (plot with ``resnet_edu.plots``).

    Attributes:
        loss: training loss of every step (mean over the global batch).
        lr: learning rate of every step.
        epoch: 1, 2, ... one entry per finished epoch.
        train_loss: mean of ``loss`` over each epoch.
        train_error: training error in percent (0-100) over each epoch, measured on the fly in
            train mode while the weights changed -- the paper's Fig. 6 "training error".
        test_error: error in percent on the test loader after each epoch (eval mode).
        test_loss: mean cross-entropy on the test loader after each epoch.
        steps_per_epoch: steps in one epoch (turns a step index into an epoch fraction).

    Example:
        >>> history = fit(model, digits(), TrainConfig(epochs=2))
        >>> history.test_error[-1] < history.test_error[0]
        True
    """

    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_error: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_error: list[float] = field(default_factory=list)
    steps_per_epoch: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of all fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """Inverse of :meth:`to_dict`; unknown keys raise a ValueError."""
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown History fields {sorted(unknown)}; expected {sorted(names)}")
        return cls(**{k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in d.items()})

    def save(self, path: str | Path) -> Path:
        """Write the history as JSON, atomically."""
        text = json.dumps(self.to_dict(), indent=1).encode()
        return atomic_write_bytes(path, lambda f: f.write(text))

    @classmethod
    def load(cls, path: str | Path) -> History:
        """Read a history written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text()))

    def save_csv(self, path: str | Path) -> Path:
        """Write the per-epoch columns (epoch, train/test loss and error) as CSV, atomically."""
        rows = ["epoch,train_loss,train_error,test_loss,test_error"]
        for row in zip(
            self.epoch,
            self.train_loss,
            self.train_error,
            self.test_loss,
            self.test_error,
            strict=True,
        ):
            rows.append(",".join(repr(v) for v in row))
        text = ("\n".join(rows) + "\n").encode()
        return atomic_write_bytes(path, lambda f: f.write(text))


@dataclass(frozen=True)
class FitEvent:
    """What a callback of :func:`fit` receives.

    Attributes:
        kind: ``"step"`` after every optimiser step, ``"checkpoint"`` after a checkpoint was
            written, ``"epoch"`` after each epoch's evaluation.
        step: optimiser steps done so far.
        epoch: epochs started so far (the current epoch is ``epoch``, counting from 1).
        model: the model being trained (not the DDP wrapper).
        history: the history so far (per-step lists are filled in batches of steps; complete
            at ``"checkpoint"`` and ``"epoch"`` events).
    """

    kind: str
    step: int
    epoch: int
    model: nn.Module
    history: History


def pick_device(name: str = "auto") -> torch.device:
    """``"auto"``: CUDA if available, then Apple's MPS, then the CPU; else ``torch.device(name)``.

    Example:
        >>> pick_device("cpu")
        device(type='cpu')
    """
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def learning_rate(config: TrainConfig, step: int, total_steps: int, warming_up: bool) -> float:
    """The learning rate of ``step`` (0-based) out of ``total_steps``: step decay, or warm-up.

    Example:
        >>> learning_rate(TrainConfig(), 600, 1000, warming_up=False)  # after the 1st milestone
        0.01...
    """
    if warming_up:
        return config.warmup_lr
    passed = sum(step >= round(m * total_steps) for m in config.milestones)
    return config.lr * config.gamma**passed


class _Distributed:
    """The process group under ``torchrun`` (WORLD_SIZE > 1), or a world of one."""

    def __init__(self) -> None:
        import torch.distributed as dist

        self.dist, self.created = dist, False
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world > 1 and not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            if torch.cuda.is_available():
                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            dist.init_process_group(backend)
            self.created = True
        self.active = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.active else 0
        self.world = dist.get_world_size() if self.active else 1

    def sum(self, t: Tensor) -> Tensor:
        """All-reduce (sum) ``t`` over the processes; NCCL needs it on the GPU, gloo anywhere."""
        if not (self.active and self.world > 1):
            return t
        on = t.to("cuda") if self.dist.get_backend() == "nccl" else t.cpu()
        self.dist.all_reduce(on)
        return on.to(t.device)

    def close(self) -> None:
        if self.created:
            self.dist.destroy_process_group()


def _unpack(data: Any) -> tuple[DataLoader, DataLoader]:
    if isinstance(data, Loaders):
        return data.train, data.test
    if isinstance(data, (tuple, list)) and len(data) == 2:
        train, test = data
        if isinstance(train, DataLoader) and isinstance(test, DataLoader):
            return train, test
    raise TypeError(
        "data must be a resnet_edu.data.Loaders (from digits(), cifar10(), synthetic()) or a "
        f"(train, test) pair of DataLoaders, got {type(data).__name__}"
    )


def _loader_like(
    loader: DataLoader, sampler: EpochSampler, batch_size: int, seed: int
) -> DataLoader:
    """``loader`` with our sampler; its own generator only seeds worker processes."""
    return DataLoader(
        loader.dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        drop_last=loader.drop_last,
        worker_init_fn=loader.worker_init_fn,
        generator=torch.Generator().manual_seed(seed),
    )


def _check_same_run(saved: dict[str, Any], config: TrainConfig, path: Path) -> None:
    current = config.to_dict()
    differ = [
        f"{k}: {saved.get(k)!r} -> {v!r}"
        for k, v in current.items()
        if k not in _PRESENTATION_FIELDS and saved.get(k) != v
    ]
    if differ:
        raise ValueError(
            f"cannot resume from {str(path)!r}: the config differs from the checkpoint's "
            f"({'; '.join(differ)}), so the result would not be the run it started. Use the "
            "same config, or start a new run in another folder."
        )


def fit(
    model: nn.Module,
    data: Loaders | tuple[DataLoader, DataLoader],
    config: TrainConfig | None = None,
    *,
    checkpoint: str | Path | None = None,
    resume: bool | str | Path = False,
    callbacks: Sequence[Callable[[FitEvent], None]] = (),
) -> History:
    """Train ``model`` on ``data`` with ``config``; return the :class:`History`.

    Args:
        model: e.g. ``resnet_edu.resnet20(num_classes=data.num_classes)``; trained in place.
        data: :class:`resnet_edu.data.Loaders`, or a ``(train, test)`` pair of DataLoaders. The
            training loader's dataset, batch size, workers and collate function are used; the
            order is ``fit``'s own (seeded by ``config.seed`` and the epoch).
        config: the recipe; ``TrainConfig()`` (the paper's) if ``None``.
        checkpoint: file to write checkpoints to (every ``config.checkpoint_every`` steps, at
            each epoch end, and at the end); ``None`` writes none.
        resume: ``False`` starts afresh; ``True`` continues from ``checkpoint`` if that file
            exists (else starts afresh); a path continues from that file (which must exist).
            The config must match the checkpoint's (up to progress/threads/device/
            checkpoint_every); the result equals the uninterrupted run's.
        callbacks: functions called with a :class:`FitEvent` after each step, checkpoint and
            epoch, on every process.

    Returns:
        The history, also stored in the checkpoint. Under ``torchrun`` every process returns
        the same history; only rank 0 writes files and shows progress.

    Raises:
        resnet_edu.checkpoint.CheckpointError: the checkpoint to resume from is unreadable.
        ValueError: resuming with a different config.

    Example:
        >>> data = digits()
        >>> model = resnet20(num_classes=10)
        >>> history = fit(model, data, TrainConfig(epochs=3), checkpoint="run/ckpt.pt")
    """
    check_module("model", model)
    config = TrainConfig() if config is None else config
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    train_loader, test_loader = _unpack(data)
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    if resume is True and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=<path> (or pass the path as resume=)")
    if resume not in (True, False):
        resume = Path(resume)
        if not resume.is_file():
            raise FileNotFoundError(f"resume: no checkpoint at {str(resume)!r}")
    elif resume is True:
        resume = checkpoint if checkpoint.is_file() else False

    dist = _Distributed()
    try:
        return _fit(model, train_loader, test_loader, config, checkpoint, resume, callbacks, dist)
    finally:
        dist.close()


def _fit(model, train_loader, test_loader, config, checkpoint, resume, callbacks, dist):
    if config.progress:
        from tqdm.auto import tqdm
    else:  # the bar is disabled; tqdm.auto would still warn where ipywidgets is missing
        from tqdm import tqdm

    if config.threads is not None:
        torch.set_num_threads(config.threads)
    device = pick_device(config.device)
    if device.type == "cuda" and dist.world > 1 and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    on_cuda = device.type == "cuda"
    for flag in ("amp", "channels_last", "sync_bn"):
        if getattr(config, flag) and not on_cuda:
            warnings.warn(
                f"TrainConfig.{flag} applies on CUDA only; ignored on {device}", stacklevel=3
            )
    amp, channels_last = config.amp and on_cuda, config.channels_last and on_cuda
    memory_format = torch.channels_last if channels_last else torch.preserve_format
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    random.seed(config.seed)

    batch_size = train_loader.batch_size
    if batch_size is None:
        raise ValueError("the training DataLoader needs a batch_size (no custom batch_sampler)")
    if batch_size % dist.world:
        raise ValueError(f"batch size {batch_size} must divide among {dist.world} processes")
    local_batch = batch_size // dist.world
    sampler = EpochSampler(
        len(train_loader.dataset), seed=config.seed, num_replicas=dist.world, rank=dist.rank
    )
    steps_per_epoch = len(_loader_like(train_loader, sampler, local_batch, 0))
    total_steps = steps_per_epoch * config.epochs

    model.to(device, memory_format=memory_format)
    if config.sync_bn and dist.world > 1 and on_cuda:  # SyncBatchNorm needs GPU modules
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
    )
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    history = History(steps_per_epoch=steps_per_epoch)
    step, warming_up, recent_errors = 0, config.warmup, []
    epoch_counts = [0, 0]  # correct, seen in the current epoch (summed over processes)

    if resume:
        state = load_checkpoint(resume)
        _check_same_run(state["config"], config, resume)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if amp and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        history = History.from_dict(state["history"])
        step, epoch_counts = state["step"], list(state["schedule"]["epoch_counts"])
        warming_up = state["schedule"]["warming_up"]
        recent_errors = list(state["schedule"]["recent_errors"])
        if history.steps_per_epoch != steps_per_epoch:
            raise ValueError(
                f"cannot resume from {str(resume)!r}: it has {history.steps_per_epoch} steps "
                f"per epoch, this data {steps_per_epoch} (other dataset or batch size?)"
            )
        _set_rng_state(state["rng"])
        if dist.rank != 0:  # the counts in the file are global; rank 0 carries them
            epoch_counts = [0, 0]

    net: nn.Module = model
    if dist.world > 1:
        ids = [device.index] if on_cuda else None
        net = nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def save(epoch: int) -> None:
        if checkpoint is None:
            return
        counts = dist.sum(torch.tensor(epoch_counts, dtype=torch.long, device=device))
        if dist.rank == 0:
            state = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict() if amp else {},
                "schedule": {
                    "warming_up": warming_up,
                    "recent_errors": list(recent_errors),
                    "epoch_counts": counts.tolist(),
                    "total_steps": total_steps,
                },
                "step": step,
                "epoch": epoch,
                "rng": get_rng_state(),
                "config": config.to_dict(),
                "history": history.to_dict(),
            }
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            save_checkpoint(checkpoint, state)
        notify("checkpoint", epoch)

    def notify(kind: str, epoch: int) -> None:
        for callback in callbacks:
            callback(FitEvent(kind, step, epoch, model, history))

    pending: list[Tensor] = []  # losses still on the device

    def flush() -> None:
        if pending:
            losses = dist.sum(torch.stack(pending).float()) / dist.world
            history.loss.extend(losses.tolist())
            pending.clear()

    bar = tqdm(
        total=total_steps,
        initial=step,
        disable=not config.progress or dist.rank != 0,
        unit="step",
        dynamic_ncols=True,
    )
    net.train()
    for epoch in range(step // steps_per_epoch, config.epochs):
        done_in_epoch = step - epoch * steps_per_epoch
        sampler.set_epoch(epoch, start=done_in_epoch * local_batch)
        if hasattr(train_loader.dataset, "set_epoch"):
            train_loader.dataset.set_epoch(epoch)  # the epoch's augmentation
        loader = _loader_like(train_loader, sampler, local_batch, config.seed + epoch)
        bar.set_description(f"epoch {epoch + 1}/{config.epochs}")
        correct = torch.zeros((), dtype=torch.long, device=device)
        for images, labels in loader:
            images = images.to(device, non_blocking=True, memory_format=memory_format)
            labels = labels.to(device, non_blocking=True)
            lr = learning_rate(config, step, total_steps, warming_up)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                logits = net(images)
                loss = F.cross_entropy(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()

            batch_correct = (logits.argmax(1) == labels).sum()
            correct += batch_correct
            epoch_counts[1] += len(labels)
            pending.append(loss.detach())
            history.lr.append(lr)
            step += 1
            if warming_up:
                warming_up = _still_warming_up(
                    config, step, batch_correct, len(labels), dist, recent_errors
                )
            if len(pending) >= _LOG_EVERY:
                flush()
                bar.set_postfix(loss=f"{history.loss[-1]:.3f}", lr=f"{lr:g}", refresh=False)
            bar.update()
            notify("step", epoch + 1)
            if config.checkpoint_every and step % config.checkpoint_every == 0:
                if step % steps_per_epoch:  # epoch ends checkpoint below, after evaluation
                    flush()
                    epoch_counts[0] += int(correct.item())
                    correct.zero_()
                    save(epoch + 1)

        flush()
        epoch_counts[0] += int(correct.item())
        counts = dist.sum(torch.tensor(epoch_counts, dtype=torch.long, device=device)).tolist()
        epoch_counts = [0, 0]
        test_loss, test_error = _evaluate(model, test_loader, device, amp, memory_format, dist)
        net.train()
        history.epoch.append(epoch + 1)
        epoch_losses = history.loss[epoch * steps_per_epoch : (epoch + 1) * steps_per_epoch]
        history.train_loss.append(sum(epoch_losses) / len(epoch_losses))
        history.train_error.append(100.0 * (1 - counts[0] / counts[1]))
        history.test_loss.append(test_loss)
        history.test_error.append(test_error)
        if config.progress and dist.rank == 0:
            bar.write(
                f"epoch {epoch + 1}/{config.epochs}: train loss {history.train_loss[-1]:.4f}, "
                f"train error {history.train_error[-1]:.2f}%, test error {test_error:.2f}%, "
                f"lr {history.lr[-1]:g}"
            )
        save(epoch + 1)
        notify("epoch", epoch + 1)
    bar.close()
    return history


def _still_warming_up(config, step, batch_correct, batch_size, dist, recent_errors) -> bool:
    """Warm-up ends after ``warmup_steps`` or once the error of the last 20 batches is low."""
    if config.warmup_steps and step >= config.warmup_steps:
        return False
    if config.warmup_until_error is None:
        return True
    counts = dist.sum(torch.stack([batch_correct.cpu(), torch.tensor(batch_size)]).float())
    recent_errors.append(100.0 * (1 - counts[0].item() / counts[1].item()))
    del recent_errors[:-20]
    return sum(recent_errors) / len(recent_errors) >= config.warmup_until_error


@torch.no_grad()
def _evaluate(model, loader, device, amp, memory_format, dist) -> tuple[float, float]:
    """Mean loss and error (%) on ``loader``, each image counted once across processes."""
    if dist.world > 1:
        for buffer in model.buffers():  # BN running stats: rank 0's, so all ranks agree
            dist.dist.broadcast(buffer, src=0)
    sampler = EpochSampler(
        len(loader.dataset), shuffle=False, num_replicas=dist.world, rank=dist.rank, pad=False
    )
    model.eval()
    loss_sum, wrong, count = 0.0, 0, 0
    for images, labels in _loader_like(loader, sampler, loader.batch_size or 256, 0):
        images = images.to(device, non_blocking=True, memory_format=memory_format)
        labels = labels.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            logits = model(images)
        loss_sum += F.cross_entropy(logits.float(), labels, reduction="sum").item()
        wrong += int((logits.argmax(1) != labels).sum().item())
        count += labels.numel()
    totals = dist.sum(torch.tensor([loss_sum, wrong, count], dtype=torch.float64)).tolist()
    return totals[0] / totals[2], 100.0 * totals[1] / totals[2]


if __name__ == "__main__":
    from .cli import main

    raise SystemExit(main())
