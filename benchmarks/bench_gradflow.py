"""Overhead of the gradflow recorders on a CPU training step of ResNet-56 (issue: <= 15%).

Usage: python benchmarks/bench_gradflow.py [--threads N] [--reps R] [--batch B] [--size S]

One training step = zero_grad, forward, cross-entropy, backward, SGD step, on a batch of random
32x32 images. Four variants -- bare, with a ``GradientRecorder``, with an
``ActivationRecorder``, with both -- run in turn within every repetition, so that load changes
on a shared machine hit all of them alike; each variant's time is the median over repetitions,
and the overhead is median(variant) / median(bare) - 1. A recorder is entered once per
repetition and lives over the timed step, as it would over a training run.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch
import torch.nn.functional as F

from resnet_edu import cifar, gradflow

VARIANTS = ("bare", "gradients", "activations", "both")


def recorders(variant: str, model: torch.nn.Module) -> contextlib.ExitStack:
    stack = contextlib.ExitStack()
    if variant in ("gradients", "both"):
        stack.enter_context(gradflow.GradientRecorder(model))
    if variant in ("activations", "both"):
        stack.enter_context(gradflow.ActivationRecorder(model))
    return stack


def step(model, optimizer, x, y) -> None:
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--reps", type=int, default=7, help="timed steps per variant")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--size", type=int, default=32, help="image side")
    p.add_argument("--model", default="resnet56")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = getattr(cifar, args.model)().train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(args.batch, 3, args.size, args.size)
    y = torch.randint(0, 10, (args.batch,))
    print(
        f"{args.model}, batch {args.batch} x 3 x {args.size} x {args.size}, "
        f"{args.threads} threads, torch {torch.__version__}, {args.reps} interleaved repetitions"
    )
    for variant in VARIANTS:  # warm-up: allocator, thread pool, first-forward hooks
        with recorders(variant, model):
            step(model, optimizer, x, y)
    wall: dict[str, list[float]] = {v: [] for v in VARIANTS}
    cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(args.reps):
        for variant in VARIANTS:
            with recorders(variant, model):
                start, start_cpu = time.perf_counter(), time.process_time()
                step(model, optimizer, x, y)
                wall[variant].append(time.perf_counter() - start)
                cpu[variant].append(time.process_time() - start_cpu)
    # CPU time of this process is less disturbed than wall time by other jobs on the machine
    for title, times in [("wall-clock", wall), ("process CPU time", cpu)]:
        bare = statistics.median(times["bare"])
        print(f"\n{title}\n{'variant':12s} {'median s/step':>14s} {'overhead':>9s}   all steps (s)")
        for variant in VARIANTS:
            median = statistics.median(times[variant])
            steps = " ".join(f"{t:.3f}" for t in times[variant])
            print(f"{variant:12s} {median:14.3f} {median / bare - 1:+9.1%}   {steps}")


if __name__ == "__main__":
    main()
