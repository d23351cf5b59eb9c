"""Chapter 3's committed run: interventions on plain-56 and ResNet-56, on 8x8 and 32x32 digits.

Chapter 3 tests four explanations of the degradation problem by changing one suspected cause
at a time. A single training run is one draw, and these differ 3-10x between seeds, so each
condition is trained from several seeds, with chapter 1's recipe (batch 32, lr 0.025 = the
paper's 0.1 scaled to the batch, momentum 0.9, weight decay 1e-4, lr / 10 at 50 % and 75 %,
4 epochs = 180 steps), on one CPU thread:

- on the digits' own 8x8 (the chapter's training size; stage 3 then works on 2x2 maps), every
  condition from 5 seeds;
- on the digits resized to 32x32 (the paper's CIFAR size: maps of 32, 16 and 8), the decisive
  conditions from 3 seeds.

The conditions (``CONDITIONS``): the nets themselves; the two interventions of the first
review (ResNet-56 with conv1's weights x256; plain-56 warmed up at lr / 100); every
convolution's weight norm held fixed; every layer's update held at a fixed fraction of its
weights; the shortcut scaled by beta; no BatchNorm. For plain-20, plain-56 and ResNet-56 a
``GradientProbe`` also measures, at steps 0, 20 and 90, how much of the loss a line search along
the gradient removes.

    python -m tools.ch3_32px_run                    # -> book/_data/ch3_32px_run.json
    python -m tools.ch3_32px_run --sizes 8 --seeds 0 --out /tmp/run.json

``tests/test_ch3_32px_run.py`` replays the first steps and checks them against the file. The
file is rewritten after every run, and a second call on the same machine adds the missing ones.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from resnet_edu.cifar import CifarResNet
from resnet_edu.data import digits
from resnet_edu.gradflow import WeightRecorder
from resnet_edu.interventions import (
    FixedUpdateRatio,
    FixedWeightNorms,
    GradientProbe,
    ProbeResult,
    scale_shortcuts,
)
from resnet_edu.train import History, NonFiniteLossError, TrainConfig
from tools.common import DATA, ROOT, StopAfter, continued_record, run_machine, write_json

OUT = DATA / "ch3_32px_run.json"
BATCH = 32
LR = 0.1 * BATCH / 128  # the paper's 0.1 for batch 128, scaled linearly (chapter 1)
EPOCHS = 4
SEEDS = {8: (0, 1, 2, 3, 4), 32: (0, 1, 2)}
PROBE_STEPS = (0, 20, 90)
PROBE_BATCHES = 8


@dataclass(frozen=True)
class Condition:
    """One network and one change to it or to its training."""

    depth: int
    residual: bool
    what: str  # one line for the chapter's table
    sizes: tuple[int, ...] = (8, 32)
    conv1_scale: float = 1.0  # multiply conv1's initial weights (a conv before BN: same function)
    warmup_steps: int = 0  # steps at lr / 100 before the recipe
    fixed_norms: bool = False  # FixedWeightNorms
    update_ratio: float | None = None  # FixedUpdateRatio(ratio=...)
    beta: float | None = None  # scale_shortcuts(model, beta): the shortcut times beta (lambda)
    batchnorm: bool = True
    zero_init: bool = False
    lr: float = LR
    batch: int = BATCH  # 128: a gradient averaged over 4x the images (and BN over them)
    epochs: int = EPOCHS  # 180 steps: 4 epochs of 45 batches of 32, or 15 of 12 batches of 128
    probe: bool = False


CONDITIONS: dict[str, Condition] = {
    "plain20": Condition(20, False, "plain-20", probe=True),
    "plain56": Condition(56, False, "plain-56", probe=True),
    "resnet56": Condition(56, True, "ResNet-56", probe=True),
    "resnet56_conv1x256": Condition(
        56, True, "ResNet-56, conv1's initial weights x256", conv1_scale=256.0
    ),
    "plain56_warmup": Condition(
        56, False, "plain-56, 45 warm-up steps at lr / 100", warmup_steps=45
    ),
    "plain56_fixed_norms": Condition(
        56, False, "plain-56, every conv weight norm held at its initial value", fixed_norms=True
    ),
    "plain56_fixed_ratio": Condition(
        56, False, "plain-56, every layer's step held at 1e-3 of its weight norm", update_ratio=1e-3
    ),
    "resnet56_fixed_ratio": Condition(
        56, True, "ResNet-56, every layer's step held at 1e-3 of its weight norm", update_ratio=1e-3
    ),
    "resnet56_fixed_norms": Condition(
        56, True, "ResNet-56, every conv weight norm held", sizes=(8,), fixed_norms=True
    ),
    "resnet56_beta0.5": Condition(56, True, "ResNet-56, shortcut x 0.5", sizes=(8,), beta=0.5),
    "resnet56_beta0.75": Condition(56, True, "ResNet-56, shortcut x 0.75", sizes=(8,), beta=0.75),
    "resnet56_beta0.9": Condition(56, True, "ResNet-56, shortcut x 0.9", sizes=(8,), beta=0.9),
    "plain56_batch128": Condition(
        56, False, "plain-56, batches of 128 (180 steps)", sizes=(8,), batch=128, epochs=15
    ),
    "resnet56_batch128": Condition(
        56, True, "ResNet-56, batches of 128 (180 steps)", sizes=(8,), batch=128, epochs=15
    ),
    "resnet56_nobn": Condition(
        56, True, "ResNet-56 without BN, lr 0.01", sizes=(8,), batchnorm=False, lr=0.01
    ),
    "resnet56_nobn_zero": Condition(
        56,
        True,
        "ResNet-56 without BN, zero-init, lr 0.01",
        sizes=(8,),
        batchnorm=False,
        zero_init=True,
        lr=0.01,
    ),
}


def config(condition: Condition, seed: int) -> TrainConfig:
    """Chapter 1's recipe for ``condition``, on one thread."""
    warmup = {"warmup_steps": condition.warmup_steps, "warmup_lr": condition.lr / 100}
    return TrainConfig(
        epochs=condition.epochs,
        lr=condition.lr,
        seed=seed,
        threads=1,
        device="cpu",
        progress=False,
        **(warmup if condition.warmup_steps else {}),
    )


def build(condition: Condition, seed: int) -> nn.Module:
    """The network of ``condition`` with the initial weights of ``seed``."""
    torch.manual_seed(seed)
    norm = {} if condition.batchnorm else {"norm_layer": nn.Identity}
    model = CifarResNet(
        condition.depth,
        residual=condition.residual,
        in_channels=3,
        zero_init_residual=condition.zero_init,
        **norm,
    )
    if condition.conv1_scale != 1:
        with torch.no_grad():
            model.conv1.weight.mul_(condition.conv1_scale)
    if condition.beta is not None:
        scale_shortcuts(model, condition.beta)
    return model


def probe_batches(size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The first ``PROBE_BATCHES`` training batches of a fresh loader: the same in every run."""
    return list(itertools.islice(iter(digits(batch_size=BATCH, size=size).train), PROBE_BATCHES))


def train(name: str, size: int, seed: int, *, stop_after: int | None = None) -> dict[str, Any]:
    """Train one condition; return its record (history, conv1's norms, probes).

    ``stop_after`` ends the run after that many steps (for the replay test); the history is
    then the part recorded so far (per-step losses are copied every 25 steps).
    """
    if name not in CONDITIONS:
        raise ValueError(f"name must be one of {list(CONDITIONS)}, got {name!r}")
    stopper = StopAfter(stop_after)
    condition = CONDITIONS[name]
    torch.set_num_threads(1)  # also for the probe before step 1 (fit sets it again)
    data = digits(batch_size=condition.batch, size=size)
    model = build(condition, seed)
    recipe = config(condition, seed)
    callbacks: list[Any] = []
    if condition.fixed_norms:
        callbacks.append(FixedWeightNorms(model))
    probe = None
    if condition.probe and stop_after is None:
        probe = GradientProbe(probe_batches(size), steps=PROBE_STEPS[1:], lr=recipe.lr)
        probe.measure(model, 0)
        callbacks.append(probe)
    record: dict[str, Any] = {}
    ratio = (
        FixedUpdateRatio(model, ratio=condition.update_ratio, lr=recipe.lr)
        if condition.update_ratio
        else _nothing()
    )
    with ratio, WeightRecorder(model) as watcher:
        try:
            history = stopper.fit(model, data, recipe, callbacks)
        except NonFiniteLossError as err:
            history = stopper.history or History()
            record["diverged"] = str(err).split(" (")[0]
    weights = watcher.result()
    norms, ratios = weights.weight_norms["conv1"], weights.update_ratios["conv1"]
    record["history"] = history.to_dict()
    losses = record["history"]["loss"]  # a diverged run's NaN or inf: null in the JSON file
    record["history"]["loss"] = [v if np.isfinite(v) else None for v in losses]
    record["conv1_norm"] = {str(s): norms[s] for s in (0, 1, 10, 60) if s < len(norms)}
    record["conv1_norm"]["end"] = norms[-1]
    record["conv1_update_ratio_30_90"] = (
        float(np.median(ratios[30:90])) if len(ratios) >= 90 else None
    )
    if probe is not None:
        record["probe"] = [_probe_row(r) for r in probe.results]
    return record


def _probe_row(result: ProbeResult) -> dict[str, float]:
    """One line search as written to the file (its losses along the line are left out)."""
    return {
        "step": result.step,
        "loss": result.loss,
        "agreement": result.agreement,
        "gradient_norm": result.gradient_norm,
        "best_drop": result.best_drop,
    }


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info) -> None:
        return None


def recipe() -> dict[str, Any]:
    """The recipe and the plan, as written to the file (a resumed file must match it)."""
    base = {**config(CONDITIONS["plain56"], 0).to_dict(), "seed": None, "batch_size": BATCH}
    plan = {
        name: {"what": c.what, "sizes": list(c.sizes), "lr": c.lr, "batch": c.batch}
        for name, c in CONDITIONS.items()
    }
    return {
        "train": base,
        "seeds": {str(k): list(v) for k, v in SEEDS.items()},
        "probe_steps": list(PROBE_STEPS),
        "conditions": plan,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 32], help="image sizes (8 32)")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=None, help="seeds (default: 0-4 at 8, 0-2 at 32)"
    )
    parser.add_argument(
        "--names", nargs="+", default=list(CONDITIONS), choices=list(CONDITIONS), help="conditions"
    )
    where = OUT.relative_to(ROOT)
    parser.add_argument("--out", type=Path, default=OUT, help=f"JSON file ({where})")
    args = parser.parse_args(argv)
    if any(s not in SEEDS for s in args.sizes):
        print(f"error: --sizes must be among {list(SEEDS)}, got {args.sizes}", file=sys.stderr)
        return 2
    if args.seeds is not None and any(s < 0 for s in args.seeds):
        print(f"error: --seeds must be whole numbers >= 0, got {args.seeds}", file=sys.stderr)
        return 2

    record = {
        "description": "chapter 3's interventions on the digits (tools/ch3_32px_run.py)",
        "machine": run_machine(),
        "recipe": recipe(),
        "runs": [],
    }
    record = continued_record(args.out, record, "recipe")
    if record is None:
        return 2
    done = {(run["name"], run["size"], run["seed"]) for run in record["runs"]}
    for size in args.sizes:
        for seed in SEEDS[size] if args.seeds is None else args.seeds:
            for name in args.names:
                if size not in CONDITIONS[name].sizes or (name, size, seed) in done:
                    continue
                start = time.perf_counter()
                run = train(name, size, seed)
                seconds = time.perf_counter() - start
                errors = run["history"]["train_error"]
                result = run.get("diverged") or f"train {errors[-1]:5.1f}%"
                print(f"{size:>2}px seed {seed} {name:<22} {result}  ({seconds:.0f} s)", flush=True)
                record["runs"].append({"name": name, "size": size, "seed": seed, **run})
                write_json(args.out, record)  # after every run
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
