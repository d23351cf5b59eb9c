"""Diagrams reflect the model they are drawn from: change the model and the drawing changes.

The layouts (``resnet_edu.layouts``) are plain data and are tested as data; the figures
(``resnet_edu.diagrams``) are tested for drawing exactly their layouts.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import ast
import dataclasses
import importlib.util
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from resnet_edu import diagrams as D
from resnet_edu import layouts as L
from resnet_edu import plain34, resnet34, resnet50, resnet56, vgg19
from resnet_edu.blocks import BasicBlock, Bottleneck, ZeroPadShortcut, make_shortcut
from resnet_edu.cifar import CifarResNet
from resnet_edu.measure import on_meta
from resnet_edu.plots import PLAIN_COLOR, RESIDUAL_COLOR
from resnet_edu.preact import PreActBlock


@pytest.fixture(scope="module")
def cifar56():
    return resnet56()


def _boxes(fig) -> int:
    return sum(p.get_gid() == "box" for ax in fig.axes for p in ax.patches)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_basic_block_layout_follows_forward_order_and_widths():
    lay = L.block_layout(BasicBlock(16, 32, 2, make_shortcut("A", 16, 32, 2)))
    assert [s.kind for s in lay.steps] == ["conv", "norm", "relu", "conv", "norm", "add", "relu"]
    assert lay.widths == (16, 32, 32)
    assert [s.stride for s in lay.steps if s.kind == "conv"] == [2, 1]
    assert lay.steps[0].label == "3×3 conv, 32, /2"
    assert lay.shortcut.kind == "zero-pad" and lay.shortcut.stride == 2
    assert lay.shortcut.source == -1 and lay.steps[lay.shortcut.target].kind == "add"


def test_plain_block_has_no_shortcut_and_no_addition():
    lay = L.block_layout(BasicBlock(64, 64, residual=False))
    assert lay.shortcut is None and not lay.residual
    assert "add" not in [s.kind for s in lay.steps]


def test_bottleneck_widths_and_projection():
    assert L.block_layout(Bottleneck(256, 64)).widths == (256, 64, 64, 256)
    lay = L.block_layout(Bottleneck(256, 128, 2, make_shortcut("B", 256, 512, 2)))
    assert lay.widths == (256, 128, 128, 512)
    assert lay.shortcut.kind == "projection" and lay.shortcut.stride == 2
    assert "1×1 conv, 512, /2 + BN" in lay.shortcut.label.replace("\n", " ")


def test_preactivation_order_and_shortcut_source():
    post = L.block_layout(BasicBlock(64, 64))
    pre = L.block_layout(PreActBlock(64, 64))
    assert [s.kind for s in post.steps][:2] == ["conv", "norm"]
    assert [s.kind for s in pre.steps] == ["norm", "relu", "conv", "norm", "relu", "conv", "add"]
    # a projection unit's shortcut leaves after the first BN-ReLU (the authors' code)
    proj = L.block_layout(PreActBlock(16, 32, 2, make_shortcut("B", 16, 32, 2)))
    assert proj.steps[proj.shortcut.source].kind == "relu"


def test_block_figure_draws_one_box_per_step_and_the_family_colour():
    blocks = [BasicBlock(64, 64, residual=False), BasicBlock(64, 64)]
    fig = D.block_figure(blocks, titles=["plain", "residual"])
    assert _boxes(fig) == sum(len(lay.steps) for lay in fig.layouts) == 6 + 7
    edges = {matplotlib.colors.to_hex(p.get_edgecolor()) for p in fig.axes[0].patches}
    assert PLAIN_COLOR.lower() in edges and RESIDUAL_COLOR.lower() not in edges
    assert _boxes(D.block_figure(Bottleneck(256, 64))) == 10  # 3 x (conv, BN, ReLU) + add


def test_network_layout_resnet34_matches_the_paper():
    lay = L.network_layout(on_meta(resnet34))
    assert lay.weighted == 34 and len(lay.blocks) == 16
    convs = [layer for layer in lay.layers if layer.kind == "conv"]
    assert convs[0].label == "7×7 conv, 64, /2" and convs[0].resolution == 112
    assert lay.resolutions == (112, 56, 28, 14, 7, 1)
    kinds = [b.shortcut for b in lay.blocks]
    assert kinds.count("projection") == 3 and kinds.count("identity") == 13
    assert [b.stage for b in lay.blocks].count("layer3") == 6
    plain = L.network_layout(on_meta(plain34))
    assert plain.family == "plain" and all(b.shortcut is None for b in plain.blocks)
    assert [x.label for x in plain.layers] == [x.label for x in lay.layers]


def test_network_layout_changes_with_the_model():
    vgg = L.network_layout(on_meta(vgg19))
    assert vgg.weighted == 19 and vgg.family == "other" and not vgg.blocks
    assert vgg.resolutions[0] == 224
    cifar = L.network_layout(CifarResNet(20, widths=(8, 16, 32)), input_size=32)
    assert cifar.weighted == 20 and cifar.resolutions == (32, 16, 8, 1)
    assert {x.out_channels for x in cifar.layers if x.kind == "conv"} == {8, 16, 32}
    assert [b.shortcut for b in cifar.blocks].count("zero-pad") == 2
    wider = L.network_layout(CifarResNet(32, widths=(16, 32, 64)), input_size=64)
    assert wider.weighted == 32 and wider.resolutions == (64, 32, 16, 1)


def test_network_figure_draws_every_layer(cifar56):
    models = [on_meta(vgg19), on_meta(plain34), on_meta(resnet34)]
    fig = D.network_figure(models, ["VGG-19", "plain-34", "ResNet-34"])
    assert _boxes(fig) == sum(len(lay.layers) for lay in fig.layouts)
    fig = D.network_figure(cifar56, input_size=32)
    assert _boxes(fig) == 57  # conv1, 54 convs in blocks, global pool, fc
    assert fig.layouts[0].weighted == 56


def test_stage_map_of_resnet50():
    fig = D.stage_map_figure(on_meta(resnet50), title="ResNet-50")
    lay = fig.layouts[0]
    assert [b.widths for b in lay.blocks][0] == (64, 64, 64, 256)
    assert lay.blocks[3].widths == (256, 128, 128, 512)
    assert _boxes(fig) == 16 + 2  # one box per block, stem and head
    with pytest.raises(ValueError, match="no residual blocks"):
        D.stage_map_figure(on_meta(vgg19))


def test_zero_pad_layout_is_read_off_the_module():
    lay = L.zero_pad_layout(ZeroPadShortcut(16, 32, 2), size=4)
    assert lay.kept == ((0, 0), (0, 2), (2, 0), (2, 2))
    assert lay.zero_channels == tuple(range(16, 32))
    lay3 = L.zero_pad_layout(ZeroPadShortcut(4, 10, 3), size=6)
    assert lay3.kept == ((0, 0), (0, 3), (3, 0), (3, 3)) and len(lay3.zero_channels) == 6
    block = BasicBlock(16, 32, 2, make_shortcut("A", 16, 32, 2))
    assert L.zero_pad_layout(block).stride == 2
    fig = D.zero_pad_figure(ZeroPadShortcut(16, 32, 2), size=6)
    assert _boxes(fig) == 36 + 9 + 32


def test_unravelled_paths_count_only_residual_blocks(cifar56):
    lay = L.unravelled_layout(cifar56.layer1[:3])
    assert len(lay.paths) == 8 and {p.through for p in lay.paths} >= {(), (0, 1, 2)}
    mixed = [BasicBlock(8, 8), BasicBlock(8, 8, residual=False), BasicBlock(8, 8)]
    lay = L.unravelled_layout(mixed)
    assert len(lay.paths) == 4 and all(1 in p.through for p in lay.paths)
    fig = D.unravelled_figure(cifar56.layer1[:2])
    assert _boxes(fig) == 2 + sum(len(p.through) for p in fig.layouts[0].paths)


def test_bad_input_raises_naming_the_argument(cifar56):
    with pytest.raises(TypeError, match="block must be a residual block"):
        L.block_layout(nn.Conv2d(3, 3, 3))
    with pytest.raises(TypeError, match="block must be a torch.nn.Module"):
        L.block_layout("resnet")
    with pytest.raises(ValueError, match="titles must be a list of 2"):
        D.block_figure([BasicBlock(8, 8), BasicBlock(8, 8)], titles=["one"])
    with pytest.raises(ValueError, match="input_size"):
        L.network_layout(on_meta(vgg19), input_size=16)
    with pytest.raises(TypeError, match="input_size must be an int"):
        L.network_layout(on_meta(resnet34), input_size=224.0)
    with pytest.raises(TypeError, match="shortcut must be a ZeroPadShortcut"):
        L.zero_pad_layout(nn.Identity())
    with pytest.raises(ValueError, match="1 to 6 blocks"):
        L.unravelled_layout(cifar56.layer1)
    with pytest.raises(ValueError, match="models must be"):
        D.network_figure([])


def test_layout_does_not_touch_the_model():
    model = resnet56()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    L.network_layout(model, input_size=32)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def _imported(module: str, seen: set[str]) -> set[str]:
    """Every module that ``module`` imports, following resnet_edu's own modules (read, not run)."""
    tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [("resnet_edu." if node.level else "") + (node.module or "")]
        else:
            continue
        for name in set(names) - seen:
            seen.add(name)
            if name.startswith("resnet_edu."):
                _imported(name, seen)
    return seen


def test_layouts_are_plain_data_without_a_plotting_library():
    imported = _imported("resnet_edu.layouts", set())
    assert "resnet_edu.gradflow" in imported  # the walk follows the package's modules
    assert not {name for name in imported if name.split(".")[0] == "matplotlib"}
    lay = L.block_layout(BasicBlock(8, 8))
    with pytest.raises(dataclasses.FrozenInstanceError):
        lay.title = "changed"
