"""The Colab edition (``colab/``, written by ``tools/colab.py``) reads cleanly and tracks the book.

Rules checked here:

- ``colab/`` is exactly what ``python tools/colab.py build`` writes from the current chapters;
- no MyST syntax survives in a twin's Markdown (roles, directives, targets, options);
- a twin has the chapter's code cells, in the same order, with the same source; the only change
  is a first line ``# @title ...`` (and ``cellView: form``) on the cells the book hides: the
  setup cell, ``remove-cell`` (claims) and ``hide-input``/``remove-input`` (figures);
- every solution is folded (``<details>``), every figure caption follows its figure;
- the README starts with the site's address, derived from ``repository.url`` in ``_config.yml``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import notebooks  # noqa: E402

import colab  # noqa: E402  (tools/colab.py)

CHAPTERS = notebooks.chapters()
IDS = [p.name for p in CHAPTERS]
HIDDEN = {"remove-cell", "hide-input", "remove-input"}


def _twin(chapter: Path) -> nbformat.NotebookNode:
    path = colab.COLAB / chapter.name
    assert path.exists(), f"no Colab twin for {chapter.name}: run python tools/colab.py build"
    return nbformat.read(path, as_version=4)


def _code(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def test_the_edition_is_up_to_date_with_the_chapters():
    assert colab.stale() == [], "run: python tools/colab.py build (and commit colab/)"


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
        hidden = theirs is book[0] or bool(HIDDEN & set(theirs.metadata.get("tags", [])))
        titled = mine.source.startswith("# @title ")
        assert titled == hidden, f"{chapter.name}: {mine.source[:80]!r}"
        assert (mine.metadata.get("cellView") == "form") == hidden
        assert mine.outputs == [] and mine.execution_count is None  # no outputs: see README
        if "remove-cell" in theirs.metadata.get("tags", []) and "claim(" in theirs.source:
            assert mine.source.splitlines()[0] == f"# @title {colab.TITLE_CHECK}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_solutions_are_folded_and_captions_follow_their_figures(chapter):
    source = nbformat.read(chapter, as_version=4)
    twin = _twin(chapter)
    dropdowns = sum(
        len(re.findall(r"^\s*(?:`{3,}|:{3,})\{dropdown\}", c.source, re.M))
        for c in source.cells
        if c.cell_type == "markdown"
    )
    folded = sum(c.source.count("<details") for c in twin.cells if c.cell_type == "markdown")
    assert folded == dropdowns
    by_id = {c.get("id"): i for i, c in enumerate(twin.cells)}
    for cell in source.cells:
        caption = cell.metadata.get("mystnb", {}).get("figure", {}).get("caption")
        if cell.cell_type == "code" and caption:
            after = twin.cells[by_id[cell.id] + 1]
            assert after.cell_type == "markdown"
            assert re.match(r"\*\*Figure \d+\.\*\* ", after.source)


def _converter(**figures) -> colab.Converter:
    """A converter on a made-up book: one chapter 'ch' with the given figure labels."""
    book = colab.Book.__new__(colab.Book)
    book.titles = {"ch": "A chapter", "other": "Another chapter", "references": "References"}
    book.figures = {label: ("ch", n) for label, n in figures.items()}
    book.targets = {"sec-x": ("other", "A section")}
    book.equations = {}
    book.first_figure = {"ch": 1}
    return colab.Converter("ch", book, colab.Bibliography())


def test_roles_become_plain_markdown():
    c = _converter(**{"fig-a": 3})
    text = c.markdown(
        "As {cite}`he2016deep` and {cite}`goyal2017accurate,he2016deep` show "
        "({numref}`fig-a`, {numref}`Panel %s <fig-a>`), see {doc}`other` and {ref}`sec-x`."
    )
    assert "(He et al., 2016)" in text
    assert "(Goyal et al., 2017; He et al., 2016)" in text
    assert "(Figure 3, Panel 3)" in text
    assert f"[Another chapter]({colab.page_url('other')})" in text
    assert f"[A section]({colab.page_url('other')})" in text
    assert c.cited == ["he2016deep", "goyal2017accurate"]


def test_doc_links_open_the_colab_twin_of_a_chapter():
    c = _converter()
    c.book.titles["03_residual_learning"] = "Residual learning"
    text = c.markdown("Next, {doc}`03_residual_learning`.")
    assert text == f"Next, [Residual learning]({colab.colab_url('03_residual_learning')})."
    assert colab.colab_url("03_residual_learning").endswith("/colab/03_residual_learning.ipynb")


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


def test_notes_and_targets():
    c = _converter()
    text = c.markdown("(sec-y)=\n## Heading\n\n```{note}\nMind the gap.\n```")
    assert text == "## Heading\n\n> **Note**\n>\n> Mind the gap."


def test_unknown_myst_is_an_error_not_raw_text():
    c = _converter()
    with pytest.raises(ValueError, match="glue"):
        c.markdown("The value is {glue}`acc`.")
    with pytest.raises(ValueError, match="margin"):
        c.markdown("```{margin}\nA note.\n```")
    with pytest.raises(ValueError, match="nosuchkey"):
        c.markdown("{cite}`nosuchkey`")


def test_maths_images_and_labelled_equations():
    c = _converter()
    c.book.equations = {"eq-res": ("ch", 1)}
    text = c.markdown(
        "\\begin{align}\ny &= x\n\\end{align}\n\n$$\n\\begin{aligned} a \\end{aligned}\n$$\n\n"
        "$$ y = F(x) + x $$ (eq-res)\n\nBy {eq}`eq-res`, ![a plot](img/p.png) and {math}`x^2`."
    )
    assert text.startswith("$$\n\\begin{align}\ny &= x\n\\end{align}\n$$\n\n$$\n\\begin{aligned}")
    assert "$$ y = F(x) + x \\tag{1} $$" in text
    assert f"By (1), ![a plot]({colab.raw_url('book/img/p.png')}) and $x^2$." in text


def test_ordinary_code_blocks_are_left_alone():
    c = _converter()
    block = "```python\nprint({cite}`x`)\n```"  # not a role: inside code
    assert c.markdown(block) == block


def test_readme_starts_with_the_sites_address():
    site = colab.site_url()
    org, repo = colab._github()
    assert site == f"https://{org.lower()}.github.io/{repo}/"
    head = "\n".join((ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:5])
    assert site in head, f"the README's first lines must give the site's address, {site}"


def test_the_site_is_built_with_W_and_deployed_with_the_colab_edition():
    import yaml

    flow = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text())
    on = flow[True] if True in flow else flow["on"]  # YAML 1.1 reads the key `on` as True
    assert on["push"]["branches"] == ["main"]
    steps = flow["jobs"]["build"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    assert "jupyter-book build -W -n --keep-going --all ." in runs
    assert "jupyter-book build -W -n --keep-going --all ." in (ROOT / "Makefile").read_text()
    assert "cp -r colab _build/html/colab" in runs and "tools/colab.py check" in runs
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
    import json

    assert colab.RESULT.exists(), "run make colab-check (the Colab stand-in)"
    record = json.loads(colab.RESULT.read_text(encoding="utf-8"))
    assert record["python"].startswith("3.13") and record["torch"].startswith("2.11")
    ran = {r["notebook"] for r in record["results"]}
    twins = {str(p.relative_to(ROOT)) for p in colab.COLAB.glob("*.ipynb")}
    assert ran == twins, f"not run in the stand-in: {sorted(twins - ran)}"
    for r in record["results"]:
        assert r["passed"] == (r["error"] is None and r["failed_claims"] == 0), r
        assert r["seconds"] > 0
