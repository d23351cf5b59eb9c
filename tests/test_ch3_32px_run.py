"""Chapter 3's committed run (book/_data/ch3_32px_run.json) is what tools/ch3_32px_run.py
produces: complete, with the recipe it states; its first step replays on any CPU, its first 25
steps on the machine that recorded it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from tools import ch3_32px_run
from tools.common import run_machine

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "book" / "_data" / "ch3_32px_run.json"

# Step 1's loss is a forward pass through the initial weights: the same on any CPU up to float
# rounding, which 56 layers amplify (AVX2 kernels on the recording machine moved plain-56's by
# 1.4e-5). Later steps depend on updates that other CPUs' kernels round differently, and a deep
# BN plain net amplifies those differences fast, so the whole 25 steps are compared only on the
# machine (CPU, kernels, torch) that recorded the run (as for chapter 1's long run).
ANY_CPU_RTOL = 1e-4


@pytest.fixture(scope="module")
def record() -> dict:
    return json.loads(DATA.read_text())


def test_the_record_is_complete_and_states_its_recipe(record):
    assert record["recipe"] == ch3_32px_run.recipe()  # the script's plan, unchanged
    train = record["recipe"]["train"]
    assert train["lr"] == pytest.approx(0.1 * 32 / 128) and train["batch_size"] == 32
    assert train["momentum"] == 0.9 and train["weight_decay"] == 1e-4 and train["threads"] == 1
    assert record["machine"]["threads"] == 1 and record["machine"]["cpu"]
    found = [(run["name"], run["size"], run["seed"]) for run in record["runs"]]
    expected = {
        (name, size, seed)
        for name, condition in ch3_32px_run.CONDITIONS.items()
        for size in condition.sizes
        for seed in ch3_32px_run.SEEDS[size]
    }
    assert len(set(found)) == len(found) and set(found) == expected
    for run in record["runs"]:
        condition = ch3_32px_run.CONDITIONS[run["name"]]
        h = run["history"]
        if "diverged" in run:  # only the net without BN and without zero-init may diverge
            assert run["name"] == "resnet56_nobn"
            continue
        assert h["epoch"] == list(range(1, len(h["epoch"]) + 1))
        assert len(h["loss"]) == len(h["lr"]) == 180  # 180 steps at batch 32 and at batch 128
        assert h["lr"][-1] == pytest.approx(condition.lr / 100)  # divided by 10 twice
        assert ("probe" in run) == condition.probe
        if condition.probe:
            assert [p["step"] for p in run["probe"]] == list(ch3_32px_run.PROBE_STEPS)
            assert all(0 <= p["best_drop"] < 1 for p in run["probe"])


@pytest.mark.parametrize(("name", "size"), [("plain56", 8), ("plain56_fixed_ratio", 32)])
def test_the_first_steps_replay(record, name, size):
    runs = {(r["name"], r["size"], r["seed"]): r["history"] for r in record["runs"]}
    committed = runs[name, size, 0]
    threads = torch.get_num_threads()
    try:
        replay = ch3_32px_run.train(name, size, 0, stop_after=25)["history"]
    finally:
        torch.set_num_threads(threads)
    assert len(replay["loss"]) == 25
    assert replay["loss"][0] == pytest.approx(committed["loss"][0], rel=ANY_CPU_RTOL)
    if run_machine() != record["machine"] or os.environ.get("ONEDNN_MAX_CPU_ISA"):
        pytest.skip(f"recorded on {record['machine']}; steps 2-25 replay only there")
    assert replay["loss"] == pytest.approx(committed["loss"][:25], rel=1e-6)


def test_the_script_refuses_bad_input_with_one_error_line(tmp_path, capsys):
    out = str(tmp_path / "x.json")
    assert ch3_32px_run.main(["--sizes", "16", "--out", out]) == 2
    assert capsys.readouterr().err.startswith("error: --sizes")
    assert ch3_32px_run.main(["--seeds", "-1", "--out", out]) == 2
    assert capsys.readouterr().err.startswith("error: --seeds")
    with pytest.raises(ValueError, match="stop_after"):
        ch3_32px_run.train("plain20", 8, 0, stop_after=0)
    with pytest.raises(ValueError, match="name must be one of"):
        ch3_32px_run.train("plain21", 8, 0)


def test_the_script_does_not_mix_recipes_in_one_file(tmp_path, capsys):
    out = tmp_path / "run.json"
    out.write_text(json.dumps({"machine": {}, "recipe": {"train": {}}, "runs": []}))
    assert ch3_32px_run.main(["--sizes", "8", "--seeds", "0", "--out", str(out)]) == 2
    assert "another recipe or machine" in capsys.readouterr().err
    assert json.loads(out.read_text())["recipe"] == {"train": {}}  # left as it was
