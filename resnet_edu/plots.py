"""One line of plotting per figure, the same look in every chapter (chapters 1, 2, 4, 6, 7).

Plain nets are always drawn in ``PLAIN_COLOR`` (vermillion), residual nets in ``RESIDUAL_COLOR``
(blue), anything else in ``OTHER_COLOR`` -- colours of the Okabe-Ito palette, which readers with
the common colour-vision deficiencies can tell apart. Depth is the second cue: the deeper the
net, the darker its line (``model_style``). Line style is left free for a third distinction,
such as training (solid) vs test (dashed) error in ``training_curves``.

Every function takes ``ax=`` (draw into an existing Axes) and returns what it drew on: the Axes,
or the Figure for the two-panel ``cost_bars``. Figures are sized for the book's text width
(``BOOK_FIGSIZE``, 7 x 3.5 in) at a modest resolution, so that a chapter page stays light.
The functions take the plain data of ``resnet_edu.gradflow``; they never compute it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm, to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

# Okabe & Ito (2008), "Color Universal Design".
PLAIN_COLOR = "#D55E00"  # vermillion
RESIDUAL_COLOR = "#0072B2"  # blue
OTHER_COLOR = "#009E73"  # bluish green (VGG, anything that is neither)
#: The rest of the palette, for series that are not models.
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")

BOOK_FIGSIZE = (7.0, 3.5)
#: rcParams of every book figure: small fonts that stay legible at text width, light grid.
BOOK_RC: dict[str, Any] = {
    "figure.figsize": BOOK_FIGSIZE,
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "savefig.bbox": "tight",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.5,
    "image.cmap": "viridis",  # perceptually uniform and colour-blind safe
}

_RESIDUAL_WORDS = ("resnet", "residual", "preact", "res-", "res_")


def use_book_style() -> None:
    """Make every following figure of the session look like the book's (call once per notebook).

    Example:
        >>> use_book_style()
    """
    mpl.rcParams.update(BOOK_RC)


@contextmanager
def book_style() -> Iterator[None]:
    """The book's rcParams for the figures made inside the ``with`` only.

    Example:
        >>> with book_style():
        ...     fig, ax = plt.subplots()
    """
    with mpl.rc_context(BOOK_RC):
        yield


def _depth(label: str) -> int | None:
    match = re.search(r"(\d+)", label)
    return int(match.group(1)) if match else None


def model_family(label: str) -> str:
    """``"plain"``, ``"residual"`` or ``"other"`` from a label such as ``"plain-56"``.

    Example:
        >>> model_family("ResNet-56"), model_family("plain56"), model_family("vgg16")
        ('residual', 'plain', 'other')
    """
    if not isinstance(label, str):
        raise TypeError(f"label must be a str, got {type(label).__name__}")
    low = label.lower()
    if "plain" in low:
        return "plain"
    if any(word in low for word in _RESIDUAL_WORDS):
        return "residual"
    return "other"


def model_style(label: str, depths: Sequence[int] | None = None) -> dict[str, Any]:
    """Line colour for a model label: its family's colour, darker for deeper nets.

    Args:
        label: e.g. ``"plain-20"``, ``"resnet56"``, ``"ResNet-110"``; the first number is the depth.
        depths: the depths shown together in one figure, which then span the whole light-to-dark
            range; default a fixed log scale from 8 to 152 layers.

    Returns:
        keyword arguments for ``ax.plot``: ``color`` (and ``label``).

    Example:
        >>> model_style("plain-56")["color"]
        (0.866..., 0.486..., 0.186...)
    """
    base = np.array(
        to_rgb(
            {"plain": PLAIN_COLOR, "residual": RESIDUAL_COLOR, "other": OTHER_COLOR}[
                model_family(label)
            ]
        )
    )
    depth = _depth(label)
    lo, hi = (8, 152) if not depths else (min(depths), max(depths))
    if depth is None or hi <= lo:
        t = 1.0
    else:
        t = (math.log(max(depth, lo)) - math.log(lo)) / (math.log(hi) - math.log(lo))
        t = min(max(t, 0.0), 1.0)
    lighten = 0.55 * (1.0 - t)  # shallowest: 55% towards white; deepest: the pure colour
    color = tuple(float(c) for c in base + (1.0 - base) * lighten)
    return {"color": color, "label": label}


def _depths(labels: Sequence[str]) -> list[int]:
    return [d for d in (_depth(label) for label in labels) if d is not None]


def _axes(ax: Axes | None, figsize: tuple[float, float] = BOOK_FIGSIZE) -> Axes:
    if ax is None:
        with book_style():
            _, ax = plt.subplots(figsize=figsize, layout="constrained")
    elif not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    return ax


def _check_mapping(name: str, value: Any) -> None:
    if not isinstance(value, Mapping) or not value:
        raise TypeError(f"{name} must be a non-empty dict {{label: data}}, got {value!r:.60}")


def _values(name: str, series: Any) -> np.ndarray:
    """A 1-D float array from ``{layer: value}`` or a sequence of values."""
    values = list(series.values()) if isinstance(series, Mapping) else series
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a dict of numbers or a sequence of numbers") from err
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D series, got shape {array.shape}")
    return array


def gradient_flow(
    norms_by_model: Mapping[str, Mapping[str, float] | Sequence[float]],
    ax: Axes | None = None,
    *,
    log: bool = True,
    ylabel: str = "weight-gradient norm  ||dL/dW||",
) -> Axes:
    """Gradient norm per layer, input to output, one line per model (chapter 4).

    Args:
        norms_by_model: ``{label: {layer name: norm}}`` (e.g. from ``gradflow.gradient_norms``)
            or ``{label: [norm per layer]}``.
        ax: draw here; default a new book-size figure.
        log: log-scale y axis (gradient norms span orders of magnitude).
        ylabel: the y-axis label (e.g. for output-gradient norms).

    Example:
        >>> ax = gradient_flow({"plain-56": gradient_norms(plain56(), x, y),
        ...                     "ResNet-56": gradient_norms(resnet56(), x, y)})
    """
    _check_mapping("norms_by_model", norms_by_model)
    ax = _axes(ax)
    depths = _depths(list(norms_by_model))
    for label, series in norms_by_model.items():
        values = _values(f"norms_by_model[{label!r}]", series)
        ax.plot(np.arange(1, values.size + 1), values, **model_style(label, depths))
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("layer (1 = first, input side)")
    ax.set_ylabel(ylabel)
    ax.legend()
    return ax


def gradient_heatmap(
    array: Any,
    layer_names: Sequence[str],
    steps: Sequence[int] | None = None,
    ax: Axes | None = None,
    *,
    max_labels: int = 12,
) -> Axes:
    """A layer x training-step heatmap of gradient norms on a log colour scale (chapter 4).

    Args:
        array: ``layers x steps`` norms (``GradientRecord.as_array()``).
        layer_names: one name per row (``GradientRecord.names()``).
        steps: the training step of each column; default 0, 1, 2, ...
        ax: draw here; default a new book-size figure.
        max_labels: at most this many layer names on the y axis (every k-th one).

    Example:
        >>> record = rec.result()
        >>> ax = gradient_heatmap(record.as_array(), record.names())
    """
    data = np.asarray(array, dtype=float)
    if data.ndim != 2 or data.size == 0:
        raise ValueError(f"array must be a non-empty 2-D layers x steps array, got {data.shape}")
    if len(layer_names) != data.shape[0]:
        raise ValueError(
            f"layer_names has {len(layer_names)} names for {data.shape[0]} rows of array"
        )
    steps = np.arange(data.shape[1]) if steps is None else np.asarray(steps)
    if steps.shape != (data.shape[1],):
        raise ValueError(f"steps must have {data.shape[1]} entries, got {steps.shape}")
    ax = _axes(ax)
    positive = data[np.isfinite(data) & (data > 0)]
    norm = LogNorm(positive.min(), positive.max()) if positive.size else None
    masked = np.ma.masked_invalid(np.where(data > 0, data, np.nan))
    x_edges = np.append(steps, steps[-1] + (steps[-1] - steps[-2] if steps.size > 1 else 1))
    image = ax.pcolormesh(x_edges, np.arange(data.shape[0] + 1), masked, norm=norm, cmap="viridis")
    every = max(1, math.ceil(len(layer_names) / max_labels))
    ticks = list(range(0, len(layer_names), every))
    ax.set_yticks([t + 0.5 for t in ticks], [layer_names[t] for t in ticks])
    ax.invert_yaxis()  # first layer on top, as in a model summary
    ax.grid(False)
    ax.set_xlabel("training step")
    ax.set_ylabel("layer")
    ax.figure.colorbar(image, ax=ax, label="gradient norm (log scale)")
    return ax


def response_std(
    stds_by_model: Mapping[str, Mapping[str, float] | Sequence[float]],
    ax: Axes | None = None,
    *,
    sort: bool = False,
) -> Axes:
    """Std of each 3x3 layer's response, one line per model: the paper's Figure 7 (chapter 4).

    Args:
        stds_by_model: ``{label: {conv name: std}}`` (``gradflow.response_stds``) or sequences.
        ax: draw here; default a new book-size figure.
        sort: sort each model's stds in descending order (Figure 7, bottom panel).

    Example:
        >>> ax = response_std({"plain-20": response_stds(p20, x), "ResNet-20": ...}, sort=True)
    """
    _check_mapping("stds_by_model", stds_by_model)
    ax = _axes(ax)
    depths = _depths(list(stds_by_model))
    for label, series in stds_by_model.items():
        values = _values(f"stds_by_model[{label!r}]", series)
        if sort:
            values = np.sort(values)[::-1]
        ax.plot(np.arange(1, values.size + 1), values, **model_style(label, depths))
    ax.set_xlabel("layer index (sorted by magnitude)" if sort else "layer index (original)")
    ax.set_ylabel("std of response")
    ax.legend()
    return ax


def _history_series(history: Any, key: str) -> list[float] | None:
    value = history.get(key) if isinstance(history, Mapping) else getattr(history, key, None)
    return None if value is None else list(value)


def training_curves(
    histories: Mapping[str, Any],
    ax: Axes | None = None,
    *,
    ylim: tuple[float, float] | None = None,
) -> Axes:
    """Training error (solid) and test error (dashed) per epoch, per model: Figure 6 (chapter 7).

    Args:
        histories: ``{label: history}``; a history is any object with attributes, or a dict
            with keys, ``train_error`` and ``test_error`` (per-epoch error in percent, 0-100;
            ``test_error`` may be missing or empty) and optionally ``epoch``.
        ax: draw here; default a new book-size figure.
        ylim: y-axis limits in percent; default automatic.

    Example:
        >>> ax = training_curves({"plain-20": h20, "plain-56": h56})
    """
    _check_mapping("histories", histories)
    ax = _axes(ax)
    depths = _depths(list(histories))
    for label, history in histories.items():
        train = _history_series(history, "train_error")
        if not train:
            raise ValueError(
                f"histories[{label!r}] needs a non-empty train_error (attribute or key)"
            )
        test = _history_series(history, "test_error") or []
        epochs = _history_series(history, "epoch") or list(range(1, len(train) + 1))
        style = model_style(label, depths)
        ax.plot(epochs[: len(train)], train, linestyle="-", **style)
        if test:
            ax.plot(epochs[: len(test)], test, linestyle="--", color=style["color"])
    ax.set_xlabel("epoch")
    ax.set_ylabel("error (%)")
    if ylim is not None:
        ax.set_ylim(*ylim)
    model_legend = ax.legend(loc="upper right")
    ax.add_artist(model_legend)
    kinds = [
        Line2D([], [], color="0.3", linestyle="-", label="training error"),
        Line2D([], [], color="0.3", linestyle="--", label="test error"),
    ]
    ax.legend(handles=kinds, loc="upper center")
    return ax


def cost_bars(
    models: Mapping[str, tuple[float, float]],
    ax: Sequence[Axes] | None = None,
) -> Figure:
    """Parameters (millions) and multiply-adds (billions) per model, side by side (chapter 6).

    Args:
        models: ``{label: (parameters, mult_adds)}`` as raw counts.
        ax: two Axes to draw into; default a new book-size figure with two panels.

    Returns:
        the Figure holding the two panels.

    Example:
        >>> fig = cost_bars({"ResNet-18": (11_689_512, 1.8e9), "ResNet-34": (21_797_672, 3.6e9)})
    """
    _check_mapping("models", models)
    for label, cost in models.items():
        if not (isinstance(cost, Sequence) and len(cost) == 2):
            raise TypeError(f"models[{label!r}] must be (parameters, mult_adds), got {cost!r}")
    if ax is None:
        with book_style():
            fig, axes = plt.subplots(1, 2, figsize=BOOK_FIGSIZE, layout="constrained")
    else:
        axes = list(ax)
        if len(axes) != 2 or not all(isinstance(a, Axes) for a in axes):
            raise TypeError("ax must be None or a pair of matplotlib Axes")
        fig = axes[0].figure
    labels = list(models)
    depths = _depths(labels)
    colors = [model_style(label, depths)["color"] for label in labels]
    y = np.arange(len(labels))
    panels = [
        ("parameters (millions)", 1e6, 0),
        ("multiply-adds (billions)", 1e9, 1),
    ]
    for axis, (xlabel, scale, index) in zip(axes, panels, strict=True):
        values = [float(models[label][index]) / scale for label in labels]
        bars = axis.barh(y, values, color=colors)
        axis.bar_label(bars, fmt="%.3g", padding=2, fontsize=7)
        axis.set_yticks(y, labels)
        axis.invert_yaxis()
        axis.set_xlabel(xlabel)
        axis.grid(axis="y", visible=False)
        axis.margins(x=0.15)
    axes[1].tick_params(labelleft=False)
    return fig
