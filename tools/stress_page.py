"""Write ``book/checked.md``, the appendix "How this book is checked", from the stress results.

Called by ``python -m tools.stress --write-page``; reads ``book/_data/stress.json`` (the
12-variant matrix), ``book/_data/stress_seeds.json`` (the seeds-only pass, where present),
``book/_data/recorded.json`` (who recorded the committed outputs) and
``book/_data/colab_check.json`` (the Colab stand-in's last run, where present).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from tools.common import (
    BOOK,
    CHECKED_PAGE,
    COLAB_CHECK,
    RECORDED,
    STRESS,
    STRESS_SEEDS,
    reading_order,
    write_text,
)

INTRO = """\
(app-checked)=
# {title}

Every number in this book was computed by the chapter that states it, on one machine. That
recording is one draw. The same training steps end at other losses on another CPU, with another
thread count or with another seed. So the book is checked in three ways.

1. **Outputs that are the same on every machine are compared exactly.** CI runs every chapter
   again with [nbval](https://github.com/computationalmodelling/nbval). It compares each
   cell's output with the committed one. Such outputs are parameter counts, mult-adds, equality
   with torchvision, shapes, the exercise checker, and the summary line of each claims cell. CI
   does this twice, with one thread each time. The second time, PyTorch may use only AVX2
   kernels, and every seed is shifted.
2. **Outputs that depend on the machine are not compared.** Training curves, lesions and loss
   landscapes are examples. Such a cell carries {{term}}`nbval`'s `nbval-ignore-output` tag, and
   its metadata says why (`ignore_reason`). The chapter states what the cell shows as
   {{term}}`claims <claim>`. A folded cell checks a section's claims with `resnet_edu.claims`
   (`with claims():` and one `claim(...)` per claim). Under CI a false claim fails the build. In
   your own session it prints a ✗ line with the measured values, and "Run all" goes on.
3. **Every claim is checked on stand-ins for other readers' machines.** A stand-in changes the
   seed (`RESNET_EDU_SEED`), the thread count (`RESNET_EDU_THREADS`) or the instruction set
   (`ATEN_CPU_CAPABILITY`, `ONEDNN_MAX_CPU_ISA`). The matrix below has 12 of them. A cheaper
   pass runs more seeds. `python -m tools.stress --write-page` wrote this page.

To run a chapter as another draw yourself, set `RESNET_EDU_SEED=1` (or any whole number)
before you start the notebook.
"""


def write_page() -> None:
    """Render the page from the files in ``book/_data`` and write it."""
    write_text(
        CHECKED_PAGE,
        render(_load(STRESS), _load(STRESS_SEEDS), _load(RECORDED), _load(COLAB_CHECK)),
    )


def render(matrix: dict, seeds: dict, recorded: dict, colab: dict) -> str:
    """The page's Markdown; ``seeds``, ``recorded`` and ``colab`` may be empty."""
    parts = [INTRO.format(title=_title()), _recording(recorded)]
    if matrix:
        parts += [_matrix(matrix), _chapters(matrix, recorded), _excluded(matrix)]
    if seeds:
        parts.append(_seeds(seeds))
    parts += [_claims(matrix, seeds), _colab(colab)]
    return "\n".join(p for p in parts if p).rstrip() + "\n"


def _title() -> str:
    letter = next((p.number for p in reading_order() if p.path == CHECKED_PAGE), "")
    return f"Appendix {letter}: How this book is checked" if letter else "How this book is checked"


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _versions(m: dict) -> str:
    return (
        f"**{m['cpu']}** ({m['cores']} cores, PyTorch CPU capability `{m['capability']}`), "
        f"Python {m['python']}, torch {m['torch']}, torchvision {m['torchvision']}"
    )


def _recording(recorded: dict) -> str:
    if not recorded:
        return ""
    keys = ("cpu", "cores", "capability", "python", "torch", "torchvision")
    machines = Counter(tuple(r[k] for k in keys) for r in recorded.values())
    lines = ["## Who recorded the committed outputs", ""]
    for values, n in machines.most_common():
        lines.append(f"- {n} notebook(s) on {_versions(dict(zip(keys, values, strict=True)))}.")
    dates = sorted({r["date"] for r in recorded.values()})
    when = dates[0] if len(dates) == 1 else f"between {dates[0]} and {dates[-1]}"
    seeds = ", ".join(str(s) for s in sorted({r.get("seed", 0) for r in recorded.values()}))
    threads = ", ".join(str(t) for t in sorted({r.get("threads", 2) for r in recorded.values()}))
    lines += [
        "",
        f"Recorded {when} with `RESNET_EDU_SEED` {seeds} and {threads} thread(s), native "
        "instruction set.",
        "",
    ]
    return "\n".join(lines)


def _matrix(results: dict) -> str:
    lines = [
        "## The matrix",
        "",
        f"Run on {results['date']} on {_versions(results['machine'])}: "
        f"{len(results['variants'])} variants of every chapter.",
        "",
        "| variant | `RESNET_EDU_SEED` | instruction set | threads |",
        "|---|---|---|---|",
    ]
    for v in results["variants"]:
        lines.append(f"| `{v['name']}` | {v['seed']} | {v['isa']} | {v['threads']} |")
    return "\n".join(lines) + "\n"


def _tally(chapter: dict) -> tuple[str, int, int, int, int]:
    """(span of run times, changed compared cells, errors, claims passed, claims checked);
    a run that failed to start counts as one changed cell."""
    runs = [r for r in chapter["runs"] if "failed_to_run" not in r]
    secs = [r["seconds"] for r in runs]
    span = f"{min(secs):.0f}–{max(secs):.0f}" if secs else "–"
    changed = sum(len(r["changed_cells"]) for r in runs) + len(chapter["runs"]) - len(runs)
    claims = [c for r in runs for c in r["claims"]]
    errors = sum(len(r["errors"]) for r in runs)
    return span, changed, errors, sum(c["passed"] for c in claims), len(claims)


def _chapters(results: dict, recorded: dict) -> str:
    lines = [
        "## Chapters",
        "",
        "| chapter | recorded run (s) | stress runs (s) | code cells | not compared | "
        "changed compared cells | errors | claims passed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, ch in sorted(results["chapters"].items()):
        span, changed, errors, passed, checked = _tally(ch)
        rec = recorded.get(name, {}).get("seconds", "–")
        lines.append(
            f"| {_link(name)} | {rec} | {span} | {ch['code_cells']} | {len(ch['excluded'])} | "
            f"{changed} | {errors} | {passed}/{checked} |"
        )
    lines += [
        "",
        "The recorded run is a chapter's time alone on the machine above. The budget is 60 s",
        "(90 s for the capstone). Stress runs share the machine, two at a time, so theirs are",
        "longer.",
        "",
    ]
    return "\n".join(lines)


def _excluded(results: dict) -> str:
    lines = ["Cells that are not compared (numbered from 0 among all cells), and why:", ""]
    for name, ch in sorted(results["chapters"].items()):
        for ex in ch["excluded"]:
            reason = (ex["reason"] or "no reason given").rstrip(".")
            lines.append(f"- {_link(name)}, cell {ex['cell']}: {reason}.")
    return "\n".join(lines) + "\n"


def _seeds(results: dict) -> str:
    seeds = [v["seed"] for v in results["variants"]]
    lines = [
        "## More seeds",
        "",
        f"A second, cheaper pass ran seeds {min(seeds)} to {max(seeds)} on the native "
        f"instruction set with 2 threads, on {results['date']}, on "
        f"{_versions(results['machine'])}. It asks whether the claims hold for more draws than "
        "the matrix has.",
        "",
        "| chapter | runs | changed compared cells | errors | claims passed |",
        "|---|---|---|---|---|",
    ]
    for name, ch in sorted(results["chapters"].items()):
        _, changed, errors, passed, checked = _tally(ch)
        lines.append(
            f"| {_link(name)} | {len(ch['runs'])} | {changed} | {errors} | {passed}/{checked} |"
        )
    return "\n".join(lines) + "\n"


def _held(results: dict, name: str) -> dict[str, list[int]]:
    """Each claim of chapter ``name``: [variants it held in, variants it was checked in]."""
    counts: dict[str, list[int]] = {}
    for run in results.get("chapters", {}).get(name, {}).get("runs", []):
        for c in run.get("claims", []):
            tally = counts.setdefault(c["claim"], [0, 0])
            tally[0] += c["passed"]
            tally[1] += 1
    return counts


def _claims(matrix: dict, seeds: dict) -> str:
    names = sorted(set(matrix.get("chapters", {})) | set(seeds.get("chapters", {})))
    lines = ["## Every claim, and in how many runs it held", ""]
    for name in names:
        in_matrix, in_seeds = _held(matrix, name), _held(seeds, name)
        if not (in_matrix or in_seeds):
            continue
        lines += [f"### {_link(name)}", "", "| claim | the matrix | more seeds |", "|---|---|---|"]
        for text in dict.fromkeys([*in_matrix, *in_seeds]):
            cells = [_mark(in_matrix.get(text)), _mark(in_seeds.get(text))]
            lines.append(f"| {text.replace('|', '/')} | {cells[0]} | {cells[1]} |")
        lines.append("")
    return "\n".join(lines)


def _mark(tally: list[int] | None) -> str:
    if not tally:
        return "–"
    ok, n = tally
    return f"{'✓' if ok == n else '✗'} {ok}/{n}"


def _colab(check: dict) -> str:
    if not check:
        return ""
    lines = [
        "## The Colab stand-in",
        "",
        f"On {check['date']}, Python {check['python']}, torch {check['torch']}: every chapter's "
        "Colab edition, run top to bottom in a fresh virtual environment (`make colab-check`).",
        "",
        "| notebook | result | seconds |",
        "|---|---|---|",
    ]
    for r in check.get("results", []):
        result = "passed" if r["passed"] else f"failed: {r['error'] or 'a claim did not hold'}"
        lines.append(f"| `{r['notebook']}` | {result.replace('|', '/')} | {r['seconds']} |")
    return "\n".join(lines) + "\n"


def _link(name: str) -> str:
    stem = name.removesuffix(".ipynb")
    return f"{{doc}}`{stem}`" if (BOOK / name).exists() else stem
