"""Chapter 6's exercises, part 1: conv3x3 and conv1x1, BasicBlock and Bottleneck.

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

import torch
from torch import Tensor, nn

from .._checks import BATCH_NORMS
from ._feedback import Verdict
from ._harness import (
    Stop,
    call,
    close,
    forward,
    layers_of,
    name_of,
    needs_callable,
    needs_module_class,
    randomise_norms,
    tv,
    tv_block,
    verdict,
)

__all__ = ["BLOCK_CONFIGS", "check_block", "check_convs"]

BLOCK_CONFIGS = {
    "BasicBlock": ((8, 8, 1), (8, 16, 2)),
    "Bottleneck": ((32, 8, 1), (16, 8, 1), (32, 16, 2)),
}
#: The stages torchvision's ResNet-18 and ResNet-50 build: (planes, blocks, stride) each.


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
            raise Stop(*problems)
        return (
            "a 3x3 conv with padding 1 and a 1x1 conv, no bias, strides as asked; "
            "with torchvision's weights they compute what torchvision's conv3x3 and conv1x1 do."
        )

    return verdict(
        f"{name_of(conv3x3, 'conv3x3')}, {name_of(conv1x1, 'conv1x1')}", check, raise_on_failure
    )


def _conv_problems(fn: Callable[..., nn.Module], k: int) -> list[str]:
    name = name_of(fn, f"conv{k}x{k}")
    needs_callable(fn, name, "function")
    reference = tv().conv3x3 if k == 3 else tv().conv1x1
    for stride in (1, 2):
        where = f"{name}(8, 16, {stride})"
        conv = call(
            where,
            fn,
            8,
            16,
            stride,
            hint=f"torchvision's is conv{k}x{k}(in_planes, out_planes, stride=1).",
        )
        if not isinstance(conv, nn.Conv2d):
            if isinstance(conv, nn.Module) and any(
                isinstance(m, BATCH_NORMS) for m in conv.modules()
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
            out = call(f"{where} applied to x", conv, x)
            if not close(out, ref(x)):
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
    name = name_of(block, kind)

    def check(notes: list[str]) -> str:
        needs_module_class(block, name, "block class")
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

    return verdict(name, check, raise_on_failure)


def _check_expansion(block: type, name: str, kind: str) -> None:
    expected = tv_block(kind).expansion
    expansion = getattr(block, "expansion", None)
    if expansion is None:
        raise Stop(
            f"no expansion: give {name} the class attribute expansion = {expected}, as "
            f"torchvision's {kind} has. A block outputs planes * expansion channels; "
            "_make_layer and the head read it."
        )
    if expansion != expected:
        raise Stop(
            f"wrong expansion: {name}.expansion is {expansion!r}; a {kind} outputs planes * "
            f"{expected} channels, so expansion = {expected}."
        )


def _reference_block(kind: str, inplanes: int, planes: int, stride: int, variant: str):
    """torchvision's block for one configuration, its projection if the shape changes."""
    cls = tv_block(kind)
    out = planes * cls.expansion
    downsample = None
    if stride != 1 or inplanes != out:
        downsample = nn.Sequential(tv().conv1x1(inplanes, out, stride), nn.BatchNorm2d(out))
    block = cls(inplanes, planes, stride, downsample)
    if variant == "v1" and stride != 1:  # the paper's Bottleneck: same weights, stride moved
        block.conv1.stride, block.conv2.stride = (stride, stride), (1, 1)
    return randomise_norms(block).eval()


def _check_block_config(block, name: str, kind: str, variant: str, config) -> None:
    inplanes, planes, stride = config
    ref = _reference_block(kind, inplanes, planes, stride, variant)
    given = copy.deepcopy(ref.downsample)
    shortcut = "None" if given is None else "1x1 conv + BN"
    where = f"{name}({inplanes}, {planes}, {stride}, downsample={shortcut})"
    user = call(
        f"building {where}",
        block,
        inplanes,
        planes,
        stride,
        given,
        hint="_make_layer builds a block as block(inplanes, planes, stride, downsample).",
    )
    if not isinstance(user, nn.Module):
        raise Stop(f"{where} returned a {type(user).__name__}, not an nn.Module.")
    call(f"{where}.eval()", user.eval)
    problems = _block_layer_problems(user, ref, given, kind, variant, config, where)
    if problems:
        raise Stop(*problems)
    with torch.no_grad():
        call(
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
    ref_layers, user_layers = layers_of(ref), layers_of(user)
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
    for label, cls in (("BatchNorm", BATCH_NORMS), ("convolution", nn.Conv2d)):
        gone = [n for n in missing if isinstance(ref_layers[n], cls)]
        more = [n for n in extra if isinstance(user_layers[n], cls)]
        if gone and len(gone) == len(more):
            problems.append(
                f"names differ from torchvision's: your {label}s {', '.join(more)} should be "
                f"named {', '.join(gone)}. A state dict is matched by name, so torchvision's "
                "weights load only into its names."
            )
        elif gone and label == "BatchNorm":
            problems.append(
                f"missing BN: your {kind} has no {', '.join(gone)}. In torchvision's {kind} "
                "every conv of the branch is followed by its own BatchNorm (conv1 -> bn1 ...)."
            )
        elif gone:
            convs = ", ".join(n for n in ref_layers if n.startswith("conv"))
            problems.append(
                f"missing conv: your {kind} has no {', '.join(gone)}; torchvision's has {convs}."
            )
        elif more and label == "BatchNorm":
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
        isinstance(layer, BATCH_NORMS) and isinstance(ref, BATCH_NORMS)
    ):
        return [f"`{n}` is a {type(layer).__name__}; torchvision's is a {type(ref).__name__}."]
    if isinstance(ref, BATCH_NORMS):
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
    out = forward(user, x, where, hint)
    if not torch.equal(x, before):
        raise Stop(
            f"{where}: forward changed its input x in place (an in-place ReLU on x, or x += "
            "...?). The shortcut needs the original x: out += identity, not x += out."
        )
    with torch.no_grad():
        candidates = _block_candidates(ref, x, kind)
    expected = candidates.pop("correct")
    if out.shape != expected.shape:
        raise Stop(
            f"{where}: the output has shape {tuple(out.shape)}; torchvision's has "
            f"{tuple(expected.shape)}."
        )
    if not close(out, expected):
        last_bn = "bn3" if kind == "Bottleneck" else "bn2"
        for key, value in candidates.items():
            if close(out, value):
                raise Stop(f"{_BLOCK_MISTAKES[key].format(last_bn=last_bn)} (found in {where})")
        raise Stop(
            f"{where}: with torchvision's weights the output differs from torchvision's, and "
            "matches none of the usual mistakes. torchvision computes out = bn(conv(...)) "
            f"with a ReLU after each BN but {last_bn}, then out += identity, then ReLU."
        )
    user_train, ref_train = copy.deepcopy(user).train(), copy.deepcopy(ref).train()
    with torch.no_grad():
        same = close(forward(user_train, x.clone(), where), ref_train(x.clone()))
    if not same:
        raise Stop(
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
