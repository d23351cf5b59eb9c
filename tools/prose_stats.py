"""The book's prose, measured for readers whose first language is not English, and its limits.

    python -m tools.prose_stats    # one line per page, then the whole book; exit 1 if a limit
                                   # is broken (make prose; tests/test_book_notebooks.py)

What counts is the prose a reader reads: the Markdown of every notebook of ``book/`` and of every
Markdown page of the table of contents (the glossary, the notation, "How this book is checked",
the references), without code, maths, tables, headings, directive options, link addresses and
HTML. A sentence ends at ``.``, ``!`` or ``?`` followed by white space, or at a blank line; it
counts if it has at least three words. For the notebooks this is exactly the counting of the
shared ``prose_stats.py`` the issues quote (the same regular expressions, in the same order), so
its numbers and these agree to the word; the Markdown pages are counted the same way.

The limits (issue 19; issue 17 for chapter 3):

- the whole book: a mean of at most 20 words per sentence, and at most 10 sentences over 40 words;
- no ``# NBVAL...`` comment in any code cell (uncompared cells carry nbval's tag instead);
- words of prose per chapter, where a chapter has a budget: ``MAX_WORDS``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from tools.common import BOOK, ROOT, reading_order

MAX_MEAN = 20.0  # words per sentence, whole book
MAX_LONG = 10  # sentences over LONG words, whole book
LONG = 40
MAX_WORDS = {"03_why_plain_nets_fail": 3000}  # prose words of a chapter, exercises included


def clean(md: str) -> str:
    """Markdown without what is not prose (code, maths, tables, headings, markup)."""
    md = re.sub(r"```.*?```", " ", md, flags=re.S)  # fenced code / directives with code
    md = re.sub(r"^(:::+|```+).*$", " ", md, flags=re.M)  # fence lines
    md = re.sub(r"^:[a-z-]+:.*$", " ", md, flags=re.M)  # directive options
    md = re.sub(r"\$\$.*?\$\$", " MATH ", md, flags=re.S)
    md = re.sub(r"\$[^$\n]+\$", " MATH ", md)
    md = re.sub(r"\{[a-z:]+\}`([^`<]*)(<[^>]*>)?`", r"\1", md)  # roles -> their text
    md = re.sub(r"`[^`]*`", " CODE ", md)
    md = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", md)
    md = re.sub(r"https?://\S+", " URL ", md)
    md = re.sub(r"^\s*\|.*\|\s*$", " ", md, flags=re.M)  # tables
    md = re.sub(r"^#+\s.*$", " ", md, flags=re.M)  # headings
    md = re.sub(r"<[^>]+>", " ", md)
    md = re.sub(r"^\s*[-*]\s+", "", md, flags=re.M)
    md = re.sub(r"\(label\)=|^\([a-z0-9_-]+\)=", " ", md, flags=re.M)
    return md


def sentences(text: str) -> list[int]:
    """The length in words of each sentence of ``text`` (three words or more)."""
    text = re.sub(r"\b(e\.g|i\.e|et al|cf|vs|Fig|Eq|Sec|ch|approx)\.", r"\1", text)
    lengths = []
    for s in re.split(r"(?<=[.!?])\s+|\n\s*\n", text):
        words = re.findall(r"[A-Za-z0-9][\w'’%×.-]*", s)
        if len(words) >= 3:
            lengths.append(len(words))
    return lengths


@dataclass(frozen=True)
class Stats:
    """One page's prose."""

    page: str
    lengths: tuple[int, ...]  # words per sentence
    markers: int  # code cells with an NBVAL comment

    @property
    def words(self) -> int:
        return sum(self.lengths)

    @property
    def long(self) -> int:
        return sum(n > LONG for n in self.lengths)

    @property
    def mean(self) -> float:
        return self.words / max(1, len(self.lengths))


def page_stats(path: Path) -> Stats:
    """A notebook's Markdown cells (and its code cells' test markers), or a Markdown page."""
    if path.suffix != ".ipynb":
        return Stats(path.stem, tuple(sentences(clean(path.read_text(encoding="utf-8")))), 0)
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    md = "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    code = ("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    markers = sum(bool(re.search(r"^#\s*NBVAL", source, flags=re.M)) for source in code)
    return Stats(path.stem, tuple(sentences(clean(md))), markers)


def measure() -> list[Stats]:
    """Every notebook of ``book/`` (in file-name order), then the Markdown pages of the table of
    contents (in reading order)."""
    pages = sorted(BOOK.glob("*.ipynb"))
    pages += [p.path for p in reading_order() if p.path.suffix == ".md"]
    return [page_stats(p) for p in pages]


def problems(stats: list[Stats]) -> list[str]:
    """Every limit the measured prose breaks, one line each."""
    found = []
    for s in stats:
        if s.page in MAX_WORDS and s.words > MAX_WORDS[s.page]:
            found.append(f"{s.page} has {s.words} words > {MAX_WORDS[s.page]}")
    lengths = [n for s in stats for n in s.lengths]
    mean = sum(lengths) / max(1, len(lengths))
    if mean > MAX_MEAN:
        found.append(f"mean sentence {mean:.1f} words > {MAX_MEAN}")
    long = sum(n > LONG for n in lengths)
    if long > MAX_LONG:
        found.append(f"{long} sentences over {LONG} words > {MAX_LONG}")
    markers = sum(s.markers for s in stats)
    if markers:
        found.append(f"{markers} code cells carry an NBVAL comment")
    return found


def report(stats: list[Stats]) -> str:
    lines = [
        f"{s.page:<28} words {s.words:>5}  sentences {len(s.lengths):>4}  mean {s.mean:4.1f}  "
        f">40 words {s.long:>3}  NBVAL markers {s.markers}"
        for s in stats
    ]
    whole = Stats("book", tuple(n for s in stats for n in s.lengths), sum(s.markers for s in stats))
    bad = problems(stats)
    lines.append(
        f"book: {whole.words} words, {len(whole.lengths)} sentences, mean {whole.mean:.1f}, "
        f"{whole.long} over {LONG} words, {whole.markers} NBVAL markers"
        + ("; " + "; ".join(bad) if bad else "")
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.prose_stats", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.parse_args(argv)
    stats = measure()
    print(report(stats))
    bad = problems(stats)
    if bad:
        where = Path(__file__).relative_to(ROOT)
        print(f"error: the prose breaks {len(bad)} limit(s); the limits are in {where}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
