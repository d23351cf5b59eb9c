"""Residual blocks: the BasicBlock and the Bottleneck (chapters 3 and 5).

He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016, eq. (1):

    y = F(x, {W_i}) + x                      (identity shortcut)
    y = F(x, {W_i}) + W_s x                  (projection shortcut, eq. 2)

Attribute names (``conv1``, ``bn1``, ``downsample`` ...) and initialisation follow
``torchvision.models.resnet`` so that torchvision's state dicts load into these blocks unchanged.
Every block has a ``residual`` switch: with ``residual=False`` it computes ``relu(F(x))`` and
nothing else changes, which turns a ResNet into its "plain" twin -- the controlled experiment the
whole book relies on.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_choice, check_int

NormLayer = Callable[[int], nn.Module]

#: The shortcut options of the paper, section 3.3 (and Table 3).
SHORTCUT_OPTIONS = ("A", "B", "C")


def conv3x3(
    in_planes: int, out_planes: int, stride: int = 1, groups: int = 1, dilation: int = 1
) -> nn.Conv2d:
    """3x3 convolution with "same" padding and no bias (a BatchNorm follows it)."""
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
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class ZeroPadShortcut(nn.Module):
    """Shortcut option A: identity, subsampled by ``stride``, extra channels filled with zeros.

    The paper (section 3.3, option A): "the shortcut still performs identity mapping, with extra
    zero entries padded for increasing dimensions". It has no parameters, so a ResNet with
    option A has exactly as many parameters as its plain twin (CIFAR nets, section 4.2).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(
                f"out_channels ({out_channels}) must be >= in_channels ({in_channels}) "
                "for a zero-padding shortcut"
            )
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
    check_choice("shortcut", option, SHORTCUT_OPTIONS)
    norm_layer = nn.BatchNorm2d if norm_layer is None else norm_layer
    shape_changes = stride != 1 or in_channels != out_channels
    if option == "C" or (option == "B" and shape_changes):
        return nn.Sequential(conv1x1(in_channels, out_channels, stride), norm_layer(out_channels))
    if option == "A" and shape_changes:
        return ZeroPadShortcut(in_channels, out_channels, stride)
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

    Args:
        inplanes: input channels.
        planes: output channels (``expansion = 1``).
        stride: stride of the first 3x3 conv (2 halves the feature map).
        downsample: the shortcut module where the shape changes (see ``make_shortcut``);
            ``None`` means identity.
        groups, base_width: accepted for torchvision's signature; a BasicBlock has only
            ``groups=1, base_width=64``.
        dilation: must be 1 (as in torchvision).
        norm_layer: callable ``num_features -> nn.Module``, default ``nn.BatchNorm2d``;
            ``nn.Identity`` gives a block without normalisation.
        residual: keyword-only; ``False`` drops the shortcut (a plain block).

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
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        norm_layer: NormLayer | None = None,
        *,
        residual: bool = True,
    ) -> None:
        super().__init__()
        check_int("inplanes", inplanes, minimum=1)
        check_int("planes", planes, minimum=1)
        check_int("stride", stride, minimum=1)
        if groups != 1 or base_width != 64:
            raise ValueError(
                f"BasicBlock supports only groups=1 and base_width=64 (got groups={groups}, "
                f"base_width={base_width}); use Bottleneck for ResNeXt / Wide ResNet"
            )
        if dilation != 1:
            raise ValueError(f"BasicBlock supports only dilation=1, got dilation={dilation}")
        norm_layer = nn.BatchNorm2d if norm_layer is None else norm_layer
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride
        self.residual = residual

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))  # F(x)
        if self.residual:
            shortcut = x if self.downsample is None else self.downsample(x)
            out = out + shortcut  # not in place: F(x) stays readable by hooks
        return self.relu(out)

    def zero_init_residual(self) -> None:
        """Zero the last norm's scale so that F(x) = 0 and the block starts as its shortcut."""
        _zero_last_norm(self.bn2, self.conv2)


class Bottleneck(nn.Module):
    """y = relu(F(x) + shortcut(x)),  F = 1x1 reduce → 3x3 → 1x1 expand  (paper Fig. 5).

    ``F = bn3 ∘ conv3 ∘ relu ∘ bn2 ∘ conv2 ∘ relu ∘ bn1 ∘ conv1``. The inner width is
    ``planes * base_width / 64 * groups`` and the output is ``planes * expansion`` channels,
    ``expansion = 4``.

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
        check_int("inplanes", inplanes, minimum=1)
        check_int("planes", planes, minimum=1)
        check_int("stride", stride, minimum=1)
        check_int("groups", groups, minimum=1)
        check_int("base_width", base_width, minimum=1)
        check_int("dilation", dilation, minimum=1)
        norm_layer = nn.BatchNorm2d if norm_layer is None else norm_layer
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

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))  # 1x1: reduce the width
        out = self.relu(self.bn2(self.conv2(out)))  # 3x3 on the narrow representation
        out = self.bn3(self.conv3(out))  # 1x1: expand back; F(x)
        if self.residual:
            shortcut = x if self.downsample is None else self.downsample(x)
            out = out + shortcut
        return self.relu(out)

    def zero_init_residual(self) -> None:
        """Zero the last norm's scale so that F(x) = 0 and the block starts as its shortcut."""
        _zero_last_norm(self.bn3, self.conv3)


def init_weights(model: nn.Module) -> None:
    """He initialisation as in torchvision: Kaiming-normal (fan_out) convs, norms at (1, 0).

    He et al. 2015, "Delving Deep into Rectifiers"; the paper uses it for every ResNet.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


def zero_init_residual_blocks(model: nn.Module) -> None:
    """Call ``zero_init_residual()`` on every block of ``model`` that has the method."""
    for m in model.modules():
        zero_init = getattr(m, "zero_init_residual", None)
        if callable(zero_init):
            zero_init()
