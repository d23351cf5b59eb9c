"""One line of plotting per figure, the same look in every chapter (chapters 1-9, appendix).

Plain nets are always drawn in ``PLAIN_COLOR`` (vermillion), residual nets in ``RESIDUAL_COLOR``
(blue), anything else in ``OTHER_COLOR`` -- colours of the Okabe-Ito palette, which readers with
the common colour-vision deficiencies can tell apart. Depth is the second cue, carried twice so
that four depths of one family can be told apart: the deeper the net, the darker its line, and
each depth of a figure gets its own marker (``model_style``). Line style is left free for a
third distinction, such as training (solid) vs test (dashed) error in ``training_curves``.

Models are named one way end to end: data is keyed by builder name (``"plain20"``,
``"resnet56"``, as ``experiments.run_table6`` returns it) and the figures show the display name
(``"plain-20"``, ``"ResNet-56"``, see ``display_label``). Display names are accepted as keys too.

Every function takes ``ax=`` (draw into an existing Axes) and returns what it drew on: the Axes,
or the Figure for the multi-panel functions. Figures are sized for the book's text width
(``BOOK_FIGSIZE``, 7 x 3.5 in) at a modest resolution, so that a chapter page stays light.
The functions take the plain data of the instruments (``gradflow``, ``ensembles``,
``shattered``, ``landscape``, ``train.History``); they never compute a measurement.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from numbers import Real
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Normalize, to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ._checks import check_bool

# Okabe & Ito (2008), "Color Universal Design".
PLAIN_COLOR = "#D55E00"  # vermillion
RESIDUAL_COLOR = "#0072B2"  # blue
OTHER_COLOR = "#009E73"  # bluish green (VGG, anything that is neither)
#: The rest of the palette, for series that are not models.
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")
#: One marker per depth of a figure, shallowest first (``model_style``).
DEPTH_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
#: Line styles for the layers of ``layer_curves`` (first layer solid, then dashed, ...).
LAYER_STYLES = ("-", "--", ":", "-.")

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
    "lines.markersize": 4,
    "image.cmap": "viridis",  # perceptually uniform and colour-blind safe
}

_RESIDUAL_WORDS = ("resnet", "residual", "preact", "res-", "res_")
#: Builder-name prefixes and how figures spell them.
_DISPLAY = {
    "preact_resnet": "pre-act ResNet-",
    "resnet": "ResNet-",
    "plain": "plain-",
    "vgg": "VGG-",
}


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


def _check_label(label: Any) -> str:
    if not isinstance(label, str):
        raise TypeError(f"label must be a str such as 'plain20', got {type(label).__name__}")
    return label


def display_label(label: str) -> str:
    """The name a figure shows: ``"plain20"`` -> ``"plain-20"``, ``"resnet56"`` -> ``"ResNet-56"``.

    Builder names (``plain``, ``resnet``, ``preact_resnet``, ``vgg`` + depth, and an optional
    suffix) are spelled out; any other label, display names included, is returned unchanged.

    Example:
        >>> display_label("resnet56"), display_label("plain20"), display_label("ResNet-56")
        ('ResNet-56', 'plain-20', 'ResNet-56')
    """
    match = re.fullmatch(r"(preact_resnet|resnet|plain|vgg)(\d+)(.*)", _check_label(label))
    if not match:
        return label
    prefix, depth, rest = match.groups()
    return f"{_DISPLAY[prefix]}{depth}{rest}"


def _depth(label: str) -> int | None:
    match = re.search(r"(\d+)", label)
    return int(match.group(1)) if match else None


def model_family(label: str) -> str:
    """``"plain"``, ``"residual"`` or ``"other"`` from a label such as ``"plain56"``.

    Example:
        >>> model_family("ResNet-56"), model_family("plain56"), model_family("vgg16")
        ('residual', 'plain', 'other')
    """
    low = _check_label(label).lower()
    if "plain" in low:
        return "plain"
    if any(word in low for word in _RESIDUAL_WORDS):
        return "residual"
    return "other"


def _shade(base: np.ndarray, t: float) -> tuple[float, ...]:
    # t = 0: 60 % towards white; t = 1: 35 % towards black. Wide enough to tell four apart.
    mixed = (
        base + (1.0 - base) * 0.6 * (1.0 - 2 * t) if t < 0.5 else base * (1 - 0.35 * (2 * t - 1))
    )
    return tuple(float(c) for c in np.clip(mixed, 0.0, 1.0))


def model_style(label: str, depths: Sequence[int] | None = None) -> dict[str, Any]:
    """Line style for a model label: its family's colour, darker and with its own marker by depth.

    Args:
        label: e.g. ``"plain20"``, ``"resnet56"``, ``"ResNet-110"``; the first number is the depth.
        depths: the depths shown together in one figure. When there are two or more, they span
            the light-to-dark range (log scale) and each gets a marker from ``DEPTH_MARKERS``;
            otherwise the line has the family's own colour and no marker.

    Returns:
        keyword arguments for ``ax.plot``: ``color``, ``label`` (the display label), and
        ``marker``/``markevery`` when several depths are shown.

    Example:
        >>> model_style("plain56", depths=[20, 56])["marker"]
        's'
    """
    family = model_family(label)
    if depths is not None and (
        isinstance(depths, (str, bytes)) or not all(isinstance(d, int) for d in depths)
    ):
        raise TypeError(f"depths must be a sequence of ints such as [20, 56], got {depths!r}")
    base = np.array(
        to_rgb({"plain": PLAIN_COLOR, "residual": RESIDUAL_COLOR}.get(family, OTHER_COLOR))
    )
    depth = _depth(label)
    distinct = sorted(set(depths or []))
    t = 0.5  # the family's own colour, unless several depths share the figure
    if depth is not None and len(distinct) >= 2:
        lo, hi = distinct[0], distinct[-1]
        t = (math.log(max(depth, lo)) - math.log(lo)) / (math.log(hi) - math.log(lo))
        t = min(max(t, 0.0), 1.0)
    style: dict[str, Any] = {"color": _shade(base, t), "label": display_label(label)}
    if len(distinct) >= 2 and depth in distinct:
        style["marker"] = DEPTH_MARKERS[distinct.index(depth) % len(DEPTH_MARKERS)]
        style["markevery"] = 0.1  # a marker every tenth of the line's length
        style["markersize"] = 4
    return style


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
    for key in value:
        if not isinstance(key, str):
            raise TypeError(f"{name} keys must be str labels such as 'plain20', got {key!r}")


def _values(name: str, series: Any) -> np.ndarray:
    """A 1-D float array from ``{layer: value}`` or a sequence of values."""
    values = list(series.values()) if isinstance(series, Mapping) else series
    array = _float_array(name, values, "a dict of numbers or a sequence of numbers")
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D series, got shape {array.shape}")
    return array


# --------------------------------------------------------------------------------------------
# Chapters 3 and 9: gradients and responses layer by layer
# --------------------------------------------------------------------------------------------
def gradient_flow(
    norms_by_model: Mapping[str, Mapping[str, float] | Sequence[float]],
    ax: Axes | None = None,
    *,
    log: bool = True,
    ylabel: str = "weight-gradient norm  ||dL/dW||",
) -> Axes:
    """Gradient norm per layer, input to output, one line per model (chapters 3, 9).

    Args:
        norms_by_model: ``{model: {layer name: norm}}`` (e.g. from ``gradflow.gradient_norms``)
            or ``{model: [norm per layer]}``.
        ax: draw here; default a new book-size figure.
        log: log-scale y axis (gradient norms span orders of magnitude).
        ylabel: the y-axis label (e.g. for output-gradient norms).

    Example:
        >>> ax = gradient_flow({"plain56": gradient_norms(plain56(), x, y),
        ...                     "resnet56": gradient_norms(resnet56(), x, y)})
    """
    check_bool("log", log)
    ax = _layer_lines(ax, "norms_by_model", norms_by_model)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("layer (1 = first, input side)")
    ax.set_ylabel(ylabel)
    ax.legend()
    return ax


def _layer_lines(ax: Axes | None, name: str, series_by_model: Any, *, sort: bool = False) -> Axes:
    """One line per model over its layers 1, 2, ... (sorted in descending order if ``sort``)."""
    _check_mapping(name, series_by_model)
    ax = _axes(ax)
    depths = _depths(list(series_by_model))
    for label, series in series_by_model.items():
        values = _values(f"{name}[{label!r}]", series)
        if sort:
            values = np.sort(values)[::-1]
        ax.plot(np.arange(1, values.size + 1), values, **model_style(label, depths))
    return ax


def response_std(
    stds_by_model: Mapping[str, Mapping[str, float] | Sequence[float]],
    ax: Axes | None = None,
    *,
    sort: bool = False,
) -> Axes:
    """Std of each 3x3 layer's response, one line per model: the paper's Figure 7 (chapter 3).

    Args:
        stds_by_model: ``{model: {conv name: std}}`` (``gradflow.response_stds``) or sequences.
        ax: draw here; default a new book-size figure.
        sort: sort each model's stds in descending order (Figure 7, bottom panel).

    Example:
        >>> ax = response_std({"plain20": response_stds(p20, x), "resnet20": ...}, sort=True)
    """
    check_bool("sort", sort)
    ax = _layer_lines(ax, "stds_by_model", stds_by_model, sort=sort)
    ax.set_xlabel("layer index (sorted by magnitude)" if sort else "layer index (original)")
    ax.set_ylabel("std of response")
    ax.legend()
    return ax


def _steps(name: str, steps: Any, length: int) -> np.ndarray:
    if steps is None:
        return np.arange(length)
    array = np.asarray(steps, dtype=float)
    if array.shape != (length,):
        raise ValueError(f"{name} must have {length} entries (one per value), got {array.shape}")
    return array


def _finish_over_steps(ax: Axes, log: bool, ylabel: str, reference: float | None) -> None:
    if reference is not None:
        if isinstance(reference, bool) or not isinstance(reference, Real):
            raise TypeError(f"reference must be a number or None, got {reference!r}")
        ax.axhline(reference, color="0.4", linewidth=0.8, linestyle=":")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)


def layer_curves(
    series_by_model: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    layers: Sequence[str] | None = None,
    steps: Sequence[int] | None = None,
    log: bool = True,
    ylabel: str = "weight-gradient norm",
    reference: float | None = None,
    ax: Axes | None = None,
) -> Axes:
    """A few layers' values over training steps, per model: first vs last layer (chapter 3).

    Colour is the model (family colour), line style the layer: the first layer named in
    ``layers`` solid, the second dashed, ... Works with every per-step record of ``gradflow``:
    ``GradientRecord.weight_grad_norms`` / ``output_grad_norms``, ``WeightRecord.weight_norms``
    / ``update_ratios``.

    Args:
        series_by_model: ``{model: {layer name: [one value per step]}}``.
        layers: which layers to draw (names present in every model); default the first and
            the last layer of each model (then named "first layer", "last layer" in the legend).
        steps: the step of each value; default 0, 1, 2, ...
        log: log-scale y axis.
        ylabel: what is drawn.
        reference: draw a dotted horizontal line at this value (e.g. 1e-3 for update ratios).
        ax: draw here; default a new book-size figure.

    Example:
        >>> layer_curves({"plain56": rec_p.weight_norms, "resnet56": rec_r.weight_norms},
        ...              ylabel="weight norm ||W||")
    """
    _check_mapping("series_by_model", series_by_model)
    if layers is not None and (
        isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence)
    ):
        raise TypeError(f"layers must be a list of layer names, got {layers!r}")
    check_bool("log", log)
    ax = _axes(ax)
    depths = _depths(list(series_by_model))
    for model, series in series_by_model.items():
        _check_mapping(f"series_by_model[{model!r}]", series)
        names = list(series)
        chosen = list(layers) if layers is not None else [names[0], names[-1]]
        tags = chosen if layers is not None else ["first layer", "last layer"]
        style = model_style(model, depths)
        for i, (layer, tag) in enumerate(zip(chosen, tags, strict=True)):
            if layer not in series:
                raise ValueError(f"layers: {model!r} has no layer {layer!r}; it has {names[:4]}...")
            values = _values(f"series_by_model[{model!r}][{layer!r}]", series[layer])
            x = _steps("steps", steps, values.size)
            line = {**style, "label": f"{style['label']}, {tag} ({layer})"}
            ax.plot(x, values, linestyle=LAYER_STYLES[i % len(LAYER_STYLES)], **line)
    _finish_over_steps(ax, log, ylabel, reference)
    ax.legend()
    return ax


def per_layer_curves(
    series_by_layer: Mapping[str, Sequence[float]],
    *,
    steps: Sequence[int] | None = None,
    log: bool = True,
    ylabel: str = "update / weight  ||ΔW|| / ||W||",
    reference: float | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Every layer's values over training steps, one model, coloured first (dark) to last
    (light) -- Karpathy's update-to-weight-ratio plot (chapter 3).

    Args:
        series_by_layer: ``{layer name: [one value per step]}``, in forward order (e.g.
            ``WeightRecord.update_ratios``).
        steps: the step of each value; default 0, 1, 2, ...
        log: log-scale y axis.
        ylabel: what is drawn.
        reference: a dotted horizontal line (Karpathy's rule of thumb for ratios: 1e-3).
        title: the panel's title (e.g. the model's name).
        ax: draw here; default a new book-size figure.

    Example:
        >>> per_layer_curves(record.update_ratios, reference=1e-3, title="plain-56")
    """
    _check_mapping("series_by_layer", series_by_layer)
    check_bool("log", log)
    ax = _axes(ax)
    colours = mpl.colormaps["viridis"](np.linspace(0.0, 0.9, len(series_by_layer)))
    for colour, (layer, series) in zip(colours, series_by_layer.items(), strict=True):
        values = _values(f"series_by_layer[{layer!r}]", series)
        ax.plot(_steps("steps", steps, values.size), values, color=colour, linewidth=1.0)
    _finish_over_steps(ax, log, ylabel, reference)
    mappable = mpl.cm.ScalarMappable(Normalize(1, len(series_by_layer)), "viridis")
    bar = ax.figure.colorbar(mappable, ax=ax, label="layer (1 = first)")
    bar.locator = mpl.ticker.MaxNLocator(integer=True)
    bar.update_ticks()
    if title is not None:
        ax.set_title(display_label(title))
    return ax


# --------------------------------------------------------------------------------------------
# Chapters 1, 3, 4, 7: training curves and costs
# --------------------------------------------------------------------------------------------
def _history_series(history: Any, key: str) -> list[float] | None:
    value = history.get(key) if isinstance(history, Mapping) else getattr(history, key, None)
    return None if value is None else list(value)


#: How training and test error are drawn: the book's (training solid, test dashed), and the
#: paper's Figure 6 ("Dashed lines denote training error, and bold lines denote testing error").
_LINES = {"book": ({"linestyle": "-"}, {"linestyle": "--"})}
_LINES["paper"] = ({"linestyle": "--", "linewidth": 1.0}, {"linestyle": "-", "linewidth": 2.2})


def _error_kinds(lines: str = "book") -> list[Line2D]:
    train, test = _LINES[lines]
    return [
        Line2D([], [], color="0.3", label="training error", **train),
        Line2D([], [], color="0.3", label="test error", **test),
    ]


def _check_ylim(ylim: Any) -> None:
    if ylim is not None and not (
        isinstance(ylim, Sequence) and len(ylim) == 2 and all(isinstance(v, Real) for v in ylim)
    ):
        raise ValueError(f"ylim must be (bottom, top) in percent or None, got {ylim!r}")


def _draw_histories(ax: Axes, histories: Mapping[str, Any], lines: str = "book") -> None:
    depths = _depths(list(histories))
    train_lines, test_lines = _LINES[lines]
    for label, history in histories.items():
        train = _history_series(history, "train_error")
        if not train:
            raise ValueError(
                f"histories[{label!r}] needs a non-empty train_error (attribute or key)"
            )
        test = _history_series(history, "test_error") or []
        epochs = _history_series(history, "epoch") or list(range(1, len(train) + 1))
        style = model_style(label, depths)
        ax.plot(epochs[: len(train)], train, **train_lines, **style)
        if test:
            test_style = {k: v for k, v in style.items() if k != "label"}
            ax.plot(epochs[: len(test)], test, **test_lines, **test_style)
    ax.set_xlabel("epoch")
    ax.set_ylabel("error (%)")


def training_curves(
    histories: Mapping[str, Any],
    ax: Axes | None = None,
    *,
    ylim: tuple[float, float] | None = None,
) -> Axes:
    """Training error (solid) and test error (dashed) per epoch, per model (chapters 1, 3, 7).

    Args:
        histories: ``{model: history}``; a history is any object with attributes, or a dict
            with keys, ``train_error`` and ``test_error`` (per-epoch error in percent, 0-100;
            ``test_error`` may be missing or empty) and optionally ``epoch``.
        ax: draw here; default a new book-size figure.
        ylim: y-axis limits in percent; default automatic.

    Example:
        >>> ax = training_curves({"plain20": h20, "plain56": h56})
    """
    _check_mapping("histories", histories)
    _check_ylim(ylim)
    ax = _axes(ax)
    _draw_histories(ax, histories)
    if ylim is not None:
        ax.set_ylim(*ylim)
    model_legend = ax.legend(loc="upper right")
    ax.add_artist(model_legend)
    ax.legend(handles=_error_kinds(), loc="upper center")
    return ax


def figure6(histories: Mapping[str, Any], *, ylim: tuple[float, float] | None = (0, 100)) -> Figure:
    """The paper's Figure 6 layout: plain nets left, ResNets right, one y scale (chapters 1, 7).

    Args:
        histories: ``{model: history}`` with plain and residual models, e.g. the dict that
            ``experiments.run_table6`` returns (``"plain20"``, ``"resnet20"``, ...); histories
            as for ``training_curves``.
        ylim: y-axis limits in percent, shared by both panels.

    Returns:
        the Figure: two panels with their model legends, and one legend below them for
        training vs test error, drawn as the paper's Figure 6 draws them: "Dashed lines denote
        training error, and bold lines denote testing error."

    Example:
        >>> fig = figure6(run_table6([20, 32, 44, 56], data, config, "runs"))
    """
    _check_mapping("histories", histories)
    _check_ylim(ylim)
    panels = {"plain": {}, "residual": {}}
    for label, history in histories.items():
        family = model_family(label)
        if family not in panels:
            raise ValueError(f"histories: {label!r} is neither a plain net nor a ResNet")
        panels[family][label] = history
    with book_style():
        fig, axes = plt.subplots(1, 2, sharey=True, figsize=(7, 3.8), layout="constrained")
    for ax, group, title in zip(axes, panels.values(), ("plain networks", "ResNets"), strict=True):
        ax.set_title(title)
        if group:
            _draw_histories(ax, group, lines="paper")
            ax.legend(loc="upper right")
        ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
    if ylim is not None:
        axes[0].set_ylim(*ylim)
    axes[1].set_ylabel("")
    fig.legend(handles=_error_kinds("paper"), loc="outside lower center", ncols=2)
    return fig


def cost_bars(
    models: Mapping[str, tuple[float, float]],
    ax: Sequence[Axes] | None = None,
) -> Figure:
    """Parameters (millions) and multiply-adds (billions) per model, side by side (chapter 4).

    Args:
        models: ``{model: (parameters, mult_adds)}`` as raw counts.
        ax: two Axes to draw into; default a new book-size figure with two panels.

    Returns:
        the Figure holding the two panels.

    Example:
        >>> fig = cost_bars({"resnet18": (11_689_512, 1.8e9), "resnet34": (21_797_672, 3.6e9)})
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
    for axis, (xlabel, scale, index) in zip(
        axes, [("parameters (millions)", 1e6, 0), ("multiply-adds (billions)", 1e9, 1)], strict=True
    ):
        values = [float(models[label][index]) / scale for label in labels]
        bars = axis.barh(y, values, color=colors)
        axis.bar_label(bars, fmt="%.3g", padding=2, fontsize=7)
        axis.set_yticks(y, [display_label(label) for label in labels])
        axis.invert_yaxis()
        axis.set_xlabel(xlabel)
        axis.grid(axis="y", visible=False)
        axis.margins(x=0.15)
    axes[1].tick_params(labelleft=False)
    return fig


# --------------------------------------------------------------------------------------------
# Chapter 8: lesions, paths, shattered gradients, landscapes
# --------------------------------------------------------------------------------------------
def lesion_plot(
    results: Mapping[str, Mapping[str, float]],
    *,
    baselines: Mapping[str, float] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Test error after deleting each single block (Veit et al. 2016, Fig. 3) (chapter 8).

    Args:
        results: ``{model: ensembles.lesion_blocks(...)}``, i.e. ``{model: {block: error %}}``.
        baselines: ``{model: error % of the intact model}``, drawn as dashed lines.
        ax: where to draw.

    Example:
        >>> lesion_plot({"resnet20": lesion_blocks(res, data)}, baselines={"resnet20": 2.1})
    """
    if not isinstance(results, Mapping) or not results:
        raise ValueError("results must be a non-empty {model: {block: error %}} mapping")
    if baselines is not None and not isinstance(baselines, Mapping):
        raise TypeError(f"baselines must be a {{model: error %}} dict or None, got {baselines!r}")
    ax = _axes(ax)
    for label, errors in results.items():
        if not isinstance(errors, Mapping) or not errors:
            raise TypeError(f"results[{label!r}] must be a non-empty {{block: error %}} dict")
        names = list(errors)
        style = model_style(label)
        ax.plot(range(len(names)), [errors[n] for n in names], marker="o", **style)
        if baselines and label in baselines:
            ax.axhline(
                baselines[label],
                ls="--",
                color=style["color"],
                lw=1,
                label=f"{style['label']}, intact",
            )
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_xlabel("deleted block")
    ax.set_ylabel("test error (%)")
    ax.set_ylim(0, 100)
    ax.legend()
    return ax


def _float_array(name: str, values: Any, what: str = "a sequence of numbers") -> np.ndarray:
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be {what}, got a str")
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be {what}, got {values!r:.60}") from err


def path_length_plot(
    lengths: Sequence[int] | np.ndarray,
    values: Sequence[float] | np.ndarray,
    *,
    ylabel: str = "number of paths",
    log: bool = False,
    ax: Axes | None = None,
) -> Axes:
    """Bars over path length k: path counts C(n, k), or a ``PathGradients`` field (chapter 8).

    Args:
        lengths: the path lengths (``PathGradients.lengths`` or ``range(n + 1)``).
        values: one value per length (``path_length_distribution(n)``, ``pg.mean_norm``,
            ``pg.total``); NaN bars are left out.
        ylabel: the y-axis label (say what is drawn, with units).
        log: logarithmic y axis (gradient norms span orders of magnitude).
        ax: where to draw.

    Example:
        >>> path_length_plot(range(55), path_length_distribution(54))
    """
    k, v = _float_array("lengths", lengths), _float_array("values", values)
    if k.ndim != 1 or k.shape != v.shape:
        raise ValueError(f"lengths and values must have the same length, got {k.shape}, {v.shape}")
    check_bool("log", log)
    ax = _axes(ax)
    keep = np.isfinite(v)
    ax.bar(k[keep], v[keep], color=RESIDUAL_COLOR)
    ax.set_xlabel("path length m (residual branches on the path)")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    return ax


def gradient_correlation_plot(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    xlabel: str = "depth (weighted layers)",
    ax: Axes | None = None,
) -> Axes:
    """Correlation of input gradients against depth (or lag), one line per family (chapter 8).

    Args:
        curves: ``{label: (x values, correlations)}``, e.g. ``{"plain": ([8, 20, 56],
            [0.9, 0.4, 0.0]), "ResNet": (...)}``.
        xlabel: what x is.
        ax: where to draw.

    Example:
        >>> gradient_correlation_plot({"plain": (depths, plain_corr), "resnet": (depths, res)})
    """
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("curves must be a non-empty {label: (x, correlations)} mapping")
    for label, pair in curves.items():
        if not (isinstance(pair, Sequence) and len(pair) == 2):
            raise TypeError(f"curves[{label!r}] must be a pair (x values, correlations)")
    ax = _axes(ax)
    for label, (x, y) in curves.items():
        ax.plot(x, y, marker="o", **model_style(label))
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("correlation of neighbouring input gradients")
    ax.set_ylim(-0.2, 1.05)
    ax.legend()
    return ax


def landscape_1d(
    alphas: Sequence[float] | np.ndarray,
    curves: Mapping[str, Sequence[float] | np.ndarray],
    *,
    log: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """Loss along one filter-normalised direction, L(θ + α d), one line per model (chapter 8).

    Args:
        alphas: the step sizes.
        curves: ``{model: landscape.loss_surface_1d(...)}``.
        log: logarithmic loss axis (the loss grows by orders of magnitude away from θ).
        ax: where to draw.

    Example:
        >>> landscape_1d(alphas, {"resnet20": res_line, "plain20": plain_line})
    """
    a = _float_array("alphas", alphas)
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("curves must be a non-empty {model: losses} mapping")
    check_bool("log", log)
    ax = _axes(ax)
    for label, losses in curves.items():
        z = _float_array(f"curves[{label!r}]", losses)
        if z.shape != a.shape:
            raise ValueError(f"curves[{label!r}] has {z.shape} points, alphas {a.shape}")
        ax.plot(a, z, **model_style(label))
    ax.set_xlabel("α (step along a filter-normalised direction)")
    ax.set_ylabel("loss (cross-entropy)")
    if log:
        ax.set_yscale("log")
    ax.legend()
    return ax


def landscape_contour(
    alphas: Sequence[float] | np.ndarray,
    betas: Sequence[float] | np.ndarray,
    losses: np.ndarray,
    *,
    levels: int | Sequence[float] = 20,
    log: bool = True,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Contour plot of a 2-D loss surface, L(θ + α d1 + β d2) (Li et al. 2018, Fig. 5) (ch. 8).

    Every fourth contour carries a label, so the labels stay readable at text width.

    Args:
        alphas, betas: the grid axes.
        losses: ``loss_surface_2d(...)``, indexed ``[alpha, beta]`` (transposed here for
            matplotlib, whose rows are y).
        levels: number of contour levels (>= 2), or the levels themselves.
        log: contour log10(loss), so the basin and the walls both show.
        title: axes title (e.g. the model's name).
        ax: where to draw.

    Example:
        >>> landscape_contour(grid, grid, z_res, title="resnet20")
    """
    a, b = _float_array("alphas", alphas), _float_array("betas", betas)
    z = _float_array("losses", losses)
    if z.shape != (len(a), len(b)):
        raise ValueError(
            f"losses must have shape (len(alphas), len(betas)) = {(len(a), len(b))}, got {z.shape}"
        )
    if isinstance(levels, int) and not isinstance(levels, bool):
        if levels < 2:
            raise ValueError(f"levels must be >= 2 or a list of levels, got {levels}")
    elif isinstance(levels, (str, bytes)) or not isinstance(levels, Sequence):
        raise TypeError(f"levels must be an int or a list of levels, got {levels!r}")
    ax = _axes(ax)
    shown = np.log10(np.maximum(z, 1e-12)) if log else z
    cs = ax.contour(a, b, shown.T, levels=levels, cmap="viridis")
    ax.clabel(cs, cs.levels[::4], inline=True, fontsize=7, fmt="%.1f")
    ax.plot([0], [0], "k+", ms=8)
    ax.set_xlabel("α₁ (along direction δ₁)")
    ax.set_ylabel("α₂ (along direction δ₂)")
    ax.set_aspect("equal")
    if title:
        ax.set_title(display_label(title) + (" (log10 loss)" if log else ""))
    return ax
