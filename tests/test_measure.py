"""resnet_edu.measure against hand computations, torchinfo and torchvision's metadata."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models import get_model_weights

import resnet_edu
import resnet_edu.preact
from resnet_edu import measure
from resnet_edu.imagenet import IMAGENET_BUILDERS
from resnet_edu.vgg import VGG_BUILDERS

#: Every builder of the package, with its input side. resnet1202 is left out: it is resnet110's
#: 6n+2 net with n = 200 instead of 18, and costs more than all the others together to trace.
ALL_BUILDERS = [
    *[(name, 224) for name in [*IMAGENET_BUILDERS, "plain18", "plain34", *VGG_BUILDERS]],
    *[
        (f"{family}{depth}", 32)
        for family in ("resnet", "plain")
        for depth in (20, 32, 44, 56, 110)
    ],
    *[(f"preact.preact_resnet{depth}", 32) for depth in (20, 32, 44, 56, 110)],
]


def test_eval_mode_restores_each_submodule_flag_even_on_error():
    model = resnet_edu.resnet20()
    model.train()
    model.layer1.eval()  # e.g. frozen BatchNorms in one stage
    before = [m.training for m in model.modules()]
    with measure.eval_mode(model) as inside:
        assert inside is model and not any(m.training for m in model.modules())
    assert [m.training for m in model.modules()] == before
    with pytest.raises(RuntimeError, match="boom"), measure.eval_mode(model):
        raise RuntimeError("boom")
    assert [m.training for m in model.modules()] == before


def test_count_params_matches_torchvision_metadata_and_trainable_only():
    model = measure.on_meta(resnet_edu.resnet50)
    assert measure.count_params(model) == get_model_weights("resnet50").DEFAULT.meta["num_params"]
    small = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))  # 16 + 10 parameters
    small[0].requires_grad_(False)
    assert measure.count_params(small) == 26
    assert measure.count_params(small, trainable_only=True) == 10


def test_on_meta_builds_without_storage():
    model = measure.on_meta(resnet_edu.CifarResNet, 20, shortcut="B")
    assert {p.device.type for p in model.parameters()} == {"meta"}
    assert isinstance(model.layer2[0].downsample[0], nn.Conv2d)


@pytest.mark.parametrize(
    "builder, kwargs, layers",
    [
        (resnet_edu.resnet50, {}, 50),
        (resnet_edu.resnet152, {}, 152),
        (resnet_edu.vgg16, {}, 16),
        (resnet_edu.CifarResNet, {"depth": 56, "shortcut": "C"}, 56),  # projections not counted
    ],
)
def test_weighted_layers_is_the_papers_depth(builder, kwargs, layers):
    assert measure.weighted_layers(measure.on_meta(builder, **kwargs)) == layers


def test_mult_adds_by_hand_on_a_small_net():
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),  # 8x8 outputs, 3*3*3 products each
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=2),  # 4x4 outputs, 3*3*4 each
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 10),
    )
    expected = 8 * 8 * 8 * 27 + 8 * 4 * 4 * 36 + 10 * 128
    assert measure.mult_adds(net, (1, 3, 8, 8)) == expected
    assert measure.mult_adds(net, (2, 3, 8, 8)) == 2 * expected  # the whole batch
    rows = measure.layer_costs(net, (1, 3, 8, 8))
    assert [r.name for r in rows] == ["0", "1", "3"]
    assert rows[1].input_shape == (1, 8, 8, 8) and rows[1].output_shape == (1, 8, 4, 4)
    assert rows[1].params == 8 * 4 * 9 + 8


@pytest.mark.parametrize("name, side", ALL_BUILDERS, ids=[name for name, _ in ALL_BUILDERS])
def test_mult_adds_are_half_the_flops_of_torchs_flop_counter(name, side):
    """torch.utils.flop_counter counts 2 FLOPs per multiply-add of a convolution or matrix
    product and nothing else (no BN, ReLU, pooling, addition or bias): exactly half of it is
    our count of conv and linear mult-adds, whatever the groups, strides and dilations."""
    builder = resnet_edu
    for part in name.split("."):
        builder = getattr(builder, part)
    model = measure.on_meta(builder)
    with FlopCounterMode(display=False) as counter:  # the same meta forward pass as ours
        ours = measure.mult_adds(model, (1, 3, side, side))
    assert counter.get_total_flops() == 2 * ours


def test_mult_adds_match_torchinfo_layer_by_layer_for_bias_free_convs():
    torchinfo = pytest.importorskip("torchinfo")
    model = measure.on_meta(resnet_edu.resnet18)
    info = torchinfo.summary(model, input_size=(1, 3, 64, 64), device="meta", verbose=0)
    convs = [row.macs for row in info.summary_list if row.class_name == "Conv2d"]
    ours = [row.mult_adds for row in measure.layer_costs(model, (1, 3, 64, 64))]
    assert ours[:-1] == convs  # the last row is fc, whose bias torchinfo also counts


def test_measuring_leaves_the_model_as_it_was():
    model = resnet_edu.resnet20().train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    measure.layer_costs(model, (2, 3, 32, 32))
    assert model.training and next(model.parameters()).device.type == "cpu"
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key  # running statistics untouched


def test_layer_table_rows_and_total():
    table = measure.layer_table(resnet_edu.resnet20(), (1, 3, 32, 32), depth=1).splitlines()
    rows = {line.split()[0]: line for line in table[1:]}
    assert list(rows)[:4] == ["conv1", "bn1", "relu", "layer1"]
    assert "(1, 32, 16, 16)" in rows["layer2"] and "(1, 10)" in rows["fc"]
    assert rows["total"].split()[1] == f"{measure.count_params(resnet_edu.resnet20()):,}"
    assert "Units" not in "\n".join(table)


def _documented(a, b):
    """Add two numbers.

    Returns their sum.
    """
    total = a + b  # the work
    return total


def test_source_drops_the_docstring_and_cuts_excerpts(capsys):
    text = measure.source(_documented, docstring=False)
    assert '"""' not in text and "total = a + b" in text and text.startswith("def _documented")
    assert measure.source(_documented, first="total", last="return") == (
        "total = a + b  # the work\nreturn total"
    )
    measure.show_source(_documented)
    assert "Returns their sum." in capsys.readouterr().out


def test_mult_adds_by_resolution_groups_by_output_map():
    vgg = measure.on_meta(resnet_edu.vgg16)
    by_side = measure.mult_adds_by_resolution(vgg)
    assert list(by_side) == [224, 112, 56, 28, 14, 1]
    assert sum(by_side.values()) == measure.mult_adds(vgg)
    # conv1_1 + conv1_2 at 224x224: 224^2 * 64 * (3 + 64) * 9 products
    assert by_side[224] == 224 * 224 * 64 * (3 + 64) * 9
    plain34 = measure.mult_adds(measure.on_meta(resnet_edu.plain34))
    assert by_side[224] + by_side[112] > plain34  # issue 12: VGG's first two stages alone
