"""Pre-activation blocks and CIFAR nets (chapter 9)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from resnet_edu.blocks import ZeroPadShortcut, conv1x1
from resnet_edu.cifar import plain20, resnet20
from resnet_edu.measure import count_params
from resnet_edu.preact import (
    PreActBlock,
    PreActResNet,
    preact_resnet20,
    preact_resnet32,
    preact_resnet44,
    preact_resnet56,
    preact_resnet110,
)


@pytest.mark.parametrize("size", [32, 8])
def test_shapes(size):
    torch.manual_seed(0)
    model = preact_resnet20(in_channels=1, num_classes=7).eval()
    assert model(torch.randn(3, 1, size, size)).shape == (3, 7)


def test_depths_count_weighted_layers():
    for builder, depth in [
        (preact_resnet20, 20),
        (preact_resnet32, 32),
        (preact_resnet44, 44),
        (preact_resnet56, 56),
        (preact_resnet110, 110),
    ]:
        model = builder()
        weighted = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        projections = [m for m in weighted if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1)]
        assert len(weighted) - len(projections) == depth


def test_option_a_has_exactly_the_parameters_of_the_post_activation_net():
    # BN moves around (no stem BN, one final BN, bn1 sized by the unit's input) but the total
    # of BN parameters is the same, and option A shortcuts have none.
    assert (
        count_params(preact_resnet20(shortcut="A"))
        == count_params(resnet20())
        == count_params(plain20())
    )
    assert count_params(PreActResNet(20, residual=False)) == count_params(plain20())


def test_option_b_projection_has_no_bn():
    # the authors' code: a bare 1x1 conv; resnet20(shortcut="B") adds a BN to each of its two
    extra = count_params(resnet20(shortcut="B")) - count_params(preact_resnet20(shortcut="B"))
    assert extra == 2 * (32 + 64)


def test_block_equation_by_hand():
    torch.manual_seed(0)
    block = PreActBlock(4, 4).eval()
    with torch.no_grad():
        for bn in (block.bn1, block.bn2):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(0.5, 2)
        x = torch.randn(2, 4, 5, 5)
        f = block.conv2(torch.relu(block.bn2(block.conv1(torch.relu(block.bn1(x))))))
        torch.testing.assert_close(block(x), x + f)
        block.residual = False
        torch.testing.assert_close(block(x), f)


def test_zero_init_makes_the_block_exactly_identity():
    torch.manual_seed(0)
    block = PreActBlock(8, 8)
    block.zero_init_residual()
    x = torch.randn(4, 8, 6, 6)
    assert torch.equal(block(x), x)  # train mode too: nothing after the addition
    assert torch.count_nonzero(block.conv2.weight) == 0


def test_zero_init_net_units_are_identities_after_the_first():
    torch.manual_seed(0)
    model = preact_resnet20(zero_init_residual=True, shortcut="A").eval()
    x = torch.randn(2, 16, 8, 8)
    for block in list(model.layer1)[1:] + list(model.layer2)[1:]:
        x_in = torch.randn(2, block.bn1.num_features, 8, 8)
        assert torch.equal(block(x_in), x_in)
    # the first unit's shortcut starts after conv1's activation (paper appendix)
    first = model.layer1[0]
    assert first.preactivate_shortcut
    torch.testing.assert_close(first(x), torch.relu(first.bn1(x)))


def test_shortcut_sources_follow_the_authors_code():
    model = preact_resnet20()
    assert isinstance(model.layer2[0].downsample, nn.Conv2d)
    assert model.layer2[0].preactivate_shortcut
    assert not model.layer2[1].preactivate_shortcut
    model_a = preact_resnet20(shortcut="A")
    assert isinstance(model_a.layer2[0].downsample, ZeroPadShortcut)
    assert not model_a.layer2[0].preactivate_shortcut


def test_gradient_reaches_input_through_identity_path():
    # with every branch zeroed, d x_L / d x_l is exactly the identity (eq. 5 with F = 0)
    torch.manual_seed(0)
    blocks = nn.Sequential(*[PreActBlock(4, 4) for _ in range(10)])
    for b in blocks:
        b.zero_init_residual()
    x = torch.randn(1, 4, 3, 3, requires_grad=True)
    blocks(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.ones_like(x))


def test_projection_block():
    block = PreActBlock(4, 8, stride=2, downsample=conv1x1(4, 8, 2))
    assert block(torch.randn(2, 4, 8, 8)).shape == (2, 8, 4, 4)


def test_bad_arguments():
    with pytest.raises(ValueError, match="depth"):
        PreActResNet(21)
    with pytest.raises(ValueError, match="shortcut"):
        PreActResNet(20, shortcut="C")
    with pytest.raises(TypeError, match="inplanes"):
        PreActBlock(4.0, 4)
    with pytest.raises(ValueError, match="downsample"):
        PreActBlock(4, 8)
    with pytest.raises(TypeError, match="depth"):
        preact_resnet20(depth=32)
    with pytest.raises(ValueError, match="x must have 3 channels"):
        preact_resnet20()(torch.randn(1, 1, 8, 8))
    with pytest.raises(ValueError, match="widths"):
        PreActResNet(20, widths=(16, 32))


def test_no_norm_variant_runs():
    model = preact_resnet20(norm_layer=nn.Identity, in_channels=1)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert torch.isfinite(model(torch.randn(2, 1, 8, 8))).all()


def randomized_unit(inplanes, planes, stride, downsample, **kwargs):
    torch.manual_seed(0)
    block = PreActBlock(inplanes, planes, stride, downsample, **kwargs).eval()
    with torch.no_grad():
        for bn in (block.bn1, block.bn2):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(0.5, 2)
    return block


@pytest.mark.parametrize("kind", ["identity", "projection", "zero-pad", "first-unit", "plain"])
def test_branch_and_shortcut_are_the_two_terms_of_eq4(kind):
    downsample = {"projection": conv1x1(4, 8, 2), "zero-pad": ZeroPadShortcut(4, 8, 2)}.get(kind)
    planes, stride = (8, 2) if downsample is not None else (4, 1)
    kwargs = {"first-unit": {"preactivate_shortcut": True}, "plain": {"residual": False}}
    block = randomized_unit(4, planes, stride, downsample, **kwargs.get(kind, {}))
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        pre = torch.relu(block.bn1(x))
        f = block.conv2(torch.relu(block.bn2(block.conv1(pre))))
        torch.testing.assert_close(block.branch(x), f)
        expected_shortcut = {
            "identity": x,
            "projection": block.downsample(pre) if downsample is not None else None,
            "zero-pad": block.downsample(x) if downsample is not None else None,
            "first-unit": pre,
            "plain": None,
        }[kind]
        if kind == "plain":
            assert block.shortcut(x) is None
            torch.testing.assert_close(block(x), f)
        else:
            torch.testing.assert_close(block.shortcut(x), expected_shortcut)
            torch.testing.assert_close(block(x), f + expected_shortcut)  # nothing after the sum


def test_shared_preactivation_updates_bn_statistics_once():
    # forward computes relu(bn1(x)) once for both paths: one batch, one update of bn1's stats
    block = PreActBlock(4, 8, 2, conv1x1(4, 8, 2)).train()
    assert block.preactivate_shortcut
    x = torch.randn(4, 4, 6, 6)
    block(x)
    assert block.bn1.num_batches_tracked.item() == 1
    momentum = block.bn1.momentum
    torch.testing.assert_close(block.bn1.running_mean, momentum * x.mean(dim=(0, 2, 3)))


def test_features_is_everything_before_the_pooling():
    torch.manual_seed(0)
    model = preact_resnet20(in_channels=1).eval()
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        by_hand = model.layer3(model.layer2(model.layer1(model.conv1(x))))
        features = model.features(x)
        torch.testing.assert_close(features, torch.relu(model.bn(by_hand)))
        assert features.shape == (2, 64, 2, 2)
        torch.testing.assert_close(model(x), model.fc(features.mean(dim=(2, 3))))
