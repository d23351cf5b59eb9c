"""The Colab edition: every chapter as a notebook in plain Markdown, generated from ``book/``.

    python tools/colab.py build      # (re)write colab/*.ipynb from book/*.ipynb
    python tools/colab.py check      # exit 1 if colab/ differs from what `build` would write
    python tools/colab.py standin --python _build/colab-venv/bin/python   # the Colab stand-in

The chapters are written in MyST for Jupyter Book; Colab renders plain Markdown only, so it would
show every role and directive as raw text. ``build`` rewrites each chapter into ``colab/`` (the
"Colab twin"), keeping every code cell, in the same order, with the same source:

- ``{cite}`` becomes "(He et al., 2016)", with the works cited listed at the end;
- ``{doc}`` becomes a link to the other chapter's Colab twin (or to the published page);
- ``{numref}``, ``{ref}`` and ``{eq}`` become text ("Figure 2", a heading, "(3)");
- admonitions become quoted blocks with a bold title, dropdowns (solutions) ``<details>``;
- a figure's caption (cell metadata) becomes a Markdown cell under the figure;
- cells hidden in the book become collapsed Colab form cells (``# @title ...`` first line and
  ``cellView: form``); the setup cell stays the first code cell.

The twins are committed without outputs (the published book shows the recorded run; Colab is
where readers run it themselves). ``standin`` runs every twin top to bottom in a Python given with
``--python`` (a fresh venv with torch but without resnet_edu or torchinfo: ``make colab-check``),
as Colab would, and records the result in ``book/_data/colab_check.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notebooks import chapters, repo_branch, repo_url, setup_source  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
COLAB = ROOT / "colab"
BIB = ROOT / "references.bib"
RESULT = BOOK / "_data" / "colab_check.json"

#: What the title line of a collapsed cell says, by what the cell does.
TITLE_SETUP = "Setup: install resnet_edu and torchinfo if they are missing"
TITLE_CHECK = "Check the chapter's claims (hidden in the book)"
TITLE_HIDDEN = "Code hidden in the book"
TITLE_FIGURE = "Draw {figure} (code folded in the book)"

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
}

FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,}|:{3,})(?P<info>.*)$")
ROLE = re.compile(r"\{(?P<role>[a-zA-Z][\w:\-]*)\}`(?P<content>[^`]*)`")
TARGET = re.compile(r"^\s*\((?P<label>[\w\-:.]+)\)=\s*$")
AMS_ENV = re.compile(
    r"^\s*\\begin\{(?P<name>(?:equation|align|alignat|gather|multline|flalign|eqnarray)\*?)\}"
)
OPTION = re.compile(r"^:(?P<key>[\w\-]+):\s*(?P<value>.*)$")
LABELLED_MATH = re.compile(r"^(?P<before>.*)\$\$\s*\((?P<label>[\w\-:.]+)\)\s*$")
EXPLICIT = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.S)
LOCAL_LINK = re.compile(
    r"(?<=\]\()(?P<path>(?!https?:|mailto:|#)[^)\s#]+)(?P<anchor>#[^)\s]*)?(?=\))"
)

#: Patterns that only MyST understands; none may survive in a Colab twin (tests/test_colab.py).
MYST_LEFTOVERS = {
    "role": re.compile(r"\{[a-zA-Z][\w:\-]*\}`"),
    "directive": re.compile(r"^\s*(`{3,}|~{3,}|:{3,})\s*\{", re.M),
    "target": re.compile(r"^\s*\([\w\-:.]+\)=\s*$", re.M),
    "directive option": re.compile(r"^\s*>?\s*:(class|name|label|alt|width|open|align):", re.M),
    "labelled maths": re.compile(r"\$\$\s*\([\w\-:.]+\)"),
    "substitution": re.compile(r"\{\{[^}]*\}\}"),
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
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    base = config.get("launch_buttons", {}).get("colab_url", "https://colab.research.google.com")
    return f"{base.rstrip('/')}/github/{org}/{repo}/blob/{repo_branch()}/colab/{stem}.ipynb"


def raw_url(path: str) -> str:
    """The address of a committed file (an image the Markdown shows)."""
    org, repo = _github()
    return f"https://raw.githubusercontent.com/{org}/{repo}/{repo_branch()}/{path}"


def page_url(stem: str, anchor: str = "") -> str:
    return f"{site_url()}book/{stem}.html{anchor}"


# --------------------------------------------------------------------------- bibliography


class Bibliography:
    """``references.bib`` read with pybtex: author-year labels and short reference entries."""

    def __init__(self, path: Path = BIB):
        from pybtex.database import parse_file

        self.entries = parse_file(str(path)).entries

    @staticmethod
    def _text(latex: str) -> str:
        from pybtex.richtext import Text

        return str(Text.from_latex(latex)).strip()

    def _entry(self, key: str):
        if key not in self.entries:
            raise ValueError(f"cite: no entry {key!r} in {BIB.name}")
        return self.entries[key]

    def _surnames(self, key: str) -> list[str]:
        persons = self._entry(key).persons.get("author") or self._entry(key).persons.get("editor")
        if not persons:
            raise ValueError(f"cite: entry {key!r} has no author")
        return [self._text(" ".join(p.prelast_names + p.last_names)) for p in persons]

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
            last = self._text(" ".join(p.prelast_names + p.last_names))
            names.append(f"{last}, {initials}".rstrip(", ") if initials else last)
        who = ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1]
        fields = entry.fields
        title = self._text(fields.get("title", key))
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
            line += f" {self._text(venue)}."
        if "note" in fields:
            line += f" {self._text(fields['note'])}."
        if "url" in fields:
            line += f" <{fields['url']}>"
        elif "doi" in fields:
            line += f" <https://doi.org/{fields['doi']}>"
        return line


# --------------------------------------------------------------------------- the book's labels


def _title(path: Path) -> str:
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
        text = next(c.source for c in nb.cells if c.cell_type == "markdown")
    else:
        text = path.read_text(encoding="utf-8")
    match = re.search(r"^#\s+(.+)$", text, re.M)
    if not match:
        raise ValueError(f"{path.name}: no '# title' heading")
    return match.group(1).strip()


class Book:
    """What cross-references need: chapter titles, figure numbers, heading and equation labels."""

    def __init__(self, paths: list[Path]):
        self.titles = {p.stem: _title(p) for p in sorted(BOOK.glob("*.md"))}
        self.figures: dict[str, tuple[str, int]] = {}  # label -> (chapter, number in chapter)
        self.targets: dict[str, tuple[str, str]] = {}  # label -> (chapter, heading text)
        self.equations: dict[str, tuple[str, int]] = {}
        self.first_figure: dict[str, int] = {}  # chapter -> number of its first figure
        figure = 0  # Jupyter Book numbers figures through the whole book, in TOC order
        for path in _toc_order(paths):
            nb = nbformat.read(path, as_version=4)
            self.titles[path.stem] = _title(path)
            self.first_figure[path.stem] = figure + 1
            equation = 0
            for cell in nb.cells:
                if cell.cell_type == "code":
                    name = _figure(cell).get("name")
                    if _figure(cell):
                        figure += 1
                        if name:
                            self.figures[name] = (path.stem, figure)
                    continue
                if cell.cell_type != "markdown":
                    continue
                lines = cell.source.splitlines()
                for i, line in enumerate(lines):
                    if m := TARGET.match(line):
                        heading = next((x for x in lines[i + 1 :] if x.strip()), "")
                        self.targets[m["label"]] = (path.stem, heading.lstrip("#").strip())
                    if m := LABELLED_MATH.match(line):
                        equation += 1
                        self.equations[m["label"]] = (path.stem, equation)


def _toc_order(paths: list[Path]) -> list[Path]:
    """``paths`` in the order of ``_toc.yml`` (the order the book numbers figures in)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc.get("parts", []) for c in part["chapters"]]
    rank = {Path(f).name: i for i, f in enumerate(files)}
    return sorted(paths, key=lambda p: (rank.get(p.stem, len(rank)), p.name))


def _figure(cell) -> dict:
    return cell.metadata.get("mystnb", {}).get("figure", {}) if cell.cell_type == "code" else {}


# --------------------------------------------------------------------------- Markdown


class Converter:
    """Rewrites one chapter's MyST Markdown into Markdown that Colab renders."""

    def __init__(self, stem: str, book: Book, bib: Bibliography):
        self.stem, self.book, self.bib = stem, book, bib
        self.cited: list[str] = []
        self.problems: list[str] = []  # MyST that the book itself renders wrongly

    # ---- inline
    def inline(self, text: str) -> str:
        text = ROLE.sub(self._role, text)
        text = LOCAL_LINK.sub(self._link, text)
        return text

    def _role(self, match: re.Match) -> str:
        role, content = match["role"], match["content"]
        explicit = EXPLICIT.match(content)
        text, target = (explicit["text"], explicit["target"]) if explicit else (None, content)
        if role in ("cite", "cite:p", "cite:ps", "cite:t", "cite:ts"):
            keys = [k.strip() for k in content.split(",") if k.strip()]
            for key in keys:
                self.bib.year(key)  # raises for an unknown key
                if key not in self.cited:
                    self.cited.append(key)
            if role.startswith("cite:t"):
                return "; ".join(f"{self.bib.authors(k)} ({self.bib.year(k)})" for k in keys)
            return "(" + "; ".join(f"{self.bib.authors(k)}, {self.bib.year(k)}" for k in keys) + ")"
        if role == "doc":
            stem = (
                Path(target).with_suffix("").name if target.endswith((".ipynb", ".md")) else target
            )
            stem = stem.removeprefix("./").split("/")[-1]
            if stem not in self.book.titles:
                raise ValueError(
                    f"{self.stem}: {{doc}} target {target!r} is not a page of the book"
                )
            return f"[{text or self.book.titles[stem]}]({self._page(stem)})"
        if role in ("numref", "ref"):
            if target in self.book.figures:
                chapter, number = self.book.figures[target]
                words = f"Figure {number}"
                if text:
                    words = text.replace("%s", str(number)).replace("{number}", str(number))
                if chapter != self.stem:
                    words += f" of [{self.book.titles[chapter]}]({self._page(chapter)})"
                return words
            if target in self.book.targets:
                chapter, heading = self.book.targets[target]
                words = text or heading
                return words if chapter == self.stem else f"[{words}]({self._page(chapter)})"
            raise ValueError(f"{self.stem}: {{{role}}} target {target!r} not found")
        if role == "eq":
            if target not in self.book.equations:
                raise ValueError(f"{self.stem}: {{eq}} target {target!r} not found")
            return f"({self.book.equations[target][1]})"
        if role == "math":
            return f"${content}$"
        raise ValueError(f"{self.stem}: MyST role {{{role}}} has no Colab rendering; add one")

    def _page(self, stem: str) -> str:
        """A link to another page: its Colab twin for a notebook, else the published page."""
        return colab_url(stem) if (BOOK / f"{stem}.ipynb").exists() else page_url(stem)

    def _link(self, match: re.Match) -> str:
        path, anchor = match["path"], match["anchor"] or ""
        p = Path(path)
        if p.suffix in (".ipynb", ".md") and (BOOK / p.name).exists():
            return self._page(p.stem) if not anchor else page_url(p.stem, anchor)
        return raw_url(f"book/{path}") + anchor  # an image or file of the book, as committed

    # ---- blocks
    def block(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        i = 0
        in_maths = False  # inside a $$ ... $$ block
        while i < len(lines):
            line = lines[i]
            fence = FENCE.match(line)
            if fence:
                end = _closing(lines, i, fence["fence"])
                info = fence["info"].strip()
                body = [x[len(fence["indent"]) :] for x in lines[i + 1 : end]]
                directive = re.match(r"^\{(?P<name>[\w\-:]+)\}\s*(?P<arg>.*)$", info)
                if directive:
                    self._check_nesting(fence["fence"], line, body)
                    out += self.directive(directive["name"], directive["arg"].strip(), body)
                else:  # an ordinary code block: verbatim
                    out += lines[i : end + 1] + ([] if end < len(lines) else [fence["fence"]])
                i = end + 1
                continue
            if TARGET.match(line):
                i += 1
                continue
            if line.count("$$") % 2:
                in_maths = not in_maths
            env = AMS_ENV.match(line)
            if env and not in_maths:  # amsmath: a bare environment; Colab wants it in $$
                end = next(
                    (j for j in range(i, len(lines)) if f"\\end{{{env['name']}}}" in lines[j]),
                    len(lines) - 1,
                )
                out += ["$$", *lines[i : end + 1], "$$"]
                i = end + 1
                continue
            if m := LABELLED_MATH.match(line):
                number = self.book.equations[m["label"]][1]
                line = f"{m['before']}\\tag{{{number}}} $$"
            out.append(self.inline(line))
            i += 1
        return out

    def _check_nesting(self, fence: str, opening: str, body: list[str]) -> None:
        """A directive opened with ``` that contains a ```python block is closed by that block's
        closing fence (CommonMark), in the book as here: the rest shows as raw markup."""
        inner = re.compile(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*\S")
        if any(inner.match(x) for x in body):
            self.problems.append(
                f"{self.stem}: {opening.strip()!r} contains a code fence as long as its own, "
                f"which closes it early (the book shows raw markup there too); open it with "
                f"{fence[0] * (len(fence) + 1)} instead"
            )

    def directive(self, name: str, arg: str, body: list[str]) -> list[str]:
        options: dict[str, str] = {}
        while body and (m := OPTION.match(body[0])):
            options[m["key"]] = m["value"].strip()
            body = body[1:]
        if name == "admonition" or name in ADMONITIONS:
            title = self.inline(arg) if arg else ADMONITIONS.get(name, "Note")
            return self._admonition(title, body)
        if name == "dropdown":
            summary = re.sub(r"[*_`]", "", self.inline(arg or "Details"))
            opening = "<details open>" if "open" in options else "<details>"
            return [
                opening,
                f"<summary>{summary}</summary>",
                "",
                *self.block(body),
                "",
                "</details>",
            ]
        if name in ("math",):
            return ["$$", *body, "$$"]
        if name in ("code-block", "code", "sourcecode"):
            return [f"```{arg}", *body, "```"]
        if name == "figure":
            alt = options.get("alt", "")
            caption = " ".join(self.block(body)).strip()
            src = arg if arg.startswith(("http://", "https://")) else raw_url(f"book/{arg}")
            return [f"![{alt}]({src})", "", f"*{caption}*"]
        if name == "epigraph":
            return _quote(self.block(body))
        raise ValueError(f"{self.stem}: MyST directive {{{name}}} has no Colab rendering; add one")

    def _admonition(self, title: str, body: list[str]) -> list[str]:
        """A quoted block with a bold title; a dropdown inside (a solution) follows the quote,
        folded, so that it renders whether or not Colab allows HTML inside a quote."""
        quoted: list[str] = []
        after: list[str] = []
        i = 0
        while i < len(body):
            fence = FENCE.match(body[i])
            if fence and re.match(r"^\{dropdown\}", fence["info"].strip()):
                end = _closing(body, i, fence["fence"])
                after += ["", *self.block(body[i : end + 1])]
                i = end + 1
                continue
            if fence:  # keep any other fenced block whole
                end = _closing(body, i, fence["fence"])
                quoted += self.block(body[i : end + 1])
                i = end + 1
                continue
            quoted += self.block([body[i]])
            i += 1
        while quoted and not quoted[-1].strip():
            quoted.pop()
        return [*_quote([f"**{title}**", "", *quoted]), *after]

    def markdown(self, source: str) -> str:
        return "\n".join(self.block(source.splitlines())).strip("\n")


def _closing(lines: list[str], start: int, fence: str) -> int:
    """Index of the line closing the fence opened at ``start`` (same character, at least as
    long, nothing else on the line); nested fences are shorter or of another character."""
    pattern = re.compile(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
    for j in range(start + 1, len(lines)):
        if pattern.match(lines[j]):
            return j
    return len(lines)  # unclosed: runs to the end of its container, as in CommonMark/MyST


def _quote(lines: list[str]) -> list[str]:
    return [f"> {line}" if line.strip() else ">" for line in lines]


# --------------------------------------------------------------------------- notebooks


def _code_title(cell, index: int, figure_number: int | None) -> str | None:
    """The title of the collapsed form cell a code cell becomes, or None to keep it open."""
    tags = set(cell.metadata.get("tags", []))
    if index == 0:
        return TITLE_SETUP
    if "remove-cell" in tags:
        if re.search(r"\bclaim\(|\bassert\b", cell.source):
            return TITLE_CHECK
        return TITLE_HIDDEN
    if tags & {"hide-input", "remove-input"}:
        figure = f"Figure {figure_number}" if figure_number else "the figure"
        return TITLE_FIGURE.format(figure=figure)
    return None


def twin_code(source: str) -> str:
    """A twin's code cell without its Colab title line: equal to the chapter's cell."""
    lines = source.split("\n")
    return "\n".join(lines[1:]) if lines and lines[0].startswith("# @title ") else source


def colab_notebook(
    path: Path, book: Book, bib: Bibliography, problems: list[str] | None = None
) -> nbformat.NotebookNode:
    """The Colab twin of the chapter at ``path``; MyST the book itself renders wrongly is
    appended to ``problems`` (the twin reproduces what the book shows)."""
    nb = nbformat.read(path, as_version=4)
    convert = Converter(path.stem, book, bib)
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or code[0].source != setup_source():
        raise ValueError(f"{path.name}: the first code cell is not the shared setup cell")
    out = nbformat.v4.new_notebook()
    out.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "colab": {"provenance": [], "toc_visible": True},
    }
    title = _title(path)
    index, figure = 0, book.first_figure[path.stem] - 1
    for n, cell in enumerate(nb.cells):
        cid = cell.get("id") or f"{path.stem}-{n:03d}".replace("_", "-")
        if cell.cell_type == "markdown":
            if "remove-cell" in cell.metadata.get("tags", []):
                continue
            out.cells.append(nbformat.v4.new_markdown_cell(convert.markdown(cell.source), id=cid))
            if n == 0:
                out.cells.append(
                    nbformat.v4.new_markdown_cell(_banner(path.stem, title), id=f"{cid}-colab")
                )
            continue
        if cell.cell_type != "code":
            continue
        caption = _figure(cell).get("caption")
        if _figure(cell):
            figure += 1
        name = _code_title(cell, index, figure if _figure(cell) else None)
        source = f"# @title {name}\n{cell.source}" if name else cell.source
        metadata = {"cellView": "form"} if name else {}
        out.cells.append(nbformat.v4.new_code_cell(source, metadata=metadata, id=cid))
        if caption:
            text = convert.markdown(caption)
            out.cells.append(
                nbformat.v4.new_markdown_cell(f"**Figure {figure}.** {text}", id=f"{cid}-caption")
            )
        index += 1
    if problems is not None:
        problems += convert.problems
    if convert.cited:
        refs = "\n".join(f"- {bib.reference(k)}" for k in sorted(convert.cited, key=_sort_key(bib)))
        out.cells.append(
            nbformat.v4.new_markdown_cell(
                f"## Works cited\n\n{refs}\n\nEvery work the book cites: "
                f"[References]({page_url('references')}).",
                id=f"{path.stem[:40]}-works-cited".replace("_", "-"),
            )
        )
    return out


def _sort_key(bib: Bibliography):
    return lambda key: (bib.authors(key).lower(), bib.year(key))


def _banner(stem: str, title: str) -> str:
    return (
        f"> **Colab edition** of [{title}]({page_url(stem)}), a chapter of the book "
        f"[*ResNet, built and measured*]({site_url()}). Run it top to bottom (*Runtime → Run "
        "all*); the first cell installs the book's library. Cells that show only a title are "
        "folded code — hidden in the book — that checks the chapter's claims or draws a "
        "figure: double-click one to read it. This notebook is generated from "
        f"`book/{stem}.ipynb` by `tools/colab.py`; the book shows the recorded run's outputs."
    )


def edition(paths: list[Path] | None = None, problems: list[str] | None = None) -> dict[Path, str]:
    """Every Colab twin, as the text ``build`` writes, keyed by its path under ``colab/``."""
    paths = paths or chapters()
    book, bib = Book(chapters()), Bibliography()
    return {
        COLAB / p.name: nbformat.writes(colab_notebook(p, book, bib, problems)) + "\n"
        for p in paths
    }


def problems() -> list[str]:
    """MyST in the chapters that the book renders wrongly (and the twins reproduce)."""
    found: list[str] = []
    edition(problems=found)
    return found


def build() -> list[Path]:
    """Write the Colab edition; remove twins whose chapter is gone. Returns the changed files."""
    COLAB.mkdir(exist_ok=True)
    wanted = edition()
    changed = []
    for path, text in wanted.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            _write_text(path, text)
            changed.append(path)
    for stale in set(COLAB.glob("*.ipynb")) - set(wanted):
        stale.unlink()
        changed.append(stale)
    return changed


def stale() -> list[str]:
    """Twins that ``build`` would change: missing, different, or without a chapter."""
    wanted = edition()
    problems = [
        str(p.relative_to(ROOT))
        for p, text in wanted.items()
        if not p.exists() or p.read_text(encoding="utf-8") != text
    ]
    problems += [str(p.relative_to(ROOT)) for p in set(COLAB.glob("*.ipynb")) - set(wanted)]
    return sorted(problems)


def _write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    import signal

    with tempfile.TemporaryFile("w+", encoding="utf-8") as err:
        proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
        try:
            code: int | None = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
        err.seek(0)
        return code, err.read()


def standin(
    python: Path, paths: list[Path], out: Path, timeout: int, notebook_timeout: int = 900
) -> list[dict]:
    """Run each twin top to bottom with ``python`` as Colab would, and record the results.

    Before each notebook, resnet_edu and torchinfo are uninstalled from that environment, so
    each chapter's setup cell installs them itself (from ``RESNET_EDU_SOURCE``, this checkout).
    The kernel runs in an empty temporary directory (as Colab's ``/content``), not strictly
    (a false claim prints a ``✗`` line, as for a reader): such lines are counted.
    """
    python = Path(os.path.abspath(python))  # not resolve(): a venv's python is a symlink
    if not python.exists():
        raise ValueError(f"--python: {python} does not exist (make colab-check creates it)")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CI", "RESNET_EDU_STRICT", "PYTHONPATH", "VIRTUAL_ENV", "RESNET_EDU_SEED")
    }
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
    versions = subprocess.run(
        [str(python), "-c", _VERSIONS], capture_output=True, text=True, check=True
    ).stdout.split()
    executed = ROOT / "_build" / "colab-standin"
    executed.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "book", "resnet_edu", "colab"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if dirty:
        commit += " + uncommitted changes"
    record = {
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
    results = record["results"]
    out.parent.mkdir(parents=True, exist_ok=True)
    for path in paths:
        subprocess.run(
            [str(python), "-m", "pip", "uninstall", "-q", "-y", "resnet_edu", "torchinfo"],
            capture_output=True,
            env=env,
        )
        (executed / path.name).unlink(missing_ok=True)
        with tempfile.TemporaryDirectory(prefix="colab-content-") as content:
            args = [str(python), "-c", _RUNNER, str(path), str(executed / path.name)]
            start = time.perf_counter()
            returncode, stderr = _run_bounded(
                [*args, str(timeout), content], content, env, notebook_timeout
            )
            seconds = time.perf_counter() - start
        error = None
        if returncode is None:
            error = f"stopped after {notebook_timeout} s (the whole notebook's time limit)"
        elif returncode != 0:
            plain = re.sub(r"\x1b\[[0-9;]*m", "", stderr)  # the traceback's colours
            lines = [x for x in plain.strip().splitlines() if x.strip()]
            error = next(
                (
                    x.strip()
                    for x in reversed(lines)
                    if re.match(r"^\w*(Error|Exception)", x.strip())
                ),
                lines[-1].strip() if lines else f"exit status {returncode}",
            )[:300]
        failed_claims = 0
        if (executed / path.name).exists():
            done = nbformat.read(executed / path.name, as_version=4)
            for cell in done.cells:
                for output in cell.get("outputs", []):
                    text = output.get("text", "") or output.get("data", {}).get("text/plain", "")
                    failed_claims += sum(1 for x in str(text).splitlines() if x.startswith("✗"))
        if error and re.search(r"URLError|Name or service not known|getaddrinfo", error):
            error += (
                " (the notebook reaches the network, e.g. for a committed file of the "
                "repository; Colab has the network, this stand-in has not)"
            )
        result = {
            "notebook": str(path.relative_to(ROOT)),
            "passed": returncode == 0 and failed_claims == 0,
            "seconds": round(seconds, 1),
            "failed_claims": failed_claims,
            "error": error,
        }
        results.append(result)
        _write_text(out, json.dumps(record, indent=2, ensure_ascii=False) + "\n")  # as it goes
        status = "pass" if result["passed"] else "FAIL"
        print(
            f"{status} {result['notebook']}: {seconds:.0f} s"
            + (f" — {error}" if error else "")
            + (f" — {failed_claims} claim(s) ✗" if failed_claims else ""),
            flush=True,
        )
    return results


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="write colab/*.ipynb from the chapters")
    sub.add_parser("check", help="fail if colab/ is not up to date with the chapters")
    p_run = sub.add_parser("standin", help="run every Colab twin in a Colab-like venv")
    p_run.add_argument("--python", type=Path, required=True, help="the venv's python")
    p_run.add_argument(
        "--out", type=Path, default=RESULT, help=f"default {RESULT.relative_to(ROOT)}"
    )
    p_run.add_argument("--timeout", type=int, default=600, help="seconds per cell (600)")
    p_run.add_argument(
        "--notebook-timeout", type=int, default=900, help="seconds per notebook (900)"
    )
    p_run.add_argument("paths", nargs="*", type=Path, help="twins to run (default: all)")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            for path in build():
                print(f"wrote {path.relative_to(ROOT)}")
            for problem in problems():
                print(f"warning: {problem}", file=sys.stderr)
            return 0
        if args.command == "check":
            outdated = stale()
            for p in outdated:
                print(f"out of date: {p}")
            if outdated:
                print("error: the Colab edition is out of date; run python tools/colab.py build")
                return 1
            return 0
        paths = [p.resolve() for p in args.paths] or sorted(COLAB.glob("*.ipynb"))
        results = standin(
            args.python, paths, args.out.resolve(), args.timeout, args.notebook_timeout
        )
        return 0 if all(r["passed"] for r in results) else 1
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
