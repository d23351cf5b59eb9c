"""resnet_edu.weights: pretrained weights load safely (hash checked, weights_only=True)."""

from __future__ import annotations

import hashlib
import os

import pytest
import torch
import torchvision

import resnet_edu
from resnet_edu.weights import WeightsFileError, load_weights_file


class _Payload:
    """Pickles into a call of ``open(marker, "w")``: proof of code run at load time."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    """An empty torch hub cache in a temporary folder."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # let TORCH_HOME decide
    return torch.hub.get_dir()


def test_a_planted_file_in_the_cache_is_refused_and_never_run(hub_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "download_url_to_file", pytest.fail)  # no network use
    marker = tmp_path / "payload-ran"
    filename = os.path.basename(torchvision.models.ResNet18_Weights.DEFAULT.url)
    assert filename == "resnet18-f37072fd.pth"
    planted = os.path.join(hub_dir, "checkpoints", filename)
    os.makedirs(os.path.dirname(planted))
    torch.save({"fc.weight": _Payload(str(marker))}, planted)
    # what torchvision's own loader does with the file: the payload runs
    torch.load(planted, weights_only=False)
    assert marker.exists()
    marker.unlink()
    with pytest.raises(WeightsFileError, match="not the published file.*f37072fd"):
        resnet_edu.resnet18(weights="DEFAULT", progress=False)
    assert not marker.exists()


def test_a_file_with_code_but_the_right_name_is_still_not_run(tmp_path):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "weights.pth"  # no hash in the name: only weights_only protects
    torch.save({"w": _Payload(str(marker))}, path)
    with pytest.raises(WeightsFileError, match="not a plain weights file.*nothing in it was run"):
        load_weights_file(path)
    assert not marker.exists()
    # a hash in the name is checked first, before anything is read as a pickle
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
    named = tmp_path / f"weights-{digest}.pth"
    path.rename(named)
    with pytest.raises(WeightsFileError, match="not a plain weights file"):
        load_weights_file(named)
    assert not marker.exists()


def test_a_cached_file_with_the_right_hash_loads(hub_dir, monkeypatch):
    monkeypatch.setattr(torch.hub, "download_url_to_file", pytest.fail)  # cached: no download
    torch.manual_seed(0)
    ref = torchvision.models.resnet18()
    tmp = os.path.join(hub_dir, "plain.pth")
    os.makedirs(hub_dir, exist_ok=True)
    torch.save(ref.state_dict(), tmp)
    digest = hashlib.sha256(open(tmp, "rb").read()).hexdigest()[:8]
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    monkeypatch.setattr(type(weights), "url", property(lambda self: f"https://x/r18-{digest}.pth"))
    os.makedirs(os.path.join(hub_dir, "checkpoints"))
    os.replace(tmp, os.path.join(hub_dir, "checkpoints", f"r18-{digest}.pth"))
    model = resnet_edu.resnet18(weights=weights, progress=False)
    for key, value in ref.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


#: Bad weights arguments: (error, argument named in the message, builder name, kwargs).
WEIGHTS_CASES = [
    (ValueError, "weights", "resnet50", {"weights": "IMAGENET1K_V3"}),
    (ValueError, "weights", "resnet50", {"weights": "imagenet"}),
    (ValueError, "weights", "resnet50", {"weights": "ResNet18_Weights.IMAGENET1K_V1"}),
    (TypeError, "weights", "resnet50", {"weights": True}),
    (ValueError, "num_classes", "resnet50", {"weights": "DEFAULT", "num_classes": 10}),
    (ValueError, "stride_in_1x1", "resnet50", {"weights": "DEFAULT", "stride_in_1x1": True}),
    (ValueError, "residual", "resnet18", {"weights": "DEFAULT", "residual": False}),
    (ValueError, "in_channels", "resnet18", {"weights": "DEFAULT", "in_channels": 1}),
    (ValueError, "weights", "vgg16", {"weights": "IMAGENET1K_V2"}),
    (ValueError, "num_classes", "vgg11", {"weights": "DEFAULT", "num_classes": 10}),
    (ValueError, "groups", "resnext50_32x4d", {"weights": "DEFAULT", "groups": 4}),
]


@pytest.mark.parametrize("error, argument, name, kwargs", WEIGHTS_CASES)
def test_bad_weights_fail_before_any_download(error, argument, name, kwargs, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("a bad argument must fail before downloading")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    with pytest.raises(error, match=argument) as info, torch.device("meta"):
        getattr(resnet_edu, name)(**kwargs)
    if argument == "weights" and error is ValueError:
        assert "DEFAULT" in str(info.value)  # the valid names are listed


def test_weights_of_another_architecture():
    with pytest.raises(ValueError, match="weights.*ResNet50_Weights") as info:
        resnet_edu.resnet50(weights=torchvision.models.ResNet18_Weights.IMAGENET1K_V1)
    assert "IMAGENET1K_V2" in str(info.value)
