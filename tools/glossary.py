"""Write ``book/glossary.md``, the glossary page, from ``book/_data/glossary.yml``.

    python -m tools.glossary            # (re)write book/glossary.md
    python -m tools.glossary --check    # exit 1 if book/glossary.md is not what the data gives
    python -m tools.glossary --uses     # per chapter, the first use of each term not yet linked

The data is a list of entries, one per term; the file's header says what each field holds. The
page is one MyST ``{glossary}`` directive, sorted by term, so a chapter links a term with
``{term}`degradation problem``` (an alias links the same entry). Each definition is followed by
the page that introduces the term, as a cross-reference from its label ("Introduced in Chapter
1"), so renumbering the chapters renumbers the glossary. A definition is one or two short
sentences (issue 19): ``load`` refuses longer ones, and any malformed entry, naming it.

Languages (issue 21). The page's own words (title, opening, "Introduced in ...") are one row of
``LANGUAGES``. A translation adds its row and, per entry, a mapping under its language code
(``ja: {term: ..., aliases: [...], definition: ...}``); ``render(entries, "ja")`` then writes
that language's page from the same entries. The English names stay on that page as aliases, so a
``{term}`` role that keeps its English target resolves in the translated build too.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from tools.common import BOOK, DATA, ROOT, page_label, page_text, reading_order, write_text
from tools.prose_stats import clean, sentences

SOURCE = DATA / "glossary.yml"
PAGE = BOOK / "glossary.md"
LABEL = "glossary"
MAX_SENTENCES = 2  # a definition: one short sentence, two at most
MAX_WORDS = 25  # words in one sentence of a definition
TEXT_FIELDS = ("term", "aliases", "definition")


@dataclass(frozen=True)
class Language:
    """The page's own words in one language; ``{label}`` and ``{letter}`` are filled in."""

    title: str
    opening: str
    chapter: str  # a numbered chapter
    appendix: str
    root: str  # the introduction


LANGUAGES = {
    "en": Language(
        title="Glossary",
        opening=(
            "Each entry says what a term means in this book, and which chapter introduces it. "
            "The symbols have their own page, {ref}`notation`."
        ),
        chapter="Introduced in {{numref}}`Chapter %s <{label}>`.",
        appendix="Introduced in {{ref}}`Appendix {letter} <{label}>`.",
        root="Introduced in the {{ref}}`introduction <{label}>`.",
    ),
}


@dataclass(frozen=True)
class Text:
    """An entry's words in one language."""

    term: str
    definition: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Entry:
    """One term: its words by language (English always) and the page that introduces it."""

    chapter: str
    texts: dict[str, Text]

    @property
    def term(self) -> str:
        return self.texts["en"].term

    def text(self, language: str = "en") -> Text:
        if language not in self.texts:
            raise ValueError(f"glossary entry {self.term!r} has no {language!r} translation")
        return self.texts[language]

    def names(self, language: str = "en") -> list[str]:
        """The term and its aliases; in a translation, followed by the English ones."""
        text = self.text(language)
        names = [text.term, *text.aliases]
        if language != "en":
            names += [n for n in (self.term, *self.texts["en"].aliases) if n not in names]
        return names


# --- the data ----------------------------------------------------------------------------------


def introducing_pages() -> dict[str, str]:
    """The labels an entry may name, with the page's number: every chapter ("3"), every appendix
    ("A"), and the introduction ("")."""
    pages = reading_order()
    return {page_label(p.path): p.number for i, p in enumerate(pages) if p.number or i == 0}


def load(path: Path = SOURCE) -> list[Entry]:
    """The entries of ``path``, checked: each well formed, each chapter an existing label, no
    name (term or alias) given twice in one language."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, list):
        raise ValueError(f"{path.name}: expected a list of entries, got {type(raw).__name__}")
    pages = introducing_pages()
    entries = [_entry(item, f"{path.name} entry {i + 1}", pages) for i, item in enumerate(raw)]
    for language in LANGUAGES:  # Sphinx finds a term without regard to case
        seen: dict[str, str] = {}
        for entry in (e for e in entries if language in e.texts):
            names = entry.names(language)
            folded = [n.casefold() for n in names]
            for name, key in zip(names, folded, strict=True):
                if key in seen:
                    raise ValueError(
                        f"{path.name}: {name!r} names two entries, {seen[key]!r} and {entry.term!r}"
                    )
                if folded.count(key) > 1:
                    raise ValueError(f"{path.name}: {entry.term!r} gives the name {name!r} twice")
            seen.update(dict.fromkeys(folded, entry.term))
    return entries


def _entry(item, where: str, pages: dict[str, str]) -> Entry:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected a mapping (term, definition, chapter), got {item!r}")
    where = f"{where} ({item.get('term')!r})"
    translations = set(LANGUAGES) - {"en"}
    unknown = set(item) - {"chapter", *TEXT_FIELDS, *translations}
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {sorted(unknown)}; accepted: chapter, "
            f"{', '.join(TEXT_FIELDS)}, and a translation under a language code of LANGUAGES "
            f"({sorted(translations)})"
        )
    chapter = item.get("chapter")
    if chapter not in pages:
        raise ValueError(
            f"{where}: chapter {chapter!r} is not the label of a chapter, an appendix or the "
            f"introduction; the labels are {', '.join(pages)}"
        )
    texts = {"en": _text({k: v for k, v in item.items() if k in TEXT_FIELDS}, where)}
    for language in sorted(translations & set(item)):
        if not isinstance(item[language], dict) or set(item[language]) - set(TEXT_FIELDS):
            raise ValueError(f"{where}: {language} must map {', '.join(TEXT_FIELDS)}")
        texts[language] = _text(item[language], f"{where}, {language}")
    return Entry(chapter, texts)


def _text(fields: dict, where: str) -> Text:
    aliases = fields.get("aliases", [])
    if not isinstance(aliases, list):
        raise ValueError(f"{where}: aliases must be a list of names, got {aliases!r}")
    for name in (fields.get("term"), *aliases):
        _check_name(name, where)
    definition = fields.get("definition")
    if not isinstance(definition, str) or not definition.strip().endswith("."):
        raise ValueError(f"{where}: definition must be text that ends with '.', got {definition!r}")
    lengths = sentences(clean(definition))
    if len(lengths) > MAX_SENTENCES or max(lengths, default=0) > MAX_WORDS:
        raise ValueError(
            f"{where}: a definition is at most {MAX_SENTENCES} sentences of at most {MAX_WORDS} "
            f"words; this one has sentences of {lengths} words"
        )
    return Text(fields["term"], " ".join(definition.split()), tuple(aliases))


def _check_name(name, where: str) -> None:
    """A term line of Sphinx's glossary: one line, no markup, no " : " (a classifier there)."""
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise ValueError(f"{where}: a term or alias must be non-empty text, got {name!r}")
    if "\n" in name or "`" in name or " : " in name or name.startswith(".. "):
        raise ValueError(f"{where}: {name!r} must be one line without markup or ' : '")


# --- the page ----------------------------------------------------------------------------------


def render(entries: list[Entry], language: str = "en") -> str:
    """The glossary page's MyST Markdown in ``language``, its entries sorted by term."""
    words = LANGUAGES[language]
    pages = introducing_pages()
    lines = [
        f"({LABEL})=",
        f"# {words.title}",
        "",
        f"<!-- Written by tools/glossary.py from {SOURCE.relative_to(ROOT)}: edit that file. -->",
        "",
        words.opening,
        "",
        ":::{glossary}",
    ]
    for entry in sorted(entries, key=lambda e: e.names(language)[0].casefold()):
        number = pages[entry.chapter]
        where = words.chapter if number.isdigit() else words.appendix if number else words.root
        lines += entry.names(language)
        lines.append(f"  {entry.text(language).definition}")
        lines += [f"  {where.format(label=entry.chapter, letter=number)}", ""]
    lines[-1] = ":::"
    return "\n".join(lines) + "\n"


def write() -> None:
    write_text(PAGE, render(load()))


def is_current() -> bool:
    return PAGE.exists() and PAGE.read_text(encoding="utf-8") == render(load())


# --- the chapters' terms -----------------------------------------------------------------------


def chapter_pages() -> list[Path]:
    """Every page of the book but the glossary itself, in reading order."""
    return [p.path for p in reading_order() if p.path != PAGE]


def term_roles(markdown: str) -> list[str]:
    """The target of every ``{term}`` role in ``markdown`` (``{term}`text <target>``` too)."""
    return [_target(role) for role in _roles(markdown, "term")]


def first_uses(markdown: str, entries: list[Entry]) -> list[tuple[str, str]]:
    """Each term's first use in ``markdown``'s running text, in order, as (term, the words around
    it), for the terms the page does not link yet. Headings, code, maths and roles are left out;
    a plural counts; a capital may start the name."""
    linked = {t.casefold() for t in term_roles(markdown)}
    texts = list(_running_text(markdown))
    found = []
    for entry in entries:
        names = entry.names()
        if linked & {n.casefold() for n in names}:
            continue
        hits = []
        for name in names:
            rest = re.escape(name[1:])
            pattern = rf"(?<![\w-])[{name[0].upper()}{name[0].lower()}]{rest}(?:s|es)?(?![\w-])"
            for i, text in enumerate(texts):
                if m := re.search(pattern, text):
                    before = text[: m.start()].rsplit("\0", 1)[-1][-30:]
                    after = text[m.end() :].split("\0", 1)[0][:30]
                    hits.append((i, m.start(), before + m.group() + after))
                    break
        if hits:
            i, start, context = min(hits)
            found.append(((i, start), entry.term, " ".join(context.split())))
    return [(term, context) for _, term, context in sorted(found)]


def _roles(markdown: str, name: str):
    for token in _tokens(markdown):
        for child in token.children or []:
            if child.type == "myst_role" and child.meta["name"] == name:
                yield child.content


def _target(content: str) -> str:
    match = re.fullmatch(r"(?s).*<([^<>]+)>\s*", content)
    return (match.group(1) if match else content).strip()


def _tokens(markdown: str):
    """The inline tokens of ``markdown``, directive bodies (exercises, admonitions) included,
    each marked ``heading`` in its ``meta`` when it is a heading's text."""
    from tools.colab import myst  # the book's own MyST reading

    tokens = myst().parse(markdown)
    for i, token in enumerate(tokens):
        if token.type == "inline":
            token.meta["heading"] = i > 0 and tokens[i - 1].type == "heading_open"
            yield token
        elif token.type in ("fence", "colon_fence") and token.info.strip().startswith("{"):
            if not re.match(r"\{(code|code-block|code-cell|math)\}", token.info.strip()):
                body = re.sub(r"(?m)^:[\w-]+:.*$", "", token.content)
                yield from _tokens(body)


def _running_text(markdown: str):
    """Each paragraph's words, with code, maths, roles and links replaced by a break."""
    for token in _tokens(markdown):
        if token.meta.get("heading"):
            continue
        parts, in_link = [], False
        for child in token.children or []:
            in_link = child.type == "link_open" or (in_link and child.type != "link_close")
            if child.type == "text" and not in_link:
                parts.append(child.content)
            elif child.type == "softbreak":
                parts.append(" ")
            elif child.type not in ("em_open", "em_close", "strong_open", "strong_close"):
                parts.append("\0")
        yield "".join(parts)


def _shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.glossary", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    action.add_argument("--uses", action="store_true", help="first unlinked use of each term")
    args = parser.parse_args(argv)
    try:
        if args.check:
            if is_current():
                return 0
            print(f"{_shown(PAGE)} is stale: run python -m tools.glossary")
            return 1
        if args.uses:
            entries = load()
            for path in chapter_pages():
                print(_shown(path))
                for term, context in first_uses(page_text(path), entries):
                    print(f"  {term:<26} ...{context}...")
            return 0
        write()
        print(f"wrote {_shown(PAGE)}")
        return 0
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
