"""resnet_edu: residual networks built, measured and explained -- the library of the book.

Models are implemented here (not re-exported from torchvision) and are state-dict-identical to
``torchvision.models``; torchvision is the oracle in the tests and the source of weights and data.

Modules, one idea each:
    blocks     BasicBlock, Bottleneck, shortcuts (chapters 3, 5)
    cifar      the paper's CIFAR ResNets and plain twins (chapters 1, 4, 7)
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

__version__ = "0.1.0"

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "CifarResNet",
    "ZeroPadShortcut",
    "conv1x1",
    "conv3x3",
    "make_shortcut",
    "plain20",
    "plain32",
    "plain44",
    "plain56",
    "plain110",
    "resnet20",
    "resnet32",
    "resnet44",
    "resnet56",
    "resnet110",
    "resnet1202",
]
