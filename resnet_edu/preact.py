"""Pre-activation residual blocks and CIFAR nets (chapter 9).

He, Zhang, Ren, Sun, "Identity Mappings in Deep Residual Networks", ECCV 2016, eqs. (4)-(5):
with an identity shortcut and *no* operation after the addition,

    x_{l+1} = x_l + F(x_l),   so   x_L = x_l + sum_{i=l}^{L-1} F(x_i)
    dLoss/dx_l = dLoss/dx_L * (1 + d/dx_l sum_i F(x_i))

-- the "1" is a clean identity path from any unit to any other, forward and backward. To keep it
clean the BN and ReLU move *into* the branch, before each convolution ("pre-activation", the
paper's Fig. 4(e)): F = conv2 ∘ relu ∘ bn2 ∘ conv1 ∘ relu ∘ bn1.

Two details of the whole net, from the paper's appendix and the authors' released code
(github.com/KaimingHe/resnet-1k-layers, ``resnet-pre-act.lua``):

* a unit that changes the shape shares its first BN+ReLU with the shortcut: the projection
  (a bare 1x1 conv, no BN) sees the pre-activated input. The very first unit also starts after
  that activation ("right after conv1 and before splitting into two paths"). Every other unit's
  shortcut is the untouched identity.
* the last unit is followed by an extra BN+ReLU before the global average pooling, because no
  unit ends with an activation any more.

The authors' code uses the projection (our option ``"B"``) where the shape changes, so that is
the default here; ``shortcut="A"`` (zero padding, as the original CIFAR nets) is available and
then a pre-activation ResNet has exactly as many parameters as the post-activation one.
"""

from __future__ import annotations

from torch import Tensor, nn

from ._checks import check_choice, check_images, check_int, check_int_list
from .blocks import NormLayer, ZeroPadShortcut, conv1x1, conv3x3, init_weights
from .cifar import blocks_per_stage

#: Shortcut options offered by the pre-activation CIFAR nets (see module docstring).
PREACT_SHORTCUTS = ("A", "B")


class PreActBlock(nn.Module):
    """y = shortcut(x) + F(x),  F = conv2 ∘ relu ∘ bn2 ∘ conv1 ∘ relu ∘ bn1  (paper Fig. 4e).

    Nothing follows the addition: with an identity shortcut the block adds ``F(x)`` to ``x``
    and leaves ``x`` itself untouched. With ``residual=False`` the block computes ``F(x)`` only
    (the plain pair of layers; in a plain stack pre- and post-activation are the same layers
    in the same order, as the paper notes in section 4.1).

    Args:
        inplanes: input channels.
        planes: output channels.
        stride: stride of the first 3x3 conv.
        downsample: the shortcut module where the shape changes (a 1x1 conv, or a
            ``ZeroPadShortcut``); ``None`` means identity.
        norm_layer: callable ``num_features -> nn.Module``, default ``nn.BatchNorm2d``.
        residual: keyword-only; ``False`` drops the shortcut.
        preactivate_shortcut: keyword-only; the shortcut sees ``relu(bn1(x))`` instead of ``x``.
            ``None`` (default) means "only where ``downsample`` is a learned projection", as in
            the authors' code; the CIFAR net also sets it for its first unit.

    Example:
        >>> block = PreActBlock(16, 16)
        >>> block(torch.randn(2, 16, 8, 8)).shape
        torch.Size([2, 16, 8, 8])
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
        preactivate_shortcut: bool | None = None,
    ) -> None:
        super().__init__()
        check_int("inplanes", inplanes, minimum=1)
        check_int("planes", planes, minimum=1)
        check_int("stride", stride, minimum=1)
        if residual and downsample is None and (stride != 1 or inplanes != planes):
            raise ValueError(
                f"downsample is None but the shape changes (inplanes={inplanes}, planes={planes},"
                f" stride={stride}); pass a shortcut module or residual=False"
            )
        norm_layer = nn.BatchNorm2d if norm_layer is None else norm_layer
        self.bn1 = norm_layer(inplanes)
        self.relu = nn.ReLU(inplace=False)  # not in place: x must survive for the shortcut
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn2 = norm_layer(planes)
        self.conv2 = conv3x3(planes, planes)
        self.downsample = downsample
        self.stride = stride
        self.residual = residual
        if preactivate_shortcut is None:
            preactivate_shortcut = downsample is not None and not isinstance(
                downsample, ZeroPadShortcut
            )
        self.preactivate_shortcut = preactivate_shortcut

    def forward(self, x: Tensor) -> Tensor:
        pre = self.relu(self.bn1(x))
        out = self.conv2(self.relu(self.bn2(self.conv1(pre))))  # F(x)
        if self.residual:
            source = pre if self.preactivate_shortcut else x
            out = out + (source if self.downsample is None else self.downsample(source))
        return out

    def zero_init_residual(self) -> None:
        """Zero the last convolution's weights so that F(x) = 0 for every x.

        In a post-activation block the last op is a BN whose scale can be zeroed; here the last
        op is ``conv2``, so its weights are zeroed (as Fixup and timm do for pre-act nets). The
        block then starts as exactly its shortcut -- the identity for most units -- and
        ``conv2`` still receives a gradient (its input is not zero), so it leaves zero at the
        first step; ``conv1`` and the BNs follow one step later.
        """
        nn.init.zeros_(self.conv2.weight)


class PreActResNet(nn.Module):
    """A 6n+2-layer pre-activation CIFAR ResNet (He et al. 2016b, BasicBlock-style units).

    conv1 → 3 stages of n ``PreActBlock`` s (16, 32, 64 filters) → BN → ReLU → global average
    pool → fc. Same keyword arguments as ``CifarResNet``.

    Args:
        depth: 6n + 2 weighted layers (20, 32, 44, 56, 110 ...).
        num_classes: size of the classifier output.
        in_channels: image channels (3 for CIFAR, 1 for digits).
        shortcut: ``"B"`` (default, the authors' code) a 1x1 projection of the pre-activated
            input where the shape changes; ``"A"`` zero padding of the raw input.
        residual: ``False`` builds the plain stack (no shortcuts).
        zero_init_residual: start every unit as its shortcut (``conv2`` weights zeroed).
        norm_layer: default ``nn.BatchNorm2d``; ``nn.Identity`` for no normalisation.
        widths: filters of the three stages.

    Example:
        >>> model = PreActResNet(20, in_channels=1)
        >>> model(torch.randn(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        depth: int,
        *,
        num_classes: int = 10,
        in_channels: int = 3,
        shortcut: str = "B",
        residual: bool = True,
        zero_init_residual: bool = False,
        norm_layer: NormLayer | None = None,
        widths: tuple[int, int, int] = (16, 32, 64),
    ) -> None:
        super().__init__()
        n = blocks_per_stage(depth)
        check_int("num_classes", num_classes, minimum=1)
        check_int("in_channels", in_channels, minimum=1)
        check_choice("shortcut", shortcut, PREACT_SHORTCUTS)
        check_int_list("widths", widths, length=3)
        norm_layer = nn.BatchNorm2d if norm_layer is None else norm_layer
        self.depth, self.residual, self.in_channels = depth, residual, in_channels

        # No BN+ReLU here: the first unit's bn1/relu is the stem's activation.
        self.conv1 = conv3x3(in_channels, widths[0])
        plan = [(widths[0], n, 1), (widths[1], n, 2), (widths[2], n, 2)]
        channels, stages = widths[0], []
        for stage, (width, blocks, stride) in enumerate(plan):
            layers = []
            for i in range(blocks):
                block_in, block_stride = (channels, stride) if i == 0 else (width, 1)
                downsample = None
                if residual and (block_stride != 1 or block_in != width):
                    downsample = (
                        ZeroPadShortcut(block_in, width, block_stride)
                        if shortcut == "A"
                        else conv1x1(block_in, width, block_stride)  # no BN: the authors' code
                    )
                first_unit = stage == 0 and i == 0
                layers.append(
                    PreActBlock(
                        block_in,
                        width,
                        block_stride,
                        downsample,
                        norm_layer,
                        residual=residual,
                        preactivate_shortcut=True if first_unit else None,
                    )
                )
            stages.append(nn.Sequential(*layers))
            channels = width
        self.layer1, self.layer2, self.layer3 = stages
        self.bn = norm_layer(channels)  # the extra activation after the last unit
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

        init_weights(self)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, PreActBlock):
                    m.zero_init_residual()

    def forward(self, x: Tensor) -> Tensor:
        check_images("x", x, self.in_channels)
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        x = self.relu(self.bn(x))
        return self.fc(self.avgpool(x).flatten(1))


def _builder(depth: int):
    name = f"preact_resnet{depth}"

    def build(**kwargs) -> PreActResNet:
        if "depth" in kwargs:
            raise TypeError(f"{name}() fixes depth; use PreActResNet(depth, ...)")
        return PreActResNet(depth, **kwargs)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = (
        f"Pre-activation CIFAR ResNet with {depth} weighted layers (n = {(depth - 2) // 6}; "
        "He et al. 2016b).\n\nKeyword arguments are those of ``PreActResNet``; "
        f"``residual=False`` gives the plain stack, which is ``plain{depth}`` up to where the "
        "first and last BN+ReLU sit.\n"
    )
    return build


preact_resnet20 = _builder(20)
preact_resnet32 = _builder(32)
preact_resnet44 = _builder(44)
preact_resnet56 = _builder(56)
preact_resnet110 = _builder(110)
