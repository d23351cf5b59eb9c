"""resnet_edu.interventions: each tool changes exactly the one thing it names (chapter 3)."""

from __future__ import annotations

import copy
import types

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resnet_edu import CifarResNet
from resnet_edu.data import digits
from resnet_edu.interventions import (
    FixedUpdateRatio,
    FixedWeightNorms,
    GradientProbe,
    ScaledShortcutBlock,
    scale_shortcuts,
)
from resnet_edu.train import TrainConfig, fit

STEP = types.SimpleNamespace(kind="step")


def net(residual: bool = True, seed: int = 0, **kwargs) -> CifarResNet:
    torch.manual_seed(seed)
    return CifarResNet(8, residual=residual, **kwargs)


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    return torch.randn(8, 3, 8, 8), torch.randint(0, 10, (8,))


def test_scale_one_is_the_resnet_and_scale_zero_its_plain_twin(batch):
    x, _ = batch
    resnet, plain = net(True).eval(), net(False).eval()  # option A: the same weights
    with torch.no_grad():
        expected = {1.0: resnet(x), 0.0: plain(x)}
        for scale, output in expected.items():
            scaled = scale_shortcuts(copy.deepcopy(resnet), scale)
            assert torch.allclose(scaled(x), output, atol=1e-6)
        half = scale_shortcuts(copy.deepcopy(resnet), 0.5)(x)
        assert not torch.allclose(half, expected[1.0]) and not torch.allclose(half, expected[0.0])


def test_scale_shortcuts_wraps_every_block_and_keeps_the_weights():
    model = scale_shortcuts(net(), 0.25)
    blocks = [m for m in model.modules() if isinstance(m, ScaledShortcutBlock)]
    assert len(blocks) == 3 and all(b.scale == 0.25 for b in blocks)
    assert "layer1.0.block.conv1.weight" in dict(model.named_parameters())
    assert "scale=0.25" in repr(blocks[0])


@pytest.mark.parametrize(
    ("model", "scale", "error", "match"),
    [
        ("plain", 0.5, ValueError, "residual blocks"),
        ("resnet", 1.5, ValueError, r"scale must be in \[0, 1\]"),
        ("resnet", -0.1, ValueError, "scale"),
        ("resnet", "1", TypeError, "scale"),
        ("linear", 0.5, ValueError, "no stages"),
        ("none", 0.5, TypeError, "model"),
    ],
)
def test_scale_shortcuts_refuses_what_it_cannot_scale(model, scale, error, match):
    models = {"plain": net(False), "resnet": net(), "linear": nn.Linear(2, 2), "none": None}
    with pytest.raises(error, match=match):
        scale_shortcuts(models[model], scale)


def test_fixed_weight_norms_restores_every_conv_norm_and_keeps_the_function(batch):
    x, y = batch
    model = net()
    keep = FixedWeightNorms(model)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    before = [c.weight.norm().item() for c in convs]
    sgd = torch.optim.SGD(model.parameters(), lr=5.0)  # a step that grows the norms
    F.cross_entropy(model(x), y).backward()
    sgd.step()
    assert any(c.weight.norm().item() > 1.01 * b for c, b in zip(convs, before, strict=True))
    with torch.no_grad():
        grown = model(x)  # train mode: every conv feeds a BN, so its scale does not matter
    keep(STEP)
    assert [c.weight.norm().item() for c in convs] == pytest.approx(before, rel=1e-6)
    with torch.no_grad():
        assert torch.allclose(model(x), grown, rtol=1e-3, atol=1e-4)
    keep(types.SimpleNamespace(kind="epoch"))  # only steps count
    with pytest.raises(ValueError, match="no nn.Conv2d"):
        FixedWeightNorms(nn.Linear(2, 2))


def test_fixed_update_ratio_sets_every_step_and_removes_its_hooks(batch):
    x, y = batch
    model = net()
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    before = [m.weight.detach().clone() for m in layers]
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)  # no momentum, no weight decay
    with FixedUpdateRatio(model, ratio=1e-3, lr=0.1):
        F.cross_entropy(model(x), y).backward()
        sgd.step()
    steps = [(m.weight - w).norm() / w.norm() for m, w in zip(layers, before, strict=True)]
    assert torch.stack(steps).tolist() == pytest.approx([1e-3] * len(layers), rel=1e-4)
    model.zero_grad()  # outside the block the gradient is the plain one again
    F.cross_entropy(model(x), y).backward()
    plain = copy.deepcopy(model)
    plain.zero_grad()
    F.cross_entropy(plain(x), y).backward()
    assert torch.equal(model.conv1.weight.grad, plain.conv1.weight.grad)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"ratio": 0, "lr": 0.1}, ValueError), ({"ratio": 1e-3, "lr": "0.1"}, TypeError)],
)
def test_fixed_update_ratio_refuses_bad_numbers(kwargs, error):
    with pytest.raises(error):
        FixedUpdateRatio(net(), **kwargs)


def test_the_probe_measures_what_it_says(batch):
    x, y = batch
    batches = [(x[:4], y[:4]), (x[4:], y[4:])]
    model = net()
    probe = GradientProbe(batches, steps=(), lr=0.1, multiples=(1.0, 4.0))
    result = probe.measure(model, 0)
    grads = []  # by hand: the two batch gradients, their cosine, a step along their mean
    for xb, yb in batches:
        reference = copy.deepcopy(model)
        F.cross_entropy(reference(xb), yb).backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in reference.parameters()]))
    assert result.agreement == pytest.approx(F.cosine_similarity(*grads, dim=0).item(), abs=1e-5)
    mean = (grads[0] + grads[1]) / 2
    assert result.gradient_norm == pytest.approx(mean.norm().item(), rel=1e-5)
    moved = copy.deepcopy(model)
    with torch.no_grad():
        offset = 0
        for p in moved.parameters():
            p -= 4.0 * 0.1 * mean[offset : offset + p.numel()].view_as(p)
            offset += p.numel()
        losses = [F.cross_entropy(moved(xb), yb).item() for xb, yb in batches]
    assert result.line[4.0] == pytest.approx(sum(losses) / 2, rel=1e-5)
    best = min(result.loss, *result.line.values())
    assert result.best_drop == pytest.approx((result.loss - best) / result.loss)
    assert 0 <= result.best_drop < 1 and probe.results == [result]


def test_the_probe_does_not_touch_training():
    data = digits(batch_size=64, seed=0)
    batches = [next(iter(data.train)) for _ in range(2)]
    config = TrainConfig(epochs=1, lr=0.05, seed=0, threads=1, progress=False, device="cpu")
    plain = fit(net(), data, config)
    probe = GradientProbe(batches, steps=(3, 10), lr=0.05)
    probed = fit(net(), data, config, callbacks=[probe])
    assert probed.loss == plain.loss and probed.train_error == plain.train_error
    assert [r.step for r in probe.results] == [3, 10]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"batches": "xy"}, TypeError, "batches"),
        ({"batches": []}, ValueError, "at least 2"),
        ({"steps": (-1,)}, ValueError, "steps"),
        ({"lr": 0}, ValueError, "lr"),
        ({"multiples": ()}, ValueError, "multiples"),
    ],
)
def test_the_probe_refuses_bad_arguments(batch, kwargs, error, match):
    x, y = batch
    arguments = {"batches": [(x, y), (x, y)], "steps": (1,), "lr": 0.1, **kwargs}
    with pytest.raises(error, match=match):
        GradientProbe(arguments.pop("batches"), **arguments)
