"""What every benchmark does first: set the threads and the seed, and say what machine it ran on
(a timing means nothing without it)."""

from __future__ import annotations

import os
import platform

import torch
import torchvision


def prepare(threads: int | None, reps: int, **extra: object) -> str:
    """Set torch's intra-op threads (when given) and seed 0; return the line that describes the
    run: versions, CPU, threads, load average, ``extra`` (e.g. ``batch=8``), repetitions."""
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    parts = [
        f"torch {torch.__version__}, torchvision {torchvision.__version__}",
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        f"{torch.get_num_threads()} threads, load average {load:.1f}",
        *(f"{name} {value}" for name, value in extra.items()),
        f"{reps} repetitions",
    ]
    return ", ".join(parts)
