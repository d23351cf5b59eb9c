"""VGG nets, the plain deep baseline the ResNet paper starts from (chapter 1).

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
ICLR 2015, Table 1: stacks of 3x3 convolutions with max pooling between stages, then three
fully-connected layers. The ResNet paper's Figure 3 puts VGG-19 beside its 34-layer plain net
and ResNet, which have fewer filters and far fewer FLOPs.

Module indices (``features.0``, ``classifier.6`` ...) and initialisation are torchvision's, so
torchvision's VGG state dicts load with ``strict=True``.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ._checks import check_images, check_int, check_positive_number
from .weights import load_weights, resolve_weights, set_num_classes

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
    layers: list[nn.Module] = []
    channels = in_channels
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        width = check_int("config entry", item, minimum=1)
        layers.append(nn.Conv2d(channels, width, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(width))
        layers.append(nn.ReLU(inplace=True))
        channels = width
    return nn.Sequential(*layers)


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
        if isinstance(config, str):
            if config not in VGG_CONFIGS:
                raise ValueError(f"config must be one of {list(VGG_CONFIGS)}, got {config!r}")
            config = VGG_CONFIGS[config]
        widths = [c for c in config if c != "M"]
        if not widths or widths[-1] != 512:
            raise ValueError(f"config must end with a 512-wide conv (then pools), got {config}")
        check_int("num_classes", num_classes, minimum=1)
        check_int("in_channels", in_channels, minimum=1)
        if check_positive_number("dropout", dropout, allow_zero=True) >= 1:
            raise ValueError(f"dropout must be < 1, got {dropout}")
        self.in_channels = in_channels

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
        check_images("x", x, self.in_channels)
        x = self.avgpool(self.features(x))  # (N, 512, 7, 7)
        return self.classifier(x.flatten(1))


def _builder(name: str, config: str, batch_norm: bool):
    """A torchvision-style constructor ``name(*, weights=None, progress=True, **kwargs)``."""

    def build(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> VGG:
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

    build.__name__ = build.__qualname__ = name
    depth = sum(1 for c in VGG_CONFIGS[config] if c != "M") + 3
    build.__doc__ = (
        f"VGG-{depth} (configuration {config} of the VGG paper's Table 1)"
        f"{' with BatchNorm' if batch_norm else ''}.\n\n"
        "Args:\n"
        "    weights: ``None`` or torchvision's weight enum member for this model or its name\n"
        '        (``"DEFAULT"``, ``"IMAGENET1K_V1"``).\n'
        "    progress: show the download progress bar.\n"
        "    **kwargs: the keyword arguments of ``VGG``.\n\n"
        f"Example:\n    >>> model = {name}(num_classes=10)\n"
    )
    return build


vgg11 = _builder("vgg11", "A", False)
vgg11_bn = _builder("vgg11_bn", "A", True)
vgg13 = _builder("vgg13", "B", False)
vgg13_bn = _builder("vgg13_bn", "B", True)
vgg16 = _builder("vgg16", "D", False)
vgg16_bn = _builder("vgg16_bn", "D", True)
vgg19 = _builder("vgg19", "E", False)
vgg19_bn = _builder("vgg19_bn", "E", True)

#: The constructors, by torchvision's name.
VGG_BUILDERS = {
    f.__name__: f for f in (vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn)
}
