"""Chapter 1's committed long run (book/_data/ch1_long_run.json) is what tools/ch1_long_run.py
produces: complete, with the recipe it states; its first step replays on any CPU, its first 25
steps on the machine that recorded it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from tools import ch1_long_run
from tools.common import run_machine

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "book" / "_data" / "ch1_long_run.json"

NAMES = ("plain20", "resnet20", "plain56", "resnet56")
# What replays where. Step 1's loss is a forward pass through the initial weights on the first
# batch: the same on any CPU up to float rounding. Every later step depends on updates that other
# CPUs' kernels round differently, and a deep BN plain net amplifies those differences fast
# (chapter 2): limiting PyTorch to AVX2 kernels on the recording machine already moved plain-56's
# second loss by 1.4 % and plain-20's third by 0.09 %. So the whole 25 steps are compared only
# on the machine (CPU, kernels, torch) that recorded the run, where they are bit-identical.
ANY_CPU_RTOL = 1e-5


@pytest.fixture(scope="module")
def record() -> dict:
    return json.loads(DATA.read_text())


def test_the_record_is_complete_and_states_its_recipe(record):
    config = record["config"]
    assert config["lr"] == pytest.approx(0.1 * 32 / 128) and config["batch_size"] == 32
    assert config["momentum"] == 0.9 and config["weight_decay"] == 1e-4
    assert config["threads"] == 1 and record["machine"]["threads"] == 1
    assert record["machine"]["cpu"] and record["machine"]["torch"]
    found = [(run["name"], run["seed"]) for run in record["runs"]]
    seeds = {s for _, s in found}
    assert len(set(found)) == len(found)  # no network trained twice
    assert set(found) == {(name, s) for name in NAMES for s in seeds}  # every net, every seed
    assert seeds == set(range(len(seeds)))  # seeds 0, 1, ...
    for run in record["runs"]:
        h = run["history"]
        assert h["epoch"] == list(range(1, config["epochs"] + 1))
        assert h["steps_per_epoch"] == 45  # 1,438 training digits in batches of 32
        assert len(h["loss"]) == len(h["lr"]) == 45 * config["epochs"]
        assert h["lr"][0] == pytest.approx(config["lr"])
        assert h["lr"][-1] == pytest.approx(config["lr"] / 100)  # divided by 10 twice


@pytest.mark.parametrize("depth", [20, 56])
def test_the_first_steps_replay(record, depth):
    runs = {(run["name"], run["seed"]): run["history"] for run in record["runs"]}
    committed = runs[f"plain{depth}", 0]
    threads = torch.get_num_threads()
    try:
        replay = ch1_long_run.train(
            depth, False, epochs=record["config"]["epochs"], seed=0, stop_after=25
        )
    finally:
        torch.set_num_threads(threads)
    assert len(replay.loss) == 25
    assert replay.loss[0] == pytest.approx(committed["loss"][0], rel=ANY_CPU_RTOL)
    if run_machine() != record["machine"] or os.environ.get("ONEDNN_MAX_CPU_ISA"):
        pytest.skip(f"recorded on {record['machine']}; steps 2-25 replay only there")
    assert replay.loss == pytest.approx(committed["loss"][:25], rel=1e-6)


def test_the_script_refuses_bad_input_with_one_error_line(tmp_path, capsys):
    assert ch1_long_run.main(["--epochs", "0", "--out", str(tmp_path / "x.json")]) == 2
    assert capsys.readouterr().err.startswith("error: --epochs")
    assert ch1_long_run.main(["--seeds", "-1", "--out", str(tmp_path / "x.json")]) == 2
    assert capsys.readouterr().err.startswith("error: --seeds")
    with pytest.raises(ValueError, match="stop_after"):
        ch1_long_run.train(20, False, epochs=1, seed=0, stop_after=0)


def test_the_script_does_not_mix_recipes_in_one_file(tmp_path, capsys):
    out = tmp_path / "run.json"
    out.write_text(json.dumps({"machine": {}, "config": {"epochs": 99}, "runs": []}))
    assert ch1_long_run.main(["--epochs", "1", "--seeds", "0", "--out", str(out)]) == 2
    assert "another recipe or machine" in capsys.readouterr().err
    assert json.loads(out.read_text())["config"] == {"epochs": 99}  # left as it was
