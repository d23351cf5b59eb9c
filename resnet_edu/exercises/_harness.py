"""What chapter 6's checkers share: running the reader's code safely, and torchvision's parts.

The reader's code is called through :func:`call`, which turns any exception -- the
``NotImplementedError`` of an unwritten template included -- into a :class:`Stop` carrying a
message; :func:`verdict` turns the ``Stop`` (or a pass) into a :class:`Verdict`. So a checker
never raises because of the reader's code, and "Run all" goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from .._checks import BATCH_NORMS
from ._feedback import Verdict

#: The layers compared by name: convolutions, BatchNorms and linear layers.
LAYERS = (nn.Conv2d, *BATCH_NORMS, nn.Linear)


def tv():
    """torchvision's ``resnet.py`` (imported on first use: torchvision is slow to import)."""
    import torchvision.models.resnet as tv

    return tv


class Stop(Exception):
    """Problems found in the reader's code: their messages end the check."""

    def __init__(self, *messages: str) -> None:
        super().__init__(*messages)
        self.messages = list(messages)


def error_text(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def call(where: str, fn: Callable[..., Any], *args: Any, hint: str = "", **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` -- the reader's code -- with any exception turned into a message."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as err:
        said = f": {err}" if str(err) else ""
        raise Stop(
            f"not written yet ({where} raises NotImplementedError{said}). Write it, then run "
            "the cell again."
        ) from None
    except Exception as err:  # the reader's code: report it, never stop the notebook
        raise Stop(f"{where} raised {error_text(err)}." + (f" {hint}" if hint else "")) from None


def name_of(obj: Any, default: str) -> str:
    """The name of the reader's class or function; ``default`` (the argument's) for others."""
    name = getattr(obj, "__name__", None)
    return name if isinstance(name, str) and isinstance(obj, (type, Callable)) else default


def needs_callable(obj: Any, name: str, what: str) -> None:
    if obj is None:
        raise Stop(f"not written yet (it is None). Write the {what}, then run the cell again.")
    if isinstance(obj, nn.Module):
        raise Stop(
            f"this is an object built from {type(obj).__name__}; pass the {what} itself, "
            f"{type(obj).__name__}, not {type(obj).__name__}(...)."
        )
    if not callable(obj):
        raise Stop(f"this is a {type(obj).__name__}, not a {what}.")


def needs_module_class(obj: Any, name: str, what: str) -> None:
    needs_callable(obj, name, what)
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise Stop(f"{name} must be a class derived from nn.Module (class {name}(nn.Module): ...).")


def verdict(
    name: str, check: Callable[[list[str]], str], raise_on_failure: bool, seed: int = 0
) -> Verdict:
    """Run ``check`` (which returns the pass summary or raises ``Stop``) and build the verdict."""
    if not isinstance(raise_on_failure, bool):
        raise TypeError(f"raise_on_failure must be True or False, got {raise_on_failure!r}")
    notes: list[str] = []
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            summary = check(notes)
        result = Verdict(ok=True, notes=notes, name=name, summary=summary)
    except Stop as stop:
        result = Verdict(ok=False, messages=stop.messages, notes=notes, name=name)
    except Exception as err:  # something in the reader's code that no check foresaw
        result = Verdict(
            ok=False,
            messages=[f"the check could not finish: {error_text(err)}."],
            notes=notes,
            name=name,
        )
    if raise_on_failure:
        result.raise_if_failed()
    return result


def layers_of(module: nn.Module) -> dict[str, nn.Module]:
    """The module's convolutions, BatchNorms and linear layers, by name."""
    return {n: m for n, m in module.named_modules() if isinstance(m, LAYERS)}


def randomise_norms(
    model: nn.Module,
    *,
    scale: tuple[float, float] = (0.5, 1.0),
    shift: float = 0.2,
    var: tuple[float, float] = (0.75, 1.5),
) -> nn.Module:
    """BatchNorm scales, shifts and running statistics away from 1 and 0, so BN mistakes show:
    scales and running variances uniform in ``scale`` and ``var``, shifts and running means
    normal with standard deviation ``shift``."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, BATCH_NORMS):
                m.weight.uniform_(*scale)
                m.bias.normal_(0.0, shift)
                m.running_mean.normal_(0.0, shift)
                m.running_var.uniform_(*var)
    return model


def close(a: Tensor, b: Tensor) -> bool:
    scale = float(b.abs().max()) if b.numel() else 0.0
    return a.shape == b.shape and torch.allclose(a, b, rtol=1e-4, atol=1e-5 * max(scale, 1.0))


def forward(module: nn.Module, x: Tensor, where: str, hint: str = "") -> Tensor:
    with torch.no_grad():
        out = call(f"{where}.forward", module, x, hint=hint)
    if not isinstance(out, Tensor):
        raise Stop(f"{where}.forward returns a {type(out).__name__}, not a tensor.")
    return out


def conv_text(conv: nn.Conv2d) -> str:
    k, s, p = conv.kernel_size[0], conv.stride[0], conv.padding[0]
    return f"{k}x{k}, stride {s}, padding {p}, {conv.in_channels} -> {conv.out_channels}"


def tv_block(kind: str) -> type[nn.Module]:
    return getattr(tv(), kind)
