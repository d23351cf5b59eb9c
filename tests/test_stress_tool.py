"""tools/stress.py: the matrices cover what they say, a changed strict cell is caught, and the
page reports the matrix and the seeds pass apart."""

import nbformat
import pytest

from tools import stress, stress_page


def test_default_matrix_has_12_variants_crossing_seeds_isas_and_threads():
    variants = stress.matrix("default")
    assert len(variants) >= 12 and len({v.name for v in variants}) == len(variants)
    assert {v.seed for v in variants} == {0, 1, 2, 3}
    assert {v.isa for v in variants} == {"default", "avx2", "avx512"}
    for key in ("seed", "isa"):  # every seed and every instruction set meets both thread counts
        for value in {getattr(v, key) for v in variants}:
            assert {v.threads for v in variants if getattr(v, key) == value} == {1, 2}
    env = next(v for v in variants if v.isa == "avx2").env()
    assert env["ATEN_CPU_CAPABILITY"] == "avx2" and env["ONEDNN_MAX_CPU_ISA"] == "AVX2"


def test_quick_matrix_is_a_subset_with_both_thread_counts():
    quick = stress.matrix("quick")
    assert set(quick) <= set(stress.matrix("default"))
    assert {v.threads for v in quick} == {1, 2} and len({v.seed for v in quick}) == 3
    with pytest.raises(ValueError, match="matrix"):
        stress.matrix("huge")


def test_seeds_matrix_runs_seeds_0_to_n_on_the_native_isa_with_two_threads():
    seeds = stress.matrix("seeds", seeds=8)
    assert [v.seed for v in seeds] == list(range(8))
    assert {(v.isa, v.threads) for v in seeds} == {("native", 2)}
    assert seeds[3].env() == {"RESNET_EDU_SEED": "3", "RESNET_EDU_THREADS": "2"}
    assert len(stress.matrix("seeds", seeds=16)) == 16
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValueError, match="seeds"):
            stress.matrix("seeds", seeds=bad)


def _cell(source, text, tags=()):
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": list(tags)})
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    return cell


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), *cells]
    return nb


def test_a_changed_compared_cell_is_reported_and_an_ignored_one_is_not():
    def ignored(text):
        cell = _cell("print(loss)", text, tags=["nbval-ignore-output"])
        cell.metadata["ignore_reason"] = "training losses differ between machines"
        return cell

    committed = _nb(_cell("print(1)", "1\n"), ignored("0.53\n"), _cell("x", "a\n"))
    ran = _nb(_cell("print(1)", "1\n"), ignored("0.61\n"), _cell("x", "b\n"))
    diff = stress._differences(committed, ran)
    assert diff == {"changed_cells": [3], "errors": []}
    assert stress.ignore_reason(committed.cells[2]) == "training losses differ between machines"


def test_sanitised_and_streamed_outputs_compare_as_nbval_does():
    a = _nb(_cell("f()", "at 0x7f00aa\n"))
    b = _nb(_cell("f()", "at 0x55bbcc\n"))
    assert stress._differences(a, b)["changed_cells"] == []
    split = _nb(_cell("f()", "at 0x55bbcc\n"))
    split.cells[1].outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="at "),
        nbformat.v4.new_output("stream", name="stdout", text="0x1\n"),
    ]
    assert stress._differences(a, split)["changed_cells"] == []


def test_errors_are_reported_with_their_cell():
    ran = _nb(_cell("boom()", ""))
    ran.cells[1].outputs = [nbformat.v4.new_output("error", ename="ClaimError", evalue="✗ x")]
    diff = stress._differences(_nb(_cell("boom()", "")), ran)
    assert diff["errors"] == [{"cell": 1, "error": "ClaimError: ✗ x"}]
    assert diff["changed_cells"] == [1]


@pytest.mark.slow  # a kernel in a subprocess
def test_execute_runs_a_notebook_under_a_variant_and_collects_claims(tmp_path):
    nb = _nb(
        nbformat.v4.new_code_cell(
            "import os\nfrom resnet_edu.claims import claim, seed\n"
            "claim('seed is shifted', seed(2) == 3)\n"
            "claim('threads are set', os.environ['RESNET_EDU_THREADS'] == '1')\n"
            "claim('this one fails', False)\nprint('done')"
        )
    )
    path = tmp_path / "mini.ipynb"
    nbformat.write(nb, path)
    run = stress.execute(path, stress.Variant(seed=1, isa="avx2", threads=1), timeout=120)
    assert run["errors"] == []  # not strict: the false claim printed, it did not raise
    assert [(c["claim"], c["passed"]) for c in run["claims"]] == [
        ("seed is shifted", True),
        ("threads are set", True),
        ("this one fails", False),
    ]


def test_merging_keeps_other_chapters_only_on_the_same_matrix():
    variants = [{"name": "a"}]
    old = {"variants": variants, "chapters": {"x.ipynb": 1, "y.ipynb": 2}}
    new = {"variants": variants, "chapters": {"y.ipynb": 3}}
    assert stress.merge(old, new)["chapters"] == {"x.ipynb": 1, "y.ipynb": 3}
    other = {"variants": [{"name": "b"}], "chapters": {"y.ipynb": 3}}
    assert stress.merge(old, other)["chapters"] == {"y.ipynb": 3}


def test_fingerprint_follows_code_not_outputs_or_prose():
    a = _nb(_cell("print(1)", "1\n"))
    b = _nb(_cell("print(1)", "2\n"))
    b.cells[0].source = "# another title"
    c = _nb(_cell("print(2)", "1\n"))
    assert stress.fingerprint(a) == stress.fingerprint(b) != stress.fingerprint(c)


def _results(variants, claims):
    """A stress result for one chapter: every run made ``claims`` [(text, passed), ...]."""
    runs = [
        {
            "variant": v.name,
            "seconds": 10.0,
            "changed_cells": [],
            "errors": [],
            "claims": [{"claim": t, "passed": ok, "measured": ""} for t, ok in claims],
        }
        for v in variants
    ]
    chapter = {"code": "x", "code_cells": 3, "excluded": [], "runs": runs}
    machine = {
        "cpu": "a CPU",
        "cores": 2,
        "capability": "AVX2",
        "python": "3.11",
        "torch": "2",
        "torchvision": "0",
    }
    return {
        "date": "2026-01-01",
        "machine": machine,
        "variants": [
            {"name": v.name, "seed": v.seed, "isa": v.isa, "threads": v.threads} for v in variants
        ],
        "chapters": {"01_x.ipynb": chapter},
    }


def test_the_page_reports_the_seeds_pass_apart_from_the_matrix():
    matrix = _results(stress.matrix("default"), [("a holds", True), ("b holds", True)])
    seeds = _results(stress.matrix("seeds", 8), [("a holds", True), ("b holds", False)])
    page = stress_page.render(matrix, seeds, {}, {})
    assert page.startswith("(app-checked)=\n# ")
    assert "nbval-ignore-output" in page and "ignore_reason" in page and "NBVAL_" not in page
    assert "## The matrix" in page and "## More seeds" in page
    assert "seeds 0 to 7 on the native instruction set with 2 threads" in page
    assert "| a holds | ✓ 12/12 | ✓ 8/8 |" in page
    assert "| b holds | ✓ 12/12 | ✗ 0/8 |" in page
    without = stress_page.render(matrix, {}, {}, {})
    assert "## More seeds" not in without and "| a holds | ✓ 12/12 | – |" in without
