"""The paper's CIFAR-10 experiment as one function: plain nets and ResNets side by side.

Chapter 7 runs it; chapter 1 takes its recipe (:func:`paper_config`) for the degradation run.

Section 4.2 of the paper trains, at each depth 6n+2, a plain net and the ResNet with the same
layers, all with one recipe, and reports the ResNets' test errors in Table 6 and the training
and test error curves of both in Figure 6. :func:`run_table6` is that loop. It writes one
resumable checkpoint per network, so a notebook cell that calls it can simply be run again
after Colab drops the session: finished networks return from their checkpoints at once, and the
interrupted one continues where its last checkpoint left it (see :func:`resnet_edu.train.fit`).

:func:`paper_config` turns the paper's recipe, stated in iterations ("a mini-batch size of 128
[...] start with a learning rate of 0.1, divide it by 10 at 32k and 48k iterations, and
terminate training at 64k iterations"), into a :class:`~resnet_edu.train.TrainConfig`, which
counts in epochs. :func:`table6_rows` collects the final errors next to the paper's Table 6.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import paper
from ._checks import check_bool, check_choice, check_int, check_module
from .checkpoint import atomic_write_bytes
from .cifar import CifarResNet
from .data import Loaders
from .measure import mult_adds
from .train import FitEvent, History, TrainConfig, fit

__all__ = [
    "PAPER_BATCH_SIZE",
    "PAPER_ITERATIONS",
    "PAPER_TABLE6",
    "estimated_gpu_hours",
    "model_name",
    "paper_config",
    "run_table6",
    "table6_rows",
]

#: The paper's schedule (section 4.2), from :data:`resnet_edu.paper.CIFAR`: batch 128, stop at
#: 64k iterations (the milestones, 32k and 48k, are ``paper.CIFAR.milestones``).
PAPER_BATCH_SIZE = paper.CIFAR.batch_size
PAPER_ITERATIONS = paper.CIFAR.iterations

#: Test error (%) of the paper's CIFAR-10 ResNets, Table 6 (:data:`resnet_edu.paper.TABLE6_ERROR`;
#: ResNet-110: best of 5 runs). Plain nets have no row in Table 6: their curves are in Figure 6.
PAPER_TABLE6 = paper.TABLE6_ERROR

#: A guard we add: warm-up ends after this many steps even if the error is still above 80%.
WARMUP_MAX_STEPS = 4_000

#: The GPU-time model of chapters 7 and 8 (an estimate, not a measurement): a T4's float16
#: tensor-core peak (NVIDIA's datasheet), and the fraction of it we assume 16-64-channel convs
#: reach.
T4_PEAK_FLOPS = 65e12
ASSUMED_UTILISATION = 0.08

ConfigLike = TrainConfig | Callable[[int], TrainConfig]


def model_name(depth: int, residual: bool) -> str:
    """The name of a network of :func:`run_table6`: ``"resnet56"`` or ``"plain56"``.

    Example:
        >>> model_name(56, residual=False)
        'plain56'
    """
    check_int("depth", depth, minimum=1)
    check_bool("residual", residual)
    return f"{'resnet' if residual else 'plain'}{depth}"


def paper_config(
    depth: int,
    *,
    steps_per_epoch: int = math.ceil(45_000 / PAPER_BATCH_SIZE),
    **overrides: Any,
) -> TrainConfig:
    """The paper's CIFAR-10 recipe for a ``depth``-layer net, in epochs of ``steps_per_epoch``.

    64k iterations become ``round(64000 / steps_per_epoch)`` epochs (182 for the paper's 45k
    training images in batches of 128: 352 steps each, 64,064 steps in all); the divisions at 32k
    and 48k become the milestones 1/2 and 3/4. From 110 layers on, training warms up at lr 0.01
    until the training error is below 80%, as the paper does for ResNet-110 (we use the same
    recipe for the plain twin, so that the pair differs only in its shortcuts).

    Args:
        depth: layers of the network (6n + 2).
        steps_per_epoch: ``len(data.train)``, the optimiser steps in one epoch.
        **overrides: any other :class:`~resnet_edu.train.TrainConfig` field, e.g.
            ``amp=True, channels_last=True`` on a GPU, or ``epochs=2`` for a smoke test.

    Returns:
        A frozen :class:`~resnet_edu.train.TrainConfig`.

    Example:
        >>> paper_config(110).epochs, paper_config(110).warmup_until_error
        (182, 80.0)
    """
    check_int("depth", depth, minimum=8)
    check_int("steps_per_epoch", steps_per_epoch, minimum=1)
    recipe = paper.CIFAR
    fields: dict[str, Any] = {
        "epochs": max(1, round(recipe.iterations / steps_per_epoch)),
        "lr": recipe.lr,
        "momentum": recipe.momentum,
        "weight_decay": recipe.weight_decay,
        "milestones": tuple(m / recipe.iterations for m in recipe.milestones),  # (0.5, 0.75)
        "gamma": recipe.lr_factor,
    }
    if depth >= recipe.warmup_from_depth:
        fields.update(
            warmup_lr=recipe.warmup_lr,
            warmup_until_error=recipe.warmup_until_train_error,
            warmup_steps=WARMUP_MAX_STEPS,
        )
    fields.update(overrides)
    return TrainConfig(**fields)


def estimated_gpu_hours(
    model: nn.Module,
    images: int,
    *,
    input_size: Sequence[int] = (1, 3, 32, 32),
    peak_flops: float = T4_PEAK_FLOPS,
    utilisation: float = ASSUMED_UTILISATION,
) -> float:
    """An estimate of the hours to train ``model`` on ``images`` images (not a measurement).

    Training costs about three forward passes (forward, and a backward twice as costly), and a
    multiply-add is two FLOP: ``3 x 2 x mult_adds x images / (peak_flops x utilisation)``.

    Args:
        model: the network (its mult-adds are counted on one ``input_size`` image).
        images: images seen in training, e.g. 64k steps x 128 = 8,192,000.
        input_size: one image's shape, ``(1, C, H, W)``.
        peak_flops: the GPU's peak FLOP/s; the T4's float16 tensor cores by default.
        utilisation: the assumed fraction of the peak reached.

    Example:
        >>> round(estimated_gpu_hours(resnet_edu.resnet20(), 64_000 * 128), 2)
        0.11
    """
    check_module("model", model)
    check_int("images", images, minimum=1)
    for name, value, high in (
        ("peak_flops", peak_flops, math.inf),
        ("utilisation", utilisation, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= high:
            bound = "in (0, 1]" if high == 1 else "> 0"
            raise ValueError(f"{name} must be a number {bound}, got {value!r}")
    flop = 3 * 2 * mult_adds(model, input_size) * images
    return flop / (peak_flops * utilisation) / 3600


def run_table6(
    depths: Sequence[int],
    data: Loaders,
    config: ConfigLike,
    checkpoint_dir: str | Path | None = None,
    *,
    residual: Sequence[bool] = (False, True),
    shortcut: str = "A",
    callbacks: Sequence[Callable[[FitEvent], None]] = (),
) -> dict[str, History]:
    """Train a plain net and a ResNet at each depth with one recipe; return their histories.

    Each network starts from ``torch.manual_seed(config.seed)``, so the plain net and the ResNet
    of one depth start from the same random draws (their layers have the same shapes). With a
    ``checkpoint_dir``, network ``name`` checkpoints to ``<dir>/<name>.pt`` (at every epoch end,
    and every ``config.checkpoint_every`` steps) and writes ``<dir>/<name>.json`` (its history)
    when done; calling again with the same arguments resumes: finished networks are read back
    from their checkpoints without training, an interrupted one continues exactly.

    Args:
        depths: e.g. ``(20, 32, 44, 56, 110)``; each must be 6n + 2.
        data: loaders from :func:`resnet_edu.data.cifar10`, ``digits`` or ``synthetic``.
        config: a :class:`~resnet_edu.train.TrainConfig` for all, or a function of the depth
            (e.g. ``lambda d: paper_config(d, steps_per_epoch=len(data.train))``).
        checkpoint_dir: folder for checkpoints and histories (e.g. on Google Drive); ``None``
            keeps nothing.
        residual: which twins to train, ``False`` = plain, ``True`` = ResNet.
        shortcut: the ResNets' shortcut option, ``"A"`` as in the paper's CIFAR experiments.
        callbacks: passed to :func:`~resnet_edu.train.fit` for every network.

    Returns:
        ``{"plain20": History, "resnet20": History, ...}`` in training order.

    Example:
        >>> data = resnet_edu.data.digits()
        >>> histories = run_table6([20, 56], data, TrainConfig(epochs=3, progress=False))
        >>> histories["plain56"].train_error[-1] > histories["plain20"].train_error[-1]
        True
    """
    configs = _check_table6_arguments(depths, data, config, residual, shortcut)
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    histories: dict[str, History] = {}
    for depth, cfg in configs.items():
        for res in residual:
            name = model_name(depth, res)
            torch.manual_seed(cfg.seed)  # the initial weights; fit seeds the rest
            model = CifarResNet(
                depth,
                residual=res,
                num_classes=data.num_classes,
                in_channels=data.in_channels,
                shortcut=shortcut,
            )
            checkpoint = folder / f"{name}.pt" if folder is not None else None
            if cfg.progress:
                print(f"{name}: {cfg.epochs} epochs", flush=True)
            history = fit(
                model,
                data,
                cfg,
                checkpoint=checkpoint,
                resume=checkpoint is not None,
                callbacks=callbacks,
                identity={"model": name, "shortcut": shortcut},
            )
            if folder is not None:
                text = json.dumps({"name": name, "history": history.to_dict()}).encode()
                atomic_write_bytes(folder / f"{name}.json", lambda f, t=text: f.write(t))
            histories[name] = history
    return histories


def _check_table6_arguments(depths, data, config, residual, shortcut) -> dict[int, TrainConfig]:
    """``{depth: its TrainConfig}``, once every argument of run_table6 is checked."""
    depths = list(depths)
    if not depths:
        raise ValueError("depths must name at least one depth, e.g. (20, 56)")
    for i, depth in enumerate(depths):
        check_int(f"depths[{i}]", depth, minimum=8)
        if (depth - 2) % 6:
            raise ValueError(f"depths must be 6n+2 (20, 32, 44, 56, 110, ...), got {depth}")
    if not residual or any(not isinstance(r, bool) for r in residual):
        raise TypeError(f"residual must be a non-empty sequence of bools, got {residual!r}")
    check_choice("shortcut", shortcut, ("A", "B", "C"))
    if not isinstance(data, Loaders):
        raise TypeError(
            "data must be a resnet_edu.data.Loaders (cifar10(), digits(), synthetic()), "
            f"got {type(data).__name__}"
        )
    if not (isinstance(config, TrainConfig) or callable(config)):
        raise TypeError(
            f"config must be a TrainConfig or a function depth -> TrainConfig, got {config!r}"
        )
    configs = {d: config if isinstance(config, TrainConfig) else config(d) for d in depths}
    for depth, cfg in configs.items():
        if not isinstance(cfg, TrainConfig):
            raise TypeError(f"config({depth}) must return a TrainConfig, got {cfg!r}")
    return configs


def table6_rows(
    histories: dict[str, History], paper: dict[int, float] | None = None
) -> list[dict[str, float | int | None]]:
    """Final errors per depth, plain and residual, next to the paper's Table 6.

    Args:
        histories: the result of :func:`run_table6`.
        paper: test errors by depth; :data:`PAPER_TABLE6` by default.

    Returns:
        One dict per depth, in increasing depth: ``depth``, ``plain_train``, ``plain_test``,
        ``resnet_train``, ``resnet_test`` (final-epoch errors in %, ``None`` where a twin was not
        trained) and ``paper_resnet_test`` (``None`` where the paper has no row).

    Example:
        >>> rows = table6_rows(histories)
        >>> rows[0]["depth"], rows[0]["paper_resnet_test"]
        (20, 8.75)
    """
    paper = PAPER_TABLE6 if paper is None else paper
    if not isinstance(histories, dict) or not all(
        isinstance(k, str) and re.fullmatch(r"(plain|resnet)\d+", k) and isinstance(v, History)
        for k, v in histories.items()
    ):
        raise TypeError(
            "histories must be run_table6's result, a dict {'plain20': History, 'resnet20': "
            f"History, ...}}, got {type(histories).__name__}"
        )
    if not isinstance(paper, dict):
        raise TypeError(f"paper must be a dict {{depth: test error %}}, got {type(paper).__name__}")
    depths = sorted({int(name.removeprefix("plain").removeprefix("resnet")) for name in histories})
    rows = []
    for depth in depths:
        row: dict[str, float | int | None] = {"depth": depth}
        for kind in ("plain", "resnet"):
            history = histories.get(f"{kind}{depth}")
            row[f"{kind}_train"] = history.train_error[-1] if history else None
            row[f"{kind}_test"] = history.test_error[-1] if history else None
        row["paper_resnet_test"] = paper.get(depth)
        rows.append(row)
    return rows
