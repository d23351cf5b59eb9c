"""Blocks compute the paper's equations: checked against a hand computation and torchvision."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision.models.resnet as tv
from model_helpers import count_params, randomize_norms

from resnet_edu.blocks import BasicBlock, Bottleneck, ZeroPadShortcut, make_shortcut

pytestmark = pytest.mark.usefixtures("one_thread")


def bn(x, norm):
    """BatchNorm in eval mode, by hand."""
    return F.batch_norm(
        x, norm.running_mean, norm.running_var, norm.weight, norm.bias, eps=norm.eps
    )


def residual_function_by_hand(block, x):
    """F(x) of a block from its own weights, written out with torch.nn.functional."""
    if isinstance(block, BasicBlock):
        out = F.relu(bn(F.conv2d(x, block.conv1.weight, stride=block.stride, padding=1), block.bn1))
        return bn(F.conv2d(out, block.conv2.weight, padding=1), block.bn2)
    out = F.relu(bn(F.conv2d(x, block.conv1.weight, stride=block.conv1.stride), block.bn1))
    out = F.relu(
        bn(F.conv2d(out, block.conv2.weight, stride=block.conv2.stride, padding=1), block.bn2)
    )
    return bn(F.conv2d(out, block.conv3.weight), block.bn3)


def projection_by_hand(block, x):
    """W_s x: the 1x1 projection shortcut and its BatchNorm."""
    conv, norm = block.downsample
    return bn(F.conv2d(x, conv.weight, stride=conv.stride), norm)


def block_pair(kind, inplanes, planes, stride):
    """A residual block with a projection shortcut and its plain twin with the same weights."""
    block_cls = BasicBlock if kind == "basic" else Bottleneck
    out = planes * block_cls.expansion
    residual = block_cls(inplanes, planes, stride, make_shortcut("B", inplanes, out, stride))
    plain = block_cls(inplanes, planes, stride, residual=False)
    randomize_norms(residual)
    state = {k: v for k, v in residual.state_dict().items() if not k.startswith("downsample")}
    plain.load_state_dict(state, strict=True)
    return residual.eval(), plain.eval()


@pytest.mark.parametrize("kind, inplanes, planes", [("basic", 8, 16), ("bottleneck", 16, 8)])
def test_residual_false_removes_exactly_the_shortcut(kind, inplanes, planes):
    residual, plain = block_pair(kind, inplanes, planes, stride=2)
    x = torch.randn(2, inplanes, 8, 8)
    f = residual_function_by_hand(residual, x)
    with torch.no_grad():
        torch.testing.assert_close(plain(x), F.relu(f))  # y = relu(F(x))
        torch.testing.assert_close(residual(x), F.relu(f + projection_by_hand(residual, x)))
    # The plain block is the residual block minus the projection's parameters, nothing else.
    assert count_params(residual) - count_params(plain) == count_params(residual.downsample)
    assert plain.downsample is None


@pytest.mark.parametrize("block_cls, channels", [(BasicBlock, 8), (Bottleneck, 32)])
def test_identity_shortcut_adds_the_input(block_cls, channels):
    block = randomize_norms(block_cls(channels, channels // block_cls.expansion)).eval()
    x = torch.randn(2, channels, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(block(x), F.relu(residual_function_by_hand(block, x) + x))


@pytest.mark.parametrize(
    "make_block",
    [
        lambda: BasicBlock(8, 8),
        lambda: BasicBlock(8, 16, 2, make_shortcut("B", 8, 16, 2)),
        lambda: BasicBlock(8, 16, 2, make_shortcut("A", 8, 16, 2)),
        lambda: Bottleneck(16, 4),
        lambda: Bottleneck(16, 8, 2, make_shortcut("B", 16, 32, 2)),
    ],
    ids=["basic-identity", "basic-B", "basic-A", "bottleneck-identity", "bottleneck-B"],
)
def test_zero_init_residual_makes_the_block_its_shortcut(make_block):
    block = make_block()  # freshly initialised: BN shifts are zero
    if block.downsample is not None:
        randomize_norms(block.downsample)
    block.zero_init_residual()
    x = torch.randn(2, block.conv1.in_channels, 8, 8)
    shortcut = block.downsample if block.downsample is not None else torch.nn.Identity()
    for train in (True, False):  # at initialisation, whatever the BN statistics
        block.train(train), shortcut.train(train)
        with torch.no_grad():
            torch.testing.assert_close(block(x), F.relu(shortcut(x)))


def test_stride_in_1x1_moves_the_stride():
    paper = Bottleneck(64, 32, 2, make_shortcut("B", 64, 128, 2), stride_in_1x1=True)
    v15 = Bottleneck(64, 32, 2, make_shortcut("B", 64, 128, 2))
    assert (paper.conv1.stride, paper.conv2.stride) == ((2, 2), (1, 1))
    assert (v15.conv1.stride, v15.conv2.stride) == ((1, 1), (2, 2))
    assert count_params(paper) == count_params(v15)
    paper.load_state_dict(v15.state_dict(), strict=True)  # same weights, different maths
    randomize_norms(paper).eval(), randomize_norms(v15).eval()
    x = torch.randn(2, 64, 8, 8)
    with torch.no_grad():
        f_paper = residual_function_by_hand(paper, x)
        assert f_paper.shape == (2, 128, 4, 4)
        torch.testing.assert_close(paper.branch(x), f_paper)
        assert not torch.allclose(f_paper, residual_function_by_hand(v15, x))


@pytest.mark.parametrize("kind", ["basic", "bottleneck"])
@pytest.mark.parametrize("stride", [1, 2])
def test_branch_and_shortcut_are_the_two_terms_of_eq1(kind, stride):
    block_cls = BasicBlock if kind == "basic" else Bottleneck
    inplanes, planes = (8, 16) if kind == "basic" else (16, 8)
    if stride == 1:
        inplanes = planes * block_cls.expansion  # identity shortcut
    residual, plain = block_pair(kind, inplanes, planes, stride)
    x = torch.randn(2, inplanes, 8, 8)
    with torch.no_grad():
        f = residual_function_by_hand(residual, x)
        torch.testing.assert_close(residual.branch(x), f)
        torch.testing.assert_close(plain.branch(x), f)
        expected = x if stride == 1 else projection_by_hand(residual, x)
        torch.testing.assert_close(residual.shortcut(x), expected)
        torch.testing.assert_close(residual(x), F.relu(residual.branch(x) + residual.shortcut(x)))
    assert plain.shortcut(x) is None  # a plain block has no shortcut term
    assert (stride == 1) == (residual.shortcut(x) is x)  # the identity is x itself, not a copy


def test_branch_feeds_hooks_the_same_tensors_as_forward():
    # forward is relu(branch(x) + shortcut(x)): the same modules run once each, in the same order
    block = BasicBlock(8, 16, 2, make_shortcut("B", 8, 16, 2))
    order = []
    for name, module in block.named_modules():
        if name and not isinstance(module, torch.nn.Sequential):
            module.register_forward_hook(lambda m, i, o, name=name: order.append(name))
    block(torch.randn(2, 8, 8, 8))
    assert order == ["conv1", "bn1", "relu", "conv2", "bn2", "downsample.0", "downsample.1", "relu"]


@pytest.mark.parametrize(
    "ours_cls, ref_cls, inplanes, planes, kwargs",
    [
        (BasicBlock, tv.BasicBlock, 16, 32, {}),
        (Bottleneck, tv.Bottleneck, 32, 16, {}),
        (Bottleneck, tv.Bottleneck, 32, 16, {"groups": 4, "base_width": 8}),
        (Bottleneck, tv.Bottleneck, 32, 16, {"dilation": 2}),
    ],
    ids=["basic", "bottleneck", "resnext", "dilated"],
)
def test_blocks_match_torchvision(ours_cls, ref_cls, inplanes, planes, kwargs):
    out = planes * ours_cls.expansion
    stride = 1 if "dilation" in kwargs else 2
    torch.manual_seed(0)
    ref = ref_cls(
        inplanes,
        planes,
        stride,
        torch.nn.Sequential(tv.conv1x1(inplanes, out, stride), torch.nn.BatchNorm2d(out)),
        **kwargs,
    )
    ours = ours_cls(inplanes, planes, stride, make_shortcut("B", inplanes, out, stride), **kwargs)
    randomize_norms(ref)
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, inplanes, 8, 8)
    for train in (False, True):
        ours.train(train), ref.train(train)
        torch.testing.assert_close(ours(x), ref(x))


def test_zero_pad_shortcut_is_subsampled_identity_with_zero_channels():
    shortcut = ZeroPadShortcut(4, 10, stride=2)
    x = torch.randn(2, 4, 7, 7)
    y = shortcut(x)
    assert y.shape == (2, 10, 4, 4)  # the shape of a stride-2, padding-1 3x3 conv's output
    torch.testing.assert_close(y[:, :4], x[:, :, ::2, ::2], rtol=0, atol=0)
    assert torch.count_nonzero(y[:, 4:]) == 0
    assert count_params(shortcut) == 0


@pytest.mark.parametrize(
    "option, stride, channels, expected",
    [
        ("A", 1, (8, 8), type(None)),
        ("B", 1, (8, 8), type(None)),
        ("C", 1, (8, 8), torch.nn.Sequential),
        ("A", 2, (8, 16), ZeroPadShortcut),
        ("B", 2, (8, 16), torch.nn.Sequential),
    ],
)
def test_make_shortcut_follows_the_papers_options(option, stride, channels, expected):
    assert type(make_shortcut(option, *channels, stride)) is expected
