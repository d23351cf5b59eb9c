"""resnet_edu: residual networks built, measured and explained -- the library of the book.

Models are implemented here (not re-exported from torchvision) and are state-dict-identical to
``torchvision.models``; torchvision is the oracle in the tests and the source of weights and data.

Modules, one idea each:
    blocks     BasicBlock, Bottleneck, shortcuts (chapters 3, 5)
    cifar      the paper's CIFAR ResNets and plain twins (chapters 1, 4, 7)
    imagenet   ResNet-18..152, ResNeXt, Wide ResNet, plain-18/34, torchvision-identical
    vgg        VGG-11..19 (+ BN), the plain deep baseline, torchvision-identical
    weights    torchvision's pretrained weights, resolved and loaded; clear offline errors
"""

from .blocks import BasicBlock, Bottleneck, ZeroPadShortcut, conv1x1, conv3x3, make_shortcut
from .cifar import (
    CifarResNet,
    plain20,
    plain32,
    plain44,
    plain56,
    plain110,
    resnet20,
    resnet32,
    resnet44,
    resnet56,
    resnet110,
    resnet1202,
)
from .imagenet import (
    ResNet,
    plain18,
    plain34,
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
from .vgg import VGG, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn
from .weights import WeightsDownloadError

__version__ = "0.1.0"

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "CifarResNet",
    "ResNet",
    "VGG",
    "WeightsDownloadError",
    "ZeroPadShortcut",
    "conv1x1",
    "conv3x3",
    "make_shortcut",
    "plain20",
    "plain32",
    "plain44",
    "plain56",
    "plain110",
    "plain18",
    "plain34",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "resnext101_64x4d",
    "wide_resnet50_2",
    "wide_resnet101_2",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
    "resnet20",
    "resnet32",
    "resnet44",
    "resnet56",
    "resnet110",
    "resnet1202",
]
