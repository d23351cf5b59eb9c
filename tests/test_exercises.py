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


# --- chapter 6: build ResNet yourself, torchvision-style ------------------------------------


def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, 3, stride, 1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, 1, stride, bias=False)


class Basic(nn.Module):
    """A correct torchvision-style BasicBlock, written as a reader would."""

    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottle(nn.Module):
    """A correct torchvision-style Bottleneck ("v1.5": the stride on the 3x3 conv)."""

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class Net(nn.Module):
    """A correct torchvision-style ResNet."""

    def __init__(self, block, layers, num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

    def _downsample(self, block, planes, stride):
        return nn.Sequential(
            conv1x1(self.inplanes, planes * block.expansion, stride),
            nn.BatchNorm2d(planes * block.expansion),
        )

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = self._downsample(block, planes, stride)
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def stem(self, x):
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def head(self, x):
        return self.fc(torch.flatten(self.avgpool(x), 1))

    def forward(self, x):
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.head(x)


class NotWritten(nn.Module):
    """The chapter's template, before the reader writes anything."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        raise NotImplementedError("write NotWritten.__init__")

    def _make_layer(self, block, planes, blocks, stride=1):
        raise NotImplementedError("write NotWritten._make_layer")


def not_written(in_planes, out_planes, stride=1):
    raise NotImplementedError("write not_written")


# conv3x3 / conv1x1 mistakes
def conv3x3_bias(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, 3, stride, 1)


def conv3x3_no_padding(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, 3, stride, bias=False)


def conv3x3_no_stride(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, 3, 1, 1, bias=False)


def conv3x3_with_bn(in_planes, out_planes, stride=1):
    return nn.Sequential(conv3x3(in_planes, out_planes, stride), nn.BatchNorm2d(out_planes))


def conv3x3_reflect(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, 3, stride, 1, bias=False, padding_mode="reflect")


def conv1x1_padded(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, 1, stride, 1, bias=False)


def conv1x1_as_3x3(in_planes, out_planes, stride=1):
    return conv3x3(in_planes, out_planes, stride)


CONV_MISTAKES = [
    (conv3x3_bias, conv1x1, ["bias=true", "bias=false"]),
    (conv3x3_no_padding, conv1x1, ["wrong padding", "padding=1"]),
    (conv3x3_no_stride, conv1x1, ["wrong stride", "has stride 1"]),
    (conv3x3_with_bn, conv1x1, ["with its batchnorm", "nn.conv2d alone"]),
    (conv3x3_reflect, conv1x1, ["padding mode 'reflect'"]),
    (conv3x3, conv1x1_padded, ["wrong padding", "no padding"]),
    (conv3x3, conv1x1_as_3x3, ["wrong kernel size", "3x3"]),
    (not_written, conv1x1, ["not written yet", "write not_written"]),
    (None, conv1x1, ["✗ conv3x3, conv1x1: not written yet", "it is none"]),
]


def test_correct_convs_pass():
    from resnet_edu.exercises import Verdict, check_convs

    result = check_convs(conv3x3, conv1x1)
    assert isinstance(result, Verdict) and result.ok, str(result)
    assert str(result).startswith("✓ conv3x3, conv1x1: ")


@pytest.mark.parametrize(
    ("three", "one", "words"),
    CONV_MISTAKES,
    ids=[getattr(c[0], "__name__", "None") + "-" + c[1].__name__ for c in CONV_MISTAKES],
)
def test_each_conv_mistake_is_named(three, one, words):
    from resnet_edu.exercises import check_convs

    result = check_convs(three, one)
    assert not result.ok
    text = " ".join(str(result).split()).lower()  # wrapped lines joined
    assert text.startswith("✗ ")
    for word in words:
        assert word.lower() in text, f"{word!r} not in: {result}"


# BasicBlock / Bottleneck mistakes
class BasicReluBeforeAdd(Basic):
    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out))) + identity


class BasicNoFinalRelu(Basic):
    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + identity


class BasicNoShortcut(Basic):
    def forward(self, x):
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))


class BasicBNAfterAdd(Basic):
    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out) + identity))


class BasicExtraBNAfterAdd(Basic):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__(inplanes, planes, stride, downsample)
        self.bn3 = nn.BatchNorm2d(planes)

    def forward(self, x):
        return self.relu(self.bn3(super().forward(x)))


class BasicConvBias(Basic):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__(inplanes, planes, stride, downsample)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1)


class BasicStrideOnConv2(Basic):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__(inplanes, planes, stride, downsample)
        self.conv1 = conv3x3(inplanes, planes)
        self.conv2 = conv3x3(planes, planes, stride)


class BasicDropsDownsample(Basic):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__(inplanes, planes, stride, None)

    def forward(self, x):
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + x)


class BasicIgnoresDownsampleInForward(Basic):
    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + x)


class BasicShortcutName(Basic):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__(inplanes, planes, stride, None)
        self.shortcut = downsample

    def forward(self, x):
        identity = x if self.shortcut is None else self.shortcut(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class BasicBuildsOwnProjection(Basic):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        own = nn.Sequential(conv1x1(inplanes, planes, stride), nn.BatchNorm2d(planes))
        super().__init__(inplanes, planes, stride, own)


class BasicNoExpansion(nn.Module):
    """Right in every way but the class attribute ``expansion``, which it lacks."""

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        return Basic.forward(self, x)

    def relu(self, x):
        return torch.relu(x)


class BasicExpansion4(Basic):
    expansion = 4


class BasicOtherNames(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv_a, self.norm_a = conv3x3(inplanes, planes, stride), nn.BatchNorm2d(planes)
        self.conv_b, self.norm_b = conv3x3(planes, planes), nn.BatchNorm2d(planes)
        self.downsample = downsample


class BasicInPlaceOnInput(Basic):
    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        identity += self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(identity)


class BasicReluBeforeBN(Basic):
    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.bn1(torch.relu(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class BasicNoMiddleRelu(Basic):
    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.bn2(self.conv2(self.bn1(self.conv1(x)))) + identity)


class BasicWrongSignature(Basic):
    def __init__(self, channels):
        super().__init__(channels, channels)


class BottleStrideOn1x1(Bottle):
    """The paper's "v1" Bottleneck: the stride on the first 1x1 conv."""

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__(inplanes, planes, stride, downsample)
        self.conv1 = conv1x1(inplanes, planes, stride)
        self.conv2 = conv3x3(planes, planes)


class BottleNoExpand(Bottle):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__(inplanes, planes, stride, downsample)
        self.conv3 = conv1x1(planes, planes)
        self.bn3 = nn.BatchNorm2d(planes)


class BottleExpansion1(Bottle):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__(inplanes, planes, stride, downsample)
        self.conv3 = conv1x1(planes, planes * 4)
        self.bn3 = nn.BatchNorm2d(planes * 4)


class BottleNoReluAfterBN2(Bottle):
    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class BottleBNAfterAdd(Bottle):
    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))
        return self.relu(self.bn3(self.conv3(out) + identity))


class BottleReluBeforeAdd(Bottle):
    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))
        return self.relu(self.bn3(self.conv3(out))) + identity


class BottleStrideOnConv3(Bottle):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__(inplanes, planes, stride, downsample)
        self.conv2 = conv3x3(planes, planes)
        self.conv3 = conv1x1(planes, planes * 4, stride)


class BottleMissingBN2(Bottle):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__(inplanes, planes, stride, downsample)
        del self.bn2

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(self.bn3(self.conv3(out)) + identity)


BLOCK_MISTAKES = [
    (BasicReluBeforeAdd, "BasicBlock", "v1.5", ["relu in the wrong place", "before the addition"]),
    (BasicNoFinalRelu, "BasicBlock", "v1.5", ["no final relu"]),
    (BasicNoShortcut, "BasicBlock", "v1.5", ["missing shortcut"]),
    (BasicBNAfterAdd, "BasicBlock", "v1.5", ["bn after the addition", "bn2"]),
    (BasicExtraBNAfterAdd, "BasicBlock", "v1.5", ["bn where it should not be", "bn3"]),
    (BasicConvBias, "BasicBlock", "v1.5", ["bias=true", "conv2"]),
    (BasicStrideOnConv2, "BasicBlock", "v1.5", ["wrong stride placement", "on conv2", "conv1"]),
    (BasicDropsDownsample, "BasicBlock", "v1.5", ["missing downsample", "does not keep it"]),
    (BasicIgnoresDownsampleInForward, "BasicBlock", "v1.5", ["downsample(x), not x"]),
    (BasicShortcutName, "BasicBlock", "v1.5", ["as `shortcut`", "`downsample`"]),
    (BasicBuildsOwnProjection, "BasicBlock", "v1.5", ["downsample built when not needed"]),
    (BasicNoExpansion, "BasicBlock", "v1.5", ["no expansion", "expansion = 1"]),
    (BasicExpansion4, "BasicBlock", "v1.5", ["wrong expansion", "expansion is 4"]),
    (BasicOtherNames, "BasicBlock", "v1.5", ["names differ", "bn1, bn2", "conv1, conv2"]),
    (BasicInPlaceOnInput, "BasicBlock", "v1.5", ["changed its input x in place"]),
    (BasicReluBeforeBN, "BasicBlock", "v1.5", ["relu before bn"]),
    (BasicNoMiddleRelu, "BasicBlock", "v1.5", ["missing relu after bn1"]),
    (
        BasicWrongSignature,
        "BasicBlock",
        "v1.5",
        ["typeerror", "block(inplanes, planes, stride, downsample)"],
    ),
    (NotWritten, "BasicBlock", "v1.5", ["not written yet", "write notwritten.__init__"]),
    (None, "BasicBlock", "v1.5", ["not written yet"]),
    (Basic(8, 8), "BasicBlock", "v1.5", ["an object built from basic", "not basic(...)"]),
    (BottleStrideOn1x1, "Bottleneck", "v1.5", ["wrong stride placement", "resnet v1", "conv2"]),
    (Bottle, "Bottleneck", "v1", ["wrong stride placement for v1", "conv1, the first 1x1"]),
    (BottleNoExpand, "Bottleneck", "v1.5", ["wrong expansion", "planes * 4 = 32"]),
    (BottleExpansion1, "Bottleneck", "v1.5", ["wrong expansion", "expansion is 1"]),
    (BottleNoReluAfterBN2, "Bottleneck", "v1.5", ["missing relu after bn2"]),
    (BottleBNAfterAdd, "Bottleneck", "v1.5", ["bn after the addition", "bn3"]),
    (BottleReluBeforeAdd, "Bottleneck", "v1.5", ["relu in the wrong place"]),
    (BottleStrideOnConv3, "Bottleneck", "v1.5", ["wrong stride placement", "on conv3"]),
    (BottleMissingBN2, "Bottleneck", "v1.5", ["missing bn", "bn2"]),
    (Basic, "Bottleneck", "v1.5", ["missing conv", "no conv3", "missing bn", "no bn3"]),
]


@pytest.mark.parametrize(
    ("block", "kind", "variant"),
    [
        (Basic, "BasicBlock", "v1.5"),
        (Bottle, "Bottleneck", "v1.5"),
        (BottleStrideOn1x1, "Bottleneck", "v1"),
    ],
)
def test_correct_blocks_pass(block, kind, variant):
    from resnet_edu.exercises import check_block

    result = check_block(block, kind, variant=variant)
    assert result.ok, str(result)
    assert str(result).startswith(f"✓ {block.__name__}: torchvision's {kind} weights load")


def test_torchvision_and_library_blocks_pass():
    import torchvision.models.resnet as tv

    from resnet_edu.exercises import check_block

    assert check_block(tv.BasicBlock, "BasicBlock").ok
    assert check_block(tv.Bottleneck, "Bottleneck").ok
    assert check_block(resnet_edu.Bottleneck, "Bottleneck").ok
    v1 = lambda *args: resnet_edu.Bottleneck(*args, stride_in_1x1=True)  # noqa: E731
    v1.expansion = 4
    assert not check_block(v1, "Bottleneck").ok  # a function, not a class: named as such


@pytest.mark.parametrize(
    ("block", "kind", "variant", "words"),
    BLOCK_MISTAKES,
    ids=[f"{getattr(b, '__name__', type(b).__name__)}-{k}-{v}" for b, k, v, _ in BLOCK_MISTAKES],
)
def test_each_block_mistake_is_named(block, kind, variant, words):
    from resnet_edu.exercises import check_block

    result = check_block(block, kind, variant=variant)
    assert not result.ok
    text = " ".join(str(result).split()).lower()  # wrapped lines joined
    assert text.startswith("✗ ")
    for word in words:
        assert word.lower() in text, f"{word!r} not in: {result}"


# _make_layer mistakes (each a ResNet whose _make_layer is wrong)
class StrideOnlyTest(Net):
    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1:  # misses a change of width at stride 1 (ResNet-50's layer1)
            downsample = self._downsample(block, planes, stride)
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)


class AlwaysProjects(Net):
    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = self._downsample(block, planes, stride)
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)


class ProjectsEveryBlock(Net):
    def _make_layer(self, block, planes, blocks, stride=1):
        layers = []
        for i in range(blocks):
            s = stride if i == 0 else 1
            layers.append(block(self.inplanes, planes, s, self._downsample(block, planes, s)))
            self.inplanes = planes * block.expansion
        return nn.Sequential(*layers)


class NeverUpdatesInplanes(Net):
    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = self._downsample(block, planes, stride)
        layers = [block(self.inplanes, planes, stride, downsample)]
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)


class InplanesWithoutExpansion(Net):
    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = self._downsample(block, planes, stride)
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)


class InplanesTooEarly(Net):
    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = self._downsample(block, planes, stride)
        self.inplanes = planes * block.expansion
        layers = [block(self.inplanes, planes, stride, downsample)]
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)


class StrideOnEveryBlock(Net):
    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = self._downsample(block, planes, stride)
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, stride) for _ in range(1, blocks)]
        return nn.Sequential(*layers)


class OneBlockTooMany(Net):
    def _make_layer(self, block, planes, blocks, stride=1):
        stage = super()._make_layer(block, planes, blocks, stride)
        return nn.Sequential(*stage, block(self.inplanes, planes))


class ReturnsList(Net):
    def _make_layer(self, block, planes, blocks, stride=1):
        return list(super()._make_layer(block, planes, blocks, stride))


class ProjectionWithoutBN(Net):
    def _downsample(self, block, planes, stride):
        return nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride))


class ProjectionWithoutStride(Net):
    def _downsample(self, block, planes, stride):
        return nn.Sequential(
            conv1x1(self.inplanes, planes * block.expansion),
            nn.BatchNorm2d(planes * block.expansion),
        )


class NormLayerAttribute(Net):
    def _make_layer(self, block, planes, blocks, stride=1):
        self.norm_layer  # an attribute torchvision's __init__ does not set  # noqa: B018
        return super()._make_layer(block, planes, blocks, stride)


MAKE_LAYER_MISTAKES = [
    (StrideOnlyTest, ["missing downsample", "64 -> 256 channels at stride 1", "layer1"]),
    (AlwaysProjects, ["downsample built when not needed", "layer1 of resnet-18"]),
    (ProjectsEveryBlock, ["block 1 has a downsample", "only the first block"]),
    (
        NeverUpdatesInplanes,
        ["wrong inplanes bookkeeping", "self.inplanes = planes * block.expansion"],
    ),
    (InplanesWithoutExpansion, ["wrong expansion in the bookkeeping", "= 256"]),
    (InplanesTooEarly, ["self.inplanes updated too early"]),
    (StrideOnEveryBlock, ["stride on every block", "layer2"]),
    (OneBlockTooMany, ["wrong number of blocks", "builds 3 blocks", "blocks = 2"]),
    (ReturnsList, ["return nn.sequential(*layers)"]),
    (ProjectionWithoutBN, ["1 conv(s) and 0 batchnorm(s)", "norm_layer(planes * block.expansion)"]),
    (ProjectionWithoutStride, ["downsample's conv is 1x1, stride 1", "expected 1x1, stride 2"]),
    (NormLayerAttribute, ["attributeerror", "norm_layer", "_norm_layer=nn.batchnorm2d"]),
    (NotWritten, ["not written yet", "write notwritten._make_layer"]),
    (nn.Module, ["no _make_layer method"]),
    (None, ["not written yet"]),
]


def test_correct_make_layer_passes_whatever_init_does():
    import torchvision.models.resnet as tv

    from resnet_edu.exercises import check_make_layer

    for resnet in (Net, tv.ResNet):
        result = check_make_layer(resnet)
        assert result.ok, str(result)

    class InitNotWritten(Net):  # _make_layer is checked alone
        def __init__(self, block, layers, num_classes=1000):
            raise NotImplementedError

    assert check_make_layer(InitNotWritten).ok


@pytest.mark.parametrize(
    ("resnet", "words"),
    MAKE_LAYER_MISTAKES,
    ids=[getattr(r, "__name__", "None") for r, _ in MAKE_LAYER_MISTAKES],
)
def test_each_make_layer_mistake_is_named(resnet, words):
    from resnet_edu.exercises import check_make_layer

    result = check_make_layer(resnet)
    assert not result.ok
    text = " ".join(str(result).split()).lower()
    assert text.startswith("✗ ")
    for word in words:
        assert word.lower() in text, f"{word!r} not in: {result}"


# whole-network mistakes
class NoMaxPool(Net):
    def stem(self, x):
        return self.relu(self.bn1(self.conv1(x)))


class MaxPoolUnused(NoMaxPool):
    pass


class NoStemRelu(Net):
    def stem(self, x):
        return self.maxpool(self.bn1(self.conv1(x)))


class Stem3x3(Net):
    def __init__(self, block, layers, num_classes=1000):
        super().__init__(block, layers, num_classes)
        self.conv1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False)


class HeadWithoutExpansion(Net):
    def __init__(self, block, layers, num_classes=1000):
        super().__init__(block, layers, num_classes)
        self.fc = nn.Linear(512, num_classes)


class SoftmaxHead(Net):
    def forward(self, x):
        return super().forward(x).softmax(dim=1)


class FixedPoolHead(Net):
    def __init__(self, block, layers, num_classes=1000):
        super().__init__(block, layers, num_classes)
        self.avgpool = nn.AvgPool2d(2)  # fits a 2x2 map (64x64 images) only


class MaxPoolHead(Net):
    def __init__(self, block, layers, num_classes=1000):
        super().__init__(block, layers, num_classes)
        self.avgpool = nn.AdaptiveMaxPool2d((1, 1))


class FixedBlocks(Net):
    def __init__(self, block, layers, num_classes=1000):
        super().__init__(block, [2, 2, 2, 2], num_classes)  # ignores `layers`


class Layer1Strides(Net):
    def _make_layer(self, block, planes, blocks, stride=1):
        return super()._make_layer(block, planes, blocks, 2 if planes == 64 else stride)


class ClassifierName(Net):
    def __init__(self, block, layers, num_classes=1000):
        super().__init__(block, layers, num_classes)
        self.classifier = self.fc
        del self.fc

    def head(self, x):
        return self.classifier(torch.flatten(self.avgpool(x), 1))


class WrongMaxPool(Net):
    def __init__(self, block, layers, num_classes=1000):
        super().__init__(block, layers, num_classes)
        self.maxpool = nn.MaxPool2d(2, 2)


class NoNumClasses(Net):
    def __init__(self, block, layers):
        super().__init__(block, layers)


NETWORK_MISTAKES = [
    (NoMaxPool, ["missing stem pieces", "no max pool", "32x32", "16x16"]),
    (NoStemRelu, ["missing stem pieces", "no relu after bn1"]),
    (Stem3x3, ["stem", "3x3, stride 2, padding 1", "7x7, stride 2, padding 3"]),
    (HeadWithoutExpansion, ["wrong head", "fc takes 512 features", "resnet-50", "2048"]),
    (SoftmaxHead, ["wrong head", "probabilities", "logits"]),
    (FixedPoolHead, ["wrong head", "96x72", "adaptiveavgpool2d"]),
    (MaxPoolHead, ["wrong head", "global max pooling"]),
    (FixedBlocks, ["wrong number of blocks per stage", "layer2", "has 2 blocks", "layers[1] = 4"]),
    (Layer1Strides, ["layer1 outputs a 8x8 map", "expected 16x16", "gets stride 1"]),
    (ClassifierName, ["wrong head", "named `fc`", "`classifier`"]),
    (WrongMaxPool, ["maxpool2d(kernel_size=2", "maxpool2d(kernel_size=3, stride=2, padding=1)"]),
    (NoNumClasses, ["typeerror", "num_classes"]),
    (
        StrideOnlyTest,
        ["stages of your resnet-50 differ", "layer1.0.downsample.0", "check_make_layer"],
    ),
    (NotWritten, ["not written yet", "write notwritten.__init__"]),
]


def test_correct_resnet_passes_bit_identical():
    import torchvision.models.resnet as tv

    from resnet_edu.exercises import check_resnet

    for resnet, blocks in ((Net, ()), (Net, (Basic, Bottle)), (tv.ResNet, ())):
        result = check_resnet(resnet, *blocks)
        assert result.ok, str(result)
        text = " ".join(str(result).split())
        assert "load with strict=True" in text and "bit-identical" in text


@pytest.mark.parametrize(
    ("resnet", "words"), NETWORK_MISTAKES, ids=[r.__name__ for r, _ in NETWORK_MISTAKES]
)
def test_each_network_mistake_is_named(resnet, words):
    from resnet_edu.exercises import check_resnet

    result = check_resnet(resnet)
    assert not result.ok
    text = " ".join(str(result).split()).lower()
    assert text.startswith("✗ ")
    for word in words:
        assert word.lower() in text, f"{word!r} not in: {result}"


def test_a_wrong_block_inside_a_right_resnet_is_pointed_at():
    from resnet_edu.exercises import check_resnet

    result = check_resnet(Net, BasicReluBeforeAdd, Bottle)
    assert not result.ok and "check_block" in str(result), str(result)
    assert str(result).startswith("✗ Net with BasicReluBeforeAdd and Bottle: ")


# the book's own solution (chapter 6's folded cells) -----------------------------------------


def _book_solution() -> dict:
    """Run chapter 6's solution cells (tag ``solution``) and return what they define.

    The checker calls at the end of each cell are replaced by no-ops here: the tests below
    run the checkers themselves.
    """
    from pathlib import Path

    import nbformat

    path = Path(__file__).resolve().parent.parent / "book" / "06_build_resnet.ipynb"
    cells = [
        c
        for c in nbformat.read(path, as_version=4).cells
        if "solution" in c.metadata.get("tags", [])
    ]
    assert len(cells) == 4 and all("hide-input" in c.metadata["tags"] for c in cells)
    quiet = lambda *args, **kwargs: None  # noqa: E731
    namespace = {"torch": torch, "nn": nn, "print": quiet}
    namespace.update(
        dict.fromkeys(["check_convs", "check_block", "check_make_layer", "check_resnet"], quiet)
    )
    for cell in cells:
        exec(cell.source, namespace)
    return namespace


def test_the_books_solution_passes_every_checker():
    from resnet_edu.exercises import check_block, check_convs, check_make_layer, check_resnet

    book = _book_solution()
    assert check_convs(book["conv3x3"], book["conv1x1"]).ok
    assert check_block(book["BasicBlock"], "BasicBlock").ok
    assert check_block(book["Bottleneck"], "Bottleneck").ok
    assert check_make_layer(book["ResNet"]).ok
    whole = check_resnet(book["ResNet"], book["BasicBlock"], book["Bottleneck"])
    assert whole.ok and "bit-identical" in whole.summary, str(whole)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_torchvision_weights_load_strictly_into_the_books_classes_bit_identical(name):
    import torchvision.models as tvm

    book = _book_solution()
    block, layers = {
        "resnet18": (book["BasicBlock"], [2, 2, 2, 2]),
        "resnet50": (book["Bottleneck"], [3, 4, 6, 3]),
    }[name]
    torch.manual_seed(0)
    theirs = getattr(tvm, name)()
    with torch.no_grad():  # BatchNorm statistics away from their initial 0 and 1
        for m in theirs.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.0)
                m.bias.normal_(0, 0.2)
    mine = book["ResNet"](block, layers)
    mine.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    for training in (False, True):
        mine.train(training), theirs.train(training)
        with torch.no_grad():
            assert torch.equal(mine(x), theirs(x))
