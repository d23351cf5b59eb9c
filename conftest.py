"""Project-wide pytest hooks and fixtures (the unit tests in tests/ and nbval on book/).

- The chapters' run times under nbval, printed at the end: every chapter has a budget (60 s on
  2 CPU cores, 90 s for the capstone), and the table shows where each one stands.
- ``built_book``: the HTML book, ``_build/html``, built once if ``make book`` has not built it.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
_notebook_seconds: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not _notebook_seconds:
        return
    terminalreporter.section("chapter run times (nbval)")
    for path, seconds in sorted(_notebook_seconds.items()):
        terminalreporter.write_line(f"{seconds:7.1f} s  {path}")


@pytest.fixture(scope="session")
def built_book() -> Path:
    """``_build/html``, as ``make book`` builds it (built here first if it is missing)."""
    html = ROOT / "_build" / "html"
    html.parent.mkdir(exist_ok=True)
    with open(html.parent / ".build.lock", "w") as lock:  # pytest-xdist: one worker builds
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (html / "index.html").exists():
            jupyter_book = Path(sys.executable).parent / "jupyter-book"  # the venv's command
            build = [str(jupyter_book), "build", "-W", "-n", "--keep-going", "--all", str(ROOT)]
            subprocess.run(build, check=True)
    return html
