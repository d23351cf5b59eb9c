"""Data for the experiments: offline digits, CIFAR-10, a synthetic stand-in (chapters 1, 3, 7-9).

Three sources, one shape. Each builder returns a :class:`Loaders` whose ``train`` and ``test``
are ordinary ``torch.utils.data.DataLoader`` objects, plus what a notebook needs to build a model
for it (``num_classes``, ``in_channels``, ``image_size``, ``names``):

* :func:`digits` -- scikit-learn's bundled 1,797 handwritten 8x8 digits: real data, no network,
  a few seconds per epoch on a laptop CPU. Optionally resized to 32x32 and repeated to 3
  channels so that the paper's CIFAR nets run on it unchanged.
* :func:`cifar10` -- torchvision's CIFAR-10 with the paper's recipe (section 4.2): inputs "with
  the per-pixel mean subtracted"; "4 pixels are padded on each side, and a 32x32 crop is randomly
  sampled from the padded image or its horizontal flip"; and a 45k/5k train/validation split.
* :func:`synthetic` -- random CIFAR-shaped images for speed measurements, and to run the CIFAR
  code path in tests without the real files.

All images live in memory as one tensor (:class:`ImageTensors`). The random crop and flip of
image ``i`` in epoch ``e`` is a pure function of ``(seed, e, i)``, drawn for the whole epoch at
once by :meth:`ImageTensors.set_epoch`. That is what lets :func:`resnet_edu.train.fit` resume a
killed run bit for bit, with or without DataLoader worker processes.
"""

from __future__ import annotations

import os
import pickle
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ._checks import check_bool, check_choice, check_int, check_positive_number
from .checkpoint import atomic_write_bytes

__all__ = [
    "CIFAR10_CLASSES",
    "DatasetUnavailableError",
    "ImageTensors",
    "Loaders",
    "cifar10",
    "committed_file",
    "digits",
    "synthetic",
]

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


class DatasetUnavailableError(RuntimeError):
    """The dataset's files are missing (or unreadable) and could not be downloaded."""


#: Largest side ``digits(size=...)`` accepts: 1,797 images x 3 channels x 128^2 floats = 353 MB.
MAX_DIGITS_SIZE = 128


def _check_args(
    *, positive: dict[str, object], non_negative: dict[str, object], flags: dict[str, object]
) -> None:
    """Ints >= 1, ints >= 0 and bools, each named in its error."""
    for name, value in positive.items():
        check_int(name, value, minimum=1)
    for name, value in non_negative.items():
        check_int(name, value, minimum=0)
    for name, value in flags.items():
        check_bool(name, value)


def _check_split(name: str, held_out: int, total: int, classes: int) -> None:
    """A stratified split needs at least one image per class on each side."""
    if held_out < classes or total - held_out < classes:
        raise ValueError(
            f"{name} leaves {held_out} of {total} images on one side and {total - held_out} on "
            f"the other; a stratified split of {classes} classes needs >= {classes} on each side"
        )


@dataclass(frozen=True)
class Loaders:
    """Train and test loaders of one dataset, and what a model for it needs to know.

    Unpacks like a pair: ``train, test = digits()``.

    Attributes:
        train: shuffled training batches ``(images, labels)``.
        test: test batches in a fixed order (the paper's CIFAR-10 test set; digits' held-out part).
        num_classes: number of labels.
        in_channels: image channels (the ``in_channels`` of the model).
        image_size: height = width of the images.
        names: one human-readable name per label.

    Example:
        >>> data = digits(size=32)
        >>> model = resnet_edu.resnet20(num_classes=data.num_classes, in_channels=data.in_channels)
    """

    train: DataLoader
    test: DataLoader
    num_classes: int
    in_channels: int
    image_size: int
    names: tuple[str, ...]

    def __iter__(self) -> Iterator[DataLoader]:
        return iter((self.train, self.test))


class ImageTensors(Dataset):
    """Images held in one tensor, normalised per item, with the paper's optional augmentation.

    An item is ``(image - mean) / std``. With a per-channel ``mean`` the raw image is padded
    with zeros (a black border) before it is normalised; with a per-pixel ``mean`` (a ``(C, H,
    W)`` tensor) the mean is subtracted first, so the border is zero after normalising: the
    mean, as when one pads an image whose per-pixel mean was already subtracted.

    Args:
        images: ``(N, C, H, W)`` uint8 (0..255) or float tensor of raw pixel values.
        labels: ``(N,)`` integer labels.
        mean: per-channel mean of the *training* pixels (C values), or their per-pixel mean (a
            ``(C, H, W)`` tensor), in the units of ``images``.
        std: per-channel standard deviation of the training pixels (C values), or any
            per-channel scale.
        augment: pad ``pad`` pixels on each side, crop back to ``H x W`` at a random place,
            flip horizontally with probability 1/2 (paper, section 4.2).
        pad: padding of the random crop (the paper's 4).
        seed: seed of the augmentation; crops and flips of epoch ``e`` come from ``(seed, e)``.

    Example:
        >>> ds = ImageTensors(torch.zeros(4, 3, 32, 32, dtype=torch.uint8), torch.arange(4),
        ...                   mean=[0.0] * 3, std=[1.0] * 3, augment=True)
        >>> ds.set_epoch(1); ds[0][0].shape
        torch.Size([3, 32, 32])
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        *,
        mean: Sequence[float],
        std: Sequence[float],
        augment: bool = False,
        pad: int = 4,
        seed: int = 0,
    ) -> None:
        self.per_pixel = _check_image_tensors(images, labels, mean, std, augment, seed)
        self.images, self.labels = images, labels.long()
        if self.per_pixel:
            self.mean = mean.detach().to(torch.float32)
        else:
            self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
        self.augment, self.pad, self.seed = augment, check_int("pad", pad, minimum=0), seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Draw the crops and flips of ``epoch`` for all images at once (no-op without augment)."""
        self.epoch = check_int("epoch", epoch, minimum=0)
        if not self.augment:
            return
        # Mix seed and epoch so that (seed=0, epoch=1) and (seed=1, epoch=0) differ.
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        self.offsets = torch.randint(0, 2 * self.pad + 1, (len(self), 2), generator=g)
        self.flips = torch.rand(len(self), generator=g) < 0.5

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        x, label = self.images[index], self.labels[index]
        if self.per_pixel:  # subtract the mean image first: the zero border is then the mean
            return self._crop_and_flip((x.float() - self.mean) / self.std, index), label
        x = self._crop_and_flip(x, index).float()  # a zero (black) border of raw pixels
        return (x - self.mean) / self.std, label

    def _crop_and_flip(self, x: Tensor, index: int) -> Tensor:
        """Image ``index`` of this epoch, padded with zeros, cropped and flipped (if augment)."""
        if not self.augment:
            return x
        h, w = x.shape[-2:]
        top, left = self.offsets[index].tolist()
        x = F.pad(x, (self.pad,) * 4)[:, top : top + h, left : left + w]
        return x.flip(-1) if self.flips[index] else x


def _check_image_tensors(images, labels, mean, std, augment, seed) -> bool:
    """ImageTensors' arguments, each checked by name; whether ``mean`` is per pixel."""
    if not isinstance(images, Tensor) or not isinstance(labels, Tensor):
        raise TypeError(
            f"images and labels must be torch.Tensors, got {type(images).__name__} and "
            f"{type(labels).__name__}"
        )
    if images.dim() != 4 or len(images) != len(labels):
        raise ValueError(
            f"images must be (N, C, H, W) with N == len(labels), got {tuple(images.shape)} "
            f"and {len(labels)} labels"
        )
    channels = images.shape[1]
    per_pixel = isinstance(mean, Tensor) and mean.dim() == 3
    if per_pixel and mean.shape != images.shape[1:]:
        raise ValueError(
            f"a per-pixel mean must have the images' shape {tuple(images.shape[1:])}, got "
            f"{tuple(mean.shape)}"
        )
    if (not per_pixel and len(mean) != channels) or len(std) != channels:
        raise ValueError(f"mean and std need {channels} entries, got {mean} and {std}")
    if not all(float(v) > 0 for v in std):
        raise ValueError(f"std must be > 0 for every channel, got {list(std)}")
    check_bool("augment", augment)
    check_int("seed", seed)
    return per_pixel


def _stratified_split(labels: np.ndarray, held_out: int, seed: int) -> tuple[Tensor, Tensor]:
    """Indices (kept, held out): a fixed split that keeps the class proportions."""
    from sklearn.model_selection import train_test_split

    kept, out = train_test_split(
        np.arange(len(labels)), test_size=held_out, stratify=labels, random_state=seed
    )
    return torch.from_numpy(np.sort(kept)), torch.from_numpy(np.sort(out))


def _loader(ds: Dataset, batch_size: int, *, shuffle: bool, seed: int, **kw) -> DataLoader:
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=generator, **kw)


def digits(
    *,
    batch_size: int = 128,
    test_fraction: float = 0.2,
    seed: int = 0,
    size: int = 8,
    channels: int = 3,
    test_batch_size: int = 512,
    num_workers: int = 0,
) -> Loaders:
    """scikit-learn's 1,797 real 8x8 digits as train/test loaders -- offline, in seconds.

    The split is stratified and fixed by ``seed``; pixels are normalised with the mean and
    standard deviation of the *training* images (after the resize). Used by every chapter's quick
    mode in place of CIFAR-10.

    Args:
        batch_size: training batch size (the paper's 128).
        test_fraction: share of the images held out for testing, in (0, 1).
        seed: fixes the split and the order of the returned training loader.
        size: image side; 8 is the original, e.g. 32 resizes bilinearly to CIFAR's size.
        channels: 1 keeps the grey images; 3 repeats them so CIFAR nets (``in_channels=3``) run.
        test_batch_size: batch size of the test loader.
        num_workers: DataLoader worker processes (0 = load in the main process).

    Returns:
        :class:`Loaders` with ``num_classes=10``, ``in_channels=channels``, ``image_size=size``,
        ``names=("0", ..., "9")``.

    Example:
        >>> train, test = digits(batch_size=64)
        >>> x, y = next(iter(train)); x.shape
        torch.Size([64, 3, 8, 8])
    """

    _check_digits(batch_size, test_fraction, seed, size, channels, test_batch_size, num_workers)
    images, labels = _digits_tensors(size, channels)
    held_out = round(test_fraction * len(labels))
    train_idx, test_idx = _stratified_split(labels.numpy(), held_out, seed)
    # One mean and std for all channels: the channels are copies of one grey image.
    mean, std = images[train_idx].mean().item(), images[train_idx].std().item()
    norm = {"mean": [mean] * channels, "std": [std] * channels}
    train_ds = ImageTensors(images[train_idx], labels[train_idx], **norm)
    test_ds = ImageTensors(images[test_idx], labels[test_idx], **norm)
    return Loaders(
        train=_loader(train_ds, batch_size, shuffle=True, seed=seed, num_workers=num_workers),
        test=_loader(test_ds, test_batch_size, shuffle=False, seed=seed, num_workers=num_workers),
        num_classes=10,
        in_channels=channels,
        image_size=size,
        names=tuple(str(i) for i in range(10)),
    )


def _check_digits(batch_size, test_fraction, seed, size, channels, test_batch_size, num_workers):
    """digits()'s arguments, each checked by name before anything is loaded."""
    _check_args(
        positive={"batch_size": batch_size, "test_batch_size": test_batch_size, "size": size},
        non_negative={"seed": seed, "num_workers": num_workers},
        flags={},
    )
    if size > MAX_DIGITS_SIZE:
        raise ValueError(
            f"size must be <= {MAX_DIGITS_SIZE} (8 is the original, 32 CIFAR's), got {size}"
        )
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    check_positive_number("test_fraction", test_fraction)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    _check_split("test_fraction", round(test_fraction * 1797), 1797, 10)


def _digits_tensors(size: int, channels: int) -> tuple[Tensor, Tensor]:
    """scikit-learn's digits as (N, channels, size, size) floats in 0..16, and their labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1)  # (N, 1, 8, 8), 0..16
    if size != images.shape[-1]:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    return images.repeat(1, channels, 1, 1), torch.tensor(bunch.target, dtype=torch.long)


def _channel_stats(images: Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of a uint8 (N, C, H, W) tensor, in 0..255 units, chunked."""
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    for chunk in images.split(4096):
        x = chunk.double()
        total += x.sum(dim=(0, 2, 3))
        total_sq += (x * x).sum(dim=(0, 2, 3))
    count = images.numel() / images.shape[1]
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(1e-12).sqrt()
    return mean.tolist(), std.tolist()


def _pixel_mean(images: Tensor) -> Tensor:
    """The mean image ``(C, H, W)`` of a uint8 ``(N, C, H, W)`` tensor, in 0..255 units, chunked."""
    total = torch.zeros(images.shape[1:], dtype=torch.float64)
    for chunk in images.split(4096):
        total += chunk.double().sum(dim=0)
    return (total / len(images)).float()


#: The normalisations :func:`cifar10` offers: the paper's, and the common per-channel one.
NORMALIZE = ("pixel_mean", "channel")


def _cifar_loaders(
    train_images: Tensor,
    train_labels: Tensor,
    test_images: Tensor,
    test_labels: Tensor,
    *,
    normalize: str,
    augment: bool,
    batch_size: int,
    test_batch_size: int,
    val_split: int,
    seed: int,
    num_workers: int,
    names: tuple[str, ...],
) -> Loaders:
    """The CIFAR recipe on uint8 (N, C, H, W) tensors; shared by cifar10 and synthetic."""
    if val_split:
        if val_split >= len(train_labels):
            raise ValueError(f"val_split must be < {len(train_labels)} images, got {val_split}")
        _check_split("val_split", val_split, len(train_labels), len(names))
        train_idx, _ = _stratified_split(train_labels.numpy(), val_split, seed)
    else:
        train_idx = torch.arange(len(train_labels))
    if normalize == "pixel_mean":  # the paper's: minus the mean image; pixels on a 0..1 scale
        scale = [255.0] * train_images.shape[1]
        norm = {"mean": _pixel_mean(train_images[train_idx]), "std": scale}
    else:  # per channel: minus the mean, divided by the standard deviation
        mean, std = _channel_stats(train_images[train_idx])  # training statistics only
        norm = {"mean": mean, "std": std}
    kw = {"num_workers": num_workers, "pin_memory": torch.cuda.is_available()}
    train_ds = ImageTensors(
        train_images[train_idx], train_labels[train_idx], augment=augment, seed=seed, **norm
    )
    test_ds = ImageTensors(test_images, test_labels, **norm)
    return Loaders(
        train=_loader(train_ds, batch_size, shuffle=True, seed=seed, **kw),
        test=_loader(test_ds, test_batch_size, shuffle=False, seed=seed, **kw),
        num_classes=len(names),
        in_channels=train_images.shape[1],
        image_size=train_images.shape[-1],
        names=names,
    )


def _missing_cifar_message(root: Path, download: bool, cause: BaseException) -> str:
    expected = root / "cifar-10-batches-py"
    what = "could not be downloaded" if download else "was not found (and download=False)"
    return (
        f"CIFAR-10 {what} under {str(root)!r}.\n"
        f"  Expected the extracted folder {str(expected)!r} (data_batch_1..5, test_batch, "
        "batches.meta).\n"
        "  To fix: with internet access (e.g. in Colab) call cifar10(root, download=True) or pass "
        "--download on the command line. Offline: fetch "
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz elsewhere, copy it into "
        f"{str(root)!r} and call with download=True (a present archive is checked and extracted "
        "without network). Or use the offline digits data (resnet_edu.data.digits()).\n"
        f"  Cause: {type(cause).__name__}: {cause}"
    )


def cifar10(
    root: str | Path,
    *,
    download: bool = False,
    normalize: str = "pixel_mean",
    augment: bool = True,
    batch_size: int = 128,
    val_split: int = 5000,
    seed: int = 0,
    test_batch_size: int = 1000,
    num_workers: int = 0,
) -> Loaders:
    """torchvision's CIFAR-10 with the paper's augmentation and its 45k/5k split (full mode).

    By default the inputs are the paper's, "with the per-pixel mean subtracted": the mean image
    of the training images is subtracted from every image (pixels on a 0..1 scale; the paper
    states no scale, and a scale changes nothing in a net whose first convolution feeds a BN).
    The crop's 4-pixel border is then the mean image's zero. ``normalize="channel"``
    standardises each channel with the training images' mean and std instead and pads the raw
    image with black, as ``RandomCrop(32, padding=4)`` before ``Normalize`` does in torchvision.

    Args:
        root: folder holding (or receiving) ``cifar-10-batches-py``.
        download: fetch the archive (163 MB) from the internet if it is not in ``root``.
        normalize: ``"pixel_mean"`` (the paper's) or ``"channel"`` (per-channel mean and std).
        augment: the paper's 4-pixel pad, random 32x32 crop and horizontal flip for training.
        batch_size: training batch size (the paper's 128).
        val_split: training images left out, as in the paper's 45k/5k train/validation split
            (0 keeps all 50k); stratified and fixed by ``seed``. The book tunes nothing on
            them, so no loader is built for them.
        seed: fixes the split, the augmentation stream and the training loader's order.
        test_batch_size: batch size of the test loader.
        num_workers: DataLoader worker processes.

    Returns:
        :class:`Loaders` with ``train`` (45k), ``test`` (10k), ``num_classes=10``,
        ``in_channels=3``, ``image_size=32`` and ``names=CIFAR10_CLASSES``.

    Raises:
        DatasetUnavailableError: the files are not in ``root`` and could not be downloaded;
            the message says where to put them.

    Example:
        >>> data = cifar10("data", download=True)  # in Colab
        >>> len(data.train.dataset), len(data.test.dataset)
        (45000, 10000)
    """
    if not isinstance(root, (str, Path)):
        raise TypeError(f"root must be a folder path (str or Path), got {type(root).__name__}")
    _check_args(
        positive={"batch_size": batch_size, "test_batch_size": test_batch_size},
        non_negative={"val_split": val_split, "seed": seed, "num_workers": num_workers},
        flags={"download": download, "augment": augment},
    )
    check_choice("normalize", normalize, NORMALIZE)
    *tensors, names = _read_cifar10(Path(root).expanduser(), download)
    return _cifar_loaders(
        *tensors,
        normalize=normalize,
        augment=augment,
        batch_size=batch_size,
        test_batch_size=test_batch_size,
        val_split=val_split,
        seed=seed,
        num_workers=num_workers,
        names=names,
    )


def _read_cifar10(root: Path, download: bool) -> tuple[Tensor, Tensor, Tensor, Tensor, tuple]:
    """CIFAR-10's train and test images (uint8, NCHW) and labels, and the class names."""
    import torchvision

    try:
        sets = [
            torchvision.datasets.CIFAR10(str(root), train=train, download=download)
            for train in (True, False)
        ]
    except (RuntimeError, OSError, pickle.UnpicklingError, EOFError, ValueError) as error:
        # torchvision says "Dataset not found or corrupted"; offline downloads raise URLError
        # (an OSError) after a chain of socket errors. One message that says what to do instead.
        raise DatasetUnavailableError(_missing_cifar_message(root, download, error)) from None
    tensors = []
    for ds in sets:
        images = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2)  # NHWC->NCHW
        tensors += [images.contiguous(), torch.tensor(ds.targets, dtype=torch.long)]
    return (*tensors, tuple(sets[0].classes))


def synthetic(
    *,
    num_train: int = 1024,
    num_test: int = 256,
    image_size: int = 32,
    channels: int = 3,
    num_classes: int = 10,
    batch_size: int = 128,
    normalize: str = "pixel_mean",
    augment: bool = True,
    val_split: int = 0,
    seed: int = 0,
    num_workers: int = 0,
) -> Loaders:
    """Random CIFAR-shaped images and labels: speed measurements and a stand-in for CIFAR-10.

    Goes through exactly the code path of :func:`cifar10` after the files are read (uint8
    storage, training statistics, pad-crop-flip, split), so a test on it keeps that path alive.
    There is nothing to learn in it: labels are random.

    Args:
        num_train, num_test: training images (before the validation split), test images.
        image_size, channels, num_classes: height = width (CIFAR's 32), channels, labels.
        batch_size: training batch size.
        normalize: ``"pixel_mean"`` or ``"channel"``, as for CIFAR-10.
        augment: pad-crop-flip as for CIFAR-10.
        val_split: training images left out, as for CIFAR-10 (0 for none).
        seed: fixes the images, the labels and the order.
        num_workers: DataLoader worker processes.

    Example:
        >>> data = synthetic(num_train=256, batch_size=64)
        >>> next(iter(data.train))[0].shape
        torch.Size([64, 3, 32, 32])
    """
    sizes = {"num_train": num_train, "num_test": num_test, "image_size": image_size}
    _check_args(
        positive={
            **sizes,
            "channels": channels,
            "num_classes": num_classes,
            "batch_size": batch_size,
        },
        non_negative={"val_split": val_split, "seed": seed, "num_workers": num_workers},
        flags={"augment": augment},
    )
    check_choice("normalize", normalize, NORMALIZE)
    g = torch.Generator().manual_seed(seed)
    tensors = []
    for n in (num_train, num_test):
        images = torch.randint(0, 256, (n, channels, image_size, image_size), generator=g)
        tensors += [images.to(torch.uint8), torch.randint(0, num_classes, (n,), generator=g)]
    return _cifar_loaders(
        *tensors,
        normalize=normalize,
        augment=augment,
        batch_size=batch_size,
        test_batch_size=max(batch_size, 256),
        val_split=val_split,
        seed=seed,
        num_workers=num_workers,
        names=tuple(f"class {i}" for i in range(num_classes)),
    )


def committed_file(name: str, *, repo_url: str, branch: str) -> Path:
    """The committed data file ``book/_data/<name>`` of the book's repository, as a local path.

    A chapter that shows a long committed run reads its JSON with this. From a clone of the
    repository the file is already there: next to the notebook (``_data/<name>``, the kernel
    runs in ``book/``), under the current folder (``book/_data/<name>``), or in the checkout
    that the environment variable ``RESNET_EDU_SOURCE`` names (a folder or a ``file://``
    address). Elsewhere (in Colab only the notebook is opened) it is downloaded from
    ``repo_url`` at ``branch`` into a cache folder (``~/.cache/resnet_edu``, or under
    ``XDG_CACHE_HOME``), written atomically, again at every call.

    Args:
        name: the file name, e.g. ``"ch1_long_run.json"``.
        repo_url: the repository, e.g. ``"https://github.com/OWNER/REPO"`` (the setup cell's
            ``REPO_URL``); a GitHub address downloads from ``raw.githubusercontent.com``.
        branch: the branch to read (the setup cell's ``BRANCH``).

    Raises:
        DatasetUnavailableError: not in a checkout, and the download failed (e.g. offline).

    Example:
        >>> path = committed_file("ch7_long_run.json", repo_url=REPO_URL, branch=BRANCH)
        >>> long_run = json.loads(path.read_text())
    """
    for arg, value in (("name", name), ("repo_url", repo_url), ("branch", branch)):
        if not isinstance(value, str) or not value:
            raise TypeError(f"{arg} must be a non-empty str, got {value!r}")
    if Path(name).name != name or name in (".", ".."):
        raise ValueError(f"name must be a file name in book/_data, got {name!r}")
    for folder in (Path("_data"), Path("book", "_data"), *_checkout_data()):
        if (folder / name).is_file():
            return (folder / name).resolve()
    url = _raw_url(repo_url.removesuffix("/").removesuffix(".git"), branch, f"book/_data/{name}")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "resnet_edu"
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            content = response.read()
    except OSError as error:  # URLError and HTTPError are OSErrors
        raise DatasetUnavailableError(
            f"book/_data/{name} is not in a checkout of the book here, and downloading {url} "
            f"failed ({type(error).__name__}: {error}); connect to the internet, or run the "
            "notebook in a clone of the repository"
        ) from None
    cache.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(cache / name, lambda f: f.write(content))


def _checkout_data() -> list[Path]:
    """``book/_data`` of the checkout named by ``RESNET_EDU_SOURCE``, if it names a folder."""
    source = os.environ.get("RESNET_EDU_SOURCE", "")
    if source.startswith("file:"):
        source = urllib.request.url2pathname(urllib.parse.urlparse(source).path)
    return [Path(source, "book", "_data")] if source and Path(source).is_dir() else []


def _raw_url(repo_url: str, branch: str, path: str) -> str:
    """The address of a committed file: GitHub's raw host, else the host's ``/raw/`` route."""
    parts = urllib.parse.urlparse(repo_url)
    if parts.netloc in ("github.com", "www.github.com"):
        return f"https://raw.githubusercontent.com{parts.path}/{branch}/{path}"
    return f"{repo_url}/raw/{branch}/{path}"
