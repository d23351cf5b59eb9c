"""ImageNet ResNets (paper Table 1), their plain twins, ResNeXt and Wide ResNet (chapters 5, 6).

A 7x7 stem, four stages of blocks at strides 4, 8, 16, 32, global average pooling and one
fully-connected layer (He et al. 2016, Table 1). The module and parameter names (``conv1``,
``bn1``, ``layer1`` ... ``layer4``, ``fc``) and the initialisation are torchvision's, so that
torchvision's state dicts, random or pretrained, load with ``strict=True`` and give the same
outputs -- the tests check both.

Two switches turn the model into the paper's variants:

* ``residual=False`` drops every shortcut: ``plain18`` and ``plain34`` are the paper's plain
  baselines (Table 2), identical to ResNet-18/34 in everything else.
* ``stride_in_1x1=True`` puts a downsampling Bottleneck's stride on its first 1x1 conv, as the
  paper did; torchvision ("ResNet v1.5") strides the 3x3 conv. The paper's Table 1 FLOPs come out
  of the first setting, torchvision's metadata out of the second.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import Tensor, nn

from ._checks import check_images, check_int, check_int_list
from .blocks import (
    BasicBlock,
    Bottleneck,
    NormLayer,
    init_weights,
    make_shortcut,
    zero_init_residual_blocks,
)
from .weights import load_weights, resolve_weights, set_num_classes

#: Output channels of the stem; the first stage's ``planes``.
STEM_WIDTH = 64


class Stage(NamedTuple):
    """One stage of a ResNet, as plain data."""

    planes: int  # the blocks' ``planes``; they output planes * block.expansion channels
    blocks: int  # how many blocks
    stride: int  # stride of the first block (1 when the stride is replaced by dilation)
    first_dilation: int  # dilation of the first block: the dilation before this stage
    dilation: int  # dilation of the other blocks


def stage_plan(
    layers: list[int], replace_stride_with_dilation: list[bool] | None = None
) -> list[Stage]:
    """The four stages of an ImageNet ResNet: planes 64, 128, 256, 512 at strides 1, 2, 2, 2.

    ``replace_stride_with_dilation[i]`` replaces stage ``i + 1``'s stride 2 by a dilation that
    doubles from then on (DeepLab; torchvision's segmentation backbones keep the map at 1/8).

    Example:
        >>> stage_plan([2, 2, 2, 2])[1]
        Stage(planes=128, blocks=2, stride=2, first_dilation=1, dilation=1)
    """
    dilate = [False] + list(replace_stride_with_dilation or [False, False, False])
    plan, dilation = [], 1
    for i, blocks in enumerate(layers):
        stride = 1 if i == 0 else 2
        first_dilation = dilation
        if dilate[i]:
            dilation, stride = dilation * stride, 1
        plan.append(Stage(STEM_WIDTH * 2**i, blocks, stride, first_dilation, dilation))
    return plan


class ResNet(nn.Module):
    """An ImageNet ResNet (paper Table 1), state-dict-identical to ``torchvision.models.ResNet``.

    Args:
        block: ``BasicBlock`` (ResNet-18/34) or ``Bottleneck`` (ResNet-50/101/152).
        layers: blocks per stage, 4 ints (``[3, 4, 6, 3]`` for ResNet-34 and -50).
        num_classes: classifier outputs.
        zero_init_residual: start every block as its shortcut (zero the last BN's scale).
        groups: groups of the Bottleneck's 3x3 conv (ResNeXt's cardinality).
        width_per_group: Bottleneck inner width per group (64; 4 for ResNeXt-50 32x4d; 128 for
            Wide ResNet-50-2).
        replace_stride_with_dilation: 3 bools, one per stage 2..4 (see ``stage_plan``).
        norm_layer: callable ``num_features -> nn.Module``, default ``nn.BatchNorm2d``.
        residual: keyword-only; ``False`` builds the plain net (no shortcuts, no projection
            parameters).
        stride_in_1x1: keyword-only; the paper's stride placement in Bottlenecks (no effect on
            BasicBlocks, which have no 1x1 conv).
        in_channels: keyword-only; image channels.

    Example:
        >>> model = ResNet(BasicBlock, [2, 2, 2, 2], num_classes=10)
        >>> model(torch.randn(2, 3, 64, 64)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: list[int],
        num_classes: int = 1000,
        zero_init_residual: bool = False,
        groups: int = 1,
        width_per_group: int = 64,
        replace_stride_with_dilation: list[bool] | None = None,
        norm_layer: NormLayer | None = None,
        *,
        residual: bool = True,
        stride_in_1x1: bool = False,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if not (isinstance(block, type) and issubclass(block, (BasicBlock, Bottleneck))):
            raise TypeError(f"block must be BasicBlock or Bottleneck, got {block!r}")
        layers = check_int_list("layers", layers, length=4, minimum=1)
        check_int("num_classes", num_classes, minimum=1)
        check_int("groups", groups, minimum=1)
        check_int("width_per_group", width_per_group, minimum=1)
        check_int("in_channels", in_channels, minimum=1)
        if replace_stride_with_dilation is not None and (
            isinstance(replace_stride_with_dilation, (str, bytes))
            or len(replace_stride_with_dilation) != 3
        ):
            raise ValueError(
                "replace_stride_with_dilation must be None or 3 bools (stages 2, 3, 4), "
                f"got {replace_stride_with_dilation!r}"
            )
        if norm_layer is not None and not callable(norm_layer):
            raise TypeError(f"norm_layer must be callable, e.g. nn.BatchNorm2d, got {norm_layer!r}")
        if issubclass(block, BasicBlock) and (groups != 1 or width_per_group != 64):
            raise ValueError(
                f"BasicBlock supports only groups=1 and width_per_group=64 (got groups={groups}, "
                f"width_per_group={width_per_group}); use Bottleneck for ResNeXt / Wide ResNet"
            )
        norm_layer = nn.BatchNorm2d if norm_layer is None else norm_layer
        self.residual, self.in_channels = residual, in_channels

        # Stem: a stride-2 7x7 conv and a stride-2 max pool take 224x224 down to 56x56.
        self.conv1 = nn.Conv2d(
            in_channels, STEM_WIDTH, kernel_size=7, stride=2, padding=3, bias=False
        )
        self.bn1 = norm_layer(STEM_WIDTH)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

        channels = STEM_WIDTH
        stages = []
        for stage in stage_plan(layers, replace_stride_with_dilation):
            blocks = []
            for i in range(stage.blocks):
                stride, dilation = (
                    (stage.stride, stage.first_dilation) if i == 0 else (1, stage.dilation)
                )
                out_channels = stage.planes * block.expansion
                # Projection shortcut (option B) where the shape changes, as torchvision:
                # its keys are downsample.0 (1x1 conv) and downsample.1 (norm).
                downsample = (
                    make_shortcut("B", channels, out_channels, stride, norm_layer)
                    if residual
                    else None
                )
                extra = {"stride_in_1x1": stride_in_1x1} if block is Bottleneck else {}
                blocks.append(
                    block(
                        channels,
                        stage.planes,
                        stride,
                        downsample,
                        groups=groups,
                        base_width=width_per_group,
                        dilation=dilation,
                        norm_layer=norm_layer,
                        residual=residual,
                        **extra,
                    )
                )
                channels = out_channels
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(channels, num_classes)

        init_weights(self)
        if zero_init_residual:
            zero_init_residual_blocks(self)

    def forward(self, x: Tensor) -> Tensor:
        check_images("x", x, self.in_channels)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, 64, H/4, W/4)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (N, C, H/32, W/32)
        return self.fc(self.avgpool(x).flatten(1))


def _build(
    name: str,
    block: type[BasicBlock | Bottleneck],
    layers: list[int],
    weights: Any,
    progress: bool,
    fixed: dict[str, Any],
    kwargs: dict[str, Any],
) -> ResNet:
    """Build (and load weights into) one named architecture, checking kwargs as torchvision."""
    for key, value in fixed.items():  # e.g. groups=32 for resnext50_32x4d
        if kwargs.setdefault(key, value) != value:
            raise ValueError(f"{name} fixes {key}={value}, got {key}={kwargs[key]}")
    weights = resolve_weights(name, weights)
    if weights is not None:
        set_num_classes(kwargs, weights)
        # Switches that change the state dict or the maths make the weights meaningless.
        # (A BasicBlock has no 1x1 conv, so stride_in_1x1 changes nothing there.)
        defaults = {"residual": True, "in_channels": 3}
        if block is Bottleneck:
            defaults["stride_in_1x1"] = False
        changed = {k: kwargs[k] for k, v in defaults.items() if kwargs.get(k, v) != v}
        if changed:
            raise ValueError(
                f"pretrained weights {weights} fit torchvision's architecture only; "
                f"{', '.join(f'{k}={v!r}' for k, v in changed.items())} changes it"
            )
    model = ResNet(block, layers, **kwargs)
    if weights is not None:
        load_weights(model, weights, progress=progress)
    return model


def _builder(name: str, block: type, layers: list[int], fixed: dict[str, Any], title: str):
    """A torchvision-style constructor ``name(*, weights=None, progress=True, **kwargs)``."""

    def build(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
        return _build(name, block, layers, weights, progress, fixed, kwargs)

    build.__name__ = build.__qualname__ = name
    fixed_text = ", ".join(f"{k}={v}" for k, v in fixed.items())
    build.__doc__ = (
        f"{title}: ``ResNet({block.__name__}, {layers}{', ' + fixed_text if fixed else ''})``.\n\n"
        "Args:\n"
        "    weights: ``None`` (random, He init), torchvision's weight enum member for this\n"
        f'        model or its name (``"DEFAULT"``, ``"IMAGENET1K_V1"`` ...); see\n'
        f'        ``torchvision.models.get_model_weights("{name}")``.\n'
        "    progress: show the download progress bar.\n"
        "    **kwargs: the keyword arguments of ``ResNet``.\n\n"
        "Example:\n"
        f"    >>> model = {name}(num_classes=10)\n"
    )
    return build


def _plain_builder(name: str, layers: list[int], title: str):
    """``plain18`` / ``plain34``: the paper's plain baselines (no pretrained weights exist)."""

    def build(**kwargs: Any) -> ResNet:
        for key in ("residual", "weights"):  # fixed: no shortcuts, and no weights exist
            if key in kwargs:
                raise TypeError(f"{name}() takes no {key} argument; use ResNet(...) or resnet*")
        return ResNet(BasicBlock, layers, residual=False, **kwargs)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = (
        f"{title}: ``ResNet(BasicBlock, {layers}, residual=False)``, the paper's plain baseline "
        "(Table 2), the same layers as its ResNet twin without the shortcuts.\n\n"
        "Args:\n    **kwargs: the keyword arguments of ``ResNet``.\n\n"
        f"Example:\n    >>> model = {name}(num_classes=10)\n"
    )
    return build


resnet18 = _builder("resnet18", BasicBlock, [2, 2, 2, 2], {}, "ResNet-18 (paper Table 1)")
resnet34 = _builder("resnet34", BasicBlock, [3, 4, 6, 3], {}, "ResNet-34 (paper Table 1)")
resnet50 = _builder("resnet50", Bottleneck, [3, 4, 6, 3], {}, "ResNet-50 (paper Table 1)")
resnet101 = _builder("resnet101", Bottleneck, [3, 4, 23, 3], {}, "ResNet-101 (paper Table 1)")
resnet152 = _builder("resnet152", Bottleneck, [3, 8, 36, 3], {}, "ResNet-152 (paper Table 1)")
resnext50_32x4d = _builder(
    "resnext50_32x4d",
    Bottleneck,
    [3, 4, 6, 3],
    {"groups": 32, "width_per_group": 4},
    "ResNeXt-50 32x4d (Xie et al. 2017)",
)
resnext101_32x8d = _builder(
    "resnext101_32x8d",
    Bottleneck,
    [3, 4, 23, 3],
    {"groups": 32, "width_per_group": 8},
    "ResNeXt-101 32x8d (Xie et al. 2017)",
)
resnext101_64x4d = _builder(
    "resnext101_64x4d",
    Bottleneck,
    [3, 4, 23, 3],
    {"groups": 64, "width_per_group": 4},
    "ResNeXt-101 64x4d (Xie et al. 2017)",
)
wide_resnet50_2 = _builder(
    "wide_resnet50_2",
    Bottleneck,
    [3, 4, 6, 3],
    {"width_per_group": 128},
    "Wide ResNet-50-2 (Zagoruyko & Komodakis 2016)",
)
wide_resnet101_2 = _builder(
    "wide_resnet101_2",
    Bottleneck,
    [3, 4, 23, 3],
    {"width_per_group": 128},
    "Wide ResNet-101-2 (Zagoruyko & Komodakis 2016)",
)
plain18 = _plain_builder("plain18", [2, 2, 2, 2], "Plain-18")
plain34 = _plain_builder("plain34", [3, 4, 6, 3], "Plain-34")

#: The constructors that have torchvision counterparts, by torchvision's name.
IMAGENET_BUILDERS = {
    f.__name__: f
    for f in (
        resnet18,
        resnet34,
        resnet50,
        resnet101,
        resnet152,
        resnext50_32x4d,
        resnext101_32x8d,
        resnext101_64x4d,
        wide_resnet50_2,
        wide_resnet101_2,
    )
}
