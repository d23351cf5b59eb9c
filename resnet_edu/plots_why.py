"""Figures of chapter 8 ("why residual networks work"): lesions, paths, gradients, landscapes.

Each function takes the plain data an instrument returned (``ensembles``, ``shattered``,
``landscape``), draws on ``ax`` (a new figure when ``None``) and returns the Axes; nothing here
computes a measurement. Colours follow the book's contract -- the same colour for "plain" and for
"residual" in every chapter -- taken from ``resnet_edu.plots`` when it defines them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt  # no backend chosen here: works headless with Agg
import numpy as np
from matplotlib.axes import Axes

try:  # the colour contract lives in plots.py (chapter-wide); fall back to the same palette
    from .plots import PLAIN_COLOR, RESIDUAL_COLOR
except ImportError:  # pragma: no cover - depends on which modules exist
    PLAIN_COLOR, RESIDUAL_COLOR = "#D55E00", "#0072B2"  # Okabe-Ito vermillion / blue

__all__ = [
    "gradient_correlation_plot",
    "landscape_1d",
    "landscape_contour",
    "lesion_plot",
    "path_length_plot",
]


def _axes(ax: Axes | None) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    elif not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    return ax


def _colour(label: str) -> str | None:
    low = label.lower()
    if "plain" in low:
        return PLAIN_COLOR
    if "res" in low:
        return RESIDUAL_COLOR
    return None


def lesion_plot(
    results: Mapping[str, Mapping[str, float]],
    *,
    baselines: Mapping[str, float] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Test error after deleting each single block (Veit et al. 2016, Fig. 3).

    Args:
        results: ``{model label: lesion_blocks(...) result}``, e.g. ``{"ResNet-20": ...,
            "plain-20": ...}``; labels containing "plain"/"res" get the book's colours.
        baselines: ``{model label: error % of the intact model}``, drawn as dashed lines.
        ax: where to draw.

    Example:
        >>> lesion_plot({"ResNet-20": lesion_blocks(res, data)}, baselines={"ResNet-20": 2.1})
    """
    ax = _axes(ax)
    if not isinstance(results, Mapping) or not results:
        raise ValueError("results must be a non-empty {label: {block: error %}} mapping")
    for label, errors in results.items():
        names = list(errors)
        colour = _colour(label)
        ax.plot(range(len(names)), [errors[n] for n in names], "o-", color=colour, label=label)
        if baselines and label in baselines:
            ax.axhline(baselines[label], ls="--", color=colour, lw=1, label=f"{label}, intact")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_xlabel("deleted block")
    ax.set_ylabel("test error (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize="small")
    return ax


def path_length_plot(
    lengths: Sequence[int] | np.ndarray,
    values: Sequence[float] | np.ndarray,
    *,
    ylabel: str = "number of paths",
    log: bool = False,
    ax: Axes | None = None,
) -> Axes:
    """Bars over path length k: path counts C(n, k), or a ``PathGradients`` field.

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
    ax = _axes(ax)
    k = np.asarray(lengths)
    v = np.asarray(values, dtype=float)
    if k.shape != v.shape:
        raise ValueError(f"lengths and values must have the same length, got {k.shape}, {v.shape}")
    keep = np.isfinite(v)
    ax.bar(k[keep], v[keep], color=RESIDUAL_COLOR)
    ax.set_xlabel("path length k (residual branches on the path)")
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
    """Correlation of input gradients against depth (or lag), one line per family.

    Args:
        curves: ``{label: (x values, correlations)}``, e.g. ``{"plain": ([8, 20, 56],
            [0.9, 0.4, 0.0]), "ResNet": (...)}``.
        xlabel: what x is.
        ax: where to draw.

    Example:
        >>> gradient_correlation_plot({"plain": (depths, plain_corr), "ResNet": (depths, res)})
    """
    ax = _axes(ax)
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("curves must be a non-empty {label: (x, correlations)} mapping")
    for label, (x, y) in curves.items():
        ax.plot(x, y, "o-", color=_colour(label), label=label)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("correlation of neighbouring input gradients")
    ax.set_ylim(-0.2, 1.05)
    ax.legend(fontsize="small")
    return ax


def landscape_1d(
    alphas: Sequence[float] | np.ndarray,
    curves: Mapping[str, Sequence[float] | np.ndarray],
    *,
    log: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """Loss along one filter-normalised direction, L(θ + α d), one line per model.

    Args:
        alphas: the step sizes.
        curves: ``{label: loss_surface_1d(...)}``.
        log: logarithmic loss axis (the loss grows by orders of magnitude away from θ).
        ax: where to draw.

    Example:
        >>> landscape_1d(alphas, {"ResNet-20": res_line, "plain-20": plain_line})
    """
    ax = _axes(ax)
    a = np.asarray(alphas, dtype=float)
    for label, losses in curves.items():
        z = np.asarray(losses, dtype=float)
        if z.shape != a.shape:
            raise ValueError(f"curves[{label!r}] has {z.shape} points, alphas {a.shape}")
        ax.plot(a, z, "-", color=_colour(label), label=label)
    ax.set_xlabel("α (step along a filter-normalised direction)")
    ax.set_ylabel("loss (cross-entropy)")
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize="small")
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
    """Contour plot of a 2-D loss surface, L(θ + α d1 + β d2) (Li et al. 2018, Fig. 5).

    Args:
        alphas, betas: the grid axes.
        losses: ``loss_surface_2d(...)``, indexed ``[alpha, beta]`` (transposed here for
            matplotlib, whose rows are y).
        levels: number of contour levels, or the levels themselves.
        log: contour log10(loss), so the basin and the walls both show.
        title: axes title (e.g. the model's name).
        ax: where to draw.

    Example:
        >>> landscape_contour(grid, grid, z_res, title="ResNet-20")
    """
    ax = _axes(ax)
    a, b = np.asarray(alphas, dtype=float), np.asarray(betas, dtype=float)
    z = np.asarray(losses, dtype=float)
    if z.shape != (len(a), len(b)):
        raise ValueError(
            f"losses must have shape (len(alphas), len(betas)) = {(len(a), len(b))}, got {z.shape}"
        )
    shown = np.log10(np.maximum(z, 1e-12)) if log else z
    cs = ax.contour(a, b, shown.T, levels=levels, cmap="viridis")
    ax.clabel(cs, inline=True, fontsize=6, fmt="%.1f")
    ax.plot([0], [0], "k+", ms=8)
    ax.set_xlabel("α (direction 1)")
    ax.set_ylabel("β (direction 2)")
    ax.set_aspect("equal")
    if title:
        ax.set_title(f"{title}" + (" (log10 loss)" if log else ""))
    return ax
