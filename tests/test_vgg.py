"""The VGGs are torchvision's VGGs: same init, state dicts, outputs (dropout included), FLOPs."""

from __future__ import annotations

import pytest
import torch
import torchinfo
import torchvision
from model_helpers import assert_same_buffers, assert_same_tensors, count_params, randomize_norms
from torchvision.models import get_model_weights

import resnet_edu
from resnet_edu.vgg import VGG, VGG_BUILDERS, VGG_CONFIGS

NAMES = list(VGG_BUILDERS)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_matches_torchvision(name):
    torch.manual_seed(0)  # init_weights=False: PyTorch's default init is enough, and 2x faster
    ref = randomize_norms(torchvision.models.get_model(name, init_weights=False))
    with torch.device("meta"):
        ours = VGG_BUILDERS[name]()
    ours = ours.to_empty(device="cpu")
    ours.load_state_dict(ref.state_dict(), strict=True)  # same keys, shapes and buffers
    assert count_params(ours) == get_model_weights(name).DEFAULT.meta["num_params"]
    assert getattr(resnet_edu, name) is VGG_BUILDERS[name]

    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ours.eval(), ref.eval()
        torch.testing.assert_close(ours(x), ref(x))
        ours.train(), ref.train()  # dropout: the same masks need the same random state
        torch.manual_seed(1)
        out_ours = ours(x)
        torch.manual_seed(1)
        torch.testing.assert_close(out_ours, ref(x))
        assert_same_buffers(ours, ref)
        torch.manual_seed(2)
        assert not torch.allclose(ours(x), out_ours)  # dropout really is on


@pytest.mark.parametrize("name", ["vgg11_bn"])
def test_same_initialisation_as_torchvision(name):
    torch.manual_seed(0)
    ours = VGG_BUILDERS[name]()
    torch.manual_seed(0)
    ref = torchvision.models.get_model(name)
    assert_same_tensors(ours.state_dict(), ref.state_dict())


@pytest.mark.parametrize("name", NAMES)
def test_mult_adds_match_torchvision_metadata(name):
    """torchinfo also counts conv biases and BN: < 0.2% here, inside the 1% bound."""
    with torch.device("meta"):
        model = VGG_BUILDERS[name]()
    summary = torchinfo.summary(model, input_size=(1, 3, 224, 224), verbose=0, device="meta")
    expected = get_model_weights(name).DEFAULT.meta["_ops"]
    assert summary.total_mult_adds / 1e9 == pytest.approx(expected, rel=0.01)


def test_configs_are_torchvisions():
    from torchvision.models import vgg as tv_vgg

    assert VGG_CONFIGS == tv_vgg.cfgs


def test_small_inputs_and_grey_images():
    with torch.device("meta"):  # shapes only: VGG's classifier alone has 120M parameters
        model = VGG("A", num_classes=10, in_channels=1)
        assert model(torch.randn(2, 1, 32, 32)).shape == (2, 10)
    assert model.features[0].weight.shape == (64, 1, 3, 3)
