"""resnet_edu.plots draws headless (Agg) what it is given, in the book's colours."""

from __future__ import annotations

import io
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402

from resnet_edu import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _png_bytes(fig) -> int:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.tell()


def test_family_and_depth_cues() -> None:
    assert plots.model_family("ResNet-56") == "residual"
    assert plots.model_family("resnet56") == "residual"
    assert plots.model_family("plain-56") == "plain"
    assert plots.model_family("VGG-16") == "other"
    assert plots.model_style("ResNet-152")["color"] == pytest.approx(to_rgb(plots.RESIDUAL_COLOR))
    shallow = np.array(plots.model_style("plain-20", depths=[20, 56])["color"])
    deep = np.array(plots.model_style("plain-56", depths=[20, 56])["color"])
    assert deep == pytest.approx(to_rgb(plots.PLAIN_COLOR))
    assert shallow.sum() > deep.sum()  # shallower = lighter
    with pytest.raises(TypeError, match="label"):
        plots.model_family(56)


def test_gradient_flow_one_line_per_model_in_family_colours() -> None:
    norms = {
        "plain-20": {f"conv{i}": 10.0**-i for i in range(19)},
        "ResNet-20": [0.5] * 19,
    }
    ax = plots.gradient_flow(norms)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["plain-20", "ResNet-20"]
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() and ax.get_ylabel()
    assert lines[1].get_color() == pytest.approx(to_rgb(plots.RESIDUAL_COLOR))
    assert list(lines[0].get_ydata()) == pytest.approx(list(norms["plain-20"].values()))
    assert tuple(ax.figure.get_size_inches()) == plots.BOOK_FIGSIZE
    assert _png_bytes(ax.figure) < 150_000


def test_draws_into_a_given_axes() -> None:
    fig, (left, right) = plt.subplots(1, 2)
    assert plots.gradient_flow({"plain-8": [1.0, 2.0]}, ax=right, log=False) is right
    assert len(right.get_lines()) == 1 and len(left.get_lines()) == 0
    with pytest.raises(TypeError, match="ax"):
        plots.gradient_flow({"plain-8": [1.0]}, ax="left")


def test_gradient_heatmap() -> None:
    data = np.abs(np.random.default_rng(0).normal(size=(30, 8))) + 1e-3
    names = [f"layer{i}" for i in range(30)]
    ax = plots.gradient_heatmap(data, names, steps=range(0, 80, 10), max_labels=10)
    assert len(ax.collections) == 1
    assert len(ax.get_yticklabels()) == 10
    assert ax.get_xlabel() == "training step"
    with pytest.raises(ValueError, match="layer_names"):
        plots.gradient_heatmap(data, names[:3])
    with pytest.raises(ValueError, match="2-D"):
        plots.gradient_heatmap(data[0], names)


def test_response_std_sorted() -> None:
    stds = {"plain-20": [1.0, 3.0, 2.0], "ResNet-20": {"a": 0.5, "b": 0.2, "c": 0.9}}
    ax = plots.response_std(stds, sort=True)
    lines = ax.get_lines()
    assert len(lines) == 2
    assert list(lines[0].get_ydata()) == [3.0, 2.0, 1.0]
    assert "sorted" in ax.get_xlabel()


def test_training_curves_solid_train_dashed_test() -> None:
    history = SimpleNamespace(
        epoch=[1, 2, 3], train_error=[50.0, 30.0, 20.0], test_error=[55.0, 40.0, 35.0]
    )
    as_dict = {"train_error": [60.0, 45.0, 40.0], "test_error": []}
    ax = plots.training_curves({"plain-56": history, "plain-20": as_dict})
    lines = ax.get_lines()
    assert len(lines) == 3  # plain-20 has no test error yet
    assert [line.get_linestyle() for line in lines] == ["-", "--", "-"]
    assert list(lines[1].get_ydata()) == [55.0, 40.0, 35.0]
    assert ax.get_ylabel() == "error (%)"
    legend_texts = {
        t.get_text() for legend in ax.findobj(matplotlib.legend.Legend) for t in legend.get_texts()
    }
    assert {"plain-56", "plain-20", "training error", "test error"} <= legend_texts
    with pytest.raises(ValueError, match="train_error"):
        plots.training_curves({"plain-8": {"test_error": [1.0]}})


def test_cost_bars_two_panels_in_millions_and_billions() -> None:
    fig = plots.cost_bars({"ResNet-18": (11_689_512, 1.8e9), "VGG-16": (138_357_544, 15.3e9)})
    params_ax, flops_ax = fig.axes
    assert [p.get_width() for p in params_ax.patches] == pytest.approx([11.689512, 138.357544])
    assert [p.get_width() for p in flops_ax.patches] == pytest.approx([1.8, 15.3])
    assert "millions" in params_ax.get_xlabel() and "billions" in flops_ax.get_xlabel()
    with pytest.raises(TypeError, match="parameters, mult_adds"):
        plots.cost_bars({"ResNet-18": 11_689_512})


def test_bad_input() -> None:
    with pytest.raises(TypeError, match="norms_by_model"):
        plots.gradient_flow([1.0, 2.0])
    with pytest.raises(ValueError, match="non-empty"):
        plots.gradient_flow({"plain-8": []})


def test_book_style_context_restores_rcparams() -> None:
    before = matplotlib.rcParams["font.size"]
    with plots.book_style():
        assert matplotlib.rcParams["font.size"] == plots.BOOK_RC["font.size"]
    assert matplotlib.rcParams["font.size"] == before
