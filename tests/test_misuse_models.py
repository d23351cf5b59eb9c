"""A misuse probe of the models: every bad call fails early, with an error that names the argument.

Each row of ``CASES`` is one mistake a reader can make at a door: a public constructor, builder,
or a model's top-level ``forward``/``features`` of ``blocks``, ``cifar``, ``imagenet``, ``vgg``
or ``preact``: (id, the call, expected exception type, the argument its message must name). A
row passes when

* the call raises exactly that type (``ValueError`` or ``TypeError``, not torch's
  ``RuntimeError``, and not silence),
* the message names the argument (as a word) and says what is accepted,
* the error is raised by resnet_edu or by Python's argument binding, not from inside torch.

A block's ``forward`` is the paper's equation and checks nothing (issue 20): a block called on
its own with a wrong input gets torch's own error. ``BLOCK_FORWARD_CASES`` pins which one, so a
block that silently accepted a wrong input would fail here. The model-level checks are a
dtype/ndim/shape comparison once per forward (``benchmarks/bench_models.py`` times the models
against torchvision).
"""

from __future__ import annotations

import functools
import re
import traceback
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import resnet_edu
from resnet_edu import VGG, BasicBlock, Bottleneck, CifarResNet, ResNet
from resnet_edu.blocks import (
    ZeroPadShortcut,
    conv1x1,
    conv3x3,
    init_weights,
    make_shortcut,
    make_stage,
    zero_init_residual_blocks,
)
from resnet_edu.cifar import blocks_per_stage
from resnet_edu.imagenet import stage_plan
from resnet_edu.preact import PreActBlock, PreActResNet, preact_resnet20
from resnet_edu.vgg import make_features

pytestmark = pytest.mark.usefixtures("one_thread")

PACKAGE = Path(resnet_edu.__file__).parent
#: The words with which a message says what is accepted.
ACCEPTED = re.compile(
    r"must|one of|expected|unexpected keyword|use |pass |takes no|fixes|only|needs?"
)


def meta(builder, *args, **kwargs):
    """Build on the meta device: no storage, so even ResNet-152-sized rows cost nothing."""
    with torch.device("meta"):
        return builder(*args, **kwargs)


@functools.cache
def cifar() -> nn.Module:
    torch.manual_seed(0)
    return resnet_edu.resnet20(in_channels=1)


@functools.cache
def imagenet() -> nn.Module:
    torch.manual_seed(0)
    return resnet_edu.resnet18(num_classes=10)


@functools.cache
def vgg() -> nn.Module:
    return meta(resnet_edu.vgg11_bn, num_classes=10)


@functools.cache
def preact() -> nn.Module:
    torch.manual_seed(0)
    return preact_resnet20(in_channels=1)


def forward(model_fn, x, train=True):
    """Call a model on x in train (default) or eval mode."""
    model = model_fn()
    model.train(train)
    with torch.no_grad():
        return model(x)


def img(*shape, dtype=torch.float32, device="cpu"):
    return torch.zeros(*shape, dtype=dtype, device=device)


CASES = [
    # --- blocks: helpers ---------------------------------------------------------------------
    ("conv3x3-in_planes-0", lambda: conv3x3(0, 8), ValueError, "in_planes"),
    ("conv3x3-out_planes-str", lambda: conv3x3(8, "16"), TypeError, "out_planes"),
    ("conv3x3-stride-0", lambda: conv3x3(8, 8, 0), ValueError, "stride"),
    ("conv3x3-groups-3", lambda: conv3x3(8, 8, groups=3), ValueError, "groups"),
    ("conv3x3-dilation-0", lambda: conv3x3(8, 8, dilation=0), ValueError, "dilation"),
    ("conv1x1-out_planes-neg", lambda: conv1x1(8, -1), ValueError, "out_planes"),
    ("conv1x1-stride-float", lambda: conv1x1(8, 8, 1.5), TypeError, "stride"),
    ("zeropad-in_channels-0", lambda: ZeroPadShortcut(0, 8, 2), ValueError, "in_channels"),
    ("zeropad-stride-0", lambda: ZeroPadShortcut(4, 8, 0), ValueError, "stride"),
    ("zeropad-out<in", lambda: ZeroPadShortcut(8, 4, 2), ValueError, "out_channels"),
    ("make_shortcut-lowercase", lambda: make_shortcut("b", 8, 16, 2), ValueError, "shortcut"),
    ("make_shortcut-None", lambda: make_shortcut(None, 8, 16, 2), ValueError, "shortcut"),
    ("make_shortcut-in-0", lambda: make_shortcut("B", 0, 16, 2), ValueError, "in_channels"),
    ("make_shortcut-stride-0", lambda: make_shortcut("B", 8, 16, 0), ValueError, "stride"),
    (
        "make_shortcut-norm-str",
        lambda: make_shortcut("B", 8, 16, 2, norm_layer="bn"),
        TypeError,
        "norm_layer",
    ),
    ("init_weights-str", lambda: init_weights("resnet20"), TypeError, "model"),
    ("zero_init-str", lambda: zero_init_residual_blocks("resnet20"), TypeError, "model"),
    # --- blocks: BasicBlock ------------------------------------------------------------------
    ("basic-inplanes-0", lambda: BasicBlock(0, 8), ValueError, "inplanes"),
    ("basic-inplanes-bool", lambda: BasicBlock(True, 8), TypeError, "inplanes"),
    ("basic-planes-str", lambda: BasicBlock(8, "8"), TypeError, "planes"),
    ("basic-stride-float", lambda: BasicBlock(8, 8, 2.0), TypeError, "stride"),
    ("basic-norm-str", lambda: BasicBlock(8, 8, norm_layer="bn"), TypeError, "norm_layer"),
    ("basic-norm-int", lambda: BasicBlock(8, 8, norm_layer=3), TypeError, "norm_layer"),
    ("basic-residual-str", lambda: BasicBlock(8, 8, residual="no"), TypeError, "residual"),
    # torchvision's BasicBlock takes groups and dilation only to refuse them; ours has neither
    ("basic-groups", lambda: BasicBlock(64, 64, groups=2), TypeError, "groups"),
    ("basic-dilation", lambda: BasicBlock(64, 64, dilation=2), TypeError, "dilation"),
    ("basic-residual-None", lambda: BasicBlock(8, 8, residual=None), TypeError, "residual"),
    ("basic-downsample-str", lambda: BasicBlock(8, 16, 2, "B"), TypeError, "downsample"),
    (
        "basic-missing-downsample",
        lambda: BasicBlock(8, 16, 2),
        ValueError,
        "downsample",
    ),
    (
        "basic-downsample-wrong-width",
        lambda: BasicBlock(8, 16, 2, make_shortcut("B", 8, 32, 2)),
        ValueError,
        "downsample",
    ),
    # --- blocks: Bottleneck ------------------------------------------------------------------
    ("bottleneck-planes-0", lambda: Bottleneck(64, 0), ValueError, "planes"),
    ("bottleneck-stride-0", lambda: Bottleneck(64, 16, stride=0), ValueError, "stride"),
    ("bottleneck-groups-0", lambda: Bottleneck(64, 16, groups=0), ValueError, "groups"),
    (
        "bottleneck-base_width-too-small",
        lambda: Bottleneck(4, 1, base_width=4),
        ValueError,
        "base_width",
    ),
    ("bottleneck-dilation-0", lambda: Bottleneck(64, 16, dilation=0), ValueError, "dilation"),
    ("bottleneck-norm-str", lambda: Bottleneck(64, 16, norm_layer="bn"), TypeError, "norm_layer"),
    (
        "bottleneck-stride_in_1x1-str",
        lambda: Bottleneck(64, 16, stride_in_1x1="yes"),
        TypeError,
        "stride_in_1x1",
    ),
    ("bottleneck-residual-int", lambda: Bottleneck(64, 16, residual=0), TypeError, "residual"),
    ("bottleneck-missing-downsample", lambda: Bottleneck(64, 64), ValueError, "downsample"),
    # --- cifar -------------------------------------------------------------------------------
    ("blocks_per_stage-21", lambda: blocks_per_stage(21), ValueError, "depth"),
    ("blocks_per_stage-str", lambda: blocks_per_stage("20"), TypeError, "depth"),
    ("cifar-depth-21", lambda: meta(CifarResNet, 21), ValueError, "depth"),
    ("cifar-depth-2", lambda: meta(CifarResNet, 2), ValueError, "depth"),
    ("cifar-depth-float", lambda: meta(CifarResNet, 20.0), TypeError, "depth"),
    ("cifar-depth-None", lambda: meta(CifarResNet, None), TypeError, "depth"),
    ("cifar-depth-bool", lambda: meta(CifarResNet, True), TypeError, "depth"),
    (
        "cifar-num_classes-0",
        lambda: meta(CifarResNet, 20, num_classes=0),
        ValueError,
        "num_classes",
    ),
    (
        "cifar-num_classes-float",
        lambda: meta(CifarResNet, 20, num_classes=10.0),
        TypeError,
        "num_classes",
    ),
    (
        "cifar-in_channels-0",
        lambda: meta(CifarResNet, 20, in_channels=0),
        ValueError,
        "in_channels",
    ),
    ("cifar-shortcut-D", lambda: meta(CifarResNet, 20, shortcut="D"), ValueError, "shortcut"),
    ("cifar-shortcut-None", lambda: meta(CifarResNet, 20, shortcut=None), ValueError, "shortcut"),
    ("cifar-residual-no", lambda: meta(CifarResNet, 20, residual="no"), TypeError, "residual"),
    ("cifar-residual-None", lambda: meta(CifarResNet, 20, residual=None), TypeError, "residual"),
    (
        "cifar-zero_init-str",
        lambda: meta(CifarResNet, 20, zero_init_residual="no"),
        TypeError,
        "zero_init_residual",
    ),
    ("cifar-norm-str", lambda: meta(CifarResNet, 20, norm_layer="bn"), TypeError, "norm_layer"),
    (
        "cifar-norm-instance",
        lambda: meta(CifarResNet, 20, norm_layer=nn.BatchNorm2d(16)),
        TypeError,
        "norm_layer",
    ),
    ("cifar-widths-2", lambda: meta(CifarResNet, 20, widths=(16, 32)), ValueError, "widths"),
    ("cifar-widths-str", lambda: meta(CifarResNet, 20, widths="163264"), TypeError, "widths"),
    ("cifar-widths-zero", lambda: meta(CifarResNet, 20, widths=(16, 0, 64)), ValueError, "widths"),
    (
        "cifar-widths-float",
        lambda: meta(CifarResNet, 20, widths=(16, 32.0, 64)),
        TypeError,
        "widths",
    ),
    (
        "cifar-widths-shrink-option-A",
        lambda: meta(CifarResNet, 20, widths=(64, 32, 16)),
        ValueError,
        "widths",
    ),
    ("resnet56-depth", lambda: meta(resnet_edu.resnet56, depth=20), TypeError, "depth"),
    ("resnet56-residual", lambda: meta(resnet_edu.resnet56, residual=False), TypeError, "residual"),
    ("plain20-shortcut-a", lambda: meta(resnet_edu.plain20, shortcut="a"), ValueError, "shortcut"),
    (
        "resnet20-weights",
        lambda: meta(resnet_edu.resnet20, weights="DEFAULT"),
        TypeError,
        "weights",
    ),
    ("cifar-x-uint8", lambda: forward(cifar, img(2, 1, 8, 8, dtype=torch.uint8)), TypeError, "x"),
    (
        "cifar-x-float64",
        lambda: forward(cifar, img(2, 1, 8, 8, dtype=torch.float64)),
        TypeError,
        "x",
    ),
    ("cifar-x-int64", lambda: forward(cifar, img(2, 1, 8, 8, dtype=torch.int64)), TypeError, "x"),
    ("cifar-x-3d", lambda: forward(cifar, img(1, 8, 8)), ValueError, "x"),
    ("cifar-x-channels", lambda: forward(cifar, img(2, 3, 8, 8)), ValueError, "x"),
    ("cifar-x-numpy", lambda: forward(cifar, np.zeros((2, 1, 8, 8), "f4")), TypeError, "x"),
    ("cifar-x-list", lambda: forward(cifar, [[[[0.0]]]]), TypeError, "x"),
    ("cifar-x-1x1-train", lambda: forward(cifar, img(1, 1, 1, 1)), ValueError, "x"),
    ("cifar-x-one-image-2x2-train", lambda: forward(cifar, img(1, 1, 2, 2)), ValueError, "x"),
    # --- imagenet ----------------------------------------------------------------------------
    ("resnet-block-conv", lambda: meta(ResNet, nn.Conv2d, [2, 2, 2, 2]), TypeError, "block"),
    ("resnet-block-str", lambda: meta(ResNet, "basic", [2, 2, 2, 2]), TypeError, "block"),
    ("resnet-layers-3", lambda: meta(ResNet, BasicBlock, [2, 2, 2]), ValueError, "layers"),
    ("resnet-layers-str", lambda: meta(ResNet, BasicBlock, "2222"), TypeError, "layers"),
    ("resnet-layers-zero", lambda: meta(ResNet, BasicBlock, [2, 0, 2, 2]), ValueError, "layers"),
    ("resnet-layers-float", lambda: meta(ResNet, BasicBlock, [2, 2, 2, 2.0]), TypeError, "layers"),
    (
        "resnet-num_classes-0",
        lambda: meta(ResNet, BasicBlock, [2, 2, 2, 2], 0),
        ValueError,
        "num_classes",
    ),
    ("resnet18-groups", lambda: meta(resnet_edu.resnet18, groups=32), ValueError, "groups"),
    ("resnet50-groups-0", lambda: meta(resnet_edu.resnet50, groups=0), ValueError, "groups"),
    (
        "resnet50-width_per_group-0",
        lambda: meta(resnet_edu.resnet50, width_per_group=0),
        ValueError,
        "width_per_group",
    ),
    (
        "resnext-fixed-groups",
        lambda: meta(resnet_edu.resnext50_32x4d, groups=8),
        ValueError,
        "groups",
    ),
    (
        "resnet50-dilation-1",
        lambda: meta(resnet_edu.resnet50, replace_stride_with_dilation=[True]),
        ValueError,
        "replace_stride_with_dilation",
    ),
    (
        "resnet50-dilation-str",
        lambda: meta(resnet_edu.resnet50, replace_stride_with_dilation="TTT"),
        TypeError,
        "replace_stride_with_dilation",
    ),
    (
        "resnet50-dilation-ints",
        lambda: meta(resnet_edu.resnet50, replace_stride_with_dilation=[0, 1, 2]),
        TypeError,
        "replace_stride_with_dilation",
    ),
    (
        "resnet18-dilation",
        lambda: meta(resnet_edu.resnet18, replace_stride_with_dilation=[False, False, True]),
        ValueError,
        "dilation",
    ),
    (
        "resnet18-norm-str",
        lambda: meta(resnet_edu.resnet18, norm_layer="bn"),
        TypeError,
        "norm_layer",
    ),
    (
        "resnet18-residual-str",
        lambda: meta(resnet_edu.resnet18, residual="no"),
        TypeError,
        "residual",
    ),
    (
        "resnet50-stride_in_1x1-str",
        lambda: meta(resnet_edu.resnet50, stride_in_1x1="yes"),
        TypeError,
        "stride_in_1x1",
    ),
    (
        "resnet18-zero_init-str",
        lambda: meta(resnet_edu.resnet18, zero_init_residual="no"),
        TypeError,
        "zero_init_residual",
    ),
    (
        "resnet34-in_channels-0",
        lambda: meta(resnet_edu.resnet34, in_channels=0),
        ValueError,
        "in_channels",
    ),
    (
        "resnet18-weights-bool",
        lambda: meta(resnet_edu.resnet18, weights=True),
        TypeError,
        "weights",
    ),
    (
        "resnet18-weights-name",
        lambda: meta(resnet_edu.resnet18, weights="imagenet"),
        ValueError,
        "weights",
    ),
    (
        "resnet18-progress-str",
        lambda: meta(resnet_edu.resnet18, progress="no"),
        TypeError,
        "progress",
    ),
    ("plain18-weights", lambda: meta(resnet_edu.plain18, weights="DEFAULT"), TypeError, "weights"),
    ("plain34-residual", lambda: meta(resnet_edu.plain34, residual=True), TypeError, "residual"),
    ("stage_plan-layers-3", lambda: stage_plan([2, 2, 2]), ValueError, "layers"),
    ("stage_plan-layers-str", lambda: stage_plan("2222"), TypeError, "layers"),
    (
        "stage_plan-dilation-2",
        lambda: stage_plan([2, 2, 2, 2], [True, True]),
        ValueError,
        "replace_stride_with_dilation",
    ),
    (
        "resnet-x-uint8",
        lambda: forward(imagenet, img(2, 3, 32, 32, dtype=torch.uint8)),
        TypeError,
        "x",
    ),
    (
        "resnet-x-float64",
        lambda: forward(imagenet, img(2, 3, 32, 32, dtype=torch.float64)),
        TypeError,
        "x",
    ),
    ("resnet-x-channels", lambda: forward(imagenet, img(2, 1, 32, 32)), ValueError, "x"),
    ("resnet-x-one-image-32-train", lambda: forward(imagenet, img(1, 3, 32, 32)), ValueError, "x"),
    ("resnet-x-meta", lambda: forward(imagenet, img(2, 3, 32, 32, device="meta")), ValueError, "x"),
    # --- vgg ---------------------------------------------------------------------------------
    ("vgg-config-F", lambda: meta(VGG, "F"), ValueError, "config"),
    ("vgg-config-lower", lambda: meta(VGG, "a"), ValueError, "config"),
    ("vgg-config-empty", lambda: meta(VGG, []), ValueError, "config"),
    ("vgg-config-no-512", lambda: meta(VGG, [64, "M", 128]), ValueError, "config"),
    ("vgg-config-X", lambda: meta(VGG, [64, "X", 512]), TypeError, "config"),
    ("vgg-config-zero", lambda: meta(VGG, [64, 0, 512]), ValueError, "config"),
    ("vgg-config-None", lambda: meta(VGG, None), TypeError, "config"),
    ("vgg-batch_norm-str", lambda: meta(VGG, "A", batch_norm="yes"), TypeError, "batch_norm"),
    ("vgg-num_classes-0", lambda: meta(VGG, "A", num_classes=0), ValueError, "num_classes"),
    ("vgg-init_weights-str", lambda: meta(VGG, "A", init_weights="no"), TypeError, "init_weights"),
    ("vgg-dropout-1.5", lambda: meta(VGG, "A", dropout=1.5), ValueError, "dropout"),
    ("vgg-dropout-neg", lambda: meta(VGG, "A", dropout=-0.1), ValueError, "dropout"),
    ("vgg-dropout-str", lambda: meta(VGG, "A", dropout="half"), TypeError, "dropout"),
    ("vgg-in_channels-0", lambda: meta(VGG, "A", in_channels=0), ValueError, "in_channels"),
    ("make_features-str", lambda: make_features("A"), TypeError, "config"),
    (
        "make_features-batch_norm",
        lambda: make_features([64], batch_norm=1),
        TypeError,
        "batch_norm",
    ),
    (
        "make_features-in_channels",
        lambda: make_features([64], in_channels=0),
        ValueError,
        "in_channels",
    ),
    (
        "vgg16-weights-v2",
        lambda: meta(resnet_edu.vgg16, weights="IMAGENET1K_V2"),
        ValueError,
        "weights",
    ),
    ("vgg11-progress-str", lambda: meta(resnet_edu.vgg11, progress="no"), TypeError, "progress"),
    (
        "vgg-x-uint8",
        lambda: forward(vgg, img(2, 3, 32, 32, dtype=torch.uint8, device="meta")),
        TypeError,
        "x",
    ),
    ("vgg-x-16x16", lambda: forward(vgg, img(2, 3, 16, 16, device="meta")), ValueError, "x"),
    ("vgg-x-numpy", lambda: forward(vgg, np.zeros((2, 3, 32, 32), "f4")), TypeError, "x"),
    # --- preact ------------------------------------------------------------------------------
    ("preact-block-inplanes-0", lambda: PreActBlock(0, 8), ValueError, "inplanes"),
    ("preact-block-stride-0", lambda: PreActBlock(8, 8, 0), ValueError, "stride"),
    ("preact-block-norm-str", lambda: PreActBlock(8, 8, norm_layer="bn"), TypeError, "norm_layer"),
    ("preact-block-residual-str", lambda: PreActBlock(8, 8, residual="no"), TypeError, "residual"),
    (
        "preact-block-preactivate-str",
        lambda: PreActBlock(8, 8, preactivate_shortcut="yes"),
        TypeError,
        "preactivate_shortcut",
    ),
    ("preact-block-downsample-str", lambda: PreActBlock(8, 16, 2, "B"), TypeError, "downsample"),
    ("preact-block-missing-downsample", lambda: PreActBlock(4, 8), ValueError, "downsample"),
    ("preact-depth-21", lambda: meta(PreActResNet, 21), ValueError, "depth"),
    ("preact-shortcut-C", lambda: meta(PreActResNet, 20, shortcut="C"), ValueError, "shortcut"),
    ("preact-residual-str", lambda: meta(PreActResNet, 20, residual="no"), TypeError, "residual"),
    ("preact-norm-str", lambda: meta(PreActResNet, 20, norm_layer="bn"), TypeError, "norm_layer"),
    (
        "preact-num_classes-0",
        lambda: meta(PreActResNet, 20, num_classes=0),
        ValueError,
        "num_classes",
    ),
    ("preact-widths-2", lambda: meta(PreActResNet, 20, widths=(16, 32)), ValueError, "widths"),
    (
        "preact-zero_init-str",
        lambda: meta(PreActResNet, 20, zero_init_residual="yes"),
        TypeError,
        "zero_init_residual",
    ),
    ("preact_resnet20-depth", lambda: meta(preact_resnet20, depth=32), TypeError, "depth"),
    ("preact-x-uint8", lambda: forward(preact, img(2, 1, 8, 8, dtype=torch.uint8)), TypeError, "x"),
    ("preact-x-channels", lambda: forward(preact, img(2, 3, 8, 8)), ValueError, "x"),
    ("preact-x-1x1-train", lambda: forward(preact, img(1, 1, 1, 1)), ValueError, "x"),
    # --- API added with issue 14 (not in the count against the code before it) ----------------
    # --- the held-out probe of issue 20: calls a door can catch ---------------------------
    (
        "cifar-norm-GroupNorm-class",
        lambda: meta(CifarResNet, 20, norm_layer=nn.GroupNorm),
        TypeError,
        "norm_layer",
    ),
    (
        "cifar-norm-LayerNorm-class",
        lambda: meta(CifarResNet, 20, norm_layer=nn.LayerNorm),
        TypeError,
        "norm_layer",
    ),
    (
        "resnet18-norm-BatchNorm1d",
        lambda: meta(resnet_edu.resnet18, norm_layer=nn.BatchNorm1d),
        TypeError,
        "norm_layer",
    ),
    (
        "resnet50-pretrained",
        lambda: meta(resnet_edu.resnet50, pretrained=True),
        TypeError,
        "pretrained",
    ),
    ("vgg16-pretrained", lambda: meta(resnet_edu.vgg16, pretrained=True), TypeError, "pretrained"),
    (
        "plain18-pretrained",
        lambda: meta(resnet_edu.plain18, pretrained=True),
        TypeError,
        "pretrained",
    ),
    (
        "load_weights-str",
        lambda: resnet_edu.weights.load_weights(imagenet(), "DEFAULT"),
        TypeError,
        "weights",
    ),
    ("make_stage-block-str", lambda: make_stage("basic", 16, 16, 2), TypeError, "block"),
    ("make_stage-blocks-0", lambda: make_stage(BasicBlock, 16, 16, 0), ValueError, "blocks"),
    ("make_stage-inplanes-str", lambda: make_stage(BasicBlock, "16", 16, 2), TypeError, "inplanes"),
    (
        "make_stage-shortcut-D",
        lambda: make_stage(BasicBlock, 16, 32, 2, 2, shortcut="D"),
        ValueError,
        "shortcut",
    ),
    (
        "make_stage-shortcut-int",
        lambda: make_stage(BasicBlock, 16, 32, 2, 2, shortcut=3),
        TypeError,
        "shortcut",
    ),
    ("make_stage-stride-0", lambda: make_stage(BasicBlock, 16, 16, 2, 0), ValueError, "stride"),
    (
        "make_stage-dilation-basic",
        lambda: make_stage(BasicBlock, 16, 16, 2, dilation=2),
        TypeError,
        "dilation",
    ),
    (
        "cifar-features-uint8",
        lambda: cifar().features(img(2, 1, 8, 8, dtype=torch.uint8)),
        TypeError,
        "x",
    ),
    (
        "resnet-features-float64",
        lambda: imagenet().features(img(2, 3, 32, 32, dtype=torch.float64)),
        TypeError,
        "x",
    ),
    ("preact-features-3d", lambda: preact().features(img(1, 8, 8)), ValueError, "x"),
]
#: Rows up to here probe the API as it was before issue 14 (run against it: 77 of 155 failed).
OLD_API_CASES = CASES[: [c[0] for c in CASES].index("make_stage-block-str")]

#: A block called on its own with a wrong input: torch's own error, raised inside torch
#: (id, call, exception type, a fragment of torch's message). Until issue 20 these were
#: CASES rows with resnet_edu's ValueError/TypeError naming ``x``.
BLOCK_FORWARD_CASES = [
    ("basic-x-channels", lambda: BasicBlock(8, 8)(img(2, 4, 6, 6)), RuntimeError, "4 channels"),
    ("basic-x-3d", lambda: BasicBlock(8, 8)(img(8, 6, 6)), ValueError, "expected 4D input"),
    (
        "basic-x-uint8",
        lambda: BasicBlock(8, 8)(img(2, 8, 6, 6, dtype=torch.uint8)),
        RuntimeError,
        "expected scalar type Byte",
    ),
    (
        "basic-x-float64",
        lambda: BasicBlock(8, 8)(img(2, 8, 6, 6, dtype=torch.float64)),
        RuntimeError,
        "expected scalar type Double",
    ),
    (
        "basic-x-numpy",
        lambda: BasicBlock(8, 8)(np.zeros((2, 8, 6, 6), "f4")),
        TypeError,
        "numpy.ndarray",
    ),
    (
        "bottleneck-x-channels",
        lambda: Bottleneck(64, 16)(img(2, 32, 4, 4)),
        RuntimeError,
        "32 channels",
    ),
    (
        "bottleneck-x-uint8",
        lambda: Bottleneck(64, 16)(img(2, 64, 4, 4, dtype=torch.uint8)),
        RuntimeError,
        "expected scalar type Byte",
    ),
    (
        "preact-block-x-channels",
        lambda: PreActBlock(8, 8)(img(2, 4, 6, 6)),
        RuntimeError,
        "should contain 4 elements not 8",
    ),
    (
        "preact-block-x-float64",
        lambda: PreActBlock(8, 8)(img(2, 8, 6, 6, dtype=torch.float64)),
        RuntimeError,
        "mixed dtype",
    ),
    # Option A's shortcut is a part of a block, never called first: the block's conv1 refuses
    # an input of the wrong width before the shortcut sees it.
    (
        "zeropad-in-block-x-channels",
        lambda: BasicBlock(4, 8, 2, ZeroPadShortcut(4, 8, 2))(img(2, 6, 8, 8)),
        RuntimeError,
        "6 channels",
    ),
]


def raised_inside_torch(info: pytest.ExceptionInfo) -> str | None:
    """The file of the frame that raised, if it lies outside resnet_edu and this test file."""
    frame = traceback.extract_tb(info.tb)[-1]
    path = Path(frame.filename).resolve()
    if path == Path(__file__).resolve() or PACKAGE in path.parents:
        return None
    return frame.filename


@pytest.mark.parametrize("call, error, argument", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_misuse_fails_early_and_names_the_argument(call, error, argument):
    with pytest.raises(Exception) as info:
        call()
    message = str(info.value)
    assert type(info.value) is error, f"{type(info.value).__name__}: {message}"
    assert re.search(rf"(?<![\w.]){re.escape(argument)}(?!\w)", message), message
    assert ACCEPTED.search(message), f"says nothing about what is accepted: {message}"
    assert raised_inside_torch(info) is None, f"raised inside {raised_inside_torch(info)}"


@pytest.mark.parametrize(
    "call, error, fragment",
    [c[1:] for c in BLOCK_FORWARD_CASES],
    ids=[c[0] for c in BLOCK_FORWARD_CASES],
)
def test_a_block_called_alone_gets_torchs_own_error(call, error, fragment):
    with pytest.raises(error, match=re.escape(fragment)) as info:
        call()
    assert raised_inside_torch(info) is not None, "a block's forward must not check its input"


def test_case_ids_are_unique():
    ids = [c[0] for c in CASES + BLOCK_FORWARD_CASES]
    assert len(ids) == len(set(ids))


def train_mode_error_inside_torch(run, x) -> bool:
    """Whether torch itself refuses ``run(x)`` in training mode (without our check)."""
    try:
        with torch.no_grad():
            run(x)
    except ValueError as error:
        assert "Expected more than 1 value per channel" in str(error)
        return True
    return False


@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 8, 9])
def test_batch_statistics_check_fires_exactly_when_torch_would(n, size):
    """Our ValueError replaces torch's for the same inputs, no more and no fewer."""
    x = torch.zeros(n, 1, size, size)
    model = cifar().train()

    def stages(x):
        return model.layer3(model.layer2(model.layer1(model.relu(model.bn1(model.conv1(x))))))

    refused = train_mode_error_inside_torch(stages, x)
    if refused:
        with pytest.raises(ValueError, match="x gives BatchNorm one value per channel"):
            model(x)
    else:
        model(x)


@functools.cache
def bottleneck_net(dilation: tuple[bool, bool, bool] | None) -> nn.Module:
    """One small Bottleneck ResNet per dilation setting, shared by the rows below."""
    torch.manual_seed(0)
    return ResNet(Bottleneck, [1, 1, 1, 1], replace_stride_with_dilation=dilation)


@pytest.mark.parametrize("size", [16, 32, 33, 64, 65])
@pytest.mark.parametrize("dilation", [None, (False, True, True)])
def test_batch_statistics_check_follows_the_stage_plan(size, dilation):
    model = bottleneck_net(dilation).train()
    x = torch.zeros(1, 3, size, size)
    body = nn.Sequential(*list(model.children())[:-2])
    refused = train_mode_error_inside_torch(body, x)
    if refused:
        with pytest.raises(ValueError, match="one value per channel"):
            model(x)
    else:
        with torch.no_grad():
            model(x)


def test_autocast_inputs_pass_the_dtype_check():
    model = cifar().eval()
    x = torch.randn(2, 1, 8, 8, dtype=torch.bfloat16)
    with pytest.raises(TypeError, match="x must have the dtype"):
        model(x)
    with torch.autocast("cpu", dtype=torch.bfloat16), torch.no_grad():
        assert model(x).shape == (2, 10)


@pytest.mark.parametrize(
    "make_block",
    [
        lambda: BasicBlock(8, 16, 2, make_shortcut("A", 8, 16, 2)),
        lambda: Bottleneck(16, 4),
        lambda: PreActBlock(8, 16, 2, conv1x1(8, 16, 2)),
    ],
)
def test_blocks_trace_with_fx(make_block):
    """Symbolic tracing (resnet_edu.diagrams) sees only the block's operations."""
    block = make_block().eval()
    traced = torch.fx.symbolic_trace(block)
    x = torch.randn(2, block.conv1.in_channels, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(traced(x), block(x))
