"""Chapter 7's full mode (CIFAR-10 on a GPU) exercised on a CIFAR-shaped stand-in, on the CPU.

The notebook's full-mode branch is ``run_table6(depths, cifar10(...), lambda d: paper_config(d,
...), checkpoint_dir)``. Nobody runs it in CI (no GPU, no CIFAR-10 offline), so these tests run
the same calls on ``resnet_edu.data.synthetic`` -- which goes through the CIFAR-10 loaders' code
after the files are read -- with tiny epochs, and check what the chapter promises: the paper's
schedule, one checkpoint per network, and that a session killed mid-run and restarted ends with
exactly the histories of an uninterrupted run.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from resnet_edu import paper
from resnet_edu.checkpoint import save_checkpoint
from resnet_edu.data import digits, synthetic
from resnet_edu.experiments import (
    PAPER_BATCH_SIZE,
    PAPER_ITERATIONS,
    PAPER_TABLE6,
    paper_config,
    run_table6,
    table6_rows,
)
from resnet_edu.train import History, TrainConfig, learning_rate


def _stand_in():
    """CIFAR-shaped (3x32x32, uint8, pad-crop-flip) data, small enough for two quick epochs."""
    return synthetic(num_train=96, num_test=32, batch_size=32, seed=0)


def _tiny(depth: int, data, **kw) -> TrainConfig:
    """The notebook's full-mode config, shrunk to 2 epochs (and CPU-only flags off)."""
    return paper_config(
        depth, steps_per_epoch=len(data.train), epochs=2, progress=False, threads=1, **kw
    )


def test_paper_config_is_the_papers_schedule_in_iterations():
    steps = math.ceil(45_000 / PAPER_BATCH_SIZE)  # 352 steps per epoch on the 45k split
    config = paper_config(56, steps_per_epoch=steps)
    total = config.epochs * steps
    assert config.epochs == 182 and abs(total - PAPER_ITERATIONS) < steps
    lrs = [learning_rate(config, s, total, warming_up=False) for s in range(total)]
    # lr 0.1, then / 10 at 32k and / 10 again at 48k (within one epoch of the paper's steps)
    first, second = lrs.index(pytest.approx(0.01)), lrs.index(pytest.approx(0.001))
    assert lrs[0] == 0.1 and abs(first - 32_000) < steps and abs(second - 48_000) < steps
    assert (config.momentum, config.weight_decay) == (0.9, 1e-4)
    assert not config.warmup
    deep = paper_config(110, steps_per_epoch=steps)
    assert deep.warmup and deep.warmup_lr == 0.01 and deep.warmup_until_error == 80.0
    assert paper_config(56, steps_per_epoch=steps, amp=True).amp


def test_the_recipe_and_table6_come_from_the_paper_module():
    # one home for the paper's numbers: resnet_edu.paper cites them; experiments reuses them
    assert PAPER_TABLE6 == paper.TABLE6_ERROR
    assert (PAPER_BATCH_SIZE, PAPER_ITERATIONS) == (paper.CIFAR.batch_size, paper.CIFAR.iterations)
    config = paper_config(20)
    assert (config.lr, config.momentum, config.weight_decay, config.gamma) == (
        paper.CIFAR.lr,
        paper.CIFAR.momentum,
        paper.CIFAR.weight_decay,
        paper.CIFAR.lr_factor,
    )
    assert paper_config(paper.CIFAR.warmup_from_depth).warmup_until_error == 80.0


def _as_if_on_a_gpu(path) -> dict:
    """Rewrite the checkpoint at ``path`` as a GPU run with amp and channels_last would have."""
    state = torch.load(path, weights_only=True)
    state["machine"] = {**state["machine"], "device": "cuda", "threads": None, "amp": "float16"}
    state["machine"]["channels_last"] = True
    state["config"] = {**state["config"], "amp": True, "channels_last": True}
    save_checkpoint(path, {k: v for k, v in state.items() if k not in ("format", "version")})
    return state


def test_a_finished_gpu_run_reopens_on_a_cpu_runtime(tmp_path):
    """Chapter 7, full mode: the run finished on a GPU (amp, channels_last); the notebook is
    reopened on a CPU runtime with the same cell. The finished histories are read back."""
    data = _stand_in()
    config = _tiny(20, data)
    run_table6([8], data, config, tmp_path, residual=(True,))
    state = _as_if_on_a_gpu(tmp_path / "resnet8.pt")
    before = (tmp_path / "resnet8.pt").read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a finished run is only read: no machine warning
        reopened = run_table6([8], data, config, tmp_path, residual=(True,))  # amp=False here
    assert reopened["resnet8"].to_dict() == History.from_dict(state["history"]).to_dict()
    assert (tmp_path / "resnet8.pt").read_bytes() == before  # read back, not retrained


def test_an_unfinished_gpu_run_continues_on_a_cpu_runtime_with_a_warning(tmp_path):
    """Colab gave a GPU, then only a CPU: the run continues (the machine is not the
    experiment), and says once that its numbers now differ slightly."""
    data = _stand_in()
    config = _tiny(20, data, checkpoint_every=2)

    def die(event):
        if event.kind == "step" and event.step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_table6([8], data, config, tmp_path, residual=(True,), callbacks=[die])
    _as_if_on_a_gpu(tmp_path / "resnet8.pt")
    with pytest.warns(UserWarning) as caught:
        history = run_table6([8], data, config, tmp_path, residual=(True,))["resnet8"]
    (warning,) = caught  # once
    assert "device is 'cuda' in the checkpoint but 'cpu' now" in str(warning.message)
    assert "amp is 'float16' in the checkpoint but None now" in str(warning.message)
    assert history.epoch == [1, 2] and len(history.loss) == 2 * len(data.train)


def test_full_mode_path_trains_checkpoints_and_resumes_exactly(tmp_path):
    data = _stand_in()
    assert (data.in_channels, data.image_size) == (3, 32)

    def config(depth: int) -> TrainConfig:
        return _tiny(depth, data, checkpoint_every=2)

    reference = run_table6([8], data, config, tmp_path / "uninterrupted")
    assert list(reference) == ["plain8", "resnet8"]
    for history in reference.values():
        assert history.epoch == [1, 2] and len(history.loss) == 2 * len(data.train)

    # A "disconnect": the session dies during the ResNet, after its step-3 checkpoint was kept
    # (checkpoints every 2 steps), with the plain net already finished.
    folder = tmp_path / "drive"

    def die(event):
        if event.kind == "step" and event.step == 3 and event.model.residual:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_table6([8], data, config, folder, callbacks=[die])
    assert (folder / "plain8.json").exists() and not (folder / "resnet8.json").exists()
    partial = torch.load(folder / "resnet8.pt", weights_only=True)
    assert partial["step"] == 2

    resumed = run_table6([8], data, config, folder)  # the same cell, run again
    for name in reference:
        assert resumed[name].to_dict() == reference[name].to_dict(), name
    ckpt = {
        name: torch.load(folder / f"{name}.pt", weights_only=True)["model"] for name in reference
    }
    uninterrupted = torch.load(tmp_path / "uninterrupted" / "resnet8.pt", weights_only=True)
    for key, value in uninterrupted["model"].items():
        assert torch.equal(ckpt["resnet8"][key], value), key
    leftovers = [p.name for p in folder.iterdir() if p.suffix not in (".pt", ".json", ".lock")]
    assert leftovers == [], "temporary files left behind"

    # Finished networks are read back, not retrained: a callback would see no step at all.
    steps = []
    again = run_table6([8], data, config, folder, callbacks=[lambda e: steps.append(e.kind)])
    assert "step" not in steps and again["resnet8"].to_dict() == reference["resnet8"].to_dict()

    rows = table6_rows(resumed)
    assert [r["depth"] for r in rows] == [8] and rows[0]["paper_resnet_test"] is None
    assert rows[0]["resnet_test"] == reference["resnet8"].test_error[-1]


def test_table6_rows_put_the_papers_numbers_next_to_ours():
    data = digits(batch_size=256)
    histories = run_table6(
        [20], data, TrainConfig(epochs=1, progress=False, threads=1), residual=(True,)
    )
    (row,) = table6_rows(histories)
    assert row["depth"] == 20 and row["paper_resnet_test"] == PAPER_TABLE6[20]
    assert row["plain_train"] is None and row["resnet_test"] == histories["resnet20"].test_error[-1]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"depths": [21]}, ValueError, "6n\\+2"),
        ({"depths": []}, ValueError, "at least one"),
        ({"config": "paper"}, TypeError, "TrainConfig"),
        ({"config": lambda d: None}, TypeError, "must return a TrainConfig"),
        ({"data": "cifar10"}, TypeError, "Loaders"),
        ({"shortcut": "D"}, ValueError, "shortcut"),
        ({"residual": ()}, TypeError, "residual"),
    ],
)
def test_bad_arguments_are_rejected_before_training(kwargs, error, match):
    args = {"depths": [8], "data": _stand_in(), "config": TrainConfig(epochs=1, progress=False)}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        run_table6(**args)
