"""Chapter 8's committed lesion run (book/_data/ch8_lesion_run.json) is what
tools/ch8_lesion_run.py produces: complete, with the recipe it states, self-consistent; its first
step replays on any CPU, its first 25 steps and a whole 5-epoch run with its lesions on the
machine that recorded it."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest
import torch

from tools import ch8_lesion_run
from tools.common import run_machine

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "book" / "_data" / "ch8_lesion_run.json"

BLOCKS = [f"layer{stage}.{i}" for stage in (1, 2, 3) for i in range(3)]
TEST_IMAGES = 359  # 20 % of scikit-learn's 1,797 digits
ANY_CPU_RTOL = 1e-5  # step 1 is a forward pass through the initial weights (see test_ch1_long_run)


@pytest.fixture(scope="module")
def record() -> dict:
    return json.loads(DATA.read_text())


def _on_the_recording_machine(record: dict) -> bool:
    return run_machine() == record["machine"] and not os.environ.get("ONEDNN_MAX_CPU_ISA")


def _run(record: dict, *, depth: int, epochs: int, seed: int) -> dict:
    return next(
        r for r in record["runs"] if (r["depth"], r["epochs"], r["seed"]) == (depth, epochs, seed)
    )


def test_the_record_is_complete_and_states_its_recipe(record):
    config = record["config"]
    assert config["lr"] == 0.1 and config["batch_size"] == 64  # chapter 8's recipe
    assert config["momentum"] == 0.9 and config["weight_decay"] == 1e-4
    assert config["threads"] == 1 and record["machine"]["threads"] == 1
    found = [(r["depth"], r["epochs"], r["seed"]) for r in record["runs"]]
    assert len(set(found)) == len(found)  # no network trained twice
    shallow = {(e, s) for d, e, s in found if d == 20}
    budgets, seeds = {e for e, _ in shallow}, {s for _, s in shallow}
    assert budgets == {5, 20, 100} and seeds == set(range(8))
    assert shallow == set(itertools.product(budgets, seeds))  # every budget, every seed
    assert {(e, s) for d, e, s in found if d == 56} == {(20, s) for s in range(4)}


def test_every_run_is_self_consistent(record):
    for run in record["runs"]:
        n = {20: 9, 56: 27}[run["depth"]]
        assert len(run["first_losses"]) == 25
        paths = run["paths"]
        assert len(paths["mean_norm"]) == len(paths["counts"]) == n + 1
        assert sum(paths["counts"]) == 2**n
        # a long path of ResNet-56 can carry an exact zero (a ReLU mask); the short ones cannot
        assert all(v >= 0 for v in paths["mean_norm"]) and paths["mean_norm"][0] > 0
        if run["depth"] == 56:
            continue
        lesions = run["lesions"]
        assert list(lesions["single"]) == BLOCKS
        assert len(lesions["pairs"]) == 36
        errors = [lesions["intact"], *lesions["single"].values(), *lesions["pairs"].values()]
        for error in errors:  # an error is a whole number of the 359 test images
            wrong = error * TEST_IMAGES / 100
            assert wrong == pytest.approx(round(wrong), abs=1e-6) and 0 <= error <= 100
        assert lesions["intact"] == pytest.approx(run["test_error"])  # the same evaluation


def test_the_first_steps_replay(record):
    committed = _run(record, depth=20, epochs=5, seed=0)
    threads = torch.get_num_threads()
    try:
        _, replay = ch8_lesion_run.train(20, epochs=5, seed=0, stop_after=25)
    finally:
        torch.set_num_threads(threads)
    # the history holds the losses copied from the device so far: epoch 1's 23 steps
    n = len(replay.loss)
    assert n >= 20
    assert replay.loss[0] == pytest.approx(committed["first_losses"][0], rel=ANY_CPU_RTOL)
    if not _on_the_recording_machine(record):
        pytest.skip(f"recorded on {record['machine']}; steps 2-{n} replay only there")
    assert replay.loss == pytest.approx(committed["first_losses"][:n], rel=1e-6)


def test_a_whole_5_epoch_run_and_its_lesions_replay_on_the_recording_machine(record):
    if not _on_the_recording_machine(record):
        pytest.skip(f"recorded on {record['machine']}; a whole run replays only there")
    committed = _run(record, depth=20, epochs=5, seed=0)
    threads = torch.get_num_threads()
    try:
        model, history = ch8_lesion_run.train(20, epochs=5, seed=0)
    finally:
        torch.set_num_threads(threads)
    assert history.test_error[-1] == committed["test_error"]
    lesions = ch8_lesion_run.lesions(model, 0)
    assert lesions["single"] == committed["lesions"]["single"]
    assert lesions["pairs"] == committed["lesions"]["pairs"]


def test_the_script_refuses_bad_input_with_one_error_line(tmp_path, capsys):
    out = str(tmp_path / "x.json")
    assert ch8_lesion_run.main(["--epochs", "0", "--out", out]) == 2
    assert capsys.readouterr().err.startswith("error: --epochs")
    assert ch8_lesion_run.main(["--seeds", "-1", "--out", out]) == 2
    assert capsys.readouterr().err.startswith("error: --seeds")
    with pytest.raises(ValueError, match="stop_after"):
        ch8_lesion_run.train(20, epochs=1, seed=0, stop_after=0)


def test_the_script_does_not_mix_recipes_in_one_file(tmp_path, capsys):
    out = tmp_path / "run.json"
    out.write_text(json.dumps({"machine": {}, "config": {"epochs": 99}, "runs": []}))
    assert ch8_lesion_run.main(["--epochs", "1", "--seeds", "0", "--out", str(out)]) == 2
    assert "another recipe or machine" in capsys.readouterr().err
    assert json.loads(out.read_text())["config"] == {"epochs": 99}  # left as it was


def test_the_script_writes_a_run_it_can_continue(tmp_path):
    out = tmp_path / "run.json"
    argv = ["--epochs", "1", "--seeds", "0", "--deep-seeds", "--out", str(out)]
    assert ch8_lesion_run.main(argv) == 0
    first = json.loads(out.read_text())
    assert [(r["depth"], r["epochs"], r["seed"]) for r in first["runs"]] == [(20, 1, 0)]
    assert ch8_lesion_run.main(argv) == 0  # nothing left to do: the file is unchanged
    assert json.loads(out.read_text()) == first
