"""Diagrams drawn from a model object, never by hand (chapters 1, 3-6, 8, 9).

A hand-drawn figure can disagree with the code beside it; these cannot. Every diagram is drawn in
two steps:

1. a ``*_layout`` function reads a model object and returns plain data (dataclasses of strings
   and ints): the layers in the order the forward pass runs them, their widths and strides, the
   shortcuts and their kind, the resolution of every stage. Blocks are traced with ``torch.fx``
   (so the order of conv, BN, ReLU and the addition is the one ``forward`` executes); whole
   networks are walked with forward hooks on the meta device (shapes only, no memory);
2. a ``*_figure`` function draws exactly that layout with matplotlib and returns the Figure.
   Every box it draws carries the ``gid`` ``"box"``, so tests can count them.

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

import itertools
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyBboxPatch
from torch import fx, nn
from torch.func import functional_call

from ._checks import check_int, check_module
from .blocks import ZeroPadShortcut
from .plots import OTHER_COLOR, PLAIN_COLOR, RESIDUAL_COLOR, book_style

__all__ = [
    "BlockLayout",
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

#: The block classes drawn as blocks (torchvision's blocks have the same class names).
BLOCK_NAMES = ("BasicBlock", "Bottleneck", "PreActBlock")
_GREY = "#555555"
_NORM_FILL = "#EEEEEE"
_BOX = "box"  # the gid of every drawn box


# --------------------------------------------------------------------------- plain data
@dataclass(frozen=True)
class Step:
    """One operation of a block's residual branch, in forward order."""

    name: str  #: the submodule's name, e.g. "conv1"; "add" for the addition
    kind: str  #: "conv", "norm", "relu", "add" or "other"
    label: str  #: what the box says, e.g. "3×3 conv, 64, /2"
    in_channels: int | None = None  #: convs only
    out_channels: int | None = None  #: convs only
    stride: int = 1  #: convs only


@dataclass(frozen=True)
class Shortcut:
    """A block's shortcut: where it leaves the branch and what it does to x."""

    kind: str  #: "identity", "projection" (option B/C) or "zero-pad" (option A)
    label: str  #: e.g. "identity", "1×1 conv, 128, /2 + BN", "subsample /2, pad 16→32"
    source: int  #: index into ``steps`` of the op whose output it takes; -1 for the input x
    target: int  #: index into ``steps`` of the addition
    stride: int = 1


@dataclass(frozen=True)
class BlockLayout:
    """A block as plain data: the branch's steps in forward order, and its shortcut."""

    title: str
    steps: tuple[Step, ...]
    shortcut: Shortcut | None  #: ``None`` for a plain block
    in_channels: int
    out_channels: int

    @property
    def residual(self) -> bool:
        return self.shortcut is not None

    @property
    def widths(self) -> tuple[int, ...]:
        """Input width, then every conv's output width: (256, 64, 64, 256) for a Bottleneck."""
        convs = [s for s in self.steps if s.kind == "conv"]
        return (self.in_channels, *(s.out_channels for s in convs))


@dataclass(frozen=True)
class Layer:
    """One drawn layer of a network (a conv, a pool or a fully-connected layer)."""

    name: str  #: qualified module name, e.g. "layer2.0.conv1"
    kind: str  #: "conv", "pool" or "fc"
    label: str  #: e.g. "3×3 conv, 128, /2", "pool, /2", "fc 1000"
    out_channels: int
    stride: int
    resolution: int  #: output height (1 after global pooling and for fc layers)
    block: int | None  #: index into ``NetworkLayout.blocks``, None outside blocks


@dataclass(frozen=True)
class BlockSpan:
    """Which layers of a network one block covers, and its shortcut."""

    name: str  #: e.g. "layer2.0"
    stage: str  #: the parent module, e.g. "layer2"
    first: int  #: index of its first layer in ``NetworkLayout.layers``
    last: int  #: index of its last layer
    shortcut: str | None  #: "identity", "projection", "zero-pad", or None (plain block)
    widths: tuple[int, ...]  #: input width, then each conv's output width


@dataclass(frozen=True)
class NetworkLayout:
    """A network as plain data: its layers in forward order, its blocks, the input size."""

    title: str
    layers: tuple[Layer, ...]
    blocks: tuple[BlockSpan, ...]
    input_size: int
    family: str  #: "plain", "residual" or "other" (no blocks: VGG)

    @property
    def resolutions(self) -> tuple[int, ...]:
        """The distinct output resolutions, largest first (the rows of Fig. 3)."""
        return tuple(sorted({layer.resolution for layer in self.layers}, reverse=True))

    @property
    def weighted(self) -> int:
        """Convs and fc layers drawn, shortcut projections excluded: the paper's depth."""
        return sum(layer.kind in ("conv", "fc") for layer in self.layers)


@dataclass(frozen=True)
class ZeroPadLayout:
    """What option A's shortcut does, read off its output for an input of unique values."""

    in_channels: int
    out_channels: int
    stride: int
    size: int  #: the example input's height and width
    kept: tuple[tuple[int, int], ...]  #: input pixels (row, col) that reach the output
    zero_channels: tuple[int, ...]  #: output channels that are all zero


@dataclass(frozen=True)
class Path:
    """One path of the unravelled view: the residual functions it passes through."""

    through: tuple[int, ...]  #: block indices (0-based) whose branch the path passes


@dataclass(frozen=True)
class UnravelledLayout:
    """n blocks seen as paths (Veit et al. 2016): 2^(residual blocks) of them."""

    n_blocks: int
    residual: tuple[bool, ...]  #: per block: has a shortcut
    paths: tuple[Path, ...] = field(default_factory=tuple)


# --------------------------------------------------------------------------- blocks
class _Tracer(fx.Tracer):
    """Trace a block's forward, keeping option A's shortcut as one node."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, ZeroPadShortcut) or super().is_leaf_module(m, qualname)


def _is_block(module: nn.Module) -> bool:
    return type(module).__name__ in BLOCK_NAMES and hasattr(module, "downsample")


def _check_block(name: str, block: object) -> nn.Module:
    check_module(name, block)
    if not _is_block(block):
        raise TypeError(
            f"{name} must be a residual block ({', '.join(BLOCK_NAMES)}), "
            f"got {type(block).__name__}"
        )
    return block


def _conv_label(conv: nn.Conv2d) -> str:
    k = conv.kernel_size[0]
    stride = conv.stride[0]
    groups = f", groups {conv.groups}" if conv.groups > 1 else ""
    return f"{k}×{k} conv, {conv.out_channels}{groups}" + (f", /{stride}" if stride > 1 else "")


def _shortcut_label(module: nn.Module | None) -> tuple[str, str, int]:
    if module is None:
        return "identity", "identity", 1
    if isinstance(module, ZeroPadShortcut):
        return (
            "zero-pad",
            f"option A: subsample /{module.stride},\npad {module.in_channels}→"
            f"{module.out_channels} with zeros",
            module.stride,
        )
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    if convs:
        conv = convs[0]
        norm = " + BN" if any(isinstance(m, nn.BatchNorm2d) for m in module.modules()) else ""
        return "projection", f"projection:\n{_conv_label(conv)}{norm}", conv.stride[0]
    return "projection", f"projection: {type(module).__name__}", 1


def block_layout(block: nn.Module, title: str | None = None) -> BlockLayout:
    """Read a block's forward pass (``torch.fx``): branch steps in order, and its shortcut.

    Args:
        block: a ``BasicBlock``, ``Bottleneck`` or ``PreActBlock`` (resnet_edu's or
            torchvision's BasicBlock/Bottleneck).
        title: the diagram's title; default the class name, "plain" or "residual".

    Example:
        >>> block_layout(Bottleneck(256, 64)).widths
        (256, 64, 64, 256)
    """
    _check_block("block", block)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None, got {type(title).__name__}")
    graph = _Tracer().trace(block)
    modules = dict(block.named_modules())
    nodes = [n for n in graph.nodes if n.op not in ("placeholder", "output")]
    adds = [
        n
        for n in nodes
        if n.op == "call_function"
        and n.target in (operator.add, torch.add)
        or (n.op == "call_method" and n.target in ("add", "add_"))
    ]

    def ancestors(node: fx.Node) -> set[fx.Node]:
        seen, todo = set(), [node]
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            todo.extend(a for a in current.all_input_nodes)
        return seen

    shortcut_nodes: set[fx.Node] = set()
    shortcut_info = None
    if adds:
        add = adds[-1]
        a, b = add.all_input_nodes[:2]
        only_a, only_b = ancestors(a) - ancestors(b), ancestors(b) - ancestors(a)
        short, short_only = (b, only_b) if len(only_b) <= len(only_a) else (a, only_a)
        shortcut_nodes = short_only
        sources = [n for n in ancestors(short) - short_only]
        # the source is the latest common node: the one with the most ancestors
        source = max(sources, key=lambda n: len(ancestors(n)))
        module = None
        for n in short_only:
            if n.op == "call_module":
                top = n.target.split(".")[0]
                module = modules.get(top)
        shortcut_info = (source, add, module)

    steps: list[Step] = []
    index: dict[fx.Node, int] = {}
    for n in nodes:
        if n in shortcut_nodes:
            continue
        if n.op == "call_module":
            m = modules[n.target]
            if isinstance(m, nn.Conv2d):
                step = Step(
                    n.target, "conv", _conv_label(m), m.in_channels, m.out_channels, m.stride[0]
                )
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)):
                step = Step(n.target, "norm", "BN" if isinstance(m, nn.BatchNorm2d) else "norm")
            elif isinstance(m, nn.Identity):
                continue  # e.g. norm_layer=nn.Identity: no operation to draw
            elif isinstance(m, nn.ReLU):
                step = Step(n.target, "relu", "ReLU")
            else:
                step = Step(n.target, "other", type(m).__name__)
        elif n in adds:
            step = Step("add", "add", "+")
        elif n.op == "call_function" and getattr(n.target, "__name__", "") == "relu":
            step = Step("relu", "relu", "ReLU")
        else:
            continue
        index[n] = len(steps)
        steps.append(step)

    convs = [s for s in steps if s.kind == "conv"]
    if not convs:
        raise ValueError(f"block has no convolution on its branch: {type(block).__name__}")
    shortcut = None
    if shortcut_info is not None:
        source, add, module = shortcut_info
        kind, label, stride = _shortcut_label(module)
        shortcut = Shortcut(kind, label, index.get(source, -1), index[add], stride)
    if title is None:
        title = f"{'residual' if shortcut else 'plain'} {type(block).__name__}"
    return BlockLayout(title, tuple(steps), shortcut, convs[0].in_channels, convs[-1].out_channels)


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
    from matplotlib.colors import to_rgb

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
    blocks = [blocks] if isinstance(blocks, nn.Module) else list(blocks)
    if not blocks:
        raise ValueError("blocks must be a block or a non-empty list of blocks")
    if titles is not None and (isinstance(titles, str) or len(titles) != len(blocks)):
        raise ValueError(f"titles must be a list of {len(blocks)} strings, got {titles!r}")
    layouts = [
        block_layout(_check_block(f"blocks[{i}]", b), None if titles is None else titles[i])
        for i, b in enumerate(blocks)
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
def _family(blocks: Sequence[BlockSpan]) -> str:
    if not blocks:
        return "other"
    return "residual" if any(b.shortcut for b in blocks) else "plain"


def network_layout(
    model: nn.Module, input_size: int = 224, title: str | None = None
) -> NetworkLayout:
    """Walk a network's forward pass on the meta device: one entry per conv, pool and fc layer.

    Shortcut projections are not layers (the paper's convention); they are recorded on their
    block instead. Resolutions are the output heights of a forward pass of a
    ``(1, C, input_size, input_size)`` meta tensor -- shapes only, no memory, no weights touched.

    Args:
        model: any image classifier built from ``nn.Conv2d``/pools/``nn.Linear`` (resnet_edu's
            ResNets, plain nets, CIFAR nets, VGG; torchvision's too).
        input_size: input height and width (224 for ImageNet nets, 32 for CIFAR).
        title: default the model's class name.

    Example:
        >>> [layer.resolution for layer in network_layout(resnet34()).layers[:2]]
        [112, 56]
    """
    check_module("model", model)
    check_int("input_size", input_size, minimum=1)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None, got {type(title).__name__}")
    names = {m: n for n, m in model.named_modules()}
    in_channels = getattr(model, "in_channels", None)
    if in_channels is None:
        first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
        if first is None:
            raise ValueError("model has no Conv2d; network_layout draws convolutional nets")
        in_channels = first.in_channels

    shortcut_modules: set[nn.Module] = set()
    for m in model.modules():
        if _is_block(m) and m.downsample is not None:
            shortcut_modules.update(m.downsample.modules())

    records: list[tuple[nn.Module, torch.Size, torch.Size]] = []
    spans: list[list] = []  # [module, first index, last index]
    handles = []

    def leaf_hook(module, inputs, output):
        records.append((module, inputs[0].shape, output.shape))

    def block_pre(module, inputs):
        spans.append([module, len(records), None])

    def block_post(module, inputs, output):
        for span in reversed(spans):
            if span[0] is module and span[2] is None:
                span[2] = len(records)
                break

    drawn = (
        nn.Conv2d,
        nn.Linear,
        nn.MaxPool2d,
        nn.AvgPool2d,
        nn.AdaptiveAvgPool2d,
        nn.AdaptiveMaxPool2d,
    )
    for m in model.modules():
        if isinstance(m, drawn) and m not in shortcut_modules:
            handles.append(m.register_forward_hook(leaf_hook))
        if _is_block(m):
            handles.append(m.register_forward_pre_hook(block_pre))
            handles.append(m.register_forward_hook(block_post))
    state = {
        n: torch.empty(t.shape, dtype=t.dtype, device="meta")
        for n, t in itertools.chain(model.named_parameters(), model.named_buffers())
    }
    flags = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            functional_call(
                model, state, (torch.empty(1, in_channels, input_size, input_size, device="meta"),)
            )
    except (RuntimeError, ValueError) as err:
        raise ValueError(
            f"a forward pass at input_size={input_size} failed ({err}); choose an input size "
            "the model accepts (224 for ImageNet nets, 32 for CIFAR nets)"
        ) from err
    finally:
        for h in handles:
            h.remove()
        for m, flag in flags.items():
            m.training = flag

    layers: list[Layer] = []
    record_to_layer: dict[int, int] = {}
    for i, (m, in_shape, out_shape) in enumerate(records):
        resolution = int(out_shape[-1]) if len(out_shape) == 4 else 1
        if isinstance(m, nn.Conv2d):
            label, kind, stride, width = _conv_label(m), "conv", m.stride[0], m.out_channels
        elif isinstance(m, nn.Linear):
            label, kind, stride, width = f"fc {m.out_features}", "fc", 1, m.out_features
        else:
            if tuple(in_shape) == tuple(out_shape):
                continue  # a pool that changes nothing (VGG's 7x7 adaptive pool at 224)
            stride = max(1, int(in_shape[-1]) // max(1, resolution))
            glob = resolution == 1
            what = "avg pool" if isinstance(m, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)) else "pool"
            label = f"global {what}" if glob else f"{what}, /{stride}"
            kind, width = "pool", int(out_shape[1])
        record_to_layer[i] = len(layers)
        layers.append(Layer(names.get(m, "?"), kind, label, width, stride, resolution, None))

    blocks: list[BlockSpan] = []
    for module, start, end in spans:
        inside = [record_to_layer[i] for i in range(start, end) if i in record_to_layer]
        if not inside:
            continue
        residual = getattr(module, "residual", True)
        kind = _shortcut_label(module.downsample)[0] if residual else None
        name = names.get(module, "?")
        convs = [layers[j] for j in inside if layers[j].kind == "conv"]
        first_conv = next(m for m in module.modules() if isinstance(m, nn.Conv2d))
        widths = (first_conv.in_channels, *(c.out_channels for c in convs))
        for j in inside:
            layers[j] = Layer(**{**layers[j].__dict__, "block": len(blocks)})
        stage = name.rsplit(".", 1)[0] if "." in name else ""
        blocks.append(BlockSpan(name, stage, inside[0], inside[-1], kind, widths))
    return NetworkLayout(
        title or type(model).__name__, tuple(layers), tuple(blocks), input_size, _family(blocks)
    )


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
    models = [models] if isinstance(models, nn.Module) else list(models)
    if not models:
        raise ValueError("models must be a model or a non-empty list of models")
    if titles is not None and (isinstance(titles, str) or len(titles) != len(models)):
        raise ValueError(f"titles must be a list of {len(models)} strings, got {titles!r}")
    layouts = [
        network_layout(
            check_module(f"models[{i}]", m), input_size, None if titles is None else titles[i]
        )
        for i, m in enumerate(models)
    ]
    positions, bands = _rows(layouts)
    n_rows = bands[-1][1]
    step = 0.26  # vertical distance between rows, in inches
    col_w = 1.6
    with book_style():
        fig, ax = plt.subplots(figsize=(7.0, n_rows * step + 0.8))
        fig.subplots_adjust(left=0.0, right=1.0, top=1.0, bottom=0.0)
        for k, lay in enumerate(layouts):
            x = 1.55 + k * (col_w + 0.6)
            color = _family_color(lay.family)
            ax.text(
                x,
                0.75,
                f"{lay.title}\n({lay.weighted} weighted layers)",
                ha="center",
                va="center",
                fontsize=8,
                weight="bold",
            )
            ys = [-positions[(k, i)] * 1.0 for i in range(len(lay.layers))]
            for i, layer in enumerate(lay.layers):
                face = "white" if layer.kind == "pool" else _tint(color, 0.72)
                edge = _GREY if layer.kind == "pool" else color
                _box(ax, x, ys[i], col_w, 0.72, layer.label, face=face, edge=edge, fontsize=6.8)
                if i:
                    _arrow(ax, (x, ys[i - 1] - 0.36), (x, ys[i] + 0.36), lw=0.6)
            for block in lay.blocks:
                if block.shortcut is None:
                    continue
                y0, y1 = ys[block.first] + 0.5, ys[block.last] - 0.5
                xr = x + col_w / 2 + 0.14
                ls = "-" if block.shortcut == "identity" else (0, (2.0, 1.5))
                ax.plot(
                    [x + 0.05, xr, xr, x + col_w / 2],
                    [y0, y0, y1, y1],
                    color=color,
                    lw=1.1,
                    ls=ls,
                    solid_joinstyle="round",
                )
        for res, row in bands[:-1]:
            label = f"output\n{res}×{res}" if res > 1 else "output\n1×1"
            ax.text(0.1, -row + 0.3, label, ha="left", va="top", fontsize=6.8, color=_GREY)
            if row:
                ax.axhline(-row + 0.5, color="#BBBBBB", lw=0.5, ls=(0, (4, 3)))
        ax.set_xlim(0, 1.55 + len(layouts) * (col_w + 0.6) - 0.45)
        ax.set_ylim(-n_rows + 0.3, 1.4)
        ax.axis("off")
        ax.grid(False)
    fig.layouts = layouts
    return fig


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
    color = _family_color(lay.family)
    stages: dict[str, list[BlockSpan]] = {}
    for block in lay.blocks:
        stages.setdefault(block.stage, []).append(block)
    stem = [layer for layer in lay.layers[: lay.blocks[0].first]]
    head = [layer for layer in lay.layers[lay.blocks[-1].last + 1 :]]
    n_boxes = len(lay.blocks)
    slot = 0.32
    gap = 0.45
    width = 1.3 + n_boxes * slot + len(stages) * gap + 1.3
    with book_style():
        fig, ax = plt.subplots(figsize=(7.0, 2.5))
        fig.subplots_adjust(left=0.01, right=0.99, top=0.88, bottom=0.02)
        stem_text = "stem\n" + "\n".join(layer.label for layer in stem)
        _box(ax, 0.6, 0, 1.1, 1.3, stem_text, face=_NORM_FILL, edge=_GREY, fontsize=6.5)
        ax.text(
            0.6,
            -0.8,
            f"{stem[-1].resolution}×{stem[-1].resolution}",
            ha="center",
            va="top",
            fontsize=7,
            color=_GREY,
        )
        x = 1.3 + gap / 2
        previous = 1.15
        for stage, blocks in stages.items():
            _arrow(ax, (previous, 0), (x, 0), lw=0.8)
            start = x
            for block in blocks:
                face = _tint(color, 0.35 if block.shortcut not in (None, "identity") else 0.72)
                _box(ax, x + slot * 0.45, 0, slot * 0.8, 0.9, "", face=face, edge=color)
                x += slot
            res = lay.layers[blocks[-1].last].resolution
            widths = " → ".join(str(w) for w in blocks[0].widths[1:])
            ax.text(
                (start + x) / 2,
                0.62,
                f"{stage}\n{len(blocks)} blocks",
                ha="center",
                va="bottom",
                fontsize=7,
            )
            ax.text(
                (start + x) / 2,
                -0.6,
                f"{widths}\n{res}×{res}",
                ha="center",
                va="top",
                fontsize=6.5,
                color=_GREY,
            )
            previous = x - slot * 0.1
            x += gap
        _arrow(ax, (previous, 0), (x - gap / 2, 0), lw=0.8)
        head_text = "\n".join(layer.label for layer in head)
        _box(
            ax, x - gap / 2 + 0.6, 0, 1.1, 0.9, head_text, face=_NORM_FILL, edge=_GREY, fontsize=6.5
        )
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


# --------------------------------------------------------------------------- option A
def zero_pad_layout(shortcut: ZeroPadShortcut, size: int = 6) -> ZeroPadLayout:
    """Run option A's shortcut on an input whose every entry is unique, and read what survived.

    Args:
        shortcut: a ``ZeroPadShortcut`` (or a block whose ``downsample`` is one).
        size: height and width of the example input.

    Example:
        >>> zero_pad_layout(ZeroPadShortcut(16, 32, 2), size=4).kept
        ((0, 0), (0, 2), (2, 0), (2, 2))
    """
    if _is_block(shortcut) if isinstance(shortcut, nn.Module) else False:
        shortcut = shortcut.downsample
    if not isinstance(shortcut, ZeroPadShortcut):
        raise TypeError(
            "shortcut must be a ZeroPadShortcut (or a block with one as downsample), got "
            f"{type(shortcut).__name__}"
        )
    check_int("size", size, minimum=1)
    c = shortcut.in_channels
    x = torch.arange(1, c * size * size + 1, dtype=torch.float64).reshape(1, c, size, size)
    with torch.no_grad():
        y = shortcut(x)[0]
    position = {int(v): divmod(i, size) for i, v in enumerate(x[0, 0].flatten())}
    kept = tuple(sorted(position[int(v)] for v in y[0].flatten()))
    zeros = tuple(i for i in range(y.shape[0]) if bool((y[i] == 0).all()))
    return ZeroPadLayout(c, int(y.shape[0]), shortcut.stride, size, kept, zeros)


def zero_pad_figure(shortcut: nn.Module, size: int = 6) -> Figure:
    """Option A's shortcut: which pixels it keeps, and the zero channels it appends.

    Left: one input channel (``size`` × ``size``), the pixels that reach the output filled.
    Right: the channels of the output -- the input's channels, subsampled, then zero channels.

    Example:
        >>> fig = zero_pad_figure(ZeroPadShortcut(16, 32, 2))
    """
    lay = zero_pad_layout(shortcut, size)
    out = len({r for r, _ in lay.kept})
    with book_style():
        fig, axes = plt.subplots(1, 3, figsize=(7.0, 2.5), width_ratios=[1, 0.7, 1.4])
        fig.subplots_adjust(left=0.02, right=0.98, top=0.76, bottom=0.05, wspace=0.15)
        ax = axes[0]
        kept = set(lay.kept)
        for r in range(lay.size):
            for c in range(lay.size):
                face = _tint(RESIDUAL_COLOR, 0.2) if (r, c) in kept else "white"
                ax.add_patch(
                    plt.Rectangle(
                        (c, -r - 1), 1, 1, facecolor=face, edgecolor=_GREY, lw=0.6, gid=_BOX
                    )
                )
        ax.set_title(
            f"input: {lay.size}×{lay.size}, {lay.in_channels} channels\n"
            f"keep every {lay.stride}nd pixel"
            if lay.stride == 2
            else f"input: {lay.size}×{lay.size}, {lay.in_channels} channels\n"
            f"keep every pixel {lay.stride} apart",
            fontsize=8,
        )
        ax.set_xlim(-0.2, lay.size + 0.2)
        ax.set_ylim(-lay.size - 0.2, 0.2)
        ax.set_aspect("equal")
        ax.axis("off")
        ax = axes[1]
        for r in range(out):
            for c in range(out):
                ax.add_patch(
                    plt.Rectangle(
                        (c, -r - 1),
                        1,
                        1,
                        facecolor=_tint(RESIDUAL_COLOR, 0.2),
                        edgecolor=_GREY,
                        lw=0.6,
                        gid=_BOX,
                    )
                )
        ax.set_title(f"x[:, :, ::{lay.stride}, ::{lay.stride}]\n{out}×{out}", fontsize=8)
        ax.set_xlim(-0.2, lay.size + 0.2)
        ax.set_ylim(-lay.size - 0.2, 0.2)
        ax.set_aspect("equal")
        ax.axis("off")
        ax = axes[2]
        total = lay.out_channels
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
        n_zero = len(lay.zero_channels)
        ax.text(
            2 * (total - n_zero) / total,
            -0.15,
            f"{total - n_zero} channels of x",
            ha="center",
            va="top",
            fontsize=7.5,
        )
        ax.text(
            4 - 2 * n_zero / total,
            -0.15,
            f"{n_zero} zero channels",
            ha="center",
            va="top",
            fontsize=7.5,
        )
        ax.set_title(
            f"output: {lay.in_channels} → {total} channels, {out}×{out}\nno parameters", fontsize=8
        )
        ax.set_xlim(-0.1, 4.1)
        ax.set_ylim(-1.0, 1.6)
        ax.axis("off")
        fig.suptitle(
            "Shortcut option A (paper section 3.3): subsample, then pad with zeros", fontsize=9
        )
    fig.layouts = [lay]
    return fig


# --------------------------------------------------------------------------- unravelled
def unravelled_layout(blocks: nn.Module | Sequence[nn.Module]) -> UnravelledLayout:
    """The paths through a chain of blocks (Veit et al. 2016): one per subset of the branches.

    A residual block offers two routes (its branch F or its shortcut); a plain block only one.
    So n residual blocks give 2^n paths.

    Args:
        blocks: an ``nn.Sequential`` of blocks (e.g. ``model.layer1[:3]``) or a list; at most 6.

    Example:
        >>> len(unravelled_layout(resnet56().layer1[:3]).paths)
        8
    """
    blocks = list(blocks) if isinstance(blocks, (nn.Sequential, list, tuple)) else [blocks]
    if not blocks or len(blocks) > 6:
        raise ValueError(f"blocks must hold 1 to 6 blocks (2^6 = 64 paths), got {len(blocks)}")
    residual = tuple(
        block_layout(_check_block(f"blocks[{i}]", b)).residual for i, b in enumerate(blocks)
    )
    choices = [(False, True) if r else (True,) for r in residual]
    paths = tuple(
        Path(tuple(i for i, through in enumerate(combo) if through))
        for combo in itertools.product(*choices)
    )
    paths = tuple(sorted(paths, key=lambda p: (len(p.through), p.through)))
    return UnravelledLayout(len(blocks), residual, paths)


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
        # the chain
        ys = [-(i + 0.5) for i in range(n)]
        left.text(0, 0.35, "x", ha="center", va="bottom", fontsize=9)
        _arrow(left, (0, 0.3), (0, -n - 0.1))
        left.text(0, -n - 0.15, "y", ha="center", va="top", fontsize=9)
        for i, y in enumerate(ys):
            color = RESIDUAL_COLOR if lay.residual[i] else PLAIN_COLOR
            _box(left, 0, y, 0.8, 0.5, f"f{i + 1}", face=_tint(color, 0.7), edge=color, fontsize=8)
            if lay.residual[i]:
                left.plot(
                    [0, 0.7, 0.7, 0.12], [y + 0.45, y + 0.45, y - 0.45, y - 0.45], color=color, lw=1
                )
                left.add_patch(
                    Circle(
                        (0, y - 0.45), 0.09, facecolor="white", edgecolor=color, lw=0.9, zorder=3
                    )
                )
                left.text(
                    0, y - 0.45, "+", ha="center", va="center", fontsize=7, color=color, zorder=4
                )
        left.set_title(f"{n} blocks in a chain", fontsize=8.5)
        left.set_xlim(-1.2, 1.4)
        left.set_ylim(-n - 0.7, 0.9)
        left.set_aspect("equal")
        left.axis("off")
        # the paths
        m = len(lay.paths)
        xs = [i for i in range(m)]
        for x, path in zip(xs, lay.paths, strict=True):
            right.plot([(m - 1) / 2, x], [0.45, 0.1], color="#999999", lw=0.6)
            right.plot([x, x], [0.1, -n + 0.1], color="#999999", lw=0.6)
            right.plot([x, (m - 1) / 2], [-n + 0.1, -n - 0.25], color="#999999", lw=0.6)
            for i in path.through:
                color = RESIDUAL_COLOR if lay.residual[i] else PLAIN_COLOR
                _box(
                    right,
                    x,
                    ys[i] + 0.1,
                    0.62,
                    0.5,
                    f"f{i + 1}",
                    face=_tint(color, 0.7),
                    edge=color,
                    fontsize=7,
                )
        right.text((m - 1) / 2, 0.5, "x", ha="center", va="bottom", fontsize=9)
        right.add_patch(
            Circle(
                ((m - 1) / 2, -n - 0.38),
                0.14,
                facecolor="white",
                edgecolor=RESIDUAL_COLOR,
                lw=0.9,
                zorder=3,
            )
        )
        right.text(
            (m - 1) / 2,
            -n - 0.38,
            "+",
            ha="center",
            va="center",
            fontsize=8,
            color=RESIDUAL_COLOR,
            zorder=4,
        )
        right.set_title(f"the same net unravelled: {m} paths (2^{sum(lay.residual)})", fontsize=8.5)
        right.set_xlim(-0.6, m - 0.4)
        right.set_ylim(-n - 0.7, 0.9)
        right.axis("off")
    fig.layouts = [lay]
    return fig
