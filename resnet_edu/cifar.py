"""The CIFAR-10 networks of the paper, section 4.2 (chapters 1, 4 and 7).

"The first layer is 3x3 convolutions. Then we use a stack of 6n layers with 3x3 convolutions on
the feature maps of sizes {32, 16, 8} respectively, with 2n layers for each feature map size. The
numbers of filters are {16, 32, 64} respectively. [...] The network ends with a global average
pooling, a 10-way fully-connected layer, and softmax. There are totally 6n+2 stacked weighted
layers." With shortcut option A the ResNet and its plain twin have exactly the same parameters.

The nets are fully convolutional up to the global pooling, so they also run on 8x8 inputs (the
offline digits data): the maps are then 8, 4 and 2 pixels wide.
"""

from __future__ import annotations

from torch import Tensor, nn

from ._checks import check_choice, check_images, check_int, check_int_list
from .blocks import (
    SHORTCUT_OPTIONS,
    BasicBlock,
    NormLayer,
    conv3x3,
    init_weights,
    make_shortcut,
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
        check_int("num_classes", num_classes, minimum=1)
        check_int("in_channels", in_channels, minimum=1)
        check_choice("shortcut", shortcut, SHORTCUT_OPTIONS)
        check_int_list("widths", widths, length=3)
        norm_layer = nn.BatchNorm2d if norm_layer is None else norm_layer
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
                _make_stage(channels, width, blocks, stride, shortcut, residual, norm_layer)
            )
            channels = width
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

        init_weights(self)
        if zero_init_residual:
            zero_init_residual_blocks(self)

    def forward(self, x: Tensor) -> Tensor:
        check_images("x", x, self.in_channels)
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.avgpool(x).flatten(1))


def _make_stage(
    in_channels: int,
    width: int,
    blocks: int,
    stride: int,
    shortcut: str,
    residual: bool,
    norm_layer: NormLayer,
) -> nn.Sequential:
    """``blocks`` BasicBlocks of ``width`` channels; only the first one may change the shape."""
    layers = []
    for i in range(blocks):
        block_in, block_stride = (in_channels, stride) if i == 0 else (width, 1)
        downsample = (
            make_shortcut(shortcut, block_in, width, block_stride, norm_layer) if residual else None
        )
        layers.append(
            BasicBlock(
                block_in, width, block_stride, downsample, norm_layer=norm_layer, residual=residual
            )
        )
    return nn.Sequential(*layers)


def _builder(depth: int, residual: bool):
    """A named constructor such as ``resnet56`` or ``plain56`` with its own docstring."""
    name = f"{'resnet' if residual else 'plain'}{depth}"
    twin = f"{'plain' if residual else 'resnet'}{depth}"

    def build(**kwargs) -> CifarResNet:
        if "residual" in kwargs or "depth" in kwargs:
            raise TypeError(f"{name}() fixes depth and residual; use CifarResNet(depth, ...)")
        return CifarResNet(depth, residual=residual, **kwargs)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = (
        f"The paper's CIFAR {'ResNet' if residual else 'plain net'} with {depth} weighted layers "
        f"(section 4.2, n = {(depth - 2) // 6}).\n\n"
        f"Keyword arguments are those of ``CifarResNet``; its twin is ``{twin}``.\n"
    )
    return build


resnet20 = _builder(20, True)
resnet32 = _builder(32, True)
resnet44 = _builder(44, True)
resnet56 = _builder(56, True)
resnet110 = _builder(110, True)
resnet1202 = _builder(1202, True)
plain20 = _builder(20, False)
plain32 = _builder(32, False)
plain44 = _builder(44, False)
plain56 = _builder(56, False)
plain110 = _builder(110, False)
