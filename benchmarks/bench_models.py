"""Forward + backward time of resnet_edu's models against torchvision's, on CPU.

Our models run the same graph as torchvision's (the tests check the outputs are equal), so the
time ratio should be 1.00 within noise (the issue asks for 1.00 +- 0.05). Each pair shares its
weights and input; the two are timed alternately, repetition after repetition, so that a change
in machine load hits both; the table shows medians.

torchvision has no CIFAR ResNet-56. Its reference here is our ``resnet56`` with every block
replaced by ``torchvision.models.resnet.BasicBlock`` carrying the same weights and the same
option-A shortcut: the comparison isolates the block code, which is what we wrote ourselves.

Usage:
    python benchmarks/bench_models.py            # 10 repetitions per model
    python benchmarks/bench_models.py --quick    # 3 repetitions, for a smoke test
    python benchmarks/bench_models.py --models resnet50 --reps 11 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torchvision
from _machine import prepare
from torch import nn
from torchvision.models import resnet as tv_resnet

import resnet_edu


def torchvision_cifar_twin(model: resnet_edu.CifarResNet) -> nn.Module:
    """A copy of ``model`` whose blocks are torchvision's BasicBlock, with the same weights."""
    twin = resnet_edu.CifarResNet(model.depth)
    for stage_name in ("layer1", "layer2", "layer3"):
        stage = getattr(model, stage_name)
        blocks = []
        for block in stage:
            tv_block = tv_resnet.BasicBlock(
                block.conv1.in_channels, block.conv1.out_channels, block.stride, block.downsample
            )
            tv_block.load_state_dict(block.state_dict(), strict=True)
            blocks.append(tv_block)
        setattr(twin, stage_name, nn.Sequential(*blocks))
    twin.load_state_dict(model.state_dict(), strict=True)
    return twin


def pairs() -> list[tuple[str, Callable[[], tuple[nn.Module, nn.Module]], tuple[int, ...]]]:
    """(label, build the two models with equal weights, input shape) for each benchmark."""

    def imagenet(name: str):
        def build():
            ref = torchvision.models.get_model(name)
            ours = getattr(resnet_edu, name)()
            ours.load_state_dict(ref.state_dict(), strict=True)
            return ours, ref

        return build

    def cifar():
        ours = resnet_edu.resnet56()
        return ours, torchvision_cifar_twin(ours)

    return [
        ("resnet18", imagenet("resnet18"), (8, 3, 224, 224)),
        ("resnet50", imagenet("resnet50"), (8, 3, 224, 224)),
        ("resnet56 (CIFAR)", cifar, (128, 3, 32, 32)),
    ]


def step_seconds(model: nn.Module, x: torch.Tensor) -> tuple[float, float]:
    """Wall and CPU seconds of one training step's forward and backward pass (no optimizer).

    CPU time (this process, all threads) barely moves when other processes load the machine;
    wall time does, by tens of percent on a shared 2-core box.
    """
    model.zero_grad(set_to_none=True)
    wall, cpu = time.perf_counter(), time.process_time()
    model(x).sum().backward()
    return time.perf_counter() - wall, time.process_time() - cpu


def compare(ours: nn.Module, ref: nn.Module, x: torch.Tensor, reps: int) -> dict[str, float]:
    """Median wall and CPU seconds per step of ``ours`` and ``ref``, timed alternately."""
    ours.train(), ref.train()
    with torch.no_grad():
        ours.eval(), ref.eval()
        torch.testing.assert_close(ours(x), ref(x))  # the same function, or the timing is moot
        ours.train(), ref.train()
    step_seconds(ours, x), step_seconds(ref, x)  # warm-up: allocator, oneDNN primitives
    times_ours, times_ref = [], []
    for rep in range(reps):
        order = [(ours, times_ours), (ref, times_ref)]
        for model, times in order if rep % 2 == 0 else order[::-1]:  # alternate who goes first
            times.append(step_seconds(model, x))
    return {
        f"{who}_{kind}": statistics.median(t[i] for t in times)
        for who, times in (("ours", times_ours), ("ref", times_ref))
        for i, kind in enumerate(("wall", "cpu"))
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repetitions instead of 10")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per model")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument(
        "--models", nargs="+", default=None, help="only these (resnet18, resnet50, resnet56)"
    )
    args = parser.parse_args()
    reps = args.reps or (3 if args.quick else 10)
    print(prepare(args.threads, reps))
    header = (
        f"{'model':<17} {'input':<12} {'wall ms ours':>12} {'torchvision':>11} {'ratio':>6}"
        f" {'CPU ms ours':>12} {'torchvision':>11} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for label, build, shape in pairs():
        if args.models and label.split()[0] not in args.models:
            continue
        ours, ref = build()
        x = torch.randn(shape)
        t = compare(ours, ref, x, reps)
        size = "x".join(map(str, shape))
        print(
            f"{label:<17} {size:<12} {1e3 * t['ours_wall']:>12.0f} {1e3 * t['ref_wall']:>11.0f}"
            f" {t['ours_wall'] / t['ref_wall']:>6.3f} {1e3 * t['ours_cpu']:>12.0f}"
            f" {1e3 * t['ref_cpu']:>11.0f} {t['ours_cpu'] / t['ref_cpu']:>6.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
