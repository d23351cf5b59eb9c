"""Measuring a model without training it: parameters, mult-adds, depth, source (chapters 1-9).

Every chapter counts something about a network -- its parameters (chapters 1, 2, 7), its
multiply-adds (chapters 1, 4, 5, 7, 9), its depth in the paper's sense (chapters 4, 5) -- and
several print library code with ``inspect.getsource``. This module is the one home of those
helpers, so a chapter says ``measure.mult_adds(model)`` instead of redefining them.

Mult-adds are counted here with forward hooks on every ``Conv2d`` and ``Linear`` (the layers
the paper's Table 1 "FLOPs" and torchvision's ``meta["_ops"]`` count), on the meta device:
only shapes are computed, so ResNet-152 costs milliseconds and no memory. This needs no
torchinfo. ``torch.utils.flop_counter.FlopCounterMode`` counts 2 FLOPs per multiply-add of a
convolution or matrix product and nothing for BatchNorm, ReLU, pooling, additions or a linear
layer's bias: its total is exactly twice ours for every model of the package (the tests check
it). torchinfo (optional; the book's setup cell installs it) gives the same count
for bias-free layers (every ResNet conv; the tests check it layer by layer) and adds one term
per output for biases and BatchNorm's affine parameters: < 0.1 % more (0.09 % for VGG-16,
0.001 % for ResNet-50). Its printed summary on the meta device labels units
``Units.GIGABYTES`` and shows meaningless pass sizes (torchinfo 1.8); :func:`layer_table` prints
only what matters instead. Without torchinfo installed, everything here still works.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from ._checks import check_int, check_module

__all__ = [
    "LayerCost",
    "count_params",
    "eval_mode",
    "layer_costs",
    "layer_table",
    "mult_adds",
    "mult_adds_by_resolution",
    "on_meta",
    "run_on_meta",
    "show_source",
    "source",
    "weighted_layers",
]

#: The layers whose multiply-adds are counted (as in the paper's Table 1 and torchvision).
COUNTED = (nn.Conv2d, nn.Linear)
#: Submodule names of shortcut projections, which the paper does not count as layers.
SHORTCUT_NAME = "downsample"


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Evaluation mode inside the ``with``; every submodule's own flag restored after, always.

    ``model.train(was_training)`` restores only one flag for the whole tree; a model whose
    BatchNorms were frozen in eval mode while the rest trained would come back all-training.
    Here each submodule gets back its own flag, also when the body raises.

    Example:
        >>> with eval_mode(model):
        ...     logits = model(x)  # BatchNorm uses its running statistics
    """
    check_module("model", model)
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in flags:
            module.training = training


def count_params(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters (what torchvision's ``meta["num_params"]`` counts).

    Args:
        model: any module, on any device (meta included).
        trainable_only: count only parameters with ``requires_grad``.

    Example:
        >>> count_params(resnet_edu.resnet20())
        272474
    """
    check_module("model", model)
    if not isinstance(trainable_only, bool):
        raise TypeError(f"trainable_only must be a bool, got {type(trainable_only).__name__}")
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def on_meta(builder: Callable[..., nn.Module], /, *args: Any, **kwargs: Any) -> nn.Module:
    """``builder(*args, **kwargs)`` on the meta device: shapes without storage or initialisation.

    Example:
        >>> model = on_meta(resnet_edu.resnet152)  # instant, no memory
        >>> next(model.parameters()).device
        device(type='meta')
    """
    if isinstance(builder, nn.Module) or not callable(builder):
        raise TypeError(
            f"builder must be a function or class that builds a model (e.g. "
            f"resnet_edu.resnet50), not a model it built; got {type(builder).__name__}"
        )
    with torch.device("meta"):
        model = builder(*args, **kwargs)
    return check_module(f"builder {getattr(builder, '__name__', builder)!r} result", model)


def weighted_layers(model: nn.Module) -> int:
    """The paper's depth: convolutions and fully-connected layers, not shortcut projections.

    Shortcut projections live in submodules named ``downsample`` (torchvision's name).

    Example:
        >>> weighted_layers(on_meta(resnet_edu.resnet50))
        50
    """
    check_module("model", model)
    return sum(
        isinstance(module, COUNTED) and SHORTCUT_NAME not in name.split(".")
        for name, module in model.named_modules()
    )


@dataclass(frozen=True)
class LayerCost:
    """One conv or linear layer's cost for the measured input (whole batch)."""

    name: str  #: e.g. "layer1.0.conv1"
    kind: str  #: "Conv2d" or "Linear"
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    mult_adds: int


def _mult_adds_of(module: nn.Module, output: torch.Tensor) -> int:
    if isinstance(module, nn.Conv2d):  # each output value: k_h * k_w * C_in / groups products
        k_h, k_w = module.kernel_size
        return output.numel() * k_h * k_w * module.in_channels // module.groups
    return output.numel() * module.in_features  # Linear: in_features products per output value


def _check_input_size(input_size: Any) -> tuple[int, ...]:
    if isinstance(input_size, (str, bytes)) or not isinstance(input_size, Sequence):
        raise TypeError(
            f"input_size must be a tuple of ints such as (1, 3, 224, 224), got {input_size!r}"
        )
    if len(input_size) < 2:
        raise ValueError(
            f"input_size must be (N, C, ...) with a batch dimension, got {input_size!r}"
        )
    return tuple(check_int(f"input_size[{i}]", s, minimum=1) for i, s in enumerate(input_size))


def _trace(model: nn.Module, size: tuple[int, ...]) -> tuple[list[LayerCost], dict[str, tuple]]:
    # Run the model once on the meta device with a hook on every submodule: the conv/linear
    # costs in the order they run, and every submodule's output shape.
    names = {module: name for name, module in model.named_modules()}
    rows: list[LayerCost] = []
    shapes: dict[str, tuple] = {}

    def record(module: nn.Module, inputs: tuple, output: Any) -> None:
        if isinstance(output, torch.Tensor):
            shapes[names[module]] = tuple(output.shape)
        if isinstance(module, COUNTED):
            params = sum(p.numel() for p in module.parameters())
            rows.append(
                LayerCost(
                    names[module],
                    type(module).__name__,
                    tuple(inputs[0].shape),
                    tuple(output.shape),
                    params,
                    _mult_adds_of(module, output),
                )
            )

    hooks = [module.register_forward_hook(record) for module in model.modules()]
    try:
        run_on_meta(model, size)
    finally:
        for hook in hooks:
            hook.remove()
    return rows, shapes


def run_on_meta(model: nn.Module, input_size: Sequence[int], *, hint: str = "") -> None:
    """One forward pass of ``model`` in eval mode on the meta device: shapes only.

    The parameters and buffers are replaced by meta tensors for this call only
    (``torch.func.functional_call``), so the model is not moved or changed, whatever device it
    is on, and its forward hooks see every shape. A pass that fails (a shape mismatch deep in
    torch, or the model's own input check) raises a ``ValueError`` naming ``input_size``,
    followed by ``hint``.

    Example:
        >>> run_on_meta(resnet_edu.resnet50(), (1, 3, 224, 224))  # with hooks of your own
    """
    size = tuple(input_size)
    meta = {name: t.to("meta") for name, t in [*model.named_parameters(), *model.named_buffers()]}
    try:
        with eval_mode(model), torch.no_grad():
            functional_call(model, meta, (torch.zeros(size, device="meta"),))
    except (RuntimeError, ValueError) as err:  # say which argument, not where torch noticed
        raise ValueError(f"input_size {size} does not fit the model: {err}{hint}") from None


def layer_costs(model: nn.Module, input_size: Sequence[int] = (1, 3, 224, 224)) -> list[LayerCost]:
    """Every conv and linear layer's shapes, parameters and mult-adds, in the order they run.

    The model runs once on the meta device in eval mode (shapes only; the model itself is not
    moved or changed, whatever device it is on).

    Args:
        model: the network (on any device).
        input_size: the input batch shape, ``(N, C, H, W)``; counts are for the whole batch.

    Example:
        >>> rows = layer_costs(on_meta(resnet_edu.vgg16))
        >>> rows[0].name, rows[0].output_shape, rows[0].mult_adds
        ('features.0', (1, 64, 224, 224), 86704128)
    """
    check_module("model", model)
    return _trace(model, _check_input_size(input_size))[0]


def mult_adds(model: nn.Module, input_size: Sequence[int] = (1, 3, 224, 224)) -> int:
    """Multiply-adds of one forward pass, conv and linear layers (the paper's "FLOPs").

    Example:
        >>> mult_adds(on_meta(resnet_edu.resnet50, stride_in_1x1=True)) / 1e9  # Table 1: 3.8
        3.858...
    """
    return sum(row.mult_adds for row in layer_costs(model, input_size))


def mult_adds_by_resolution(
    model: nn.Module, input_size: Sequence[int] = (1, 3, 224, 224)
) -> dict[int, int]:
    """Mult-adds grouped by the side of the map each layer produces, largest map first.

    Linear layers count under 1. Shows where a network spends its compute: VGG-16 spends
    4.71 G mult-adds on 224x224 and 112x112 maps, more than all of plain-34.

    Example:
        >>> {side: round(m / 1e9, 2) for side, m in mult_adds_by_resolution(vgg).items()}
        {224: 1.94, 112: 2.77, 56: 4.62, 28: 4.62, 14: 1.39, 1: 0.12}
    """
    totals: dict[int, int] = {}
    for row in layer_costs(model, input_size):
        side = row.output_shape[-1] if row.kind == "Conv2d" else 1
        totals[side] = totals.get(side, 0) + row.mult_adds
    return dict(sorted(totals.items(), reverse=True))


def layer_table(
    model: nn.Module, input_size: Sequence[int] = (1, 3, 224, 224), *, depth: int = 1
) -> str:
    """A plain-text table: one row per submodule down to ``depth``, with what matters.

    Columns: name, type, output shape, parameters, mult-adds (millions), then a total row.
    Mult-adds of a row are those of the conv and linear layers inside it.

    Example:
        >>> print(layer_table(on_meta(resnet_edu.vgg16), depth=1))
    """
    check_module("model", model)
    check_int("depth", depth, minimum=1)
    costs, shapes = _trace(model, _check_input_size(input_size))
    header = f"{'layer':<24} {'type':<18} {'output shape':<20} {'params':>12} {'mult-adds (M)':>14}"
    lines = [header]
    for name, module in model.named_modules():
        if not name or name.count(".") >= depth:
            continue
        macs = sum(r.mult_adds for r in costs if r.name == name or r.name.startswith(name + "."))
        lines.append(
            f"{'  ' * name.count('.') + name:<24} {type(module).__name__:<18}"
            f" {str(shapes.get(name, '-')):<20} {count_params(module):>12,} {macs / 1e6:>14,.1f}"
        )
    total = sum(row.mult_adds for row in costs)
    lines.append(f"{'total':<64} {count_params(model):>12,} {total / 1e6:>14,.1f}")
    return "\n".join(lines)


def source(
    obj: Any, *, docstring: bool = True, first: str | None = None, last: str | None = None
) -> str:
    """The source code of a function, method or class, as the installed package has it.

    Args:
        obj: what to show (``resnet_edu.BasicBlock.forward``, torchvision's ``ResNet``, ...).
        docstring: keep the docstring (``False`` drops it: the lesson is the code).
        first, last: show only the lines from the first one containing ``first`` to the next
            one containing ``last`` (inclusive), dedented.

    Example:
        >>> print(source(resnet_edu.blocks.BasicBlock.forward, docstring=False))
    """
    if not isinstance(docstring, bool):
        raise TypeError(f"docstring must be True or False, got {docstring!r}")
    for arg, value in (("first", first), ("last", last)):
        if value is not None and (not isinstance(value, str) or not value):
            raise TypeError(f"{arg} must be a non-empty str or None, got {value!r}")
    try:
        lines = inspect.getsource(obj).splitlines()
    except (TypeError, OSError) as err:
        raise TypeError(
            f"obj must be a function, method, class or module with source, got {obj!r:.60}"
        ) from err
    if not docstring:
        lines = _without_docstring(lines)
    start = 0 if first is None else _find(lines, first, 0, "first")
    end = len(lines) - 1 if last is None else _find(lines, last, start, "last")
    return textwrap.dedent("\n".join(lines[start : end + 1]))


def _find(lines: list[str], text: str, start: int, arg: str) -> int:
    for index in range(start, len(lines)):
        if text in lines[index]:
            return index
    raise ValueError(f"{arg}={text!r} occurs in no line of the source (from line {start + 1})")


def _without_docstring(lines: list[str]) -> list[str]:
    # The docstring is the first statement of the function or class, if it is a string.
    tree = ast.parse(textwrap.dedent("\n".join(lines)))
    body = getattr(tree.body[0], "body", []) if tree.body else []
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        if isinstance(body[0].value.value, str):
            return lines[: body[0].lineno - 1] + lines[body[0].end_lineno :]
    return lines


def show_source(
    obj: Any, *, docstring: bool = True, first: str | None = None, last: str | None = None
) -> None:
    """Print :func:`source` (what chapters do when they put library code on the page).

    Example:
        >>> show_source(resnet_edu.ensembles.delete_blocks, docstring=False)
    """
    print(source(obj, docstring=docstring, first=first, last=last))
