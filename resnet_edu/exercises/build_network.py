"""Chapter 6's exercises, part 2: ResNet._make_layer alone, then the whole ResNet.

Both are checked against torchvision's, as the parts are (see ``build_blocks``):
``check_make_layer`` runs the reader's ``_make_layer`` alone, on an object whose
``__init__`` has not run, with torchvision's blocks; ``check_resnet`` builds ResNet-18 and
ResNet-50 from the reader's class and loads torchvision's state dicts into them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from .._checks import BATCH_NORMS
from ._feedback import Verdict
from ._harness import (
    Stop,
    call,
    close,
    conv_text,
    forward,
    layers_of,
    name_of,
    needs_module_class,
    randomise_norms,
    tv,
    tv_block,
    verdict,
)

__all__ = ["NETWORKS", "RESNET_ATTRIBUTES", "STAGE_PLANS", "check_make_layer", "check_resnet"]

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
    name = f"{name_of(resnet, 'ResNet')}._make_layer"

    def check(notes: list[str]) -> str:
        needs_module_class(resnet, name, "ResNet class")
        if not callable(getattr(resnet, "_make_layer", None)):
            raise Stop(
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

    return verdict(name, check, raise_on_failure)


def _bare(resnet: type[nn.Module]) -> nn.Module:
    """A ``resnet`` object whose ``__init__`` has not run, with torchvision's attributes."""
    model = resnet.__new__(resnet)
    nn.Module.__init__(model)
    for key, value in RESNET_ATTRIBUTES.items():
        setattr(model, key, value)
    model._norm_layer = nn.BatchNorm2d
    return model


def _check_stages(resnet: type[nn.Module], kind: str, plan) -> None:
    block = tv_block(kind)
    model = _bare(resnet)
    net = "ResNet-18" if kind == "BasicBlock" else "ResNet-50"
    attributes = ", ".join(f"{k}={v}" for k, v in RESNET_ATTRIBUTES.items())
    for number, (planes, blocks, stride) in enumerate(plan, 1):
        before = model.inplanes
        asked = f"_make_layer({kind}, {planes}, {blocks}, {stride})"
        where = f"layer{number} of {net} ({asked}, self.inplanes = {before})"
        with torch.device("meta"):  # shapes only: no memory, no initialisation cost
            stage = call(
                asked,
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
            raise Stop(*problems)


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
    layers = list(layers_of(downsample).values())
    convs = [m for m in layers if isinstance(m, nn.Conv2d)]
    norms = [m for m in layers if isinstance(m, BATCH_NORMS)]
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
            f"{where}: the downsample's conv is {conv_text(conv)}"
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
    name = name_of(resnet, "ResNet")
    if basic_block is not None or bottleneck is not None:
        mine = [name_of(b, "?") for b in (basic_block, bottleneck) if b is not None]
        name += f" with {' and '.join(mine)}"

    def check(notes: list[str]) -> str:
        needs_module_class(resnet, name, "ResNet class")
        bit_identical = True
        for label, kind, layers, tv_name in NETWORKS:
            block = basic_block if kind == "BasicBlock" else bottleneck
            if block is not None:
                needs_module_class(block, name_of(block, kind), f"{kind} class")
            block = block or tv_block(kind)
            bit_identical &= _check_network(resnet, block, kind, label, layers, tv_name)
        outputs = "bit-identical" if bit_identical else "equal within rounding (not bit for bit)"
        return (
            "torchvision's ResNet-18 and ResNet-50 state dicts load with strict=True, and the "
            f"outputs are {outputs} in eval and train mode."
        )

    return verdict(name, check, raise_on_failure)


def _check_network(resnet, block, kind: str, label: str, layers, tv_name: str) -> bool:
    """One network against torchvision's; whether every output was bit-identical."""
    where = f"{name_of(resnet, 'ResNet')}({name_of(block, kind)}, {layers})"
    model = call(
        f"building {where}",
        resnet,
        block,
        list(layers),
        num_classes=1000,
        hint="torchvision's is built as ResNet(block, layers, num_classes=1000).",
    )
    if not isinstance(model, nn.Module):
        raise Stop(f"{where} returned a {type(model).__name__}, not an nn.Module.")
    call(f"{where}.eval()", model.eval)
    ref = randomise_norms(getattr(tv(), tv_name)()).eval()
    x = torch.randn(2, 3, 64, 64)
    found = _stage_count_problems(model, layers, where)
    found = found or _outer_layer_problems(model, ref, kind, label)
    if found:
        raise Stop(*found)
    try:  # map sizes first: a stride in the wrong stage also changes the stage's layers
        found = _map_size_problems(model, ref, x, where)
    except Stop:  # the forward crashed: a stage's layers may tell why
        found = _stage_layer_problems(model, ref, label)
        if not found:
            raise
    found = found or _stage_layer_problems(model, ref, label)
    if found:
        raise Stop(*found)
    with torch.no_grad():
        call(
            f"loading torchvision's {label} state dict into {where}",
            model.load_state_dict,
            ref.state_dict(),
            strict=True,
        )
    identical = True
    for mode, image in (("eval", x), ("eval", torch.randn(1, 3, 96, 72)), ("train", x)):
        model.train(mode == "train"), ref.train(mode == "train")  # train: BN batch statistics
        if image is x:
            out = forward(model, image.clone(), where)
        else:
            out = forward(model, image.clone(), f"{where} on a 96x72 image", hint=_ANY_SIZE)
        with torch.no_grad():
            expected = ref(image.clone())
        if image is not x and not close(out, expected):
            raise Stop(
                f"wrong head: {where} agrees with torchvision on 64x64 images but not on 96x72 "
                f"ones. {_ANY_SIZE}"
            )
        if not close(out, expected):
            raise Stop(_network_mistake(out, ref, image, mode, where))
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
    mine, theirs = layers_of(model), layers_of(ref)
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
            f"stem: your conv1 is {conv_text(conv1)}"
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
    mine, theirs = layers_of(model), layers_of(ref)
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
                    f"`{n}` is {conv_text(layer)}; torchvision's is {conv_text(ref_layer)}, no "
                    "bias. check_make_layer and check_block say more."
                ]
        elif type(layer) is not type(ref_layer) or (
            isinstance(layer, BATCH_NORMS) and layer.num_features != ref_layer.num_features
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
        forward(model, x.clone(), where)
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
            if close(out, variant(x.clone())):
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
