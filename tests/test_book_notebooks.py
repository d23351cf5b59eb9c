"""The book's notebooks follow the conventions that keep them runnable in Colab and checkable in CI.

nbval (``pytest --nbval book/``) re-executes every chapter and compares its outputs; these tests
check what nbval cannot: the shared setup cell and its single repository URL, the table of
contents, committed outputs, small figures, uncompared cells tagged ``nbval-ignore-output`` with a
reason, and that a chapter runs in a fresh environment that has torch but neither ``resnet_edu``
nor torchinfo -- the closest we can get to Colab offline.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import notebooks  # noqa: E402  (tools/notebooks.py: the setup cell is defined there)

NOTEBOOKS = notebooks.chapters()
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


def test_repository_url_is_defined_once_and_used_by_launch_buttons():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = notebooks.repo_url()
    assert url.startswith("https://github.com/")
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["repository"]["branch"] == "main"
    assert config["repository"]["path_to_book"] == ""
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
        "(python tools/notebooks.py setup-cell); it carries the repository URL of _config.yml"
    )
    assert "remove-cell" in first_code.metadata.get("tags", [])
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_committed_executed_in_order(path):
    nb = nbformat.read(path, as_version=4)
    counts = [c.execution_count for c in _code_cells(nb)]
    assert all(c is not None for c in counts), (
        f"{path.name}: unexecuted cells; run tools/notebooks.py"
    )
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: cells run out of order"
    errors = [o for c in _code_cells(nb) for o in c.outputs if o.output_type == "error"]
    assert errors == [], f"{path.name}: committed with an error output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_figures_are_small_and_ignored_outputs_say_why(path):
    nb = nbformat.read(path, as_version=4)
    total = 0
    for cell in _code_cells(nb):
        for out in cell.outputs:
            png = out.get("data", {}).get("image/png")
            if png:
                size = len(base64.b64decode(png))
                assert size < 200_000, f"{path.name}: a {size // 1000} kB figure; shrink it"
                total += size
        # The checking machinery stays out of the reader's way: no test-tool comment in any code
        # cell (a hidden cell can be unfolded, and Colab shows them all). A cell nbval leaves
        # uncompared carries the tag and says why in its metadata ("ignore_reason").
        assert "NBVAL" not in cell.source, f"{path.name}: use the nbval-ignore-output tag"
        if "nbval-ignore-output" in cell.metadata.get("tags", []):
            reason = cell.metadata.get("ignore_reason", "")
            assert len(reason) > 10, f"{path.name}: an ignored cell needs metadata ignore_reason"
    assert total < 1_500_000, f"{path.name}: {total // 1000} kB of figures; keep pages light"


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

    chapter = ROOT / "book" / "02_residual_learning.ipynb"  # builds, trains and checks blocks
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
    ``with claims():`` summary (``✓ 3 of 3 claims hold``, then each claim indented)."""
    lines = []
    for cell in _code_cells(nb):
        for out in cell.outputs:
            if out.output_type == "stream" and out.name == "stdout":
                lines += [x[2:] for x in out.text.splitlines() if x.startswith("✓ ")]
            elif out.output_type in ("display_data", "execute_result"):
                text = out.get("data", {}).get("text/plain", "")
                lines += [x[4:] for x in text.splitlines() if x.startswith("  ✓ ")]
    return lines


def test_the_stress_page_is_current_and_every_claim_held_everywhere():
    """book/checked.md comes from a stress run of the chapters as committed: every chapter,
    at least 12 variants, no compared cell changed, no error, and every claim the committed
    chapters make (their ✓ lines) held in every variant."""
    sys.path.insert(0, str(ROOT / "tools"))
    import stress

    results = json.loads(stress.RESULTS.read_text())
    assert len(results["variants"]) >= 12
    assert set(results["chapters"]) == {p.name for p in NOTEBOOKS}, "re-run make stress"
    for path in NOTEBOOKS:
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
    page = stress.PAGE.read_text()
    assert (
        "# How this book is checked" in page and "book/checked" in (ROOT / "_toc.yml").read_text()
    )
