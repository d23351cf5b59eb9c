"""Pretrained weights: torchvision's weight enums, resolved and loaded safely (chapters 5, 6, 9).

The weights are torchvision's: the same files, URLs and cache folder. Because our models are
state-dict-identical to torchvision's, the files load with ``strict=True``. torchvision is
imported only here, and only when weights are asked for, so that ``import resnet_edu`` stays
fast.

A weights file is opened safely: its SHA-256 must start with the hash in its name (torchvision
names every file so, e.g. ``resnet18-f37072fd.pth``), checked on download *and* when the file is
already in the cache, and it is read with ``torch.load(weights_only=True)``, which builds only
tensors and plain values. (torchvision's own loader uses ``weights_only=False``: a file planted
in the cache ran its code.) A file that fails either check raises ``WeightsFileError``.

Offline, a download fails deep inside ``urllib`` with a stack of socket errors; we turn that into
one ``WeightsDownloadError`` that says which file is missing and where to put it.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn


class WeightsDownloadError(RuntimeError):
    """A pretrained weights file could not be downloaded (usually: no internet)."""


class WeightsFileError(RuntimeError):
    """A weights file does not match its recorded hash, or is not plain tensors."""


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


def reject_pretrained(name: str, kwargs: dict[str, Any]) -> None:
    """torchvision removed ``pretrained=`` (0.13); say what replaced it."""
    if "pretrained" in kwargs:
        raise TypeError(
            f"{name}() takes weights=, not pretrained= (torchvision removed it in 0.13): use "
            "weights='DEFAULT' for the pretrained weights, or weights=None"
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
        WeightsFileError: the file's SHA-256 does not match the hash in its name, or it holds
            more than tensors (it is never unpickled with code).

    Example:
        >>> model = load_weights(resnet50(), resolve_weights("resnet50", "DEFAULT"))
    """
    from torchvision.models import WeightsEnum

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(weights, WeightsEnum):
        raise TypeError(
            "weights must be a torchvision weights member such as "
            f"resolve_weights('resnet50', 'DEFAULT'), got {type(weights).__name__} {weights!r}"
        )
    path, downloaded = _cached_file(weights, progress)
    state_dict = load_weights_file(path, check_hash=not downloaded)  # torch.hub checked it
    model.load_state_dict(state_dict, strict=True)
    return model


def _expected_hash(path: Path) -> str | None:
    match = torch.hub.HASH_REGEX.search(path.name)
    return match.group(1) if match else None


def _cached_file(weights: Any, progress: bool) -> tuple[Path, bool]:
    """The cached file of ``weights``, and whether it was downloaded now (hash checked)."""
    url = weights.url
    filename = os.path.basename(urlparse(url).path)
    target = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if target.exists():
        return target, False
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(target), _expected_hash(target), progress=progress)
    except RuntimeError as error:  # torch.hub: "invalid hash value"
        raise WeightsFileError(f"the download of {url} is damaged: {error}") from None
    except OSError as error:  # URLError, socket.gaierror, ConnectionError, TimeoutError...
        raise WeightsDownloadError(
            f"could not download the pretrained weights {weights} from {url} "
            f"({type(error).__name__}: {error}). Without internet, download {filename} on "
            f"another machine and copy it to {target} (torch's hub cache; the TORCH_HOME "
            "environment variable moves it; its hash is checked), or run this notebook in Colab."
        ) from None  # the socket traceback says nothing more useful
    return target, True


def load_weights_file(path: str | Path, *, check_hash: bool = True) -> dict[str, torch.Tensor]:
    """A state dict from a weights file, safely: hash checked, then ``weights_only=True``.

    Args:
        path: the file; if its name carries a hash (``name-<hex>.pth``), the file's SHA-256
            must start with it.
        check_hash: ``False`` only for a file whose hash was just checked (by the download).

    Raises:
        WeightsFileError: the hash differs, or the file holds anything but tensors and plain
            values (no code in it is run).

    Example:
        >>> state_dict = load_weights_file("~/.cache/torch/hub/checkpoints/resnet18-f37072fd.pth")
    """
    path = Path(path).expanduser()
    expected = _expected_hash(path) if check_hash else None
    if expected:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        if not digest.hexdigest().startswith(expected):
            raise WeightsFileError(
                f"{str(path)!r} is not the published file: its SHA-256 starts with "
                f"{digest.hexdigest()[: len(expected)]}, the name says {expected}. Delete it "
                "(it was not opened), then download it again"
            )
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
        first = (str(error).splitlines() or [""])[0][:200]
        raise WeightsFileError(
            f"{str(path)!r} is not a plain weights file ({type(error).__name__}: {first}); "
            "nothing in it was run. Delete it and download it again"
        ) from None
    if not isinstance(state_dict, dict):
        raise WeightsFileError(f"{str(path)!r} holds a {type(state_dict).__name__}, not weights")
    return state_dict
