"""The paper's CIFAR-10 experiment as one function: plain nets and ResNets side by side (chapter 7).

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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ._checks import check_choice, check_int
from .checkpoint import atomic_write_bytes
from .cifar import CifarResNet
from .data import Loaders
from .train import FitEvent, History, TrainConfig, fit

__all__ = [
    "PAPER_BATCH_SIZE",
    "PAPER_ITERATIONS",
    "PAPER_TABLE6",
    "model_name",
    "paper_config",
    "run_table6",
    "table6_rows",
]

#: The paper's schedule (section 4.2): batch 128, lr / 10 at 32k and 48k, stop at 64k iterations.
PAPER_BATCH_SIZE = 128
PAPER_ITERATIONS = 64_000
PAPER_MILESTONES = (32_000, 48_000)

#: Test error (%) of the paper's CIFAR-10 ResNets, Table 6 (ResNet-110: best of 5 runs; the
#: paper also gives its mean and std, 6.61 +- 0.16). Plain nets have no row in Table 6: their
#: curves are in Figure 6 only.
PAPER_TABLE6 = {20: 8.75, 32: 7.51, 44: 7.17, 56: 6.97, 110: 6.43, 1202: 7.93}

#: "In this case [110 layers], we find that the initial learning rate of 0.1 is slightly too
#: large to start converging. So we use 0.01 to warm up the training until the training error is
#: below 80% (about 400 iterations), and then go back to 0.1."
WARMUP_FROM_DEPTH = 110
#: A guard we add: warm-up ends after this many steps even if the error is still above 80%.
WARMUP_MAX_STEPS = 4_000

ConfigLike = TrainConfig | Callable[[int], TrainConfig]


def model_name(depth: int, residual: bool) -> str:
    """The name of a network of :func:`run_table6`: ``"resnet56"`` or ``"plain56"``.

    Example:
        >>> model_name(56, residual=False)
        'plain56'
    """
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
    fractions = tuple(m / PAPER_ITERATIONS for m in PAPER_MILESTONES)  # (0.5, 0.75)
    fields: dict[str, Any] = {
        "epochs": max(1, round(PAPER_ITERATIONS / steps_per_epoch)),
        "lr": 0.1,
        "momentum": 0.9,
        "weight_decay": 1e-4,
        "milestones": fractions,
        "gamma": 0.1,
    }
    if depth >= WARMUP_FROM_DEPTH:
        fields.update(warmup_lr=0.01, warmup_until_error=80.0, warmup_steps=WARMUP_MAX_STEPS)
    fields.update(overrides)
    return TrainConfig(**fields)


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
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)

    histories: dict[str, History] = {}
    for depth in depths:
        cfg = config if isinstance(config, TrainConfig) else config(depth)
        if not isinstance(cfg, TrainConfig):
            raise TypeError(f"config({depth}) must return a TrainConfig, got {cfg!r}")
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
            )
            if folder is not None:
                text = json.dumps({"name": name, "history": history.to_dict()}).encode()
                atomic_write_bytes(folder / f"{name}.json", lambda f, t=text: f.write(t))
            histories[name] = history
    return histories


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
