"""Chapter 8's committed lesion run: ResNet-20 on the digits trained longer, every block deleted.

Chapter 8 trains ResNet-20 for 5 epochs (115 steps) in front of the reader, and deleting its
first block, ``layer1.0``, costs far more than deleting any other. Is that because the network
was trained briefly? This script answers it: the chapter's recipe (digits, batch 64, the
paper's lr 0.1, momentum 0.9, weight decay 1e-4, lr / 10 at 50 % and 75 % of training) for 5,
20 and 100 epochs, several seeds, and for each trained network

* the test error with each of its 9 blocks deleted, one at a time, the downsampling
  ``layer2.0`` and ``layer3.0`` included (their shortcut stays, as in Veit et al.);
* the test error with each of the 36 pairs of blocks deleted together;
* the gradient that single paths of each length carry (``ensembles.gradient_by_path_length``),
  for ResNet-20 and, at 20 epochs, for ResNet-56 (27 blocks):

    python -m tools.ch8_lesion_run                      # -> book/_data/ch8_lesion_run.json
    python -m tools.ch8_lesion_run --epochs 5 --seeds 0 --out /tmp/run.json

One thread, so each run is one well-defined draw; ``tests/test_ch8_lesion_run.py`` replays the
first steps (and, on the recording machine, a whole 5-epoch run). The file is rewritten after
every network, and a second call with the same recipe on the same machine adds the missing runs.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import torch

from resnet_edu import ensembles
from resnet_edu.cifar import CifarResNet
from resnet_edu.data import digits
from resnet_edu.train import History, TrainConfig
from tools.common import DATA, ROOT, StopAfter, continued_record, run_machine, write_json

OUT = DATA / "ch8_lesion_run.json"
BATCH = 64  # chapter 8's batch; the paper's lr 0.1 unscaled, as the chapter trains
PATH_BATCH = 64  # test images for the path gradients, as in the chapter
PATH_SAMPLES = 5  # random paths per length, as in the chapter
FIRST_STEPS = 25  # per-step losses kept for the replay test


def config(epochs: int, seed: int) -> TrainConfig:
    """Chapter 8's recipe for ``epochs`` epochs, on one thread."""
    return TrainConfig(epochs=epochs, seed=seed, threads=1, device="cpu", progress=False)


def train(
    depth: int, *, epochs: int, seed: int, stop_after: int | None = None
) -> tuple[CifarResNet, History]:
    """Train ResNet-``depth`` as chapter 8 does; ``stop_after`` ends it after that many steps.

    The data split and order and the initial weights all come from ``seed``, as in the chapter
    (``torch.manual_seed(seed)`` just before the model is built).
    """
    stopper = StopAfter(stop_after)
    data = digits(channels=1, batch_size=BATCH, seed=seed)
    torch.manual_seed(seed)
    model = CifarResNet(depth, num_classes=data.num_classes, in_channels=data.in_channels)
    return model, stopper.fit(model, data, config(epochs, seed))


def test_set(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The chapter's test images and labels, as one batch."""
    data = digits(channels=1, batch_size=BATCH, seed=seed)
    return torch.cat([x for x, _ in data.test]), torch.cat([y for _, y in data.test])


def lesions(model: CifarResNet, seed: int) -> dict:
    """Intact error, each block deleted, each pair deleted (test error, %)."""
    x, y = test_set(seed)
    blocks = ensembles.deletable_blocks(model)
    pairs = {}
    for a, b in itertools.combinations(blocks, 2):
        with ensembles.delete_blocks(model, [a, b]):
            pairs[f"{a}+{b}"] = ensembles.error_percent(model, (x, y))
    return {
        "intact": ensembles.error_percent(model, (x, y)),
        "single": ensembles.lesion_blocks(model, (x, y)),
        "pairs": pairs,
    }


def path_gradients(model: CifarResNet, seed: int) -> dict:
    """Gradient norm carried by one path of each length (chapter 8's measurement)."""
    x, y = test_set(seed)
    paths = ensembles.gradient_by_path_length(
        model, x[:PATH_BATCH], y[:PATH_BATCH], samples_per_length=PATH_SAMPLES, seed=seed
    )
    return {"mean_norm": paths.mean_norm.tolist(), "counts": paths.counts.tolist()}


def plan(epochs: list[int], seeds: list[int], deep_seeds: list[int]) -> list[tuple[int, int, int]]:
    """(depth, epochs, seed) of every network: ResNet-20 at each budget, then ResNet-56."""
    runs = [(20, e, s) for s in seeds for e in epochs]
    return runs + [(56, 20, s) for s in deep_seeds]


def train_and_measure(depth: int, epochs: int, seed: int) -> dict:
    """Train one network and measure it: errors, first losses, path gradients, lesions."""
    start = time.perf_counter()
    model, history = train(depth, epochs=epochs, seed=seed)
    run = {
        "depth": depth,
        "epochs": epochs,
        "seed": seed,
        "train_error": history.train_error[-1],
        "test_error": history.test_error[-1],
        "first_losses": history.loss[:FIRST_STEPS],
        "paths": path_gradients(model, seed),
    }
    if depth == 20:
        run["lesions"] = lesions(model, seed)
    worst = ""
    if "lesions" in run:
        single = run["lesions"]["single"]
        top = max(single, key=single.get)
        worst = f"  worst deletion {top} {single[top]:5.1f}%"
    print(
        f"ResNet-{depth} {epochs:>3} epochs seed {seed}: train {run['train_error']:5.1f}%  "
        f"test {run['test_error']:5.1f}%{worst}  ({time.perf_counter() - start:.0f} s)",
        flush=True,
    )
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--epochs", type=int, nargs="+", default=[5, 20, 100], help="ResNet-20 budgets (5 20 100)"
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=list(range(8)), help="ResNet-20 seeds (0-7)"
    )
    parser.add_argument(
        "--deep-seeds", type=int, nargs="*", default=[0, 1, 2, 3], help="ResNet-56 seeds (0-3)"
    )
    where = OUT.relative_to(ROOT)
    parser.add_argument("--out", type=Path, default=OUT, help=f"JSON file ({where})")
    args = parser.parse_args(argv)
    if any(e < 1 for e in args.epochs):
        print(f"error: --epochs must be at least 1, got {args.epochs}", file=sys.stderr)
        return 2
    if any(s < 0 for s in [*args.seeds, *args.deep_seeds]):
        print("error: --seeds and --deep-seeds must be whole numbers >= 0", file=sys.stderr)
        return 2

    record = {
        "description": "chapter 8's lesion study, trained longer (tools/ch8_lesion_run.py)",
        "machine": run_machine(),
        "config": {
            **config(1, 0).to_dict(),
            "epochs": None,
            "seed": None,
            "batch_size": BATCH,
            "path_batch": PATH_BATCH,
            "path_samples": PATH_SAMPLES,
        },
        "runs": [],
    }
    record = continued_record(args.out, record, "config")
    if record is None:
        return 2
    done = {(run["depth"], run["epochs"], run["seed"]) for run in record["runs"]}
    for depth, epochs, seed in plan(args.epochs, args.seeds, args.deep_seeds):
        if (depth, epochs, seed) not in done:
            record["runs"].append(train_and_measure(depth, epochs, seed))
            write_json(args.out, record)  # after every run
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
