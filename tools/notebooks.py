"""Author tooling for the book's notebooks: the shared setup cell, and execution in place.

    python -m tools.notebooks run book/02_residual_learning.ipynb   # execute, save outputs
    python -m tools.notebooks run --all                             # every chapter
    python -m tools.notebooks tidy                                  # setup cells, timestamps
    python -m tools.notebooks setup-cell                            # print the setup cell
    python -m tools.notebooks stress --all --jobs 2 --write-page    # the stress matrix

Chapters are committed with outputs (the build does not execute them); CI re-executes them with
nbval in strict mode, so run this after every change to a chapter.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
import time
from datetime import date
from pathlib import Path

import nbformat

from tools.common import (
    BOOK,
    RECORDED,
    chapters,
    machine,
    repo_branch,
    repo_url,
    write_json,
    write_notebook,
)

SETUP_TEMPLATE = """\
# Setup: install what is missing (e.g. in Colab) from the book's repository, at the branch this
# notebook comes from, so library and chapter match. --no-deps: never touch the torch that
# Colab ships. RESNET_EDU_SOURCE may point to a local checkout (used by the tests).
import importlib.util
import os
import subprocess
import sys

REPO_URL, BRANCH = "{url}", "{branch}"
source = os.environ.get("RESNET_EDU_SOURCE", f"git+{{REPO_URL}}@{{BRANCH}}")
wanted = {{"resnet_edu": f"resnet_edu @ {{source}}", "torchinfo": "torchinfo"}}
missing = [wanted[name] for name in wanted if importlib.util.find_spec(name) is None]
if missing:
    print("installing:", ", ".join(missing))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", *missing], check=True)

import torch

# Results depend on the thread count; RESNET_EDU_THREADS (default 2, as on CI) sets it, and
# RESNET_EDU_SEED (default 0) shifts every seed the chapter uses: another draw.
torch.set_num_threads(int(os.environ.get("RESNET_EDU_THREADS", "2")))
"""


def setup_source() -> str:
    """The exact source of the setup cell every chapter starts with (tagged ``remove-cell``:
    hidden in the book, run in Colab and CI)."""
    return SETUP_TEMPLATE.format(url=repo_url(), branch=repo_branch()).rstrip("\n")


def refresh_setup_cells(paths: list[Path]) -> None:
    """Rewrite the setup cell of existing notebooks from the template (it has no outputs), and
    drop execution timestamps; neither changes an output, so nothing needs re-running."""
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        cell = next(c for c in nb.cells if c.cell_type == "code")
        if "REPO_URL" not in cell.source:
            raise ValueError(f"{path}: its first code cell is not the setup cell")
        changed = strip_timestamps(nb)
        if cell.source != setup_source():
            cell.source = setup_source()
            changed = True
        if changed:
            write_notebook(nb, path)


def run(path: Path, timeout: int = 600) -> float:
    """Execute ``path`` in place (kernel cwd = book/) and return the wall time in seconds."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    os.environ.setdefault("PYTHONHASHSEED", "0")
    os.environ.setdefault("RESNET_EDU_STRICT", "1")  # a false claim must stop the recording
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(BOOK)}}
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    strip_timestamps(nb)
    write_notebook(nb, path)
    record(path, seconds)
    return seconds


def record(path: Path, seconds: float) -> None:
    """Note in ``book/_data/recorded.json`` which machine and versions recorded ``path``'s
    outputs, and how long it ran: the "How this book is checked" page shows it."""
    import json

    RECORDED.parent.mkdir(exist_ok=True)
    with open(RECORDED.with_suffix(".lock"), "w") as lock:  # helpers record chapters in parallel
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(RECORDED.read_text()) if RECORDED.exists() else {}
        data[path.name] = {
            "seconds": round(seconds, 1),
            "date": date.today().isoformat(),
            "threads": int(os.environ.get("RESNET_EDU_THREADS", "2")),
            "seed": int(os.environ.get("RESNET_EDU_SEED", "0") or 0),
            **machine(),
        }
        write_json(RECORDED, dict(sorted(data.items())))


def strip_timestamps(nb: nbformat.NotebookNode) -> bool:
    """Drop the kernel's per-cell execution timestamps: they change on every run, mean nothing
    to a reader and would make every re-run a large diff. Returns whether anything changed."""
    changed = False
    for cell in nb.cells:
        if "execution" in cell.metadata:
            del cell.metadata["execution"]
            changed = True
    return changed


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["stress"]:  # its own options: tools/stress.py
        from tools import stress

        return stress.main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m tools.notebooks", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="execute notebooks in place and save their outputs")
    p_run.add_argument("paths", nargs="*", type=Path, help="notebooks to run")
    p_run.add_argument("--all", action="store_true", help="run every chapter")
    p_tidy = sub.add_parser("tidy", help="refresh setup cells, drop timestamps (no re-run)")
    p_tidy.add_argument("paths", nargs="*", type=Path, help="notebooks (default: all)")
    sub.add_parser("setup-cell", help="print the setup cell shared by every chapter")
    sub.add_parser("stress", help="re-run chapters under a matrix of variants (see --help)")
    args = parser.parse_args(argv)
    if args.command == "tidy":
        refresh_setup_cells(args.paths or chapters())
        return 0
    if args.command == "setup-cell":
        print(setup_source())
        return 0
    paths = chapters() if args.all else args.paths
    if not paths:
        parser.error("give notebook paths or --all")
    for path in paths:
        seconds = run(path)
        print(f"{path}: {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
