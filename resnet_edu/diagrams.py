"""The papers' figures drawn from a model object, never by hand (chapters 1, 2, 4, 5, 8, 9).

A hand-drawn figure can disagree with the code beside it; these cannot. Every diagram is made in
two steps: a ``*_layout`` function of ``resnet_edu.layouts`` reads the model and returns plain
data (re-exported here), and a ``*_figure`` function of this module draws exactly that layout
with matplotlib and returns the Figure, with the layouts it drew as ``fig.layouts``. Every box it
draws carries the ``gid`` ``"box"``, so tests can count them.

Figures, after the paper (He et al. 2016, "Deep Residual Learning for Image Recognition"):

- :func:`block_figure` -- Fig. 2: a block, plain vs residual (BasicBlock, Bottleneck (Fig. 5),
  or the pre-activation unit of He et al. 2016b, Fig. 4e);
- :func:`network_figure` -- Fig. 3: VGG-19, plain-34 and ResNet-34 side by side, one box per
  layer, rows aligned by output resolution, solid identity and dotted shape-changing shortcuts;
- :func:`zero_pad_figure` -- option A's shortcut: subsample, then pad with zero channels;
- :func:`stage_map_figure` -- one box per block, grouped by stage (e.g. ResNet-50);
- :func:`unravelled_figure` -- Veit et al. 2016, Fig. 1: n residual blocks as 2^n paths.

Colours are :mod:`resnet_edu.plots`' palette: plain = vermillion, residual = blue, other (VGG)
= green.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyBboxPatch
from torch import nn

from ._checks import check_module
from .gradflow import DEFAULT_BLOCK_TYPES
from .layouts import (
    BlockLayout,
    BlockSpan,
    Layer,
    NetworkLayout,
    Path,
    Shortcut,
    Step,
    UnravelledLayout,
    ZeroPadLayout,
    block_layout,
    check_block,
    network_layout,
    unravelled_layout,
    zero_pad_layout,
)
from .plots import OTHER_COLOR, PLAIN_COLOR, RESIDUAL_COLOR, book_style

__all__ = [  # the layouts of resnet_edu.layouts, re-exported, and the figures drawn from them
    "BlockLayout",
    "BlockSpan",
    "Layer",
    "NetworkLayout",
    "Path",
    "Shortcut",
    "Step",
    "UnravelledLayout",
    "ZeroPadLayout",
    "block_figure",
    "block_layout",
    "network_figure",
    "network_layout",
    "stage_map_figure",
    "unravelled_figure",
    "unravelled_layout",
    "zero_pad_figure",
    "zero_pad_layout",
]

#: The block classes drawn as blocks: ``gradflow.DEFAULT_BLOCK_TYPES``, the one definition.
BLOCK_NAMES = DEFAULT_BLOCK_TYPES
_GREY = "#555555"
_NORM_FILL = "#EEEEEE"
_BOX = "box"  # the gid of every drawn box
_COLUMN = 1.6  # width of a network column in network_figure
_SLOT, _GAP = 0.32, 0.45  # width of a block and of a gap between stages in stage_map_figure


# --------------------------------------------------------------------------- drawing helpers
def _with_titles(name: str, value: object, what: str, titles: object) -> tuple[list, list]:
    """One module or a non-empty list or tuple of them, as a list; and one title each."""
    if isinstance(value, nn.Module):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be {what} or a list of them, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must be {what} or a non-empty list of them")
    if titles is None:
        return list(value), [None] * len(value)
    if isinstance(titles, str) or not isinstance(titles, Sequence) or len(titles) != len(value):
        raise ValueError(f"titles must be a list of {len(value)} strings, got {titles!r}")
    return list(value), list(titles)


def _family_color(family: str) -> str:
    return {"plain": PLAIN_COLOR, "residual": RESIDUAL_COLOR}.get(family, OTHER_COLOR)


def _box(ax, x, y, w, h, text, *, face, edge, fontsize=7.5, color="black", weight="normal"):
    patch = FancyBboxPatch(
        (x - w / 2, y - h / 2),
        w,
        h,
        boxstyle="round,pad=0,rounding_size=0.08",
        facecolor=face,
        edgecolor=edge,
        linewidth=0.9,
        gid=_BOX,
        zorder=3,
    )
    ax.add_patch(patch)
    ax.text(
        x,
        y,
        text,
        ha="center",
        va="center",
        fontsize=fontsize,
        color=color,
        weight=weight,
        zorder=4,
    )
    return patch


def _arrow(ax, start, end, *, color=_GREY, style="-|>", linestyle="-", lw=0.9):
    ax.annotate(
        "",
        xy=end,
        xytext=start,
        arrowprops={
            "arrowstyle": style,
            "color": color,
            "lw": lw,
            "linestyle": linestyle,
            "shrinkA": 0,
            "shrinkB": 0,
            "mutation_scale": 8,
        },
    )


def _tint(color: str, amount: float) -> tuple[float, float, float]:
    r, g, b = to_rgb(color)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


def _draw_block(ax, layout: BlockLayout, rows: int) -> None:
    color = RESIDUAL_COLOR if layout.residual else PLAIN_COLOR
    row = 0.62  # vertical distance between steps
    ys = [-(i + 1) * row for i in range(len(layout.steps))]
    top, bottom = 0.0, ys[-1] - row
    ax.text(
        0, top + 0.12, f"x  ({layout.in_channels} channels)", ha="center", va="bottom", fontsize=8
    )
    previous = top
    for step, y in zip(layout.steps, ys, strict=True):
        _arrow(ax, (0, previous - (0.0 if previous == top else 0.2)), (0, y + 0.2))
        if step.kind == "add":
            ax.add_patch(Circle((0, y), 0.2, facecolor="white", edgecolor=color, lw=1.2, gid=_BOX))
            ax.text(0, y, "+", ha="center", va="center", fontsize=11, color=color, weight="bold")
        elif step.kind == "conv":
            _box(ax, 0, y, 1.9, 0.4, step.label, face=_tint(color, 0.7), edge=color, fontsize=8)
        elif step.kind == "relu":
            _box(ax, 0, y, 0.9, 0.4, step.label, face="white", edge=_GREY)
        else:
            _box(ax, 0, y, 0.9, 0.4, step.label, face=_NORM_FILL, edge=_GREY)
        previous = y
    _arrow(ax, (0, previous - 0.2), (0, bottom + 0.1))
    ax.text(0, bottom, f"{layout.out_channels} channels", ha="center", va="top", fontsize=8)
    sc = layout.shortcut
    if sc is not None:
        y0 = top + 0.02 if sc.source < 0 else ys[sc.source]
        y1 = ys[sc.target]
        x0 = 0.45 if sc.source < 0 else 0.95 if layout.steps[sc.source].kind != "conv" else 0.95
        xr = 1.35
        dashed = "-" if sc.kind == "identity" else (0, (3, 2))
        ax.plot([x0 if sc.source >= 0 else 0, xr], [y0, y0], color=color, lw=1.4, ls=dashed)
        ax.plot([xr, xr], [y0, y1], color=color, lw=1.4, ls=dashed)
        _arrow(ax, (xr, y1), (0.2, y1), color=color, lw=1.4, linestyle=dashed)
        ax.text(
            xr + 0.08,
            (y0 + y1) / 2,
            sc.label,
            ha="left",
            va="center",
            fontsize=7.5,
            color=color,
            rotation=0,
        )
        x_label = "F(x) + shortcut(x)"
        ax.text(-0.3, y1 - 0.25, x_label, ha="right", va="center", fontsize=7, color=color)
    ax.set_title(layout.title, fontsize=9)
    ax.set_xlim(-1.6, 3.1)
    ax.set_ylim(-(rows + 1) * row - 0.35, top + 0.4)
    ax.set_aspect("equal")
    ax.axis("off")


def block_figure(
    blocks: nn.Module | Sequence[nn.Module], titles: Sequence[str] | None = None
) -> Figure:
    """Draw blocks side by side (the paper's Fig. 2: a plain pair of layers vs a residual block).

    Every conv is one box labelled with its kernel, output width and stride (as in the paper's
    Fig. 3), BN and ReLU are small boxes, the addition a circle; the shortcut is a solid line
    for an identity and dotted where it changes the shape (projection or option A).

    Args:
        blocks: one block or a list of blocks (see :func:`block_layout`).
        titles: one title per block; default from :func:`block_layout`.

    Returns:
        the Figure (each drawn box has gid ``"box"``).

    Example:
        >>> fig = block_figure([BasicBlock(64, 64, residual=False), BasicBlock(64, 64)],
        ...                    titles=["plain", "residual"])
    """
    blocks, titles = _with_titles("blocks", blocks, "a block", titles)
    layouts = [
        block_layout(check_block(f"blocks[{i}]", b), title)
        for i, (b, title) in enumerate(zip(blocks, titles, strict=True))
    ]
    longest = max(len(layout.steps) for layout in layouts)
    with book_style():
        fig, axes = plt.subplots(
            1,
            len(layouts),
            figsize=(min(7.0, 3.5 * len(layouts)), 0.42 * longest + 1.2),
            squeeze=False,
        )
        for ax, layout in zip(axes[0], layouts, strict=True):
            _draw_block(ax, layout, longest)
        fig.subplots_adjust(left=0.01, right=0.99, top=0.93, bottom=0.01, wspace=0.02)
    fig.layouts = layouts  # the plain data drawn, for tests and readers
    return fig


# --------------------------------------------------------------------------- networks
def _rows(layouts: Sequence[NetworkLayout]) -> tuple[dict, list[tuple[int, int]]]:
    """Row of every layer of every layout, rows aligned by output resolution (as Fig. 3)."""
    resolutions = sorted({r for lay in layouts for r in lay.resolutions}, reverse=True)
    positions, bands, row = {}, [], 0
    for res in resolutions:
        height = max(sum(layer.resolution == res for layer in lay.layers) for lay in layouts)
        bands.append((res, row))
        for k, lay in enumerate(layouts):
            j = 0
            for i, layer in enumerate(lay.layers):
                if layer.resolution == res:
                    positions[(k, i)] = row + j
                    j += 1
        row += height
    bands.append((0, row))
    return positions, bands


def network_figure(
    models: nn.Module | Sequence[nn.Module],
    titles: Sequence[str] | None = None,
    input_size: int = 224,
) -> Figure:
    """Networks side by side, one box per layer, rows aligned by output size (paper Fig. 3).

    Each column is one model (green for a net without blocks such as VGG, vermillion for a plain
    net, blue for a ResNet). The left margin gives the output size of each band of rows. Shortcuts
    are drawn to the right of a residual column: solid where they are identities, dotted where
    they change the shape (projection or zero padding).

    Args:
        models: one model or a list (e.g. ``[vgg19(), plain34(), resnet34()]``).
        titles: one per model; default the class names.
        input_size: input height and width.

    Example:
        >>> fig = network_figure([vgg19(), plain34(), resnet34()],
        ...                      ["VGG-19", "34-layer plain", "34-layer residual"])
    """
    models, titles = _with_titles("models", models, "a model", titles)
    layouts = [
        network_layout(check_module(f"models[{i}]", m), input_size, title)
        for i, (m, title) in enumerate(zip(models, titles, strict=True))
    ]
    positions, bands = _rows(layouts)
    n_rows = bands[-1][1]
    step = 0.26  # vertical distance between rows, in inches
    with book_style():
        fig, ax = plt.subplots(figsize=(7.0, n_rows * step + 0.8))
        fig.subplots_adjust(left=0.0, right=1.0, top=1.0, bottom=0.0)
        for k, lay in enumerate(layouts):
            ys = [-positions[(k, i)] * 1.0 for i in range(len(lay.layers))]
            _draw_column(ax, 1.55 + k * (_COLUMN + 0.6), lay, ys)
        for res, row in bands[:-1]:
            label = f"output\n{res}×{res}" if res > 1 else "output\n1×1"
            ax.text(0.1, -row + 0.3, label, ha="left", va="top", fontsize=6.8, color=_GREY)
            if row:
                ax.axhline(-row + 0.5, color="#BBBBBB", lw=0.5, ls=(0, (4, 3)))
        ax.set_xlim(0, 1.55 + len(layouts) * (_COLUMN + 0.6) - 0.45)
        ax.set_ylim(-n_rows + 0.3, 1.4)
        ax.axis("off")
        ax.grid(False)
    fig.layouts = layouts
    return fig


def _draw_column(ax, x: float, lay: NetworkLayout, ys: list[float]) -> None:
    """One network of ``network_figure``: its title, a box per layer, its shortcuts."""
    color = _family_color(lay.family)
    title = f"{lay.title}\n({lay.weighted} weighted layers)"
    ax.text(x, 0.75, title, ha="center", va="center", fontsize=8, weight="bold")
    for i, layer in enumerate(lay.layers):
        face = "white" if layer.kind == "pool" else _tint(color, 0.72)
        edge = _GREY if layer.kind == "pool" else color
        _box(ax, x, ys[i], _COLUMN, 0.72, layer.label, face=face, edge=edge, fontsize=6.8)
        if i:
            _arrow(ax, (x, ys[i - 1] - 0.36), (x, ys[i] + 0.36), lw=0.6)
    for block in lay.blocks:
        if block.shortcut is None:
            continue
        y0, y1 = ys[block.first] + 0.5, ys[block.last] - 0.5
        xr = x + _COLUMN / 2 + 0.14
        ls = "-" if block.shortcut == "identity" else (0, (2.0, 1.5))
        xs = [x + 0.05, xr, xr, x + _COLUMN / 2]
        ax.plot(xs, [y0, y0, y1, y1], color=color, lw=1.1, ls=ls, solid_joinstyle="round")


def stage_map_figure(model: nn.Module, input_size: int = 224, title: str | None = None) -> Figure:
    """One box per block, grouped by stage, with the stem and the head (e.g. ResNet-50).

    Each stage is labelled with its number of blocks, the block widths (for a Bottleneck
    ``256 → 64 → 64 → 256``) and the output resolution, all read off the model.

    Example:
        >>> fig = stage_map_figure(resnet50(), title="ResNet-50")
    """
    lay = network_layout(model, input_size, title)
    if not lay.blocks:
        raise ValueError("model has no residual blocks; use network_figure for nets without them")
    stages: dict[str, list[BlockSpan]] = {}
    for block in lay.blocks:
        stages.setdefault(block.stage, []).append(block)
    stem = lay.layers[: lay.blocks[0].first]
    head = lay.layers[lay.blocks[-1].last + 1 :]
    width = 1.3 + len(lay.blocks) * _SLOT + len(stages) * _GAP + 1.3
    with book_style():
        fig, ax = plt.subplots(figsize=(7.0, 2.5))
        fig.subplots_adjust(left=0.01, right=0.99, top=0.88, bottom=0.02)
        stem_text = "stem\n" + "\n".join(layer.label for layer in stem)
        _box(ax, 0.6, 0, 1.1, 1.3, stem_text, face=_NORM_FILL, edge=_GREY, fontsize=6.5)
        side = f"{stem[-1].resolution}×{stem[-1].resolution}"
        ax.text(0.6, -0.8, side, ha="center", va="top", fontsize=7, color=_GREY)
        x, previous = 1.3 + _GAP / 2, 1.15
        for stage, blocks in stages.items():
            _arrow(ax, (previous, 0), (x, 0), lw=0.8)
            previous, x = _draw_stage(ax, x, stage, blocks, lay), x + len(blocks) * _SLOT + _GAP
        _arrow(ax, (previous, 0), (x - _GAP / 2, 0), lw=0.8)
        head_text = "\n".join(layer.label for layer in head)
        x_head = x - _GAP / 2 + 0.6
        _box(ax, x_head, 0, 1.1, 0.9, head_text, face=_NORM_FILL, edge=_GREY, fontsize=6.5)
        ax.set_title(
            f"{lay.title}: {lay.weighted} weighted layers (darker block: its shortcut "
            "changes the shape)",
            fontsize=8.5,
        )
        ax.set_xlim(0, width + 0.2)
        ax.set_ylim(-1.4, 1.3)
        ax.axis("off")
    fig.layouts = [lay]
    return fig


def _draw_stage(ax, x: float, stage: str, blocks: list[BlockSpan], lay: NetworkLayout) -> float:
    """One stage of ``stage_map_figure`` from ``x``: a box per block, labels above and below;
    returns where the arrow to the next stage starts."""
    color, start = _family_color(lay.family), x
    for block in blocks:
        face = _tint(color, 0.35 if block.shortcut not in (None, "identity") else 0.72)
        _box(ax, x + _SLOT * 0.45, 0, _SLOT * 0.8, 0.9, "", face=face, edge=color)
        x += _SLOT
    res = lay.layers[blocks[-1].last].resolution
    widths = " → ".join(str(w) for w in blocks[0].widths[1:])
    middle = (start + x) / 2
    ax.text(middle, 0.62, f"{stage}\n{len(blocks)} blocks", ha="center", va="bottom", fontsize=7)
    label = f"{widths}\n{res}×{res}"
    ax.text(middle, -0.6, label, ha="center", va="top", fontsize=6.5, color=_GREY)
    return x - _SLOT * 0.1


# --------------------------------------------------------------------------- option A
def zero_pad_figure(shortcut: nn.Module, size: int = 6) -> Figure:
    """Option A's shortcut: which pixels it keeps, and the zero channels it appends.

    Left: one input channel (``size`` × ``size``), the pixels that reach the output filled.
    Right: the channels of the output -- the input's channels, subsampled, then zero channels.

    Example:
        >>> fig = zero_pad_figure(ZeroPadShortcut(16, 32, 2))
    """
    lay = zero_pad_layout(shortcut, size)
    out = len({r for r, _ in lay.kept})
    every = f"every {lay.stride}nd pixel" if lay.stride == 2 else f"every pixel {lay.stride} apart"
    with book_style():
        fig, axes = plt.subplots(1, 3, figsize=(7.0, 2.5), width_ratios=[1, 0.7, 1.4])
        fig.subplots_adjust(left=0.02, right=0.98, top=0.76, bottom=0.05, wspace=0.15)
        kept = set(lay.kept)
        _draw_pixels(axes[0], lay.size, lay.size, lambda r, c: (r, c) in kept)
        title = f"input: {lay.size}×{lay.size}, {lay.in_channels} channels\nkeep {every}"
        axes[0].set_title(title, fontsize=8)
        _draw_pixels(axes[1], out, lay.size, lambda r, c: True)
        axes[1].set_title(f"x[:, :, ::{lay.stride}, ::{lay.stride}]\n{out}×{out}", fontsize=8)
        _draw_channels(axes[2], lay, out)
        fig.suptitle(
            "Shortcut option A (paper section 3.3): subsample, then pad with zeros", fontsize=9
        )
    fig.layouts = [lay]
    return fig


def _draw_pixels(ax, n: int, frame: int, filled) -> None:
    """An ``n`` x ``n`` grid of pixels in a ``frame`` x ``frame`` panel; ``filled(r, c)`` tints."""
    for r in range(n):
        for c in range(n):
            face = _tint(RESIDUAL_COLOR, 0.2) if filled(r, c) else "white"
            ax.add_patch(
                plt.Rectangle((c, -r - 1), 1, 1, facecolor=face, edgecolor=_GREY, lw=0.6, gid=_BOX)
            )
    ax.set_xlim(-0.2, frame + 0.2)
    ax.set_ylim(-frame - 0.2, 0.2)
    ax.set_aspect("equal")
    ax.axis("off")


def _draw_channels(ax, lay: ZeroPadLayout, out: int) -> None:
    """The output's channels in a row: the input's, then the hatched zero channels."""
    total, n_zero = lay.out_channels, len(lay.zero_channels)
    for i in range(total):
        zero = i in lay.zero_channels
        ax.add_patch(
            plt.Rectangle(
                (i / total * 4, 0),
                4 / total,
                1,
                facecolor="white" if zero else _tint(RESIDUAL_COLOR, 0.2),
                edgecolor=_GREY if zero else RESIDUAL_COLOR,
                lw=0.3,
                hatch="///" if zero else None,
                gid=_BOX,
            )
        )
    kept = f"{total - n_zero} channels of x"
    ax.text(2 * (total - n_zero) / total, -0.15, kept, ha="center", va="top", fontsize=7.5)
    zeros = f"{n_zero} zero channels"
    ax.text(4 - 2 * n_zero / total, -0.15, zeros, ha="center", va="top", fontsize=7.5)
    title = f"output: {lay.in_channels} → {total} channels, {out}×{out}\nno parameters"
    ax.set_title(title, fontsize=8)
    ax.set_xlim(-0.1, 4.1)
    ax.set_ylim(-1.0, 1.6)
    ax.axis("off")


# --------------------------------------------------------------------------- unravelled
def unravelled_figure(blocks: nn.Module | Sequence[nn.Module]) -> Figure:
    """Veit et al.'s Fig. 1: the chain of blocks (left) and the same net as its paths (right).

    Right panel: one column per path, the branches ``f_i`` it passes through filled, skipped
    ones a bare line; every path starts at the input and all end in one sum.

    Example:
        >>> fig = unravelled_figure(resnet56().layer1[:3])
    """
    lay = unravelled_layout(blocks)
    n = lay.n_blocks
    with book_style():
        fig, (left, right) = plt.subplots(1, 2, figsize=(7.0, 0.7 * n + 1.6), width_ratios=[1, 2.4])
        fig.subplots_adjust(left=0.01, right=0.99, top=0.86, bottom=0.02, wspace=0.05)
        _draw_chain(left, lay)
        _draw_paths(right, lay)
    fig.layouts = [lay]
    return fig


def _block_colour(lay: UnravelledLayout, i: int) -> str:
    return RESIDUAL_COLOR if lay.residual[i] else PLAIN_COLOR


def _draw_sum(ax, x: float, y: float, radius: float, color: str, fontsize: float) -> None:
    ax.add_patch(Circle((x, y), radius, facecolor="white", edgecolor=color, lw=0.9, zorder=3))
    ax.text(x, y, "+", ha="center", va="center", fontsize=fontsize, color=color, zorder=4)


def _draw_chain(ax, lay: UnravelledLayout) -> None:
    """The blocks one after the other, each residual one with its shortcut and its sum."""
    n = lay.n_blocks
    ax.text(0, 0.35, "x", ha="center", va="bottom", fontsize=9)
    _arrow(ax, (0, 0.3), (0, -n - 0.1))
    ax.text(0, -n - 0.15, "y", ha="center", va="top", fontsize=9)
    for i in range(n):
        y, color = -(i + 0.5), _block_colour(lay, i)
        _box(ax, 0, y, 0.8, 0.5, f"f{i + 1}", face=_tint(color, 0.7), edge=color, fontsize=8)
        if lay.residual[i]:
            ax.plot(
                [0, 0.7, 0.7, 0.12], [y + 0.45, y + 0.45, y - 0.45, y - 0.45], color=color, lw=1
            )
            _draw_sum(ax, 0, y - 0.45, 0.09, color, 7)
    ax.set_title(f"{n} blocks in a chain", fontsize=8.5)
    ax.set_xlim(-1.2, 1.4)
    ax.set_ylim(-n - 0.7, 0.9)
    ax.set_aspect("equal")
    ax.axis("off")


def _draw_paths(ax, lay: UnravelledLayout) -> None:
    """One column per path, from the input x to one sum, with the branches it passes through."""
    n, m = lay.n_blocks, len(lay.paths)
    middle = (m - 1) / 2
    for x, path in enumerate(lay.paths):
        ax.plot([middle, x], [0.45, 0.1], color="#999999", lw=0.6)
        ax.plot([x, x], [0.1, -n + 0.1], color="#999999", lw=0.6)
        ax.plot([x, middle], [-n + 0.1, -n - 0.25], color="#999999", lw=0.6)
        for i in path.through:
            color = _block_colour(lay, i)
            face = _tint(color, 0.7)
            _box(ax, x, -(i + 0.5) + 0.1, 0.62, 0.5, f"f{i + 1}", face=face, edge=color, fontsize=7)
    ax.text(middle, 0.5, "x", ha="center", va="bottom", fontsize=9)
    _draw_sum(ax, middle, -n - 0.38, 0.14, RESIDUAL_COLOR, 8)
    ax.set_title(f"the same net unravelled: {m} paths (2^{sum(lay.residual)})", fontsize=8.5)
    ax.set_xlim(-0.6, m - 0.4)
    ax.set_ylim(-n - 0.7, 0.9)
    ax.axis("off")
