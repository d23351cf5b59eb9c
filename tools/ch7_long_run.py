"""Chapter 7's Figure 6 on the digits: plain nets and ResNets of 20-56 layers, 720 steps, committed.

    python -m tools.ch7_long_run                 # writes book/_data/ch7_long_run.json (~35 min)
    python -m tools.ch7_long_run --epochs 1 --out /tmp/x.json   # a smoke test

Chapter 1 trains plain-20 and plain-56 for 180 steps on the page. This script trains the whole
depth series of the paper's Figure 6 on the same digits with the same recipe (batch 32, lr 0.025,
divided by 10 at 1/2 and 3/4 of training) for ``--epochs`` 16, i.e. 720 steps: the plain nets
with three seeds, the ResNets with one -- too long for a page. It also trains all eight nets
for 4 epochs at the unscaled lr 0.1 (an exercise of the chapter). Chapter 7's quick mode reads
the result; ``tests/test_ch7_long_run.py`` replays the first steps of one network and compares
them with the file, so the file is what this script computes.

One thread, as for every measurement of this project: the file is one draw on the machine
recorded in it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from resnet_edu.checkpoint import atomic_write_bytes
from resnet_edu.cifar import CifarResNet
from resnet_edu.data import digits
from resnet_edu.train import TrainConfig, fit
from tools.common import DATA

OUT = DATA / "ch7_long_run.json"
DEPTHS = (20, 32, 44, 56)
PLAIN_SEEDS = (0, 1, 2)
RESNET_SEEDS = (0,)
BATCH_SIZE = 32
LR = 0.1 * BATCH_SIZE / 128  # the paper's 0.1 at batch 128, scaled linearly to batch 32
QUICK_EPOCHS = 4  # quick mode: 4 epochs of 45 steps


def config(epochs: int, seed: int, lr: float = LR) -> TrainConfig:
    """The chapter's quick-mode recipe, for ``epochs`` epochs."""
    return TrainConfig(epochs=epochs, lr=lr, seed=seed, threads=1, progress=False)


def train(depth: int, residual: bool, seed: int, epochs: int, lr: float = LR, callbacks=()):
    """One network as the chapter trains it: digits split 0, weights and order from ``seed``."""
    data = digits(batch_size=BATCH_SIZE, seed=0)
    torch.manual_seed(seed)
    model = CifarResNet(depth, residual=residual, num_classes=10, in_channels=data.in_channels)
    return fit(model, data, config(epochs, seed, lr), callbacks=callbacks)


def plan(epochs: int) -> list[dict]:
    """What to train: the long run (plain x 3 seeds, ResNet x 1), then the runs at lr 0.1."""
    runs = []
    for residual, seeds in ((False, PLAIN_SEEDS), (True, RESNET_SEEDS)):
        for seed in seeds:
            for depth in DEPTHS:
                runs.append(
                    {"depth": depth, "residual": residual, "seed": seed, "epochs": epochs, "lr": LR}
                )
    for residual in (False, True):  # quick mode's 4 epochs at the unscaled lr 0.1
        for depth in DEPTHS:
            runs.append(
                {"depth": depth, "residual": residual, "seed": 0, "epochs": QUICK_EPOCHS, "lr": 0.1}
            )
    for run in runs:
        run["name"] = f"{'resnet' if run['residual'] else 'plain'}{run['depth']}"
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=16, help="epochs per network (default 16)")
    parser.add_argument("--out", type=Path, default=OUT, help="JSON file to write")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        print("error: --epochs must be >= 1", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    runs = plan(args.epochs)
    start = time.time()
    for run in runs:
        t = time.time()
        history = train(run["depth"], run["residual"], run["seed"], run["epochs"], run["lr"])
        print(
            f"{run['name']} seed {run['seed']}, lr {run['lr']}, {run['epochs']} epochs: "
            f"train error {history.train_error[-1]:.1f} % ({time.time() - t:.0f} s)",
            flush=True,
        )
        record = history.to_dict()
        record["loss"] = [round(v, 5) for v in record["loss"]]
        record["lr"] = []  # a function of the config: see resnet_edu.train.learning_rate
        run["history"] = record
    result = {
        "what": "chapter 7: quick mode with more steps; Exercise 3 at lr 0.1",
        "config": config(args.epochs, 0).to_dict(),
        "recorded_with": {
            "torch": torch.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "aten_cpu_capability": os.environ.get("ATEN_CPU_CAPABILITY", ""),
            "machine": platform.machine(),
            "threads": torch.get_num_threads(),
            "seconds": round(time.time() - start),
        },
        "runs": runs,
    }
    text = (json.dumps(result, separators=(",", ":")) + "\n").encode()
    atomic_write_bytes(args.out, lambda f: f.write(text))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
