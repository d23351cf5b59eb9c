"""Seconds per epoch on digits, and the overhead of ``fit`` over a bare training loop.

Usage: python benchmarks/bench_train.py [--threads N] [--epochs E] [--models resnet20 ...]

For each model: the median time of an epoch of ``fit`` (training + evaluation on the test set,
no checkpoint, no progress bar) and of a hand-written loop doing the same work (same model, same
data, same SGD step, same evaluation). The overhead is fit / bare - 1; the target is <= 5%.
Timings on a shared machine are noisy: the script alternates the two loops epoch by epoch so
that load changes hit both alike, and reports medians.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from resnet_edu import cifar, data
from resnet_edu.train import TrainConfig, fit


def bare_epoch(model, loaders, optimizer) -> None:
    """The loop a reader would write: shuffle, forward, loss, backward, step; then evaluate."""
    model.train()
    for x, y in loaders.train:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        for x, y in loaders.test:
            (model(x).argmax(1) != y).sum().item()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--epochs", type=int, default=3, help="timed epochs per loop and model")
    p.add_argument("--models", nargs="+", default=["resnet20", "resnet56", "plain56"])
    p.add_argument("--size", type=int, default=8, help="digits image side")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    loaders = data.digits(size=args.size)
    print(
        f"digits {args.size}x{args.size}, {len(loaders.train.dataset)} train images, batch 128, "
        f"{args.threads} threads, torch {torch.__version__}"
    )
    print(f"{'model':10s} {'fit s/epoch':>12s} {'bare s/epoch':>13s} {'overhead':>9s}")
    for name in args.models:
        torch.manual_seed(0)
        model_fit = getattr(cifar, name)(num_classes=10)
        model_bare = getattr(cifar, name)(num_classes=10)
        opt = torch.optim.SGD(model_bare.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
        config = TrainConfig(
            epochs=1, lr=0.01, milestones=(), progress=False, threads=args.threads, device="cpu"
        )
        bare_epoch(model_bare, loaders, opt)  # warm-up: allocator, oneDNN kernels
        fit(model_fit, loaders, config)
        t_fit, t_bare = [], []
        for _ in range(args.epochs):
            start = time.perf_counter()
            bare_epoch(model_bare, loaders, opt)
            t_bare.append(time.perf_counter() - start)
            start = time.perf_counter()
            fit(model_fit, loaders, config)
            t_fit.append(time.perf_counter() - start)
        f, b = statistics.median(t_fit), statistics.median(t_bare)
        print(f"{name:10s} {f:12.2f} {b:13.2f} {100 * (f / b - 1):8.1f}%", flush=True)


if __name__ == "__main__":
    main()
