"""Argument checks shared by the whole package.

Every public function of ``resnet_edu`` validates what it is given and raises a ``ValueError`` or
``TypeError`` that names the argument and the accepted values, instead of letting a shape error
surface from deep inside torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn


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


def check_images(name: str, x: Any, channels: int) -> torch.Tensor:
    """Check that ``x`` is an image batch of shape (N, channels, H, W)."""
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
    return x
