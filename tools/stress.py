"""Re-execute chapters under variants that stand in for other readers' machines.

    python -m tools.stress book/03_why_plain_nets_fail.ipynb        # the default matrix
    python -m tools.stress --all --jobs 2 --write-page              # the book's stress page
    python -m tools.stress --matrix quick book/07_training.ipynb    # 3 variants, while writing
    python -m tools.stress --matrix seeds --seeds 8 --jobs 2 --write-page book/0[123]_*.ipynb

(``python -m tools.notebooks stress ...`` is the same command.) A committed chapter is one draw:
one machine, one thread count, one seed. Each variant re-runs a chapter with another seed
(``RESNET_EDU_SEED``), thread count (``RESNET_EDU_THREADS``) and instruction-set limit
(``ATEN_CPU_CAPABILITY``, ``ONEDNN_MAX_CPU_ISA``), in a fresh kernel, with claims checked but not
raised (``RESNET_EDU_STRICT=0``), so every claim of the chapter is evaluated. For each chapter it
reports which strictly compared cells changed output (what nbval would fail on), which cells
raised, and how many variants each claim passed in.

Matrices: ``default``, 4 seeds x 3 instruction sets, 1 or 2 threads (12 variants); ``quick``, 3
of those; ``seeds``, seeds 0 to N-1 (``--seeds N``, default 8) on the native instruction set
with 2 threads: a cheap pass that asks whether the claims hold for more draws than the matrix
has. ``--write-page`` keeps the default matrix in ``book/_data/stress.json`` and the seeds pass
in ``book/_data/stress_seeds.json``, and writes ``book/checked.md`` from both
(``tools/stress_page.py``).
"""

from __future__ import annotations

import argparse
import configparser
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import nbformat

from tools.common import (
    BOOK,
    CHECKED_PAGE,
    DATA,
    ROOT,
    STRESS,
    STRESS_SEEDS,
    chapters,
    machine,
    write_json,
)

#: Instruction-set limits: what PyTorch's own kernels (ATen) and oneDNN's may use.
ISAS = {
    "native": {},
    "default": {"ATEN_CPU_CAPABILITY": "default"},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "avx512": {"ATEN_CPU_CAPABILITY": "avx512"},
}
MATRICES = ("default", "quick", "seeds")
#: nbval does not compare these output keys (images without nbdime, and bookkeeping).
SKIP_KEYS = {"metadata", "traceback", "image/png", "image/jpeg", "execution_count"}


@dataclass(frozen=True)
class Variant:
    """One stand-in for another reader's machine."""

    seed: int
    isa: str
    threads: int

    @property
    def name(self) -> str:
        return f"seed{self.seed}-{self.isa}-t{self.threads}"

    def env(self) -> dict[str, str]:
        return {
            "RESNET_EDU_SEED": str(self.seed),
            "RESNET_EDU_THREADS": str(self.threads),
            **ISAS[self.isa],
        }


def matrix(name: str, seeds: int = 8) -> list[Variant]:
    """``default``: 4 seeds × 3 instruction sets (12 variants), threads 1 and 2 alternating so
    that every seed and every instruction set meets both; ``quick``: 3 of them; ``seeds``: seeds
    0 to ``seeds`` - 1, native instruction set, 2 threads."""
    isas = ["default", "avx2", "avx512"]
    full = [
        Variant(seed, isa, 1 if (seed + i) % 2 == 0 else 2)
        for seed in range(4)
        for i, isa in enumerate(isas)
    ]
    if name == "default":
        return full
    if name == "quick":
        return [full[4], full[8], full[9]]  # seed1-avx2-t1, seed2-avx512-t1, seed3-default-t2
    if name == "seeds":
        if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
            raise ValueError(f"seeds must be a whole number >= 1, got {seeds!r}")
        return [Variant(seed, "native", 2) for seed in range(seeds)]
    raise ValueError(f"matrix must be one of {', '.join(MATRICES)}; got {name!r}")


# --- comparing outputs the way nbval does -------------------------------------------------------


def _sanitizers() -> list[tuple[re.Pattern, str]]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(BOOK / "sanitize.cfg")
    return [(re.compile(parser[s]["regex"]), parser[s]["replace"]) for s in parser.sections()]


def ignored(cell: nbformat.NotebookNode) -> bool:
    """Whether nbval leaves this cell's output uncompared (its ``nbval-ignore-output`` or
    ``nbval-skip`` tag)."""
    tags = {t.lower() for t in cell.metadata.get("tags", [])}
    return bool(tags & {"nbval-ignore-output", "nbval-skip"})


def ignore_reason(cell: nbformat.NotebookNode) -> str:
    """Why the cell is not compared: its metadata ``ignore_reason``, one line."""
    return str(cell.metadata.get("ignore_reason", "")).strip()


def comparable(outputs: list, subs: list[tuple[re.Pattern, str]]) -> dict[str, list[str]]:
    """Outputs flattened to {key: [sanitised values]}, streams merged per name, as nbval does."""
    flat: dict[str, list] = {}
    streams: dict[str, str] = {}
    for out in outputs:
        if out.get("output_type") == "stream":
            streams[out["name"]] = streams.get(out["name"], "") + out["text"]
            continue
        for key, value in out.items():
            if key in SKIP_KEYS or key in ("output_type", "name"):
                continue
            items = value.items() if key == "data" else [(key, value)]
            for k, v in items:
                if k not in SKIP_KEYS:
                    flat.setdefault(k, []).append(_sanitize(v, subs))
    for name, text in streams.items():
        text = re.sub(r"^.*\r(?=[^\n])", "", text, flags=re.MULTILINE)
        flat.setdefault(f"stream:{name}", []).append(_sanitize(text, subs))
    return flat


def _sanitize(value, subs):
    if isinstance(value, list):
        value = "".join(value)
    if not isinstance(value, str):
        return value
    for regex, replace in subs:
        value = regex.sub(replace, value)
    return value


# --- running one chapter under one variant ------------------------------------------------------


def execute(path: Path, variant: Variant, timeout: int = 900) -> dict:
    """Run ``path`` in a fresh kernel under ``variant``: what changed, and what was claimed."""
    with tempfile.TemporaryDirectory(prefix="stress-") as tmp:
        out, log = Path(tmp) / path.name, Path(tmp) / "claims.jsonl"
        env = {
            **os.environ,
            **variant.env(),
            "RESNET_EDU_STRICT": "0",
            "RESNET_EDU_CLAIM_LOG": str(log),
            "PYTHONHASHSEED": "0",
            "OMP_WAIT_POLICY": "PASSIVE",
        }
        env.pop("CI", None)
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "tools.stress", "_execute", str(path), str(out), str(timeout)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            return {"variant": variant.name, "seconds": seconds, "failed_to_run": " ".join(tail)}
        ran = nbformat.read(out, as_version=4)
        claims = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    committed = nbformat.read(path, as_version=4)
    return {
        "variant": variant.name,
        "seconds": round(seconds, 1),
        **_differences(committed, ran),
        "claims": claims,
    }


def _differences(committed, ran) -> dict:
    subs = _sanitizers()
    changed, errors = [], []
    code = [(i, c) for i, c in enumerate(committed.cells) if c.cell_type == "code"]
    ran_code = [c for c in ran.cells if c.cell_type == "code"]
    for (index, ref), new in zip(code, ran_code, strict=True):
        for out in new.get("outputs", []):
            if out.get("output_type") == "error":
                errors.append({"cell": index, "error": f"{out['ename']}: {out['evalue']}"[:300]})
        if not ignored(ref) and comparable(ref.outputs, subs) != comparable(new.outputs, subs):
            changed.append(index)
    return {"changed_cells": changed, "errors": errors}


def _execute_main(path: str, out: str, timeout: str) -> int:
    """Child process: execute a notebook, keep going past errors, write the result."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=int(timeout),
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(BOOK)}},
    )
    client.execute()
    nbformat.write(nb, out)
    return 0


# --- the whole matrix, and its report -----------------------------------------------------------


def stress(paths: list[Path], variants: list[Variant], jobs: int = 1) -> dict:
    """Run every chapter under every variant (``jobs`` at a time); results keyed by chapter."""
    results = {path.name: _chapter_facts(path) for path in paths}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        tasks = [(p, i, v) for p in paths for i, v in enumerate(variants)]
        futures = {pool.submit(execute, p, v): (p, i) for p, i, v in tasks}
        done = {}
        for future in as_completed(futures):
            path, i = futures[future]
            done[path.name, i] = future.result()
            print(_run_line(path, done[path.name, i]), flush=True)
    for (name, _), run in sorted(done.items()):  # in matrix order, whatever finished first
        results[name]["runs"].append(run)
    return {
        "date": date.today().isoformat(),
        "machine": machine(),
        "variants": [asdict(v) | {"name": v.name} for v in variants],
        "chapters": results,
    }


def _chapter_facts(path: Path) -> dict:
    nb = nbformat.read(path, as_version=4)
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    excluded = [{"cell": i, "reason": ignore_reason(c)} for i, c in code if ignored(c)]
    return {"code": fingerprint(nb), "code_cells": len(code), "excluded": excluded, "runs": []}


def fingerprint(nb: nbformat.NotebookNode) -> str:
    """A hash of a chapter's code cells: a stress result is stale once it changes."""
    code = "\n\0".join(c.source for c in nb.cells if c.cell_type == "code")
    return hashlib.sha256(code.encode()).hexdigest()[:16]


def merge(old: dict, new: dict) -> dict:
    """``new``'s chapters replace ``old``'s; ``old``'s others stay if run on the same matrix."""
    if not old or old.get("variants") != new["variants"]:
        return new
    return {**new, "chapters": {**old["chapters"], **new["chapters"]}}


def _run_line(path: Path, run: dict) -> str:
    if "failed_to_run" in run:
        return f"{path.name} [{run['variant']}] FAILED TO RUN: {run['failed_to_run']}"
    failed = [c["claim"] for c in run["claims"] if not c["passed"]]
    return (
        f"{path.name} [{run['variant']}] {run['seconds']:.0f} s, "
        f"changed strict cells: {run['changed_cells'] or 'none'}, errors: {len(run['errors'])}, "
        f"claims {len(run['claims']) - len(failed)}/{len(run['claims'])}"
        + "".join(f"\n    ✗ {c}" for c in failed)
        + "".join(f"\n    error in cell {e['cell']}: {e['error']}" for e in run["errors"])
    )


def summary(results: dict) -> tuple[int, int]:
    """(problems, claims checked): a problem is a changed strict cell, an error or a ✗."""
    problems = checked = 0
    for chapter in results["chapters"].values():
        for run in chapter["runs"]:
            if "failed_to_run" in run:
                problems += 1
                continue
            problems += len(run["changed_cells"]) + len(run["errors"])
            problems += sum(not c["passed"] for c in run["claims"])
            checked += len(run["claims"])
    return problems, checked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.stress",
        description=__doc__.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks to stress")
    parser.add_argument("--all", action="store_true", help="every chapter")
    parser.add_argument("--matrix", default="default", choices=MATRICES)
    parser.add_argument("--seeds", type=int, default=8, help="--matrix seeds: seeds 0..N-1 (8)")
    parser.add_argument("--jobs", type=int, default=1, help="variants run at once (default 1)")
    page = CHECKED_PAGE.relative_to(ROOT)
    parser.add_argument("--write-page", action="store_true", help=f"write {page}")
    args = parser.parse_args(argv)
    paths = chapters() if args.all else args.paths
    if not paths:
        parser.error("give notebook paths or --all")
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    if args.write_page and args.matrix == "quick":
        parser.error("--write-page records the default matrix or the seeds pass, not quick")
    for path in paths:
        if not path.is_file():
            parser.error(f"no such notebook: {path}")
    try:
        variants = matrix(args.matrix, args.seeds)
    except ValueError as exc:
        parser.error(f"--seeds: {exc}")
    results = stress([p.resolve() for p in paths], variants, jobs=args.jobs)
    problems, checked = summary(results)
    print(f"{problems} problems; {checked} claim checks over {len(results['variants'])} variants")
    if args.write_page:
        from tools.stress_page import write_page

        store = STRESS_SEEDS if args.matrix == "seeds" else STRESS
        DATA.mkdir(exist_ok=True)
        old = json.loads(store.read_text()) if store.exists() else {}
        write_json(store, merge(old, results))
        write_page()
        print(f"wrote {store.relative_to(ROOT)} and {page}")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "_execute":
        sys.exit(_execute_main(*sys.argv[2:]))
    sys.exit(main())
