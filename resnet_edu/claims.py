"""Claims a chapter makes, checked where they are made (every chapter).

One run is one draw: a training result recorded on one machine differs on another CPU, another
thread count or another seed. So a chapter states each machine-dependent result as a *claim*,
a sentence and the measured values that back it, and checks it with :func:`claim`:

    claim("plain-56 ends with a higher training error than plain-20",
          err56 > err20 + 10, measured={"plain-20": err20, "plain-56": err56},
          meaning="with this budget the deep plain net has not yet started to learn")

What a failed claim does depends on who runs the chapter:

* **strict** (CI, nbval, ``python -m tools.notebooks run``; ``RESNET_EDU_STRICT=1`` or ``CI`` set):
  it raises :class:`ClaimError`, so a false claim fails the build;
* **a reader's session** (Colab, a laptop, a GPU): it prints one line, ✗ with the measured
  values and what the mismatch means, and "Run all" goes on.

A claim that holds prints ``✓ <statement>`` in both, an output that is the same on every
machine. A chapter gathers the claims of one section in one folded cell, inside ``with claims():``,
which shows one summary line (``✓ 3 of 3 claims hold``) with the claims folded under it::

    with claims():
        claim("plain-56 ends above plain-20", err56 > err20 + 10, measured={...})
        claim("ResNet-56 ends below plain-56", res56 < err56, measured={...})
 ``RESNET_EDU_CLAIM_LOG`` names a file to which every claim is appended as a JSON line;
``python -m tools.stress`` uses it to count passes over its matrix of variants.

Seeds come from one place, :func:`seed`: ``RESNET_EDU_SEED`` (default 0) shifts every seed a
chapter uses, so a whole chapter can be re-run as another draw.
"""

from __future__ import annotations

import html
import json
import math
import numbers
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

__all__ = ["ClaimError", "claim", "claims", "seed", "strict"]

_TRUE = {"1", "true", "yes", "on"}
_gathered: list[list[tuple[bool, str]]] = []  # the open ``claims()`` blocks, innermost last


class ClaimError(AssertionError):
    """A claim of the chapter does not hold in this run (raised in strict mode only)."""


def seed(offset: int = 0) -> int:
    """The seed for a chapter's ``offset``-th random draw: ``RESNET_EDU_SEED + offset``.

    >>> import os; os.environ.pop("RESNET_EDU_SEED", None) and None
    >>> seed(), seed(3)
    (0, 3)
    """
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise TypeError(f"offset must be an int >= 0, got {type(offset).__name__} {offset!r}")
    raw = os.environ.get("RESNET_EDU_SEED", "0").strip() or "0"
    try:
        base = int(raw)
    except ValueError:
        raise ValueError(
            f"RESNET_EDU_SEED must be a whole number >= 0, got {raw!r}; unset it for the "
            "seeds the book was recorded with"
        ) from None
    if base < 0:
        raise ValueError(f"RESNET_EDU_SEED must be a whole number >= 0, got {base}")
    return base + offset


def strict() -> bool:
    """Whether a failed claim raises: ``RESNET_EDU_STRICT`` if set, else whether ``CI`` is set."""
    explicit = os.environ.get("RESNET_EDU_STRICT")
    if explicit is not None and explicit.strip():
        return explicit.strip().lower() in _TRUE
    return os.environ.get("CI", "").strip().lower() in _TRUE


def _format(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    value = float(value)
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    if 1e-3 <= abs(value) < 1e5:
        return f"{value:.4g}"
    return f"{value:.3e}"


def _measured_text(measured: Mapping[str, Any] | None) -> str:
    if not measured:
        return ""
    return ", ".join(f"{key} = {_format(value)}" for key, value in measured.items())


def claim(
    statement: str,
    holds: Any,
    *,
    measured: Mapping[str, Any] | None = None,
    meaning: str = "",
) -> None:
    """Check one claim of the chapter, and say so in one line.

    It returns nothing, so a claim as a cell's last line adds no ``True`` to the cell's output.

    Args:
        statement: the claim as the prose makes it, one sentence.
        holds: the check, evaluated by the caller (a bool, or a one-element tensor or array).
        measured: the values behind the check, shown when it fails (and logged for the stress
            page); numbers are printed to four significant digits.
        meaning: what a failure would mean for the reader, e.g. "training went differently on
            this machine; the chapter's figure shows the run we recorded".

    Raises:
        ClaimError: the claim does not hold and :func:`strict` is true.
    """
    if not isinstance(statement, str) or not statement.strip():
        raise TypeError(f"statement must be a non-empty str, got {statement!r}")
    if measured is not None and not isinstance(measured, Mapping):
        raise TypeError(
            f"measured must be a mapping of names to values, got {type(measured).__name__}"
        )
    if not isinstance(meaning, str):
        raise TypeError(f"meaning must be a str, got {type(meaning).__name__}")
    if hasattr(holds, "item") and getattr(holds, "ndim", 0) == 0:
        holds = holds.item()
    if not isinstance(holds, (bool, numbers.Integral)) or isinstance(holds, float):
        raise TypeError(
            f"holds must be a bool (the evaluated check), got {type(holds).__name__} {holds!r}"
        )
    passed = bool(holds)
    values = _measured_text(measured)
    _log(statement, passed, values)
    message = f"✓ {statement}"
    if not passed:
        message = f"✗ {statement}"
        if values:
            message += f" (measured {values})"
        message += "." if not meaning else f": {meaning.rstrip('.')}."
    if _gathered:  # inside ``with claims():`` -- shown, and raised, when the block ends
        _gathered[-1].append((passed, message))
        return
    if not passed and strict():
        raise ClaimError(message)
    print(message)


@contextmanager
def claims() -> Iterator[None]:
    """Gather the claims made inside the block into one output: a summary line, the claims folded.

    The output has a plain-text form (summary line, then each claim indented) and an HTML form
    (the claims in a ``<details>`` element under the summary), so Colab and the book show one line
    that unfolds. A claim that fails is also shown unfolded, with its values. In strict mode a
    failed claim raises :class:`ClaimError` when the block ends, after every claim in it was
    checked.

    Example:
        >>> with claims():
        ...     claim("two is more than one", 2 > 1)
        ...     claim("three is more than two", 3 > 2)
        ✓ 2 of 2 claims hold
          ✓ two is more than one
          ✓ three is more than two
    """
    _gathered.append([])
    try:
        yield
    finally:
        results = _gathered.pop()
    if not results:
        return
    failed = [message for passed, message in results if not passed]
    held = len(results) - len(failed)
    summary = f"{'✗' if failed else '✓'} {held} of {len(results)} claims hold"
    plain = "\n".join([summary, *(f"  {m}" for _, m in results)])
    items = "".join(f"<li>{html.escape(m)}</li>" for _, m in results)
    shown = "".join(f"<p>{html.escape(m)}</p>" for m in failed)
    rich = (
        f'<details class="claims"><summary>{html.escape(summary)}</summary><ul>{items}</ul>'
        f"</details>{shown}"
    )
    _show(plain, rich)
    if failed and strict():
        raise ClaimError("\n".join(failed))


def _show(plain: str, rich: str) -> None:
    """Display both forms in a notebook kernel; print the plain one anywhere else."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # no IPython: a script or a plain interpreter
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display({"text/plain": plain, "text/html": rich}, raw=True)
    else:
        print(plain)


def _log(statement: str, passed: bool, values: str) -> None:
    path = os.environ.get("RESNET_EDU_CLAIM_LOG")
    if not path:
        return
    line = json.dumps({"claim": statement, "passed": passed, "measured": values})
    with open(path, "a", encoding="utf-8") as f:  # one line per claim: appends never interleave
        f.write(line + "\n")
