"""Chapter 6's exercises: build ResNet yourself, torchvision-style, and have each piece checked.

The reader writes ``conv3x3``/``conv1x1``, ``BasicBlock``, ``Bottleneck``, ``_make_layer`` and
``ResNet`` as torchvision's ``resnet.py`` does, with torchvision's names (``conv1``, ``bn1``,
``downsample``, ``layer1``, ``fc`` ...), so that torchvision's state dicts load into them. Each
checker runs the reader's code next to torchvision's own and tests behaviour, never source text:

1. shapes and layers: every conv, BatchNorm and linear layer of the reader's module against
   torchvision's, by name -- kernel, stride, padding, bias, channels;
2. weights: torchvision's state dict (with random BatchNorm statistics, so BN matters) is loaded
   into the reader's module with ``strict=True``;
3. outputs: the two modules run on the same input, in eval and train mode; when the outputs
   differ, the outputs of the usual mistakes (ReLU before the addition, BN after it, no
   shortcut ...) are computed with the same weights, and the mistake the reader's module
   reproduces is named.

Every checker returns a :class:`Verdict` that prints ``✓ name: ...`` or ``✗ name: the
problem``. The reader's code never makes a checker raise: a constructor or forward that raises
-- the ``NotImplementedError`` of an unwritten template included -- becomes a message, so
"Run all" goes on. Only misuse of the checker itself (an unknown ``kind``) raises. Weights and
inputs are seeded inside the checker; the global random state is left as it was.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from ._feedback import Verdict

__all__ = ["check_block", "check_convs", "check_make_layer", "check_resnet"]

#: The block configurations a block is checked in: (inplanes, planes, stride). They cover an
#: identity shortcut, a projection at stride 1 (ResNet-50's layer1) and one at stride 2.
BLOCK_CONFIGS = {
    "BasicBlock": ((8, 8, 1), (8, 16, 2)),
    "Bottleneck": ((32, 8, 1), (16, 8, 1), (32, 16, 2)),
}
#: The stages torchvision's ResNet-18 and ResNet-50 build: (planes, blocks, stride) each.
STAGE_PLANS = {
    "BasicBlock": ((64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2)),
    "Bottleneck": ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)),
}
#: The networks ``check_resnet`` builds: (label, block kind, blocks per stage, torchvision name).
NETWORKS = (
    ("ResNet-18", "BasicBlock", [2, 2, 2, 2], "resnet18"),
    ("ResNet-50", "Bottleneck", [3, 4, 6, 3], "resnet50"),
)
#: What ``_make_layer`` may read on ``self``: the attributes torchvision's ``__init__`` sets
#: before its first ``_make_layer`` call.
RESNET_ATTRIBUTES = {"inplanes": 64, "dilation": 1, "groups": 1, "base_width": 64}
_LAYERS = (nn.Conv2d, _BatchNorm, nn.Linear)


def _tv():
    """torchvision's ``resnet.py`` (imported on first use: torchvision is slow to import)."""
    import torchvision.models.resnet as tv

    return tv


# --------------------------------------------------------------------------- the machinery


class _Stop(Exception):
    """Problems found in the reader's code: their messages end the check."""

    def __init__(self, *messages: str) -> None:
        super().__init__(*messages)
        self.messages = list(messages)


def _error_text(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def _call(where: str, fn: Callable[..., Any], *args: Any, hint: str = "", **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` -- the reader's code -- with any exception turned into a message."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as err:
        said = f": {err}" if str(err) else ""
        raise _Stop(
            f"not written yet ({where} raises NotImplementedError{said}). Write it, then run "
            "the cell again."
        ) from None
    except Exception as err:  # the reader's code: report it, never stop the notebook
        raise _Stop(f"{where} raised {_error_text(err)}." + (f" {hint}" if hint else "")) from None


def _name(obj: Any, default: str) -> str:
    """The name of the reader's class or function; ``default`` (the argument's) for others."""
    name = getattr(obj, "__name__", None)
    return name if isinstance(name, str) and isinstance(obj, (type, Callable)) else default


def _needs_callable(obj: Any, name: str, what: str) -> None:
    if obj is None:
        raise _Stop(f"not written yet (it is None). Write the {what}, then run the cell again.")
    if isinstance(obj, nn.Module):
        raise _Stop(
            f"this is an object built from {type(obj).__name__}; pass the {what} itself, "
            f"{type(obj).__name__}, not {type(obj).__name__}(...)."
        )
    if not callable(obj):
        raise _Stop(f"this is a {type(obj).__name__}, not a {what}.")


def _needs_module_class(obj: Any, name: str, what: str) -> None:
    _needs_callable(obj, name, what)
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise _Stop(
            f"{name} must be a class derived from nn.Module (class {name}(nn.Module): ...)."
        )


def _verdict(
    name: str, check: Callable[[list[str]], str], raise_on_failure: bool, seed: int = 0
) -> Verdict:
    """Run ``check`` (which returns the pass summary or raises ``_Stop``) and build the verdict."""
    if not isinstance(raise_on_failure, bool):
        raise TypeError(f"raise_on_failure must be True or False, got {raise_on_failure!r}")
    notes: list[str] = []
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            summary = check(notes)
        result = Verdict(ok=True, notes=notes, name=name, summary=summary)
    except _Stop as stop:
        result = Verdict(ok=False, messages=stop.messages, notes=notes, name=name)
    except Exception as err:  # something in the reader's code that no check foresaw
        result = Verdict(
            ok=False,
            messages=[f"the check could not finish: {_error_text(err)}."],
            notes=notes,
            name=name,
        )
    if raise_on_failure:
        result.raise_if_failed()
    return result


def _layers(module: nn.Module) -> dict[str, nn.Module]:
    """The module's convolutions, BatchNorms and linear layers, by name."""
    return {n: m for n, m in module.named_modules() if isinstance(m, _LAYERS)}


def _randomise_norms(model: nn.Module) -> nn.Module:
    """BatchNorm scales, shifts and running statistics away from 1 and 0, so BN mistakes show."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                m.weight.uniform_(0.5, 1.0)
                m.bias.normal_(0.0, 0.2)
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.75, 1.5)
    return model


def _close(a: Tensor, b: Tensor) -> bool:
    scale = float(b.abs().max()) if b.numel() else 0.0
    return a.shape == b.shape and torch.allclose(a, b, rtol=1e-4, atol=1e-5 * max(scale, 1.0))


def _forward(module: nn.Module, x: Tensor, where: str, hint: str = "") -> Tensor:
    with torch.no_grad():
        out = _call(f"{where}.forward", module, x, hint=hint)
    if not isinstance(out, Tensor):
        raise _Stop(f"{where}.forward returns a {type(out).__name__}, not a tensor.")
    return out


def _conv_text(conv: nn.Conv2d) -> str:
    k, s, p = conv.kernel_size[0], conv.stride[0], conv.padding[0]
    return f"{k}x{k}, stride {s}, padding {p}, {conv.in_channels} -> {conv.out_channels}"


# --------------------------------------------------------------------------- conv3x3, conv1x1


def check_convs(
    conv3x3: Callable[..., nn.Module],
    conv1x1: Callable[..., nn.Module],
    *,
    raise_on_failure: bool = False,
) -> Verdict:
    """Check the reader's ``conv3x3`` and ``conv1x1`` against torchvision's.

    Each is called as ``f(in_planes, out_planes, stride)`` with stride 1 and 2 and must return
    an ``nn.Conv2d``: 3x3 with padding 1 (or 1x1 without padding), the stride as asked, and no
    bias. With torchvision's weights copied in, its output must equal torchvision's.

    Args:
        conv3x3, conv1x1: the reader's two functions.
        raise_on_failure: raise ``ExerciseError`` instead of returning a failed verdict.

    Returns:
        a :class:`Verdict`; it prints ``✓``/``✗`` and the problems.

    Example:
        >>> check_convs(my_conv3x3, my_conv1x1)
    """

    def check(notes: list[str]) -> str:
        problems = _conv_problems(conv3x3, 3) + _conv_problems(conv1x1, 1)
        if problems:
            raise _Stop(*problems)
        return (
            "a 3x3 conv with padding 1 and a 1x1 conv, no bias, strides as asked; "
            "with torchvision's weights they compute what torchvision's conv3x3 and conv1x1 do."
        )

    return _verdict(
        f"{_name(conv3x3, 'conv3x3')}, {_name(conv1x1, 'conv1x1')}", check, raise_on_failure
    )


def _conv_problems(fn: Callable[..., nn.Module], k: int) -> list[str]:
    name = _name(fn, f"conv{k}x{k}")
    _needs_callable(fn, name, "function")
    reference = _tv().conv3x3 if k == 3 else _tv().conv1x1
    for stride in (1, 2):
        where = f"{name}(8, 16, {stride})"
        conv = _call(
            where,
            fn,
            8,
            16,
            stride,
            hint=f"torchvision's is conv{k}x{k}(in_planes, out_planes, stride=1).",
        )
        if not isinstance(conv, nn.Conv2d):
            if isinstance(conv, nn.Module) and any(
                isinstance(m, _BatchNorm) for m in conv.modules()
            ):
                return [
                    f"{where} returns a conv with its BatchNorm; return the nn.Conv2d alone. "
                    "The block holds each BN itself (bn1, bn2 ...), which is where "
                    "torchvision's state dicts look for it."
                ]
            return [f"{where} returns a {type(conv).__name__}, not an nn.Conv2d."]
        problems = _conv_shape_problems(conv, where, k, stride)
        if problems:
            return problems
        ref = reference(8, 16, stride)
        x = torch.randn(2, 8, 9, 9)
        with torch.no_grad():
            conv.weight.copy_(ref.weight)
            out = _call(f"{where} applied to x", conv, x)
            if not _close(out, ref(x)):
                return [
                    f"{where}: with torchvision's weights its output differs from torchvision's "
                    f"conv{k}x{k}'s (padding mode {conv.padding_mode!r}, groups {conv.groups}, "
                    f"dilation {conv.dilation[0]}: expected 'zeros', 1, 1)."
                ]
    return []


def _conv_shape_problems(conv: nn.Conv2d, where: str, k: int, stride: int) -> list[str]:
    problems = []
    if (conv.in_channels, conv.out_channels) != (8, 16):
        problems.append(
            f"wrong channels: {where} maps {conv.in_channels} -> {conv.out_channels} channels; "
            "expected in_planes -> out_planes = 8 -> 16."
        )
    if conv.kernel_size != (k, k):
        problems.append(
            f"wrong kernel size: {where} is {conv.kernel_size[0]}x{conv.kernel_size[1]}."
        )
    if conv.stride != (stride, stride):
        problems.append(
            f"wrong stride: {where} has stride {conv.stride[0]}; pass the stride argument on "
            "(a stride-2 conv halves the map)."
        )
    padding = (k // 2, k // 2)
    if conv.padding != padding:
        why = (
            "a 3x3 conv needs padding=1, so that at stride 1 it keeps the map's size"
            if k == 3
            else "a 1x1 conv needs no padding"
        )
        problems.append(f"wrong padding: {where} has padding={conv.padding[0]}; {why}.")
    if conv.bias is not None:
        problems.append(
            f"bias=True: {where} has a bias. In a ResNet a BatchNorm follows every conv, and "
            "its shift makes a bias useless; torchvision's convs have bias=False, so its state "
            "dicts have no conv bias to load."
        )
    return problems


# --------------------------------------------------------------------------- blocks


def check_block(
    block: type[nn.Module],
    kind: str,
    *,
    variant: str = "v1.5",
    raise_on_failure: bool = False,
) -> Verdict:
    """Check the reader's BasicBlock or Bottleneck against torchvision's.

    The block is built as ``block(inplanes, planes, stride, downsample)`` (as ``_make_layer``
    builds it) in the configurations of :data:`BLOCK_CONFIGS`. Where the shape changes the
    checker passes ``downsample``, torchvision's projection (1x1 conv + BN), which the block
    must keep as ``self.downsample`` and apply to ``x``; elsewhere it passes ``None`` and the
    shortcut is ``x`` itself. The class must have torchvision's ``expansion`` (1 or 4) and its
    layer names (``conv1, bn1, conv2, bn2`` and, for a Bottleneck, ``conv3, bn3``).

    Args:
        block: the reader's class.
        kind: ``"BasicBlock"`` or ``"Bottleneck"``.
        variant: ``"v1.5"`` (torchvision: a Bottleneck's stride on its 3x3 conv) or ``"v1"``
            (the paper: on the first 1x1 conv); Bottleneck only.
        raise_on_failure: raise ``ExerciseError`` instead of returning a failed verdict.

    Returns:
        a :class:`Verdict`; it prints ``✓``/``✗`` and the problems.

    Raises:
        ValueError: an unknown ``kind`` or ``variant``.

    Example:
        >>> check_block(MyBottleneck, "Bottleneck")
    """
    if kind not in BLOCK_CONFIGS:
        raise ValueError(f"kind must be one of {sorted(BLOCK_CONFIGS)}, got {kind!r}")
    if variant not in ("v1.5", "v1"):
        raise ValueError(
            f"variant must be 'v1.5' (torchvision's) or 'v1' (the paper's), got {variant!r}"
        )
    if variant == "v1" and kind != "Bottleneck":
        raise ValueError(
            "variant='v1' applies to the Bottleneck only (a BasicBlock has no 1x1 conv)"
        )
    name = _name(block, kind)

    def check(notes: list[str]) -> str:
        _needs_module_class(block, name, "block class")
        for number, config in enumerate(BLOCK_CONFIGS[kind]):
            _check_block_config(block, name, kind, variant, config)
            if number == 0:
                _check_expansion(block, name, kind)
        where = (
            "the 3x3 conv" if kind == "BasicBlock" or variant == "v1.5" else "the first 1x1 conv"
        )
        return (
            f"torchvision's {kind} weights load with strict=True and the outputs match, in eval "
            f"and train mode, with an identity shortcut and with a projection (stride on {where})."
        )

    return _verdict(name, check, raise_on_failure)


def _check_expansion(block: type, name: str, kind: str) -> None:
    expected = _tv_block(kind).expansion
    expansion = getattr(block, "expansion", None)
    if expansion is None:
        raise _Stop(
            f"no expansion: give {name} the class attribute expansion = {expected}, as "
            f"torchvision's {kind} has. A block outputs planes * expansion channels; "
            "_make_layer and the head read it."
        )
    if expansion != expected:
        raise _Stop(
            f"wrong expansion: {name}.expansion is {expansion!r}; a {kind} outputs planes * "
            f"{expected} channels, so expansion = {expected}."
        )


def _tv_block(kind: str) -> type[nn.Module]:
    return getattr(_tv(), kind)


def _reference_block(kind: str, inplanes: int, planes: int, stride: int, variant: str):
    """torchvision's block for one configuration, its projection if the shape changes."""
    tv = _tv()
    cls = _tv_block(kind)
    out = planes * cls.expansion
    downsample = None
    if stride != 1 or inplanes != out:
        downsample = nn.Sequential(tv.conv1x1(inplanes, out, stride), nn.BatchNorm2d(out))
    block = cls(inplanes, planes, stride, downsample)
    if variant == "v1" and stride != 1:  # the paper's Bottleneck: same weights, stride moved
        block.conv1.stride, block.conv2.stride = (stride, stride), (1, 1)
    return _randomise_norms(block).eval()


def _check_block_config(block, name: str, kind: str, variant: str, config) -> None:
    inplanes, planes, stride = config
    ref = _reference_block(kind, inplanes, planes, stride, variant)
    given = copy.deepcopy(ref.downsample)
    shortcut = "None" if given is None else "1x1 conv + BN"
    where = f"{name}({inplanes}, {planes}, {stride}, downsample={shortcut})"
    user = _call(
        f"building {where}",
        block,
        inplanes,
        planes,
        stride,
        given,
        hint="_make_layer builds a block as block(inplanes, planes, stride, downsample).",
    )
    if not isinstance(user, nn.Module):
        raise _Stop(f"{where} returned a {type(user).__name__}, not an nn.Module.")
    _call(f"{where}.eval()", user.eval)
    problems = _block_layer_problems(user, ref, given, kind, variant, config, where)
    if problems:
        raise _Stop(*problems)
    with torch.no_grad():
        _call(
            f"loading torchvision's {kind} weights into {where}",
            user.load_state_dict,
            ref.state_dict(),
            strict=True,
        )
    _compare_block(user, ref, kind, config, where)


def _block_layer_problems(user, ref, given, kind, variant, config, where) -> list[str]:
    """Layer by layer against torchvision's block: names, then each layer's shape."""
    inplanes, planes, stride = config
    out = planes * ref.expansion
    ref_layers, user_layers = _layers(ref), _layers(user)
    problems: list[str] = []
    kept = [n for n, m in user.named_modules() if given is not None and m is given]
    if given is not None and not kept:
        if any(n.startswith("downsample.") for n in user_layers):
            problems.append(
                f"{where}: your block builds a downsample of its own and ignores the one it is "
                "given. In torchvision _make_layer builds the shortcut and passes it in; the "
                "block stores it: self.downsample = downsample."
            )
        else:
            problems.append(
                f"missing downsample: {where} is given a `downsample` module (the shape changes: "
                f"{inplanes} -> {out} channels, stride {stride}) and does not keep it. Store it "
                "(self.downsample = downsample) and apply it to x on the shortcut."
            )
    elif kept and kept[0] != "downsample":
        problems.append(
            f"your block keeps the `downsample` module as `{kept[0]}`; torchvision's name is "
            "`downsample` (its state dicts hold downsample.0.weight ...)."
        )
    if given is None and any(n.startswith("downsample") for n in user_layers):
        problems.append(
            f"downsample built when not needed: {where} keeps the shape ({inplanes} -> {out} "
            "channels, stride 1), so _make_layer passes downsample=None and the shortcut is x "
            "itself; your block builds a projection anyway."
        )
    skip = tuple(f"{k}." for k in (*kept, "downsample"))
    missing = [n for n in ref_layers if n not in user_layers and not n.startswith(skip)]
    extra = [n for n in user_layers if n not in ref_layers and not n.startswith(skip)]
    problems += _name_problems(missing, extra, ref_layers, user_layers, kind)
    if problems:
        return problems
    for n, ref_layer in ref_layers.items():
        if not n.startswith(skip):
            problems += _layer_problems(n, user_layers[n], ref_layer, kind, planes, out)
    problems += _stride_problems(user_layers, ref_layers, kind, variant, stride)
    return problems


def _name_problems(missing, extra, ref_layers, user_layers, kind) -> list[str]:
    problems = []
    for label, cls in (("BatchNorm", _BatchNorm), ("convolution", nn.Conv2d)):
        gone = [n for n in missing if isinstance(ref_layers[n], cls)]
        more = [n for n in extra if isinstance(user_layers[n], cls)]
        if gone and len(gone) == len(more):
            problems.append(
                f"names differ from torchvision's: your {label}s {', '.join(more)} should be "
                f"named {', '.join(gone)}. A state dict is matched by name, so torchvision's "
                "weights load only into its names."
            )
        elif gone and cls is _BatchNorm:
            problems.append(
                f"missing BN: your {kind} has no {', '.join(gone)}. In torchvision's {kind} "
                "every conv of the branch is followed by its own BatchNorm (conv1 -> bn1 ...)."
            )
        elif gone:
            convs = ", ".join(n for n in ref_layers if n.startswith("conv"))
            problems.append(
                f"missing conv: your {kind} has no {', '.join(gone)}; torchvision's has {convs}."
            )
        elif more and cls is _BatchNorm:
            problems.append(
                f"BN where it should not be: your {kind} has an extra BatchNorm "
                f"{', '.join(more)}; torchvision's has one BN per conv of the branch and none "
                "after the addition (a BN there would normalise the shortcut too, so the "
                "identity path would no longer carry x unchanged)."
            )
        elif more:
            problems.append(f"an extra convolution: your {kind} has {', '.join(more)}.")
    return problems


def _layer_problems(n: str, layer: nn.Module, ref: nn.Module, kind: str, planes: int, out: int):
    if type(layer) is not type(ref) and not (
        isinstance(layer, _BatchNorm) and isinstance(ref, _BatchNorm)
    ):
        return [f"`{n}` is a {type(layer).__name__}; torchvision's is a {type(ref).__name__}."]
    if isinstance(ref, _BatchNorm):
        if layer.num_features != ref.num_features:
            return [f"`{n}` normalises {layer.num_features} channels; expected {ref.num_features}."]
        return []
    problems = []
    if isinstance(layer, nn.Conv2d):
        if layer.bias is not None:
            problems.append(
                f"bias=True: `{n}` has a bias. A BatchNorm follows it, and the BN's shift makes "
                "the bias useless; torchvision's convs have bias=False (its state dicts have no "
                f"{n}.bias)."
            )
        if layer.kernel_size != ref.kernel_size:
            problems.append(
                f"wrong kernel size: `{n}` is {layer.kernel_size[0]}x{layer.kernel_size[1]}; "
                f"torchvision's is {ref.kernel_size[0]}x{ref.kernel_size[1]}."
            )
        elif layer.padding != ref.padding:
            problems.append(
                f"wrong padding: `{n}` has padding={layer.padding[0]}; torchvision's has "
                f"{ref.padding[0]} (a 3x3 conv needs 1 to keep the map's size)."
            )
        channels = (layer.in_channels, layer.out_channels)
        expected = (ref.in_channels, ref.out_channels)
        if channels != expected:
            if kind == "Bottleneck" and n == "conv3" and layer.out_channels != out:
                problems.append(
                    f"wrong expansion: conv3 outputs {layer.out_channels} channels; a Bottleneck "
                    f"expands back to planes * 4 = {out} (here planes = {planes})."
                )
            else:
                problems.append(
                    f"wrong channels: `{n}` maps {channels[0]} -> {channels[1]} channels; "
                    f"torchvision's maps {expected[0]} -> {expected[1]}."
                )
    return problems


def _stride_problems(user_layers, ref_layers, kind: str, variant: str, stride: int) -> list[str]:
    branch = [n for n in ref_layers if n.startswith("conv")]
    strides = {n: user_layers[n].stride[0] for n in branch}
    expected = {n: ref_layers[n].stride[0] for n in branch}
    if strides == expected:
        return []
    strided = [n for n, s in strides.items() if s != 1]
    want = next((n for n, s in expected.items() if s != 1), None)
    if want is None:  # stride 1 asked, and some conv strides anyway
        return [f"wrong stride: {', '.join(strided)} strides although stride=1 was asked."]
    if not strided:
        return [
            f"stride ignored: none of your convs has stride {stride}, so the map keeps its size; "
            f"torchvision's {kind} strides {want}."
        ]
    if len(strided) > 1:
        return [
            f"wrong stride placement: {' and '.join(strided)} both stride, so the map shrinks "
            f"{len(strided)} times; only {want} strides."
        ]
    got = strided[0]
    if kind == "Bottleneck" and (got, want) == ("conv1", "conv2"):
        return [
            "wrong stride placement: your stride is on conv1, the first 1x1 conv -- the paper's "
            'original Bottleneck ("ResNet v1"). torchvision\'s ("v1.5") puts it on the 3x3 '
            "conv2, which sees every pixel before it subsamples. The parameters are the same, "
            "so torchvision's weights load, but the block computes another function."
        ]
    if kind == "Bottleneck" and (got, want) == ("conv2", "conv1"):
        return [
            "wrong stride placement for v1: your stride is on the 3x3 conv2, as in torchvision's "
            '"v1.5"; the paper\'s Bottleneck ("v1") puts it on conv1, the first 1x1 conv.'
        ]
    role = "the first 3x3 conv" if kind == "BasicBlock" else "the 3x3 conv"
    return [
        f"wrong stride placement: your stride is on {got}; torchvision's {kind} puts it on "
        f"{want}, {role}, and all its other convs have stride 1."
    ]


def _compare_block(user: nn.Module, ref: nn.Module, kind: str, config, where: str) -> None:
    inplanes = config[0]
    x = torch.randn(2, inplanes, 8, 8)
    before = x.clone()
    hint = ""
    if ref.downsample is not None:
        hint = (
            "If it is a size mismatch at the addition: the shape changes here, so the shortcut "
            "must be downsample(x), not x."
        )
    out = _forward(user, x, where, hint)
    if not torch.equal(x, before):
        raise _Stop(
            f"{where}: forward changed its input x in place (an in-place ReLU on x, or x += "
            "...?). The shortcut needs the original x: out += identity, not x += out."
        )
    with torch.no_grad():
        candidates = _block_candidates(ref, x, kind)
    expected = candidates.pop("correct")
    if out.shape != expected.shape:
        raise _Stop(
            f"{where}: the output has shape {tuple(out.shape)}; torchvision's has "
            f"{tuple(expected.shape)}."
        )
    if not _close(out, expected):
        last_bn = "bn3" if kind == "Bottleneck" else "bn2"
        for key, value in candidates.items():
            if _close(out, value):
                raise _Stop(f"{_BLOCK_MISTAKES[key].format(last_bn=last_bn)} (found in {where})")
        raise _Stop(
            f"{where}: with torchvision's weights the output differs from torchvision's, and "
            "matches none of the usual mistakes. torchvision computes out = bn(conv(...)) "
            f"with a ReLU after each BN but {last_bn}, then out += identity, then ReLU."
        )
    user_train, ref_train = copy.deepcopy(user).train(), copy.deepcopy(ref).train()
    with torch.no_grad():
        same = _close(_forward(user_train, x.clone(), where), ref_train(x.clone()))
    if not same:
        raise _Stop(
            f"{where}: outputs match in eval mode but not in train mode (a Dropout, or a "
            "module switched to eval inside forward?)."
        )


#: Known mistakes of a block, each with the message the reader gets.
_BLOCK_MISTAKES = {
    "relu_before_add": (
        "ReLU in the wrong place: your block applies ReLU to F(x) before the addition and not "
        "after it. The paper adds first: y = relu(F(x) + shortcut(x))."
    ),
    "relu_before_and_after_add": (
        "ReLU in the wrong place: an extra ReLU on F(x) before the addition. F(x) ends with "
        "{last_bn} and must be able to be negative; the only ReLU after {last_bn} comes after "
        "the addition."
    ),
    "no_final_relu": (
        "no final ReLU: your block returns F(x) + shortcut(x); torchvision's returns "
        "relu(F(x) + shortcut(x))."
    ),
    "no_shortcut": (
        "missing shortcut: your output equals relu(F(x)), a plain block. Add the shortcut "
        "before the last ReLU: out += identity (x, or downsample(x) when it is given)."
    ),
    "bn_after_add": (
        "BN after the addition: your block adds the shortcut before {last_bn}, so the BN "
        "normalises the shortcut too and the identity path no longer carries x unchanged. "
        "F(x) ends with {last_bn}; then add, then ReLU."
    ),
    "no_relu_after_bn1": (
        "missing ReLU after bn1: the branch is conv1 -> bn1 -> relu -> conv2 -> ..."
    ),
    "no_relu_after_bn2": (
        "missing ReLU after bn2: a Bottleneck's branch is conv1 -> bn1 -> relu -> conv2 -> "
        "bn2 -> relu -> conv3 -> bn3."
    ),
    "relu_before_bn": (
        "ReLU before BN: your branch applies ReLU between conv1 and bn1. The order is "
        "conv -> BN -> ReLU."
    ),
}


def _before_last_bn(
    ref: nn.Module, x: Tensor, kind: str, *, relu_before_bn: bool = False, skip_relu: int = 0
) -> Tensor:
    """The residual branch up to its last conv (before the last BN), with ``ref``'s weights.

    ``relu_before_bn`` puts the first ReLU between conv1 and bn1; ``skip_relu=k`` drops the
    ReLU after bn ``k``.
    """
    h = ref.conv1(x)
    if relu_before_bn:
        h = ref.bn1(torch.relu(h))
    else:
        h = ref.bn1(h) if skip_relu == 1 else torch.relu(ref.bn1(h))
    if kind == "BasicBlock":
        return ref.conv2(h)
    h = ref.bn2(ref.conv2(h))
    return ref.conv3(h if skip_relu == 2 else torch.relu(h))


def _block_candidates(ref: nn.Module, x: Tensor, kind: str) -> dict[str, Tensor]:
    """torchvision's output and the outputs of the usual mistakes, all with ``ref``'s weights."""
    relu = torch.relu
    shortcut = x if ref.downsample is None else ref.downsample(x)
    last_bn = ref.bn2 if kind == "BasicBlock" else ref.bn3
    before = _before_last_bn(ref, x, kind)
    branch = last_bn(before)
    candidates = {
        "correct": relu(branch + shortcut),
        "relu_before_add": relu(branch) + shortcut,
        "relu_before_and_after_add": relu(relu(branch) + shortcut),
        "no_final_relu": branch + shortcut,
        "no_shortcut": relu(branch),
        "bn_after_add": relu(last_bn(before + shortcut)),
        "relu_before_bn": relu(
            last_bn(_before_last_bn(ref, x, kind, relu_before_bn=True)) + shortcut
        ),
        "no_relu_after_bn1": relu(last_bn(_before_last_bn(ref, x, kind, skip_relu=1)) + shortcut),
    }
    if kind == "Bottleneck":
        candidates["no_relu_after_bn2"] = relu(
            last_bn(_before_last_bn(ref, x, kind, skip_relu=2)) + shortcut
        )
    return candidates


# --------------------------------------------------------------------------- _make_layer


def check_make_layer(resnet: type[nn.Module], *, raise_on_failure: bool = False) -> Verdict:
    """Check the reader's ``ResNet._make_layer`` on its own, with torchvision's blocks.

    The method runs on a ``resnet`` object whose ``__init__`` has not run (so an unfinished
    ``__init__`` does not matter), with the attributes torchvision's ``__init__`` sets before its
    first call (:data:`RESNET_ATTRIBUTES`, and ``_norm_layer = nn.BatchNorm2d``). It is called
    as ``self._make_layer(block, planes, blocks, stride)`` for the four stages of ResNet-18
    (torchvision's BasicBlock) and of ResNet-50 (its Bottleneck), in order, and each stage is
    checked: an ``nn.Sequential`` of ``blocks`` blocks; the stride on the first block only; a
    ``downsample`` (1x1 conv + BN) exactly where the shape changes; the input width of every
    block; and ``self.inplanes`` afterwards (``planes * block.expansion``).

    Args:
        resnet: the reader's ResNet class.
        raise_on_failure: raise ``ExerciseError`` instead of returning a failed verdict.

    Returns:
        a :class:`Verdict`; it prints ``✓``/``✗`` and the problems.

    Example:
        >>> check_make_layer(MyResNet)
    """
    name = f"{_name(resnet, 'ResNet')}._make_layer"

    def check(notes: list[str]) -> str:
        _needs_module_class(resnet, name, "ResNet class")
        if not callable(getattr(resnet, "_make_layer", None)):
            raise _Stop(
                "no _make_layer method: torchvision's ResNet builds each "
                "stage with self._make_layer(block, planes, blocks, stride)."
            )
        for kind, plan in STAGE_PLANS.items():
            _check_stages(resnet, kind, plan)
        return (
            "the stages of ResNet-18 and ResNet-50 have the right blocks, strides, projections "
            "and widths, and self.inplanes runs 64, 64, 128, 256, 512 and 64, 256, 512, 1024, "
            "2048."
        )

    return _verdict(name, check, raise_on_failure)


def _bare(resnet: type[nn.Module]) -> nn.Module:
    """A ``resnet`` object whose ``__init__`` has not run, with torchvision's attributes."""
    model = resnet.__new__(resnet)
    nn.Module.__init__(model)
    for key, value in RESNET_ATTRIBUTES.items():
        setattr(model, key, value)
    model._norm_layer = nn.BatchNorm2d
    return model


def _check_stages(resnet: type[nn.Module], kind: str, plan) -> None:
    block = _tv_block(kind)
    model = _bare(resnet)
    net = "ResNet-18" if kind == "BasicBlock" else "ResNet-50"
    attributes = ", ".join(f"{k}={v}" for k, v in RESNET_ATTRIBUTES.items())
    for number, (planes, blocks, stride) in enumerate(plan, 1):
        before = model.inplanes
        call = f"_make_layer({kind}, {planes}, {blocks}, {stride})"
        where = f"layer{number} of {net} ({call}, self.inplanes = {before})"
        with torch.device("meta"):  # shapes only: no memory, no initialisation cost
            stage = _call(
                call,
                model._make_layer,
                block,
                planes,
                blocks,
                stride,
                hint=(
                    "The checker calls it as self._make_layer(block, planes, blocks, stride) on "
                    "a ResNet whose __init__ has not run, with the attributes torchvision's "
                    f"__init__ sets first: {attributes}, _norm_layer=nn.BatchNorm2d."
                ),
            )
        problems = _stage_problems(stage, block, kind, planes, blocks, stride, before, where)
        problems += _inplanes_after(model, kind, planes * block.expansion, before, where, problems)
        if problems:
            raise _Stop(*problems)


def _stage_problems(stage, block, kind, planes, blocks, stride, before, where) -> list[str]:
    out = planes * block.expansion
    if isinstance(stage, (list, tuple, nn.ModuleList)):
        return [
            f"{where} returns a {type(stage).__name__}; return nn.Sequential(*layers), which "
            "runs the blocks one after the other (and registers them: layer1.0.conv1.weight ...)."
        ]
    if not isinstance(stage, nn.Sequential):
        return [f"{where} returns a {type(stage).__name__}, not an nn.Sequential of blocks."]
    parts = list(stage)
    others = [type(b).__name__ for b in parts if not isinstance(b, block)]
    if others:
        return [
            f"{where}: the stage holds {', '.join(others)}; it must hold only blocks "
            "of the class passed in."
        ]
    if len(parts) != blocks:
        more = " (the first block, then range(1, blocks) more)" if len(parts) == blocks + 1 else ""
        return [
            f"wrong number of blocks: {where} builds {len(parts)} blocks; it must build "
            f"blocks = {blocks}{more}."
        ]
    problems = _width_problems(parts, kind, planes, out, before, where)
    problems += _stride_placement(parts, stride, where)
    problems += _downsample_problems(parts, stride, out, before, where)
    return problems


def _width_problems(parts, kind, planes, out, before, where) -> list[str]:
    first_in = parts[0].conv1.in_channels
    if first_in != before:
        if first_in == out:
            return [
                f"self.inplanes updated too early: in {where}, the first block gets {out} input "
                f"channels, but the map arriving has self.inplanes = {before}. Build the first "
                "block, then set self.inplanes = planes * block.expansion."
            ]
        return [f"{where}: the first block gets {first_in} input channels; expected {before}."]
    for j, part in enumerate(parts[1:], 1):
        got = part.conv1.in_channels
        if got == out:
            continue
        if got == planes:  # (checked first: ResNet-50's layer1 has planes = inplanes = 64)
            return [
                f"wrong expansion in the bookkeeping: in {where}, block {j} gets planes = "
                f"{planes} input channels, but a {kind} outputs planes * block.expansion = {out}."
            ]
        if got == before:
            return [
                f"wrong inplanes bookkeeping: in {where}, block {j} gets {before} input channels, "
                f"but block {j - 1} outputs {out}. After the first block, set self.inplanes = "
                "planes * block.expansion."
            ]
        return [f"{where}: block {j} gets {got} input channels; expected {out}."]
    return []


def _stride_placement(parts, stride: int, where: str) -> list[str]:
    strides = [getattr(b, "stride", 1) for b in parts]
    expected = [stride] + [1] * (len(parts) - 1)
    if strides == expected:
        return []
    if len(parts) > 1 and all(s == stride for s in strides):
        return [
            f"stride on every block: in {where}, every block has stride {stride}. Only the first "
            "block of a stage strides; the others keep the map's size."
        ]
    if strides[0] != stride:
        return [
            f"{where}: the first block has stride {strides[0]}; it must get stride = {stride} "
            "(the stride argument of _make_layer)."
        ]
    return [f"{where}: the blocks have strides {strides}; expected {expected}."]


def _downsample_problems(parts, stride: int, out: int, before: int, where: str) -> list[str]:
    needed = stride != 1 or before != out
    first = parts[0].downsample
    later = [j for j, b in enumerate(parts[1:], 1) if b.downsample is not None]
    problems = []
    if needed and first is None:
        change = f"{before} -> {out} channels at stride {stride}"
        problems.append(
            f"missing downsample: {where} changes the shape ({change}), so x cannot be added to "
            "F(x). Build one whenever stride != 1 or self.inplanes != planes * block.expansion"
            + (" (testing stride != 1 alone misses ResNet-50's layer1)." if stride == 1 else ".")
        )
    elif not needed and first is not None:
        problems.append(
            f"downsample built when not needed: {where} keeps {before} channels at stride 1, so "
            "the shortcut is x itself; pass downsample=None (ResNet-18's layer1 has no "
            "projection)."
        )
    elif needed:
        problems += _projection_problems(first, stride, out, before, where)
    if later:
        problems.append(
            f"{where}: block {later[0]} has a downsample; only the first block of a stage gets "
            "one (the later blocks keep the shape)."
        )
    return problems


def _projection_problems(downsample, stride: int, out: int, before: int, where: str) -> list[str]:
    layers = list(_layers(downsample).values())
    convs = [m for m in layers if isinstance(m, nn.Conv2d)]
    norms = [m for m in layers if isinstance(m, _BatchNorm)]
    shape = (
        "torchvision's is nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, "
        "stride), norm_layer(planes * block.expansion))"
    )
    if not isinstance(downsample, nn.Sequential) or len(convs) != 1 or len(norms) != 1:
        return [
            f"{where}: the downsample has {len(convs)} conv(s) and {len(norms)} BatchNorm(s); "
            f"{shape}, keys downsample.0.weight, downsample.1.weight ..."
        ]
    conv = convs[0]
    if (conv.kernel_size, conv.stride, conv.in_channels, conv.out_channels) != (
        (1, 1),
        (stride, stride),
        before,
        out,
    ) or conv.bias is not None:
        return [
            f"{where}: the downsample's conv is {_conv_text(conv)}"
            + (", with a bias" if conv.bias is not None else "")
            + f"; expected 1x1, stride {stride}, {before} -> {out}, no bias: {shape}."
        ]
    if list(downsample) != [conv, norms[0]]:
        return [f"{where}: the downsample must be the conv, then the BatchNorm: {shape}."]
    return []


def _inplanes_after(model, kind: str, out: int, before: int, where: str, found) -> list[str]:
    after = getattr(model, "inplanes", None)
    if after == out or found:
        return []
    if after == before:
        return [
            f"wrong inplanes bookkeeping: after {where}, self.inplanes is still {before}; the "
            f"next stage receives {out} channels. Set self.inplanes = planes * block.expansion."
        ]
    return [
        f"wrong inplanes bookkeeping: after {where}, self.inplanes is {after}; a {kind} stage "
        f"outputs planes * block.expansion = {out} channels, which the next stage receives."
    ]


# --------------------------------------------------------------------------- ResNet


def check_resnet(
    resnet: type[nn.Module],
    basic_block: type[nn.Module] | None = None,
    bottleneck: type[nn.Module] | None = None,
    *,
    raise_on_failure: bool = False,
) -> Verdict:
    """Check the reader's ResNet: torchvision's ResNet-18 and ResNet-50 load into it and agree.

    Builds ``resnet(block, layers, num_classes=1000)`` for ResNet-18 (BasicBlock, [2, 2, 2, 2])
    and ResNet-50 (Bottleneck, [3, 4, 6, 3]) and compares it with torchvision's: the stages and
    their block counts, every layer by name (stem, stages, head), the map sizes after the stem
    and each stage on a 64x64 image, then the outputs with torchvision's weights loaded
    (``strict=True``) in eval and train mode, and on a 96x72 image (the head must pool any size).

    Args:
        resnet: the reader's ResNet class.
        basic_block, bottleneck: the blocks to build it with; ``None`` takes torchvision's, so
            that the ResNet is checked alone. Pass the reader's to check everything together.
        raise_on_failure: raise ``ExerciseError`` instead of returning a failed verdict.

    Returns:
        a :class:`Verdict`; it prints ``✓``/``✗`` and the problems. Its summary says whether the
        outputs were bit-identical or equal within rounding.

    Example:
        >>> check_resnet(MyResNet, MyBasicBlock, MyBottleneck)
    """
    name = _name(resnet, "ResNet")
    if basic_block is not None or bottleneck is not None:
        mine = [_name(b, "?") for b in (basic_block, bottleneck) if b is not None]
        name += f" with {' and '.join(mine)}"

    def check(notes: list[str]) -> str:
        _needs_module_class(resnet, name, "ResNet class")
        bit_identical = True
        for label, kind, layers, tv_name in NETWORKS:
            block = basic_block if kind == "BasicBlock" else bottleneck
            if block is not None:
                _needs_module_class(block, _name(block, kind), f"{kind} class")
            block = block or _tv_block(kind)
            bit_identical &= _check_network(resnet, block, kind, label, layers, tv_name)
        outputs = "bit-identical" if bit_identical else "equal within rounding (not bit for bit)"
        return (
            "torchvision's ResNet-18 and ResNet-50 state dicts load with strict=True, and the "
            f"outputs are {outputs} in eval and train mode."
        )

    return _verdict(name, check, raise_on_failure)


def _check_network(resnet, block, kind: str, label: str, layers, tv_name: str) -> bool:
    """One network against torchvision's; whether every output was bit-identical."""
    where = f"{_name(resnet, 'ResNet')}({_name(block, kind)}, {layers})"
    model = _call(
        f"building {where}",
        resnet,
        block,
        list(layers),
        num_classes=1000,
        hint="torchvision's is built as ResNet(block, layers, num_classes=1000).",
    )
    if not isinstance(model, nn.Module):
        raise _Stop(f"{where} returned a {type(model).__name__}, not an nn.Module.")
    _call(f"{where}.eval()", model.eval)
    ref = _randomise_norms(getattr(_tv(), tv_name)()).eval()
    x = torch.randn(2, 3, 64, 64)
    found = _stage_count_problems(model, layers, where)
    found = found or _outer_layer_problems(model, ref, kind, label)
    if found:
        raise _Stop(*found)
    try:  # map sizes first: a stride in the wrong stage also changes the stage's layers
        found = _map_size_problems(model, ref, x, where)
    except _Stop:  # the forward crashed: a stage's layers may tell why
        found = _stage_layer_problems(model, ref, label)
        if not found:
            raise
    found = found or _stage_layer_problems(model, ref, label)
    if found:
        raise _Stop(*found)
    with torch.no_grad():
        _call(
            f"loading torchvision's {label} state dict into {where}",
            model.load_state_dict,
            ref.state_dict(),
            strict=True,
        )
    identical = True
    for mode, image in (("eval", x), ("eval", torch.randn(1, 3, 96, 72)), ("train", x)):
        model.train(mode == "train"), ref.train(mode == "train")  # train: BN batch statistics
        if image is x:
            out = _forward(model, image.clone(), where)
        else:
            out = _forward(model, image.clone(), f"{where} on a 96x72 image", hint=_ANY_SIZE)
        with torch.no_grad():
            expected = ref(image.clone())
        if image is not x and not _close(out, expected):
            raise _Stop(
                f"wrong head: {where} agrees with torchvision on 64x64 images but not on 96x72 "
                f"ones. {_ANY_SIZE}"
            )
        if not _close(out, expected):
            raise _Stop(_network_mistake(out, ref, image, mode, where))
        identical &= torch.equal(out, expected)
    return identical


_ANY_SIZE = (
    "The head must pool a map of any size to 1x1, as torchvision's nn.AdaptiveAvgPool2d((1, 1)) "
    "does: a ResNet accepts images of any size."
)


def _stage_count_problems(model: nn.Module, layers, where: str) -> list[str]:
    problems = []
    for i, blocks in enumerate(layers, 1):
        stage = getattr(model, f"layer{i}", None)
        if not isinstance(stage, nn.Module):
            problems.append(
                f"{where} has no stage `layer{i}`: torchvision names the four stages layer1 ... "
                "layer4 (state dict keys layer1.0.conv1.weight ...)."
            )
        elif len(list(stage.children())) != blocks:
            problems.append(
                f"wrong number of blocks per stage: layer{i} of {where} has "
                f"{len(list(stage.children()))} blocks; layers[{i - 1}] = {blocks}."
            )
    return problems


def _outer_layer_problems(model: nn.Module, ref: nn.Module, kind: str, label: str) -> list[str]:
    """The stem and the head, layer by layer, against torchvision's (the stages come later)."""
    mine, theirs = _layers(model), _layers(ref)
    problems = []
    stem = [n for n in ("conv1", "bn1") if n not in mine]
    if stem:
        problems.append(
            f"missing stem pieces: your {label} has no {' and '.join(stem)}. torchvision's stem "
            "is conv1 (7x7, stride 2, 3 -> 64, no bias) -> bn1 -> relu -> maxpool."
        )
    if "fc" not in mine:
        linears = [n for n, m in mine.items() if isinstance(m, nn.Linear)]
        problems.append(
            "wrong head: the classifier must be named `fc` (torchvision's key fc.weight); "
            + (f"yours is `{linears[0]}`." if linears else "your model has no nn.Linear.")
        )
    others = [n for n in mine if n not in theirs and not n.startswith("layer") and n not in ("fc",)]
    others = [n for n in others if not isinstance(mine[n], nn.Linear)]
    if others:
        problems.append(f"your {label} has layers torchvision's has not: {', '.join(others)}.")
    if problems:
        return problems
    conv1, fc = mine["conv1"], mine["fc"]
    if (conv1.kernel_size, conv1.stride, conv1.padding, conv1.in_channels, conv1.out_channels) != (
        (7, 7),
        (2, 2),
        (3, 3),
        3,
        64,
    ) or conv1.bias is not None:
        problems.append(
            f"stem: your conv1 is {_conv_text(conv1)}"
            + (", with a bias" if conv1.bias is not None else "")
            + "; torchvision's stem conv is 7x7, stride 2, padding 3, 3 -> 64, no bias."
        )
    pools = [m for m in model.modules() if isinstance(m, nn.MaxPool2d)]
    if pools and (_pair(pools[0].kernel_size), _pair(pools[0].stride), _pair(pools[0].padding)) != (
        (3, 3),
        (2, 2),
        (1, 1),
    ):
        problems.append(
            f"stem: your max pool is {pools[0]}; torchvision's is MaxPool2d(kernel_size=3, "
            "stride=2, padding=1)."
        )
    wanted = theirs["fc"].in_features
    if isinstance(fc, nn.Linear) and fc.in_features != wanted:
        problems.append(
            f"wrong head: fc takes {fc.in_features} features, but the last stage of a {label} "
            f"outputs 512 * block.expansion = {wanted} channels ({kind}.expansion = "
            f"{wanted // 512})."
        )
    elif isinstance(fc, nn.Linear) and (fc.out_features != 1000 or fc.bias is None):
        problems.append(
            f"wrong head: fc is Linear({fc.in_features}, {fc.out_features}, bias="
            f"{fc.bias is not None}); expected Linear({fc.in_features}, num_classes=1000)."
        )
    elif not isinstance(fc, nn.Linear):
        problems.append(f"wrong head: fc is a {type(fc).__name__}; torchvision's is an nn.Linear.")
    return problems


def _pair(value: Any) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _stage_layer_problems(model: nn.Module, ref: nn.Module, label: str) -> list[str]:
    """The stages, layer by layer, against torchvision's."""
    mine, theirs = _layers(model), _layers(ref)
    inside = [n for n in theirs if n.startswith("layer") and n not in mine]
    surplus = [n for n in mine if n.startswith("layer") and n not in theirs]
    if inside or surplus:
        return [
            f"the stages of your {label} differ from torchvision's: "
            + (
                f"missing {', '.join(inside[:3])}{' ...' if len(inside) > 3 else ''}; "
                if inside
                else ""
            )
            + (
                f"extra {', '.join(surplus[:3])}{' ...' if len(surplus) > 3 else ''}; "
                if surplus
                else ""
            )
            + "check_make_layer and check_block name the mistake inside a stage."
        ]
    for n, layer in mine.items():
        ref_layer = theirs[n]
        if isinstance(layer, nn.Conv2d) and isinstance(ref_layer, nn.Conv2d):
            if layer.weight.shape != ref_layer.weight.shape or layer.bias is not None:
                return [
                    f"`{n}` is {_conv_text(layer)}; torchvision's is {_conv_text(ref_layer)}, no "
                    "bias. check_make_layer and check_block say more."
                ]
        elif type(layer) is not type(ref_layer) or (
            isinstance(layer, _BatchNorm) and layer.num_features != ref_layer.num_features
        ):
            return [f"`{n}` is {layer}; torchvision's is {ref_layer}."]
    return []


def _map_size_problems(model: nn.Module, ref: nn.Module, x: Tensor, where: str) -> list[str]:
    """Map sizes entering layer1 and leaving each stage, on a 64x64 image, against torchvision's."""
    mine, theirs = _stage_sizes(model, x, where), _stage_sizes(ref, x, "torchvision")
    if mine == theirs:
        return []
    if mine.get("stem") != theirs["stem"]:
        seen = f"In {where} layer1 receives a {mine.get('stem')} map from a 64x64 image, expected"
        if "pool" not in mine:
            unused = any(isinstance(m, nn.MaxPool2d) for m in model.modules())
            return [
                "missing stem pieces: no max pool"
                + (" (your model has one, but forward does not call it)" if unused else "")
                + f". {seen} {theirs['stem']}: torchvision's stem is conv1 (stride 2) -> bn1 -> "
                "relu -> maxpool (3x3, stride 2, padding 1)."
            ]
        return [
            f"stem: {seen} {theirs['stem']}; torchvision's stem halves the map twice: conv1 "
            "(stride 2), then maxpool (stride 2)."
        ]
    for i in range(1, 5):
        key = f"layer{i}"
        if mine.get(key) != theirs[key]:
            stride = "stride 1: the max pool has just halved the map" if i == 1 else "stride 2"
            return [
                f"{where}: {key} outputs a {mine.get(key)} map from a 64x64 image, expected "
                f"{theirs[key]}; the first block of {key} gets {stride}."
            ]
    return []


def _stage_sizes(model: nn.Module, x: Tensor, where: str) -> dict[str, str]:
    """The map size entering layer1 ("stem"), leaving each stage and leaving a max pool."""
    sizes: dict[str, str] = {}

    def record(key: str, t: Any) -> None:  # a hook that returns None changes nothing
        if isinstance(t, Tensor):
            sizes.setdefault(key, "x".join(map(str, t.shape[-2:])))

    hooks = [model.layer1.register_forward_pre_hook(lambda m, args: record("stem", args[0]))]
    for pool in (m for m in model.modules() if isinstance(m, nn.MaxPool2d)):
        hooks.append(pool.register_forward_hook(lambda m, a, o: record("pool", o)))
    for i in range(1, 5):
        stage = getattr(model, f"layer{i}")
        hooks.append(stage.register_forward_hook(lambda m, a, o, i=i: record(f"layer{i}", o)))
    try:
        _forward(model, x.clone(), where)
    finally:
        for hook in hooks:
            hook.remove()
    return sizes


def _network_variants(ref: nn.Module, mode: str) -> list[tuple[str, Callable[[Tensor], Tensor]]]:
    """The usual mistakes of a whole network as changes to torchvision's model: (message, model)."""

    def changed(**modules: nn.Module) -> nn.Module:
        model = copy.deepcopy(ref).train(mode == "train")
        for key, module in modules.items():
            setattr(model, key, module)
        return model

    same = changed()
    return [
        (  # torchvision's ResNet uses self.relu in the stem only (each block has its own)
            "missing stem pieces: no ReLU after bn1. The stem is conv1 -> bn1 -> relu -> maxpool.",
            changed(relu=nn.Identity()),
        ),
        (
            "wrong head: global max pooling; torchvision averages each map with "
            "nn.AdaptiveAvgPool2d((1, 1)).",
            changed(avgpool=nn.AdaptiveMaxPool2d((1, 1))),
        ),
        (
            "wrong head: your forward returns probabilities (a softmax); torchvision's returns "
            "the logits, fc's output. The loss (cross-entropy) applies the softmax itself.",
            lambda x: same(x).softmax(dim=1),
        ),
        (
            "wrong head: a ReLU after fc. The logits must be able to be negative.",
            lambda x: torch.relu(same(x)),
        ),
    ]


def _network_mistake(out: Tensor, ref: nn.Module, x: Tensor, mode: str, where: str) -> str:
    for message, variant in _network_variants(ref, mode):
        with torch.no_grad():
            if _close(out, variant(x.clone())):
                return message
    if mode == "train":
        return (
            f"{where}: outputs match torchvision's in eval mode but not in train mode (a module "
            "switched to eval inside forward, or a Dropout?)."
        )
    return (
        f"{where}: with torchvision's weights the output differs from torchvision's, and matches "
        "none of the usual mistakes. torchvision's forward: conv1, bn1, relu, maxpool, layer1 "
        "... layer4, avgpool, flatten, fc. If your blocks are your own, check_block tells more."
    )
