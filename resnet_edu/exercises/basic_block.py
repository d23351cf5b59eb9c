"""Chapter 2's exercise: a BasicBlock of the reader's own, checked against the library's.

``check_basic_block`` takes the reader's BasicBlock, builds it for a few configurations, gives it
the weights of ``resnet_edu.BasicBlock`` and compares the two -- structure first (kernel sizes,
padding, strides, biases, BatchNorms), then outputs. When an output differs, the checker also
computes the outputs of the usual mistakes (ReLU before the addition, no final ReLU, no
shortcut ...) with the same weights, and names the one that the reader's block reproduces.

The contract, shared with ``resnet_edu.BasicBlock`` and torchvision's ``BasicBlock``:

* The block is built as ``block(inplanes, planes, stride, downsample)`` (positional).
* ``downsample`` is the shortcut module. It is ``None`` when the shape does not change: the
  shortcut is then the identity, ``x`` itself. When the shape changes (``stride=2`` and more
  channels) the checker passes a ready-made module -- a 1x1 projection + BN (option B) or a
  zero-padding identity (option A) -- and the block must apply it to ``x`` on the shortcut path.
  The block must not build a shortcut of its own.
* The residual branch is ``conv3x3(stride) -> BN -> ReLU -> conv3x3 -> BN`` with bias-free
  convolutions, and the block returns ``relu(F(x) + shortcut(x))``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn

from .._checks import BATCH_NORMS
from ..blocks import BasicBlock, ZeroPadShortcut, make_shortcut
from ._feedback import CheckResult
from ._harness import randomise_norms

__all__ = ["check_basic_block"]

#: The configurations a BasicBlock is checked in: (inplanes, planes, stride, shortcut option).
#: The option is what the checker passes as ``downsample`` when the shape changes.
BASIC_BLOCK_CONFIGS: tuple[tuple[int, int, int, str | None], ...] = (
    (8, 8, 1, None),  # same shape: identity shortcut, downsample=None
    (8, 16, 2, "B"),  # stride 2, more channels: a 1x1 projection + BN is passed in
    (8, 16, 2, "A"),  # the same, with a parameter-free zero-padding shortcut
)
_REFERENCE_NAMES = ("conv1", "bn1", "conv2", "bn2")


def check_basic_block(
    user_cls_or_factory: Callable[..., nn.Module],
    *,
    raise_on_failure: bool = False,
    seed: int = 0,
) -> CheckResult:
    """Check the reader's BasicBlock against ``resnet_edu.BasicBlock`` (chapter 3's exercise).

    The block is built as ``user_cls_or_factory(inplanes, planes, stride, downsample)`` in three
    configurations (see ``BASIC_BLOCK_CONFIGS``): 8 -> 8 channels at stride 1 with
    ``downsample=None`` (identity shortcut), and 8 -> 16 channels at stride 2 with ``downsample``
    a 1x1 projection + BN, then a zero-padding shortcut; the block must apply ``downsample`` to
    its input on the shortcut path whenever it is not ``None``. The checker then

    1. inspects the structure: two 3x3 convolutions with padding 1 and no bias, the first one
       carrying the stride, each followed by its own BatchNorm, every module used in forward;
    2. runs the block (eval mode) and checks the output shape and that the input is unchanged;
    3. copies the reference block's weights into the reader's (by name when the names are
       ``conv1, bn1, conv2, bn2``, otherwise by the order in which forward calls the modules),
       compares outputs in eval and train mode, and, if they differ, names the known mistake
       whose output the reader's block reproduces.

    Args:
        user_cls_or_factory: a class or any callable ``(inplanes, planes, stride, downsample)
            -> nn.Module``.
        raise_on_failure: raise ``ExerciseError`` (an ``AssertionError``) instead of returning a
            failed result.
        seed: seeds the weights and inputs (the global RNG state is left untouched).

    Returns:
        a ``CheckResult`` (``ok``, ``messages``, ``notes``); it prints as a readable summary.

    Raises:
        TypeError: if ``user_cls_or_factory`` is not callable.
        ExerciseError: with ``raise_on_failure=True``, when a problem is found.

    Example:
        >>> check_basic_block(resnet_edu.BasicBlock).ok
        True
    """
    _check_arguments(user_cls_or_factory, raise_on_failure, seed)
    name = getattr(user_cls_or_factory, "__name__", type(user_cls_or_factory).__name__)
    result = CheckResult(ok=True, name=name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for config in BASIC_BLOCK_CONFIGS:
            problems = _check_config(user_cls_or_factory, config, result.notes)
            if problems:  # one configuration at a time: later ones would repeat the same story
                result.ok, result.messages = False, problems
                break
    result.notes = list(dict.fromkeys(result.notes))
    if raise_on_failure:
        result.raise_if_failed()
    return result


def _check_arguments(user_cls_or_factory: object, raise_on_failure: object, seed: object) -> None:
    if not callable(user_cls_or_factory) or isinstance(user_cls_or_factory, nn.Module):
        raise TypeError(
            "user_cls_or_factory must be a class or a function that builds a block as "
            "block(inplanes, planes, stride, downsample), e.g. check_basic_block(MyBasicBlock); "
            f"got {type(user_cls_or_factory).__name__}"
        )
    if not isinstance(raise_on_failure, bool):
        raise TypeError(f"raise_on_failure must be True or False, got {raise_on_failure!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}")


def _describe(config: tuple[int, int, int, str | None]) -> str:
    inplanes, planes, stride, option = config
    shortcut = {None: "None", "A": "zero-padding shortcut", "B": "1x1 conv + BN projection"}
    return f"block({inplanes}, {planes}, stride={stride}, downsample={shortcut[option]})"


def _reference(config: tuple[int, int, int, str | None]) -> BasicBlock:
    """The reference block with non-trivial BN parameters and statistics (so BN matters)."""
    inplanes, planes, stride, option = config
    downsample = make_shortcut(option, inplanes, planes, stride) if option else None
    block = BasicBlock(inplanes, planes, stride, downsample)
    return randomise_norms(block, scale=(0.5, 1.5), shift=0.3, var=(0.5, 1.5)).eval()


def _check_config(
    factory: Callable[..., nn.Module],
    config: tuple[int, int, int, str | None],
    notes: list[str],
) -> list[str]:
    inplanes, planes, stride, option = config
    where = _describe(config)
    ref = _reference(config)
    user_downsample = copy.deepcopy(ref.downsample)
    block = _build(factory, config, user_downsample)
    if isinstance(block, str):
        return [block]
    x = torch.randn(4, inplanes, 8, 8)
    problems, crash, (convs, norms, names) = _inspect(block, x, user_downsample, config)
    if problems:
        return problems
    if crash is not None:
        return [_crash_message(where, crash, config)]

    with torch.no_grad():
        x_before = x.clone()
        out = block(x)
    if not torch.equal(x, x_before):
        return [
            f"{where}: forward changed its input x in place (an in-place ReLU or += on x?). "
            "The shortcut needs the original x: use out = out + identity, not x += ..."
        ]
    expected = (4, planes, 8 // stride, 8 // stride)
    if not isinstance(out, Tensor) or tuple(out.shape) != expected:
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        return [f"{where}: output shape is {got}, expected {expected}."]

    _copy_weights(ref, convs, norms, names, notes)
    return _compare(block, ref, x, where)


def _build(
    factory: Callable[..., nn.Module], config: tuple, downsample: nn.Module | None
) -> nn.Module | str:
    """The reader's block in eval mode, or a message saying why it could not be built."""
    inplanes, planes, stride, _ = config
    where = _describe(config)
    try:
        block = factory(inplanes, planes, stride, downsample)
    except Exception as err:  # the reader's constructor: report, do not crash the notebook
        hint = (
            " The checker builds your block as block(inplanes, planes, stride, downsample), "
            "like resnet_edu.BasicBlock."
            if isinstance(err, TypeError)
            else ""
        )
        return f"building {where} raised {type(err).__name__}: {err}.{hint}"
    if not isinstance(block, nn.Module):
        return f"{where} returned a {type(block).__name__}, not a torch.nn.Module."
    return block.eval()


def _inspect(block: nn.Module, x: Tensor, user_downsample: nn.Module | None, config: tuple):
    """Structure problems, the forward's crash (or None), and the branch's convs and norms."""
    where = _describe(config)
    order, crash = _trace(block, x)
    given = {id(m) for m in user_downsample.modules()} if user_downsample is not None else set()
    names = {id(m): n for n, m in block.named_modules()}
    rank = {id(m): i for i, m in enumerate(order)}

    def in_call_order(mods: list[nn.Module]) -> list[nn.Module]:
        return sorted(mods, key=lambda m: rank.get(id(m), len(order)))

    convs = in_call_order(
        [m for m in block.modules() if isinstance(m, nn.Conv2d) and id(m) not in given]
    )
    norms = in_call_order(
        [m for m in block.modules() if isinstance(m, BATCH_NORMS) and id(m) not in given]
    )
    problems = _structure_problems(convs, norms, names, config)
    if user_downsample is not None and not any(id(m) in given for m in block.modules()):
        problems.append(
            f"{where}: your block does not keep the `downsample` module it was given. Store it "
            "(self.downsample = downsample) and apply it to x on the shortcut path."
        )
    if crash is None and not problems:
        unused = [names[id(m)] for m in (*convs, *norms) if id(m) not in rank]
        if unused:
            problems.append(
                f"{where}: {', '.join(unused)} is created in __init__ but never called in forward."
            )
    return problems, crash, (convs, norms, names)


def _trace(block: nn.Module, x: Tensor) -> tuple[list[nn.Module], Exception | None]:
    """Run ``block(x)`` once and record the order in which convs and norms are called."""
    order: list[nn.Module] = []
    seen: set[int] = set()

    def hook(module: nn.Module, _inputs: tuple, _output: Tensor) -> None:
        if id(module) not in seen:
            seen.add(id(module))
            order.append(module)

    handles = [
        m.register_forward_hook(hook)
        for m in block.modules()
        if isinstance(m, (nn.Conv2d, *BATCH_NORMS))
    ]
    crash = None
    try:
        with torch.no_grad():
            block(x.clone())
    except Exception as err:  # the reader's forward: turned into a message by the caller
        crash = err
    finally:
        for handle in handles:
            handle.remove()
    return order, crash


def _structure_problems(
    convs: list[nn.Conv2d],
    norms: list[nn.Module],
    names: dict[int, str],
    config: tuple[int, int, int, str | None],
) -> list[str]:
    planes = config[1]
    where = _describe(config)
    problems = []
    if len(convs) != 2:
        listed = ", ".join(f"{names[id(c)]} ({_conv_summary(c)})" for c in convs) or "none"
        own_shortcut = any(c.kernel_size == (1, 1) for c in convs)
        hint = (
            " A 1x1 conv of your own? The shortcut is the `downsample` argument: do not build one."
            if own_shortcut
            else ""
        )
        return [
            f"{where}: the residual branch must have exactly two nn.Conv2d (3x3), found "
            f"{len(convs)}: {listed}.{hint}"
        ]
    problems += _conv_problems(convs, names)
    problems += _shape_problems(convs, config)
    problems += _norm_problems(norms, planes)
    return problems


def _conv_problems(convs: list[nn.Conv2d], names: dict[int, str]) -> list[str]:
    problems = []
    for conv, role in zip(convs, ("first", "second"), strict=True):
        label = f"the {role} conv ({names[id(conv)]})"
        if conv.kernel_size != (3, 3):
            problems.append(
                f"wrong kernel size: {label} has kernel_size={conv.kernel_size}; "
                "both convolutions of a BasicBlock are 3x3."
            )
        elif conv.padding != (1, 1):
            problems.append(
                f"wrong padding: {label} has padding={conv.padding}; a 3x3 conv needs "
                "padding=1 to keep the feature map's size."
            )
        if conv.bias is not None:
            problems.append(
                f"bias in convs: {label} has a bias. A BatchNorm follows it and its shift "
                "(beta) makes a conv bias redundant: use bias=False."
            )
    return problems


def _shape_problems(convs: list[nn.Conv2d], config: tuple) -> list[str]:
    inplanes, planes, stride, _ = config
    where = _describe(config)
    problems = []
    first, second = convs
    strides = (first.stride, second.stride)
    if strides != ((stride, stride), (1, 1)):
        size = 8 // (first.stride[0] * second.stride[0])
        effect = (
            f"so an 8x8 input gives a {size}x{size} output instead of {8 // stride}x{8 // stride}"
            if size != 8 // stride
            else "the output size is right, but conv1 computes a full-size map of which "
            "conv2 then skips 3 pixels in 4 -- not the paper's block"
        )
        problems.append(
            f"wrong stride in {where}: your convs have strides {first.stride[0]} and "
            f"{second.stride[0]}: {effect}. The first 3x3 conv takes stride={stride} (it is "
            "the one that halves the map), the second always has stride 1."
        )
    channels = ((first.in_channels, first.out_channels), (second.in_channels, second.out_channels))
    if channels != ((inplanes, planes), (planes, planes)):
        problems.append(
            f"wrong channels in {where}: your convs map {channels[0][0]}->{channels[0][1]} and "
            f"{channels[1][0]}->{channels[1][1]}; expected {inplanes}->{planes} and "
            f"{planes}->{planes}."
        )
    return problems


def _norm_problems(norms: list[nn.Module], planes: int) -> list[str]:
    problems = []
    if not norms:
        problems.append(
            "missing BN: your block has no BatchNorm. Each conv is followed by its own "
            "nn.BatchNorm2d(planes): conv -> BN -> ReLU."
        )
    elif len(norms) == 1:
        problems.append(
            "missing BN: your block has only one BatchNorm module. Each of the two convs needs "
            "its own (reusing one module would share its parameters and running statistics)."
        )
    elif len(norms) > 2:
        problems.append(f"your block has {len(norms)} BatchNorms on its branch; expected 2.")
    elif any(getattr(n, "num_features", planes) != planes for n in norms):
        problems.append(f"the BatchNorms must have num_features=planes={planes}.")
    return problems


def _conv_summary(conv: nn.Conv2d) -> str:
    return f"{conv.in_channels}->{conv.out_channels}, kernel {conv.kernel_size[0]}"


def _crash_message(where: str, err: Exception, config: tuple[int, int, int, str | None]) -> str:
    _, _, stride, option = config
    text = f"{type(err).__name__}: {err}".splitlines()[0]
    if option is not None and "size of tensor" in str(err):
        return (
            f"no downsample: in {where} adding the shortcut to F(x) failed ({text}). When the "
            "shape changes, x itself does not fit F(x): the shortcut must be downsample(x), "
            "with the `downsample` module passed to your constructor."
        )
    return f"{where}: forward raised {text}"


def _copy_weights(
    ref: BasicBlock,
    convs: list[nn.Conv2d],
    norms: list[nn.Module],
    names: dict[int, str],
    notes: list[str],
) -> None:
    """Give the reader's branch the reference's weights: conv1, bn1, conv2, bn2 in call order."""
    targets = (convs[0], norms[0], convs[1], norms[1])
    sources = (ref.conv1, ref.bn1, ref.conv2, ref.bn2)
    user_names = tuple(names[id(m)] for m in targets)
    if user_names != _REFERENCE_NAMES:
        pairs = ", ".join(f"{u} <- {r}" for u, r in zip(user_names, _REFERENCE_NAMES, strict=True))
        notes.append(
            f"your module names differ from torchvision's (conv1, bn1, conv2, bn2), so "
            f"pretrained state dicts would not load; weights were matched by call order: {pairs}."
        )
    with torch.no_grad():
        for target, source in zip(targets, sources, strict=True):
            for key, value in source.state_dict().items():
                getattr(target, key).copy_(value)


def _compare(block: nn.Module, ref: BasicBlock, x: Tensor, where: str) -> list[str]:
    with torch.no_grad():
        out = block(x.clone())
        candidates = _mistakes(ref, x)
    if torch.allclose(out, candidates["correct"], rtol=1e-4, atol=1e-5):
        return _compare_train_mode(block, ref, x, where)
    for key, expected in candidates.items():
        if key != "correct" and torch.allclose(out, expected, rtol=1e-4, atol=1e-5):
            return [f"{_MISTAKES[key]} (found in {where})"]
    diff = (out - candidates["correct"]).abs().max().item()
    return [
        f"{where}: with the reference weights your output differs from resnet_edu.BasicBlock's "
        f"by up to {diff:.3g}, and matches none of the usual mistakes. Check the order: "
        "conv1 -> bn1 -> relu -> conv2 -> bn2, then + shortcut, then relu."
    ]


def _compare_train_mode(block: nn.Module, ref: BasicBlock, x: Tensor, where: str) -> list[str]:
    block, ref = copy.deepcopy(block).train(), copy.deepcopy(ref).train()
    with torch.no_grad():
        same = torch.allclose(block(x.clone()), ref(x.clone()), rtol=1e-4, atol=1e-5)
    if same:
        return []
    return [
        f"{where}: outputs match in eval mode but not in train mode (a Dropout, or a module "
        "switched to eval inside forward?)."
    ]


#: Known mistakes, each with the message the reader gets when their block reproduces it.
_MISTAKES = {
    "relu_before_add": (
        "ReLU in the wrong place: your block applies ReLU to the branch output F(x) before the "
        "addition and not after it. The paper adds first: y = relu(F(x) + shortcut(x))."
    ),
    "relu_before_and_after_add": (
        "ReLU in the wrong place: your block applies an extra ReLU to F(x) before the addition. "
        "F(x) ends with bn2 (it must be able to be negative); the only ReLU after conv2 comes "
        "after the addition."
    ),
    "no_final_relu": (
        "no final ReLU: your block returns F(x) + shortcut(x); the paper's block returns "
        "relu(F(x) + shortcut(x))."
    ),
    "no_shortcut": (
        "missing shortcut: your output equals relu(F(x)), the plain block. Add the shortcut "
        "before the last ReLU: relu(F(x) + x), or + downsample(x) when it is given."
    ),
    "no_middle_relu": (
        "missing ReLU between the convs: the branch is conv1 -> bn1 -> relu -> conv2 -> bn2."
    ),
    "relu_before_bn": (
        "ReLU before BN: your branch applies ReLU between conv1 and bn1. The order is "
        "conv -> BN -> ReLU."
    ),
    "add_before_bn2": (
        "shortcut added too early: your block adds the shortcut before bn2. F(x) ends with bn2, "
        "then comes the addition: relu(bn2(conv2(...)) + shortcut(x))."
    ),
    "identity_not_downsample": (
        "no downsample: your block adds a zero-padded x instead of applying the `downsample` "
        "module it was given. Use downsample(x) on the shortcut whenever it is not None."
    ),
}


def _mistakes(ref: BasicBlock, x: Tensor) -> dict[str, Tensor]:
    """The reference output and the outputs of the usual mistakes, all with ref's weights."""
    relu = torch.relu
    shortcut = x if ref.downsample is None else ref.downsample(x)
    h = relu(ref.bn1(ref.conv1(x)))
    branch = ref.bn2(ref.conv2(h))
    outputs = {
        "correct": relu(branch + shortcut),
        "relu_before_add": relu(branch) + shortcut,
        "relu_before_and_after_add": relu(relu(branch) + shortcut),
        "no_final_relu": branch + shortcut,
        "no_shortcut": relu(branch),
        "no_middle_relu": relu(ref.bn2(ref.conv2(ref.bn1(ref.conv1(x)))) + shortcut),
        "relu_before_bn": relu(ref.bn2(ref.conv2(ref.bn1(relu(ref.conv1(x))))) + shortcut),
        "add_before_bn2": relu(ref.bn2(ref.conv2(h) + shortcut)),
    }
    if ref.downsample is not None and not isinstance(ref.downsample, ZeroPadShortcut):
        padded = ZeroPadShortcut(ref.conv1.in_channels, ref.conv2.out_channels, ref.stride)(x)
        outputs["identity_not_downsample"] = relu(branch + padded)
    return outputs
