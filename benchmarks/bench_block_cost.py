"""What "the same cost" leaves out: mult-adds, activations, memory and time of two blocks.

Chapter 4 shows that a Bottleneck on 4w channels costs 17/18 of the mult-adds of a BasicBlock on
w channels, and that ResNet-50 costs 12 % more mult-adds than ResNet-34. It claims only that
ResNet-50 is the slower network; this script measures by how much, with the other costs in one
run, for two pairs:

* one block of each kind on a 56x56 map: ``BasicBlock(64, 64)`` and ``Bottleneck(256, 64)``;
* the two networks on 224x224 images: ``resnet34`` and ``resnet50`` (torchvision's layout).

For each model it reports

* mult-adds of one forward pass (conv and linear layers, counted on the meta device);
* conv-output values: what the convolutions write (counted on the meta device);
* bytes that autograd keeps for the backward pass, weights excluded (``saved_tensors_hooks``);
* median wall and CPU milliseconds of the forward pass and of forward + backward.

Everything is per batch (``--batch``, default 8). The two models of a pair are timed
alternately, repetition after repetition, so that a change in machine load hits both. On a
shared machine trust the CPU-time ratio more than the wall-time one, and report the load
average that the script prints.

Usage:
    python benchmarks/bench_block_cost.py                 # batch 8, 10 repetitions
    python benchmarks/bench_block_cost.py --quick         # 3 repetitions
    python benchmarks/bench_block_cost.py --threads 1 --batch 1
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
from _machine import prepare
from torch import nn

import resnet_edu
from resnet_edu import measure


def conv_outputs(model: nn.Module, shape: tuple[int, ...]) -> int:
    """Values written by the model's convolutions for an input of ``shape`` (meta device)."""
    return sum(
        math.prod(layer.output_shape)
        for layer in measure.layer_costs(model, shape)
        if layer.kind == "Conv2d"
    )


def saved_for_backward(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes that autograd keeps from the forward pass for the backward pass, weights excluded.

    A storage saved by several operations (a ReLU's output read by the next conv and by the
    ReLU's own backward) counts once.
    """
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    kept: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            kept[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(x)
    return sum(kept.values())


def step_seconds(model: nn.Module, x: torch.Tensor) -> tuple[float, float, float, float]:
    """Wall and CPU seconds of the forward pass, then of forward + backward (no optimizer)."""
    model.zero_grad(set_to_none=True)
    wall, cpu = time.perf_counter(), time.process_time()
    loss = model(x).sum()
    forward_wall, forward_cpu = time.perf_counter() - wall, time.process_time() - cpu
    loss.backward()
    return forward_wall, forward_cpu, time.perf_counter() - wall, time.process_time() - cpu


def timings(
    models: dict[str, nn.Module], inputs: dict[str, torch.Tensor], reps: int
) -> dict[str, list[float]]:
    """Median (forward wall, forward CPU, step wall, step CPU) milliseconds, timed alternately."""
    for name, model in models.items():
        model.train()
        step_seconds(model, inputs[name])  # warm-up: allocator, oneDNN primitives
    samples: dict[str, list[tuple[float, ...]]] = {name: [] for name in models}
    names = list(models)
    for rep in range(reps):
        for name in names if rep % 2 == 0 else names[::-1]:  # alternate who goes first
            samples[name].append(step_seconds(models[name], inputs[name]))
    return {
        name: [1e3 * statistics.median(t[i] for t in ts) for i in range(4)]
        for name, ts in samples.items()
    }


def pairs(batch: int) -> list[tuple[str, dict[str, nn.Module], tuple[int, ...], tuple[int, ...]]]:
    """(label, the two models, input shape of the first, input shape of the second)."""
    return [
        (
            "blocks at 56x56",
            {
                "BasicBlock(64)": resnet_edu.BasicBlock(64, 64),
                "Bottleneck(256)": resnet_edu.Bottleneck(256, 64),
            },
            (batch, 64, 56, 56),
            (batch, 256, 56, 56),
        ),
        (
            "networks at 224x224",
            {"ResNet-34": resnet_edu.resnet34(), "ResNet-50": resnet_edu.resnet50()},
            (batch, 3, 224, 224),
            (batch, 3, 224, 224),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repetitions instead of 10")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per model")
    parser.add_argument("--batch", type=int, default=8, help="images per batch (default 8)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args()
    reps = args.reps or (3 if args.quick else 10)
    print(prepare(args.threads, reps, batch=args.batch))
    header = (
        f"{'model':<16} {'GMACs':>7} {'conv out (M)':>12} {'saved (MiB)':>11}"
        f" {'fwd wall ms':>11} {'fwd CPU ms':>10} {'step wall ms':>12} {'step CPU ms':>11}"
    )
    for label, models, *shapes in pairs(args.batch):
        print(f"\n{label}\n{header}\n{'-' * len(header)}")
        inputs = {name: torch.randn(shape) for name, shape in zip(models, shapes, strict=True)}
        rows = {}
        for (name, model), shape in zip(models.items(), shapes, strict=True):
            model.train()
            rows[name] = [
                measure.mult_adds(model, shape) / 1e9,
                conv_outputs(model, shape) / 1e6,
                saved_for_backward(model, inputs[name]) / 2**20,
            ]
        for name, row in timings(models, inputs, reps).items():
            rows[name] += row
        for name, row in rows.items():
            print(
                f"{name:<16} {row[0]:>7.3f} {row[1]:>12.2f} {row[2]:>11.1f}"
                f" {row[3]:>11.0f} {row[4]:>10.0f} {row[5]:>12.0f} {row[6]:>11.0f}"
            )
        first, second = rows.values()
        ratios = [b / a for a, b in zip(first, second, strict=True)]
        print(
            f"{'ratio':<16} {ratios[0]:>7.3f} {ratios[1]:>12.2f} {ratios[2]:>11.2f}"
            f" {ratios[3]:>11.2f} {ratios[4]:>10.2f} {ratios[5]:>12.2f} {ratios[6]:>11.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
