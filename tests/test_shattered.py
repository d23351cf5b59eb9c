"""Shattered gradients (chapter 8, Balduzzi et al. 2017)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from resnet_edu.cifar import CifarResNet
from resnet_edu.shattered import (
    ToyNet,
    calibrate_bn,
    gradient_autocorrelation,
    input_gradient_correlation,
    input_gradients,
    input_line,
    line_1d,
)


def test_line_1d_and_input_line_geometry():
    x = line_1d(256)
    assert x.shape == (256, 1) and x[0].item() == -2.0 and x[-1].item() == 2.0
    x0 = torch.randn(1, 4, 4)
    u = torch.randn(1, 4, 4)
    line = input_line(x0, n_points=5, radius=0.5, direction=u)
    assert line.shape == (5, 1, 4, 4)
    torch.testing.assert_close(line[0], x0 - 0.5 * u)
    torch.testing.assert_close(line[2], x0)
    torch.testing.assert_close(line[4], x0 + 0.5 * u)
    assert input_line(x0.unsqueeze(0), n_points=3).shape == (3, 1, 4, 4)
    g = torch.Generator().manual_seed(0)
    a = input_line(x0, generator=g)
    b = input_line(x0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)


def test_input_gradients_match_finite_differences():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(9, 7), nn.Tanh(), nn.Linear(7, 3)).double()
    model.train()
    x = torch.randn(4, 1, 3, 3, dtype=torch.float64)
    grads = input_gradients(model, x, unit=2)
    assert model.training  # mode restored
    eps = 1e-6
    with torch.no_grad():
        for i in range(4):
            for j in range(9):
                e = torch.zeros(9, dtype=torch.float64)
                e[j] = eps
                e = e.view(1, 3, 3)
                up = model((x[i] + e).unsqueeze(0))[0, 2]
                down = model((x[i] - e).unsqueeze(0))[0, 2]
                fd = (up - down) / (2 * eps)
                assert grads[i].flatten()[j].item() == pytest.approx(fd.item(), abs=1e-7)


def test_gradients_are_per_sample_in_eval_mode_with_bn():
    torch.manual_seed(0)
    model = CifarResNet(8, in_channels=1).train()
    x = torch.randn(6, 1, 8, 8)
    together = input_gradients(model, x, unit=1)
    alone = input_gradients(model, x[3:4], unit=1)
    torch.testing.assert_close(together[3:4], alone)


def test_autocorrelation_known_answers():
    n = 20
    same = torch.randn(1, 5).repeat(n, 1)
    np.testing.assert_allclose(gradient_autocorrelation(same, 3), 1.0)
    flipping = torch.randn(1, 5) * torch.tensor([(-1.0) ** i for i in range(n)]).view(n, 1)
    np.testing.assert_allclose(gradient_autocorrelation(flipping, 2), [1.0, -1.0, 1.0])
    # a 1-D series: the Pearson correlation of g(t) and g(t + lag), by numpy
    series = torch.randn(50, 1, dtype=torch.float64)
    lag2 = np.corrcoef(series[:-2, 0].numpy(), series[2:, 0].numpy())[0, 1]
    assert gradient_autocorrelation(series, 2)[2] == pytest.approx(lag2)
    # pairs with a zero gradient are left out
    with_zero = same.clone()
    with_zero[0] = 0
    assert gradient_autocorrelation(with_zero, 1)[1] == pytest.approx(1.0)


def test_calibrate_bn_uses_the_batch_statistics():
    torch.manual_seed(0)
    model = ToyNet(2, width=8)
    x = line_1d(64)
    calibrate_bn(model, x)
    with torch.no_grad():
        h = model.stem[0](x)
    torch.testing.assert_close(model.stem[1].running_mean, h.mean(0))
    torch.testing.assert_close(model.stem[1].running_var, h.var(0))  # unbiased, as BN stores
    assert model.stem[1].momentum == 0.1 and model.training


def _mean_correlation(depth: int, draws: int = 3, **options) -> float:
    x = line_1d(256)  # the paper's set-up: 256 points, width 200
    values = []
    for seed in range(draws):
        torch.manual_seed(seed)
        model = calibrate_bn(ToyNet(depth, **options), x)
        values.append(input_gradient_correlation(model, x))
    return float(np.mean(values))


def test_shattering_with_depth_at_initialisation():
    # the paper's headline at its depth of 50: deep plain nets decorrelate, resnets much less
    x = line_1d(256)
    torch.manual_seed(0)
    shallow = input_gradient_correlation(calibrate_bn(ToyNet(2), x), x)
    plain = _mean_correlation(50)
    resnet = _mean_correlation(50, residual=True)
    assert shallow > 0.8
    assert abs(plain) < 0.2 and resnet > 0.45


def test_a_relu_after_the_addition_shatters_the_toy_resnet():
    # chapter 8: with relu(x + F(x)) the 50-layer toy resnet decorrelates almost like a plain net
    clean = _mean_correlation(50, residual=True)
    after = _mean_correlation(50, residual=True, extra_relu="after_addition")
    assert after < 0.25 and clean > after + 0.3


def test_toy_net_shapes_and_residual_structure():
    torch.manual_seed(0)
    assert ToyNet(4)(line_1d(10)).shape == (10, 1)
    model = ToyNet(2, width=4, residual=True, batchnorm=False)
    for layer in model.hidden:
        nn.init.zeros_(layer[0].weight)
    x = line_1d(7)
    # zero branches: the block is x + 0 = x on the stem's output
    torch.testing.assert_close(model(x), model.head(torch.relu(model.stem(x))))


@pytest.mark.parametrize(
    "extra_relu, block",
    [
        ("none", lambda x, f: x + f),
        ("after_addition", lambda x, f: torch.relu(x + f)),
        ("end_of_branch", lambda x, f: x + torch.relu(f)),
        ("on_skip", lambda x, f: torch.relu(x) + f),
    ],
)
def test_toy_blocks_are_their_equations(extra_relu, block):
    torch.manual_seed(0)
    model = ToyNet(4, width=6, residual=True, extra_relu=extra_relu).eval()
    with torch.no_grad():
        for m in model.modules():  # BN statistics that shift the signs, so every ReLU matters
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
    x = line_1d(9)
    with torch.no_grad():
        h = torch.relu(model.stem(x))
        for first, second in zip(model.hidden[::2], model.hidden[1::2], strict=True):
            h = block(h, second(torch.relu(first(h))))
        torch.testing.assert_close(model(x), model.head(h))


def test_bad_inputs():
    model = ToyNet(2, width=4)
    with pytest.raises(ValueError, match="unit"):
        input_gradients(model, line_1d(4), unit=1)
    with pytest.raises(TypeError, match="inputs"):
        input_gradients(model, [0.0])
    with pytest.raises(ValueError, match="max_lag"):
        gradient_autocorrelation(torch.randn(5, 3), 4)
    with pytest.raises(ValueError, match="direction"):
        input_line(torch.zeros(1, 4, 4), direction=torch.zeros(4, 4))
    with pytest.raises(ValueError, match="radius"):
        input_line(torch.zeros(1, 4, 4), radius=0)
    with pytest.raises(ValueError, match="depth"):
        ToyNet(3, residual=True)
    with pytest.raises(ValueError, match="extra_relu"):
        ToyNet(2, residual=True, extra_relu="before")
    with pytest.raises(ValueError, match="extra_relu"):
        ToyNet(2, extra_relu="after_addition")  # a plain net has no addition
    with pytest.raises(ValueError, match="high"):
        line_1d(10, low=1.0, high=0.0)
    with pytest.raises(ValueError, match="lag"):
        input_gradient_correlation(model, line_1d(4), lag=0)
