"""resnet_edu.train: the recipe, fit, History, and exact resume (in-process)."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from resnet_edu import data
from resnet_edu.checkpoint import load_checkpoint
from resnet_edu.cifar import CifarResNet, resnet20
from resnet_edu.train import (
    FitEvent,
    History,
    TrainConfig,
    evaluate,
    fit,
    learning_rate,
    pick_device,
)

QUIET = {"progress": False, "threads": 1, "device": "cpu"}


def _tiny(in_channels: int = 3) -> torch.nn.Module:
    torch.manual_seed(0)
    return CifarResNet(8, in_channels=in_channels, widths=(4, 8, 8))


@pytest.fixture(scope="module")
def digits():
    return data.digits(batch_size=128)


def test_config_defaults_are_the_papers_recipe():
    c = TrainConfig()
    assert (c.lr, c.momentum, c.weight_decay, c.gamma) == (0.1, 0.9, 1e-4, 0.1)
    # 32k and 48k of 64k iterations
    assert c.milestones == (32_000 / 64_000, 48_000 / 64_000)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.lr = 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"epochs": 0},
        {"lr": -0.1},
        {"milestones": (0.5, 1.5)},
        {"warmup_steps": -1},
        {"threads": 0},
        {"epochs": 2.0},
        {"device": 0},
    ],
)
def test_config_rejects_bad_values(kwargs):
    with pytest.raises((ValueError, TypeError)):
        TrainConfig(**kwargs)


def test_learning_rate_steps_down_at_the_milestones():
    c = TrainConfig()
    steps = (0, 31_999, 32_000, 47_999, 48_000, 63_999)
    lrs = [learning_rate(c, s, 64_000, warming_up=False) for s in steps]
    # the paper: 0.1, "divide it by 10 at 32k and 48k iterations"
    assert lrs == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rel=1e-12)
    assert learning_rate(c, 50_000, 64_000, warming_up=True) == c.warmup_lr


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and torch.backends.mps.is_available():
        expected = "mps"
    assert pick_device().type == expected


def test_loss_falls_on_digits_for_resnet20(digits):
    torch.manual_seed(0)
    model = resnet20(num_classes=10)
    history = fit(model, digits, TrainConfig(epochs=2, **QUIET))
    steps = history.steps_per_epoch
    assert steps == math.ceil(len(digits.train.dataset) / 128)
    assert len(history.loss) == len(history.lr) == 2 * steps
    assert history.epoch == [1, 2]
    # chance level is ln(10) = 2.30 and 90% error; two epochs get far below both
    assert history.loss[0] > 2.0
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.test_error[-1] < 30.0
    # the reported test error is the model's error on the test loader
    model.eval()
    with torch.no_grad():
        wrong = sum((model(x).argmax(1) != y).sum().item() for x, y in digits.test)
    assert history.test_error[-1] == pytest.approx(100 * wrong / len(digits.test.dataset))
    # the reported losses are the mean cross-entropy of their epoch's steps
    assert history.train_loss[0] == pytest.approx(sum(history.loss[:steps]) / steps)


def test_step_error_is_each_steps_batch_error_before_its_update():
    """The reference: each training forward's logits (a hook), against the labels of the images
    it was given (found by matching the images to the dataset's)."""
    x, y = torch.randn(70, 3, 8, 8), torch.randint(0, 4, (70,))
    wrong, sizes = [], []

    def hook(module, inputs, logits):
        if module.training:  # fit's test pass runs in eval mode
            index = (inputs[0].flatten(1)[:, None] == x.flatten(1)[None]).all(-1).int().argmax(1)
            wrong.append(int((logits.argmax(1) != y[index]).sum()))
            sizes.append(len(index))

    ds = torch.utils.data.TensorDataset(x, y)
    train = torch.utils.data.DataLoader(ds, batch_size=16, shuffle=True)
    test = torch.utils.data.DataLoader(ds, batch_size=70)
    model = _tiny()
    model.register_forward_hook(hook)
    h = fit(model, (train, test), TrainConfig(epochs=2, lr=0.05, **QUIET))
    assert sizes == [16, 16, 16, 16, 6] * 2 and len(h.step_error) == len(h.loss) == 10
    assert h.step_error == [100.0 * w / n for w, n in zip(wrong, sizes, strict=True)]
    assert len(set(h.step_error)) > 1  # the batches differ
    # the epoch's training error counts the same answers over the whole epoch
    assert h.train_error == [
        pytest.approx(100 * sum(wrong[:5]) / 70),
        pytest.approx(100 * sum(wrong[5:]) / 70),
    ]


def test_warmup_until_error_and_warmup_steps(digits):
    h = fit(_tiny(), digits, TrainConfig(epochs=1, warmup_steps=3, **QUIET))
    assert h.lr[:4] == [0.01, 0.01, 0.01, 0.1]
    # any error is below 100%: warm-up ends after the first step
    h = fit(_tiny(), digits, TrainConfig(epochs=1, warmup_until_error=100.0, **QUIET))
    assert h.lr[:3] == [0.01, 0.1, 0.1]
    # no error is below 0.001%: warm-up never ends
    h = fit(_tiny(), digits, TrainConfig(epochs=1, warmup_until_error=1e-3, **QUIET))
    assert set(h.lr) == {0.01}


def test_history_round_trips_through_json_and_csv(tmp_path):
    h = History(
        loss=[2.0, 1.5],
        step_error=[87.5, 50.0],
        lr=[0.1, 0.1],
        epoch=[1],
        train_loss=[1.75],
        train_error=[50.0],
        test_loss=[1.6],
        test_error=[45.5],
        steps_per_epoch=2,
    )
    h.save(tmp_path / "h.json")
    assert History.load(tmp_path / "h.json") == h
    assert History.from_dict(h.to_dict()) == h
    h.save_csv(tmp_path / "h.csv")
    lines = (tmp_path / "h.csv").read_text().splitlines()
    assert lines == ["epoch,train_loss,train_error,test_loss,test_error", "1,1.75,50.0,1.6,45.5"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.csv", "h.json"]
    with pytest.raises(ValueError, match="unknown"):
        History.from_dict({"accuracy": [1]})


def test_fit_rejects_bad_arguments(digits):
    with pytest.raises(TypeError, match="data"):
        fit(_tiny(), [1, 2, 3], TrainConfig(**QUIET))
    with pytest.raises(TypeError, match="config"):
        fit(_tiny(), digits, {"epochs": 1})
    with pytest.raises(ValueError, match="checkpoint"):
        fit(_tiny(), digits, TrainConfig(**QUIET), resume=True)
    with pytest.raises(FileNotFoundError):
        fit(_tiny(), digits, TrainConfig(**QUIET), resume="nowhere.pt")


class Crash(Exception):
    pass


def _crash_at(step: int):
    def callback(event: FitEvent) -> None:
        if event.kind == "step" and event.step == step:
            raise Crash

    return callback


def _assert_same_model(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


@pytest.mark.parametrize("source, crash", [("digits", 7), ("digits", 17), ("synthetic", 6)])
def test_resume_after_a_crash_equals_the_uninterrupted_run(tmp_path, digits, source, crash):
    loaders = digits if source == "digits" else data.synthetic(num_train=320, batch_size=64)
    config = TrainConfig(epochs=2, checkpoint_every=5, seed=3, **QUIET)
    reference = _tiny()
    ref_history = fit(reference, loaders, config, checkpoint=tmp_path / "ref.pt")

    model = _tiny()
    with pytest.raises(Crash):
        fit(model, loaders, config, checkpoint=tmp_path / "c.pt", callbacks=[_crash_at(crash)])
    saved = load_checkpoint(tmp_path / "c.pt")
    assert saved["step"] == crash // 5 * 5  # the last checkpoint before the crash
    resumed_model = _tiny()  # a fresh process would rebuild the model from scratch
    torch.manual_seed(123)  # and the global RNG would be anything
    history = fit(resumed_model, loaders, config, checkpoint=tmp_path / "c.pt", resume=True)

    _assert_same_model(resumed_model, reference)
    assert history == ref_history
    final, ref_final = load_checkpoint(tmp_path / "c.pt"), load_checkpoint(tmp_path / "ref.pt")
    for k, buf in ref_final["optimizer"]["state"].items():  # momentum buffers too
        assert torch.equal(
            final["optimizer"]["state"][k]["momentum_buffer"], buf["momentum_buffer"]
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".c.pt.lock",
        ".ref.pt.lock",
        "c.pt",
        "ref.pt",
    ]


def test_resume_refuses_another_config(tmp_path, digits):
    config = TrainConfig(epochs=1, **QUIET)
    fit(_tiny(), digits, config, checkpoint=tmp_path / "c.pt")
    with pytest.raises(ValueError, match="lr is 0.1 in the checkpoint but 0.05 now"):
        fit(_tiny(), digits, dataclasses.replace(config, lr=0.05), resume=tmp_path / "c.pt")
    # presentation fields may change
    h = fit(_tiny(), digits, dataclasses.replace(config, progress=True), resume=tmp_path / "c.pt")
    assert h.epoch == [1]


def test_checkpoint_holds_one_explicit_dict(tmp_path, digits):
    config = TrainConfig(epochs=1, **QUIET)
    events = []
    model = _tiny()
    fit(
        model,
        digits,
        config,
        checkpoint=tmp_path / "c.pt",
        callbacks=[lambda e: events.append((e.kind, e.step, e.epoch))],
    )
    state = torch.load(tmp_path / "c.pt", weights_only=True)
    assert {"model", "optimizer", "schedule", "step", "epoch", "rng", "config", "history"} <= set(
        state
    )
    assert state["config"] == config.to_dict() and state["step"] == len(digits.train)
    _assert_same_model(model, _load_into(_tiny(), state["model"]))
    kinds = [k for k, _, _ in events]
    assert kinds.count("step") == len(digits.train) and kinds[-2:] == ["checkpoint", "epoch"]


def _load_into(model, state_dict):
    model.load_state_dict(state_dict)
    return model


def test_fit_accepts_a_pair_of_plain_dataloaders():
    x = torch.randn(64, 3, 8, 8)
    y = torch.randint(0, 10, (64,))
    ds = torch.utils.data.TensorDataset(x, y)
    train = torch.utils.data.DataLoader(ds, batch_size=16, shuffle=True)
    test = torch.utils.data.DataLoader(ds, batch_size=32)
    model = _tiny()
    h = fit(model, (train, test), TrainConfig(epochs=1, **QUIET))
    model.eval()
    with torch.no_grad():
        loss = F.cross_entropy(model(x), y).item()
    assert h.test_loss[-1] == pytest.approx(loss, rel=1e-5)


def test_evaluate_is_mean_loss_and_error_in_eval_mode_and_restores_the_mode():
    model = _tiny()
    model.train()
    model.layer1.eval()  # a mixed state, as when BatchNorms are frozen
    x, y = torch.randn(40, 3, 8, 8), torch.randint(0, 10, (40,))
    batches = [(x[:16], y[:16]), (x[16:], y[16:])]
    loss, error = evaluate(model, batches)
    assert model.training and not model.layer1.training  # every flag as it was
    model.eval()
    with torch.no_grad():
        logits = model(x)
    assert loss == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-6)
    assert error == pytest.approx(100 * (logits.argmax(1) != y).float().mean().item())
    assert evaluate(model, (x, y)) == pytest.approx((loss, error), rel=1e-6)
    # another loss: a batch mean, weighted by the batch size
    mse = lambda out, t: (out.softmax(1) - F.one_hot(t, 10)).pow(2).mean()  # noqa: E731
    expected = (16 * mse(logits[:16], y[:16]) + 24 * mse(logits[16:], y[16:])) / 40
    assert evaluate(model, batches, loss_fn=mse)[0] == pytest.approx(expected.item(), rel=1e-6)


def _pair(n: int = 48, classes: int = 4, batch_size: int = 16):
    x, y = torch.randn(n, 3, 8, 8), torch.randint(0, classes, (n,))
    ds = torch.utils.data.TensorDataset(x, y)
    loader = torch.utils.data.DataLoader
    return loader(ds, batch_size=batch_size, shuffle=True), loader(ds, batch_size=n)


def test_fit_takes_an_optimizer_factory_and_a_loss(tmp_path):
    data = _pair()
    config = TrainConfig(epochs=2, lr=0.01, **QUIET)
    seen = []

    def smoothed(logits, labels):  # another loss, recording what it returned
        value = F.cross_entropy(logits, labels, label_smoothing=0.2)
        seen.append(value.item())
        return value

    def adam(params, config):
        return torch.optim.Adam(params, lr=config.lr)

    model = _tiny()
    h = fit(model, data, config, optimizer=adam, loss=smoothed, checkpoint=tmp_path / "c.pt")
    # per epoch: 3 training steps, then the test set in one batch, each with the given loss
    assert h.loss == seen[0:3] + seen[4:7] and h.test_loss == [seen[3], seen[7]]
    assert h.test_loss[-1] == pytest.approx(evaluate(model, data[1], loss_fn=smoothed)[0])
    state = load_checkpoint(tmp_path / "c.pt")
    assert set(state["optimizer"]["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}  # Adam's
    assert (
        state["optimizer"]["param_groups"][0]["lr"] == h.lr[-1] == pytest.approx(1e-4)
    )  # schedule
    # another optimiser or loss is another experiment: resuming it is refused
    with pytest.raises(ValueError, match="optimizer is 'torch.optim.adam.Adam' in the check"):
        fit(_tiny(), data, config, loss=smoothed, resume=tmp_path / "c.pt")
    with pytest.raises(ValueError, match="loss is '.*smoothed' in the checkpoint but 'torch"):
        fit(_tiny(), data, config, optimizer=adam, resume=tmp_path / "c.pt")


def test_the_default_optimizer_is_the_papers_sgd():
    data = _pair()
    config = TrainConfig(epochs=1, **QUIET)
    by_hand = fit(
        _tiny(),
        data,
        config,
        optimizer=lambda params, c: torch.optim.SGD(
            params, lr=0.1, momentum=0.9, weight_decay=1e-4
        ),
    )
    assert fit(_tiny(), data, config) == by_hand


def test_bfloat16_autocast_trains_on_the_cpu_and_resumes_exactly(tmp_path):
    data = _pair()
    config = TrainConfig(epochs=2, amp=True, amp_dtype="bfloat16", checkpoint_every=2, **QUIET)
    dtypes = set()
    model = _tiny()
    model.conv1.register_forward_hook(lambda m, i, out: dtypes.add(out.dtype))
    reference = fit(model, data, config)
    assert dtypes == {torch.bfloat16}  # every forward, training and test, in bfloat16
    assert all(math.isfinite(v) for v in reference.loss) and len(reference.loss) == 6
    with pytest.raises(Crash):
        fit(_tiny(), data, config, checkpoint=tmp_path / "c.pt", callbacks=[_crash_at(3)])
    assert load_checkpoint(tmp_path / "c.pt")["machine"]["amp"] == "bfloat16"
    resumed = fit(_tiny(), data, config, checkpoint=tmp_path / "c.pt", resume=True)
    assert resumed == reference
    assert reference != fit(_tiny(), data, dataclasses.replace(config, amp=False))
    with pytest.warns(UserWarning, match="float16 is not used on cpu"):
        fit(_tiny(), data, dataclasses.replace(config, amp_dtype="float16", epochs=1))


def test_the_data_order_of_each_epoch_is_distributed_samplers_for_the_seed():
    x, y = torch.randn(40, 3, 8, 8), torch.randint(0, 4, (40,))
    order = []

    def hook(module, inputs, logits):
        if module.training:
            order.extend(
                (inputs[0].flatten(1)[:, None] == x.flatten(1)[None])
                .all(-1)
                .int()
                .argmax(1)
                .tolist()
            )

    ds = torch.utils.data.TensorDataset(x, y)
    loader = torch.utils.data.DataLoader
    model = _tiny()
    model.register_forward_hook(hook)
    fit(
        model,
        (loader(ds, batch_size=16), loader(ds, batch_size=40)),
        TrainConfig(epochs=2, seed=7, **QUIET),
    )
    expected = []
    for epoch in (0, 1):
        sampler = torch.utils.data.DistributedSampler(ds, num_replicas=1, rank=0, seed=7)
        sampler.set_epoch(epoch)
        expected += list(sampler)
    assert order == expected and sorted(order[:40]) == list(range(40))
