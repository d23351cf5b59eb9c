"""VGG nets, the plain deep baseline the ResNet paper starts from (chapters 1 and 5).

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
ICLR 2015, Table 1: stacks of 3x3 convolutions with max pooling between stages, then three
fully-connected layers. The ResNet paper's Figure 3 puts VGG-19 beside its 34-layer plain net
and ResNet, which have fewer filters and far fewer FLOPs.

Module indices (``features.0``, ``classifier.6`` ...) and initialisation are torchvision's, so
torchvision's VGG state dicts load with ``strict=True``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from ._checks import check_bool, check_choice, check_images, check_int, check_positive_number
from .weights import load_weights, reject_pretrained, resolve_weights, set_num_classes

#: Layer configurations of the VGG paper's Table 1: a number is a 3x3 conv of that width,
#: ``"M"`` a 2x2 max pool. Keys are the paper's column names.
VGG_CONFIGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],  # VGG-11
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],  # VGG-13
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M"]
    + [512, 512, 512, "M"],  # VGG-16
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M"]
    + [512, 512, 512, 512, "M"],  # VGG-19
}


def make_features(
    config: list[int | str], *, batch_norm: bool = False, in_channels: int = 3
) -> nn.Sequential:
    """The convolutional part of a VGG: conv (+ BN) + ReLU per number, a max pool per ``"M"``.

    Example:
        >>> make_features([64, "M"])
        Sequential(
          (0): Conv2d(3, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
          (1): ReLU(inplace=True)
          (2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
        )
    """
    _check_config(config)
    check_bool("batch_norm", batch_norm)
    check_int("in_channels", in_channels, minimum=1)
    layers: list[nn.Module] = []
    channels = in_channels
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(channels, item, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(item))
        layers.append(nn.ReLU(inplace=True))
        channels = item
    return nn.Sequential(*layers)


def _check_config(config: Any) -> None:
    """A VGG configuration: a list of positive conv widths and ``"M"`` (max pool)."""
    if isinstance(config, (str, bytes)) or not isinstance(config, Sequence):
        raise TypeError(
            f"config must be a key of VGG_CONFIGS ({', '.join(VGG_CONFIGS)}) or a list of conv "
            f'widths and "M", got {type(config).__name__} {config!r}'
        )
    for i, item in enumerate(config):
        if item != "M":
            check_int(f"config entry {i} (a width or 'M')", item, minimum=1)


class VGG(nn.Module):
    """A VGG net, state-dict-identical to ``torchvision.models.VGG``.

    Args:
        config: a key of ``VGG_CONFIGS`` (``"A"``, ``"B"``, ``"D"``, ``"E"``) or a list of widths
            and ``"M"``; the last conv must be 512 wide (the classifier expects 512 x 7 x 7).
        batch_norm: a BatchNorm after every conv (torchvision's ``vgg16_bn``).
        num_classes: classifier outputs.
        init_weights: torchvision's initialisation (Kaiming-normal convs, N(0, 0.01) linears);
            ``False`` keeps PyTorch's defaults (as torchvision does before loading weights).
        dropout: dropout probability of the two hidden fully-connected layers.
        in_channels: image channels.

    Inputs must be at least 2^p pixels wide and high, p the number of max pools (32 for the
    paper's configurations).

    Example:
        >>> model = VGG("A", num_classes=10)
        >>> model(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        config: str | list[int | str],
        *,
        batch_norm: bool = False,
        num_classes: int = 1000,
        init_weights: bool = True,
        dropout: float = 0.5,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        _check_vgg(config, num_classes, init_weights, dropout)
        if isinstance(config, str):
            config = VGG_CONFIGS[config]
        self.in_channels = in_channels
        self._min_size = 2 ** config.count("M")  # each max pool halves the map, rounding down

        self.features = make_features(config, batch_norm=batch_norm, in_channels=in_channels)
        # Any input size works: the pool resizes to the 7x7 map the classifier was built for.
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        if init_weights:
            self._init_weights()

    def _init_weights(self) -> None:
        """torchvision's VGG initialisation (He et al. 2015 for the convs)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)

    def forward(self, x: Tensor) -> Tensor:
        _check_vgg_input(x, self.in_channels, self.classifier[0].weight, self._min_size)
        x = self.avgpool(self.features(x))  # (N, 512, 7, 7)
        return self.classifier(x.flatten(1))


def _check_vgg(config: Any, num_classes: int, init_weights: bool, dropout: float) -> None:
    """``VGG``'s arguments (``in_channels`` and ``batch_norm``: see ``make_features``)."""
    if isinstance(config, str):
        check_choice("config", config, VGG_CONFIGS)
        config = VGG_CONFIGS[config]
    _check_config(config)
    widths = [c for c in config if c != "M"]
    if not widths or widths[-1] != 512:
        raise ValueError(f"config must end with a 512-wide conv (then pools), got {config}")
    check_int("num_classes", num_classes, minimum=1)
    check_bool("init_weights", init_weights)
    if check_positive_number("dropout", dropout, allow_zero=True) >= 1:
        raise ValueError(f"dropout must be < 1, got {dropout}")


def _check_vgg_input(x: Any, in_channels: int, weight: Tensor, min_size: int) -> None:
    """The door of ``VGG.forward``: an image batch, at least ``min_size`` pixels each side."""
    check_images("x", x, in_channels, weight)
    if min(x.shape[-2:]) < min_size:
        raise ValueError(
            f"x must be at least {min_size}x{min_size} pixels for this VGG (each of its max "
            f"pools halves the map), got {x.shape[-2]}x{x.shape[-1]}"
        )


def _vgg(
    name: str, config: str, batch_norm: bool, weights: Any, progress: bool, **kwargs: Any
) -> VGG:
    """Build one named VGG, and load torchvision's ``weights`` into it if given."""
    reject_pretrained(name, kwargs)
    check_bool("progress", progress)
    weights = resolve_weights(name, weights)
    if weights is not None:
        if kwargs.get("in_channels", 3) != 3:
            raise ValueError(f"pretrained weights {weights} need in_channels=3")
        set_num_classes(kwargs, weights)
        kwargs["init_weights"] = False  # overwritten by the weights anyway
    model = VGG(config, batch_norm=batch_norm, **kwargs)
    if weights is not None:
        load_weights(model, weights, progress=progress)
    return model


def vgg11(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> VGG:
    """VGG-11, configuration A of the VGG paper's Table 1.

    Args:
        weights: ``None``, or torchvision's ``VGG11_Weights`` member or its name
            (``"DEFAULT"``, ``"IMAGENET1K_V1"``).
        progress: show the download progress bar.
        **kwargs: the keyword arguments of ``VGG``.

    Example:
        >>> model = vgg11(num_classes=10)
    """
    return _vgg("vgg11", "A", False, weights, progress, **kwargs)


def vgg11_bn(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> VGG:
    """VGG-11 with BatchNorm, configuration A of the VGG paper's Table 1.

    Args:
        weights: ``None``, or torchvision's ``VGG11_BN_Weights`` member or its name
            (``"DEFAULT"``, ``"IMAGENET1K_V1"``).
        progress: show the download progress bar.
        **kwargs: the keyword arguments of ``VGG``.

    Example:
        >>> model = vgg11_bn(num_classes=10)
    """
    return _vgg("vgg11_bn", "A", True, weights, progress, **kwargs)


def vgg13(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> VGG:
    """VGG-13, configuration B of the VGG paper's Table 1.

    Args:
        weights: ``None``, or torchvision's ``VGG13_Weights`` member or its name
            (``"DEFAULT"``, ``"IMAGENET1K_V1"``).
        progress: show the download progress bar.
        **kwargs: the keyword arguments of ``VGG``.

    Example:
        >>> model = vgg13(num_classes=10)
    """
    return _vgg("vgg13", "B", False, weights, progress, **kwargs)


def vgg13_bn(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> VGG:
    """VGG-13 with BatchNorm, configuration B of the VGG paper's Table 1.

    Args:
        weights: ``None``, or torchvision's ``VGG13_BN_Weights`` member or its name
            (``"DEFAULT"``, ``"IMAGENET1K_V1"``).
        progress: show the download progress bar.
        **kwargs: the keyword arguments of ``VGG``.

    Example:
        >>> model = vgg13_bn(num_classes=10)
    """
    return _vgg("vgg13_bn", "B", True, weights, progress, **kwargs)


def vgg16(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> VGG:
    """VGG-16, configuration D of the VGG paper's Table 1.

    Args:
        weights: ``None``, or torchvision's ``VGG16_Weights`` member or its name
            (``"DEFAULT"``, ``"IMAGENET1K_V1"``).
        progress: show the download progress bar.
        **kwargs: the keyword arguments of ``VGG``.

    Example:
        >>> model = vgg16(num_classes=10)
    """
    return _vgg("vgg16", "D", False, weights, progress, **kwargs)


def vgg16_bn(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> VGG:
    """VGG-16 with BatchNorm, configuration D of the VGG paper's Table 1.

    Args:
        weights: ``None``, or torchvision's ``VGG16_BN_Weights`` member or its name
            (``"DEFAULT"``, ``"IMAGENET1K_V1"``).
        progress: show the download progress bar.
        **kwargs: the keyword arguments of ``VGG``.

    Example:
        >>> model = vgg16_bn(num_classes=10)
    """
    return _vgg("vgg16_bn", "D", True, weights, progress, **kwargs)


def vgg19(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> VGG:
    """VGG-19, configuration E of the VGG paper's Table 1.

    Args:
        weights: ``None``, or torchvision's ``VGG19_Weights`` member or its name
            (``"DEFAULT"``, ``"IMAGENET1K_V1"``).
        progress: show the download progress bar.
        **kwargs: the keyword arguments of ``VGG``.

    Example:
        >>> model = vgg19(num_classes=10)
    """
    return _vgg("vgg19", "E", False, weights, progress, **kwargs)


def vgg19_bn(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> VGG:
    """VGG-19 with BatchNorm, configuration E of the VGG paper's Table 1.

    Args:
        weights: ``None``, or torchvision's ``VGG19_BN_Weights`` member or its name
            (``"DEFAULT"``, ``"IMAGENET1K_V1"``).
        progress: show the download progress bar.
        **kwargs: the keyword arguments of ``VGG``.

    Example:
        >>> model = vgg19_bn(num_classes=10)
    """
    return _vgg("vgg19_bn", "E", True, weights, progress, **kwargs)


#: The constructors, by torchvision's name.
VGG_BUILDERS = {
    f.__name__: f for f in (vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn)
}
