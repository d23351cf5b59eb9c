"""The Colab edition (``colab/``, written by ``python -m tools.colab build``) reads cleanly and
tracks the book.

Rules checked here:

- ``colab/`` is exactly what ``python -m tools.colab build`` writes from the current chapters;
- no MyST syntax survives in a twin's Markdown (roles, directives, targets, options);
- a twin has the chapter's code cells, in the same order, with the same source; the only change
  is a first line ``# @title ...`` (and ``cellView: form``) on the cells the book hides: the
  setup cell, claims cells (``hide-cell``), ``remove-cell`` and ``hide-input``/``remove-input``;
- every solution is folded (``<details>``), every figure caption follows its figure;
- ``colab-only`` Markdown is in the twin, ``book-only`` Markdown is not;
- cross-references read as the book renders them: "Chapter 3", "Figure 3.2", and the same
  numbers as the built HTML;
- the README starts with the site's address, derived from ``repository.url`` in ``_config.yml``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from tools import colab
from tools.common import COLAB_CHECK, ROOT, Page, chapters

CHAPTERS = chapters()
IDS = [p.name for p in CHAPTERS]


def _twin(chapter: Path) -> nbformat.NotebookNode:
    path = colab.COLAB / chapter.name
    assert path.exists(), f"no Colab twin for {chapter.name}: run python -m tools.colab build"
    return nbformat.read(path, as_version=4)


def _code(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def test_the_edition_is_up_to_date_with_the_chapters():
    assert colab.stale() == [], "run: python -m tools.colab build (and commit colab/)"


def test_chapters_nest_their_fences_so_that_myst_reads_them_as_meant():
    """An admonition opened with ``` around a ```python block ends at that block's closing
    fence: the book shows the rest as raw markup, and so would the twin."""
    assert colab.problems() == []


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_twin_shows_no_myst_syntax(chapter):
    leftovers = []
    for cell in _twin(chapter).cells:
        if cell.cell_type != "markdown":
            continue
        for kind, pattern in colab.MYST_LEFTOVERS.items():
            leftovers += [f"{kind}: {m.group(0)!r}" for m in pattern.finditer(cell.source)]
    assert leftovers == [], f"{chapter.name}: MyST syntax in the Colab twin: {leftovers}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_twin_has_the_chapters_code_cells_in_order(chapter):
    book = _code(nbformat.read(chapter, as_version=4))
    twin = _code(_twin(chapter))
    assert [colab.twin_code(c.source) for c in twin] == [c.source for c in book]
    assert twin[0].source.splitlines()[0] == f"# @title {colab.TITLE_SETUP}"
    for mine, theirs in zip(twin, book, strict=True):
        hidden = theirs is book[0] or bool(colab.FOLDED & set(theirs.metadata.get("tags", [])))
        titled = mine.source.startswith("# @title ")
        assert titled == hidden, f"{chapter.name}: {mine.source[:80]!r}"
        assert (mine.metadata.get("cellView") == "form") == hidden
        assert mine.outputs == [] and mine.execution_count is None  # no outputs: see README
        if "with claims():" in theirs.source:
            assert mine.source.splitlines()[0] == f"# @title {colab.TITLE_CLAIMS}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_solutions_are_folded_and_captions_follow_their_figures(chapter):
    source = nbformat.read(chapter, as_version=4)
    twin = _twin(chapter)
    dropdowns = sum(
        len(re.findall(r"^\s*(?:`{3,}|:{3,})\{dropdown\}", c.source, re.M))
        for c in source.cells
        if c.cell_type == "markdown" and "book-only" not in c.metadata.get("tags", [])
    )
    folded = sum(c.source.count("<details") for c in twin.cells if c.cell_type == "markdown")
    assert folded == dropdowns
    by_id = {c.get("id"): i for i, c in enumerate(twin.cells)}
    for cell in source.cells:
        figure = cell.metadata.get("mystnb", {}).get("figure", {})
        if cell.cell_type == "code" and figure.get("caption") and figure.get("name"):
            after = twin.cells[by_id[cell.id] + 1]
            assert after.cell_type == "markdown"
            assert re.match(r"\*\*Figure (\d+\.)?\d+\.\*\* ", after.source), after.source[:60]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_text_for_one_edition_is_only_in_that_edition(chapter):
    twin = {c.get("id") for c in _twin(chapter).cells}
    for cell in nbformat.read(chapter, as_version=4).cells:
        tags = set(cell.metadata.get("tags", []))
        if "colab-only" in tags:
            assert cell.id in twin, f"{chapter.name}: a colab-only cell is missing from Colab"
        if "book-only" in tags:
            assert cell.id not in twin, f"{chapter.name}: a book-only cell is in Colab"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_the_colab_edition_does_not_speak_of_the_offline_build(chapter):
    """The book's pages were built offline; a Colab reader is online and runs the chapter: text
    about the offline build is ``book-only``, and Colab's own text ``colab-only``."""
    for cell in _twin(chapter).cells:
        if cell.cell_type == "markdown":
            found = re.search(r"(page|book) (was|is) built (offline|without internet)", cell.source)
            assert not found, f"{chapter.name}: {found.group(0)!r} in Colab; tag it book-only"


# --- the converter, on made-up text ------------------------------------------------------------


def _converter(**figures) -> colab.Converter:
    """A converter for chapter 'ch' (Chapter 3) of a made-up book: another chapter 'other'
    (Chapter 4), an appendix 'app' (A), and the given figure labels of chapter 3."""
    book = colab.Book.__new__(colab.Book)
    book.numbers = {"ch": "3", "other": "4", "app": "A", "references": ""}
    book.titles = {"ch": "A chapter", "other": "Another chapter", "app": "An appendix"}
    book.labels = {
        "ch-this": ("ch", "A chapter", 1),
        "ch-other": ("other", "Another chapter", 1),
        "app-x": ("app", "An appendix", 1),
        "sec-x": ("other", "A section", 2),
        "sec-here": ("ch", "Here, with {cite}`he2016deep`", 2),
    }
    book.figures = {label: ("ch", f"3.{n}") for label, n in figures.items()}
    book.figures["fig-far"] = ("other", "4.1")
    book.equations = {}
    book.terms = {"degradation problem": "degradation problem", "batchnorm (bn)": "BatchNorm (BN)"}
    book.figure_format = "Figure %s"
    return colab.Converter("ch", book, colab.Bibliography())


def test_roles_become_plain_markdown():
    c = _converter(**{"fig-a": 3})
    text = c.markdown(
        "As {cite}`he2016deep` and {cite}`goyal2017accurate,he2016deep` show "
        "({numref}`fig-a`, {numref}`Panel %s <fig-a>`), see {doc}`other` and {ref}`sec-x`."
    )
    assert "(He et al., 2016)" in text
    assert "(Goyal et al., 2017; He et al., 2016)" in text
    assert "(Figure 3.3, Panel 3.3)" in text
    assert f"[Another chapter]({colab.page_url('other')})" in text
    assert f"[A section]({colab.page_url('other')})" in text
    assert c.cited == ["he2016deep", "goyal2017accurate"]


def test_chapters_and_appendices_are_referred_to_by_number():
    c = _converter()
    text = c.markdown(
        "See {numref}`Chapter %s <ch-other>`, {numref}`Appendix %s <app-x>`, "
        "{ref}`Appendix A <app-x>` and {numref}`fig-far`; {numref}`Chapter %s <ch-this>` is this."
    )
    assert text == (
        f"See [Chapter 4]({colab.page_url('other')}), [Appendix A]({colab.page_url('app')}), "
        f"[Appendix A]({colab.page_url('app')}) and [Figure 4.1]({colab.page_url('other')}); "
        "Chapter 3 is this."
    )
    with pytest.raises(ValueError, match="no number"):
        c.book.numbers["other"] = ""
        c.markdown("{numref}`Chapter %s <ch-other>`")
    with pytest.raises(ValueError, match="not a figure or a page"):
        c.markdown("{numref}`Section %s <sec-x>`")


def test_the_banner_names_a_page_by_its_number_once():
    """A twin's first line says where its page sits in the book; an appendix whose title
    already says "Appendix A: ..." is not called "Appendix A" a second time."""
    book = colab.Book()
    assert "), Chapter 3 of the book" in colab._banner("03_why_plain_nets_fail", book)
    assert book.titles["appendix_multi_gpu"].startswith("Appendix A: ")
    assert colab._banner("appendix_multi_gpu", book).count("Appendix A") == 1


def test_a_section_reference_shows_the_heading_as_rendered():
    c = _converter()
    assert c.markdown("Read {ref}`sec-here`.") == "Read Here, with (He et al., 2016)."


def test_doc_links_open_the_colab_twin_of_a_chapter():
    c = _converter()
    c.book.titles["02_residual_learning"] = "Residual learning"
    text = c.markdown("Chapters: {doc}`02_residual_learning`.")
    assert text == f"Chapters: [Residual learning]({colab.colab_url('02_residual_learning')})."
    assert colab.colab_url("02_residual_learning").endswith("/colab/02_residual_learning.ipynb")


def test_terms_link_the_glossary_entry_at_sphinx_s_anchor(monkeypatch, tmp_path):
    c = _converter()
    glossary = tmp_path / "glossary.md"
    glossary.write_text("x")
    monkeypatch.setattr(colab, "GLOSSARY", glossary)
    text = c.markdown("The {term}`degradation problem` and {term}`BN <BatchNorm (BN)>`.")
    assert text == (
        f"The [degradation problem]({colab.page_url('glossary', '#term-degradation-problem')}) "
        f"and [BN]({colab.page_url('glossary', '#term-BatchNorm-BN')})."
    )
    with pytest.raises(ValueError, match="not in glossary.md"):
        c.markdown("A {term}`shortcutt`.")
    monkeypatch.setattr(colab, "GLOSSARY", tmp_path / "none.md")  # no glossary yet: plain text
    assert c.markdown("The {term}`degradation problem`.") == "The degradation problem."


def test_glossary_terms_are_read_from_the_glossary_directive(monkeypatch, tmp_path):
    glossary = tmp_path / "glossary.md"
    glossary.write_text(
        "(glossary)=\n# Glossary\n\n:::{glossary}\n:sorted:\n\nplain net\n  A net without "
        "shortcuts.\n\nResNet\nresidual network\n  A net with shortcuts.\n:::\n"
    )
    monkeypatch.setattr(colab, "GLOSSARY", glossary)
    assert colab._glossary_terms() == {
        "plain net": "plain net",
        "resnet": "ResNet",
        "residual network": "residual network",
    }


def test_an_exercise_is_a_quote_and_its_solution_is_folded_after_it():
    c = _converter()
    text = c.markdown(
        "````{admonition} Exercise 1: try\n:class: dropdown\nDo it.\n\n"
        ":::{dropdown} Solution\nLike this:\n```python\nx = 1\n```\n:::\n````"
    )
    assert text == (
        "> **Exercise 1: try**\n>\n> Do it.\n\n"
        "<details>\n<summary>Solution</summary>\n\nLike this:\n```python\nx = 1\n```\n\n</details>"
    )


def test_notes_margins_targets_and_comments():
    c = _converter()
    text = c.markdown(
        "(sec-y)=\n## Heading\n\n% an author's note\n```{note}\nMind the gap.\n```\n\n"
        ":::{margin}\nChecked: {ref}`Appendix A <app-x>`.\n:::"
    )
    assert text == (
        "## Heading\n\n> **Note**\n>\n> Mind the gap.\n\n"
        f"> Checked: [Appendix A]({colab.page_url('app')})."
    )


def test_a_directive_inside_a_list_or_a_quote_keeps_its_place():
    c = _converter()
    text = c.markdown("- one\n- ```{note}\n  inside\n  ```\n\n> quoted {cite}`he2016deep`")
    assert text == "- one\n- > **Note**\n  >\n  > inside\n\n> quoted (He et al., 2016)"


def test_only_roles_change_and_everything_else_is_kept_as_written():
    c = _converter()
    source = (
        "A *role* in `code {cite}`x``, an escaped \\*star\\*, a [link](https://a.b/c)\n"
        "and a role split over lines: {numref}`Chapter %s\n<ch-other>` here.\n\n"
        "| a | b |\n|---|---|\n| {cite}`he2016deep` | [x](img/p.png) |"
    )
    assert c.markdown(source) == (
        "A *role* in `code {cite}`x``, an escaped \\*star\\*, a [link](https://a.b/c)\n"
        f"and a role split over lines: [Chapter 4]({colab.page_url('other')})\n here.\n\n"
        f"| a | b |\n|---|---|\n| (He et al., 2016) | [x]({colab.raw_url('book/img/p.png')}) |"
    )


def test_unknown_myst_is_an_error_not_raw_text():
    c = _converter()
    with pytest.raises(ValueError, match="glue"):
        c.markdown("The value is {glue}`acc`.")
    with pytest.raises(ValueError, match="tab-set"):
        c.markdown("```{tab-set}\nA tab.\n```")
    with pytest.raises(ValueError, match="nosuchkey"):
        c.markdown("{cite}`nosuchkey`")
    with pytest.raises(ValueError, match="sec-nowhere"):
        c.markdown("{ref}`sec-nowhere`")


def test_maths_images_and_labelled_equations():
    c = _converter()
    c.book.equations = {"eq-res": ("ch", "3.1")}
    text = c.markdown(
        "\\begin{align}\ny &= x\n\\end{align}\n\n$$\n\\begin{aligned} a \\end{aligned}\n$$\n\n"
        "$$ y = F(x) + x $$ (eq-res)\n\nBy {eq}`eq-res`, ![a plot](img/p.png) and {math}`x^2`."
    )
    assert text.startswith("$$\n\\begin{align}\ny &= x\n\\end{align}\n$$\n\n$$\n\\begin{aligned}")
    assert "$$ y = F(x) + x \\tag{3.1} $$" in text
    assert f"By (3.1), ![a plot]({colab.raw_url('book/img/p.png')}) and $x^2$." in text


def test_ordinary_code_blocks_are_left_alone():
    c = _converter()
    block = "```python\nprint({cite}`x`)\n```"  # not a role: inside code
    assert c.markdown(block) == block


def test_a_fence_that_closes_its_directive_early_is_reported():
    c = _converter()
    c.markdown("```{note}\nText.\n```python\nx = 1\n```\nmore\n```")
    assert len(c.problems) == 1 and "open it with ````" in c.problems[0]


def _notebook(path: Path, cells: list) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nbformat.write(nb, path)
    return path


def _figure_cell(name: str, drawn: bool = True):
    cell = nbformat.v4.new_code_cell("draw()")
    cell.metadata["mystnb"] = {"figure": {"caption": "Look at it.", "name": name}}
    if drawn:
        cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBOR"})]
    return cell


def test_figures_and_equations_are_numbered_as_sphinx_numbers_them(tmp_path):
    """Per chapter in numbered chapters (3.1, 3.2, ...); one count shared by every unnumbered
    page, in reading order; a figure without a name, a caption or an image gets no number."""
    md = nbformat.v4.new_markdown_cell
    intro = _notebook(tmp_path / "intro.ipynb", [md("(intro)=\n# Intro"), _figure_cell("fig-i")])
    ch = _notebook(
        tmp_path / "ch.ipynb",
        [
            md("(ch-x)=\n# X\n\n$$ a $$ (eq-a)\n\n## Part\n\n$$ b $$ (eq-b)"),
            _figure_cell("fig-a"),
            nbformat.v4.new_code_cell("unnamed()", metadata={"mystnb": {"figure": {}}}),
            _figure_cell("fig-not-run-yet", drawn=False),
            md(":::{figure} img/p.png\n:name: fig-b\nA caption.\n:::"),
        ],
    )
    app = _notebook(tmp_path / "app.ipynb", [md("(app-y)=\n# Y"), _figure_cell("fig-c")])
    book = colab.Book([Page(intro, ""), Page(ch, "3"), Page(app, "A")])
    assert book.figures == {
        "fig-i": ("intro", "1"),
        "fig-a": ("ch", "3.1"),
        "fig-b": ("ch", "3.2"),
        "fig-c": ("app", "2"),
    }
    assert book.equations == {"eq-a": ("ch", "3.1"), "eq-b": ("ch", "3.2")}
    assert book.labels["ch-x"] == ("ch", "X", 1) and book.titles["app"] == "Y"
    assert book.numbers == {"intro": "", "ch": "3", "app": "A"}


def test_colab_only_text_needs_remove_cell_and_edition_tags_are_for_markdown(tmp_path):
    c = _converter()
    cell = nbformat.v4.new_markdown_cell("Colab downloads the weights.", id="x")
    cell.metadata["tags"] = ["colab-only"]
    with pytest.raises(ValueError, match="remove-cell"):
        colab._markdown_cells(cell, c, "x")
    cell.metadata["tags"] = ["colab-only", "remove-cell"]
    assert colab._markdown_cells(cell, c, "x")[0].source == "Colab downloads the weights."
    cell.metadata["tags"] = ["book-only"]
    assert colab._markdown_cells(cell, c, "x") == []
    code = nbformat.v4.new_code_cell("x = 1", id="y")
    code.metadata["tags"] = ["book-only"]
    with pytest.raises(ValueError, match="code cell"):
        colab._code_cells(code, c, "y", setup=False)


def test_a_claims_cell_becomes_one_form_cell_titled_for_its_section():
    c = _converter(**{"fig-a": 2})
    claims = nbformat.v4.new_code_cell("with claims():\n    claim('x', True)", id="c")
    claims.metadata["tags"] = ["hide-cell"]
    helper = nbformat.v4.new_code_cell("def f(): pass", id="h")
    helper.metadata["tags"] = ["remove-cell"]
    figure = _figure_cell("fig-a")
    figure.metadata["tags"] = ["hide-input"]
    titles = [
        colab._code_cells(cell, c, "i", setup=False)[0].source.splitlines()[0]
        for cell in (claims, helper, figure)
    ]
    assert titles == [
        f"# @title {colab.TITLE_CLAIMS}",
        f"# @title {colab.TITLE_HIDDEN}",
        "# @title Draw Figure 3.2",
    ]
    caption = colab._code_cells(figure, c, "i", setup=False)[1]
    assert caption.source == "**Figure 3.2.** Look at it."


def test_failed_claims_are_read_from_the_claim_log_not_from_cross_marks(tmp_path, monkeypatch):
    """Chapter 6's exercise checkers print a ✗ line for a reader who has written nothing yet;
    only the claims' own log counts (what resnet_edu.claims writes under RESNET_EDU_CLAIM_LOG)."""
    from resnet_edu.claims import claim, claims

    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv("RESNET_EDU_CLAIM_LOG", str(log))
    monkeypatch.delenv("RESNET_EDU_STRICT", raising=False)
    monkeypatch.delenv("CI", raising=False)
    print("✗ MyBasicBlock: not written yet.")  # an exercise verdict, not a claim
    claim("a alone", False)
    with claims():
        claim("b", True)
        claim("c", False)
        claim("d", True)
    assert colab.failed_claims(log) == 2
    assert colab.failed_claims(tmp_path / "none.jsonl") == 0


# --- against the built book --------------------------------------------------------------------


@pytest.mark.slow  # builds the book if make book has not
def test_numbers_match_the_built_html(built_book):
    """Every figure and equation number the twins use is the one Sphinx printed in the HTML."""
    book = colab.Book()
    for label, (page, number) in [*book.figures.items(), *book.equations.items()]:
        html = (built_book / "book" / f"{page}.html").read_text(encoding="utf-8")
        where = html.find(f'id="{label}"')
        assert where >= 0, f"{label}: no such anchor in {page}.html"
        shown = re.search(r'(?:Figure |class="eqno">\()([\d.]+?)\.?[ )<]', html[where:])
        assert shown and shown.group(1) == number, f"{label}: the book shows {shown}, not {number}"


@pytest.mark.slow
def test_glossary_links_point_at_anchors_of_the_built_glossary(built_book):
    page = built_book / "book" / "glossary.html"
    if not colab.GLOSSARY.exists():
        pytest.skip("the book has no glossary page yet")
    anchors = set(re.findall(r'\sid="([^"]+)"', page.read_text(encoding="utf-8")))
    book = colab.Book()
    missing = [t for t in book.terms.values() if colab.term_anchor(t) not in anchors]
    assert book.terms and missing == []


# --- the site and its workflow -----------------------------------------------------------------


def test_readme_starts_with_the_sites_address():
    site = colab.site_url()
    org, repo = colab._github()
    assert site == f"https://{org.lower()}.github.io/{repo}/"
    head = "\n".join((ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:5])
    assert site in head, f"the README's first lines must give the site's address, {site}"


def test_the_site_is_built_with_W_and_deployed_with_the_colab_edition():
    flow = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text())
    on = flow[True] if True in flow else flow["on"]  # YAML 1.1 reads the key `on` as True
    branch = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["branch"]
    assert on["push"]["branches"] == [branch], "pages.yml publishes the branch of _config.yml"
    steps = flow["jobs"]["build"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    assert "jupyter-book build -W -n --keep-going --all ." in runs
    assert "jupyter-book build -W -n --keep-going --all ." in (ROOT / "Makefile").read_text()
    assert "cp -r colab _build/html/colab" in runs and "python -m tools.colab check" in runs
    assert "actions/upload-pages-artifact" in uses
    deploy = [s.get("uses", "").split("@")[0] for s in flow["jobs"]["deploy"]["steps"]]
    assert deploy == ["actions/deploy-pages"]
    ci = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    assert "bash .ci/run" in ci


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_twin_is_a_valid_colab_notebook(chapter):
    twin = _twin(chapter)
    nbformat.validate(twin)
    assert twin.metadata["kernelspec"]["name"] == "python3" and "colab" in twin.metadata


def test_the_colab_stand_ins_last_result_is_recorded_for_every_notebook():
    """make colab-check writes it; the "How this book is checked" page shows it."""
    assert COLAB_CHECK.exists(), "run make colab-check (the Colab stand-in)"
    record = json.loads(COLAB_CHECK.read_text(encoding="utf-8"))
    assert record["python"].startswith("3.13") and record["torch"].startswith("2.11")
    ran = {r["notebook"] for r in record["results"]}
    twins = {str(p.relative_to(ROOT)) for p in colab.COLAB.glob("*.ipynb")}
    assert ran == twins, f"not run in the stand-in: {sorted(twins - ran)}"
    for r in record["results"]:
        assert r["passed"] == (r["error"] is None and r["failed_claims"] == 0), r
        assert r["seconds"] > 0
