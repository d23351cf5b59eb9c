"""The Colab edition: every chapter as a notebook in plain Markdown, generated from ``book/``.

    python -m tools.colab build      # (re)write colab/*.ipynb from book/*.ipynb
    python -m tools.colab check      # exit 1 if colab/ differs from what `build` would write
    python -m tools.colab standin --python _build/colab-venv/bin/python   # the Colab stand-in

The chapters are written in MyST for Jupyter Book; Colab renders plain Markdown only. ``build``
parses each chapter's Markdown as the book does (markdown-it-py with the MyST plugins of
mdit-py-plugins) and rewrites, into ``colab/``, only what Colab cannot show; every other
character stays as written. Every code cell is kept, in the same order, with the same source.

- ``{cite}`` becomes "(He et al., 2016)", with the works cited listed at the end;
- ``{numref}`Chapter %s <ch-x>``` becomes "Chapter 3", linking that chapter's Colab twin (the
  number from ``_toc.yml``; appendices by letter); ``{numref}`fig-x``` "Figure 3.2", numbered per
  chapter as Sphinx numbers it; ``{ref}`` the given text or the heading, linked when it is on
  another page; ``{doc}`` the page's title, linked; ``{eq}`` "(3.1)"; ``{term}`` a link to the
  glossary's entry on the published site (plain text while the book has no glossary);
- admonitions and margin notes become quoted blocks; dropdowns (solutions) become ``<details>``,
  after the quote; a figure's caption (cell metadata) becomes a Markdown cell under the figure;
  targets ``(label)=`` and comments ``% ...`` go;
- code cells the book hides become collapsed Colab form cells (a first line ``# @title ...`` and
  ``cellView: form``): the setup cell, a section's claims cell (``hide-cell``, ``with
  claims():``: "Check this section's claims", whose output is one summary line with the claims
  folded), a figure drawn by folded code ("Draw Figure 3.2"), other hidden code ("Supporting
  code").

Two cell tags mark text that differs between the editions (Markdown cells only):

- ``colab-only``: the cell is in the Colab edition only. It also carries ``remove-cell``, which
  takes it out of the book; this tool drops both tags from the twin.
- ``book-only``: the cell is in the book only; the Colab edition leaves it out.

Pages that are not notebooks (the glossary, the notation, the references, "How this book is
checked") have no twin; links to them go to the published site. The twins are committed
without outputs. ``standin`` runs every twin top to bottom in a Python given with ``--python``
(a fresh venv with torch but without resnet_edu or torchinfo: ``make colab-check``), as Colab
would, and records the result in ``book/_data/colab_check.json``.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path
from urllib.parse import urlparse

import nbformat
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.amsmath import amsmath_plugin
from mdit_py_plugins.colon_fence import colon_fence_plugin
from mdit_py_plugins.deflist import deflist_plugin
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.myst_blocks import myst_block_plugin
from mdit_py_plugins.myst_role import myst_role_plugin

from tools.common import (
    BOOK,
    COLAB,
    COLAB_CHECK,
    ROOT,
    Page,
    chapters,
    config,
    reading_order,
    repo_branch,
    repo_url,
    write_json,
    write_text,
)
from tools.notebooks import setup_source

BIB = ROOT / "references.bib"
GLOSSARY = BOOK / "glossary.md"

#: What the title line of a collapsed cell says, by what the cell does.
TITLE_SETUP = "Setup: install resnet_edu and torchinfo if they are missing"
TITLE_CLAIMS = "Check this section's claims"
TITLE_FIGURE = "Draw {figure}"
TITLE_HIDDEN = "Supporting code"
#: Tags of code cells the book hides or folds; they become titled form cells in Colab.
FOLDED = {"remove-cell", "hide-cell", "hide-input", "remove-input"}
EDITION_TAGS = {"colab-only", "book-only"}

#: Admonition kinds of MyST/Sphinx and the bold title each gets when it has no argument.
ADMONITIONS = {
    "note": "Note",
    "tip": "Tip",
    "hint": "Hint",
    "important": "Important",
    "warning": "Warning",
    "caution": "Caution",
    "attention": "Attention",
    "danger": "Danger",
    "error": "Error",
    "seealso": "See also",
    "admonition": "Note",
    "sidebar": "",
    "margin": "",
}

DIRECTIVE = re.compile(r"^\{(?P<name>[\w\-:]+)\}\s*(?P<arg>.*)$")
OPTION = re.compile(r"^:(?P<key>[\w\-]+):\s*(?P<value>.*)$")
EXPLICIT = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.S)

#: Patterns that only MyST understands; none may survive in a Colab twin (tests/test_colab.py).
MYST_LEFTOVERS = {
    "role": re.compile(r"\{[a-zA-Z][\w:\-]*\}`"),
    "directive": re.compile(r"^\s*(`{3,}|~{3,}|:{3,})\s*\{", re.M),
    "target": re.compile(r"^\s*\([\w\-:.]+\)=\s*$", re.M),
    "directive option": re.compile(r"^\s*>?\s*:(class|name|label|alt|width|open|align):", re.M),
    "labelled maths": re.compile(r"\$\$\s*\([\w\-:.]+\)"),
    "substitution": re.compile(r"\{\{[^}]*\}\}"),
    "footnote": re.compile(r"\[\^[^\]\s]+\]"),
}


# --------------------------------------------------------------------------- repository, URLs


def _github() -> tuple[str, str]:
    """``(org, repo)`` of the repository URL in ``_config.yml``."""
    parts = urlparse(repo_url()).path.strip("/").split("/")
    if urlparse(repo_url()).netloc != "github.com" or len(parts) != 2:
        raise ValueError(f"repository.url must be https://github.com/ORG/REPO, got {repo_url()!r}")
    return parts[0], parts[1]


def site_url() -> str:
    """The GitHub Pages address of the book, derived from ``repository.url``."""
    org, repo = _github()
    if repo.lower() == f"{org.lower()}.github.io":  # a user/organisation site
        return f"https://{org.lower()}.github.io/"
    return f"https://{org.lower()}.github.io/{repo}/"


def colab_url(stem: str) -> str:
    """The address that opens the Colab twin of ``book/<stem>.ipynb`` in Colab."""
    org, repo = _github()
    base = config().get("launch_buttons", {}).get("colab_url", "https://colab.research.google.com")
    return f"{base.rstrip('/')}/github/{org}/{repo}/blob/{repo_branch()}/colab/{stem}.ipynb"


def raw_url(path: str) -> str:
    """The address of a committed file (an image the Markdown shows)."""
    org, repo = _github()
    return f"https://raw.githubusercontent.com/{org}/{repo}/{repo_branch()}/{path}"


def page_url(stem: str, anchor: str = "") -> str:
    return f"{site_url()}book/{stem}.html{anchor}"


def term_anchor(term: str) -> str:
    """The anchor Sphinx gives a glossary term: ``term-`` and the term as an identifier
    (``sphinx.util.nodes._make_id``: ASCII, case kept, runs of other characters become ``-``)."""
    text = unicodedata.normalize("NFKD", f"term-{term}").encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-zA-Z0-9._]+", "-", " ".join(text.split()))
    return re.sub(r"^[-0-9._]+|-+$", "", text)


# --------------------------------------------------------------------------- bibliography


def _latex_text(latex: str) -> str:
    from pybtex.richtext import Text

    return str(Text.from_latex(latex)).strip()


class Bibliography:
    """``references.bib`` read with pybtex: author-year labels and short reference entries."""

    def __init__(self, path: Path = BIB):
        from pybtex.database import parse_file

        self.entries = parse_file(str(path)).entries

    def _entry(self, key: str):
        if key not in self.entries:
            raise ValueError(f"cite: no entry {key!r} in {BIB.name}")
        return self.entries[key]

    def _surnames(self, key: str) -> list[str]:
        persons = self._entry(key).persons.get("author") or self._entry(key).persons.get("editor")
        if not persons:
            raise ValueError(f"cite: entry {key!r} has no author")
        return [_latex_text(" ".join(p.prelast_names + p.last_names)) for p in persons]

    def year(self, key: str) -> str:
        return self._entry(key).fields.get("year", "n.d.")

    def authors(self, key: str) -> str:
        names = self._surnames(key)
        if len(names) == 1:
            return names[0]
        if len(names) == 2 and names[1] != "others":
            return f"{names[0]} and {names[1]}"
        return f"{names[0]} et al."

    def reference(self, key: str) -> str:
        """One line of the works-cited list: authors (year). *Title*. Venue."""
        entry = self._entry(key)
        persons = entry.persons.get("author") or entry.persons.get("editor") or []
        names = []
        for p in persons:
            initials = " ".join(f"{n[0]}." for n in p.first_names + p.middle_names if n)
            last = _latex_text(" ".join(p.prelast_names + p.last_names))
            names.append(f"{last}, {initials}".rstrip(", ") if initials else last)
        who = ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1]
        fields = entry.fields
        title = _latex_text(fields.get("title", key))
        venue = next(
            (
                fields[f]
                for f in ("booktitle", "journal", "publisher", "howpublished")
                if f in fields
            ),
            "",
        )
        line = f"{who} ({self.year(key)}). *{title}*."
        if venue:
            line += f" {_latex_text(venue)}."
        if "note" in fields:
            line += f" {_latex_text(fields['note'])}."
        if "url" in fields:
            line += f" <{fields['url']}>"
        elif "doi" in fields:
            line += f" <https://doi.org/{fields['doi']}>"
        return line


# --------------------------------------------------------------------------- the parser


@functools.cache
def myst() -> MarkdownIt:
    """A Markdown parser that reads the chapters as the book's MyST does (the extensions of
    ``_config.yml``), and records where each role, link and image starts and ends in its
    paragraph (``token.meta["span"]``), so that the converter rewrites those and nothing else."""
    md = (
        MarkdownIt("commonmark")
        .enable("table")
        .use(myst_block_plugin)
        .use(myst_role_plugin)
        .use(dollarmath_plugin, allow_labels=True, allow_space=True, allow_digits=True)
        .use(colon_fence_plugin)
        .use(amsmath_plugin)
        .use(deflist_plugin)
    )
    ruler = md.inline.ruler
    rules = dict(zip(ruler.get_active_rules(), ruler.getRules(""), strict=True))
    for name in ("myst_role", "link", "image"):
        md.inline.ruler.at(name, _spanned(rules[name]))
    return md


_SPANNED = {"myst_role", "link_open", "image"}
FENCES = {"fence", "colon_fence"}  # ``` and ~~~, and ::: (colon_fence): both open directives


def _spanned(rule):
    def spanned(state, silent: bool) -> bool:
        start, count = state.pos, len(state.tokens)
        if not rule(state, silent):
            return False
        first = next((t for t in state.tokens[count:] if t.type in _SPANNED), None)
        if first is not None and not silent:
            first.meta["span"] = (start, state.pos)
        return True

    return spanned


def _end(token: Token) -> int:
    """The line after a block token (amsmath's map ends on its last line, not after it)."""
    return token.map[1] + 1 if token.type == "amsmath" else token.map[1]


# --------------------------------------------------------------------------- the book's labels


class Book:
    """What cross-references need, numbered as Sphinx numbers them: pages' titles and numbers,
    labels, figures and equations (per chapter, "3.2"; one shared count on unnumbered pages),
    and the glossary's terms."""

    def __init__(self, pages: list[Page] | None = None):
        if pages is None:  # the table of contents, then any chapter not (yet) in it
            pages = reading_order()
            listed = {p.path for p in pages}
            pages += [Page(p, "") for p in chapters() if p not in listed]
        self.numbers = {p.stem: p.number for p in pages}
        self.titles: dict[str, str] = {}
        self.labels: dict[str, tuple[str, str, int]] = {}  # label -> (page, heading, level)
        self.figures: dict[str, tuple[str, str]] = {}  # label -> (page, "3.2")
        self.equations: dict[str, tuple[str, str]] = {}
        counts: dict[tuple[str, str], int] = {}
        for page in pages:
            key = page.number if page.number.isdigit() else ""
            for kind, label, text, level in _page_items(page.path):
                if kind == "target":
                    self.labels[label] = (page.stem, text, level)
                elif kind == "title":
                    self.titles.setdefault(page.stem, text)
                else:
                    counts[kind, key] = counts.get((kind, key), 0) + 1
                    number = f"{key}.{counts[kind, key]}" if key else str(counts[kind, key])
                    things = self.figures if kind == "figure" else self.equations
                    things[label] = (page.stem, number)
        self.terms = _glossary_terms()
        numfig = config().get("sphinx", {}).get("config", {}).get("numfig_format", {})
        self.figure_format = numfig.get("figure", "Fig. %s")


def _page_items(path: Path):
    """A page's labelled things in document order: ``(kind, label, text, level)`` for
    ``target`` (a label and the heading under it), ``title``, ``figure`` and ``equation``."""
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
        cells = [(c.cell_type, c.source, _figure(c) if _image(c) else {}) for c in nb.cells]
    else:
        cells = [("markdown", path.read_text(encoding="utf-8"), {})]
    for kind, source, figure in cells:
        if kind == "code" and figure.get("name") and figure.get("caption"):
            yield "figure", figure["name"], "", 0  # numbered: labelled, captioned and drawn
        if kind == "markdown":
            yield from _markdown_items(myst().parse(source))


def _markdown_items(tokens: list[Token]):
    targets: list[str] = []
    for i, token in enumerate(tokens):
        if token.type == "myst_target":
            targets.append(token.content)
            continue
        if token.type == "heading_open":
            text, level = tokens[i + 1].content, int(token.tag[1])
            if level == 1:
                yield "title", "", text, 1
            yield from (("target", label, text, level) for label in targets)
        else:  # a label above something other than a heading: {ref} must give the text
            yield from (("target", label, "", 0) for label in targets)
        targets = []
        if token.type == "math_block_label":
            yield "equation", token.info, "", 0
        elif token.type in FENCES and (m := DIRECTIVE.match(token.info.strip())):
            options, body = _options(token.content.splitlines())
            if m["name"] == "figure" and options.get("name") and "".join(body).strip():
                yield "figure", options["name"], "", 0
            elif m["name"] not in ("code-block", "code", "sourcecode", "math"):
                yield from _markdown_items(myst().parse("\n".join(body)))
    yield from (("target", label, "", 0) for label in targets)


def _glossary_terms() -> dict[str, str]:
    """The glossary's terms by their lower-case spelling (Sphinx matches terms so)."""
    if not GLOSSARY.exists():
        return {}
    terms = {}
    for token in myst().parse(GLOSSARY.read_text(encoding="utf-8")):
        if token.type in FENCES and token.info.strip().startswith("{glossary}"):
            _, body = _options(token.content.splitlines())
            for line in body:
                if line.strip() and not line[0].isspace():
                    terms[line.strip().lower()] = line.strip()
    return terms


def _image(cell) -> bool:
    """Whether a code cell's output is an image (myst-nb makes a figure only then)."""
    return any(k.startswith("image/") for o in cell.get("outputs", []) for k in o.get("data", {}))


def _figure(cell) -> dict:
    return cell.metadata.get("mystnb", {}).get("figure", {}) if cell.cell_type == "code" else {}


def _options(body: list[str]) -> tuple[dict[str, str], list[str]]:
    """A directive's options (``:key: value`` lines, or a ``---`` YAML block) and its body."""
    options: dict[str, str] = {}
    if body and body[0].strip() == "---" and "---" in (x.strip() for x in body[1:]):
        import yaml

        end = next(i for i in range(1, len(body)) if body[i].strip() == "---")
        found = yaml.safe_load("\n".join(body[1:end])) or {}
        return {str(k): str(v) for k, v in found.items()}, body[end + 1 :]
    while body and (m := OPTION.match(body[0])):
        options[m["key"]] = m["value"].strip()
        body = body[1:]
    return options, body


# --------------------------------------------------------------------------- Markdown


class Converter:
    """Rewrites one chapter's MyST Markdown into Markdown that Colab renders: this class walks
    the parsed blocks and paragraphs; ``directive``, ``role`` and ``_destination`` below say
    what each construct becomes."""

    def __init__(self, stem: str, book: Book, bib: Bibliography):
        self.stem, self.book, self.bib = stem, book, bib
        self.cited: list[str] = []
        self.problems: list[str] = []  # MyST that the book itself renders wrongly

    def markdown(self, source: str) -> str:
        return "\n".join(self.lines(source)).strip("\n")

    def lines(self, source: str) -> list[str]:
        """``source``'s lines with each MyST construct rewritten and every other one kept."""
        lines = source.splitlines()
        blocks = []
        for token in myst().parse(source):
            if token.type == "inline" and token.map:
                self._inline(token, lines)
            elif token.map and (new := self._block(token, lines[token.map[0]])) is not None:
                blocks.append((token.map[0], _end(token), new))
        for start, end, new in sorted(blocks, reverse=True):
            lines[start:end] = new
        return lines

    def _block(self, token: Token, opening: str) -> list[str] | None:
        """What replaces a block token's lines, or None to keep them."""
        if token.type in ("myst_target", "myst_line_comment", "myst_block_break"):
            return []
        if token.type == "amsmath":  # a bare environment: Colab wants it in $$
            return ["$$", *token.content.splitlines(), "$$"]
        if token.type == "math_block_label":
            return [f"$${token.content}\\tag{{{_number(self, 'eq', token.info)}}} $$"]
        if token.type in FENCES and (m := DIRECTIVE.match(token.info.strip())):
            _check_nesting(self, token, opening)
            new = directive(self, m["name"], m["arg"].strip(), token.content.splitlines())
            head = opening[: opening.index(token.markup)]  # a list item's or a quote's
            rest = re.sub(r"[^>]", " ", head)
            return [((head if i == 0 else rest) + x).rstrip() for i, x in enumerate(new)]
        return None

    def _inline(self, token: Token, lines: list[str]) -> None:
        """Rewrite the roles and local links of one paragraph (heading, table cell) in place."""
        src, edits = token.content, []
        for child in token.children or []:
            if "span" not in child.meta:
                continue
            start, end = child.meta["span"]
            if child.type == "myst_role":  # the same number of lines: the paragraph stays put
                new = role(self, child.meta["name"], child.content)
                edits.append((start, end, new + "\n" * src.count("\n", start, end)))
            else:
                edits += _destination(src, start, end)
        new = src
        for start, end, text in sorted(edits, reverse=True):
            new = new[:start] + text + new[end:]
        _splice(lines, token.map[0], src.split("\n"), new.split("\n"))


def _splice(lines: list[str], row: int, old: list[str], new: list[str]) -> None:
    """Put a paragraph's rewritten lines back: each old line is the end of a line of the source
    (after a list's indent or a quote's ``>``), so it is replaced where it ends."""
    for before, after in zip(old, new, strict=True):
        while row < len(lines) and before not in lines[row]:
            row += 1
        if row == len(lines):
            raise ValueError(f"cannot place {before!r} back in its paragraph")
        at = lines[row].rfind(before)
        lines[row] = lines[row][:at] + after + lines[row][at + len(before) :]
        row += 1


def _check_nesting(convert: Converter, token: Token, opening: str) -> None:
    """A directive opened with ``` that contains a ```python block is closed by that block's
    closing fence (CommonMark), in the book as here: the rest shows as raw markup."""
    inner = re.compile(rf"^\s*{re.escape(token.markup[0])}{{{len(token.markup)},}}\s*\S")
    if any(inner.match(x) for x in token.content.splitlines()):
        convert.problems.append(
            f"{convert.stem}: {opening.strip()!r} contains a code fence as long as its own, "
            f"which closes it early (the book shows raw markup there too); open it with "
            f"{token.markup[0] * (len(token.markup) + 1)} instead"
        )


# ---- directives


def directive(convert: Converter, name: str, arg: str, body: list[str]) -> list[str]:
    """The Markdown lines a directive becomes."""
    options, body = _options(body)
    text = "\n".join(body)
    if name in ADMONITIONS:
        return _admonition(convert, _inline_text(convert, arg) or ADMONITIONS[name], body)
    if name == "dropdown":
        summary = re.sub(r"[*_`]", "", _inline_text(convert, arg or "Details"))
        opening = "<details open>" if "open" in options else "<details>"
        return [
            opening,
            f"<summary>{summary}</summary>",
            "",
            *convert.lines(text),
            "",
            "</details>",
        ]
    if name == "math":
        return ["$$", *body, "$$"]
    if name in ("code-block", "code", "sourcecode"):
        return [f"```{arg}", *body, "```"]
    if name == "figure":
        caption = " ".join(convert.lines(text)).strip()
        src = arg if arg.startswith(("http://", "https://")) else raw_url(f"book/{arg}")
        return [f"![{options.get('alt', '')}]({src})", "", f"*{caption}*"]
    if name == "epigraph":
        return _quote(convert.lines(text))
    raise ValueError(f"{convert.stem}: MyST directive {{{name}}} has no Colab rendering; add one")


def _admonition(convert: Converter, title: str, body: list[str]) -> list[str]:
    """A quoted block with a bold title; a dropdown inside (a solution) follows the quote,
    folded, so that it renders whether or not Colab allows HTML inside a quote."""
    after, kept = [], list(body)
    for token in myst().parse("\n".join(body)):
        if token.level == 0 and token.type in FENCES and token.info.startswith("{dropdown}"):
            start, end = token.map
            after += ["", *convert.lines("\n".join(body[start:end]))]
            kept[start:end] = [None] * (end - start)
    quoted = convert.lines("\n".join(x for x in kept if x is not None))
    while quoted and not quoted[-1].strip():
        quoted.pop()
    head = [f"**{title}**", ""] if title else []
    return [*_quote([*head, *quoted]), *after]


def _quote(lines: list[str]) -> list[str]:
    return [f"> {line}" if line.strip() else ">" for line in lines]


def _inline_text(convert: Converter, text: str) -> str:
    return convert.markdown(text) if text else ""


# ---- roles and links


def role(convert: Converter, name: str, content: str) -> str:
    """The Markdown a role becomes."""
    explicit = EXPLICIT.match(content)
    text, target = (explicit["text"], explicit["target"]) if explicit else ("", content)
    if name in ("cite", "cite:p", "cite:ps", "cite:t", "cite:ts"):
        return _cite(convert, name, content)
    if name == "numref":
        return _numref(convert, text, target)
    if name == "ref":
        if target not in convert.book.labels:
            raise ValueError(f"{convert.stem}: {{ref}} target {target!r} not found")
        page, heading, _ = convert.book.labels[target]
        words = text or _inline_text(convert, heading)
        if not words:
            raise ValueError(f"{convert.stem}: {{ref}}`{target}` needs a text: no heading")
        return _link(convert, words, page)
    if name == "doc":
        stem = Path(target).stem if target.endswith((".ipynb", ".md")) else Path(target).name
        if stem not in convert.book.titles:
            raise ValueError(f"{convert.stem}: {{doc}} {target!r} is not a page of the book")
        return f"[{text or convert.book.titles[stem]}]({_page(stem)})"
    if name == "term":
        return _term(convert, text or target, target)
    if name == "eq":
        return f"({_number(convert, 'eq', target)})"
    if name == "math":
        return f"${content}$"
    raise ValueError(f"{convert.stem}: MyST role {{{name}}} has no Colab rendering; add one")


def _cite(convert: Converter, name: str, content: str) -> str:
    keys, bib = [k.strip() for k in content.split(",") if k.strip()], convert.bib
    for key in keys:
        bib.year(key)  # raises for an unknown key
        if key not in convert.cited:
            convert.cited.append(key)
    if name.startswith("cite:t"):
        return "; ".join(f"{bib.authors(k)} ({bib.year(k)})" for k in keys)
    return "(" + "; ".join(f"{bib.authors(k)}, {bib.year(k)}" for k in keys) + ")"


def _numref(convert: Converter, text: str, target: str) -> str:
    """ "Figure 3.2" for a figure; "Chapter 3" (as the text says) for a page's title label."""
    book = convert.book
    if target in book.figures:
        page, number = book.figures[target]
        words = text or book.figure_format
    elif target in book.labels and book.labels[target][2] == 1:
        page = book.labels[target][0]
        number, words = book.numbers.get(page, ""), text or "Section %s"
        if not number:
            raise ValueError(f"{convert.stem}: {{numref}} {target!r}: that page has no number")
    else:
        raise ValueError(f"{convert.stem}: {{numref}} {target!r} is not a figure or a page")
    return _link(convert, words.replace("%s", number).replace("{number}", number), page)


def _term(convert: Converter, words: str, term: str) -> str:
    if not GLOSSARY.exists():
        return words
    if term.lower() not in convert.book.terms:
        raise ValueError(f"{convert.stem}: {{term}} {term!r} is not in {GLOSSARY.name}")
    anchor = term_anchor(convert.book.terms[term.lower()])
    return f"[{words}]({page_url('glossary', f'#{anchor}')})"


def _number(convert: Converter, role: str, label: str) -> str:
    if label not in convert.book.equations:
        raise ValueError(f"{convert.stem}: {{{role}}} target {label!r} not found")
    return convert.book.equations[label][1]


def _link(convert: Converter, words: str, page: str) -> str:
    return words if page == convert.stem else f"[{words}]({_page(page)})"


def _page(stem: str) -> str:
    """A link to another page: its Colab twin for a notebook, else the published page."""
    return colab_url(stem) if (BOOK / f"{stem}.ipynb").exists() else page_url(stem)


def _destination(src: str, start: int, end: int) -> list[tuple[int, int, str]]:
    """A link's or image's address, if it is a file of the book: where it lives online."""
    text = src[start:end]
    at = text.rfind("](")
    m = re.match(r"\s*<?([^\s<>()]+)", text[at + 2 :]) if at >= 0 else None
    if m is None or re.match(r"[a-zA-Z][\w+.-]*:|#", m[1]):
        return []  # a reference link, an absolute address or an anchor: as written
    path, _, anchor = m[1].partition("#")
    anchor = f"#{anchor}" if anchor else ""
    p = Path(path)
    if p.suffix in (".ipynb", ".md") and (BOOK / p.name).exists():
        new = _page(p.stem) if not anchor else page_url(p.stem, anchor)
    else:
        new = raw_url(f"book/{path}") + anchor  # an image or file of the book, as committed
    begin = start + at + 2 + m.start(1)
    return [(begin, begin + len(m[1]), new)]


# --------------------------------------------------------------------------- notebooks


def _code_title(cell, setup: bool, number: str) -> str | None:
    """The title of the collapsed form cell a code cell becomes, or None to keep it open."""
    tags = set(cell.metadata.get("tags", []))
    if setup:
        return TITLE_SETUP
    if tags & {"remove-cell", "hide-cell"}:
        return TITLE_CLAIMS if re.search(r"\bclaims?\(|\bassert\b", cell.source) else TITLE_HIDDEN
    if tags & {"hide-input", "remove-input"}:
        if not _figure(cell):
            return TITLE_HIDDEN
        return TITLE_FIGURE.format(figure=f"Figure {number}" if number else "the figure")
    return None


def twin_code(source: str) -> str:
    """A twin's code cell without its Colab title line: equal to the chapter's cell."""
    lines = source.split("\n")
    return "\n".join(lines[1:]) if lines and lines[0].startswith("# @title ") else source


def _markdown_cells(cell, convert: Converter, cid: str) -> list:
    tags = set(cell.metadata.get("tags", []))
    if "colab-only" in tags and "remove-cell" not in tags:
        raise ValueError(f"{convert.stem}: a colab-only cell needs remove-cell too (cell {cid})")
    if "book-only" in tags or ("remove-cell" in tags and "colab-only" not in tags):
        return []
    return [nbformat.v4.new_markdown_cell(convert.markdown(cell.source), id=cid)]


def _code_cells(cell, convert: Converter, cid: str, setup: bool) -> list:
    tags = set(cell.metadata.get("tags", []))
    if tags & EDITION_TAGS:
        raise ValueError(f"{convert.stem}: {sorted(tags & EDITION_TAGS)} on a code cell ({cid})")
    figure = _figure(cell)
    number = convert.book.figures.get(figure.get("name"), ("", ""))[1] if figure else ""
    title = _code_title(cell, setup, number)
    source = f"# @title {title}\n{cell.source}" if title else cell.source
    metadata = {"cellView": "form"} if title else {}
    cells = [nbformat.v4.new_code_cell(source, metadata=metadata, id=cid)]
    if figure.get("caption"):
        label = f"**{convert.book.figure_format.replace('%s', number)}.** " if number else ""
        text = label + convert.markdown(figure["caption"])
        cells.append(nbformat.v4.new_markdown_cell(text, id=f"{cid}-caption"))
    return cells


def colab_notebook(
    path: Path, book: Book, bib: Bibliography, problems: list[str] | None = None
) -> nbformat.NotebookNode:
    """The Colab twin of the chapter at ``path``; MyST the book itself renders wrongly is
    appended to ``problems`` (the twin reproduces what the book shows)."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or code[0].source != setup_source():
        raise ValueError(f"{path.name}: the first code cell is not the shared setup cell")
    convert = Converter(path.stem, book, bib)
    out = nbformat.v4.new_notebook()
    out.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "colab": {"provenance": [], "toc_visible": True},
    }
    for n, cell in enumerate(nb.cells):
        cid = cell.get("id") or f"{path.stem}-{n:03d}".replace("_", "-")
        if cell.cell_type == "markdown":
            out.cells += _markdown_cells(cell, convert, cid)
            if n == 0:
                banner = _banner(path.stem, book)
                out.cells.append(nbformat.v4.new_markdown_cell(banner, id=f"{cid}-colab"))
        elif cell.cell_type == "code":
            out.cells += _code_cells(cell, convert, cid, setup=cell is code[0])
    if problems is not None:
        problems += convert.problems
    if convert.cited:
        refs = "\n".join(f"- {bib.reference(k)}" for k in sorted(convert.cited, key=_sort_key(bib)))
        text = (
            f"## Works cited\n\n{refs}\n\n"
            f"Every work the book cites: [References]({page_url('references')})."
        )
        cid = f"{path.stem[:40]}-works-cited".replace("_", "-")
        out.cells.append(nbformat.v4.new_markdown_cell(text, id=cid))
    return out


def _sort_key(bib: Bibliography):
    return lambda key: (bib.authors(key).lower(), bib.year(key))


def _banner(stem: str, book: Book) -> str:
    number, title = book.numbers.get(stem, ""), book.titles[stem]
    where = f"Chapter {number} of" if number.isdigit() else "part of"
    if number.isalpha() and not title.startswith(f"Appendix {number}"):
        where = f"Appendix {number} of"
    return (
        f"> **Colab edition** of [{title}]({page_url(stem)}), {where} the book "
        f"[*{config()['title']}*]({site_url()}). Run it top to bottom (*Runtime → Run all*). "
        "The first cell installs the book's library. A cell that shows only a title is folded "
        "code: double-click it to read the code."
    )


def edition(paths: list[Path] | None = None, problems: list[str] | None = None) -> dict[Path, str]:
    """Every Colab twin, as the text ``build`` writes, keyed by its path under ``colab/``."""
    paths = paths or chapters()
    book, bib = Book(), Bibliography()
    return {
        COLAB / p.name: nbformat.writes(colab_notebook(p, book, bib, problems)) + "\n"
        for p in paths
    }


def problems() -> list[str]:
    """MyST in the chapters that the book renders wrongly (and the twins reproduce)."""
    found: list[str] = []
    edition(problems=found)
    return found


def build(out: Path = COLAB) -> list[Path]:
    """Write the Colab edition into ``out``; remove twins whose chapter is gone. Returns the
    changed files."""
    out.mkdir(parents=True, exist_ok=True)
    wanted = {out / p.name: text for p, text in edition().items()}
    changed = []
    for path, text in wanted.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            write_text(path, text)
            changed.append(path)
    for gone in set(out.glob("*.ipynb")) - set(wanted):
        gone.unlink()
        changed.append(gone)
    return changed


def stale() -> list[str]:
    """Twins that ``build`` would change: missing, different, or without a chapter."""
    wanted = edition()
    found = [
        str(p.relative_to(ROOT))
        for p, text in wanted.items()
        if not p.exists() or p.read_text(encoding="utf-8") != text
    ]
    found += [str(p.relative_to(ROOT)) for p in set(COLAB.glob("*.ipynb")) - set(wanted)]
    return sorted(found)


# --------------------------------------------------------------------------- the stand-in

_RUNNER = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
try:
    NotebookClient(nb, timeout=int(sys.argv[3]), kernel_name="python3",
                   resources={"metadata": {"path": sys.argv[4]}}).execute()
finally:
    nbformat.write(nb, sys.argv[2])
"""

#: Imported by the stand-in's kernels (``sitecustomize``): a download of a file of the book's
#: repository (``…/raw/BRANCH/path``) reads the checkout instead, which stands in for the
#: repository as ``RESNET_EDU_SOURCE`` does for pip. Any other address is left alone.
_REPO_FILES = """
import os, urllib.request
_urlopen = urllib.request.urlopen
_prefixes = os.environ["RESNET_EDU_STANDIN_PREFIXES"].split()
_checkout = os.environ["RESNET_EDU_STANDIN_CHECKOUT"]

def urlopen(url, *args, **kwargs):
    address = url if isinstance(url, str) else url.full_url
    for prefix in _prefixes:
        if address.startswith(prefix):
            return _urlopen("file://" + _checkout + "/" + address[len(prefix):], *args, **kwargs)
    return _urlopen(url, *args, **kwargs)

urllib.request.urlopen = urlopen
"""

_VERSIONS = (
    "import sys, torch, torchvision; "
    "print(sys.version.split()[0], torch.__version__, torchvision.__version__)"
)


def _run_bounded(args: list[str], cwd: str, env: dict, limit: int) -> tuple[int | None, str]:
    """Run ``args``; after ``limit`` seconds stop it and its kernel (a process group).
    Returns (exit status or None when stopped, stderr)."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as err:
        proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
        )
        try:
            code: int | None = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
        err.seek(0)
        return code, err.read()


def _standin_env() -> dict[str, str]:
    """The environment of the stand-in's kernels: not strict, nothing of this checkout on the
    path, and a ``sitecustomize`` that serves the repository's files from the checkout."""
    drop = ("CI", "RESNET_EDU_STRICT", "PYTHONPATH", "VIRTUAL_ENV", "RESNET_EDU_SEED")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    hooks = Path(tempfile.mkdtemp(prefix="colab-standin-hooks-"))
    (hooks / "sitecustomize.py").write_text(_REPO_FILES, encoding="utf-8")
    env.update(
        PYTHONPATH=str(hooks),
        RESNET_EDU_STANDIN_PREFIXES=f"{repo_url()}/raw/{repo_branch()}/ {raw_url('')}",
        RESNET_EDU_STANDIN_CHECKOUT=str(ROOT),
        RESNET_EDU_SOURCE=ROOT.as_uri(),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        OMP_WAIT_POLICY="PASSIVE",
        MPLBACKEND="module://matplotlib_inline.backend_inline",
    )
    return env


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def _standin_record(python: Path) -> dict:
    """What the record says about the run before any notebook ran."""
    versions = subprocess.run(
        [str(python), "-c", _VERSIONS], capture_output=True, text=True, check=True
    ).stdout.split()
    commit = _git("rev-parse", "--short", "HEAD")
    if _git("status", "--porcelain", "--", "book", "resnet_edu", "colab"):
        commit += " + uncommitted changes"
    return {
        "what": "Every Colab notebook run top to bottom, as Colab would, in a fresh venv "
        "without resnet_edu or torchinfo (make colab-check): not strict (a false claim prints "
        "a ✗ line, counted here), the kernel in an empty directory; pip installs from this "
        "checkout and a download of a committed file of the repository reads it from the "
        "checkout (both stand in for the repository on GitHub)",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "python": versions[0],
        "torch": versions[1],
        "torchvision": versions[2],
        "cpu_count": os.cpu_count(),
        "results": [],
    }


def failed_claims(log: Path) -> int:
    """The claims that did not hold in a run: the entries of its claim log
    (``RESNET_EDU_CLAIM_LOG``, one JSON line per claim) whose ``passed`` is false. Read from the
    log, not from the ``✗`` lines of the outputs: an exercise checker prints ``✗`` too, for a
    reader who has not written the exercise yet, and that is not a claim."""
    if not log.exists():
        return 0
    lines = log.read_text(encoding="utf-8").splitlines()
    return sum(not json.loads(line)["passed"] for line in lines if line.strip())


def _error_line(returncode: int | None, stderr: str, limit: int) -> str | None:
    """One line that says why a notebook stopped, or None when it ran to the end."""
    if returncode is None:
        return f"stopped after {limit} s (the whole notebook's time limit)"
    if returncode == 0:
        return None
    plain = re.sub(r"\x1b\[[0-9;]*m", "", stderr)  # the traceback's colours
    lines = [x.strip() for x in plain.strip().splitlines() if x.strip()]
    errors = [x for x in lines if re.match(r"^\w*(Error|Exception)", x)]
    error = (errors or lines or [f"exit status {returncode}"])[-1][:300]
    if re.search(r"URLError|Name or service not known|getaddrinfo", error):
        error += (
            " (the notebook reaches the network, e.g. for a committed file of the repository; "
            "Colab has the network, this stand-in has not)"
        )
    return error


def _standin_one(python: Path, path: Path, env: dict, timeouts: tuple[int, int]) -> dict:
    """Run one twin as Colab would, after uninstalling resnet_edu and torchinfo, so that its
    setup cell installs them; the executed copy goes to ``_build/colab-standin/``."""
    cell_timeout, notebook_timeout = timeouts
    uninstall = [str(python), "-m", "pip", "uninstall", "-q", "-y", "resnet_edu", "torchinfo"]
    subprocess.run(uninstall, capture_output=True, env=env)
    executed = ROOT / "_build" / "colab-standin" / path.name
    executed.parent.mkdir(parents=True, exist_ok=True)
    executed.unlink(missing_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="colab-content-") as content,
        tempfile.TemporaryDirectory(prefix="colab-claims-") as logs,
    ):
        log = Path(logs) / "claims.jsonl"
        args = [str(python), "-c", _RUNNER, str(path), str(executed), str(cell_timeout), content]
        start = time.perf_counter()
        run_env = {**env, "RESNET_EDU_CLAIM_LOG": str(log)}
        returncode, stderr = _run_bounded(args, content, run_env, notebook_timeout)
        seconds = time.perf_counter() - start
        failed = failed_claims(log)
    error = _error_line(returncode, stderr, notebook_timeout)
    return {
        "notebook": str(path.relative_to(ROOT)),
        "passed": error is None and failed == 0,
        "seconds": round(seconds, 1),
        "failed_claims": failed,
        "error": error,
    }


def standin(
    python: Path, paths: list[Path], out: Path, timeout: int, notebook_timeout: int = 900
) -> list[dict]:
    """Run each twin top to bottom with ``python`` as Colab would, and record the results.

    Each chapter's setup cell installs resnet_edu and torchinfo itself (from
    ``RESNET_EDU_SOURCE``, this checkout). The kernel runs in an empty temporary directory (as
    Colab's ``/content``), not strictly (a false claim prints a ``✗`` line, as for a reader):
    such lines are counted. The record is rewritten after each notebook.
    """
    python = Path(os.path.abspath(python))  # not resolve(): a venv's python is a symlink
    if not python.exists():
        raise ValueError(f"--python: {python} does not exist (make colab-check creates it)")
    env, record = _standin_env(), _standin_record(python)
    out.parent.mkdir(parents=True, exist_ok=True)
    for path in paths:
        result = _standin_one(python, path, env, (timeout, notebook_timeout))
        record["results"].append(result)
        write_json(out, record)
        print(
            f"{'pass' if result['passed'] else 'FAIL'} {result['notebook']}: "
            f"{result['seconds']:.0f} s"
            + (f" — {result['error']}" if result["error"] else "")
            + (f" — {result['failed_claims']} claim(s) ✗" if result["failed_claims"] else ""),
            flush=True,
        )
    return record["results"]


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.colab", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    sub = parser.add_subparsers(dest="command", required=True)
    p_build = sub.add_parser("build", help="write colab/*.ipynb from the chapters")
    p_build.add_argument("--out", type=Path, default=COLAB, help="folder (default colab/)")
    sub.add_parser("check", help="fail if colab/ is not up to date with the chapters")
    p_run = sub.add_parser("standin", help="run every Colab twin in a Colab-like venv")
    p_run.add_argument("--python", type=Path, required=True, help="the venv's python")
    p_run.add_argument(
        "--out", type=Path, default=COLAB_CHECK, help=f"default {COLAB_CHECK.relative_to(ROOT)}"
    )
    p_run.add_argument("--timeout", type=int, default=600, help="seconds per cell (600)")
    p_run.add_argument("--notebook-timeout", type=int, default=900, help="seconds per notebook")
    p_run.add_argument("paths", nargs="*", type=Path, help="twins to run (default: all)")
    args = parser.parse_args(argv)
    try:
        return _command(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _command(args) -> int:
    if args.command == "build":
        for path in build(args.out.resolve()):
            print(f"wrote {path}")
        for problem in problems():
            print(f"warning: {problem}", file=sys.stderr)
        return 0
    if args.command == "check":
        outdated = stale()
        for p in outdated:
            print(f"out of date: {p}")
        if outdated:
            print("error: the Colab edition is out of date; run python -m tools.colab build")
        return 1 if outdated else 0
    paths = [p.resolve() for p in args.paths] or sorted(COLAB.glob("*.ipynb"))
    results = standin(args.python, paths, args.out.resolve(), args.timeout, args.notebook_timeout)
    return 0 if all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
