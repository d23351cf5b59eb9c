"""ImageNet ResNets (paper Table 1), plain twins, ResNeXt, Wide ResNet (chapters 1, 4-6, 9).

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

from collections.abc import Sequence
from typing import Any, NamedTuple

from torch import Tensor, nn

from ._checks import (
    check_bool,
    check_int,
    check_int_list,
    check_model_input,
    check_norm_layer,
)
from .blocks import (
    BasicBlock,
    Bottleneck,
    NormLayer,
    init_weights,
    make_stage,
    zero_init_residual_blocks,
)
from .weights import load_weights, reject_pretrained, resolve_weights, set_num_classes

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
    _check_stage_plan(layers, replace_stride_with_dilation)
    dilate = [False, *(replace_stride_with_dilation or [False, False, False])]
    plan, dilation = [], 1
    for i, blocks in enumerate(layers):
        stride = 1 if i == 0 else 2
        first_dilation = dilation
        if dilate[i]:
            dilation, stride = dilation * stride, 1
        plan.append(Stage(STEM_WIDTH * 2**i, blocks, stride, first_dilation, dilation))
    return plan


def _check_stage_plan(layers: Any, value: Any) -> None:
    """``layers``: 4 ints >= 1; ``replace_stride_with_dilation``: None or 3 bools (stages 2-4)."""
    check_int_list("layers", layers, length=4, minimum=1)
    if value is None:
        return
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(
            "replace_stride_with_dilation must be None or a list of 3 bools (stages 2, 3, 4), "
            f"got {type(value).__name__} {value!r}"
        )
    if len(value) != 3:
        raise ValueError(
            f"replace_stride_with_dilation must be None or 3 bools (stages 2, 3, 4), got {value!r}"
        )
    for i, v in enumerate(value):
        check_bool(f"replace_stride_with_dilation[{i}]", v)


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

    ``features(x)`` is the last stage's output, (N, C, H/32, W/32); ``forward(x)`` pools it and
    applies the classifier.

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
        plan = stage_plan(layers, replace_stride_with_dilation)
        block_kwargs = _block_kwargs(block, groups, width_per_group, stride_in_1x1, plan)
        _check_resnet(num_classes, in_channels, zero_init_residual, norm_layer)
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        self.residual, self.in_channels = residual, in_channels  # (blocks check residual)
        self._halvings = 2 + sum(s.stride == 2 for s in plan)  # before the last BN; stem: 2

        # Stem: a stride-2 7x7 conv and a stride-2 max pool take 224x224 down to 56x56.
        self.conv1 = nn.Conv2d(
            in_channels, STEM_WIDTH, kernel_size=7, stride=2, padding=3, bias=False
        )
        self.bn1 = norm_layer(STEM_WIDTH)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

        channels = STEM_WIDTH
        stages = []
        kwargs = {"residual": residual, "norm_layer": norm_layer, **block_kwargs}
        for stage in plan:
            # make_stage's default shortcut is option B, as torchvision: a projection where the
            # shape changes, keys downsample.0 (1x1 conv) and downsample.1 (norm).
            kwargs.update(first_dilation=stage.first_dilation, dilation=stage.dilation)
            stages.append(
                make_stage(block, channels, stage.planes, stage.blocks, stage.stride, **kwargs)
            )
            channels = stage.planes * block.expansion
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(channels, num_classes)

        init_weights(self)
        if zero_init_residual:
            zero_init_residual_blocks(self)

    def features(self, x: Tensor) -> Tensor:
        """The stem and the four stages: the map the global pooling averages."""
        check_model_input(x, self.conv1, self.bn1, self._halvings)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, 64, H/4, W/4)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (N, C, H/32, W/32)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.avgpool(self.features(x)).flatten(1))


def _check_resnet(
    num_classes: int, in_channels: int, zero_init_residual: bool, norm_layer: Any
) -> None:
    check_int("num_classes", num_classes, minimum=1)
    check_int("in_channels", in_channels, minimum=1)
    check_bool("zero_init_residual", zero_init_residual)
    check_norm_layer("norm_layer", norm_layer)


def _block_kwargs(
    block: Any, groups: int, width_per_group: int, stride_in_1x1: bool, plan: list[Stage]
) -> dict[str, Any]:
    """What ``ResNet`` passes to every block besides the shapes: Bottleneck's own options."""
    if not (isinstance(block, type) and issubclass(block, (BasicBlock, Bottleneck))):
        raise TypeError(f"block must be BasicBlock or Bottleneck, got {block!r}")
    check_int("groups", groups, minimum=1)
    check_int("width_per_group", width_per_group, minimum=1)
    check_bool("stride_in_1x1", stride_in_1x1)
    if issubclass(block, Bottleneck):
        return {"groups": groups, "base_width": width_per_group, "stride_in_1x1": stride_in_1x1}
    if groups != 1 or width_per_group != 64:
        raise ValueError(
            f"BasicBlock supports only groups=1 and width_per_group=64 (got groups={groups}, "
            f"width_per_group={width_per_group}); use Bottleneck for ResNeXt / Wide ResNet"
        )
    if any(stage.dilation != 1 for stage in plan):
        raise ValueError(
            "BasicBlock supports only dilation=1 (as torchvision): "
            "replace_stride_with_dilation needs Bottleneck"
        )
    return {}


def _fix(name: str, kwargs: dict[str, Any], key: str, value: Any) -> None:
    """Set ``kwargs[key] = value``, an argument the architecture ``name`` fixes (torchvision's
    ``_ovewrite_named_param``)."""
    if kwargs.setdefault(key, value) != value:
        raise ValueError(f"{name} fixes {key}={value}, got {key}={kwargs[key]}")


def _resnet(
    name: str,
    block: type[BasicBlock | Bottleneck],
    layers: list[int],
    weights: Any,
    progress: bool,
    **kwargs: Any,
) -> ResNet:
    """Build one named architecture, and load torchvision's ``weights`` into it if given."""
    reject_pretrained(name, kwargs)
    check_bool("progress", progress)
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


def resnet18(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-18 (paper Table 1): ``ResNet(BasicBlock, [2, 2, 2, 2])``.

    Args:
        weights: ``None`` (random, He init), or torchvision's ``ResNet18_Weights`` member or
            its name (``"DEFAULT"``, ``"IMAGENET1K_V1"``).
        progress: show the download progress bar.
        **kwargs: the keyword arguments of ``ResNet``.

    Example:
        >>> model = resnet18(num_classes=10)
    """
    return _resnet("resnet18", BasicBlock, [2, 2, 2, 2], weights, progress, **kwargs)


def resnet34(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-34 (paper Table 1): ``ResNet(BasicBlock, [3, 4, 6, 3])``.

    Args:
        weights: ``None`` (random, He init), or torchvision's ``ResNet34_Weights`` member or
            its name (``"DEFAULT"``, ``"IMAGENET1K_V1"``).
        progress: show the download progress bar.
        **kwargs: the keyword arguments of ``ResNet``.

    Example:
        >>> model = resnet34(num_classes=10)
    """
    return _resnet("resnet34", BasicBlock, [3, 4, 6, 3], weights, progress, **kwargs)


def resnet50(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-50 (paper Table 1): ``ResNet(Bottleneck, [3, 4, 6, 3])``.

    Args:
        weights: ``None`` (random, He init), or torchvision's ``ResNet50_Weights`` member or
            its name (``"DEFAULT"``, ``"IMAGENET1K_V1"``, ``"IMAGENET1K_V2"``).
        progress: show the download progress bar.
        **kwargs: the keyword arguments of ``ResNet``.

    Example:
        >>> model = resnet50(num_classes=10)
    """
    return _resnet("resnet50", Bottleneck, [3, 4, 6, 3], weights, progress, **kwargs)


def resnet101(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-101 (paper Table 1): ``ResNet(Bottleneck, [3, 4, 23, 3])``.

    Args:
        weights: ``None`` (random, He init), or torchvision's ``ResNet101_Weights`` member or
            its name (``"DEFAULT"``, ``"IMAGENET1K_V1"``, ``"IMAGENET1K_V2"``).
        progress: show the download progress bar.
        **kwargs: the keyword arguments of ``ResNet``.

    Example:
        >>> model = resnet101(num_classes=10)
    """
    return _resnet("resnet101", Bottleneck, [3, 4, 23, 3], weights, progress, **kwargs)


def resnet152(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-152 (paper Table 1): ``ResNet(Bottleneck, [3, 8, 36, 3])``.

    Args:
        weights: ``None`` (random, He init), or torchvision's ``ResNet152_Weights`` member or
            its name (``"DEFAULT"``, ``"IMAGENET1K_V1"``, ``"IMAGENET1K_V2"``).
        progress: show the download progress bar.
        **kwargs: the keyword arguments of ``ResNet``.

    Example:
        >>> model = resnet152(num_classes=10)
    """
    return _resnet("resnet152", Bottleneck, [3, 8, 36, 3], weights, progress, **kwargs)


def resnext50_32x4d(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNeXt-50 32x4d (Xie et al. 2017): ``ResNet(Bottleneck, [3, 4, 6, 3])`` with 32 groups
    of width 4.

    Args:
        weights: ``None`` (random, He init), or torchvision's ``ResNeXt50_32X4D_Weights``
            member or its name (``"DEFAULT"``, ``"IMAGENET1K_V1"``, ``"IMAGENET1K_V2"``).
        progress: show the download progress bar.
        **kwargs: the keyword arguments of ``ResNet`` (``groups=32, width_per_group=4``).

    Example:
        >>> model = resnext50_32x4d(num_classes=10)
    """
    _fix("resnext50_32x4d", kwargs, "groups", 32)
    _fix("resnext50_32x4d", kwargs, "width_per_group", 4)
    return _resnet("resnext50_32x4d", Bottleneck, [3, 4, 6, 3], weights, progress, **kwargs)


def resnext101_32x8d(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNeXt-101 32x8d (Xie et al. 2017): ``ResNet(Bottleneck, [3, 4, 23, 3])`` with 32
    groups of width 8.

    Args:
        weights: ``None`` (random, He init), or torchvision's ``ResNeXt101_32X8D_Weights``
            member or its name (``"DEFAULT"``, ``"IMAGENET1K_V1"``, ``"IMAGENET1K_V2"``).
        progress: show the download progress bar.
        **kwargs: the keyword arguments of ``ResNet`` (``groups=32, width_per_group=8``).

    Example:
        >>> model = resnext101_32x8d(num_classes=10)
    """
    _fix("resnext101_32x8d", kwargs, "groups", 32)
    _fix("resnext101_32x8d", kwargs, "width_per_group", 8)
    return _resnet("resnext101_32x8d", Bottleneck, [3, 4, 23, 3], weights, progress, **kwargs)


def resnext101_64x4d(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNeXt-101 64x4d (Xie et al. 2017): ``ResNet(Bottleneck, [3, 4, 23, 3])`` with 64
    groups of width 4.

    Args:
        weights: ``None`` (random, He init), or torchvision's ``ResNeXt101_64X4D_Weights``
            member or its name (``"DEFAULT"``, ``"IMAGENET1K_V1"``).
        progress: show the download progress bar.
        **kwargs: the keyword arguments of ``ResNet`` (``groups=64, width_per_group=4``).

    Example:
        >>> model = resnext101_64x4d(num_classes=10)
    """
    _fix("resnext101_64x4d", kwargs, "groups", 64)
    _fix("resnext101_64x4d", kwargs, "width_per_group", 4)
    return _resnet("resnext101_64x4d", Bottleneck, [3, 4, 23, 3], weights, progress, **kwargs)


def wide_resnet50_2(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """Wide ResNet-50-2 (Zagoruyko & Komodakis 2016): ``ResNet(Bottleneck, [3, 4, 6, 3])``
    with twice the inner width (``width_per_group=128``).

    Args:
        weights: ``None`` (random, He init), or torchvision's ``Wide_ResNet50_2_Weights``
            member or its name (``"DEFAULT"``, ``"IMAGENET1K_V1"``, ``"IMAGENET1K_V2"``).
        progress: show the download progress bar.
        **kwargs: the keyword arguments of ``ResNet``.

    Example:
        >>> model = wide_resnet50_2(num_classes=10)
    """
    _fix("wide_resnet50_2", kwargs, "width_per_group", 128)
    return _resnet("wide_resnet50_2", Bottleneck, [3, 4, 6, 3], weights, progress, **kwargs)


def wide_resnet101_2(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """Wide ResNet-101-2 (Zagoruyko & Komodakis 2016): ``ResNet(Bottleneck, [3, 4, 23, 3])``
    with twice the inner width (``width_per_group=128``).

    Args:
        weights: ``None`` (random, He init), or torchvision's ``Wide_ResNet101_2_Weights``
            member or its name (``"DEFAULT"``, ``"IMAGENET1K_V1"``, ``"IMAGENET1K_V2"``).
        progress: show the download progress bar.
        **kwargs: the keyword arguments of ``ResNet``.

    Example:
        >>> model = wide_resnet101_2(num_classes=10)
    """
    _fix("wide_resnet101_2", kwargs, "width_per_group", 128)
    return _resnet("wide_resnet101_2", Bottleneck, [3, 4, 23, 3], weights, progress, **kwargs)


def plain18(**kwargs: Any) -> ResNet:
    """Plain-18: ``ResNet(BasicBlock, [2, 2, 2, 2], residual=False)``, the paper's plain
    baseline (Table 2): the layers of ResNet-18 without the shortcuts. No weights exist.

    Args:
        **kwargs: the keyword arguments of ``ResNet``.

    Example:
        >>> model = plain18(num_classes=10)
    """
    _no_plain_weights("plain18", kwargs)
    return ResNet(BasicBlock, [2, 2, 2, 2], residual=False, **kwargs)


def plain34(**kwargs: Any) -> ResNet:
    """Plain-34: ``ResNet(BasicBlock, [3, 4, 6, 3], residual=False)``, the paper's plain
    baseline (Table 2): the layers of ResNet-34 without the shortcuts. No weights exist.

    Args:
        **kwargs: the keyword arguments of ``ResNet``.

    Example:
        >>> model = plain34(num_classes=10)
    """
    _no_plain_weights("plain34", kwargs)
    return ResNet(BasicBlock, [3, 4, 6, 3], residual=False, **kwargs)


def _no_plain_weights(name: str, kwargs: dict[str, Any]) -> None:
    for key in ("residual", "weights", "pretrained"):  # fixed: no shortcuts; no weights exist
        if key in kwargs:
            raise TypeError(f"{name}() takes no {key} argument; use ResNet(...) or resnet*")


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
