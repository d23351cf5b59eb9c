"""The CIFAR-10 networks of the paper, section 4.2 (chapters 1-3, 7-9 and the appendix).

"The first layer is 3x3 convolutions. Then we use a stack of 6n layers with 3x3 convolutions on
the feature maps of sizes {32, 16, 8} respectively, with 2n layers for each feature map size. The
numbers of filters are {16, 32, 64} respectively. [...] The network ends with a global average
pooling, a 10-way fully-connected layer, and softmax. There are totally 6n+2 stacked weighted
layers." With shortcut option A the ResNet and its plain twin have exactly the same parameters.

The nets are fully convolutional up to the global pooling, so they also run on 8x8 inputs (the
offline digits data): the maps are then 8, 4 and 2 pixels wide.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ._checks import (
    check_bool,
    check_choice,
    check_int,
    check_int_list,
    check_model_input,
    check_norm_layer,
    check_not_fixed,
)
from .blocks import (
    SHORTCUT_OPTIONS,
    BasicBlock,
    NormLayer,
    conv3x3,
    init_weights,
    make_stage,
    zero_init_residual_blocks,
)

#: Depths with a row in the paper's Table 6.
CIFAR_DEPTHS = (20, 32, 44, 56, 110, 1202)


def blocks_per_stage(depth: int) -> int:
    """The paper's n for a 6n+2-layer CIFAR net (also the pre-activation nets of chapter 9).

    Example:
        >>> blocks_per_stage(56)
        9
    """
    check_int("depth", depth, minimum=8)
    if (depth - 2) % 6 != 0:
        raise ValueError(
            f"depth must be 6n+2 (e.g. {', '.join(map(str, CIFAR_DEPTHS))}), got {depth}"
        )
    return (depth - 2) // 6


class CifarResNet(nn.Module):
    """A 6n+2-layer CIFAR ResNet (``residual=True``) or its plain twin (``residual=False``).

    Args:
        depth: 6n + 2 weighted layers (20, 32, 44, 56, 110, 1202 in the paper; any 6n+2 >= 8).
        num_classes: size of the classifier output.
        in_channels: image channels (3 for CIFAR; 1 for raw digits).
        shortcut: ``"A"`` zero-padding identity (the paper's CIFAR choice), ``"B"`` projection
            where the shape changes, ``"C"`` projection everywhere.
        residual: ``False`` builds the plain net (no shortcuts at all).
        zero_init_residual: start every block as its shortcut (zero last norm scale).
        norm_layer: default ``nn.BatchNorm2d``; ``nn.Identity`` for a net without normalisation.
        widths: filters of the three stages, the paper's (16, 32, 64) by default.

    ``features(x)`` is the last stage's output (the residual stream before pooling);
    ``forward(x)`` pools it and applies the classifier.

    Example:
        >>> model = CifarResNet(20)
        >>> model(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        depth: int,
        *,
        num_classes: int = 10,
        in_channels: int = 3,
        shortcut: str = "A",
        residual: bool = True,
        zero_init_residual: bool = False,
        norm_layer: NormLayer | None = None,
        widths: tuple[int, int, int] = (16, 32, 64),
    ) -> None:
        super().__init__()
        n = blocks_per_stage(depth)
        check_cifar_arguments(
            num_classes, in_channels, shortcut, residual, widths, zero_init_residual, norm_layer
        )
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        self.depth, self.residual, self.in_channels = depth, residual, in_channels

        self.conv1 = conv3x3(in_channels, widths[0])
        self.bn1 = norm_layer(widths[0])
        self.relu = nn.ReLU(inplace=True)
        # The stage plan is data: (width, blocks, stride of the first block).
        plan = [(widths[0], n, 1), (widths[1], n, 2), (widths[2], n, 2)]
        channels = widths[0]
        stages = []
        for width, blocks, stride in plan:
            stages.append(
                make_stage(
                    BasicBlock,
                    channels,
                    width,
                    blocks,
                    stride,
                    shortcut=shortcut,
                    residual=residual,
                    norm_layer=norm_layer,
                )
            )
            channels = width
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

        init_weights(self)
        if zero_init_residual:
            zero_init_residual_blocks(self)

    def features(self, x: Tensor) -> Tensor:
        """The stem and the three stages: the map the global pooling averages (N, 64, H/4, W/4)."""
        check_model_input(x, self.conv1, self.bn1, halvings=2)
        x = self.relu(self.bn1(self.conv1(x)))
        return self.layer3(self.layer2(self.layer1(x)))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.avgpool(self.features(x)).flatten(1))


def check_cifar_arguments(
    num_classes: int,
    in_channels: int,
    shortcut: str,
    residual: bool,
    widths: tuple[int, ...],
    zero_init_residual: bool = False,
    norm_layer: NormLayer | None = None,
) -> None:
    """The arguments shared by ``CifarResNet`` and ``PreActResNet`` (depth is checked apart)."""
    check_int("num_classes", num_classes, minimum=1)
    check_int("in_channels", in_channels, minimum=1)
    check_choice("shortcut", shortcut, SHORTCUT_OPTIONS)
    check_bool("residual", residual)
    check_bool("zero_init_residual", zero_init_residual)
    check_norm_layer("norm_layer", norm_layer)
    widths = check_int_list("widths", widths, length=3)
    if shortcut == "A" and residual and widths != sorted(widths):
        raise ValueError(
            f"widths must not decrease with shortcut 'A' (zero padding can only add "
            f"channels), got {tuple(widths)}; use shortcut='B' for a net that narrows"
        )


def _plain_or_resnet(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    return check_not_fixed(name, kwargs, "depth", "residual", use="CifarResNet(depth, ...)")


def resnet20(**kwargs: Any) -> CifarResNet:
    """ResNet-20: the paper's CIFAR-10 ResNet with n = 3 (section 4.2, Table 6).

    Keyword arguments are those of ``CifarResNet``; its plain twin is ``plain20``.
    """
    return CifarResNet(20, residual=True, **_plain_or_resnet("resnet20", kwargs))


def resnet32(**kwargs: Any) -> CifarResNet:
    """ResNet-32: the paper's CIFAR-10 ResNet with n = 5 (section 4.2, Table 6).

    Keyword arguments are those of ``CifarResNet``; its plain twin is ``plain32``.
    """
    return CifarResNet(32, residual=True, **_plain_or_resnet("resnet32", kwargs))


def resnet44(**kwargs: Any) -> CifarResNet:
    """ResNet-44: the paper's CIFAR-10 ResNet with n = 7 (section 4.2, Table 6).

    Keyword arguments are those of ``CifarResNet``; its plain twin is ``plain44``.
    """
    return CifarResNet(44, residual=True, **_plain_or_resnet("resnet44", kwargs))


def resnet56(**kwargs: Any) -> CifarResNet:
    """ResNet-56: the paper's CIFAR-10 ResNet with n = 9 (section 4.2, Table 6).

    Keyword arguments are those of ``CifarResNet``; its plain twin is ``plain56``.
    """
    return CifarResNet(56, residual=True, **_plain_or_resnet("resnet56", kwargs))


def resnet110(**kwargs: Any) -> CifarResNet:
    """ResNet-110: the paper's CIFAR-10 ResNet with n = 18 (section 4.2, Table 6).

    Keyword arguments are those of ``CifarResNet``; its plain twin is ``plain110``.
    """
    return CifarResNet(110, residual=True, **_plain_or_resnet("resnet110", kwargs))


def resnet1202(**kwargs: Any) -> CifarResNet:
    """ResNet-1202: the paper's deepest CIFAR-10 ResNet, n = 200 (section 4.2, Table 6).

    Keyword arguments are those of ``CifarResNet``. It has 19.4M parameters.
    """
    return CifarResNet(1202, residual=True, **_plain_or_resnet("resnet1202", kwargs))


def plain20(**kwargs: Any) -> CifarResNet:
    """Plain-20: ResNet-20 without its shortcuts, the paper's plain baseline (section 4.2).

    Keyword arguments are those of ``CifarResNet``; its residual twin is ``resnet20``.
    """
    return CifarResNet(20, residual=False, **_plain_or_resnet("plain20", kwargs))


def plain32(**kwargs: Any) -> CifarResNet:
    """Plain-32: ResNet-32 without its shortcuts, the paper's plain baseline (section 4.2).

    Keyword arguments are those of ``CifarResNet``; its residual twin is ``resnet32``.
    """
    return CifarResNet(32, residual=False, **_plain_or_resnet("plain32", kwargs))


def plain44(**kwargs: Any) -> CifarResNet:
    """Plain-44: ResNet-44 without its shortcuts, the paper's plain baseline (section 4.2).

    Keyword arguments are those of ``CifarResNet``; its residual twin is ``resnet44``.
    """
    return CifarResNet(44, residual=False, **_plain_or_resnet("plain44", kwargs))


def plain56(**kwargs: Any) -> CifarResNet:
    """Plain-56: ResNet-56 without its shortcuts, the paper's plain baseline (section 4.2).

    Keyword arguments are those of ``CifarResNet``; its residual twin is ``resnet56``.
    """
    return CifarResNet(56, residual=False, **_plain_or_resnet("plain56", kwargs))


def plain110(**kwargs: Any) -> CifarResNet:
    """Plain-110: ResNet-110 without its shortcuts, the paper's plain baseline (section 4.2).

    Keyword arguments are those of ``CifarResNet``; its residual twin is ``resnet110``.
    """
    return CifarResNet(110, residual=False, **_plain_or_resnet("plain110", kwargs))
