"""The glossary (book/_data/glossary.yml -> book/glossary.md, tools/glossary.py) and the notation
page (book/notation.md): current, true to the chapters, and read the same way by Sphinx's
glossary format and the Colab edition."""

from __future__ import annotations

import re
import textwrap

import pytest
import yaml

from tools import colab, glossary
from tools.common import ROOT, page_label, page_text, reading_order

LABELS = {page_label(p.path): p for p in reading_order()}


@pytest.fixture(scope="module")
def entries() -> list[glossary.Entry]:
    return glossary.load()


def _names(entries, language="en") -> dict[str, str]:
    return {name.casefold(): e.term for e in entries for name in e.names(language)}


def _write(tmp_path, items) -> object:
    path = tmp_path / "glossary.yml"
    path.write_text(yaml.safe_dump(items, allow_unicode=True), encoding="utf-8")
    return path


# --- the book's glossary -----------------------------------------------------------------------


def test_the_glossary_page_is_what_the_data_gives():
    assert glossary.is_current(), "book/glossary.md is stale: run python -m tools.glossary"


def test_every_entry_is_introduced_by_an_existing_page_that_uses_the_term(entries):
    """The label is a chapter's, an appendix's or the introduction's, and that page writes the
    term or an alias (code marks aside: "PyTorch's `meta` device")."""
    assert len(entries) > 50
    for entry in entries:
        assert entry.chapter in glossary.introducing_pages(), entry.term
        text = page_text(LABELS[entry.chapter].path).replace("`", "")
        pattern = "|".join(re.escape(n) for n in entry.names())
        assert re.search(rf"(?<![\w-])(?:{pattern})(?:s|es)?(?![\w-])", text, re.I), (
            f"{entry.term!r}: {entry.chapter} does not use the term; it says it introduces it"
        )


def test_every_term_role_in_the_book_names_a_glossary_entry(entries):
    names = _names(entries)
    for path in glossary.chapter_pages():
        for target in glossary.term_roles(page_text(path)):
            assert target.casefold() in names, f"{path.name}: {{term}} {target!r} is not defined"


def test_the_colab_edition_reads_the_same_terms_from_the_page(entries):
    """tools/colab.py links {term} roles to the published glossary by the names it reads from
    the page's directive: every name of the data, each exactly once."""
    assert colab._glossary_terms() == {n.casefold(): n for e in entries for n in e.names()}


def test_definitions_are_short_plain_sentences(entries):
    for entry in entries:
        text = entry.text().definition
        lengths = glossary.sentences(glossary.clean(text))
        assert 1 <= len(lengths) <= 2 and max(lengths) <= 25, entry.term
        assert "\n" not in text and text.endswith(".")


# --- the page's format -------------------------------------------------------------------------


def test_the_page_sorts_entries_and_links_the_introducing_page_by_label():
    items = [
        {"term": "stem", "chapter": "ch-degradation", "definition": "The first layers."},
        {"term": "BatchNorm (BN)", "aliases": ["BN"], "chapter": "ch-residual",
         "definition": "A layer that normalises. It has a scale and a shift."},
        {"term": "all-reduce", "chapter": "app-multi-gpu", "definition": "An average of all."},
        {"term": "ensemble", "chapter": "intro", "definition": "Several nets combined."},
    ]  # fmt: skip
    entries = [glossary._entry(item, "test", glossary.introducing_pages()) for item in items]
    page = glossary.render(entries)
    assert page.startswith("(glossary)=\n# Glossary\n")
    body = page.split(":::{glossary}\n", 1)[1]
    assert body == textwrap.dedent("""\
        all-reduce
          An average of all.
          Introduced in {ref}`Appendix A <app-multi-gpu>`.

        BatchNorm (BN)
        BN
          A layer that normalises. It has a scale and a shift.
          Introduced in {numref}`Chapter %s <ch-residual>`.

        ensemble
          Several nets combined.
          Introduced in the {ref}`introduction <intro>`.

        stem
          The first layers.
          Introduced in {numref}`Chapter %s <ch-degradation>`.
        :::
        """)


def test_a_translation_writes_its_page_from_the_same_entries(monkeypatch, tmp_path):
    """Issue 21: another language's page takes its words from the entries' translations, and
    keeps the English names as aliases so that {term} roles with English targets still resolve."""
    words = glossary.Language("Terms", "Opening.", "In chapter {label}.", "In {letter}.", "Intro.")
    monkeypatch.setitem(glossary.LANGUAGES, "xx", words)
    item = {"term": "stem", "chapter": "ch-degradation", "definition": "The first layers."}
    translated = {**item, "xx": {"term": "mets", "aliases": ["mets2"], "definition": "Sreyal."}}
    entries = glossary.load(_write(tmp_path, [translated]))
    page = glossary.render(entries, "xx")
    assert "# Terms\n" in page and "Opening.\n" in page
    assert "mets\nmets2\nstem\n  Sreyal.\n  In chapter ch-degradation.\n:::\n" in page
    assert glossary.render(entries) == glossary.render(glossary.load(_write(tmp_path, [item])))
    with pytest.raises(ValueError, match="'stem' has no 'xx' translation"):
        glossary.render(glossary.load(_write(tmp_path, [item])), "xx")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"chapter": "ch-nowhere"}, "chapter 'ch-nowhere' is not the label"),
        ({"chapter": "glossary"}, "chapter 'glossary' is not the label"),
        ({"chapter": None}, "chapter None is not the label"),
        ({"see": "x"}, r"unknown key\(s\) \['see'\]"),
        ({"ja": {"term": "x", "definition": "y."}}, r"unknown key\(s\) \['ja'\]"),
        ({"aliases": "stems"}, "aliases must be a list"),
        ({"term": "`stem`"}, "without markup"),
        ({"term": "stem : layers"}, "without markup or ' : '"),
        ({"term": " stem"}, "non-empty text"),
        ({"definition": "The first layers"}, "ends with '.'"),
        ({"definition": "The first one. The second one. The third one."}, "at most 2 sentences"),
        ({"definition": "The stem " + "is very " * 12 + "long."}, "of at most 25 words"),
    ],
)
def test_a_malformed_entry_is_refused_by_name(tmp_path, change, message):
    item = {"term": "stem", "chapter": "ch-degradation", "definition": "The first layers."}
    with pytest.raises(ValueError, match=message) as error:
        glossary.load(_write(tmp_path, [{**item, **change}]))
    assert "entry 1" in str(error.value)


def test_no_two_entries_define_the_same_name(tmp_path):
    """Sphinx finds a term without regard to case, so "BN" and "bn" are one name."""
    a = {"term": "BatchNorm (BN)", "aliases": ["BN"], "chapter": "ch-residual", "definition": "A."}
    b = {"term": "bn", "chapter": "ch-residual", "definition": "Another."}
    c = {"term": "stem", "aliases": ["Stem"], "chapter": "ch-degradation", "definition": "One."}
    with pytest.raises(ValueError, match="'bn' names two entries, 'BatchNorm \\(BN\\)' and 'bn'"):
        glossary.load(_write(tmp_path, [a, b]))
    with pytest.raises(ValueError, match="'stem' gives the name 'stem' twice"):
        glossary.load(_write(tmp_path, [c]))
    with pytest.raises(ValueError, match="expected a list of entries"):
        glossary.load(_write(tmp_path, {"term": "stem"}))


def test_check_says_when_the_page_is_stale(monkeypatch, tmp_path, capsys):
    page = tmp_path / "glossary.md"
    monkeypatch.setattr(glossary, "PAGE", page)
    page.write_text(glossary.render(glossary.load()) + "edited by hand\n", encoding="utf-8")
    assert glossary.main(["--check"]) == 1 and "stale" in capsys.readouterr().out
    page.unlink()
    assert glossary.main(["--check"]) == 1
    assert glossary.main([]) == 0 and glossary.main(["--check"]) == 0


# --- first uses --------------------------------------------------------------------------------


def test_first_uses_finds_each_terms_first_mention_in_running_text():
    entries = [
        glossary._entry(item, "test", glossary.introducing_pages())
        for item in [
            {"term": "plain net", "chapter": "ch-degradation", "definition": "No shortcuts."},
            {"term": "stem", "chapter": "ch-degradation", "definition": "First layers."},
            {"term": "shortcut", "chapter": "ch-residual", "definition": "Adds the input."},
            {"term": "ResNet", "chapter": "ch-residual", "definition": "With shortcuts."},
            {"term": "block", "chapter": "ch-residual", "definition": "A unit."},
        ]
    ]
    markdown = textwrap.dedent("""\
        # Plain nets and the stem

        ResNet-56 is not a match. `stem` in code is not, nor $stem$.
        Deep *plain
        nets* fail; {term}`shortcuts <shortcut>` help.

        ::::{admonition} Exercise
        :class: dropdown
        The stem shrinks the image. A ResNet adds a shortcut.
        ::::
        """)
    assert glossary.first_uses(markdown, entries) == [
        ("plain net", ". Deep plain nets fail;"),
        ("stem", "The stem shrinks the image. A ResNet a"),
        ("ResNet", "The stem shrinks the image. A ResNet adds a shortcut."),
    ]
    assert glossary.term_roles(markdown) == ["shortcut"]
    assert glossary.term_roles("{term}`degradation problem`") == ["degradation problem"]


# --- the notation page -------------------------------------------------------------------------


def test_the_notation_page_gives_each_symbol_once_and_where_it_first_appears():
    path = ROOT / "book" / "notation.md"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("(notation)=\n# Notation\n")
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| $")
    ]
    assert len(rows) > 50 and all(len(row) == 3 for row in rows), "symbol | meaning | where"
    symbols = [row[0] for row in rows]
    assert len(symbols) == len(set(symbols)), "a symbol is listed twice"
    for symbol, _, where in rows:
        label = re.fullmatch(r"\{(?:numref|ref)\}`[^<`]*<([\w-]+)>`", where)
        assert label and label.group(1) in glossary.introducing_pages(), (symbol, where)


def test_the_glossary_and_notation_close_the_appendices_before_the_references():
    stems = [p.path.stem for p in reading_order()]
    assert stems[-4:] == ["checked", "glossary", "notation", "references"]
