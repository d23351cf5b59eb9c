"""Chapter 1's long run: plain-20/56 and ResNet-20/56 on the digits for 30 epochs, committed.

Chapter 1 trains in front of the reader for 4 epochs (180 steps), a budget in which plain-56
has often not started to learn at all. This script trains the same four networks with the same
recipe (batch 32, lr 0.025 = the paper's 0.1 scaled to the batch, momentum 0.9, weight decay
1e-4, lr / 10 at 50 % and 75 % of training) for 30 epochs (1,350 steps), long enough for
plain-56 to learn, and writes every history with the machine that produced it:

    python -m tools.ch1_long_run                       # -> book/_data/ch1_long_run.json
    python -m tools.ch1_long_run --epochs 12 --seeds 0 --out /tmp/run.json

One thread, so the run is one well-defined draw; ``tests/test_ch1_long_run.py`` replays its
first steps and checks they match the committed history. The file is rewritten after every
network, and a second call with the same recipe on the same machine adds the missing runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from resnet_edu.cifar import CifarResNet
from resnet_edu.data import digits
from resnet_edu.experiments import model_name
from resnet_edu.train import History, TrainConfig
from tools.common import DATA, ROOT, StopAfter, continued_record, run_machine, write_json

OUT = DATA / "ch1_long_run.json"
# plain nets first; ResNet-20, the cheapest control, last
NAMES = ("plain20", "plain56", "resnet56", "resnet20")
BATCH = 32
LR = 0.1 * BATCH / 128  # the paper's 0.1 for batch 128, scaled linearly (chapter 1)


def config(epochs: int, seed: int) -> TrainConfig:
    """Chapter 1's recipe for ``epochs`` epochs, on one thread."""
    return TrainConfig(epochs=epochs, lr=LR, seed=seed, threads=1, device="cpu", progress=False)


def train(
    depth: int, residual: bool, *, epochs: int, seed: int, stop_after: int | None = None
) -> History:
    """Train one network of the chapter; ``stop_after`` ends it after that many steps.

    The initial weights come from ``torch.manual_seed(seed)``, the data order from
    ``TrainConfig(seed=seed)``, as in chapter 1. A stopped run returns the history so far
    (its per-step ``loss`` is copied from the device every 25 steps).
    """
    stopper = StopAfter(stop_after)
    data = digits(batch_size=BATCH)
    torch.manual_seed(seed)
    model = CifarResNet(depth, residual=residual, in_channels=data.in_channels)
    return stopper.fit(model, data, config(epochs, seed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30, help="epochs per network (30)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (0 1 2)")
    parser.add_argument(
        "--names", nargs="+", default=list(NAMES), choices=NAMES, help="networks, in this order"
    )
    where = OUT.relative_to(ROOT)
    parser.add_argument("--out", type=Path, default=OUT, help=f"JSON file ({where})")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        print(f"error: --epochs must be at least 1, got {args.epochs}", file=sys.stderr)
        return 2
    if any(s < 0 for s in args.seeds):
        print(f"error: --seeds must be whole numbers >= 0, got {args.seeds}", file=sys.stderr)
        return 2

    record = {
        "description": "chapter 1's recipe on the digits, long run (tools/ch1_long_run.py)",
        "machine": run_machine(),
        "config": {**config(args.epochs, 0).to_dict(), "seed": None, "batch_size": BATCH},
        "runs": [],
    }
    record = continued_record(args.out, record, "config")
    if record is None:
        return 2
    done = {(run["name"], run["seed"]) for run in record["runs"]}
    for seed in args.seeds:
        for name in args.names:
            if (name, seed) in done:
                continue
            residual = name.startswith("resnet")
            depth = int(name.removeprefix("resnet" if residual else "plain"))
            assert model_name(depth, residual) == name
            start = time.perf_counter()
            history = train(depth, residual, epochs=args.epochs, seed=seed)
            print(
                f"seed {seed} {name:<9} train {history.train_error[-1]:5.1f}%  "
                f"test {history.test_error[-1]:5.1f}%  ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
            record["runs"].append({"name": name, "seed": seed, "history": history.to_dict()})
            write_json(args.out, record)  # after every run
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
