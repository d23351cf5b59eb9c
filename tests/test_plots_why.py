"""Figures of chapter 8: they draw the data they are given, headless."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from resnet_edu import plots_why  # noqa: E402
from resnet_edu.ensembles import path_length_distribution  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_lesion_plot_draws_each_model_in_its_colour():
    res = {"layer1.0": 3.0, "layer1.1": 2.5}
    plain = {"layer1.0": 80.0, "layer1.1": 90.0}
    ax = plots_why.lesion_plot(
        {"ResNet-20": res, "plain-20": plain}, baselines={"ResNet-20": 2.0, "plain-20": 3.0}
    )
    lines = [ln for ln in ax.get_lines() if len(ln.get_ydata()) == 2 and ln.get_marker() == "o"]
    assert [list(ln.get_ydata()) for ln in lines] == [[3.0, 2.5], [80.0, 90.0]]
    assert lines[0].get_color() == plots_why.RESIDUAL_COLOR
    assert lines[1].get_color() == plots_why.PLAIN_COLOR
    assert [t.get_text() for t in ax.get_xticklabels()] == ["layer1.0", "layer1.1"]


def test_path_length_plot_uses_given_axes_and_skips_nan():
    _, ax = plt.subplots()
    values = np.array(path_length_distribution(4), dtype=float)
    values[1] = np.nan
    out = plots_why.path_length_plot(range(5), values, log=True, ax=ax)
    assert out is ax
    assert [p.get_height() for p in ax.patches] == [1, 6, 4, 1]
    assert ax.get_yscale() == "log"


def test_gradient_correlation_and_1d_landscape():
    ax = plots_why.gradient_correlation_plot(
        {"plain": ([8, 20], [0.9, 0.4]), "ResNet": ([8, 20], [0.95, 0.8])}
    )
    assert list(ax.get_lines()[1].get_ydata()) == [0.95, 0.8]
    alphas = np.linspace(-1, 1, 5)
    ax = plots_why.landscape_1d(alphas, {"ResNet": alphas**2 + 0.1})
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), alphas**2 + 0.1)


def test_landscape_contour_transposes_for_matplotlib():
    a = np.linspace(-1, 1, 5)
    b = np.linspace(-2, 2, 7)
    z = np.exp(a[:, None] + 0.1 * b[None, :] ** 2)
    ax = plots_why.landscape_contour(a, b, z, title="ResNet-20")
    assert "ResNet-20" in ax.get_title()
    assert ax.get_xlim() == (-1.0, 1.0) and ax.get_ylim() == (-2.0, 2.0)


def test_bad_inputs():
    with pytest.raises(ValueError, match="losses"):
        plots_why.landscape_contour([0, 1], [0, 1, 2], np.zeros((3, 2)))
    with pytest.raises(ValueError, match="lengths"):
        plots_why.path_length_plot([0, 1], [1.0])
    with pytest.raises(ValueError, match="results"):
        plots_why.lesion_plot({})
    with pytest.raises(TypeError, match="ax"):
        plots_why.landscape_1d([0.0], {"a": [1.0]}, ax="left")
    with pytest.raises(ValueError, match="curves"):
        plots_why.landscape_1d([0.0, 1.0], {"a": [1.0]})
