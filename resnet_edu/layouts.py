"""The papers' figures as plain data, read off a model object (chapters 1, 2, 4, 5, 8, 9).

A ``*_layout`` function reads a model object and returns frozen dataclasses of strings and ints:
the layers in the order the forward pass runs them, their widths and strides, the shortcuts and
their kind, the resolution of every stage. ``resnet_edu.diagrams`` draws exactly these layouts
with matplotlib; this module imports no plotting library, and its tests check the data.

- Blocks are traced with ``torch.fx`` (``block_layout``): the order of conv, BN, ReLU and the
  addition is the one ``forward`` executes.
- Whole networks are walked with forward hooks on the meta device (``network_layout``):
  shapes only, no memory, no weight touched.
- Option A's shortcut is run on an input of unique values and read off its output
  (``zero_pad_layout``); a chain of blocks is unravelled into its paths (``unravelled_layout``,
  Veit et al. 2016).

What counts as a block is ``gradflow.is_block``'s answer, the package's one definition.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import fx, nn

from ._checks import BATCH_NORMS, NORM_LAYERS, check_int, check_module
from .blocks import ZeroPadShortcut
from .gradflow import DEFAULT_BLOCK_TYPES, is_block
from .measure import run_on_meta

__all__ = [
    "BlockLayout",
    "BlockSpan",
    "Layer",
    "NetworkLayout",
    "Path",
    "Shortcut",
    "Step",
    "UnravelledLayout",
    "ZeroPadLayout",
    "block_layout",
    "check_block",
    "network_layout",
    "unravelled_layout",
    "zero_pad_layout",
]

#: The layers that a network diagram draws, one box each (shortcut projections excepted).
DRAWN = (
    nn.Conv2d,
    nn.Linear,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
)


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


def check_block(name: str, block: object) -> nn.Module:
    """Return ``block`` if it is a block (``gradflow.is_block``), else raise naming ``name``."""
    check_module(name, block)
    if not is_block(block):
        raise TypeError(
            f"{name} must be a residual block ({', '.join(DEFAULT_BLOCK_TYPES)}), "
            f"got {type(block).__name__}"
        )
    return block


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
    check_block("block", block)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None, got {type(title).__name__}")
    modules = dict(block.named_modules())
    nodes = [n for n in _Tracer().trace(block).nodes if n.op not in ("placeholder", "output")]
    adds = [n for n in nodes if _is_add(n)]
    source, only_shortcut, downsample = _shortcut_path(adds[-1], modules) if adds else (None,) * 3
    steps: list[Step] = []
    index: dict[fx.Node, int] = {}
    for node in nodes:
        step = None if node in (only_shortcut or ()) else _step(node, modules, adds)
        if step is not None:
            index[node] = len(steps)
            steps.append(step)
    convs = [s for s in steps if s.kind == "conv"]
    if not convs:
        raise ValueError(f"block has no convolution on its branch: {type(block).__name__}")
    shortcut = None
    if adds:
        kind, label, stride = _shortcut_label(downsample)
        shortcut = Shortcut(kind, label, index.get(source, -1), index[adds[-1]], stride)
    if title is None:
        title = f"{'residual' if shortcut else 'plain'} {type(block).__name__}"
    return BlockLayout(title, tuple(steps), shortcut, convs[0].in_channels, convs[-1].out_channels)


def _is_add(node: fx.Node) -> bool:
    if node.op == "call_function":
        return node.target in (operator.add, torch.add)
    return node.op == "call_method" and node.target in ("add", "add_")


def _ancestors(node: fx.Node) -> set[fx.Node]:
    seen, todo = set(), [node]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(current.all_input_nodes)
    return seen


def _shortcut_path(
    add: fx.Node, modules: dict[str, nn.Module]
) -> tuple[fx.Node, set[fx.Node], nn.Module | None]:
    """Where the shortcut leaves the branch, the nodes only it runs, and its module."""
    a, b = add.all_input_nodes[:2]
    only_a, only_b = _ancestors(a) - _ancestors(b), _ancestors(b) - _ancestors(a)
    short, only = (b, only_b) if len(only_b) <= len(only_a) else (a, only_a)
    # the source is the latest common node: the one with the most ancestors
    source = max(_ancestors(short) - only, key=lambda n: len(_ancestors(n)))
    tops = {n.target.split(".")[0] for n in only if n.op == "call_module"}
    return source, only, modules[tops.pop()] if tops else None


def _step(node: fx.Node, modules: dict[str, nn.Module], adds: list[fx.Node]) -> Step | None:
    """The drawn step of one node of the branch, or ``None`` for what is not drawn."""
    if node in adds:
        return Step("add", "add", "+")
    if node.op == "call_function" and getattr(node.target, "__name__", "") == "relu":
        return Step("relu", "relu", "ReLU")
    if node.op != "call_module":
        return None
    m = modules[node.target]
    if isinstance(m, nn.Conv2d):
        return Step(node.target, "conv", _conv_label(m), m.in_channels, m.out_channels, m.stride[0])
    if isinstance(m, nn.Identity):
        return None  # e.g. norm_layer=nn.Identity: no operation to draw
    if isinstance(m, NORM_LAYERS):
        return Step(node.target, "norm", "BN" if isinstance(m, BATCH_NORMS) else "norm")
    if isinstance(m, nn.ReLU):
        return Step(node.target, "relu", "ReLU")
    return Step(node.target, "other", type(m).__name__)


# --------------------------------------------------------------------------- networks
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
    records, spans = _walk(model, input_size)
    names = {m: n for n, m in model.named_modules()}
    layers, layer_of = _layers(records, names)
    blocks: list[BlockSpan] = []
    for module, start, end in spans:
        inside = [layer_of[i] for i in range(start, end) if i in layer_of]
        if inside:
            for j in inside:
                layers[j] = replace(layers[j], block=len(blocks))
            blocks.append(_block_span(module, names[module], [layers[j] for j in inside], inside))
    family = ("residual" if any(b.shortcut for b in blocks) else "plain") if blocks else "other"
    return NetworkLayout(
        title or type(model).__name__, tuple(layers), tuple(blocks), input_size, family
    )


def _walk(model: nn.Module, input_size: int) -> tuple[list[tuple], list[list]]:
    """Run the model on the meta device: ``(module, input shape, output shape)`` of every drawn
    layer in the order they run, and ``[block, first record, end record]`` of every block."""
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if first is None:
        raise ValueError("model has no Conv2d; network_layout draws convolutional nets")
    projections = {
        m
        for b in model.modules()
        if is_block(b) and b.downsample is not None
        for m in b.downsample.modules()
    }
    records: list[tuple[nn.Module, torch.Size, torch.Size]] = []
    spans: list[list] = []
    handles = []
    for m in model.modules():
        if isinstance(m, DRAWN) and m not in projections:
            hook = m.register_forward_hook(lambda m, i, o: records.append((m, i[0].shape, o.shape)))
            handles.append(hook)
        if is_block(m):
            handles.append(
                m.register_forward_pre_hook(lambda m, i: spans.append([m, len(records), None]))
            )
            handles.append(
                m.register_forward_hook(lambda m, i, o: _close_span(spans, m, len(records)))
            )
    size = (1, getattr(model, "in_channels", first.in_channels), input_size, input_size)
    hint = "; choose an input size the model accepts (224 for ImageNet nets, 32 for CIFAR nets)"
    try:
        run_on_meta(model, size, hint=hint)
    finally:
        for handle in handles:
            handle.remove()
    return records, spans


def _close_span(spans: list[list], module: nn.Module, end: int) -> None:
    next(s for s in reversed(spans) if s[0] is module and s[2] is None)[2] = end


def _layers(records: list[tuple], names: dict[nn.Module, str]) -> tuple[list[Layer], dict]:
    """One ``Layer`` per drawn record, and ``{record index: layer index}``."""
    layers: list[Layer] = []
    layer_of: dict[int, int] = {}
    for i, (m, in_shape, out_shape) in enumerate(records):
        resolution = int(out_shape[-1]) if len(out_shape) == 4 else 1
        if isinstance(m, nn.Conv2d):
            label, kind, stride, width = _conv_label(m), "conv", m.stride[0], m.out_channels
        elif isinstance(m, nn.Linear):
            label, kind, stride, width = f"fc {m.out_features}", "fc", 1, m.out_features
        elif tuple(in_shape) == tuple(out_shape):
            continue  # a pool that changes nothing (VGG's 7x7 adaptive pool at 224)
        else:
            stride = max(1, int(in_shape[-1]) // max(1, resolution))
            what = "avg pool" if isinstance(m, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)) else "pool"
            label = f"global {what}" if resolution == 1 else f"{what}, /{stride}"
            kind, width = "pool", int(out_shape[1])
        layer_of[i] = len(layers)
        layers.append(Layer(names.get(m, "?"), kind, label, width, stride, resolution, None))
    return layers, layer_of


def _block_span(module: nn.Module, name: str, layers: list[Layer], inside: list[int]) -> BlockSpan:
    residual = getattr(module, "residual", True)
    kind = _shortcut_label(module.downsample)[0] if residual else None
    first_conv = next(m for m in module.modules() if isinstance(m, nn.Conv2d))
    widths = (first_conv.in_channels, *(x.out_channels for x in layers if x.kind == "conv"))
    stage = name.rsplit(".", 1)[0] if "." in name else ""
    return BlockSpan(name, stage, inside[0], inside[-1], kind, widths)


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
    if isinstance(shortcut, nn.Module) and is_block(shortcut):
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
        block_layout(check_block(f"blocks[{i}]", b)).residual for i, b in enumerate(blocks)
    )
    choices = [(False, True) if r else (True,) for r in residual]
    paths = tuple(
        Path(tuple(i for i, through in enumerate(combo) if through))
        for combo in itertools.product(*choices)
    )
    paths = tuple(sorted(paths, key=lambda p: (len(p.through), p.through)))
    return UnravelledLayout(len(blocks), residual, paths)
