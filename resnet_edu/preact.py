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

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from ._checks import (
    check_bool,
    check_choice,
    check_model_input,
    check_norm_layer,
    check_not_fixed,
)
from .blocks import (
    NormLayer,
    ZeroPadShortcut,
    check_block_arguments,
    conv1x1,
    conv3x3,
    init_weights,
    make_stage,
    zero_init_residual_blocks,
)
from .cifar import blocks_per_stage, check_cifar_arguments

#: Shortcut options offered by the pre-activation CIFAR nets (see module docstring).
PREACT_SHORTCUTS = ("A", "B")


def _preactivates_shortcut(preactivate_shortcut: bool | None, downsample: nn.Module | None) -> bool:
    """``preactivate_shortcut``, checked; ``None`` means "where ``downsample`` is a projection"."""
    if preactivate_shortcut is None:
        return downsample is not None and not isinstance(downsample, ZeroPadShortcut)
    return check_bool("preactivate_shortcut", preactivate_shortcut)


class PreActBlock(nn.Module):
    """y = shortcut(x) + F(x),  F = conv2 ∘ relu ∘ bn2 ∘ conv1 ∘ relu ∘ bn1  (paper Fig. 4e).

    Nothing follows the addition: with an identity shortcut the block adds ``F(x)`` to ``x``
    and leaves ``x`` itself untouched. With ``residual=False`` the block computes ``F(x)`` only
    (the plain pair of layers; in a plain stack pre- and post-activation are the same layers
    in the same order, as the paper notes in section 4.1). ``branch(x)`` is F(x),
    ``shortcut(x)`` what the unit adds to it.

    Args:
        inplanes: input channels.
        planes: output channels.
        stride: stride of the first 3x3 conv.
        downsample: the shortcut module where the shape changes (a 1x1 conv, or a
            ``ZeroPadShortcut``); ``None`` means identity.
        norm_layer: callable ``num_features -> nn.Module``, default ``nn.BatchNorm2d``.
        residual: keyword-only; ``False`` drops the shortcut.
        preactivate_shortcut: keyword-only; the shortcut sees ``relu(bn1(x))`` instead of ``x``:
            F's first BN+ReLU comes before the split into two paths. ``None`` (default) means
            "only where ``downsample`` is a learned projection", as in the authors' code; the
            CIFAR net also sets it for its first unit.

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
        check_block_arguments(inplanes, planes, self.expansion, stride, downsample, residual)
        norm_layer = check_norm_layer("norm_layer", norm_layer)
        self.bn1 = norm_layer(inplanes)
        self.relu = nn.ReLU(inplace=False)  # not in place: x must survive for the shortcut
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn2 = norm_layer(planes)
        self.conv2 = conv3x3(planes, planes)
        self.downsample = downsample
        self.stride = stride
        self.residual = residual
        self.preactivate_shortcut = _preactivates_shortcut(preactivate_shortcut, downsample)

    def preactivation(self, x: Tensor) -> Tensor:
        """relu(bn1(x)): the BN and ReLU that come *before* the weights."""
        return self.relu(self.bn1(x))

    def branch(self, x: Tensor, pre: Tensor | None = None) -> Tensor:
        """F(x) = conv2(relu(bn2(conv1(relu(bn1(x)))))); ``pre``: relu(bn1(x)) if computed."""
        pre = self.preactivation(x) if pre is None else pre
        return self.conv2(self.relu(self.bn2(self.conv1(pre))))

    def shortcut(self, x: Tensor, pre: Tensor | None = None) -> Tensor | None:
        """x or downsample(x), of relu(bn1(x)) where ``preactivate_shortcut``; None if plain."""
        if not self.residual:
            return None
        if self.preactivate_shortcut:  # the BN+ReLU before the split feeds both paths
            x = self.preactivation(x) if pre is None else pre
        return x if self.downsample is None else self.downsample(x)

    def forward(self, x: Tensor) -> Tensor:
        pre = self.preactivation(x)  # once: BN's running statistics see each batch once
        if not self.residual:
            return self.branch(x, pre)  # the plain stack: F(x)
        return self.branch(x, pre) + self.shortcut(x, pre)  # eq. (4): x + F(x), then nothing

    def zero_init_residual(self) -> None:
        """Zero the last convolution's weights so that F(x) = 0 for every x.

        In a post-activation block the last op is a BN whose scale can be zeroed; here the last
        op is ``conv2``, so its weights are zeroed (as Fixup and timm do for pre-act nets). The
        block then starts as exactly its shortcut -- the identity for most units -- and
        ``conv2`` still receives a gradient (its input is not zero), so it leaves zero at the
        first step; ``conv1`` and the BNs follow one step later.
        """
        nn.init.zeros_(self.conv2.weight)


def preact_shortcut(option: str) -> Callable[[int, int, int], nn.Module | None]:
    """The shortcut of a pre-activation unit where the shape changes: ``"A"`` or ``"B"``.

    ``"B"`` is a bare 1x1 conv, no BN (the authors' code: its input is already normalised);
    ``"A"`` is zero padding of the raw input. Where the shape stays, the identity (``None``).
    """
    check_choice("shortcut", option, PREACT_SHORTCUTS)

    def make(in_channels: int, out_channels: int, stride: int) -> nn.Module | None:
        if stride == 1 and in_channels == out_channels:
            return None
        if option == "A":
            return ZeroPadShortcut(in_channels, out_channels, stride)
        return conv1x1(in_channels, out_channels, stride)

    return make


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

    ``features(x)`` is everything before the global pooling (the stages, then the final
    BN+ReLU); ``forward(x)`` pools it and applies the classifier.

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
        check_choice("shortcut", shortcut, PREACT_SHORTCUTS)
        check_cifar_arguments(num_classes, in_channels, shortcut, residual, widths)
        check_bool("zero_init_residual", zero_init_residual)
        norm_layer = check_norm_layer("norm_layer", norm_layer)
        self.depth, self.residual, self.in_channels = depth, residual, in_channels

        # No BN+ReLU here: the first unit's bn1/relu is the stem's activation.
        self.conv1 = conv3x3(in_channels, widths[0])
        plan = [(widths[0], n, 1), (widths[1], n, 2), (widths[2], n, 2)]
        channels, stages = widths[0], []
        for width, blocks, stride in plan:
            stages.append(
                make_stage(
                    PreActBlock,
                    channels,
                    width,
                    blocks,
                    stride,
                    shortcut=preact_shortcut(shortcut),
                    residual=residual,
                    norm_layer=norm_layer,
                )
            )
            channels = width
        self.layer1, self.layer2, self.layer3 = stages
        # The first unit's shortcut starts after its BN+ReLU, "right after conv1" (appendix).
        self.layer1[0].preactivate_shortcut = True
        self.bn = norm_layer(channels)  # the extra activation after the last unit
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

        init_weights(self)
        if zero_init_residual:
            zero_init_residual_blocks(self)

    def features(self, x: Tensor) -> Tensor:
        """conv1, the three stages, and the final BN+ReLU: the map the global pooling averages."""
        check_model_input(x, self.conv1, self.bn, halvings=2)
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        return self.relu(self.bn(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.avgpool(self.features(x)).flatten(1))


def preact_resnet20(**kwargs: Any) -> PreActResNet:
    """Pre-activation ResNet-20 (He et al. 2016b), n = 3.

    Keyword arguments are those of ``PreActResNet``; ``residual=False`` gives the plain stack,
    which is ``plain20`` up to where the first and last BN+ReLU sit.
    """
    return PreActResNet(20, **_fixed_depth("preact_resnet20", kwargs))


def preact_resnet32(**kwargs: Any) -> PreActResNet:
    """Pre-activation ResNet-32 (He et al. 2016b), n = 5.

    Keyword arguments are those of ``PreActResNet``; ``residual=False`` gives the plain stack,
    which is ``plain32`` up to where the first and last BN+ReLU sit.
    """
    return PreActResNet(32, **_fixed_depth("preact_resnet32", kwargs))


def preact_resnet44(**kwargs: Any) -> PreActResNet:
    """Pre-activation ResNet-44 (He et al. 2016b), n = 7.

    Keyword arguments are those of ``PreActResNet``; ``residual=False`` gives the plain stack,
    which is ``plain44`` up to where the first and last BN+ReLU sit.
    """
    return PreActResNet(44, **_fixed_depth("preact_resnet44", kwargs))


def preact_resnet56(**kwargs: Any) -> PreActResNet:
    """Pre-activation ResNet-56 (He et al. 2016b), n = 9.

    Keyword arguments are those of ``PreActResNet``; ``residual=False`` gives the plain stack,
    which is ``plain56`` up to where the first and last BN+ReLU sit.
    """
    return PreActResNet(56, **_fixed_depth("preact_resnet56", kwargs))


def preact_resnet110(**kwargs: Any) -> PreActResNet:
    """Pre-activation ResNet-110 (He et al. 2016b), n = 18.

    Keyword arguments are those of ``PreActResNet``; ``residual=False`` gives the plain stack,
    which is ``plain110`` up to where the first and last BN+ReLU sit.
    """
    return PreActResNet(110, **_fixed_depth("preact_resnet110", kwargs))


def _fixed_depth(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    return check_not_fixed(name, kwargs, "depth", use="PreActResNet(depth, ...)")
