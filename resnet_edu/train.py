"""Training the paper's way: ``fit(model, data, config) -> History`` (chapters 1, 3, 7 and 8).

The recipe of section 4.2 is the default: SGD with momentum 0.9 and weight decay 1e-4,
cross-entropy, learning rate 0.1 divided by 10 at fixed fractions of training ("at 32k and 48k
iterations, and terminate training at 64k", i.e. at 1/2 and 3/4), optionally warmed up at 0.01
"until the training error is below 80%" as the paper does for ResNet-110. ``fit`` takes another
optimiser (a factory ``(params, config) -> Optimizer``) and another loss where a chapter needs
them.

The loop itself is :func:`fit`: for each epoch, :func:`train_one_epoch` (forward, loss,
backward, optimiser step on every batch), then :func:`evaluate` on the test set, then a
checkpoint. :class:`TrainState` is what changes while training, and its
:meth:`~TrainState.state_dict` is the checkpoint's whole content. What ``fit`` adds to a bare
loop is what a long run needs: the device picked for you (CUDA, then Apple's MPS, then the
CPU), mixed precision (float16 on CUDA, bfloat16 on CUDA and CPUs) and channels_last, a
progress bar, atomic checkpoints that resume *exactly* (same weights, bit for bit, on the same
machine and thread count), and DistributedDataParallel under ``torchrun``
(:mod:`resnet_edu.ddp`). The data order of epoch ``e`` is ``DistributedSampler``'s for
``(config.seed, e)``; that is what makes resume exact and what lets N processes split one
global batch.

Command line: ``python -m resnet_edu.train --help`` (see :mod:`resnet_edu.cli`).
"""

from __future__ import annotations

import json
import math
import random
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from . import ddp
from ._checks import as_batches, check_bool, check_int, check_module
from .checkpoint import (
    CheckpointError,
    atomic_write_bytes,
    get_rng_state,
    load_checkpoint,
    remove_stale_temps,
    run_lock,
    save_checkpoint,
    set_rng_state,
)
from .data import Loaders
from .measure import eval_mode

__all__ = [
    "FitEvent",
    "History",
    "NonFiniteLossError",
    "TrainConfig",
    "TrainState",
    "evaluate",
    "fit",
    "learning_rate",
    "pick_device",
    "sgd",
    "train_one_epoch",
]

_LOG_EVERY = 25  # steps between copies of the losses from the device (one sync each)
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
_AMP_DTYPES = ("float16", "bfloat16")


def _check_real(name: str, value: Any, low: float, high: float, accepted: str) -> float:
    """``value`` if it is a real number in ``accepted`` (``low <= value <= high``, finite)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number {accepted}, got {type(value).__name__} {value!r}")
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name} must be a finite number {accepted}, got {value!r}")
    return float(value)


def _option(default: Any, help: str) -> Any:
    """A config field with its documentation (also the command line's ``--help``)."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class TrainConfig:
    """How to train; the defaults are the paper's CIFAR-10 recipe (section 4.2).

    The batch size is not here: it is the training loader's (under ``torchrun`` the *global*
    batch, split across the processes). Each field's ``help`` is its documentation, also the
    ``--help`` of the command line, which is generated from these fields.

    Example:
        >>> config = TrainConfig(epochs=182, warmup_until_error=80.0)  # ResNet-110, 64k steps
    """

    epochs: int = _option(10, "passes over the training set (paper: 64k steps at batch 128 = 182)")
    lr: float = _option(0.1, "base learning rate (paper: 0.1)")
    momentum: float = _option(0.9, "SGD momentum, in [0, 1) (paper: 0.9)")
    weight_decay: float = _option(1e-4, "L2 penalty of SGD (paper: 0.0001)")
    milestones: tuple[float, ...] = _option(
        (0.5, 0.75), "lr *= gamma at these fractions of all steps"
    )
    gamma: float = _option(0.1, "factor applied at each milestone (paper: divide by 10)")
    warmup_lr: float = _option(0.01, "learning rate during warm-up (paper, ResNet-110: 0.01)")
    warmup_steps: int = _option(0, "warm up for at most this many steps (0: no step limit)")
    warmup_until_error: float | None = _option(
        None, "end warm-up once train error % < this (paper: 80)"
    )
    seed: int = _option(0, "seeds torch/numpy/random and the data order of every epoch")
    threads: int | None = _option(None, "torch.set_num_threads (None: leave PyTorch's choice)")
    device: str = _option("auto", "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    amp: bool = _option(False, "mixed precision: autocast to amp_dtype (ignored where unsupported)")
    amp_dtype: str = _option(
        "float16", "float16 (CUDA, with gradient scaling) or bfloat16 (CUDA where supported, CPU)"
    )
    channels_last: bool = _option(False, "NHWC memory format, faster convs on tensor cores (CUDA)")
    sync_bn: bool = _option(False, "under DDP: BatchNorm statistics over the global batch (CUDA)")
    checkpoint_every: int = _option(0, "also checkpoint every N steps (0: only at epoch ends)")
    progress: bool = _option(True, "tqdm progress bar and one line per epoch (rank 0 only)")

    #: Fields that change the numbers only through the machine (device, threads, precision,
    #: memory layout): a run may continue on another (with a warning).
    MACHINE_FIELDS: ClassVar[tuple[str, ...]] = (
        "threads",
        "device",
        "amp",
        "amp_dtype",
        "channels_last",
        "sync_bn",
    )
    #: Fields that never change the numbers.
    PRESENTATION_FIELDS: ClassVar[tuple[str, ...]] = ("checkpoint_every", "progress")

    def __post_init__(self) -> None:
        _check_config(self)

    @property
    def warmup(self) -> bool:
        """Whether this config warms up at all."""
        return self.warmup_steps > 0 or self.warmup_until_error is not None

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain JSON-able values (milestones as a list)."""
        d = asdict(self)
        d["milestones"] = list(self.milestones)
        return d


def _check_config(config: TrainConfig) -> None:
    """Every field of ``config`` checked by name (milestones sorted, as floats)."""
    check_int("epochs", config.epochs, minimum=1)
    for name in ("lr", "gamma", "warmup_lr"):
        _check_real(name, getattr(config, name), 1e-300, math.inf, "> 0")
    _check_real("weight_decay", config.weight_decay, 0, math.inf, ">= 0")
    _check_real("momentum", config.momentum, 0, 1, "in [0, 1)")
    if config.momentum == 1:
        raise ValueError("momentum must be a finite number in [0, 1), got 1 (it diverges)")
    _check_milestones(config)
    check_int("warmup_steps", config.warmup_steps, minimum=0)
    if config.warmup_until_error is not None:
        _check_real("warmup_until_error", config.warmup_until_error, 1e-300, 100, "in (0, 100]")
    check_int("seed", config.seed, minimum=0)
    if config.threads is not None:
        check_int("threads", config.threads, minimum=1)
    check_int("checkpoint_every", config.checkpoint_every, minimum=0)
    if not isinstance(config.device, str) or not _DEVICE.fullmatch(config.device):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {config.device!r}"
        )
    if config.amp_dtype not in _AMP_DTYPES:
        raise ValueError(f"amp_dtype must be 'float16' or 'bfloat16', got {config.amp_dtype!r}")
    for name in ("amp", "channels_last", "sync_bn", "progress"):
        check_bool(name, getattr(config, name))


def _check_milestones(config: TrainConfig) -> None:
    accepted = "a sequence of fractions in (0, 1) such as (0.5, 0.75)"
    if isinstance(config.milestones, (str, bytes)) or not isinstance(config.milestones, Sequence):
        raise TypeError(
            f"milestones must be {accepted}, got {type(config.milestones).__name__} "
            f"{config.milestones!r}"
        )
    for m in config.milestones:
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0 < m < 1:
            raise ValueError(f"milestones must be {accepted}, got {config.milestones!r}")
    object.__setattr__(config, "milestones", tuple(sorted(float(m) for m in config.milestones)))


#: ``fit(loss=...)``: ``loss(logits, labels) -> batch-mean loss`` (default ``F.cross_entropy``).
LossFn = Callable[[Tensor, Tensor], Tensor]
#: ``fit(optimizer=...)``: a factory ``(parameters, config) -> torch.optim.Optimizer``.
OptimizerFactory = Callable[[Iterable[nn.Parameter], TrainConfig], torch.optim.Optimizer]


@dataclass
class History:
    """What happened during training, as plain lists (plot with ``resnet_edu.plots``).

    Attributes:
        loss: training loss of every step (mean over the global batch).
        step_error: training error in percent (0-100) of every step: the share of the step's
            (global) batch that the forward pass of that step, in train mode and before the
            update, classified wrongly. Aligned with ``loss``.
        lr: learning rate of every step.
        epoch: 1, 2, ... one entry per finished epoch.
        train_loss: mean of ``loss`` over each epoch.
        train_error: training error in percent (0-100) over each epoch, measured on the fly in
            train mode while the weights changed -- the paper's Fig. 6 "training error".
        test_error: error in percent on the test loader after each epoch (eval mode).
        test_loss: mean loss (``fit``'s ``loss``) on the test loader after each epoch.
        steps_per_epoch: steps in one epoch (turns a step index into an epoch fraction).

    Example:
        >>> history = fit(model, digits(), TrainConfig(epochs=2))
        >>> history.test_error[-1] < history.test_error[0]
        True
    """

    loss: list[float] = field(default_factory=list)
    step_error: list[float] = field(default_factory=list)
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


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite: the run diverged (usually: lr too large), or
    the input images were not finite (the message says which)."""


def pick_device(name: str = "auto") -> torch.device:
    """``"auto"``: CUDA if available, then Apple's MPS, then the CPU; else ``torch.device(name)``.

    Raises:
        RuntimeError: the device asked for does not exist on this machine.

    Example:
        >>> pick_device("cpu")
        device(type='cpu')
    """
    if not isinstance(name, str) or not _DEVICE.fullmatch(name):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {name!r}")
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if mps else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r}: this machine has no CUDA GPU; use 'auto' or 'cpu'")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise RuntimeError(f"device {name!r}: there are {torch.cuda.device_count()} CUDA GPUs")
    if device.type == "mps" and not mps:
        raise RuntimeError(f"device {name!r}: this machine has no MPS GPU; use 'auto' or 'cpu'")
    return device


def learning_rate(config: TrainConfig, step: int, total_steps: int, warming_up: bool) -> float:
    """The learning rate of ``step`` (0-based) out of ``total_steps``: step decay, or warm-up.

    Example:
        >>> learning_rate(TrainConfig(), 600, 1000, warming_up=False)  # after the 1st milestone
        0.01...
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    check_int("total_steps", total_steps, minimum=1)
    check_int("step", step, minimum=0)
    check_bool("warming_up", warming_up)
    if warming_up:
        return config.warmup_lr
    passed = sum(step >= round(m * total_steps) for m in config.milestones)
    return config.lr * config.gamma**passed


def sgd(params: Iterable[nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """The paper's optimiser, ``fit``'s default: SGD with the config's momentum and weight decay.

    Any factory with this signature can replace it, e.g. ``fit(..., optimizer=lambda params,
    config: torch.optim.AdamW(params, lr=config.lr))``; the schedule then sets the learning
    rate of every parameter group at every step.
    """
    return torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )


@torch.no_grad()
def _evaluation_sums(model, batches, loss_fn, device, autocast, memory_format) -> list[float]:
    loss_sum, wrong, count = 0.0, 0, 0
    with eval_mode(model):
        for images, labels in batches:
            images = images.to(device, non_blocking=True, memory_format=memory_format)
            labels = labels.to(device, non_blocking=True)
            with autocast:
                logits = model(images)
            if loss_fn is None:
                loss_sum += F.cross_entropy(logits.float(), labels, reduction="sum").item()
            else:  # a batch mean, weighted by the batch
                loss_sum += loss_fn(logits, labels).item() * len(labels)
            wrong += int((logits.argmax(1) != labels).sum().item())
            count += labels.numel()
    return [loss_sum, wrong, count]


def evaluate(
    model: nn.Module,
    data: Any,
    *,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    device: str | torch.device | None = None,
    amp: bool = False,
) -> tuple[float, float]:
    """Mean loss and top-1 error (%) of ``model`` on ``data``, in eval mode, without gradients.

    The one evaluation loop of the package (``fit``'s test error, the lesion and landscape
    measurements of chapter 8). The model's train/eval flags are restored afterwards.

    Args:
        model: a classifier returning logits.
        data: ``(inputs, targets)`` tensors, or an iterable of such batches (a DataLoader).
        loss_fn: ``loss_fn(logits, targets) -> batch-mean loss``; ``None``: cross-entropy.
        device: where to run; ``None``: where the model's parameters are.
        amp: float16 autocast (CUDA).

    Returns:
        ``(mean loss per example, error in percent 0-100)``.

    Example:
        >>> loss, error = evaluate(model, data.test)
    """
    check_module("model", model)
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(f"loss_fn must be a function (logits, targets) -> loss, got {loss_fn!r}")
    check_bool("amp", amp)
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    device = torch.device(device)
    autocast = torch.autocast(device.type, dtype=torch.float16, enabled=amp)
    loss_sum, wrong, count = _evaluation_sums(
        model, as_batches(data), loss_fn, device, autocast, torch.preserve_format
    )
    if count == 0:
        raise ValueError("data is empty: evaluate needs at least one example")
    return loss_sum / count, 100.0 * wrong / count


@dataclass(eq=False)
class TrainState:
    """Everything that changes while training, and so everything a checkpoint holds.

    :meth:`state_dict` is the checkpoint; :meth:`load_state_dict` reads it back. ``net`` is
    ``model``, wrapped by DDP under torchrun. Each step's results wait on the device in
    ``pending`` and reach the history in one copy every 25 steps (:func:`_flush`).
    """

    config: TrainConfig
    model: nn.Module
    net: nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: LossFn
    scaler: torch.amp.GradScaler
    device: torch.device
    amp_dtype: torch.dtype | None  # autocast's dtype; None: full precision
    memory_format: torch.memory_format
    world: ddp.World
    local_batch: int
    history: History
    identity: dict[str, Any] = field(default_factory=dict)
    step: int = 0
    warming_up: bool = False
    recent_errors: list[float] = field(default_factory=list)  # last 20 step errors (warm-up)
    epoch_counts: list[int] = field(default_factory=lambda: [0, 0])  # right, seen (global)
    pending: list[Tensor] = field(default_factory=list)  # per step: loss, wrong, bad input, seen

    @property
    def steps_per_epoch(self) -> int:
        return self.history.steps_per_epoch

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.config.epochs

    def autocast(self) -> torch.autocast:
        """Mixed precision inside ``with`` where ``config.amp`` applies; else nothing."""
        dtype = self.amp_dtype or torch.float16
        return torch.autocast(self.device.type, dtype=dtype, enabled=self.amp_dtype is not None)

    def set_learning_rate(self) -> float:
        """Set and return the learning rate of the current step."""
        lr = learning_rate(self.config, self.step, self.total_steps, self.warming_up)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def record(self, images: Tensor, labels: Tensor, logits: Tensor, loss: Tensor, lr: float):
        """Count a finished step (loss, wrong answers, a non-finite input), without a sync."""
        loss, wrong = loss.detach().float(), (logits.argmax(1) != labels).sum()
        bad_input = images.isfinite().all().logical_not()
        seen = torch.full_like(loss, len(labels))
        self.pending.append(torch.stack([loss, wrong.float(), bad_input.float(), seen]))
        self.history.lr.append(lr)
        self.step += 1
        if self.warming_up:
            self.warming_up = _warming_up(self, len(labels) - wrong, len(labels))
        if len(self.pending) >= _LOG_EVERY:
            _flush(self)

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint (:func:`_checkpoint`); collective under torchrun."""
        return _checkpoint(self)

    def load_state_dict(self, saved: dict[str, Any], source: str | Path = "checkpoint") -> None:
        """Continue from ``saved`` (:func:`_restore`)."""
        _restore(self, saved, source)


def _checkpoint(state: TrainState) -> dict[str, Any]:
    """The checkpoint: weights, optimiser, schedule, random states, and what the run is.

    Collective under torchrun (pending steps are summed over the processes).
    """
    _flush(state)
    schedule = {"warming_up": state.warming_up, "recent_errors": list(state.recent_errors)}
    return {
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scaler": state.scaler.state_dict() if state.scaler.is_enabled() else {},
        "schedule": {**schedule, "epoch_counts": list(state.epoch_counts)},
        "step": state.step,
        "epoch": -(-state.step // state.steps_per_epoch),
        "rng": get_rng_state(),
        "config": state.config.to_dict(),
        "identity": dict(state.identity),
        "machine": _machine(state),
        "history": state.history.to_dict(),
    }


def _restore(state: TrainState, saved: dict[str, Any], source: str | Path) -> None:
    """Continue from ``saved``: refuse another experiment's, warn on another machine's
    (:func:`_check_resumable`)."""
    _check_resumable(saved, state, source)
    state.model.load_state_dict(saved["model"])
    state.optimizer.load_state_dict(saved["optimizer"])
    if saved["scaler"] and state.scaler.is_enabled():
        state.scaler.load_state_dict(saved["scaler"])
    state.history, state.step = History.from_dict(saved["history"]), saved["step"]
    schedule = saved["schedule"]
    state.warming_up = schedule["warming_up"]
    state.recent_errors = list(schedule["recent_errors"])
    state.epoch_counts = list(schedule["epoch_counts"])
    set_rng_state(saved["rng"])


def _flush(state: TrainState) -> None:
    """Copy the pending steps to the history (one sync); stop on a NaN or infinite loss.

    Losses are averaged over the processes; wrong answers and batch sizes are summed, so the
    step error is the global batch's.
    """
    if not state.pending:
        return
    rows = state.world.sum(torch.stack(state.pending).T)
    state.pending.clear()
    losses = (rows[0] / state.world.size).tolist()
    wrong, bad_input, seen = ([int(v) for v in row.tolist()] for row in rows[1:])
    state.epoch_counts[0] += sum(seen) - sum(wrong)
    state.epoch_counts[1] += sum(seen)
    first = len(state.history.loss)
    state.history.loss.extend(losses)
    state.history.step_error.extend(100.0 * w / n for w, n in zip(wrong, seen, strict=True))
    for i, loss in enumerate(losses):
        if not math.isfinite(loss):
            what = f"the training loss is {loss} at step {first + i + 1}"
            raise _diverged(state, what, first + i + 1, bad_input[i])


def _end_epoch(state: TrainState, test_loss: float, test_error: float) -> None:
    """Append the finished epoch's averages and test results to the history."""
    _flush(state)
    (correct, seen), state.epoch_counts = state.epoch_counts, [0, 0]
    h, spe = state.history, state.steps_per_epoch
    epoch_losses = h.loss[len(h.epoch) * spe : (len(h.epoch) + 1) * spe]
    h.epoch.append(len(h.epoch) + 1)
    h.train_loss.append(sum(epoch_losses) / len(epoch_losses))
    h.train_error.append(100.0 * (1 - correct / seen))
    h.test_loss.append(test_loss)
    h.test_error.append(test_error)


def _save(state: TrainState, path: Path) -> None:
    """Write the checkpoint (rank 0 only; collective under torchrun); never a diverged one."""
    tensors = state.model.state_dict().values()  # weights and BatchNorm statistics
    if not all(torch.isfinite(t).all() for t in tensors if t.is_floating_point()):
        raise _diverged(state, f"the weights are NaN or infinite after step {state.step}")
    checkpoint = state.state_dict()
    if state.world.rank == 0:
        save_checkpoint(path, checkpoint)


def _warming_up(state: TrainState, right: Tensor, seen: int) -> bool:
    """Whether warm-up goes on: until ``warmup_steps``, or while the mean error of the last 20
    steps is at least ``warmup_until_error`` (one sync per step, during warm-up only)."""
    config = state.config
    if config.warmup_steps and state.step >= config.warmup_steps:
        return False
    if config.warmup_until_error is None:
        return True
    counts = state.world.sum(torch.stack([right.cpu(), torch.tensor(seen)]).float())
    state.recent_errors.append(100.0 * (1 - counts[0].item() / counts[1].item()))
    del state.recent_errors[:-20]
    return sum(state.recent_errors) / len(state.recent_errors) >= config.warmup_until_error


def _diverged(state: TrainState, what: str, step: int = 0, bad_input: int = 0):
    """The error that stops a run whose loss or weights are no longer finite."""
    if bad_input:
        return NonFiniteLossError(
            f"{what}: the input images of that step hold NaN or infinite values, so training "
            "stops. Check the data (e.g. a division by a zero standard deviation); a smaller "
            "learning rate would not help"
        )
    lr = state.history.lr[(step or state.step) - 1]
    return NonFiniteLossError(
        f"{what} (lr {lr:g}): training diverged, so it stops; no checkpoint holds a diverged "
        f"state. Use a smaller learning rate (lr={state.config.lr:g}) or a warm-up"
    )


def _machine(state: TrainState) -> dict[str, Any]:
    """What changes the numbers besides the experiment: device, threads, precision, processes."""
    on_cuda = state.device.type == "cuda"
    return {
        "device": state.device.type,
        "threads": None if on_cuda else torch.get_num_threads(),
        "amp": None if state.amp_dtype is None else str(state.amp_dtype).removeprefix("torch."),
        "channels_last": state.memory_format == torch.channels_last,
        "sync_bn": state.config.sync_bn and on_cuda and state.world.size > 1,
        "processes": state.world.size,
    }


def _differences(saved: Mapping[str, Any], now: Mapping[str, Any], keys: Iterable[str]) -> list:
    return [
        f"{k} is {saved.get(k)!r} in the checkpoint but {now.get(k)!r} now"
        for k in keys
        if saved.get(k) != now.get(k)
    ]


def _check_resumable(saved: dict[str, Any], state: TrainState, source: str | Path) -> None:
    """Refuse a checkpoint of another experiment; warn once if only the machine differs.

    The experiment is the model and the data (``identity``) and the recipe (every config field
    but the machine's and the presentation's). A finished run is only read back, so its
    machine does not matter; a run that continues on another machine continues, but its
    numbers from then on differ slightly from the uninterrupted run's.

    Raises:
        CheckpointError: an entry is missing.
        ValueError: the checkpoint belongs to another run; the message names both values.
    """
    missing = [key for key in _CHECKPOINT_KEYS if key not in saved]
    if missing:
        raise CheckpointError(f"checkpoint {str(source)!r} lacks the entries {missing}")
    excluded = TrainConfig.MACHINE_FIELDS + TrainConfig.PRESENTATION_FIELDS
    recipe = [f.name for f in fields(TrainConfig) if f.name not in excluded]
    differ = _differences(saved["config"], state.config.to_dict(), recipe)
    differ += _differences(
        saved["identity"], state.identity, {**saved["identity"], **state.identity}
    )
    if differ:
        raise ValueError(
            f"cannot resume from {str(source)!r}: {'; '.join(differ)}, so the result would "
            "not be the run it started. Use the same settings, or start a new run elsewhere"
        )
    machine = _machine(state)
    differ = _differences(saved["machine"], machine, {**saved["machine"], **machine})
    if differ and saved["step"] < state.total_steps and state.world.rank == 0:
        warnings.warn(
            f"resuming {str(source)!r} on another machine setting: {'; '.join(differ)}. The run "
            f"continues, but from step {saved['step']} on its numbers differ slightly from an "
            "uninterrupted run's",
            stacklevel=4,
        )


_CHECKPOINT_KEYS = (
    "model",
    "optimizer",
    "scaler",
    "schedule",
    "step",
    "epoch",
    "rng",
    "config",
    "identity",
    "machine",
    "history",
)


def train_one_epoch(
    state: TrainState, batches: Iterable[tuple[Tensor, Tensor]], on_step=None
) -> None:
    """One pass over ``batches``: forward, loss, backward and one optimiser step for each batch.

    Args:
        state: the run (model, optimiser, loss, schedule, history), updated in place.
        batches: the epoch's ``(images, labels)``.
        on_step: called with no argument after every step (progress, callbacks, checkpoints).
    """
    state.net.train()
    for images, labels in batches:
        images = images.to(state.device, non_blocking=True, memory_format=state.memory_format)
        labels = labels.to(state.device, non_blocking=True)
        lr = state.set_learning_rate()
        with state.autocast():
            logits = state.net(images)
            loss = state.loss_fn(logits, labels)
        state.optimizer.zero_grad(set_to_none=True)
        state.scaler.scale(loss).backward()  # scaling is the identity unless float16 amp
        state.scaler.step(state.optimizer)
        state.scaler.update()
        state.record(images, labels, logits, loss, lr)
        if on_step is not None:
            on_step()


def _loader_like(loader: DataLoader, indices: Sequence[int], batch_size: int, seed: int):
    """``loader`` over ``indices`` in that order; its own generator only seeds workers."""
    return DataLoader(
        loader.dataset,
        batch_size=batch_size,
        sampler=indices,
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        drop_last=loader.drop_last,
        worker_init_fn=loader.worker_init_fn,
        generator=torch.Generator().manual_seed(seed),
    )


def _epoch_indices(state: TrainState, dataset, epoch: int) -> list[int]:
    """This process's share of epoch ``epoch``: ``DistributedSampler``'s for the seed."""
    sampler = DistributedSampler(
        dataset, num_replicas=state.world.size, rank=state.world.rank, seed=state.config.seed
    )
    sampler.set_epoch(epoch)
    return list(sampler)


def _epoch_batches(state: TrainState, loader: DataLoader, epoch: int) -> DataLoader:
    """The batches of ``epoch`` (0-based) not yet trained on: a pure function of the seed."""
    if hasattr(loader.dataset, "set_epoch"):
        loader.dataset.set_epoch(epoch)  # the epoch's augmentation
    done = (state.step - epoch * state.steps_per_epoch) * state.local_batch
    indices = _epoch_indices(state, loader.dataset, epoch)[done:]
    return _loader_like(loader, indices, state.local_batch, state.config.seed + epoch)


def _test(state: TrainState, loader: DataLoader) -> tuple[float, float]:
    """:func:`evaluate` on ``loader``, each image counted once across processes."""
    state.world.broadcast_buffers(state.model)  # BN statistics: rank 0's, so all ranks agree
    indices = range(state.world.rank, len(loader.dataset), state.world.size)
    batches = _loader_like(loader, indices, loader.batch_size or 256, 0)
    loss_fn = None if state.loss_fn is F.cross_entropy else state.loss_fn
    sums = _evaluation_sums(
        state.model, batches, loss_fn, state.device, state.autocast(), state.memory_format
    )
    loss_sum, wrong, count = state.world.sum(torch.tensor(sums, dtype=torch.float64)).tolist()
    return loss_sum / count, 100.0 * wrong / count


def _amp_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """Autocast's dtype for ``config`` on ``device``; None (with a warning) where unsupported."""
    if not config.amp:
        return None
    dtype = getattr(torch, config.amp_dtype)
    if device.type == "cuda" and (dtype == torch.float16 or torch.cuda.is_bf16_supported()):
        return dtype
    if device.type == "cpu" and dtype == torch.bfloat16:
        return dtype
    warnings.warn(f"TrainConfig.amp: {config.amp_dtype} is not used on {device}", stacklevel=4)
    return None


def _start(model, train_loader, config, world, identity, optimizer, loss) -> TrainState:
    """Device, seeds, optimiser and an empty history: the state of step 0."""
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    device = pick_device(config.device)
    if device.type == "cuda" and world.size > 1 and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())  # LOCAL_RANK's, see ddp
    for flag in ("channels_last", "sync_bn"):
        if getattr(config, flag) and device.type != "cuda":
            warnings.warn(
                f"TrainConfig.{flag} applies on CUDA only; ignored on {device}", stacklevel=3
            )
    amp_dtype = _amp_dtype(config, device)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    random.seed(config.seed)
    if train_loader.batch_size % world.size:
        raise ValueError(
            f"batch size {train_loader.batch_size} must divide among {world.size} processes"
        )
    local_batch = train_loader.batch_size // world.size
    channels_last = config.channels_last and device.type == "cuda"
    memory_format = torch.channels_last if channels_last else torch.preserve_format
    model.to(device, memory_format=memory_format)
    if config.sync_bn and world.size > 1 and device.type == "cuda":  # needs GPU modules
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    net = model
    if world.size > 1:
        ids = [device.index] if device.type == "cuda" else None
        net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    optimizer = _build_optimizer(optimizer, model, config)
    state = TrainState(
        config=config,
        model=model,
        net=net,
        optimizer=optimizer,
        loss_fn=loss,
        scaler=torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16),
        device=device,
        amp_dtype=amp_dtype,
        memory_format=memory_format,
        world=world,
        local_batch=local_batch,
        history=History(),
        identity={**identity, "optimizer": _name(type(optimizer)), "loss": _name(loss)},
        warming_up=config.warmup,
    )
    indices = _epoch_indices(state, train_loader.dataset, 0)
    state.history.steps_per_epoch = len(_loader_like(train_loader, indices, local_batch, 0))
    if state.steps_per_epoch == 0:
        raise ValueError(f"the training loader has no full batch of {local_batch} (drop_last)")
    return state


def fit(
    model: nn.Module,
    data: Loaders | tuple[DataLoader, DataLoader],
    config: TrainConfig | None = None,
    *,
    optimizer: OptimizerFactory = sgd,
    loss: LossFn = F.cross_entropy,
    checkpoint: str | Path | None = None,
    resume: bool | str | Path = False,
    callbacks: Sequence[Callable[[FitEvent], None]] = (),
    identity: Mapping[str, Any] | None = None,
) -> History:
    """Train ``model`` on ``data`` with ``config``; return the :class:`History`.

    Args:
        model: e.g. ``resnet_edu.resnet20(num_classes=data.num_classes)``; trained in place.
        data: :class:`resnet_edu.data.Loaders`, or a ``(train, test)`` pair of DataLoaders. The
            training loader's dataset, batch size, workers and collate function are used; the
            order is ``fit``'s own (seeded by ``config.seed`` and the epoch). Labels must be
            class indices (integers in ``[0, classes)``); they are checked before step 1 (all
            of them if the dataset holds them in one tensor, else the first batch's).
        config: the recipe; ``TrainConfig()`` (the paper's) if ``None``.
        optimizer: a factory ``(parameters, config) -> torch.optim.Optimizer``; :func:`sgd`,
            the paper's, by default. The schedule sets every group's learning rate each step.
        loss: ``loss(logits, labels) -> batch-mean loss``; cross-entropy by default. Also the
            test loss.
        checkpoint: file to write checkpoints to (every ``config.checkpoint_every`` steps, at
            each epoch end, and at the end); ``None`` writes none. While ``fit`` runs, no other
            process can use it (:func:`resnet_edu.checkpoint.run_lock`), and its folder must be
            writable (checked before step 1).
        resume: ``False`` starts afresh; ``True`` continues from ``checkpoint`` if that file
            exists (else starts afresh); a path continues from that file (which must exist).
            The experiment must be the checkpoint's (model, data, recipe; else a ValueError);
            another machine setting (threads, device, precision) only warns. On the same
            machine the result equals the uninterrupted run's. A finished run is only read back.
        callbacks: functions called with a :class:`FitEvent` after each step, checkpoint and
            epoch, on every process.
        identity: what the checkpoint must also match, as plain values, e.g. ``{"model":
            "plain20", "data": "digits"}`` (a plain net and its ResNet twin with shortcut A have
            the same parameters, so only a name tells them apart). The model's class, the
            data's sizes, the optimiser and the loss are recorded and compared anyway.

    Returns:
        The history, also stored in the checkpoint. Under ``torchrun`` every process returns
        the same history; only rank 0 writes files and shows progress.

    Raises:
        resnet_edu.checkpoint.CheckpointError: the checkpoint to resume from is unreadable.
        ValueError, TypeError: bad arguments or labels, or resuming another run (all before
            the first step).
        NonFiniteLossError: the loss became NaN or infinite (training diverged, or the input
            did).

    Example:
        >>> data = digits()
        >>> model = resnet20(num_classes=10)
        >>> history = fit(model, data, TrainConfig(epochs=3), checkpoint="run/ckpt.pt")
    """
    config = TrainConfig() if config is None else config
    train_loader, test_loader = _check_fit(model, data, config, optimizer, loss, callbacks)
    identity = {**_describe(model, data, train_loader, test_loader), **_check_identity(identity)}
    checkpoint, resume = _check_paths(checkpoint, resume)
    with ddp.process_group() as world, _owned(checkpoint, world):
        state = _start(model, train_loader, config, world, identity, optimizer, loss)
        _check_labels(state, train_loader)
        if resume:
            state.load_state_dict(load_checkpoint(resume), resume)

        def notify(kind: str, epoch: int) -> None:
            for callback in callbacks:
                callback(FitEvent(kind, state.step, epoch, state.model, state.history))

        def save(epoch: int) -> None:
            if checkpoint is not None:
                _save(state, checkpoint)
                notify("checkpoint", epoch)

        bar = _progress_bar(state)
        for epoch in range(state.step // state.steps_per_epoch, config.epochs):
            bar.set_description(f"epoch {epoch + 1}/{config.epochs}")

            def on_step(epoch: int = epoch) -> None:
                bar.update()
                notify("step", epoch + 1)
                every = config.checkpoint_every
                if every and state.step % every == 0 and state.step % state.steps_per_epoch:
                    save(epoch + 1)  # an epoch's end is saved below, after its evaluation

            train_one_epoch(state, _epoch_batches(state, train_loader, epoch), on_step)
            _end_epoch(state, *_test(state, test_loader))
            _report(bar, state)
            save(epoch + 1)
            notify("epoch", epoch + 1)
        bar.close()
        return state.history


def _progress_bar(state: TrainState):
    if state.config.progress:
        from tqdm.auto import tqdm
    else:  # the bar is disabled; tqdm.auto would still warn where ipywidgets is missing
        from tqdm import tqdm
    return tqdm(
        total=state.total_steps,
        initial=state.step,
        disable=not state.config.progress or state.world.rank != 0,
        unit="step",
        dynamic_ncols=True,
    )


def _report(bar, state: TrainState) -> None:
    h = state.history
    if h.loss:
        bar.set_postfix(loss=f"{h.loss[-1]:.3f}", lr=f"{h.lr[-1]:g}", refresh=False)
    if state.config.progress and state.world.rank == 0:
        bar.write(
            f"epoch {h.epoch[-1]}/{state.config.epochs}: train loss {h.train_loss[-1]:.4f}, "
            f"train error {h.train_error[-1]:.2f}%, test error {h.test_error[-1]:.2f}%, "
            f"lr {h.lr[-1]:g}"
        )


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


def _check_fit(model, data, config, optimizer, loss, callbacks) -> tuple[DataLoader, DataLoader]:
    """Every argument of :func:`fit` that can be wrong, checked before anything runs."""
    check_module("model", model)
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    for name, value, accepted in (
        ("optimizer", optimizer, "(parameters, config) -> torch.optim.Optimizer"),
        ("loss", loss, "(logits, labels) -> loss"),
    ):
        if isinstance(value, torch.optim.Optimizer):  # built already: fit builds its own
            raise TypeError(
                f"{name} must be a function {accepted}, got a {type(value).__name__} object; "
                f"pass e.g. lambda params, config: torch.optim.{type(value).__name__}(params, ...)"
            )
        if not callable(value):
            raise TypeError(f"{name} must be a function {accepted}, got {value!r}")
    train_loader, test_loader = _unpack(data)
    if train_loader.batch_size is None:
        raise ValueError("the training DataLoader needs a batch_size (no custom batch_sampler)")
    for name, loader in (("training", train_loader), ("test", test_loader)):
        if len(loader.dataset) == 0 or len(loader) == 0:
            raise ValueError(f"the {name} loader is empty: fit needs at least one batch")
    if isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, Iterable):
        raise TypeError(f"callbacks must be a list of functions, got {type(callbacks).__name__}")
    for i, callback in enumerate(callbacks):
        if not callable(callback):
            raise TypeError(f"callbacks[{i}] must be a function of a FitEvent, got {callback!r}")
    return train_loader, test_loader


def _build_optimizer(factory: OptimizerFactory, model: nn.Module, config: TrainConfig):
    optimizer = factory(model.parameters(), config)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            "optimizer must be a function (parameters, config) -> torch.optim.Optimizer; it "
            f"returned {type(optimizer).__name__}"
        )
    return optimizer


@torch.no_grad()
def _check_labels(state: TrainState, loader: DataLoader) -> None:
    """Labels are class indices of the model: integers in ``[0, classes)``, before step 1.

    Without this, torch says "Target 4 is out of bounds" from inside the loss.
    """
    dataset = loader.dataset
    images, labels = next(iter(DataLoader(dataset, batch_size=2, collate_fn=loader.collate_fn)))
    if isinstance(getattr(dataset, "labels", None), Tensor):  # resnet_edu.data.ImageTensors
        labels = dataset.labels
    elif isinstance(dataset, TensorDataset):
        labels = dataset.tensors[-1]
    if not isinstance(labels, Tensor) or labels.is_floating_point() or labels.dtype == torch.bool:
        what = labels.dtype if isinstance(labels, Tensor) else type(labels).__name__
        raise TypeError(
            f"labels must be integer class indices (torch.long), got {what}; convert them with "
            "labels.long()"
        )
    with eval_mode(state.model), state.autocast():
        logits = state.model(images[:1].to(state.device, memory_format=state.memory_format))
    if logits.dim() != 2:
        raise ValueError(f"model must return logits (N, classes), got shape {tuple(logits.shape)}")
    classes = logits.shape[1]
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= classes:
        raise ValueError(
            f"labels must be class indices in [0, {classes}) for this model ({classes} "
            f"outputs), got labels from {low} to {high}; build the model with "
            f"num_classes={high + 1}, or fix the labels"
        )


def _check_identity(identity: Any) -> dict[str, Any]:
    if identity is None:
        return {}
    if not isinstance(identity, Mapping):
        raise TypeError(f"identity must be a dict of plain values, got {type(identity).__name__}")
    for key, value in identity.items():
        if not isinstance(key, str) or not isinstance(value, (str, int, float, bool, type(None))):
            raise TypeError(
                "identity must map names (str) to plain values (str, int, float, bool, None), "
                f"got {key!r}: {type(value).__name__}"
            )
    return dict(identity)


def _name(thing: Any) -> str:
    return f"{getattr(thing, '__module__', '?')}.{getattr(thing, '__qualname__', repr(thing))}"


def _describe(model, data, train_loader, test_loader) -> dict[str, Any]:
    """What a checkpoint of this model and data must match (besides ``identity``)."""
    described: dict[str, Any] = {"model_class": _name(type(model))}
    if isinstance(getattr(model, "residual", None), bool):
        described["residual"] = model.residual
    described.update(
        train_images=len(train_loader.dataset),
        test_images=len(test_loader.dataset),
        batch_size=train_loader.batch_size,
    )
    if isinstance(data, Loaders):
        described.update(
            num_classes=data.num_classes, in_channels=data.in_channels, image_size=data.image_size
        )
    return described


def _check_paths(checkpoint, resume) -> tuple[Path | None, Path | None]:
    """The checkpoint file (its folder created) and the file to resume from, or ``None``."""
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        if checkpoint.is_dir():
            raise ValueError(f"checkpoint must be a file name, got the folder {str(checkpoint)!r}")
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
    if resume is True:
        if checkpoint is None:
            raise ValueError("resume=True needs checkpoint=<path> (or pass the path as resume=)")
        return checkpoint, checkpoint if checkpoint.is_file() else None
    if resume is False or resume is None:
        return checkpoint, None
    if not isinstance(resume, (str, Path)):
        raise TypeError(f"resume must be True, False or a path, got {type(resume).__name__}")
    if not Path(resume).is_file():
        raise FileNotFoundError(f"resume: no checkpoint at {str(resume)!r}")
    return checkpoint, Path(resume)


class _owned:
    """Rank 0 holds the checkpoint's lock, and cleans what a killed write left, while fitting."""

    def __init__(self, checkpoint: Path | None, world: ddp.World) -> None:
        self.lock = run_lock(checkpoint) if checkpoint is not None and world.rank == 0 else None
        self.checkpoint = checkpoint

    def __enter__(self) -> None:
        if self.lock is not None:
            self.lock.__enter__()
            remove_stale_temps(self.checkpoint)

    def __exit__(self, *exc) -> None:
        if self.lock is not None:
            self.lock.__exit__(*exc)


if __name__ == "__main__":  # python -m resnet_edu.train: the command line, which imports us
    import runpy

    runpy.run_module("resnet_edu.cli", run_name="__main__", alter_sys=True)
