"""The BasicBlock checker accepts correct blocks and names each classic mistake (chapter 3)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import resnet_edu
from resnet_edu.exercises import CheckResult, ExerciseError, check_basic_block


class GoodBlock(nn.Module):
    """A correct BasicBlock written by hand, with names unlike torchvision's."""

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.shortcut = downsample  # registered first on purpose: matching is by call order
        self.first = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.first_norm = nn.BatchNorm2d(planes)
        self.second = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.second_norm = nn.BatchNorm2d(planes)

    def forward(self, x):
        identity = x if self.shortcut is None else self.shortcut(x)
        out = torch.relu(self.first_norm(self.first(x)))
        out = self.second_norm(self.second(out))
        return torch.relu(out + identity)


class TorchvisionStyle(nn.Module):
    """Correct, torchvision's names and an in-place ReLU."""

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ReluBeforeAdd(TorchvisionStyle):
    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return out + identity


class NoFinalRelu(TorchvisionStyle):
    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(out)) + identity


class NoShortcut(TorchvisionStyle):
    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)))


class NoDownsample(TorchvisionStyle):
    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + x)


class IgnoresDownsampleArgument(nn.Module):
    """Never stores ``downsample``: fine at stride 1, wrong when the shape changes."""

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + x)


class NoBatchNorm(nn.Module):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return torch.relu(self.conv2(torch.relu(self.conv1(x))) + identity)


class OneBatchNormReused(TorchvisionStyle):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__(inplanes, planes, stride, downsample)
        del self.bn2

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn1(self.conv2(out)) + identity)


class StrideOnSecondConv(TorchvisionStyle):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__(inplanes, planes, stride, downsample)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)


class StrideIgnored(TorchvisionStyle):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__(inplanes, planes, 1, downsample)


class Kernel5(TorchvisionStyle):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__(inplanes, planes, stride, downsample)
        self.conv2 = nn.Conv2d(planes, planes, 5, 1, 2, bias=False)


class NoPadding(TorchvisionStyle):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__(inplanes, planes, stride, downsample)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 0, bias=False)


class ConvBias(TorchvisionStyle):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__(inplanes, planes, stride, downsample)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=True)


class ReluBeforeBN(TorchvisionStyle):
    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.bn1(self.relu(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class NoMiddleRelu(TorchvisionStyle):
    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.bn1(self.conv1(x))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class AddBeforeBN2(TorchvisionStyle):
    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out) + identity))


class OwnOptionAShortcut(TorchvisionStyle):
    """Zero-pads x itself instead of using the projection it is given."""

    def forward(self, x):
        identity = x
        if self.downsample is not None:
            identity = resnet_edu.ZeroPadShortcut(x.shape[1], self.conv2.out_channels, 2)(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class InPlaceOnInput(TorchvisionStyle):
    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        identity += out  # modifies x itself when the shortcut is the identity
        return self.relu(identity)


class UnusedModule(TorchvisionStyle):
    def forward(self, x):  # bn2 exists but is never called
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.conv2(out) + identity)


class WrongSignature(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)


def test_reference_block_passes():
    result = check_basic_block(resnet_edu.BasicBlock)
    assert isinstance(result, CheckResult)
    assert result.ok and bool(result) and result.messages == [] and result.notes == []
    assert str(result).startswith("PASSED")


@pytest.mark.parametrize("block", [GoodBlock, TorchvisionStyle])
def test_correct_hand_written_blocks_pass(block):
    result = check_basic_block(block)
    assert result.ok, str(result)


def test_different_names_are_noted_not_rejected():
    result = check_basic_block(GoodBlock)
    assert result.ok
    assert any("first <- conv1" in note and "second_norm <- bn2" in note for note in result.notes)


def test_factory_is_accepted():
    def factory(inplanes, planes, stride, downsample):
        return resnet_edu.BasicBlock(inplanes, planes, stride, downsample)

    assert check_basic_block(factory).ok


@pytest.mark.parametrize(
    ("block", "words"),
    [
        (ReluBeforeAdd, ["relu in the wrong place", "before the addition"]),
        (NoFinalRelu, ["no final relu"]),
        (NoShortcut, ["missing shortcut"]),
        (NoDownsample, ["no downsample"]),
        (IgnoresDownsampleArgument, ["does not keep the `downsample`"]),
        (NoBatchNorm, ["missing bn", "no batchnorm"]),
        (OneBatchNormReused, ["missing bn", "only one batchnorm"]),
        (StrideOnSecondConv, ["wrong stride", "strides 1 and 2", "first 3x3 conv takes stride=2"]),
        (StrideIgnored, ["wrong stride", "an 8x8 input gives a 8x8 output instead of 4x4"]),
        (Kernel5, ["wrong kernel size", "(5, 5)"]),
        (NoPadding, ["wrong padding", "padding=(0, 0)"]),
        (ConvBias, ["bias in convs", "bias=false"]),
        (ReluBeforeBN, ["relu before bn"]),
        (NoMiddleRelu, ["missing relu between the convs"]),
        (AddBeforeBN2, ["shortcut added too early"]),
        (OwnOptionAShortcut, ["no downsample", "zero-padded"]),
        (InPlaceOnInput, ["changed its input x in place"]),
        (UnusedModule, ["bn2 is created in __init__ but never called"]),
        (WrongSignature, ["typeerror", "block(inplanes, planes, stride, downsample)"]),
    ],
)
def test_each_mistake_is_named(block, words):
    result = check_basic_block(block)
    assert not result.ok
    text = " ".join(result.messages).lower()
    for word in words:
        assert word.lower() in text, f"{word!r} not in: {result}"
    assert str(result).startswith("FAILED")


def test_raise_on_failure():
    with pytest.raises(ExerciseError, match="no final ReLU") as info:
        check_basic_block(NoFinalRelu, raise_on_failure=True)
    assert isinstance(info.value, AssertionError)
    check_basic_block(resnet_edu.BasicBlock, raise_on_failure=True)  # no exception


def test_checker_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_basic_block(resnet_edu.BasicBlock)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("bad", [None, 3, "BasicBlock", resnet_edu.BasicBlock(4, 4)])
def test_bad_input_is_a_type_error(bad):
    with pytest.raises(TypeError, match="user_cls_or_factory"):
        check_basic_block(bad)
