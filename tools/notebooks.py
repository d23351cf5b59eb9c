"""Author tooling for the book's notebooks: the shared setup cell, and execution in place.

    python tools/notebooks.py run book/03_residual_learning.ipynb   # execute, save outputs
    python tools/notebooks.py run --all                              # every chapter
    python tools/notebooks.py tidy                                   # setup cells, timestamps
    python tools/notebooks.py setup-cell                             # print the setup cell
    python tools/notebooks.py stress --all --jobs 2 --write-page     # the stress matrix

Chapters are committed with outputs (the build does not execute them); CI re-executes them with
nbval in strict mode, so run this after every change to a chapter.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"

#: Tag of the setup cell; it is removed from the HTML (``remove-cell``) but runs in Colab/CI.
SETUP_TAGS = ["remove-cell"]

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


def _repository() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]


def repo_url() -> str:
    """The repository URL, defined once in ``_config.yml`` (``repository.url``)."""
    return _repository()["url"].rstrip("/")


def repo_branch() -> str:
    """The branch the book is published from (``repository.branch`` in ``_config.yml``)."""
    return str(_repository().get("branch") or "main")


def setup_source() -> str:
    """The exact source of the setup cell every chapter starts with."""
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
            write_atomic(nb, path)


def chapters() -> list[Path]:
    """Every notebook of the book, in file-name order."""
    return sorted(BOOK.glob("*.ipynb"))


def write_atomic(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write a notebook through a temp file and a rename: never a half-written chapter."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            nbformat.write(nb, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build(path: Path, cells: list[tuple]) -> nbformat.NotebookNode:
    """Create (or overwrite) a chapter from ``cells`` and write it, without outputs.

    ``cells`` is a list of ``("md", source)`` and ``("code", source[, tags or options])``, where
    options is a dict ``{"tags": [...], "caption": str, "alt": str, "name": "fig-label"}`` for a
    cell whose output is a figure (refer to it with ``{numref}`fig-label```); the shared setup
    cell is inserted after the first (title) cell. Tags used in the book: ``remove-cell`` (hidden
    assertions), ``hide-input`` (show the figure, fold the code), ``remove-input``.
    Example::

        build(BOOK / "03_residual_learning.ipynb", [
            ("md", "# Residual learning\n..."),
            ("code", "import resnet_edu"),
            ("code", "assert 1 + 1 == 2", ["remove-cell"]),
        ])
    """
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["colab"] = {"provenance": []}
    setup = nbformat.v4.new_code_cell(setup_source(), metadata={"tags": list(SETUP_TAGS)})
    for i, cell in enumerate(cells):
        kind, source, *rest = cell
        options = rest[0] if rest else []
        if isinstance(options, dict):  # {"tags": [...], "caption": ..., "alt": ..., "name": ...}
            tags = options.get("tags", [])
        else:
            tags, options = options, {}
        if kind == "md":
            new = nbformat.v4.new_markdown_cell(source.strip("\n"))
        elif kind == "code":
            new = nbformat.v4.new_code_cell(source.strip("\n"))
        else:
            raise ValueError(f"cell kind must be 'md' or 'code', got {kind!r}")
        if tags:
            new.metadata["tags"] = list(tags)
        if "caption" in options:  # a numbered figure with a caption, alt text and a label
            new.metadata["mystnb"] = {
                "figure": {"caption": options["caption"], "name": options["name"]},
                "image": {"alt": options["alt"]},
            }
        nb.cells.append(new)
        if i == 0:
            nb.cells.append(setup)
    for i, cell in enumerate(nb.cells):  # stable ids keep diffs small
        cell["id"] = f"{path.stem[:40]}-{i:03d}".replace("_", "-")
    write_atomic(nb, path)
    return nb


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
    write_atomic(nb, path)
    record(path, seconds)
    return seconds


def record(path: Path, seconds: float) -> None:
    """Note in ``book/_data/recorded.json`` which machine and versions recorded ``path``'s
    outputs, and how long it ran: the "How this book is checked" page shows it."""
    import fcntl
    import json
    from datetime import date

    from stress import RECORDED, machine

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
        tmp = RECORDED.with_suffix(".tmp")
        tmp.write_text(json.dumps(dict(sorted(data.items())), indent=1) + "\n")
        os.replace(tmp, RECORDED)


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
        import stress

        return stress.main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
