"""Residual blocks, eq. (1) as code: BasicBlock, Bottleneck, shortcuts (chapters 2-6, 8, 9).

He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016, eq. (1):

    y = F(x, {W_i}) + x                      (identity shortcut)
    y = F(x, {W_i}) + W_s x                  (projection shortcut, eq. 2)

Attribute names (``conv1``, ``bn1``, ``downsample`` ...) and initialisation follow
``torchvision.models.resnet`` so that torchvision's state dicts load into these blocks unchanged.
Every block has a ``residual`` switch: with ``residual=False`` it computes ``relu(F(x))`` and
nothing else changes, which turns a ResNet into its "plain" twin -- the controlled experiment the
whole book relies on.

A block checks its arguments once, when it is built (a helper called from ``__init__``). Its
``forward`` is the equation and nothing else, as in torchvision: a model checks its input at its
own door (``features``), and a block called on its own with a wrong input gets torch's error.
``BasicBlock`` and ``Bottleneck`` each write out the same ``shortcut`` and ``forward``, as
torchvision's two blocks do: each class reads whole on its own, and only ``branch`` (F) differs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import (
    check_bool,
    check_choice,
    check_int,
    check_module,
    check_norm_layer,
)

NormLayer = Callable[[int], nn.Module]

#: The shortcut options of the paper, section 3.3 (and Table 3).
SHORTCUT_OPTIONS = ("A", "B", "C")


def conv3x3(
    in_planes: int, out_planes: int, stride: int = 1, groups: int = 1, dilation: int = 1
) -> nn.Conv2d:
    """3x3 convolution with "same" padding and no bias (a BatchNorm follows it)."""
    _check_conv(in_planes, out_planes, stride, groups, dilation)
    return nn.Conv2d(
        in_planes,
        out_planes,
        kernel_size=3,
        stride=stride,
        padding=dilation,
        groups=groups,
        bias=False,
        dilation=dilation,
    )


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution with no bias: changes the width, or projects a shortcut (W_s)."""
    _check_conv(in_planes, out_planes, stride)
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def _check_conv(
    in_planes: int, out_planes: int, stride: int, groups: int = 1, dilation: int = 1
) -> None:
    check_int("in_planes", in_planes, minimum=1)
    check_int("out_planes", out_planes, minimum=1)
    check_int("stride", stride, minimum=1)
    check_int("groups", groups, minimum=1)
    check_int("dilation", dilation, minimum=1)
    if in_planes % groups or out_planes % groups:
        raise ValueError(
            f"groups must divide in_planes and out_planes, got groups={groups} for "
            f"{in_planes} -> {out_planes} channels"
        )


class ZeroPadShortcut(nn.Module):
    """Shortcut option A: identity, subsampled by ``stride``, extra channels filled with zeros.

    The paper (section 3.3, option A): "the shortcut still performs identity mapping, with extra
    zero entries padded for increasing dimensions". It has no parameters, so a ResNet with
    option A has exactly as many parameters as its plain twin (CIFAR nets, section 4.2).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        _check_shortcut_shape(in_channels, out_channels, stride, zero_pad=True)
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]  # same size as a stride-s 3x3 conv output
        return F.pad(x, (0, 0, 0, 0, 0, self.out_channels - self.in_channels))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


def make_shortcut(
    option: str,
    in_channels: int,
    out_channels: int,
    stride: int,
    norm_layer: NormLayer | None = None,
) -> nn.Module | None:
    """The shortcut ``downsample`` module of a block, or ``None`` for a plain identity.

    ``option`` is the paper's (section 3.3): ``"A"`` zero-padding identity where the shape
    changes; ``"B"`` a 1x1 projection + norm where the shape changes (torchvision's choice);
    ``"C"`` a projection on every block.
    """
    _check_shortcut(option, in_channels, out_channels, stride, norm_layer)
    if norm_layer is None:
        norm_layer = nn.BatchNorm2d
    shape_changes = stride != 1 or in_channels != out_channels
    if option == "C" or (option == "B" and shape_changes):
        return nn.Sequential(conv1x1(in_channels, out_channels, stride), norm_layer(out_channels))
    if option == "A" and shape_changes:
        return ZeroPadShortcut(in_channels, out_channels, stride)
    return None


def _check_shortcut_shape(
    in_channels: int, out_channels: int, stride: int, *, zero_pad: bool = False
) -> None:
    check_int("in_channels", in_channels, minimum=1)
    check_int("out_channels", out_channels, minimum=1)
    check_int("stride", stride, minimum=1)
    if zero_pad and out_channels < in_channels:
        raise ValueError(
            f"out_channels ({out_channels}) must be >= in_channels ({in_channels}) "
            "for a zero-padding shortcut"
        )


def _check_shortcut(
    option: str, in_channels: int, out_channels: int, stride: int, norm_layer: Any
) -> None:
    """``make_shortcut``'s arguments."""
    check_choice("shortcut", option, SHORTCUT_OPTIONS)
    _check_shortcut_shape(in_channels, out_channels, stride)
    check_norm_layer("norm_layer", norm_layer)


def check_block_arguments(
    inplanes: int,
    planes: int,
    expansion: int,
    stride: int,
    downsample: nn.Module | None,
    residual: bool,
    norm_layer: Any = None,
) -> None:
    """The checks every block's ``__init__`` shares: sizes, norm layer, a shortcut that fits.

    A residual block whose shape changes (``stride`` or width) needs a ``downsample`` module,
    or ``x`` and ``F(x)`` could not be added; a projection's channels must be the block's.
    """
    check_int("inplanes", inplanes, minimum=1)
    check_int("planes", planes, minimum=1)
    check_int("stride", stride, minimum=1)
    check_bool("residual", residual)
    check_norm_layer("norm_layer", norm_layer)
    out_channels = planes * expansion
    if downsample is not None and not isinstance(downsample, nn.Module):
        raise TypeError(
            "downsample must be None or an nn.Module (e.g. make_shortcut(...)), "
            f"got {type(downsample).__name__} {downsample!r}"
        )
    if residual and downsample is None and (stride != 1 or inplanes != out_channels):
        raise ValueError(
            f"downsample is None but the shape changes ({inplanes} -> {out_channels} channels, "
            f"stride {stride}): pass make_shortcut(option, {inplanes}, {out_channels}, "
            f"{stride}) as downsample, or residual=False"
        )
    channels = _channels_of(downsample)
    if channels is not None and channels != (inplanes, out_channels):
        raise ValueError(
            f"downsample maps {channels[0]} -> {channels[1]} channels, but the block needs "
            f"{inplanes} -> {out_channels}; build it with make_shortcut(option, {inplanes}, "
            f"{out_channels}, {stride})"
        )


def _channels_of(shortcut: nn.Module | None) -> tuple[int, int] | None:
    """(in, out) channels of a shortcut module of a known kind, else ``None``."""
    if isinstance(shortcut, nn.Sequential) and len(shortcut) > 0:
        shortcut = shortcut[0]
    if isinstance(shortcut, (ZeroPadShortcut, nn.Conv2d)):
        return shortcut.in_channels, shortcut.out_channels
    return None


def _zero_last_norm(norm: nn.Module, conv: nn.Conv2d) -> None:
    """Make a residual branch output zero at initialisation, so the block starts as identity.

    With a norm layer that has a scale (BatchNorm's gamma) that scale is zeroed (Goyal et al.
    2017, torchvision's ``zero_init_residual``); a network without normalisation
    (``norm_layer=nn.Identity``) zeroes the branch's last convolution instead (as Fixup does).
    """
    weight = getattr(norm, "weight", None)
    target = weight if isinstance(weight, nn.Parameter) else conv.weight
    nn.init.zeros_(target)


class BasicBlock(nn.Module):
    """y = relu(F(x) + shortcut(x)),  F = bn2 ∘ conv2 ∘ relu ∘ bn1 ∘ conv1  (paper Fig. 2).

    Two 3x3 convolutions of width ``planes``; the first one carries the ``stride``. With
    ``residual=False`` the block is the plain pair of layers the paper compares against.
    ``branch(x)`` is F(x), ``shortcut(x)`` is x or ``downsample(x)``, and ``forward`` adds them.

    Args:
        inplanes: input channels.
        planes: output channels (``expansion = 1``).
        stride: stride of the first 3x3 conv (2 halves the feature map).
        downsample: the shortcut module where the shape changes (see ``make_shortcut``);
            ``None`` means identity.
        norm_layer: callable ``num_features -> nn.Module``, default ``nn.BatchNorm2d``;
            ``nn.Identity`` gives a block without normalisation.
        residual: keyword-only; ``False`` drops the shortcut (a plain block).

    torchvision's BasicBlock also takes ``groups``, ``base_width`` and ``dilation``, only to
    reject any value but the default; this one does not take them (same state dict).

    Example:
        >>> block = BasicBlock(64, 64)
        >>> block(torch.randn(2, 64, 8, 8)).shape
        torch.Size([2, 64, 8, 8])
    """

    expansion: int = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        norm_layer: NormLayer | None = None,
        *,
        residual: bool = True,
    ) -> None:
        super().__init__()
        check_block_arguments(
            inplanes, planes, self.expansion, stride, downsample, residual, norm_layer
        )
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride
        self.residual = residual

    def branch(self, x: Tensor) -> Tensor:
        """F(x): the residual function, two 3x3 convolutions."""
        return self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))

    def shortcut(self, x: Tensor) -> Tensor | None:
        """x, or W_s x where the shape changes; ``None`` in a plain block (it has none)."""
        if not self.residual:
            return None
        return x if self.downsample is None else self.downsample(x)

    def forward(self, x: Tensor) -> Tensor:
        if not self.residual:
            return self.relu(self.branch(x))  # the plain twin: y = relu(F(x))
        return self.relu(self.branch(x) + self.shortcut(x))  # eq. (1): y = relu(F(x) + x)

    def zero_init_residual(self) -> None:
        """Zero the last norm's scale so that F(x) = 0 and the block starts as its shortcut."""
        _zero_last_norm(self.bn2, self.conv2)


class Bottleneck(nn.Module):
    """y = relu(F(x) + shortcut(x)),  F = 1x1 reduce → 3x3 → 1x1 expand  (paper Fig. 5).

    ``F = bn3 ∘ conv3 ∘ relu ∘ bn2 ∘ conv2 ∘ relu ∘ bn1 ∘ conv1``. The inner width is
    ``planes * base_width / 64 * groups`` and the output is ``planes * expansion`` channels,
    ``expansion = 4``. ``branch(x)`` is F(x), ``shortcut(x)`` is x or ``downsample(x)``.

    Args:
        inplanes: input channels.
        planes: the block's "planes"; the output has ``4 * planes`` channels.
        stride: 2 halves the feature map. torchvision ("ResNet v1.5") puts it on the 3x3 conv;
            ``stride_in_1x1=True`` puts it on the first 1x1 conv as the paper did.
        downsample: the shortcut module where the shape changes, ``None`` for identity.
        groups: groups of the 3x3 conv (ResNeXt's cardinality).
        base_width: width per group (64 for ResNet; 128 for Wide ResNet-50-2).
        dilation: dilation of the 3x3 conv (``replace_stride_with_dilation``).
        norm_layer: callable ``num_features -> nn.Module``, default ``nn.BatchNorm2d``.
        residual: keyword-only; ``False`` drops the shortcut (a plain block).
        stride_in_1x1: keyword-only; the paper's placement of the stride.

    Example:
        >>> block = Bottleneck(256, 64)
        >>> block(torch.randn(2, 256, 8, 8)).shape
        torch.Size([2, 256, 8, 8])
    """

    expansion: int = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        norm_layer: NormLayer | None = None,
        *,
        residual: bool = True,
        stride_in_1x1: bool = False,
    ) -> None:
        super().__init__()
        check_block_arguments(
            inplanes, planes, self.expansion, stride, downsample, residual, norm_layer
        )
        _check_bottleneck(planes, groups, base_width, dilation, stride_in_1x1)
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        width = int(planes * (base_width / 64.0)) * groups
        # stride on the 3x3 conv ("v1.5", as torchvision; better accuracy, more FLOPs);
        # the paper strides the first 1x1 conv, which throws away 3/4 of its input.
        stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = conv1x1(inplanes, width, stride_1x1)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, stride_3x3, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride
        self.residual = residual

    def branch(self, x: Tensor) -> Tensor:
        """F(x): 1x1 reduce, 3x3 on the narrow representation, 1x1 expand back."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    def shortcut(self, x: Tensor) -> Tensor | None:
        """x, or W_s x where the shape changes; ``None`` in a plain block (it has none)."""
        if not self.residual:
            return None
        return x if self.downsample is None else self.downsample(x)

    def forward(self, x: Tensor) -> Tensor:
        if not self.residual:
            return self.relu(self.branch(x))  # the plain twin: y = relu(F(x))
        return self.relu(self.branch(x) + self.shortcut(x))  # eq. (1): y = relu(F(x) + x)

    def zero_init_residual(self) -> None:
        """Zero the last norm's scale so that F(x) = 0 and the block starts as its shortcut."""
        _zero_last_norm(self.bn3, self.conv3)


def _check_bottleneck(
    planes: int, groups: int, base_width: int, dilation: int, stride_in_1x1: bool
) -> None:
    """A Bottleneck's own arguments; its inner width ``int(planes * base_width / 64)`` >= 1."""
    check_int("groups", groups, minimum=1)
    check_int("base_width", base_width, minimum=1)
    check_int("dilation", dilation, minimum=1)
    check_bool("stride_in_1x1", stride_in_1x1)
    if planes * base_width < 64:
        raise ValueError(
            f"base_width must give an inner width >= 1, i.e. planes * base_width >= 64; got "
            f"planes={planes}, base_width={base_width}: use base_width >= {-(-64 // planes)}"
        )


def make_stage(
    block: type[nn.Module],
    inplanes: int,
    planes: int,
    blocks: int,
    stride: int = 1,
    *,
    shortcut: str | Callable[[int, int, int], nn.Module | None] = "B",
    residual: bool = True,
    norm_layer: NormLayer | None = None,
    dilation: int = 1,
    first_dilation: int = 1,
    **block_kwargs: Any,
) -> nn.Sequential:
    """One stage: ``blocks`` blocks of ``planes``; only the first one may change the shape.

    The first block takes ``inplanes`` channels at ``stride`` and gets the shortcut
    ``make_shortcut(shortcut, ...)`` if the shape changes; the others keep the shape. This is
    torchvision's ``ResNet._make_layer`` with the paper's shortcut options, shared by the CIFAR,
    ImageNet and pre-activation nets.

    Args:
        block: the block class (``BasicBlock``, ``Bottleneck``, ``PreActBlock`` ...).
        inplanes: channels entering the stage.
        planes: the blocks' ``planes``; the stage outputs ``planes * block.expansion``.
        blocks: number of blocks.
        stride: stride of the first block.
        shortcut: an option of ``make_shortcut`` (``"A"``, ``"B"``, ``"C"``), or a callable
            ``(in_channels, out_channels, stride) -> module or None``.
        residual: ``False`` builds plain blocks (no shortcut modules at all).
        norm_layer: passed to every block (and to option B/C projections).
        dilation, first_dilation: the 3x3 dilation of the other blocks and of the first one
            (Bottleneck only; ``replace_stride_with_dilation``).
        **block_kwargs: passed to every block (e.g. ``groups``, ``base_width``).

    Example:
        >>> make_stage(BasicBlock, 16, 32, blocks=3, stride=2, shortcut="A")[0].downsample
        ZeroPadShortcut(16, 32, stride=2)
    """
    _check_stage(block, inplanes, planes, blocks)
    make_downsample = _shortcut_factory(shortcut, norm_layer)
    out_channels = planes * block.expansion
    kwargs = {"norm_layer": norm_layer, "residual": residual, **block_kwargs}
    layers = []
    for i in range(blocks):
        block_in, block_stride = (inplanes, stride) if i == 0 else (out_channels, 1)
        if dilation != 1 or first_dilation != 1:
            kwargs["dilation"] = first_dilation if i == 0 else dilation
        downsample = make_downsample(block_in, out_channels, block_stride) if residual else None
        layers.append(block(block_in, planes, block_stride, downsample, **kwargs))
    return nn.Sequential(*layers)


def _check_stage(block: Any, inplanes: int, planes: int, blocks: int) -> None:
    """``make_stage``'s own arguments (each block checks the rest when it is built)."""
    if not (isinstance(block, type) and issubclass(block, nn.Module)):
        raise TypeError(f"block must be a block class such as BasicBlock, got {block!r}")
    check_int("inplanes", inplanes, minimum=1)
    check_int("planes", planes, minimum=1)
    check_int("blocks", blocks, minimum=1)


def _shortcut_factory(
    shortcut: str | Callable[[int, int, int], nn.Module | None], norm_layer: NormLayer | None
) -> Callable[[int, int, int], nn.Module | None]:
    """``(in_channels, out_channels, stride) -> downsample``: a ``make_shortcut`` option, or
    the caller's own factory."""
    if callable(shortcut):
        return shortcut
    if not isinstance(shortcut, str):
        raise TypeError(
            f"shortcut must be one of {list(SHORTCUT_OPTIONS)} or a callable "
            f"(in_channels, out_channels, stride) -> module or None, got {shortcut!r}"
        )
    check_choice("shortcut", shortcut, SHORTCUT_OPTIONS)
    return lambda c_in, c_out, stride: make_shortcut(shortcut, c_in, c_out, stride, norm_layer)


def init_weights(model: nn.Module) -> None:
    """He initialisation as in torchvision: Kaiming-normal (fan_out) convs, norms at (1, 0).

    He et al. 2015, "Delving Deep into Rectifiers"; the paper uses it for every ResNet.
    """
    check_module("model", model)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


def zero_init_residual_blocks(model: nn.Module) -> None:
    """Call ``zero_init_residual()`` on every block of ``model`` that has the method."""
    check_module("model", model)
    for m in model.modules():
        zero_init = getattr(m, "zero_init_residual", None)
        if callable(zero_init):
            zero_init()
