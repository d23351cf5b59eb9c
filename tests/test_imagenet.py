"""The ImageNet ResNets are torchvision's ResNets: same init, state dicts, outputs, params, FLOPs.

torchvision is the reference answer: its randomly initialised models (seeded identically), its
weight metadata (``num_params``, ``_ops``) read from the installed package, and its weight files
(faked offline in a temporary hub cache). The paper's Table 1 FLOPs come from ``resnet_edu.paper``
(tests/test_paper.py checks them). Mult-adds are counted with torchinfo here, independently of
``resnet_edu.measure``.
"""

from __future__ import annotations

import os
import urllib.error

import pytest
import torch
import torchinfo
import torchvision
from model_helpers import assert_same_buffers, assert_same_tensors, count_params, randomize_norms
from torchvision.models import get_model_weights

import resnet_edu
from resnet_edu.imagenet import IMAGENET_BUILDERS, stage_plan
from resnet_edu.measure import on_meta
from resnet_edu.paper import TABLE1_GMACS
from resnet_edu.weights import WeightsDownloadError, resolve_weights

ARCHS = list(IMAGENET_BUILDERS)
#: Each code path once: BasicBlock (18, 34), Bottleneck (50), grouped Bottleneck (ResNeXt). The
#: others only stack more of the same blocks; their state dicts are compared on the meta device
#: (test_state_dict_is_torchvisions), their outputs only in the slow run.
CORE = {"resnet18", "resnet34", "resnet50", "resnext50_32x4d"}
PARAMS = [n if n in CORE else pytest.param(n, marks=pytest.mark.slow) for n in ARCHS]

pytestmark = pytest.mark.usefixtures("one_thread")


def twins(name: str, **kwargs):
    """Our model and torchvision's, each built right after ``torch.manual_seed(0)``."""
    torch.manual_seed(0)
    ours = IMAGENET_BUILDERS[name](**kwargs)
    torch.manual_seed(0)
    ref = torchvision.models.get_model(name, **kwargs)
    return ours, ref


def mult_adds(model: torch.nn.Module, size: int = 224) -> float:
    """torchinfo's multiply-adds for one image, in units of 1e9.

    torchinfo counts conv and linear weights *and biases* and the BN affine parameters;
    torchvision's ``_ops`` counts conv and linear multiply-adds only (a dispatch-level counter,
    torchvision PR #6936). The extra terms are < 0.1% of the total for these nets, so a 1%
    bound is honest.
    """
    summary = torchinfo.summary(model, input_size=(1, 3, size, size), verbose=0, device="meta")
    return summary.total_mult_adds / 1e9


def test_every_builder_is_exported_and_has_torchvision_weights():
    for name in ARCHS:
        assert getattr(resnet_edu, name) is IMAGENET_BUILDERS[name]
        assert get_model_weights(name).DEFAULT.meta["num_params"] > 0


@pytest.mark.parametrize("name", ARCHS)
def test_state_dict_is_torchvisions(name):
    ours = on_meta(IMAGENET_BUILDERS[name])
    ref = on_meta(torchvision.models.get_model, name)
    shapes = {key: value.shape for key, value in ours.state_dict().items()}
    assert list(shapes.items()) == [(k, v.shape) for k, v in ref.state_dict().items()]
    assert count_params(ours) == get_model_weights(name).DEFAULT.meta["num_params"]


@pytest.mark.parametrize("name", PARAMS)
def test_matches_torchvision(name):
    torch.manual_seed(0)
    ref = randomize_norms(torchvision.models.get_model(name))
    ours = on_meta(IMAGENET_BUILDERS[name]).to_empty(device="cpu")
    ours.load_state_dict(ref.state_dict(), strict=True)  # same keys, shapes and buffers
    assert count_params(ours) == get_model_weights(name).DEFAULT.meta["num_params"]

    x = torch.randn(2, 3, 32, 32)
    ours.eval(), ref.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x))
        ours.train(), ref.train()  # batch statistics, and the running averages they update
        torch.testing.assert_close(ours(x), ref(x))
    assert_same_buffers(ours, ref)


@pytest.mark.parametrize("name", sorted(CORE))
def test_same_initialisation_as_torchvision(name):
    ours, ref = twins(name)
    assert_same_tensors(ours.state_dict(), ref.state_dict())  # He init, draw for draw


@pytest.mark.parametrize("name", ["resnet18", "resnext50_32x4d"])
def test_gradients_match_torchvision(name):
    ours, ref = twins(name)
    randomize_norms(ours), randomize_norms(ref)
    x = torch.randn(2, 3, 32, 32)
    ours(x).square().mean().backward()
    ref(x).square().mean().backward()
    ref_params = dict(ref.named_parameters())
    for key, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, ref_params[key].grad, msg=key)


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("resnet18", {"zero_init_residual": True}),
        ("resnet50", {"zero_init_residual": True}),
        ("resnet50", {"replace_stride_with_dilation": [False, True, True]}),
        ("resnet34", {"num_classes": 10}),
    ],
)
def test_torchvision_keyword_arguments(name, kwargs):
    ours, ref = twins(name, **kwargs)
    assert_same_tensors(ours.state_dict(), ref.state_dict())
    randomize_norms(ref)
    ours.load_state_dict(ref.state_dict(), strict=True)
    ours.eval(), ref.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x))


@pytest.mark.parametrize("name", ARCHS)
def test_mult_adds_match_torchvision_metadata(name):
    expected = get_model_weights(name).DEFAULT.meta["_ops"]  # GFLOPS, in fact GMACs
    assert mult_adds(on_meta(IMAGENET_BUILDERS[name])) == pytest.approx(expected, rel=0.01)


def test_stride_placement_is_what_separates_paper_and_torchvision_resnet50():
    v15 = on_meta(resnet_edu.resnet50)
    paper = on_meta(resnet_edu.resnet50, stride_in_1x1=True)
    assert count_params(v15) == count_params(paper)  # the same weights, strided differently
    assert mult_adds(v15) > 1.03 * TABLE1_GMACS["resnet50"]  # v1.5 is not Table 1
    assert paper.layer2[0].conv1.stride == (2, 2) and paper.layer2[0].conv2.stride == (1, 1)
    assert v15.layer2[0].conv1.stride == (1, 1) and v15.layer2[0].conv2.stride == (2, 2)


@pytest.mark.parametrize("depth", [18, 34])
def test_plain_nets_are_resnets_without_shortcuts(depth):
    plain = on_meta(getattr(resnet_edu, f"plain{depth}"))
    resnet = on_meta(getattr(resnet_edu, f"resnet{depth}"))
    plain_sd, resnet_sd = plain.state_dict(), resnet.state_dict()
    # Exactly the projection shortcuts are missing; every other tensor has the same shape.
    assert set(plain_sd) == {k for k in resnet_sd if ".downsample." not in k}
    assert any(".downsample." in k for k in resnet_sd)
    assert all(plain_sd[k].shape == resnet_sd[k].shape for k in plain_sd)
    assert all(not block.residual for stage in (plain.layer1, plain.layer4) for block in stage)
    assert plain(torch.randn(2, 3, 64, 64, device="meta")).shape == (2, 1000)


def test_stage_plan_is_torchvision_dilation_rule():
    plan = stage_plan([3, 4, 6, 3], [False, True, True])
    assert [(s.stride, s.first_dilation, s.dilation) for s in plan] == [
        (1, 1, 1),
        (2, 1, 1),
        (1, 1, 2),
        (1, 2, 4),
    ]


def test_in_channels_changes_only_the_stem():
    model = resnet_edu.resnet18(in_channels=1, num_classes=10)
    assert model.conv1.weight.shape == (64, 1, 7, 7)
    assert model(torch.randn(2, 1, 64, 64)).shape == (2, 10)


# --- pretrained weights, offline -----------------------------------------------------------


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    """An empty torch hub cache in a temporary folder."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    if not torch.hub.get_dir().startswith(str(tmp_path)):  # someone called torch.hub.set_dir
        monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    return torch.hub.get_dir()


def test_weights_names_resolve_like_torchvision():
    enum = torchvision.models.ResNet50_Weights
    assert resolve_weights("resnet50", "DEFAULT") is enum.DEFAULT is enum.IMAGENET1K_V2
    assert resolve_weights("resnet50", "IMAGENET1K_V1") is enum.IMAGENET1K_V1
    assert resolve_weights("resnet50", "ResNet50_Weights.IMAGENET1K_V1") is enum.IMAGENET1K_V1
    assert resolve_weights("resnet50", enum.IMAGENET1K_V2) is enum.IMAGENET1K_V2
    assert resolve_weights("resnet50", None) is None


def test_offline_download_fails_with_a_clear_message(hub_dir, monkeypatch):
    def no_network(url, dst, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    filename = os.path.basename(weights.url)
    with pytest.raises(WeightsDownloadError) as info:
        resnet_edu.resnet18(weights="DEFAULT", progress=False)
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert filename in message and weights.url in message
    assert os.path.join(hub_dir, "checkpoints", filename) in message
    assert "Colab" in message and "name resolution" in message
    assert info.value.__suppress_context__  # no chained socket traceback


def test_weights_load_from_the_hub_cache_with_hash_check(hub_dir, monkeypatch):
    """The whole weights path, offline: a torchvision state dict "downloaded" into the cache."""
    torch.manual_seed(0)
    ref = randomize_norms(torchvision.models.resnet18())
    hash_prefixes = []

    def fake_download(url, dst, hash_prefix=None, progress=True):
        hash_prefixes.append(hash_prefix)
        torch.save(ref.state_dict(), dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    model = resnet_edu.resnet18(weights=weights, progress=False)
    # torchvision's check_hash=True passed on: the hash prefix is the one in the file name.
    assert hash_prefixes == [os.path.basename(weights.url).split("-")[1].split(".")[0]]
    assert_same_tensors(model.state_dict(), ref.state_dict())
    assert model.fc.out_features == len(weights.meta["categories"])
