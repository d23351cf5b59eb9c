"""Argument checks shared by the whole package: the guards at the door.

Every entry point a reader calls -- a constructor or builder, a model's top-level ``forward`` or
``features``, a recorder, a data or plot function -- validates what it is given and raises a
``ValueError`` or ``TypeError`` that names the argument and the accepted values, instead of
letting a shape error surface from deep inside torch. A block's ``forward`` checks nothing: it
is the paper's equation, and a block called on its own with a wrong input gets torch's error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn

#: The BatchNorm layers (public classes), which need more than one value per channel in
#: training mode.
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
#: Every normalisation layer of torch.nn (and ``nn.Identity``, the norm of a net without one).
NORM_LAYERS = (
    *BATCH_NORMS,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.LocalResponseNorm,
    nn.Identity,
)


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    """Return ``value`` if it is an int (not a bool) ``>= minimum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_positive_number(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a float if it is a real number > 0 (or >= 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if value < 0 or (value == 0 and not allow_zero) or value != value:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return float(value)


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise a ValueError listing them."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_int_list(name: str, value: Any, *, length: int, minimum: int = 1) -> list[int]:
    """Return ``value`` as a list of ``length`` ints, each ``>= minimum``."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a list of {length} ints, got {type(value).__name__}")
    if len(value) != length:
        raise ValueError(f"{name} must have {length} entries, got {len(value)}: {list(value)}")
    return [check_int(f"{name}[{i}]", v, minimum=minimum) for i, v in enumerate(value)]


def check_module(name: str, value: Any) -> nn.Module:
    """Return ``value`` if it is an ``nn.Module``, else raise a TypeError."""
    if not isinstance(value, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(value).__name__}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` if it is ``True`` or ``False`` (not a truthy string or number)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return value


def check_norm_layer(name: str, value: Any) -> Callable[[int], nn.Module]:
    """Return the norm-layer factory ``value`` (``None`` means ``nn.BatchNorm2d``).

    A norm layer is a callable ``num_features -> nn.Module`` such as ``nn.BatchNorm2d`` or
    ``nn.Identity`` -- the class, not an instance, and not a name.
    """
    if value is None:
        return nn.BatchNorm2d
    if isinstance(value, nn.Module) or not callable(value):
        raise TypeError(
            f"{name} must be None or a callable num_features -> nn.Module such as "
            f"nn.BatchNorm2d or nn.Identity (the class, not an instance), got {value!r}"
        )
    if value in _NOT_IMAGE_NORMS:
        raise TypeError(
            f"{name} must normalise image batches (N, C, H, W) given only num_features, such as "
            "nn.BatchNorm2d, nn.InstanceNorm2d, nn.Identity or lambda c: nn.GroupNorm(32, c); "
            f"got nn.{value.__name__}"
        )
    return value


#: Norm classes that do not fit ``norm_layer``: GroupNorm needs the number of groups first,
#: LayerNorm would normalise the last dimension (the width), the others expect other ranks.
_NOT_IMAGE_NORMS = (
    nn.GroupNorm,
    nn.LayerNorm,
    nn.BatchNorm1d,
    nn.BatchNorm3d,
    nn.InstanceNorm1d,
    nn.InstanceNorm3d,
)


def check_not_fixed(name: str, kwargs: dict[str, Any], *fixed: str, use: str) -> dict[str, Any]:
    """Return ``kwargs`` if it sets none of the arguments that the builder ``name`` fixes."""
    for key in fixed:
        if key in kwargs:
            raise TypeError(f"{name}() fixes {' and '.join(fixed)}; use {use} to choose {key}")
    return kwargs


def check_batch(inputs: Any, targets: Any = None) -> None:
    """A batch: ``inputs`` a tensor, and ``targets`` (if given) a tensor of the same batch size."""
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}")
    if targets is None:
        return
    if not isinstance(targets, torch.Tensor):
        raise TypeError(f"targets must be a torch.Tensor, got {type(targets).__name__}")
    if targets.shape[:1] != inputs.shape[:1]:
        raise ValueError(
            f"inputs and targets must have the same batch size, got shapes "
            f"{tuple(inputs.shape)} and {tuple(targets.shape)}"
        )


def as_batches(data: Any) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """``data`` as batches: ``(inputs, targets)`` tensors become one batch; an iterable of
    batches (a DataLoader) is returned as it is, unread."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        return [(data[0], data[1])]
    if isinstance(data, (str, bytes, torch.Tensor)) or not isinstance(data, Iterable):
        raise TypeError(
            "data must be (inputs, targets) tensors or an iterable of such batches (a "
            f"DataLoader), got {type(data).__name__}"
        )
    return data


def check_labels(targets: torch.Tensor, num_classes: int) -> None:
    """Class labels for cross-entropy: integers in ``0 .. num_classes - 1``, one per input."""
    if targets.is_floating_point() or targets.dtype == torch.bool:
        raise TypeError(
            f"targets must be integer class labels (torch.long) for cross-entropy, got "
            f"{targets.dtype}; use targets.long()"
        )
    if targets.numel() and (bool(targets.min() < 0) or bool(targets.max() >= num_classes)):
        raise ValueError(
            f"targets must be class labels in 0..{num_classes - 1} (the model has "
            f"{num_classes} outputs), got labels from {int(targets.min())} to {int(targets.max())}"
        )


def check_images(
    name: str, x: Any, channels: int, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Check that ``x`` is an image batch (N, channels, H, W) that fits a layer's ``weight``.

    The common case costs a handful of comparisons (a model's ``forward`` runs it once per
    call): a 4-D tensor with the right channels, and -- given the first layer's ``weight`` -- its
    dtype and device. Under ``torch.autocast`` any floating dtype passes.
    """
    if (
        isinstance(x, torch.Tensor)
        and x.dim() == 4
        and x.shape[1] == channels
        and (weight is None or (x.dtype == weight.dtype and x.device == weight.device))
    ):
        return x
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(
            f"{name} must be a 4-D batch (N, C, H, W), got shape {tuple(x.shape)}; "
            "for a single image use x.unsqueeze(0)"
        )
    if x.shape[1] != channels:
        raise ValueError(
            f"{name} must have {channels} channels (dim 1), got shape {tuple(x.shape)}"
        )
    if weight is None:
        return x
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor like the model's weights ({weight.dtype}), "
            f"got {x.dtype}; convert images with x.float() (and scale uint8 pixels to [0, 1])"
        )
    if x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type):
        raise TypeError(
            f"{name} must have the dtype of the model's weights ({weight.dtype}), got "
            f"{x.dtype}; use x.to({weight.dtype}) or model.to({x.dtype})"
        )
    if x.device != weight.device:
        raise ValueError(
            f"{name} must be on the model's device ({weight.device}), got {x.device}; "
            f"use x.to({str(weight.device)!r}) or model.to({str(x.device)!r})"
        )
    return x


def check_batch_statistics(name: str, x: torch.Tensor, halvings: int) -> None:
    """In training mode, BatchNorm needs more than one value per channel in every layer.

    ``halvings`` is how often the network halves the map (rounding up) before its last
    BatchNorm: a batch of N images of H x W then gives N * ceil(H / 2^k) * ceil(W / 2^k) values
    per channel there. One value is an error inside torch; this says why, in terms of ``x``.
    """
    n, _, height, width = x.shape
    scale = 2**halvings
    last = (-(-height // scale), -(-width // scale))
    if n * last[0] * last[1] == 1:
        raise ValueError(
            f"{name} gives BatchNorm one value per channel: {n} image(s) of {height}x{width} "
            f"reach {last[0]}x{last[1]} in the last stage, and in training mode BatchNorm needs "
            "at least 2 values; use a batch of 2 or more images, larger images, or model.eval()"
        )


def check_model_input(x: Any, conv: nn.Conv2d, norm: nn.Module, halvings: int) -> None:
    """A model's door: ``x`` fits its first ``conv``; a BatchNorm ``norm`` in training mode gets
    more than one value per channel (``check_batch_statistics``) after ``halvings`` halvings."""
    check_images("x", x, conv.in_channels, conv.weight)
    if norm.training and isinstance(norm, BATCH_NORMS):
        check_batch_statistics("x", x, halvings)
