"""Write ``book/checked.md``, "How this book is checked", from the stress results.

Called by ``tools/notebooks.py stress --write-page``; reads ``book/_data/stress.json`` (the
matrix), ``book/_data/recorded.json`` (who recorded the committed outputs) and, where present,
``book/_data/colab_check.json`` (the Colab stand-in's last run).
"""

from __future__ import annotations

import json
import os
from collections import Counter

from stress import COLAB_CHECK, PAGE, RECORDED, ROOT

INTRO = """\
# How this book is checked

Every number in this book was computed by the chapter that states it, on one machine. That
recording is one draw: the same training steps end at other losses on another CPU, another thread
count or another seed. So the book is checked in three ways.

1. **Invariant outputs are compared exactly.** CI re-executes every chapter with
   [nbval](https://github.com/computationalmodelling/nbval) and compares each cell's output with
   the committed one: parameter counts, mult-adds, equality with torchvision, shapes, the
   exercise checker, and every `✓` line of a claim. CI does this twice: on its own machine, and
   again with PyTorch limited to AVX2 kernels, one thread and another seed.
2. **Machine-dependent outputs are not compared** (training curves, lesions, landscapes): each
   such cell carries nbval's `nbval-ignore-output` tag and says why in its metadata, and the
   chapter states what it shows as a *claim*, checked by `resnet_edu.claims.claim`. Under CI a
   false claim fails the build; in your own session it prints a ✗ line with the measured values
   and "Run all" goes on.
3. **Every claim is checked on a matrix of stand-ins for other readers' machines**: other seeds
   (`RESNET_EDU_SEED`), thread counts (`RESNET_EDU_THREADS`) and instruction sets
   (`ATEN_CPU_CAPABILITY`, `ONEDNN_MAX_CPU_ISA`), by `python tools/notebooks.py stress --all
   --write-page`, which wrote this page.

To re-run a chapter as another draw yourself, set `RESNET_EDU_SEED=1` (or any whole number)
before starting the notebook.
"""


def write_page(results: dict) -> None:
    recorded = _load(RECORDED)
    parts = [INTRO, _recording(recorded), _matrix(results), _chapters(results, recorded)]
    parts += [_claims(results), _colab(_load(COLAB_CHECK))]
    tmp = PAGE.with_suffix(".tmp")
    tmp.write_text("\n".join(p for p in parts if p).rstrip() + "\n", encoding="utf-8")
    os.replace(tmp, PAGE)


def _load(path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def _recording(recorded: dict) -> str:
    if not recorded:
        return ""
    machines = Counter(
        (r["cpu"], r["cores"], r["capability"], r["python"], r["torch"], r["torchvision"])
        for r in recorded.values()
    )
    lines = ["## Who recorded the committed outputs", ""]
    for (cpu, cores, cap, py, torch, tv), n in machines.most_common():
        lines.append(
            f"- {n} notebook(s) on **{cpu}** ({cores} cores, PyTorch CPU capability `{cap}`), "
            f"Python {py}, torch {torch}, torchvision {tv}."
        )
    dates = sorted({r["date"] for r in recorded.values()})
    when = dates[0] if len(dates) == 1 else f"between {dates[0]} and {dates[-1]}"
    seeds = sorted({r.get("seed", 0) for r in recorded.values()})
    threads = sorted({r.get("threads", 2) for r in recorded.values()})
    lines += [
        "",
        f"Recorded {when} with `RESNET_EDU_SEED` {', '.join(map(str, seeds))} and "
        f"{', '.join(map(str, threads))} thread(s), native instruction set.",
        "",
    ]
    return "\n".join(lines)


def _matrix(results: dict) -> str:
    m = results["machine"]
    lines = [
        "## The matrix",
        "",
        f"Run on {results['date']} on **{m['cpu']}** ({m['cores']} cores, native capability "
        f"`{m['capability']}`), Python {m['python']}, torch {m['torch']}, torchvision "
        f"{m['torchvision']}: {len(results['variants'])} variants of every chapter.",
        "",
        "| variant | `RESNET_EDU_SEED` | instruction set | threads |",
        "|---|---|---|---|",
    ]
    for v in results["variants"]:
        lines.append(f"| `{v['name']}` | {v['seed']} | {v['isa']} | {v['threads']} |")
    return "\n".join(lines) + "\n"


def _chapters(results: dict, recorded: dict) -> str:
    lines = [
        "## Chapters",
        "",
        "| chapter | recorded run (s) | stress runs (s) | code cells | not compared | "
        "changed compared cells | errors | claims passed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, ch in sorted(results["chapters"].items()):
        runs = [r for r in ch["runs"] if "failed_to_run" not in r]
        secs = [r["seconds"] for r in runs]
        span = f"{min(secs):.0f}–{max(secs):.0f}" if secs else "–"
        rec = recorded.get(name, {}).get("seconds")
        changed = sum(len(r["changed_cells"]) for r in runs) + len(ch["runs"]) - len(runs)
        errors = sum(len(r["errors"]) for r in runs)
        claims = [c for r in runs for c in r["claims"]]
        passed = sum(c["passed"] for c in claims)
        lines.append(
            f"| {_link(name)} | {rec if rec is not None else '–'} | {span} | {ch['code_cells']} | "
            f"{len(ch['excluded'])} | {changed} | {errors} | {passed}/{len(claims)} |"
        )
    lines += [
        "",
        "The recorded run is a chapter's time on its own on the machine above (the budget is 90 s,",
        "120 s for part III); stress runs share the machine, two at a time, so theirs are longer.",
        "",
        "Cells not compared (numbered from 0 among all cells), and why:",
        "",
    ]
    for name, ch in sorted(results["chapters"].items()):
        for ex in ch["excluded"]:
            reason = ex["reason"] or "(no reason given)"
            lines.append(f"- {_link(name)}, cell {ex['cell']}: {reason}")
    return "\n".join(lines) + "\n"


def _claims(results: dict) -> str:
    lines = ["## Every claim, and in how many variants it held", ""]
    for name, ch in sorted(results["chapters"].items()):
        counts: dict[str, list[int]] = {}
        for run in ch["runs"]:
            for c in run.get("claims", []):
                tally = counts.setdefault(c["claim"], [0, 0])
                tally[0] += c["passed"]
                tally[1] += 1
        if not counts:
            continue
        lines += [f"### {_link(name)}", "", "| claim | held in |", "|---|---|"]
        for text, (ok, n) in counts.items():
            mark = "✓" if ok == n else "✗"
            lines.append(f"| {text.replace('|', '/')} | {mark} {ok}/{n} |")
        lines.append("")
    return "\n".join(lines)


def _colab(check: dict) -> str:
    if not check:
        return ""
    lines = [
        "## The Colab stand-in",
        "",
        check.get("summary", "")
        or "Every chapter's Colab edition, run top to bottom in a fresh virtual environment.",
        "",
        "| notebook | result | seconds |",
        "|---|---|---|",
    ]
    for name, r in sorted(check.get("notebooks", {}).items()):
        lines.append(f"| {name} | {r.get('result', '?')} | {r.get('seconds', '–')} |")
    return "\n".join(lines) + "\n"


def _link(name: str) -> str:
    stem = name.removesuffix(".ipynb")
    return f"{{doc}}`{stem}`" if (ROOT / "book" / name).exists() else stem
