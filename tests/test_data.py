"""resnet_edu.data: digits, CIFAR-10 (on fake files and offline), synthetic, the sampler."""

from __future__ import annotations

import io
import os
import pickle
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from sklearn.datasets import load_digits

from resnet_edu import data
from resnet_edu.data import DatasetUnavailableError, ImageTensors


def _all(loader):
    xs, ys = zip(*loader, strict=True)
    return torch.cat(xs), torch.cat(ys)


def test_digits_is_deterministic_given_seed():
    a, b, c = data.digits(seed=0), data.digits(seed=0), data.digits(seed=1)
    for loader in ("train", "test"):
        xa, ya = _all(getattr(a, loader))
        xb, yb = _all(getattr(b, loader))
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    # another seed, another split
    assert not torch.equal(_all(a.test)[0], _all(c.test)[0])


def test_digits_split_normalisation_and_shapes():
    d = data.digits(test_fraction=0.2, size=32, channels=3, batch_size=64)
    train_x, train_y = d.train.dataset.images, d.train.dataset.labels
    assert len(d.train.dataset) + len(d.test.dataset) == len(load_digits().target) == 1797
    assert len(d.test.dataset) == round(0.2 * 1797)
    # stratified: every class has the same share (to one image) in train and test
    train_counts = torch.bincount(train_y, minlength=10).float()
    test_counts = torch.bincount(d.test.dataset.labels, minlength=10).float()
    assert torch.all((test_counts / (train_counts + test_counts) - 0.2).abs() < 0.02)
    # normalised with the training statistics
    x, _ = _all(d.train)
    assert abs(x.mean().item()) < 1e-4 and abs(x.std().item() - 1) < 1e-3
    assert x.shape[1:] == (3, 32, 32) and torch.equal(x[:, 0], x[:, 2])
    assert (d.num_classes, d.in_channels, d.image_size) == (10, 3, 32)
    assert d.names == tuple("0123456789")
    train, test = d  # unpacks as a pair
    assert train is d.train and test is d.test
    assert train_x.shape == (len(train_y), 3, 32, 32)


def test_digits_images_are_the_sklearn_images():
    d = data.digits(channels=1, size=8)
    ds = d.test.dataset
    ref = torch.tensor(load_digits().images, dtype=torch.float32)
    # each stored test image is one of sklearn's, with its label
    bunch = load_digits()
    match = (ref.flatten(1)[None] == ds.images.flatten(1)[:, None]).all(-1)
    idx = match.float().argmax(1)
    assert match.any(1).all()
    assert torch.equal(torch.tensor(bunch.target)[idx], ds.labels)


@pytest.mark.parametrize(
    "kwargs",
    [{"channels": 2}, {"test_fraction": 1.0}, {"batch_size": 0}, {"size": "8"}],
)
def test_digits_rejects_bad_arguments(kwargs):
    with pytest.raises((ValueError, TypeError)):
        data.digits(**kwargs)


def test_augmentation_is_pad_crop_flip_and_a_function_of_seed_and_epoch():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8)
    ds = ImageTensors(images, torch.arange(6), mean=[0.0] * 3, std=[1.0] * 3, augment=True, pad=2)
    ds.set_epoch(3)
    for i in range(6):
        top, left = ds.offsets[i].tolist()
        padded = torch.nn.functional.pad(images[i].float(), (2, 2, 2, 2))  # zero (black) border
        ref = padded[:, top : top + 8, left : left + 8]
        ref = ref.flip(-1) if ds.flips[i] else ref
        assert torch.equal(ds[i][0], ref)
    first = torch.stack([ds[i][0] for i in range(6)])
    ds.set_epoch(4)
    assert not torch.equal(first, torch.stack([ds[i][0] for i in range(6)]))
    ds.set_epoch(3)  # coming back to an epoch gives its crops again (exact resume relies on it)
    assert torch.equal(first, torch.stack([ds[i][0] for i in range(6)]))


def test_synthetic_runs_the_cifar_path():
    d = data.synthetic(num_train=200, num_test=40, val_split=20, batch_size=32)
    x, y = next(iter(d.train))
    assert x.shape == (32, 3, 32, 32) and x.dtype == torch.float32
    assert len(d.train.dataset) == 180 and len(d.test.dataset) == 40  # 20 left out
    assert d.train.dataset.augment and not d.test.dataset.augment
    assert d.train.dataset.images.dtype == torch.uint8


def test_the_papers_preprocessing_subtracts_the_mean_image_and_pads_with_it():
    """Section 4.2: inputs "with the per-pixel mean subtracted", then pad 4, crop and flip; the
    default of cifar10 and synthetic, here on the synthetic stand-in (same code path)."""
    d = data.synthetic(num_train=60, num_test=20, val_split=10, batch_size=50, seed=3)
    train, test = d.train.dataset, d.test.dataset
    mean = train.images.double().mean(dim=0)  # the 50 kept training images' mean image
    assert train.mean.shape == (3, 32, 32) and torch.allclose(train.mean.double(), mean, atol=1e-4)
    assert torch.equal(test.mean, train.mean)  # the test images lose the training mean
    x, _ = _all(d.test)
    assert torch.allclose(x, (test.images.float() - train.mean) / 255)  # pixels on a 0..1 scale
    train.set_epoch(2)
    for i in range(len(train)):
        top, left = train.offsets[i].tolist()
        shifted = torch.nn.functional.pad((train.images[i].float() - train.mean) / 255, (4,) * 4)
        ref = shifted[:, top : top + 32, left : left + 32]
        assert torch.equal(train[i][0], ref.flip(-1) if train.flips[i] else ref)
    # a crop from the top-left corner has a 4-pixel border of zeros: the mean, not black
    corner = next(i for i in range(len(train)) if train.offsets[i].tolist()[0] == 0)
    assert train[corner][0][:, :4].abs().max() == 0
    # the per-channel alternative pads the raw image with black instead
    other = data.synthetic(num_train=60, num_test=20, batch_size=50, seed=3, normalize="channel")
    other.train.dataset.set_epoch(2)
    i = next(i for i in range(60) if other.train.dataset.offsets[i].tolist()[0] == 0)
    black = (0 - other.train.dataset.mean) / other.train.dataset.std  # (3, 1, 1)
    assert torch.allclose(other.train.dataset[i][0][:, :4], black.expand(3, 4, 32))
    with pytest.raises(ValueError, match="normalize"):
        data.synthetic(normalize="per_pixel")
    with pytest.raises(ValueError, match="per-pixel mean"):
        ImageTensors(train.images, train.labels, mean=train.mean[:, :8], std=[1.0] * 3)


def _write_fake_cifar(root, per_batch=30, test=40, seed=0):
    """A tiny CIFAR-10 in torchvision's on-disk format (five training batches and a test one)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name, n in [*[(f"data_batch_{i}", per_batch) for i in range(1, 6)], ("test_batch", test)]:
        batch = {
            "data": rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8),
            "labels": [i % 10 for i in range(n)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": list(data.CIFAR10_CLASSES)}, f)
    return folder


def test_cifar10_on_files_in_torchvisions_format(tmp_path, monkeypatch):
    """The full-mode code path, on a 150-image stand-in so that it cannot rot."""
    folder = _write_fake_cifar(tmp_path)
    # our files have other MD5 sums than the real ones; everything else is torchvision's code
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)
    d = data.cifar10(tmp_path, normalize="channel", val_split=20, batch_size=16, test_batch_size=8)
    assert (len(d.train.dataset), len(d.test.dataset)) == (130, 40)  # 20 of 150 left out
    assert d.names == data.CIFAR10_CLASSES and (d.num_classes, d.in_channels) == (10, 3)
    # stratified: 2 of each class's 15 training images left out
    assert torch.bincount(d.train.dataset.labels).tolist() == [13] * 10
    # images are the file's bytes in NCHW order, normalised with the 130 training images' stats
    with open(folder / "test_batch", "rb") as f:
        raw = torch.from_numpy(pickle.load(f)["data"]).view(-1, 3, 32, 32)
    assert torch.equal(d.test.dataset.images, raw)
    train_raw = d.train.dataset.images.double()
    mean = train_raw.mean(dim=(0, 2, 3))
    assert torch.allclose(d.train.dataset.mean.flatten().double(), mean, atol=1e-4)
    x, _ = next(iter(d.test))
    ref = (raw[:8].float() - d.test.dataset.mean) / d.test.dataset.std
    assert torch.allclose(x, ref)
    assert d.train.dataset.augment


def test_cifar10_missing_files_give_one_clear_error(tmp_path):
    with pytest.raises(DatasetUnavailableError) as info:
        data.cifar10(tmp_path / "nothing here")
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert "nothing here" in message and "download=True" in message
    assert "cifar-10-batches-py" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_cifar10_download_offline_fails_cleanly(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))

    # torchvision downloads through urllib.request.urlopen; no real connection is tried
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DatasetUnavailableError, match="could not be downloaded") as info:
        data.cifar10(tmp_path, download=True)
    assert "name resolution" in str(info.value)
    assert info.value.__suppress_context__


class _Response(io.BytesIO):
    """What urllib.request.urlopen returns, as far as committed_file uses it."""


def _offline(*args, **kwargs):
    raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A kernel outside any checkout: an empty current folder, no RESNET_EDU_SOURCE."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RESNET_EDU_SOURCE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(urllib.request, "urlopen", _offline)  # nothing reaches the network
    return tmp_path


def test_committed_file_is_read_from_the_checkout(elsewhere, monkeypatch):
    name = "ch7_long_run.json"
    repo = {"repo_url": "https://github.com/o/r", "branch": "main"}
    book = Path(__file__).resolve().parents[1] / "book"
    monkeypatch.chdir(book)  # a chapter's kernel runs in book/
    assert data.committed_file(name, **repo) == book / "_data" / name
    monkeypatch.chdir(book.parent)
    assert data.committed_file(name, **repo) == book / "_data" / name
    (elsewhere / "clone" / "book" / "_data").mkdir(parents=True)
    (elsewhere / "clone" / "book" / "_data" / "x.json").write_text("{}")
    monkeypatch.chdir(elsewhere)
    for source in (str(elsewhere / "clone"), (elsewhere / "clone").as_uri()):
        monkeypatch.setenv("RESNET_EDU_SOURCE", source)
        assert data.committed_file("x.json", **repo) == elsewhere / "clone/book/_data/x.json"


def test_committed_file_is_downloaded_from_the_branch_elsewhere(elsewhere, monkeypatch):
    asked = []

    def serve(url, timeout):
        asked.append(url)
        return _Response(b'{"runs": []}')

    monkeypatch.setattr(urllib.request, "urlopen", serve)
    path = data.committed_file("x.json", repo_url="https://github.com/o/r/", branch="b2")
    assert asked == ["https://raw.githubusercontent.com/o/r/b2/book/_data/x.json"]
    assert path == elsewhere / "cache" / "resnet_edu" / "x.json"
    assert path.read_bytes() == b'{"runs": []}' and os.listdir(path.parent) == ["x.json"]
    data.committed_file("x.json", repo_url="https://git.example.org/o/r.git", branch="main")
    assert asked[-1] == "https://git.example.org/o/r/raw/main/book/_data/x.json"


def test_committed_file_offline_is_one_clear_line(elsewhere):
    with pytest.raises(DatasetUnavailableError) as info:
        data.committed_file("x.json", repo_url="https://github.com/o/r", branch="main")
    message = str(info.value)
    assert "\n" not in message and "book/_data/x.json is not in a checkout" in message
    assert "raw.githubusercontent.com/o/r/main/book/_data/x.json" in message
    assert "name resolution" in message and not (elsewhere / "cache").exists()


@pytest.mark.parametrize("name", ["../x.json", "sub/x.json", "", 3])
def test_committed_file_names_a_file_of_book_data(elsewhere, name):
    with pytest.raises((ValueError, TypeError), match="name must be"):
        data.committed_file(name, repo_url="https://github.com/o/r", branch="main")
