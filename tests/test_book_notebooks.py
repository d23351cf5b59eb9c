"""The book's notebooks follow the conventions that keep them runnable in Colab, checkable in CI
and readable as a textbook.

nbval (``pytest --nbval book/``) re-executes every chapter and compares its outputs; these tests
check what nbval cannot: the shared setup cell and its single repository URL and branch, the
table of contents, committed outputs, figures with captions and small images, no machine path in
any output, uncompared cells tagged ``nbval-ignore-output`` with a reason, claims gathered in few
folded cells, labelled chapter titles and number-based cross-references, the cell tags of the
two editions, the prose limits (``tools/prose_stats.py``), and that a chapter runs in a fresh
environment that has torch but neither ``resnet_edu`` nor torchinfo -- the closest we can get to
Colab offline.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sysconfig
import venv
from pathlib import Path

import nbformat
import pytest
import yaml

from tools import notebooks, prose_stats, stress, stress_page
from tools.colab import myst
from tools.common import (
    CHECKED_PAGE,
    COLAB_CHECK,
    RECORDED,
    ROOT,
    STRESS,
    STRESS_SEEDS,
    chapters,
    page_label,
    reading_order,
    repo_branch,
    repo_url,
)

NOTEBOOKS = chapters()
IDS = [p.name for p in NOTEBOOKS]


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_every_notebook_is_in_the_toc_and_back():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = {toc["root"]} | {c["file"] for p in toc["parts"] for c in p["chapters"]}
    ipynbs = {f"book/{p.stem}" for p in NOTEBOOKS}
    assert ipynbs <= files, f"notebooks missing from _toc.yml: {sorted(ipynbs - files)}"
    for f in files:
        assert (ROOT / f"{f}.ipynb").exists() or (ROOT / f"{f}.md").exists(), f


def test_repository_url_and_branch_are_defined_once_and_agree_everywhere():
    """The README's "Hosting the book elsewhere": one setting names the repository and its
    branch (``_config.yml``); the setup cells, the Colab links and the site follow it."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url, branch = repo_url(), repo_branch()
    assert url.startswith("https://github.com/") and branch
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["repository"]["path_to_book"] == ""
    for path in NOTEBOOKS:
        setup = _code_cells(nbformat.read(path, as_version=4))[0].source
        assert f'REPO_URL, BRANCH = "{url}", "{branch}"' in setup, (
            f"{path.name}: its setup cell names another repository or branch than _config.yml; "
            "run python -m tools.notebooks tidy"
        )
    # nowhere else: the URL may appear only in _config.yml and (via the setup cell) notebooks
    others = [ROOT / name for name in ("pyproject.toml", "README.md", "CITATION.cff", "Makefile")]
    for path in [*ROOT.glob("resnet_edu/*.py"), *ROOT.glob("tests/*.py"), *others]:
        assert url not in path.read_text(), f"{path} repeats the repository URL"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_setup_cell_is_the_shared_one(path):
    nb = nbformat.read(path, as_version=4)
    first_code = _code_cells(nb)[0]
    assert first_code.source == notebooks.setup_source(), (
        f"{path.name}: the first code cell must be the shared setup cell "
        "(python -m tools.notebooks setup-cell); it carries the repository URL of _config.yml"
    )
    assert "remove-cell" in first_code.metadata.get("tags", [])
    assert nb.cells[0].cell_type == "markdown" and re.match(r"\([\w-]+\)=\n# ", nb.cells[0].source)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_committed_executed_in_order(path):
    nb = nbformat.read(path, as_version=4)
    counts = [c.execution_count for c in _code_cells(nb)]
    assert all(c is not None for c in counts), (
        f"{path.name}: unexecuted cells; run python -m tools.notebooks run {path.name}"
    )
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: cells run out of order"
    errors = [o for c in _code_cells(nb) for o in c.outputs if o.output_type == "error"]
    assert errors == [], f"{path.name}: committed with an error output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_figures_have_captions_and_are_small(path):
    """A figure is a cell whose output is an image: its metadata gives a caption (what to look
    at and what it shows), a label ``fig-...`` for ``{numref}`` and alt text."""
    nb = nbformat.read(path, as_version=4)
    total = 0
    for i, cell in enumerate(_code_cells(nb)):
        images = [o["data"][k] for o in cell.outputs for k in o.get("data", {}) if "image/" in k]
        if not images:
            continue
        mystnb = cell.metadata.get("mystnb", {})
        figure, alt = mystnb.get("figure", {}), mystnb.get("image", {}).get("alt", "")
        where = f"{path.name}, code cell {i}"
        assert len(figure.get("caption", "")) > 20, f"{where}: a figure needs a caption"
        assert figure.get("name", "").startswith("fig-"), f"{where}: name the figure fig-..."
        assert len(alt) > 10, f"{where}: a figure needs alt text (mystnb.image.alt)"
        for png in (o.get("data", {}).get("image/png") for o in cell.outputs):
            if png:
                size = len(base64.b64decode(png))
                assert size < 200_000, f"{where}: a {size // 1000} kB figure; shrink it"
                total += size
    assert total < 1_500_000, f"{path.name}: {total // 1000} kB of figures; keep pages light"


_MACHINE_PATH = re.compile(r"/home/|/work/|/tmp/|/root/|/Users/|site-packages|/\.cache/|[A-Z]:\\")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_output_shows_a_path_of_the_recording_machine(path):
    for i, cell in enumerate(_code_cells(nbformat.read(path, as_version=4))):
        for out in cell.outputs:
            text = out.get("text", "") + "".join(out.get("traceback", []))
            text += "".join(str(v) for k, v in out.get("data", {}).items() if k.startswith("text"))
            found = _MACHINE_PATH.search(text)
            assert not found, f"{path.name}, code cell {i}: a machine path: {text[:200]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_uncompared_cells_are_tagged_with_a_reason_and_no_test_marker_is_shown(path):
    """The checking machinery stays out of the reader's way: no test-tool comment in any code
    cell (a hidden cell can be unfolded, and Colab shows them all). A cell nbval leaves
    uncompared carries the tag and says why in its metadata (``ignore_reason``)."""
    for i, cell in enumerate(_code_cells(nbformat.read(path, as_version=4))):
        assert "NBVAL" not in cell.source.upper(), f"{path.name}, code cell {i}: use the tag"
        if "nbval-ignore-output" in cell.metadata.get("tags", []):
            reason = str(cell.metadata.get("ignore_reason", ""))
            assert len(reason) > 10 and "\n" not in reason.strip(), (
                f"{path.name}, code cell {i}: an ignored cell needs a one-line ignore_reason"
            )


MAX_CLAIMS_CELLS = 8  # one per section that measures something


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_claims_are_gathered_in_a_few_folded_cells(path):
    """A section's claims sit in one cell tagged ``hide-cell``, inside ``with claims():``, which
    shows one summary line with the claims folded."""
    cells = [c for c in _code_cells(nbformat.read(path, as_version=4)) if _CLAIM.search(c.source)]
    for cell in cells:
        assert "hide-cell" in cell.metadata.get("tags", []), (
            f"{path.name}: a claims cell must be tagged hide-cell: {cell.source[:80]!r}"
        )
        assert "with claims():" in cell.source, (
            f"{path.name}: gather the claims in `with claims():`: {cell.source[:80]!r}"
        )
    assert len(cells) <= MAX_CLAIMS_CELLS, (
        f"{path.name}: {len(cells)} claims cells; gather them, one per section, at most "
        f"{MAX_CLAIMS_CELLS}"
    )


_CLAIM = re.compile(r"^[^#\n]*\bclaim\(", re.M)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_edition_tags_mark_markdown_and_colab_only_text_leaves_the_book(path):
    """``colab-only``: Colab's text, removed from the book by ``remove-cell``; ``book-only``: the
    book's text, left out of the Colab edition (tools/colab.py). Markdown cells only."""
    for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
        tags = set(cell.metadata.get("tags", []))
        if not tags & {"colab-only", "book-only"}:
            continue
        where = f"{path.name}, cell {i}"
        assert cell.cell_type == "markdown", f"{where}: edition tags are for Markdown cells"
        assert not {"colab-only", "book-only"} <= tags, f"{where}: colab-only or book-only"
        if "colab-only" in tags:
            assert "remove-cell" in tags, f"{where}: a colab-only cell needs remove-cell too"


def test_every_chapter_title_carries_its_label():
    """``(ch-...)=`` above each numbered chapter's title, ``(app-...)=`` above an appendix's,
    ``(intro)=`` above the introduction's: cross-references are made from these labels."""
    labels = []
    for page in reading_order():
        label = page_label(page.path)
        if page.path.suffix != ".ipynb" and page.path != CHECKED_PAGE:
            continue
        first = (
            page.path.read_text()
            if page.path.suffix == ".md"
            else (nbformat.read(page.path, as_version=4).cells[0].source)
        )
        assert re.match(r"^\([\w-]+\)=\n# \S", first), f"{page.path.name}: (label)= then # Title"
        if page.number.isdigit():
            assert label.startswith("ch-"), f"{page.path.name}: a chapter's label is ch-..."
        elif page.number:
            assert label.startswith("app-"), f"{page.path.name}: an appendix's label is app-..."
        labels.append(label)
    assert "intro" in labels and len(labels) == len(set(labels))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_chapters_are_referred_to_by_number_not_by_title_mid_sentence(path):
    """``{doc}`` renders a chapter's whole title; mid-sentence that reads badly ("as Training
    plain nets and ResNets: reproducing Table 6 shows"). Refer to a chapter with
    ``{numref}`Chapter %s <ch-label>``` and to a section with ``{ref}``; a ``{doc}`` may only
    start a list item, a table cell or a paragraph (a list of chapters)."""
    nb = nbformat.read(path, as_version=4)
    for cell in (c for c in nb.cells if c.cell_type == "markdown"):
        for token in _inline_tokens(cell.source):
            for child in token.children or []:
                if child.type == "myst_role" and child.meta["name"] == "doc":
                    target = Path(child.content.split("<")[-1].rstrip(">")).stem
                    if not (ROOT / "book" / f"{target}.ipynb").exists():
                        continue  # not a chapter: "the book's {doc}`references`" reads well
                    start = child.meta["span"][0]
                    assert not token.content[:start].strip(), (
                        f"{path.name}: {{doc}}`{child.content}` mid-sentence; use "
                        f"{{numref}}`Chapter %s <label>`: {token.content[:100]!r}"
                    )


def _inline_tokens(source: str):
    """The inline tokens of Markdown, directive bodies (admonitions, exercises) included."""
    for token in myst().parse(source):
        if token.type == "inline":
            yield token
        elif token.type in ("fence", "colon_fence") and token.info.strip().startswith("{"):
            yield from _inline_tokens(token.content)


def test_prose_stays_within_the_limits_for_readers_of_english_as_a_second_language():
    """Whole book: mean sentence at most 20 words, at most 10 sentences over 40 words, no NBVAL
    comment in any code cell; per-chapter word limits (tools/prose_stats.py, ``make prose``)."""
    assert prose_stats.problems(prose_stats.measure()) == []


def _fresh_env(tmp: Path) -> Path:
    """A venv that sees this environment's packages except resnet_edu and torchinfo.

    Installing torch anew would take minutes and gigabytes, so the new environment reaches the
    current one's packages through a directory of links that leaves those two out (and the
    editable install's path hooks), which is what Colab looks like to the setup cell.
    """
    env_dir = tmp / "colab-like"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    shadow = tmp / "shared-site"
    shadow.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        name = entry.name.lower()
        if name.startswith(("resnet_edu", "__editable__", "torchinfo", "pip", "_distutils")):
            continue
        if entry.suffix == ".pth":
            continue
        (shadow / entry.name).symlink_to(entry)
    py = env_dir / "bin" / "python"
    new_site = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(new_site) / "shared.pth").write_text(str(shadow) + "\n")
    return py


@pytest.mark.slow
def test_a_chapter_runs_where_resnet_edu_is_missing(tmp_path):
    """Colab stand-in: the setup cell installs resnet_edu from a local checkout, then it runs."""
    py = _fresh_env(tmp_path)
    probe = "import importlib.util as u; print(u.find_spec('resnet_edu'), u.find_spec('torchinfo'))"
    assert subprocess.run(
        [py, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split() == ["None", "None"]

    chapter = ROOT / "book" / "index.ipynb"  # imports every module of the library, in 5 s
    out = tmp_path / chapter.name
    env = {**os.environ, "RESNET_EDU_SOURCE": ROOT.as_uri(), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    script = (
        "import sys, nbformat\n"
        "from nbclient import NotebookClient\n"
        f"nb = nbformat.read({str(chapter)!r}, as_version=4)\n"
        f"NotebookClient(nb, timeout=600, kernel_name='python3',"
        f" resources={{'metadata': {{'path': {str(tmp_path)!r}}}}}).execute()\n"
        f"nbformat.write(nb, {str(out)!r})\n"
    )
    result = subprocess.run(
        [py, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    after = subprocess.run([py, "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    assert "None" not in after.stdout, "the setup cell did not install resnet_edu and torchinfo"


# --- one run is one draw: seeds, threads and claims (see tools/stress.py) ----------------------

_SEEDED_CALL = re.compile(
    r"\b(manual_seed|default_rng|RandomState|np\.random\.seed)\((?!\s*seed\()"
)
_SEED_KEYWORD = re.compile(r"\b(seed|random_state)\s*=\s*(?!seed\()[\w.]")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_seeds_and_threads_come_from_one_place(path):
    """Every seed is ``seed(k)`` (shifted by RESNET_EDU_SEED, so a chapter can be re-run as
    another draw); no chapter overrides the setup cell's thread count (RESNET_EDU_THREADS)."""
    for i, cell in enumerate(_code_cells(nb := nbformat.read(path, as_version=4))):
        if i == 0:
            continue  # the setup cell sets the threads
        for line in (line.split("#")[0] for line in cell.source.splitlines()):
            assert not _SEEDED_CALL.search(line), f"{path.name}: a seed not from seed(k): {line}"
            assert not _SEED_KEYWORD.search(line), f"{path.name}: a seed= not from seed(k): {line}"
            assert "set_num_threads" not in line and not re.search(r"\bthreads\s*=", line), (
                f"{path.name}: threads are set by the setup cell (RESNET_EDU_THREADS): {line}"
            )
    assert nb.cells


def _claims_in_outputs(nb) -> list[str]:
    """The claims a committed chapter states: its ``✓`` lines, printed alone or gathered under a
    ``with claims():`` summary (``✓ 3 of 3 claims hold``, then each claim indented). A ``✓``
    printed by a cell that makes no claim is an exercise checker's verdict (Chapter 6), not a
    claim."""
    lines = []
    for cell in _code_cells(nb):
        for out in cell.outputs:
            if out.output_type == "stream" and out.name == "stdout" and "claim(" in cell.source:
                lines += [x[2:] for x in out.text.splitlines() if x.startswith("✓ ")]
            elif out.output_type in ("display_data", "execute_result"):
                text = out.get("data", {}).get("text/plain", "")
                lines += [x[4:] for x in text.splitlines() if x.startswith("  ✓ ")]
    return lines


def test_the_stress_page_is_current_and_every_claim_held_everywhere():
    """book/checked.md comes from a stress run of the chapters as committed: every chapter,
    at least 12 variants, no compared cell changed, no error, and every claim the committed
    chapters make (their ✓ lines) held in every variant; Part I's chapters also went through
    the seeds pass (8 seeds or more), where every claim held too."""
    results = json.loads(STRESS.read_text())
    assert len(results["variants"]) >= 12
    assert set(results["chapters"]) == {p.name for p in NOTEBOOKS}, "re-run make stress"
    for path in NOTEBOOKS:
        _check_stress_runs(path, results)
    seeds = json.loads(STRESS_SEEDS.read_text()) if STRESS_SEEDS.exists() else {"variants": []}
    assert len(seeds["variants"]) >= 8, "run make stress-seeds"
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    for entry in toc["parts"][0]["chapters"]:
        _check_stress_runs(ROOT / f"{entry['file']}.ipynb", seeds)
    page = CHECKED_PAGE.read_text()
    assert page.startswith("(app-checked)=\n# ") and "How this book is checked" in page
    assert "book/checked" in (ROOT / "_toc.yml").read_text()
    data = [STRESS, STRESS_SEEDS, RECORDED, COLAB_CHECK]
    loaded = [json.loads(p.read_text()) if p.exists() else {} for p in data]
    assert page == stress_page.render(*loaded), "book/checked.md is stale: re-run make stress"


def _check_stress_runs(path: Path, results: dict) -> None:
    assert path.name in results["chapters"], f"{path.name}: not in the stress run; re-run it"
    runs = results["chapters"][path.name]["runs"]
    assert len(runs) == len(results["variants"])
    nb = nbformat.read(path, as_version=4)
    assert results["chapters"][path.name]["code"] == stress.fingerprint(nb), (
        f"{path.name}: its code changed since the stress run; re-run make stress"
    )
    committed = _claims_in_outputs(nb)
    for run in runs:
        assert "failed_to_run" not in run, f"{path.name}: {run}"
        assert run["changed_cells"] == [] and run["errors"] == [], f"{path.name}: {run}"
        failed = [c["claim"] for c in run["claims"] if not c["passed"]]
        assert failed == [], f"{path.name} [{run['variant']}]: {failed}"
        assert sorted(c["claim"] for c in run["claims"]) == sorted(committed), (
            f"{path.name}: its claims changed since the stress run; re-run make stress"
        )
