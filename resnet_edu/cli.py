"""Command line of the training engine: ``python -m resnet_edu.train`` (chapter 7, appendix).

Examples::

    python -m resnet_edu.train --model resnet56 --data digits --epochs 5 --out runs/r56
    python -m resnet_edu.train --model resnet56 --data digits --epochs 5 --out runs/r56 --resume
    python -m resnet_edu.train --model resnet110 --data cifar10 --data-root data --download \\
        --epochs 182 --warmup-until-error 80 --amp --channels-last --out runs/r110
    torchrun --nproc_per_node=2 -m resnet_edu.train --model resnet20 --data digits --out runs/ddp

The recipe's flags are generated from :class:`resnet_edu.train.TrainConfig`: one flag per
field, its type the field's annotation, its default the field's, its help the field's
``metadata["help"]``, and its checks ``TrainConfig``'s own. So the paper's recipe is written
down once.

Writes into ``--out``: ``checkpoint.pt`` (resumable), ``history.json`` (all of
:class:`resnet_edu.train.History`), ``history.csv`` (one row per epoch) and ``args.json`` (the
flags of the run that made the checkpoint; a resume that is refused leaves it alone). Errors
are one ``error: ...`` line on stderr and exit status 2; warnings (e.g. a run resumed with
other machine settings) one ``warning: ...`` line.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import fields
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import torch

from . import cifar, data
from .checkpoint import CheckpointError, atomic_write_bytes, run_lock
from .ddp import launched_rank
from .train import FitEvent, TrainConfig, fit

__all__ = ["MODELS", "build_parser", "main"]

#: The CIFAR builders the command line accepts, e.g. ``resnet56`` and ``plain56``.
MODELS = tuple(
    sorted(
        (name for name in dir(cifar) if re.fullmatch(r"(resnet|plain)\d+", name)),
        key=lambda n: (n.startswith("plain"), int(re.sub(r"\D", "", n))),
    )
)
_RUNNING = TrainConfig.MACHINE_FIELDS + TrainConfig.PRESENTATION_FIELDS


def _config_flag(hint: Any) -> dict[str, Any]:
    """``add_argument``'s keywords for a TrainConfig field annotated ``hint``."""
    if hint is bool:
        return {"action": argparse.BooleanOptionalAction}
    if get_origin(hint) is tuple:  # tuple[float, ...]
        return {"type": get_args(hint)[0], "nargs": "*"}
    types = [t for t in get_args(hint) if t is not type(None)] or [hint]  # X | None -> X
    return {"type": types[0]}


def _add_config_flags(recipe, running) -> None:
    """One flag per TrainConfig field, in the argument group ``recipe`` or ``running``."""
    hints = get_type_hints(TrainConfig)
    for f in fields(TrainConfig):
        group = running if f.name in _RUNNING else recipe
        group.add_argument(
            "--" + f.name.replace("_", "-"),
            default=f.default,
            help=f.metadata["help"].replace("%", "%%"),
            **_config_flag(hints[f.name]),
        )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; every flag is documented in ``--help``."""
    p = argparse.ArgumentParser(
        prog="python -m resnet_edu.train",
        description="Train one of the paper's CIFAR networks (ResNet or plain twin) with the "
        "paper's recipe; resumable, and distributed under torchrun.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _add_data_flags(p.add_argument_group("model and data"))
    recipe = p.add_argument_group("recipe (defaults: the paper, section 4.2)")
    running = p.add_argument_group("running")
    running.add_argument(
        "--out",
        required=True,
        type=Path,
        help="output folder: checkpoint.pt, history.json, history.csv, args.json",
    )
    running.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/checkpoint.pt (starts afresh if there is none)",
    )
    _add_config_flags(recipe, running)
    return p


def _add_data_flags(g) -> None:
    """The flags that choose the model and the data, in the argument group ``g``."""
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
        type=int,
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
        type=int,
        default=128,
        help="global batch size (split across torchrun processes)",
    )
    g.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")


def _data(args: argparse.Namespace) -> data.Loaders:
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


def _identity(args: argparse.Namespace) -> dict[str, Any]:
    """What a checkpoint of this run must match besides the recipe: model and data arguments."""
    identity = {"model": args.model, "shortcut": args.shortcut, "data": args.data}
    if args.data == "digits":
        identity["digits_size"] = args.digits_size
    else:
        identity["augment"] = not args.no_augment
    return identity


def _write_json(path: Path, value: Any) -> None:
    text = json.dumps(value, indent=1).encode()
    atomic_write_bytes(path, lambda f: f.write(text))


def _train(args: argparse.Namespace) -> int:
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    rank = launched_rank()
    checkpoint = args.out / "checkpoint.pt"
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {str(args.out)!r} is a file; give a folder")
    if checkpoint.exists() and not args.resume:
        raise ValueError(
            f"{checkpoint} exists: pass --resume to continue it, or choose another --out"
        )
    loaders = _data(args)
    torch.manual_seed(args.seed)  # the initial weights
    model = getattr(cifar, args.model)(
        num_classes=loaders.num_classes, in_channels=loaders.in_channels, shortcut=args.shortcut
    )
    if rank == 0:
        args.out.mkdir(parents=True, exist_ok=True)
    with run_lock(checkpoint) if rank == 0 else nullcontext():
        started = checkpoint.exists()  # then args.json describes it; a refused resume keeps it
        if rank == 0:
            if not started:
                _write_json(
                    args.out / "args.json",
                    {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                )
            print(
                f"training {args.model} on {args.data} for {args.epochs} epochs into {args.out}",
                flush=True,
            )

        def report(event: FitEvent) -> None:  # without the bar, still one line per epoch
            if event.kind == "epoch" and rank == 0:
                h = event.history
                print(
                    f"epoch {h.epoch[-1]}/{args.epochs}: train loss {h.train_loss[-1]:.4f}, "
                    f"train error {h.train_error[-1]:.2f}%, test error {h.test_error[-1]:.2f}%",
                    flush=True,
                )

        history = fit(
            model,
            loaders,
            config,
            checkpoint=checkpoint,
            resume=args.resume,
            callbacks=[] if args.progress else [report],
            identity=_identity(args),
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


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, train, write the outputs; returns the exit status.

    Errors (a bad value, a damaged or foreign checkpoint, a folder that cannot be written, a
    run that diverged...) are one ``error: ...`` line on stderr and exit status 2.

    Example:
        >>> main(["--model", "resnet20", "--epochs", "1", "--out", "runs/r20"])
        0
    """
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line
            return _train(args)
    except (CheckpointError, ValueError, TypeError, OSError, RuntimeError, MemoryError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"error: {message}", file=sys.stderr)
        return 2


def _one_line(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one ``warning: ...`` line on stderr (no source line, no file name)."""
    print(f"warning: {' '.join(str(message).split())}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
