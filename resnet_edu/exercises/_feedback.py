"""What a checker returns: a result that prints as a short report (chapters 2 and 6).

Two forms share one class. ``CheckResult`` prints ``PASSED``/``FAILED`` (chapter 2's
``check_basic_block``); ``Verdict`` prints ``✓``/``✗`` and the name of what was checked
(chapter 6's checkers). Both have ``ok``, ``messages`` (one sentence per problem, most
fundamental first) and ``notes`` (remarks that are not errors).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

__all__ = ["CheckResult", "ExerciseError", "Verdict"]


def wrap(prefix: str, text: str, width: int = 88) -> str:
    """One feedback item, wrapped to the width of a book page (the HTML does not wrap output)."""
    return textwrap.fill(
        text,
        width,
        initial_indent=prefix,
        subsequent_indent=" " * len(prefix),
        break_long_words=False,
        break_on_hyphens=False,
    )


class ExerciseError(AssertionError):
    """Raised by a checker (with ``raise_on_failure=True``) when the reader's code is wrong."""


@dataclass
class CheckResult:
    """What a checker found.

    Attributes:
        ok: ``True`` when the reader's code behaves exactly like the reference.
        messages: one sentence per problem, most fundamental first (empty when ``ok``).
        notes: remarks that are not errors (e.g. parameter names that differ from ours).
        name: what was checked, for the printed summary.

    Example:
        >>> result = check_basic_block(resnet_edu.BasicBlock)
        >>> result.ok, bool(result)
        (True, True)
    """

    ok: bool
    messages: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    name: str = "block"

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        if self.ok:
            lines = [f"PASSED: your {self.name} behaves exactly like resnet_edu.BasicBlock."]
        else:
            count = len(self.messages)
            lines = [f"FAILED: {count} problem{'s' if count > 1 else ''} with your {self.name}:"]
            lines += [wrap(f"  {i}. ", message) for i, message in enumerate(self.messages, 1)]
        lines += [wrap("  note: ", note) for note in self.notes]
        return "\n".join(lines)

    __repr__ = __str__

    def print(self) -> None:
        """Print the summary (handy at the end of a notebook cell)."""
        print(str(self))

    def raise_if_failed(self) -> None:
        """Raise ``ExerciseError`` with the summary if the check failed."""
        if not self.ok:
            raise ExerciseError(str(self))


@dataclass
class Verdict(CheckResult):
    """A chapter 6 check: ``✓ name: what holds`` or ``✗ name: the problem``.

    Attributes:
        summary: what a pass established, one sentence (shown after ``✓``).

    Example:
        >>> print(check_convs(conv3x3, conv1x1))
        ✓ conv3x3, conv1x1: ...
    """

    summary: str = ""

    def __str__(self) -> str:
        if self.ok:
            lines = [wrap("✓ ", f"{self.name}: {self.summary}")]
        elif len(self.messages) == 1:
            lines = [wrap("✗ ", f"{self.name}: {self.messages[0]}")]
        else:
            lines = [f"✗ {self.name}: {len(self.messages)} problems"]
            lines += [wrap(f"  {i}. ", message) for i, message in enumerate(self.messages, 1)]
        lines += [wrap("  note: ", note) for note in self.notes]
        return "\n".join(lines)

    __repr__ = __str__
