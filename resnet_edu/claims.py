"""Claims a chapter makes, checked where they are made (every chapter).

One run is one draw: a training result recorded on one machine differs on another CPU, another
thread count or another seed. So a chapter states each machine-dependent result as a *claim*,
a sentence and the measured values that back it, and checks it with :func:`claim`:

    claim("plain-56 ends with a higher training error than plain-20",
          err56 > err20 + 10, measured={"plain-20": err20, "plain-56": err56},
          meaning="with this budget the deep plain net has not yet started to learn")

What a failed claim does depends on who runs the chapter:

* **strict** (CI, nbval, ``tools/notebooks.py run``; ``RESNET_EDU_STRICT=1`` or ``CI`` set):
  it raises :class:`ClaimError`, so a false claim fails the build;
* **a reader's session** (Colab, a laptop, a GPU): it prints one line, ✗ with the measured
  values and what the mismatch means, and "Run all" goes on.

A claim that holds prints ``✓ <statement>`` in both, an output that is the same on every
machine. ``RESNET_EDU_CLAIM_LOG`` names a file to which every claim is appended as a JSON line;
``tools/notebooks.py stress`` uses it to count passes over its matrix of variants.

Seeds come from one place, :func:`seed`: ``RESNET_EDU_SEED`` (default 0) shifts every seed a
chapter uses, so a whole chapter can be re-run as another draw.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from collections.abc import Mapping
from typing import Any

__all__ = ["ClaimError", "claim", "seed", "strict"]

_TRUE = {"1", "true", "yes", "on"}


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
    if passed:
        print(f"✓ {statement}")
        return
    message = f"✗ {statement}"
    if values:
        message += f" (measured {values})"
    message += "." if not meaning else f": {meaning.rstrip('.')}."
    if strict():
        raise ClaimError(message)
    print(message)


def _log(statement: str, passed: bool, values: str) -> None:
    path = os.environ.get("RESNET_EDU_CLAIM_LOG")
    if not path:
        return
    line = json.dumps({"claim": statement, "passed": passed, "measured": values})
    with open(path, "a", encoding="utf-8") as f:  # one line per claim: appends never interleave
        f.write(line + "\n")
