"""Pretrained weights: torchvision's weight enums, resolved and loaded into our models (chapter 6).

The weights are torchvision's: the same files, the same URLs and the same SHA-256 check
(``WeightsEnum.get_state_dict(check_hash=True)``). Because our models are state-dict-identical to
torchvision's, the files load with ``strict=True``. torchvision is imported only here, and only
when weights are asked for, so that ``import resnet_edu`` stays fast.

Offline, a download fails deep inside ``urllib`` with a stack of socket errors; we turn that into
one ``WeightsDownloadError`` that says which file is missing and where to put it.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn


class WeightsDownloadError(RuntimeError):
    """A pretrained weights file could not be downloaded (usually: no internet)."""


def resolve_weights(model_name: str, weights: Any) -> Any:
    """Turn ``weights`` into torchvision's weight enum member for ``model_name``, or ``None``.

    Args:
        model_name: torchvision's name of the architecture, e.g. ``"resnet50"``.
        weights: ``None``; a member of the model's enum (``ResNet50_Weights.IMAGENET1K_V2``);
            its name (``"IMAGENET1K_V2"``, ``"DEFAULT"``) or full name
            (``"ResNet50_Weights.IMAGENET1K_V2"``).

    Returns:
        The enum member, or ``None`` when ``weights`` is ``None``.

    Example:
        >>> resolve_weights("resnet50", "DEFAULT")
        ResNet50_Weights.IMAGENET1K_V2
    """
    if weights is None:
        return None
    from torchvision.models import get_model_weights  # lazy: torchvision is slow to import

    enum_cls = get_model_weights(model_name)
    valid = list(enum_cls.__members__)  # includes the alias DEFAULT
    if isinstance(weights, str):
        name = weights.removeprefix(f"{enum_cls.__name__}.")
        if name not in enum_cls.__members__:
            raise ValueError(f"weights for {model_name} must be one of {valid}, got {weights!r}")
        return enum_cls[name]
    if isinstance(weights, enum_cls):
        return weights
    from torchvision.models import WeightsEnum

    if isinstance(weights, WeightsEnum):
        raise ValueError(
            f"weights {weights} belong to another architecture; {model_name} takes "
            f"{enum_cls.__name__}, one of {valid}"
        )
    raise TypeError(
        f"weights must be None, a {enum_cls.__name__} member or one of the names {valid}, "
        f"got {type(weights).__name__}"
    )


def set_num_classes(kwargs: dict[str, Any], weights: Any) -> None:
    """Set ``kwargs["num_classes"]`` from the weights' categories, as torchvision does.

    A different ``num_classes`` given by the caller cannot load the weights' classifier, so it
    is an error (torchvision's ``_ovewrite_named_param``).

    Args:
        kwargs: the builder's keyword arguments, updated in place.
        weights: a torchvision weight enum member.

    Example:
        >>> kwargs = {}
        >>> set_num_classes(kwargs, resolve_weights("resnet18", "DEFAULT"))
        >>> kwargs
        {'num_classes': 1000}
    """
    categories = weights.meta.get("categories")
    if categories is None:
        return
    expected = len(categories)
    given = kwargs.setdefault("num_classes", expected)
    if given != expected:
        raise ValueError(
            f"num_classes must be {expected} with weights {weights} (their classifier has "
            f"{expected} outputs), got {given}; load the weights, then replace the last layer"
        )


def load_weights(model: nn.Module, weights: Any, *, progress: bool = True) -> nn.Module:
    """Download (once, into torch's hub cache) and load ``weights`` into ``model``, strictly.

    Args:
        model: a model whose state dict matches torchvision's for these weights.
        weights: a torchvision weight enum member (see ``resolve_weights``).
        progress: show a download progress bar.

    Returns:
        ``model``, with the weights loaded (``strict=True``, so a key mismatch fails loudly).

    Raises:
        WeightsDownloadError: the file is not in the cache and cannot be downloaded.

    Example:
        >>> model = load_weights(resnet50(), resolve_weights("resnet50", "DEFAULT"))
    """
    try:
        state_dict = weights.get_state_dict(progress=progress, check_hash=True)
    except OSError as error:  # URLError, socket.gaierror, ConnectionError, TimeoutError...
        filename = os.path.basename(weights.url)
        target = os.path.join(torch.hub.get_dir(), "checkpoints", filename)
        raise WeightsDownloadError(
            f"could not download the pretrained weights {weights} from {weights.url} "
            f"({type(error).__name__}: {error}). Without internet, download {filename} on "
            f"another machine and copy it to {target} (torch's hub cache; the TORCH_HOME "
            "environment variable moves it), or run this notebook in Colab."
        ) from None  # the socket traceback says nothing more useful
    model.load_state_dict(state_dict, strict=True)
    return model
