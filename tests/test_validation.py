"""Bad input fails early, with a ValueError or TypeError that names the argument at fault."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

import resnet_edu
from resnet_edu import VGG, BasicBlock, Bottleneck, CifarResNet, ResNet
from resnet_edu.blocks import ZeroPadShortcut, make_shortcut

pytestmark = pytest.mark.usefixtures("one_thread")


def meta(builder, *args, **kwargs):
    """Build without storage: the checks run in the constructor, before any tensor is filled."""
    with torch.device("meta"):
        return builder(*args, **kwargs)


CONSTRUCTOR_CASES = [
    # (error, argument named in the message, builder, args, kwargs)
    (ValueError, "layers", ResNet, (BasicBlock, [2, 2, 2]), {}),
    (TypeError, "layers", ResNet, (BasicBlock, "2222"), {}),
    (ValueError, r"layers\[1\]", ResNet, (BasicBlock, [2, 0, 2, 2]), {}),
    (TypeError, "block", ResNet, (nn.Conv2d, [2, 2, 2, 2]), {}),
    (ValueError, "num_classes", resnet_edu.resnet18, (), {"num_classes": 0}),
    (ValueError, "num_classes", resnet_edu.resnet20, (), {"num_classes": 0}),
    (ValueError, "num_classes", resnet_edu.vgg11, (), {"num_classes": -1}),
    (ValueError, "groups", resnet_edu.resnet18, (), {"groups": 32}),
    (ValueError, "groups", resnet_edu.resnext50_32x4d, (), {"groups": 8}),
    (ValueError, "width_per_group", resnet_edu.resnet50, (), {"width_per_group": 0}),
    (
        ValueError,
        "replace_stride_with_dilation",
        resnet_edu.resnet50,
        (),
        {"replace_stride_with_dilation": [True]},
    ),
    (
        ValueError,
        "dilation",
        resnet_edu.resnet18,
        (),
        {"replace_stride_with_dilation": [False, False, True]},
    ),
    (TypeError, "norm_layer", resnet_edu.resnet18, (), {"norm_layer": "batchnorm"}),
    (ValueError, "in_channels", resnet_edu.resnet34, (), {"in_channels": 0}),
    (ValueError, "depth", CifarResNet, (21,), {}),
    (ValueError, "depth", CifarResNet, (2,), {}),
    (TypeError, "depth", CifarResNet, (20.0,), {}),
    (ValueError, "shortcut", CifarResNet, (20,), {"shortcut": "D"}),
    (ValueError, "shortcut", resnet_edu.plain20, (), {"shortcut": "a"}),
    (ValueError, "widths", CifarResNet, (20,), {"widths": (16, 32)}),
    (TypeError, "residual", resnet_edu.resnet56, (), {"residual": False}),
    (TypeError, "residual", resnet_edu.plain18, (), {"residual": True}),
    (ValueError, "config", VGG, ("F",), {}),
    (ValueError, "config", VGG, ([64, "M", 128],), {}),
    (ValueError, "dropout", resnet_edu.vgg16, (), {"dropout": 1.5}),
    (TypeError, "groups", BasicBlock, (64, 64), {"groups": 2}),  # not torchvision's no-op
    (TypeError, "dilation", BasicBlock, (64, 64), {"dilation": 2}),
    (ValueError, "stride", Bottleneck, (64, 16), {"stride": 0}),
    (ValueError, "shortcut", make_shortcut, ("D", 16, 32, 2), {}),
    (ValueError, "out_channels", ZeroPadShortcut, (32, 16, 2), {}),
]


@pytest.mark.parametrize(
    "error, argument, builder, args, kwargs",
    CONSTRUCTOR_CASES,
    ids=[f"{getattr(c[2], '__name__', c[2])}-{c[1]}-{i}" for i, c in enumerate(CONSTRUCTOR_CASES)],
)
def test_bad_constructor_arguments(error, argument, builder, args, kwargs):
    with pytest.raises(error, match=argument):
        meta(builder, *args, **kwargs)


WEIGHTS_CASES = [
    (ValueError, "weights", "resnet50", {"weights": "IMAGENET1K_V3"}),
    (ValueError, "weights", "resnet50", {"weights": "imagenet"}),
    (ValueError, "weights", "resnet50", {"weights": "ResNet18_Weights.IMAGENET1K_V1"}),
    (TypeError, "weights", "resnet50", {"weights": True}),
    (ValueError, "num_classes", "resnet50", {"weights": "DEFAULT", "num_classes": 10}),
    (ValueError, "stride_in_1x1", "resnet50", {"weights": "DEFAULT", "stride_in_1x1": True}),
    (ValueError, "residual", "resnet18", {"weights": "DEFAULT", "residual": False}),
    (ValueError, "in_channels", "resnet18", {"weights": "DEFAULT", "in_channels": 1}),
    (ValueError, "weights", "vgg16", {"weights": "IMAGENET1K_V2"}),
    (ValueError, "num_classes", "vgg11", {"weights": "DEFAULT", "num_classes": 10}),
    (ValueError, "groups", "resnext50_32x4d", {"weights": "DEFAULT", "groups": 4}),
]


@pytest.mark.parametrize("error, argument, name, kwargs", WEIGHTS_CASES)
def test_bad_weights_fail_before_any_download(error, argument, name, kwargs, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("a bad argument must fail before downloading")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    with pytest.raises(error, match=argument) as info:
        meta(getattr(resnet_edu, name), **kwargs)
    if argument == "weights" and error is ValueError:
        assert "DEFAULT" in str(info.value)  # the valid names are listed


def test_weights_of_another_architecture():
    with pytest.raises(ValueError, match="weights.*ResNet50_Weights") as info:
        meta(resnet_edu.resnet50, weights=torchvision.models.ResNet18_Weights.IMAGENET1K_V1)
    assert "IMAGENET1K_V2" in str(info.value)


@pytest.mark.parametrize(
    "x, error, message",
    [
        (torch.randn(3, 32, 32), ValueError, "x must be a 4-D batch"),
        (torch.randn(2, 1, 3, 32, 32), ValueError, "x must be a 4-D batch"),
        (torch.randn(2, 1, 32, 32), ValueError, "x must have 3 channels"),
        (np.zeros((2, 3, 32, 32), dtype=np.float32), TypeError, "x must be a torch.Tensor"),
    ],
    ids=["3d", "5d", "grey", "numpy"],
)
@pytest.mark.parametrize("builder", [resnet_edu.resnet18, resnet_edu.resnet20, resnet_edu.vgg11])
def test_bad_inputs_to_forward(builder, x, error, message):
    model = meta(builder)
    if isinstance(x, torch.Tensor):
        x = x.to("meta")
    with pytest.raises(error, match=message):
        model(x)
