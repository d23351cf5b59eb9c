"""Filter-normalised directions and loss surfaces (chapter 8, Li et al. 2018)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resnet_edu.cifar import CifarResNet
from resnet_edu.landscape import (
    filter_normalized_direction,
    loss_surface,
    loss_surface_1d,
    loss_surface_2d,
    slice_curvature_ratio_map,
    slice_nonconvex_fraction,
)


def _model():
    torch.manual_seed(0)
    model = CifarResNet(8, in_channels=1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_var.uniform_(0.5, 2)
                m.bias.uniform_(-0.1, 0.1)
    return model


def _data(n=24):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_direction_is_filter_normalised_and_skips_bias_and_bn():
    model = _model()
    d = filter_normalized_direction(model, generator=torch.Generator().manual_seed(1))
    params = dict(model.named_parameters())
    assert set(d) == set(params)
    for name, p in params.items():
        if p.dim() <= 1:
            assert torch.count_nonzero(d[name]) == 0, name
        else:
            for j in range(p.shape[0]):  # one filter = one output channel / one fc row
                torch.testing.assert_close(d[name][j].norm(), p[j].norm())
    again = filter_normalized_direction(model, generator=torch.Generator().manual_seed(1))
    assert all(torch.equal(d[k], again[k]) for k in d)


def test_origin_is_the_models_loss_and_weights_are_restored():
    model = _model().train()
    x, y = _data()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(0)
    d1, d2 = (
        filter_normalized_direction(model, generator=g),
        filter_normalized_direction(model, generator=g),
    )
    grid = np.linspace(-1, 1, 5)
    z = loss_surface_2d(model, F.cross_entropy, (x, y), d1, d2, grid, grid)
    assert z.shape == (5, 5)
    assert model.training
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # running stats too
    model.eval()
    with torch.no_grad():
        reference = F.cross_entropy(model(x), y).item()
    assert z[2, 2] == pytest.approx(reference, rel=1e-6)
    # the grid point (alpha, beta) is the loss of the moved weights, computed by hand
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_(d1[name], alpha=1.0).add_(d2[name], alpha=-0.5)
        by_hand = F.cross_entropy(model(x), y).item()
    assert z[4, 1] == pytest.approx(by_hand, rel=1e-5)


def test_1d_matches_2d_slice_and_loader():
    model = _model()
    x, y = _data()
    d = filter_normalized_direction(model, generator=torch.Generator().manual_seed(3))
    zero = {k: torch.zeros_like(v) for k, v in d.items()}
    alphas = [-0.5, 0.0, 0.5]
    line = loss_surface_1d(model, F.cross_entropy, (x, y), d, alphas)
    plane = loss_surface_2d(model, F.cross_entropy, (x, y), d, zero, alphas, [0.0, 1.0])
    np.testing.assert_allclose(line, plane[:, 0], rtol=1e-6)
    np.testing.assert_allclose(plane[:, 0], plane[:, 1], rtol=1e-6)  # zero direction
    loader = [(x[:10], y[:10]), (x[10:], y[10:])]
    np.testing.assert_allclose(
        loss_surface_1d(model, F.cross_entropy, loader, d, alphas), line, rtol=1e-5
    )


def test_restored_even_when_the_loss_raises():
    model = _model()
    x, y = _data()
    before = [p.clone() for p in model.parameters()]
    d = filter_normalized_direction(model)
    calls = []

    def failing(logits, target):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return F.cross_entropy(logits, target)

    with pytest.raises(RuntimeError, match="boom"):
        loss_surface_1d(model, failing, (x, y), d, [0.0, 1.0, 2.0])
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_bad_inputs():
    model = _model()
    x, y = _data()
    d = filter_normalized_direction(model)
    with pytest.raises(ValueError, match="direction"):
        loss_surface_1d(model, F.cross_entropy, (x, y), {"fc.weight": d["fc.weight"]}, [0.0])
    with pytest.raises(ValueError, match="alphas"):
        loss_surface_1d(model, F.cross_entropy, (x, y), d, [])
    with pytest.raises(ValueError, match="coordinates\\[0\\]"):
        loss_surface(model, F.cross_entropy, (x, y), [d], [[]])
    with pytest.raises(TypeError, match="data"):
        loss_surface_1d(model, F.cross_entropy, x, d, [0.0])
    with pytest.raises(TypeError, match="loss_fn"):
        loss_surface_1d(model, "ce", (x, y), d, [0.0])
    with pytest.raises(ValueError, match="one entry per axis"):
        loss_surface(model, F.cross_entropy, (x, y), [d, d], [[0.0]])
    with pytest.raises(TypeError, match="model"):
        filter_normalized_direction(d)
    with pytest.raises(ValueError, match="losses"):
        slice_curvature_ratio_map(np.zeros((2, 2)))


def test_curvature_ratio_known_surfaces():
    a = np.linspace(-1, 1, 9)
    b = np.linspace(-2, 2, 7)
    bowl = a[:, None] ** 2 + b[None, :] ** 2
    assert slice_curvature_ratio_map(bowl, a, b).max() == pytest.approx(0.0, abs=1e-12)
    assert slice_nonconvex_fraction(bowl, a, b) == 0.0
    # a saddle 2a^2 - b^2 has Hessian diag(4, -2): ratio 1/2 everywhere (spacing accounted for)
    saddle = 2 * a[:, None] ** 2 - b[None, :] ** 2
    ratios = slice_curvature_ratio_map(saddle, a, b)
    assert ratios.shape == (7, 5)
    np.testing.assert_allclose(ratios, 0.5)
    assert slice_nonconvex_fraction(saddle, a, b, tol=0.4) == 1.0
    assert slice_nonconvex_fraction(saddle, a, b, tol=0.6) == 0.0
    # rotated saddle a*b: Hessian [[0, 1], [1, 0]], eigenvalues +-1
    np.testing.assert_allclose(slice_curvature_ratio_map(a[:, None] * a[None, :], a, a), 1.0)
    with pytest.raises(ValueError, match="losses"):
        slice_curvature_ratio_map(np.zeros(5))
