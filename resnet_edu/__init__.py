"""resnet_edu: residual networks built, measured and explained -- the library of the book.

Models are implemented here (not re-exported from torchvision) and are state-dict-identical to
``torchvision.models``; torchvision is the oracle in the tests and the source of weights and data.

Modules, one idea each:
    blocks       residual blocks as eq. (1): BasicBlock, Bottleneck, shortcuts A/B/C, make_stage
    cifar        the paper's CIFAR ResNets and their plain twins, 6n+2 layers (section 4.2)
    imagenet     ResNet-18..152, ResNeXt, Wide ResNet, plain-18/34, torchvision-identical
    vgg          VGG-11..19 (+ BN), the plain deep baseline, torchvision-identical
    preact       pre-activation blocks and CIFAR nets (Identity Mappings, He et al. 2016b)
    weights      torchvision's pretrained weights, resolved, hash-checked and loaded safely
    measure      parameters, mult-adds on the meta device, depth, source printing
    paper        the papers' published numbers and recipe, each with its table or section
    layouts      the papers' figures as plain data, read off a model object
    diagrams     the layouts drawn with matplotlib
    data         offline digits, CIFAR-10 and a synthetic stand-in
    train        training the paper's way: TrainConfig, fit, train_one_epoch, evaluate
    checkpoint   checkpoints that survive a killed process, and exact resume
    ddp          several processes, one run: the process group under torchrun
    cli          the command line ``python -m resnet_edu.train``
    experiments  the paper's CIFAR-10 experiment (Table 6, Figure 6) as one function
    claims       a chapter's claims, checked where they are made; seeds shifted by one variable
    gradflow     instruments that watch the signal and the gradient flow through a network
    interventions  change one suspected cause of the degradation problem, and see if it goes
    ensembles    residual networks as ensembles of paths: lesions and path lengths
    landscape    loss landscapes along filter-normalised random directions
    shattered    shattered gradients: how input gradients decorrelate with depth
    plots        one plotting module: every figure of the book, in the book's style
    exercises    exercise checkers that say precisely what is wrong
    _checks      argument checks shared by the package (private)
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
from .weights import WeightsDownloadError, WeightsFileError

__version__ = "0.1.0"

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "CifarResNet",
    "ResNet",
    "VGG",
    "WeightsDownloadError",
    "WeightsFileError",
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
