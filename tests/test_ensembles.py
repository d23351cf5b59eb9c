"""Lesion study and path counting (chapter 8, Veit et al. 2016)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision

from resnet_edu.cifar import CifarResNet, plain20, resnet20
from resnet_edu.ensembles import (
    branch_ratios,
    deletable_blocks,
    delete_blocks,
    error_percent,
    gradient_by_path_length,
    lesion_blocks,
    lesion_random,
    path_gradient,
    path_length_distribution,
    residual_blocks,
)
from resnet_edu.preact import PreActBlock, PreActResNet, preact_resnet20

IDENTITY_SKIP = ["layer1.0", "layer1.1", "layer1.2", "layer2.1", "layer2.2", "layer3.1", "layer3.2"]
ALL_NINE = [f"layer{stage}.{i}" for stage in (1, 2, 3) for i in range(3)]


def _randomise_bn(model):
    """Give BN non-trivial statistics so that eval-mode outputs are not degenerate."""
    torch.manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.bias.uniform_(-0.1, 0.1)
    return model


def _batch(n=32):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_block_discovery():
    assert len(residual_blocks(resnet20())) == 9
    # every residual block, downsampling ones included (their shortcut stays, as in Veit et al.)
    assert deletable_blocks(resnet20()) == ALL_NINE
    assert deletable_blocks(preact_resnet20()) == ALL_NINE
    assert deletable_blocks(plain20()) == IDENTITY_SKIP  # only the shape-keeping plain blocks


def _by_hand(model, x, stage_of_deleted, deleted):
    """The CIFAR net's forward written out, with one block replaced by ``deleted(x)``."""
    pre = isinstance(model, PreActResNet)
    h = model.conv1(x) if pre else model.relu(model.bn1(model.conv1(x)))
    for stage in (model.layer1, model.layer2, model.layer3):
        for block in stage:
            h = deleted(block, h) if block is stage_of_deleted else block(h)
    if pre:
        h = model.relu(model.bn(h))
    return model.fc(model.avgpool(h).flatten(1))


@pytest.mark.parametrize(
    "builder, shortcut",
    [(resnet20, "A"), (resnet20, "B"), (preact_resnet20, "A"), (preact_resnet20, "B")],
)
@pytest.mark.parametrize("name", ["layer1.0", "layer2.0", "layer3.0"])
def test_a_deleted_block_keeps_its_shortcut(builder, shortcut, name):
    torch.manual_seed(0)
    model = _randomise_bn(builder(in_channels=1, shortcut=shortcut)).eval()
    x, _ = _batch(8)
    block = model.get_submodule(name)
    post = not isinstance(block, PreActBlock)

    def shortcut_only(b, h):
        # the block's equation without its branch: relu(s(x)) after, s(x) in pre-activation
        if isinstance(b, PreActBlock):
            s = torch.relu(b.bn1(h)) if b.preactivate_shortcut else h
        else:
            s = h
        s = s if b.downsample is None else b.downsample(s)
        return torch.relu(s) if post else s

    with torch.no_grad():
        expected = _by_hand(model, x, block, shortcut_only)
        with delete_blocks(model, [name]):
            deleted = model(x)
        intact = model(x)
    torch.testing.assert_close(deleted, expected)
    assert not torch.equal(deleted, intact)
    assert model.get_submodule(name) is block  # put back


def test_deleting_a_torchvision_downsampling_block_keeps_its_projection():
    model = _randomise_bn(torchvision.models.resnet18()).eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    block = model.layer2[0]
    with torch.no_grad():
        with delete_blocks(model, ["layer2.0"]):
            deleted = model(x)
        h = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        h = model.layer2[1](torch.relu(block.downsample(model.layer1(h))))
        h = model.layer3(h)
        expected = model.fc(torch.flatten(model.avgpool(model.layer4(h)), 1))
    torch.testing.assert_close(deleted, expected)


def test_delete_restores_the_model_exactly_even_on_error():
    torch.manual_seed(0)
    model = _randomise_bn(resnet20(in_channels=1)).eval()
    x, _ = _batch()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    block = model.layer2[1]
    y0 = model(x)
    with delete_blocks(model, ["layer2.1", "layer3.2"]):
        assert isinstance(model.layer2[1], torch.nn.Identity)
        assert not torch.equal(model(x), y0)
    assert model.layer2[1] is block
    with pytest.raises(RuntimeError, match="boom"), delete_blocks(model, ["layer1.0"]):
        raise RuntimeError("boom")
    assert model.layer1[0] is not None and not isinstance(model.layer1[0], torch.nn.Identity)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert torch.equal(model(x), y0)


@pytest.mark.parametrize("builder", [resnet20, preact_resnet20])
def test_deleting_a_zero_branch_changes_nothing(builder):
    torch.manual_seed(0)
    model = _randomise_bn(builder(in_channels=1)).eval()
    model.layer2[1].zero_init_residual()
    if hasattr(model.layer2[1], "bn2"):
        torch.nn.init.zeros_(model.layer2[1].bn2.bias)  # post-act: branch = BN bias = 0
    x, y = _batch()
    with delete_blocks(model, ["layer2.1"]):
        deleted = model(x)
    torch.testing.assert_close(deleted, model(x))
    assert lesion_blocks(model, (x, y), blocks=["layer2.1"]) == {
        "layer2.1": error_percent(model, (x, y))
    }


def test_lesion_blocks_counts_errors_and_accepts_a_loader():
    torch.manual_seed(0)
    model = _randomise_bn(plain20(in_channels=1)).train()
    x, y = _batch(40)
    result = lesion_blocks(model, (x, y))
    assert list(result) == IDENTITY_SKIP  # a plain net: the blocks that keep the shape
    assert model.training  # mode restored
    # reference: the same numbers by hand
    model.eval()
    with torch.no_grad(), delete_blocks(model, ["layer3.1"]):
        by_hand = 100.0 * (model(x).argmax(1) != y).float().mean().item()
    assert result["layer3.1"] == pytest.approx(by_hand)
    loader = [(x[:25], y[:25]), (x[25:], y[25:])]
    assert lesion_blocks(model, loader, blocks=["layer3.1"])["layer3.1"] == pytest.approx(by_hand)


def test_lesion_random():
    torch.manual_seed(0)
    model = _randomise_bn(resnet20(in_channels=1))
    x, y = _batch()
    result = lesion_random(model, (x, y), n_deleted=[0, 2], samples=2)
    assert result[0] == [error_percent(model, (x, y))] * 2
    assert len(result[2]) == 2
    with pytest.raises(ValueError, match="n_deleted"):
        lesion_random(model, (x, y), n_deleted=[10])  # 9 deletable blocks


def test_path_length_distribution_matches_enumeration():
    for n in (0, 1, 5, 9):
        counts = path_length_distribution(n)
        by_enumeration = [0] * (n + 1)
        for path in itertools.product([0, 1], repeat=n):  # 1 = through the branch
            by_enumeration[sum(path)] += 1
        assert counts == by_enumeration
        assert sum(counts) == 2**n
    assert path_length_distribution(54)[27] == math.comb(54, 27)


def _first_block_input_gradient(model, x, y):
    captured = []

    def hook(_m, args):
        captured.append(args[0].detach().requires_grad_(True))
        return (captured[-1],)

    h = model.layer1[0].register_forward_pre_hook(hook)
    try:
        loss = F.cross_entropy(model(x), y)
        return torch.autograd.grad(loss, captured[0])[0]
    finally:
        h.remove()


@pytest.mark.parametrize("builder", [CifarResNet, None])
def test_path_gradients_sum_to_the_full_gradient(builder):
    torch.manual_seed(0)
    if builder is None:
        from resnet_edu.preact import PreActResNet

        model = PreActResNet(8, in_channels=1, shortcut="A")
    else:
        model = CifarResNet(8, in_channels=1, shortcut="B")  # 3 blocks, 8 paths
    model = _randomise_bn(model).eval()
    x, y = _batch(8)
    total = sum(
        path_gradient(model, x, y, branch)
        for k in range(4)
        for branch in itertools.combinations(range(3), k)
    )
    torch.testing.assert_close(total, _first_block_input_gradient(model, x, y))
    assert not model.layer1[0]._forward_hooks and not model.layer1[0]._forward_pre_hooks


def test_gradient_by_path_length():
    torch.manual_seed(0)
    model = _randomise_bn(CifarResNet(14, in_channels=1))  # 6 blocks
    x, y = _batch(16)
    pg = gradient_by_path_length(model, x, y, samples_per_length=2, lengths=[0, 3, 6])
    assert pg.counts.tolist() == path_length_distribution(6)
    assert np.isnan(pg.mean_norm[1]) and np.isfinite(pg.mean_norm[[0, 3, 6]]).all()
    # length 6 = the single all-branch path: deterministic, so no spread
    assert pg.std_norm[6] == 0.0
    expected = path_gradient(model, x, y, range(6)).norm().item()
    assert pg.mean_norm[6] == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(pg.total, pg.mean_norm * pg.counts)


def test_bad_inputs():
    model = resnet20(in_channels=1)
    x, y = _batch(4)
    with pytest.raises(ValueError, match="names: 'layer2.0'"):  # plain: it changes the shape
        with delete_blocks(plain20(in_channels=1), ["layer2.0"]):
            pass
    with pytest.raises(TypeError, match="names"):
        with delete_blocks(model, "layer1.0"):
            pass
    with pytest.raises(TypeError, match="data"):
        lesion_blocks(model, x)
    with pytest.raises(ValueError, match="residual=True"):
        gradient_by_path_length(plain20(in_channels=1), x, y)
    with pytest.raises(ValueError, match="lengths"):
        gradient_by_path_length(model, x, y, lengths=[10])
    with pytest.raises(ValueError, match="branch"):
        path_gradient(model, x, y, [9])
    with pytest.raises(TypeError, match="n_blocks"):
        path_length_distribution(2.0)
    with pytest.raises(TypeError, match="model"):
        residual_blocks("resnet20")


@pytest.mark.parametrize("builder", [resnet20, preact_resnet20])
def test_branch_ratios_by_hand(builder):
    torch.manual_seed(0)
    model = _randomise_bn(builder(in_channels=1)).train()
    x, _ = _batch(8)
    ratios = branch_ratios(model, x)
    assert list(ratios) == ALL_NINE and model.training  # every block, mode restored
    model.eval()
    with torch.no_grad():
        h = model.conv1(x) if builder is preact_resnet20 else model.relu(model.bn1(model.conv1(x)))
        for stage in (model.layer1, model.layer2, model.layer3):
            for i, block in enumerate(stage):
                name = f"layer{[model.layer1, model.layer2, model.layer3].index(stage) + 1}.{i}"
                expected = block.branch(h).norm() / block.shortcut(h).norm()
                assert ratios[name] == pytest.approx(expected.item(), rel=1e-6)
                h = block(h)
    with torch.no_grad():  # a zero branch has ratio 0
        model.layer2[1].zero_init_residual()
        if hasattr(model.layer2[1], "bn2"):
            torch.nn.init.zeros_(model.layer2[1].bn2.bias)
    assert branch_ratios(model, x)["layer2.1"] == 0.0
    with pytest.raises(ValueError, match="residual"):
        branch_ratios(plain20(in_channels=1), x)
    with pytest.raises(TypeError, match="inputs"):
        branch_ratios(model, "x")
