"""resnet_edu.checkpoint: atomic writes, clear errors on bad files, random states."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from resnet_edu.checkpoint import (
    CheckpointError,
    atomic_write_bytes,
    get_rng_state,
    load_checkpoint,
    save_checkpoint,
    set_rng_state,
)


def _state(value: float = 1.0) -> dict:
    return {
        "model": {"w": torch.full((3, 3), value)},
        "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "params": [0]}]},
        "schedule": {"warming_up": False},
        "step": 7,
        "epoch": 1,
        "rng": get_rng_state(),
        "config": {"epochs": 2},
        "history": {"loss": [1.0, 0.5]},
    }


def _leftovers(folder: Path, keep: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != keep)


def test_round_trip_with_weights_only(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", _state(2.0))
    state = load_checkpoint(path)
    assert torch.equal(state["model"]["w"], torch.full((3, 3), 2.0))
    assert state["step"] == 7 and state["history"] == {"loss": [1.0, 0.5]}
    # loadable by plain torch with weights_only=True (no pickled code)
    assert torch.load(path, weights_only=True)["format"] == "resnet_edu.checkpoint"
    assert _leftovers(tmp_path, "c.pt") == []


def test_failed_write_leaves_old_file_and_no_temp_file(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", _state(1.0))
    before = path.read_bytes()

    def explode(f):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of torch.save

    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(path, explode)
    assert path.read_bytes() == before
    assert _leftovers(tmp_path, "c.pt") == []
    bad = _state()
    bad["model"] = {"w": lambda: None}  # torch.save cannot pickle a lambda
    with pytest.raises((AttributeError, TypeError, pickle.PicklingError)):
        save_checkpoint(path, bad)
    assert path.read_bytes() == before and _leftovers(tmp_path, "c.pt") == []


def test_truncated_file_is_rejected_naming_it(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", _state())
    data = path.read_bytes()
    for cut in (0, 10, len(data) // 2, len(data) - 10):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="c.pt"):
            load_checkpoint(path)


def test_corrupted_file_is_rejected(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", _state())
    data = bytearray(path.read_bytes())
    for i in range(0, len(data), 97):  # scribble over the zip directory and the pickle
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="c.pt"):
        load_checkpoint(path)


def test_foreign_files_are_rejected(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="notes.pt"):
        load_checkpoint(text)
    bare = tmp_path / "state_dict.pt"
    torch.save({"w": torch.ones(2)}, bare)
    with pytest.raises(CheckpointError, match="not a resnet_edu checkpoint"):
        load_checkpoint(bare)
    pickled = tmp_path / "code.pt"
    torch.save({"format": "resnet_edu.checkpoint", "obj": Path("x")}, pickled)
    with pytest.raises(CheckpointError, match="code.pt"):  # weights_only refuses objects
        load_checkpoint(pickled)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_rng_states_round_trip_through_a_file(tmp_path):
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    np.random.standard_normal()  # leaves a cached gaussian in numpy's state
    state = _state()
    state["rng"] = get_rng_state()
    first = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    save_checkpoint(tmp_path / "c.pt", state)
    torch.manual_seed(2)
    np.random.seed(2)
    random.seed(2)
    set_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"])
    again = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    assert torch.equal(first[0], again[0])
    assert np.array_equal(first[1], again[1]) and first[2] == again[2]


def test_save_rejects_a_state_that_is_not_a_dict(tmp_path):
    with pytest.raises(TypeError, match="state must be a dict"):
        save_checkpoint(tmp_path / "c.pt", [1, 2])
    assert list(tmp_path.iterdir()) == []
