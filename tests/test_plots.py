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
from resnet_edu.ensembles import path_length_distribution  # noqa: E402


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
    assert plots.model_style("resnet152")["color"] == pytest.approx(to_rgb(plots.RESIDUAL_COLOR))
    depths = [20, 32, 44, 56]
    styles = [plots.model_style(f"resnet{d}", depths=depths) for d in depths]
    brightness = [sum(style["color"]) for style in styles]
    assert brightness == sorted(brightness, reverse=True)  # deeper = darker
    assert min(np.diff(brightness[::-1])) > 0.15  # four shades far enough apart to tell
    assert [style["marker"] for style in styles] == list(plots.DEPTH_MARKERS[:4])
    assert styles[0]["label"] == "ResNet-20"
    with pytest.raises(TypeError, match="label"):
        plots.model_family(56)


def test_display_labels_from_builder_names() -> None:
    assert plots.display_label("plain20") == "plain-20"
    assert plots.display_label("resnet56") == "ResNet-56"
    assert plots.display_label("preact_resnet110") == "pre-act ResNet-110"
    assert plots.display_label("resnet56, zero-init") == "ResNet-56, zero-init"
    assert plots.display_label("ResNet-56") == "ResNet-56"  # display names pass through
    assert plots.display_label("plain") == "plain"


def test_gradient_flow_one_line_per_model_in_family_colours() -> None:
    norms = {
        "plain20": {f"conv{i}": 10.0**-i for i in range(19)},
        "resnet20": [0.5] * 19,
    }
    ax = plots.gradient_flow(norms)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["plain-20", "ResNet-20"]
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() and ax.get_ylabel()
    assert lines[1].get_color() == pytest.approx(to_rgb(plots.RESIDUAL_COLOR))
    assert list(lines[0].get_ydata()) == pytest.approx(list(norms["plain20"].values()))
    assert tuple(ax.figure.get_size_inches()) == plots.BOOK_FIGSIZE
    assert _png_bytes(ax.figure) < 150_000


def test_draws_into_a_given_axes() -> None:
    fig, (left, right) = plt.subplots(1, 2)
    assert plots.gradient_flow({"plain-8": [1.0, 2.0]}, ax=right, log=False) is right
    assert len(right.get_lines()) == 1 and len(left.get_lines()) == 0
    with pytest.raises(TypeError, match="ax"):
        plots.gradient_flow({"plain-8": [1.0]}, ax="left")


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


def test_figure6_two_panels_by_family() -> None:
    histories = {
        f"{kind}{d}": {"train_error": [60.0 - d / 10, 40.0], "test_error": [65.0, 45.0]}
        for kind in ("plain", "resnet")
        for d in (20, 32, 44, 56)
    }
    fig = plots.figure6(histories)
    left, right = fig.axes
    assert (left.get_title(), right.get_title()) == ("plain networks", "ResNets")
    assert len(left.get_lines()) == len(right.get_lines()) == 8  # train + test per depth
    labels = [t.get_text() for t in left.get_legend().get_texts()]
    assert labels == ["plain-20", "plain-32", "plain-44", "plain-56"]
    markers = {line.get_marker() for line in right.get_lines()}
    assert len(markers) == 4  # depth has its own marker
    assert left.get_ylim() == (0.0, 100.0)
    kinds = [t.get_text() for t in fig.legends[0].get_texts()]
    assert kinds == ["training error", "test error"]
    # the paper's convention: "Dashed lines denote training error, and bold lines denote testing"
    train, test = left.get_lines()[:2]  # plain-20's training and test curves
    assert list(train.get_ydata()) == [58.0, 40.0] and train.get_linestyle() == "--"
    assert test.get_linestyle() == "-" and test.get_linewidth() > 2 * train.get_linewidth()
    legend = fig.legends[0].get_lines()
    assert [line.get_linestyle() for line in legend] == ["--", "-"]
    with pytest.raises(ValueError, match="histories"):
        plots.figure6({"vgg16": {"train_error": [1.0]}})


def test_layer_curves_first_and_last_layer_per_model() -> None:
    series = {
        "plain56": {
            "conv1": [2.5, 30.0, 332.0],
            "layer3.8.conv2": [11.0, 11.0, 11.5],
            "fc": [1, 2, 3],
        },
        "resnet56": {"conv1": [2.5, 3.0, 3.2], "layer3.8.conv2": [11.0, 11.1, 11.2]},
    }
    ax = plots.layer_curves(
        series, layers=["conv1", "layer3.8.conv2"], steps=[0, 10, 20], reference=1.0
    )
    lines = [line for line in ax.get_lines() if line.get_label()[0] != "_"]
    assert [line.get_label() for line in lines] == [
        "plain-56, conv1 (conv1)",
        "plain-56, layer3.8.conv2 (layer3.8.conv2)",
        "ResNet-56, conv1 (conv1)",
        "ResNet-56, layer3.8.conv2 (layer3.8.conv2)",
    ]
    assert [line.get_linestyle() for line in lines] == ["-", "--", "-", "--"]
    assert list(lines[0].get_ydata()) == [2.5, 30.0, 332.0] and list(lines[0].get_xdata()) == [
        0,
        10,
        20,
    ]
    assert ax.get_yscale() == "log"
    default = plots.layer_curves({"plain56": series["plain56"]})
    assert [line.get_label() for line in default.get_lines()] == [
        "plain-56, first layer (conv1)",
        "plain-56, last layer (fc)",
    ]
    with pytest.raises(ValueError, match="layers"):
        plots.layer_curves(series, layers=["nope"])


def test_per_layer_curves_one_line_per_layer_with_a_colorbar() -> None:
    ratios = {f"layer{i}": [1e-3 * (i + 1), 2e-3] for i in range(5)}
    ax = plots.per_layer_curves(ratios, reference=1e-3, title="plain56")
    assert (
        len([line for line in ax.get_lines() if len(line.get_ydata()) == 2]) == 6
    )  # 5 + reference
    assert ax.get_title() == "plain-56" and len(ax.figure.axes) == 2
    first, last = ax.get_lines()[0].get_color(), ax.get_lines()[4].get_color()
    assert tuple(first) != tuple(last)


# --- chapter 8's figures (merged from plots_why) ------------------------------------------------
def test_lesion_plot_draws_each_model_in_its_colour() -> None:
    res = {"layer1.0": 3.0, "layer1.1": 2.5}
    plain = {"layer1.0": 80.0, "layer1.1": 90.0}
    ax = plots.lesion_plot(
        {"resnet20": res, "plain20": plain}, baselines={"resnet20": 2.0, "plain20": 3.0}
    )
    lines = [ln for ln in ax.get_lines() if len(ln.get_ydata()) == 2 and ln.get_marker() == "o"]
    assert [list(ln.get_ydata()) for ln in lines] == [[3.0, 2.5], [80.0, 90.0]]
    assert lines[0].get_color() == pytest.approx(to_rgb(plots.RESIDUAL_COLOR))
    assert lines[1].get_color() == pytest.approx(to_rgb(plots.PLAIN_COLOR))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["layer1.0", "layer1.1"]
    assert tuple(ax.figure.get_size_inches()) == plots.BOOK_FIGSIZE  # one figure size


def test_path_length_plot_uses_given_axes_and_skips_nan() -> None:
    _, ax = plt.subplots()
    values = np.array(path_length_distribution(4), dtype=float)
    values[1] = np.nan
    out = plots.path_length_plot(range(5), values, log=True, ax=ax)
    assert out is ax
    assert [p.get_height() for p in ax.patches] == [1, 6, 4, 1]
    assert ax.get_yscale() == "log"


def test_gradient_correlation_and_1d_landscape() -> None:
    ax = plots.gradient_correlation_plot(
        {"plain": ([8, 20], [0.9, 0.4]), "ResNet": ([8, 20], [0.95, 0.8])}
    )
    assert list(ax.get_lines()[1].get_ydata()) == [0.95, 0.8]
    assert ax.get_lines()[0].get_color() == pytest.approx(to_rgb(plots.PLAIN_COLOR))
    alphas = np.linspace(-1, 1, 5)
    ax = plots.landscape_1d(alphas, {"resnet20": alphas**2 + 0.1})
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), alphas**2 + 0.1)
    assert ax.get_lines()[0].get_label() == "ResNet-20"


def test_landscape_contour_transposes_and_labels_few_levels() -> None:
    a = np.linspace(-1, 1, 5)
    b = np.linspace(-2, 2, 7)
    z = np.exp(a[:, None] + 0.1 * b[None, :] ** 2)
    ax = plots.landscape_contour(a, b, z, title="resnet20")
    assert ax.get_title() == "ResNet-20 (log10 loss)"
    assert ax.get_xlim() == (-1.0, 1.0) and ax.get_ylim() == (-2.0, 2.0)
    contour = ax.collections[0]
    assert 0 < len(ax.texts) <= len(contour.levels) // 4 + 1  # labels on every fourth level
