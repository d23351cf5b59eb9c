"""Command line of the training engine: ``python -m resnet_edu.train`` (chapter 4).

Examples::

    python -m resnet_edu.train --model resnet56 --data digits --epochs 5 --out runs/r56
    python -m resnet_edu.train --model resnet56 --data digits --epochs 5 --out runs/r56 --resume
    python -m resnet_edu.train --model resnet110 --data cifar10 --data-root data --download \\
        --epochs 182 --warmup-until-error 80 --amp --channels-last --out runs/r110
    torchrun --nproc_per_node=2 -m resnet_edu.train --model resnet20 --data digits --out runs/ddp

Writes into ``--out``: ``checkpoint.pt`` (resumable), ``history.json`` (all of
:class:`resnet_edu.train.History`), ``history.csv`` (one row per epoch) and ``args.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from . import cifar

__all__ = ["MODELS", "build_parser", "main"]

#: The CIFAR builders the command line accepts, e.g. ``resnet56`` and ``plain56``.
MODELS = tuple(
    sorted(
        (name for name in dir(cifar) if re.fullmatch(r"(resnet|plain)\d+", name)),
        key=lambda n: (n.startswith("plain"), int(re.sub(r"\D", "", n))),
    )
)


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in (0, 1), got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; every flag is documented in ``--help``."""
    p = argparse.ArgumentParser(
        prog="python -m resnet_edu.train",
        description="Train one of the paper's CIFAR networks (ResNet or plain twin) with the "
        "paper's recipe; resumable, and distributed under torchrun.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    g = p.add_argument_group("model and data")
    g.add_argument(
        "--model",
        required=True,
        choices=MODELS,
        metavar="NAME",
        help=f"network to train, one of: {', '.join(MODELS)}",
    )
    g.add_argument(
        "--shortcut",
        choices=("A", "B", "C"),
        default="A",
        help="shortcut option of the paper (A: zero-padding identity)",
    )
    g.add_argument(
        "--data",
        choices=("digits", "cifar10", "synthetic"),
        default="digits",
        help="digits: offline 8x8 digits; cifar10: torchvision CIFAR-10; "
        "synthetic: random CIFAR-shaped images (speed tests)",
    )
    g.add_argument("--data-root", default="data", help="folder of CIFAR-10 (cifar10 only)")
    g.add_argument(
        "--download",
        action="store_true",
        help="download CIFAR-10 into --data-root if missing (needs internet)",
    )
    g.add_argument(
        "--digits-size",
        type=_positive_int,
        default=8,
        help="side of the digits images (8 = original, 32 = CIFAR's size)",
    )
    g.add_argument(
        "--no-augment",
        action="store_true",
        help="train CIFAR-10 without pad-crop-flip augmentation",
    )
    g.add_argument(
        "--batch-size",
        type=_positive_int,
        default=128,
        help="global batch size (split across torchrun processes)",
    )
    g.add_argument(
        "--workers", type=_non_negative_int, default=0, help="DataLoader worker processes"
    )

    t = p.add_argument_group("recipe (defaults: the paper, section 4.2)")
    t.add_argument("--epochs", type=_positive_int, default=10, help="passes over the data")
    t.add_argument("--lr", type=_positive_float, default=0.1, help="base learning rate")
    t.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    t.add_argument("--weight-decay", type=float, default=1e-4, help="SGD weight decay")
    t.add_argument(
        "--milestones",
        type=_fraction,
        nargs="*",
        default=[0.5, 0.75],
        help="fractions of training at which the lr is multiplied by --gamma",
    )
    t.add_argument("--gamma", type=_positive_float, default=0.1, help="lr factor per milestone")
    t.add_argument(
        "--warmup-steps",
        type=_non_negative_int,
        default=0,
        help="warm up at --warmup-lr for at most this many steps (0: no limit)",
    )
    t.add_argument("--warmup-lr", type=_positive_float, default=0.01, help="warm-up lr")
    t.add_argument(
        "--warmup-until-error",
        type=_positive_float,
        default=None,
        help="end warm-up once the training error (%%) is below this (paper: 80 for ResNet-110)",
    )
    t.add_argument(
        "--seed",
        type=_non_negative_int,
        default=0,
        help="seed of initialisation, data split and order",
    )

    r = p.add_argument_group("running")
    r.add_argument(
        "--out",
        required=True,
        type=Path,
        help="output folder: checkpoint.pt, history.json, history.csv, args.json",
    )
    r.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/checkpoint.pt (starts afresh if there is none)",
    )
    r.add_argument(
        "--checkpoint-every",
        type=_non_negative_int,
        default=0,
        help="also checkpoint every N steps (0: at epoch ends only)",
    )
    r.add_argument(
        "--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1, mps"
    )
    r.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help="CPU threads for PyTorch (default: PyTorch's choice)",
    )
    r.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    r.add_argument(
        "--channels-last", action="store_true", help="channels_last memory format (CUDA only)"
    )
    r.add_argument(
        "--sync-bn",
        action="store_true",
        help="under torchrun: BatchNorm statistics over the global batch",
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _data(args: argparse.Namespace):
    from . import data

    if args.data == "digits":
        return data.digits(
            batch_size=args.batch_size,
            seed=args.seed,
            size=args.digits_size,
            num_workers=args.workers,
        )
    if args.data == "cifar10":
        return data.cifar10(
            args.data_root,
            download=args.download,
            augment=not args.no_augment,
            batch_size=args.batch_size,
            seed=args.seed,
            num_workers=args.workers,
        )
    return data.synthetic(
        batch_size=args.batch_size,
        seed=args.seed,
        augment=not args.no_augment,
        num_workers=args.workers,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, train, write the outputs; returns the exit status.

    Example:
        >>> main(["--model", "resnet20", "--epochs", "1", "--out", "runs/r20"])
        0
    """
    import torch

    from .data import DatasetUnavailableError
    from .train import TrainConfig, fit

    parser = build_parser()
    args = parser.parse_args(argv)
    checkpoint = args.out / "checkpoint.pt"
    rank = int(os.environ.get("RANK", "0"))
    if checkpoint.exists() and not args.resume:
        parser.error(f"{checkpoint} exists: pass --resume to continue it, or choose another --out")
    try:
        config = TrainConfig(
            epochs=args.epochs,
            lr=args.lr,
            momentum=args.momentum,
            weight_decay=args.weight_decay,
            milestones=tuple(args.milestones),
            gamma=args.gamma,
            warmup_lr=args.warmup_lr,
            warmup_steps=args.warmup_steps,
            warmup_until_error=args.warmup_until_error,
            seed=args.seed,
            threads=args.threads,
            device=args.device,
            amp=args.amp,
            channels_last=args.channels_last,
            sync_bn=args.sync_bn,
            checkpoint_every=args.checkpoint_every,
            progress=not args.no_progress,
        )
    except (TypeError, ValueError) as error:
        parser.error(str(error))
    try:
        data = _data(args)
    except DatasetUnavailableError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    torch.manual_seed(args.seed)  # the initial weights
    model = getattr(cifar, args.model)(
        num_classes=data.num_classes, in_channels=data.in_channels, shortcut=args.shortcut
    )
    if rank == 0:
        args.out.mkdir(parents=True, exist_ok=True)
        from .checkpoint import atomic_write_bytes

        text = json.dumps(
            {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, indent=1
        ).encode()
        atomic_write_bytes(args.out / "args.json", lambda f: f.write(text))
        print(
            f"training {args.model} on {args.data} for {args.epochs} epochs into {args.out}",
            flush=True,
        )

    def report(event) -> None:  # without the bar, still one line per epoch (logs, CI)
        if event.kind == "epoch" and rank == 0:
            h = event.history
            print(
                f"epoch {h.epoch[-1]}/{args.epochs}: train loss {h.train_loss[-1]:.4f}, "
                f"train error {h.train_error[-1]:.2f}%, test error {h.test_error[-1]:.2f}%",
                flush=True,
            )

    callbacks = [report] if args.no_progress else []
    history = fit(
        model, data, config, checkpoint=checkpoint, resume=args.resume, callbacks=callbacks
    )
    if rank == 0:
        history.save(args.out / "history.json")
        history.save_csv(args.out / "history.csv")
        print(
            f"done: train error {history.train_error[-1]:.2f}%, "
            f"test error {history.test_error[-1]:.2f}%; wrote {args.out}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
