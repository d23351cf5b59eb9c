"""python -m resnet_edu.train: flags, end to end, and a run killed with SIGKILL then resumed."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from resnet_edu.checkpoint import load_checkpoint
from resnet_edu.cli import MODELS, build_parser, main
from resnet_edu.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--model", "resnet20", "--data", "digits", "--threads", "1", "--device", "cpu"]


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "resnet_edu.train", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_help_documents_every_flag():
    parser = build_parser()
    text = parser.format_help()
    for action in parser._actions:
        for flag in action.option_strings:
            assert flag in text
        assert action.help, action.option_strings
    assert set(MODELS) >= {"resnet20", "resnet56", "resnet110", "plain56"}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "resnet21", "--out", "x"], "invalid choice"),
        (["--model", "resnet20"], "--out"),
        (["--model", "resnet20", "--out", "x", "--data", "mnist"], "invalid choice"),
        (["--model", "resnet20", "--out", "x", "--lr", "fast"], "invalid float value"),
    ],
)
def test_bad_flags_are_argparse_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_existing_run_needs_resume(tmp_path, capsys):
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    assert main(["--model", "resnet20", "--out", str(tmp_path)]) == 2
    assert "--resume" in capsys.readouterr().err


def test_recipe_flags_are_generated_from_train_config():
    parser = build_parser()
    flags = {a.dest: a for a in parser._actions}
    for f in dataclasses.fields(TrainConfig):
        action = flags[f.name]
        assert action.default == f.default, f.name  # one default: the dataclass's
        assert action.help.replace("%%", "%") == f.metadata["help"], f.name  # one description
    argv = ["--model", "resnet20", "--out", "x", "--no-progress", "--amp", "--threads", "3"]
    args = parser.parse_args([*argv, "--amp-dtype", "bfloat16", "--milestones", "0.3", "0.6"])
    assert (args.progress, args.amp, args.amp_dtype) == (False, True, "bfloat16")
    assert (args.threads, args.milestones, args.warmup_until_error) == (3, [0.3, 0.6], None)
    args = parser.parse_args([*argv, "--warmup-until-error", "80"])
    assert (args.milestones, args.warmup_until_error, args.lr) == ((0.5, 0.75), 80.0, 0.1)


def test_offline_cifar10_is_one_clear_message(tmp_path, capsys):
    code = main(
        [
            *SMALL[:2],
            "--data",
            "cifar10",
            "--data-root",
            str(tmp_path / "d"),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "CIFAR-10 was not found" in err and "--download" in err
    assert "Traceback" not in err


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


@pytest.mark.slow  # three processes
def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    args = [*SMALL, "--epochs", "2", "--batch-size", "256", "--checkpoint-every", "2"]
    args.append("--no-progress")  # 6 steps per epoch
    # the reference: one uninterrupted run, end to end through the command line
    ref = _cli(*args, "--out", str(tmp_path / "ref"))
    # the victim runs at the same time, and is killed as soon as its first checkpoint exists
    victim = _cli(*args, "--out", str(tmp_path / "run"))
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    deadline = time.monotonic() + 240
    while not checkpoint.exists() and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    out, err = ref.communicate(timeout=300)
    assert ref.returncode == 0, err
    assert "done: train error" in out and "epoch 2/2: train loss" in out
    killed_at = load_checkpoint(checkpoint)["step"]
    total = load_checkpoint(tmp_path / "ref" / "checkpoint.pt")["step"]
    assert victim.returncode == -signal.SIGKILL and 0 < killed_at < total
    assert not (tmp_path / "run" / "history.json").exists()

    resumed = _cli(*args, "--out", str(tmp_path / "run"), "--resume")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err

    got, want = _weights(checkpoint), _weights(tmp_path / "ref" / "checkpoint.pt")
    assert got.keys() == want.keys()
    for k in want:
        assert torch.equal(got[k], want[k]), k
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history == json.loads((tmp_path / "ref" / "history.json").read_text())
    assert len(history["loss"]) == total
    for folder in ("run", "ref"):  # no temporary or partial files left behind
        names = sorted(p.name for p in (tmp_path / folder).iterdir())
        assert names == [
            ".checkpoint.pt.lock",
            "args.json",
            "checkpoint.pt",
            "history.csv",
            "history.json",
        ]
