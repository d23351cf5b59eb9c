"""The CIFAR nets are the paper's section 4.2 nets: Table 6 parameters, option A, any input size."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch
from model_helpers import count_params

import resnet_edu
from resnet_edu.blocks import BasicBlock, ZeroPadShortcut
from resnet_edu.cifar import CifarResNet

pytestmark = pytest.mark.usefixtures("one_thread")

TWIN_DEPTHS = [20, 32, 44, 56, 110]  # depths with both a ResNet and a plain builder


def test_resnet1202_builds_and_runs():
    model = resnet_edu.resnet1202()
    assert model(torch.randn(1, 3, 8, 8)).shape == (1, 10)


@pytest.mark.parametrize("depth", TWIN_DEPTHS)
def test_plain_and_residual_twins_have_the_same_parameters_under_option_a(depth):
    resnet = getattr(resnet_edu, f"resnet{depth}")()
    plain = getattr(resnet_edu, f"plain{depth}")()
    resnet_shapes = {k: v.shape for k, v in resnet.state_dict().items()}
    assert resnet_shapes == {k: v.shape for k, v in plain.state_dict().items()}
    blocks = [m for m in plain.modules() if isinstance(m, BasicBlock)]
    assert all(not b.residual and b.downsample is None for b in blocks)


@pytest.mark.parametrize("depth", [20, 56])
def test_option_b_adds_exactly_two_projections(depth):
    a = CifarResNet(depth, shortcut="A")
    b = CifarResNet(depth, shortcut="B")
    # Two stage transitions, 16->32 and 32->64: a 1x1 conv (c_in * c_out) + BN (2 * c_out) each.
    projections = sum(c_in * c_out + 2 * c_out for c_in, c_out in [(16, 32), (32, 64)])
    assert count_params(b) - count_params(a) == projections
    assert count_params(CifarResNet(depth, shortcut="C")) > count_params(b)


def test_option_a_shortcut_is_parameter_free_zero_padding():
    model = resnet_edu.resnet20().eval()
    shortcut = model.layer2[0].downsample
    assert isinstance(shortcut, ZeroPadShortcut) and count_params(shortcut) == 0
    x = torch.randn(2, 16, 32, 32)
    y = shortcut(x)
    assert y.shape == (2, 32, 16, 16)
    torch.testing.assert_close(y[:, :16], x[:, :, ::2, ::2], rtol=0, atol=0)
    assert torch.count_nonzero(y[:, 16:]) == 0
    assert model.layer1[0].downsample is None  # identity where the shape stays


@pytest.mark.parametrize("size, maps", [(32, (32, 16, 8)), (8, (8, 4, 2))])
@pytest.mark.parametrize("builder", [resnet_edu.resnet20, resnet_edu.plain20])
def test_output_and_feature_map_shapes(builder, size, maps):
    model = builder(num_classes=7)
    seen = []
    hooks = [
        stage.register_forward_hook(lambda m, i, out: seen.append(out.shape[-2:]))
        for stage in (model.layer1, model.layer2, model.layer3)
    ]
    assert model(torch.randn(2, 3, size, size)).shape == (2, 7)
    for hook in hooks:
        hook.remove()
    assert [s[0] for s in seen] == list(maps)
    assert [model.layer1[0].conv1.out_channels, model.layer3[0].conv1.out_channels] == [16, 64]


def test_grey_images_need_only_in_channels():
    model = resnet_edu.resnet20(in_channels=1)
    assert model.conv1.weight.shape == (16, 1, 3, 3)
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_zero_init_residual_zeroes_every_last_bn():
    model = resnet_edu.resnet20(zero_init_residual=True)
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 9  # n = 3 blocks per stage
    assert all(torch.count_nonzero(b.bn2.weight) == 0 for b in blocks)
    assert all(torch.count_nonzero(b.bn1.weight) == b.bn1.num_features for b in blocks)


def test_depth_counts_weighted_layers():
    model = resnet_edu.resnet56()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(convs) + len(linears) == 56  # 6n + 2 with n = 9, option A adds no conv


@pytest.mark.parametrize("builder", [resnet_edu.resnet20, resnet_edu.plain20])
def test_features_is_the_residual_stream_before_pooling(builder):
    model = builder(in_channels=1).train()
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        stream = model.layer3(model.layer2(model.layer1(model.relu(model.bn1(model.conv1(x))))))
        features = model.features(x)
        torch.testing.assert_close(features, stream)  # (train mode: same batch statistics)
        assert features.shape == (4, 64, 2, 2)
        model.eval()
        torch.testing.assert_close(model(x), model.fc(model.features(x).mean(dim=(2, 3))))


BUILDERS = [
    name
    for name in resnet_edu.__all__
    if name[0].islower() and name not in {"conv1x1", "conv3x3", "make_shortcut"}
] + [f"preact.preact_resnet{d}" for d in (20, 32, 44, 56, 110)]


@pytest.mark.parametrize("name", BUILDERS)
def test_builders_are_written_out(name):
    """``inspect.getsource(resnet_edu.resnet50)`` shows resnet50's own def and docstring."""
    import resnet_edu.preact  # noqa: F401

    builder = resnet_edu
    for part in name.split("."):
        builder = getattr(builder, part)
    short = name.split(".")[-1]
    source = inspect.getsource(builder)
    assert source.startswith(f"def {short}("), source[:80]
    assert builder.__doc__ and builder.__doc__.strip().splitlines()[0] in source
    assert len(source.splitlines()) <= 25


def test_package_docstring_lists_every_module():
    package = Path(resnet_edu.__file__).parent
    modules = {p.stem for p in package.glob("*.py")} - {"__init__"}
    modules |= {p.parent.name for p in package.glob("*/__init__.py")}  # subpackages
    lines = resnet_edu.__doc__.splitlines()
    listed = {line.split()[0] for line in lines if line.startswith("    ")}
    assert modules == listed
