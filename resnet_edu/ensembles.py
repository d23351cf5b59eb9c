"""Residual networks as ensembles of shallow paths: lesions and path lengths (chapter 8).

Veit, Wilber, Belongie, "Residual Networks Behave Like Ensembles of Relatively Shallow Networks",
NeurIPS 2016. Unroll n residual blocks y = x + F(x): the output is a sum over 2^n paths, each
choosing, block by block, the skip or the branch. A path through k branches has length k and
there are C(n, k) of them (``path_length_distribution``). Three measurements follow:

* **Lesion study** (their section 4): delete one block at test time. A ResNet barely notices; a
  plain net, which has a single path, is destroyed (``lesion_blocks``, ``lesion_random``).
* **Deleting a block** means keeping its shortcut only, as Veit et al. did: the residual
  branch goes, the skip connection stays. Where
  the shortcut is the identity the block becomes ``nn.Identity``: for a post-activation block
  relu(x + 0) = x because x already comes out of a ReLU; for a pre-activation block x + 0 = x.
  Where the block changes the shape (a downsampling block) it becomes ``ShortcutOnly``: its own
  shortcut -- zero padding (option A) or projection (option B) -- followed by the ReLU of a
  post-activation block. Veit et al. deleted downsampling blocks too (they report that these
  were the deletions with a noticeable, "modest" cost). A plain block has no shortcut:
  "deleting" it means skipping it, possible only where it keeps the shape, and ``nn.Identity``
  does exactly that.
* **Gradient by path length** (their section 5, Fig. 6): forward a batch normally; in the
  backward pass let the gradient flow through the branch of k randomly chosen blocks and through
  the skip of all the others (``gradient_by_path_length``). The forward values are untouched, so
  the gradient that arrives at the first block's input is exactly the part carried by one path
  of length k. Here the branch/skip choice is made with ``detach``: a block on the branch side
  computes post(F(x) + s(x).detach()), on the skip side post(F(x.detach()) + s(x)).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_batch, check_int
from .gradflow import find_blocks
from .measure import eval_mode
from .preact import PreActBlock
from .train import evaluate

Data = tuple[Tensor, Tensor] | Iterable[tuple[Tensor, Tensor]]


def residual_blocks(model: nn.Module) -> dict[str, nn.Module]:
    """Every block of ``model`` by qualified name, in order (``gradflow.find_blocks``).

    One definition of "a block" for the whole package: ``gradflow.find_blocks``. A plain net's
    blocks count too (their ``residual`` is ``False``): they are what a lesion deletes.

    Example:
        >>> list(residual_blocks(resnet20()))[:2]
        ['layer1.0', 'layer1.1']
    """
    return dict(find_blocks(model))


def _is_residual(block: nn.Module) -> bool:
    return getattr(block, "residual", True)  # torchvision's blocks have no switch: residual


def _keeps_shape(block: nn.Module) -> bool:
    convs = [
        m
        for name, m in block.named_modules()
        if isinstance(m, nn.Conv2d) and not name.startswith("downsample")
    ]
    if not convs:
        return False
    strides_one = all(c.stride == (1, 1) for c in convs)
    return strides_one and convs[0].in_channels == convs[-1].out_channels


def deletable_blocks(model: nn.Module) -> list[str]:
    """Names of the blocks that ``delete_blocks`` may remove (see the module docstring).

    Every residual block qualifies (its shortcut stays, whatever it is); a plain block only
    where it keeps the shape of its input.

    Example:
        >>> deletable_blocks(resnet20())  # all 9, the downsampling layer2.0 and layer3.0 too
        ['layer1.0', 'layer1.1', 'layer1.2', 'layer2.0', 'layer2.1', ...]
        >>> deletable_blocks(plain20())  # 7: layer2.0 and layer3.0 change the shape
        ['layer1.0', 'layer1.1', 'layer1.2', 'layer2.1', 'layer2.2', 'layer3.1', 'layer3.2']
    """
    return [
        name
        for name, block in residual_blocks(model).items()
        if _is_residual(block) or _keeps_shape(block)
    ]


def _identity_skip(block: nn.Module) -> bool:
    # no downsample, and (pre-activation units) a shortcut that skips the BN+ReLU too
    return getattr(block, "downsample", None) is None and not getattr(
        block, "preactivate_shortcut", False
    )


class ShortcutOnly(nn.Module):
    """What is left of a deleted residual block whose shortcut is not the identity.

    ``relu(shortcut(x))`` for a post-activation block, ``shortcut(x)`` for a pre-activation
    unit: the block's equation with its branch F removed. The block is held in a plain list,
    outside the module tree: while the lesion lasts its parameters are not the model's, as for
    a block replaced by ``nn.Identity``.
    """

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self._block = [block]  # a list: not registered as a submodule
        self.post_activation = not isinstance(block, PreActBlock)

    def forward(self, x: Tensor) -> Tensor:
        block = self._block[0]
        if hasattr(block, "shortcut"):
            out = block.shortcut(x)
        else:  # torchvision's blocks: the shortcut is ``downsample``
            out = block.downsample(x)
        return F.relu(out) if self.post_activation else out


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


@contextmanager
def delete_blocks(model: nn.Module, names: Sequence[str]) -> Iterator[nn.Module]:
    """Temporarily replace the named blocks by their shortcut alone (a lesion); restore on exit.

    A block whose shortcut is the identity becomes ``nn.Identity``, any other residual block
    ``ShortcutOnly``. The original module objects are put back, so the model is exactly as
    before -- same parameters, same buffers, same ``id`` -- even if the body raises.

    Args:
        model: the network.
        names: block names from ``deletable_blocks(model)``.

    Example:
        >>> with delete_blocks(model, ["layer1.1"]):
        ...     err = error_percent(model, (x, y))
    """
    allowed = deletable_blocks(model)
    _check_names("names", names, allowed)
    saved = {name: model.get_submodule(name) for name in names}
    try:
        for name, block in saved.items():
            keep_shortcut = _is_residual(block) and not _identity_skip(block)
            keep = ShortcutOnly(block) if keep_shortcut else nn.Identity()
            _set_submodule(model, name, keep)
        yield model
    finally:
        for name, block in saved.items():
            _set_submodule(model, name, block)


def _check_names(arg: str, names: Any, allowed: list[str]) -> list[str]:
    if isinstance(names, (str, bytes)) or not isinstance(names, Iterable):
        raise TypeError(f"{arg} must be a list of block names such as ['layer1.0'], got {names!r}")
    names = list(names)
    for name in names:
        if name not in allowed:
            raise ValueError(
                f"{arg}: {name!r} is not a deletable block; deletable blocks are {allowed}"
            )
    return names


def _check_labelled_batch(inputs: Any, targets: Any) -> None:
    """A batch (:func:`check_batch`) whose targets are class labels: integers, one per input."""
    check_batch(inputs, targets)
    if targets.dtype.is_floating_point or targets.dtype == torch.bool:
        raise TypeError(f"targets must be integer class labels (torch.long), got {targets.dtype}")
    if targets.dim() != 1:
        raise ValueError(
            f"targets must hold one label per input: inputs {tuple(inputs.shape)}, "
            f"targets {tuple(targets.shape)}"
        )


def error_percent(model: nn.Module, data: Data) -> float:
    """Top-1 error (%) of ``model`` in eval mode; its train/eval flags are restored afterwards.

    The evaluation loop is ``resnet_edu.train.evaluate``, the package's one.

    Args:
        model: a classifier returning logits.
        data: ``(inputs, targets)`` tensors, or an iterable of such batches (a DataLoader).

    Example:
        >>> error_percent(model, (x_test, y_test))
        3.5
    """
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], Tensor):
        try:
            _check_labelled_batch(*data)
        except (TypeError, ValueError) as err:
            raise type(err)(f"data: {err}") from None
    return evaluate(model, data)[1]


def lesion_blocks(
    model: nn.Module, data: Data, *, blocks: Sequence[str] | None = None
) -> dict[str, float]:
    """Test error (%) after deleting ONE block at a time (Veit et al. 2016, Fig. 3).

    Args:
        model: a trained CIFAR/ImageNet-style net of ``resnet_edu`` blocks.
        data: ``(inputs, targets)`` tensors or an iterable of batches.
        blocks: names to delete, one at a time; default every ``deletable_blocks(model)``.

    Returns:
        ``{block name: error % with that block deleted}``; compare with
        ``error_percent(model, data)``. The model is unchanged afterwards.

    Example:
        >>> lesion_blocks(resnet, (x, y))
        {'layer1.0': 4.1, 'layer1.1': 3.9, ...}
    """
    allowed = deletable_blocks(model)
    names = allowed if blocks is None else _check_names("blocks", blocks, allowed)
    result = {}
    for name in names:
        with delete_blocks(model, [name]):
            result[name] = error_percent(model, data)
    return result


def lesion_random(
    model: nn.Module,
    data: Data,
    *,
    n_deleted: Sequence[int],
    samples: int = 5,
    seed: int = 0,
) -> dict[int, list[float]]:
    """Error (%) after deleting k random deletable blocks at once (Veit et al. 2016, Fig. 5a).

    Args:
        model: the network.
        data: ``(inputs, targets)`` tensors or an iterable of batches.
        n_deleted: the values of k, each between 0 and ``len(deletable_blocks(model))``.
        samples: random subsets per k.
        seed: seed of the subset choice (Python's ``random.Random``).

    Returns:
        ``{k: [error % of each sampled subset]}``.

    Example:
        >>> lesion_random(resnet, (x, y), n_deleted=[1, 2, 4], samples=3)
    """
    check_int("samples", samples, minimum=1)
    check_int("seed", seed)
    allowed = deletable_blocks(model)
    _check_counts("n_deleted", n_deleted, len(allowed), "deletable blocks")
    rng = random.Random(seed)
    result: dict[int, list[float]] = {}
    for k in n_deleted:
        errors = []
        for _ in range(samples):
            with delete_blocks(model, rng.sample(allowed, k)):
                errors.append(error_percent(model, data))
        result[k] = errors
    return result


def _check_counts(arg: str, values: Any, most: int, what: str) -> None:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{arg} must be a list of ints between 0 and {most}, got {values!r}")
    for k in values:
        check_int(f"{arg} entries", k, minimum=0)
        if k > most:
            raise ValueError(f"{arg}: {k} > the model's {most} {what}")


@torch.no_grad()
def branch_ratios(model: nn.Module, inputs: Tensor) -> dict[str, float]:
    """How large each block's branch is next to its shortcut: ||F(x)|| / ||shortcut(x)||.

    Measured on the batch ``inputs`` in eval mode, at every residual block, with x the input
    that block receives in the intact network. Deleting a block removes F(x) and keeps the
    shortcut, so this ratio says how much of the block's output a lesion takes away (chapter 8).

    Args:
        model: a net of residual ``resnet_edu`` blocks (``branch()`` and ``shortcut()``).
        inputs: one batch of images.

    Returns:
        ``{block name: ratio}``, in block order.

    Example:
        >>> branch_ratios(resnet, x_test)
        {'layer1.0': 1.3, 'layer1.1': 0.8, ...}
    """
    blocks = dict(zip(residual_blocks(model), _all_residual(model), strict=True))
    if not isinstance(inputs, Tensor):
        raise TypeError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}")
    ratios: dict[str, float] = {}

    def measure(name: str) -> Callable[[nn.Module, tuple, Tensor], None]:
        def hook(block: nn.Module, args: tuple, _out: Tensor) -> None:
            x = args[0]
            ratios[name] = (block.branch(x).norm() / block.shortcut(x).norm()).item()

        return hook

    for block in blocks.values():
        if not (hasattr(block, "branch") and hasattr(block, "shortcut")):
            raise TypeError(
                f"model: {type(block).__name__} has no branch()/shortcut(); use resnet_edu's blocks"
            )
    handles = [block.register_forward_hook(measure(name)) for name, block in blocks.items()]
    try:
        with eval_mode(model):
            model(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return ratios


def path_length_distribution(n_blocks: int) -> list[int]:
    """Number of paths of each length k = 0..n through n residual blocks: C(n, k).

    They sum to 2^n; the lengths follow a binomial distribution centred on n/2.

    Example:
        >>> path_length_distribution(3)
        [1, 3, 3, 1]
    """
    check_int("n_blocks", n_blocks, minimum=0)
    return [math.comb(n_blocks, k) for k in range(n_blocks + 1)]


def _branch_and_skip(block: nn.Module, x_branch: Tensor, x_skip: Tensor) -> Tensor:
    """The block's output with its branch fed ``x_branch`` and its shortcut fed ``x_skip``.

    Post-activation blocks end in relu(F(x) + shortcut(x)); pre-activation units in
    F(x) + shortcut(x), with nothing after the addition.
    """
    if not (hasattr(block, "branch") and hasattr(block, "shortcut")):
        raise TypeError(
            f"model: {type(block).__name__} has no branch()/shortcut(); use resnet_edu's blocks"
        )
    out = block.branch(x_branch) + block.shortcut(x_skip)
    return out if isinstance(block, PreActBlock) else F.relu(out)


@dataclass(frozen=True)
class PathGradients:
    """Gradient magnitude carried by paths of each length (Veit et al. 2016, Fig. 6).

    Attributes:
        lengths: path lengths k = 0..n.
        mean_norm: mean norm of the gradient at the first block's input carried by ONE path of
            length k (Fig. 6a, "gradient magnitude per path length").
        std_norm: its standard deviation over the samples.
        counts: number of paths of each length, C(n, k).
        total: ``mean_norm * counts`` -- the gradient carried by all paths of length k together
            (Fig. 6b); Veit et al. find it concentrated on short paths.
    """

    lengths: np.ndarray
    mean_norm: np.ndarray
    std_norm: np.ndarray
    counts: np.ndarray
    total: np.ndarray


def path_gradient(
    model: nn.Module,
    inputs: Tensor,
    targets: Tensor,
    branch: Iterable[int],
    *,
    loss_fn: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy,
) -> Tensor:
    """Gradient of the loss at the first block's input carried by ONE path.

    The path goes through the branch of the blocks numbered in ``branch`` (0-based, in
    ``residual_blocks`` order) and through the skip of all the others. The forward values are
    those of the intact model (BN in eval mode). Summed over all 2^n paths these gradients give
    the full gradient exactly: each block's Jacobian is branch part + skip part, and the chain
    rule's product expands into one term per path.

    Args:
        model: a net of residual ``resnet_edu`` blocks (all with ``residual=True``).
        inputs, targets: one batch.
        branch: indices of the blocks whose branch the path takes.
        loss_fn: ``loss_fn(logits, targets) -> scalar``.

    Example:
        >>> g = path_gradient(resnet20(), x, y, branch=[0, 4])  # a path of length 2
    """
    blocks = _all_residual(model)
    _check_labelled_batch(inputs, targets)
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a function (logits, targets) -> loss, got {loss_fn!r}")
    if isinstance(branch, (str, bytes)) or not isinstance(branch, Iterable):
        raise TypeError(f"branch must be a list of block indices, got {branch!r}")
    chosen = set(branch)
    _check_counts("branch", sorted(chosen), len(blocks) - 1, "block indices (0-based)")
    captured: list[Tensor] = []

    def capture_input(_m: nn.Module, args: tuple) -> tuple:
        captured.append(args[0].detach().requires_grad_(True))
        return (captured[-1],) + tuple(args[1:])

    def route(m: nn.Module, args: tuple, _out: Tensor) -> Tensor:
        x = args[0]
        return (
            _branch_and_skip(m, x, x.detach())
            if m in on_branch
            else _branch_and_skip(m, x.detach(), x)
        )

    on_branch = {b for i, b in enumerate(blocks) if i in chosen}
    handles = [blocks[0].register_forward_pre_hook(capture_input)]
    handles += [b.register_forward_hook(route) for b in blocks]
    try:
        with eval_mode(model):
            loss = loss_fn(model(inputs), targets)
        (grad,) = torch.autograd.grad(loss, captured[0])
    finally:
        for h in handles:
            h.remove()
    return grad


def _all_residual(model: nn.Module) -> list[nn.Module]:
    blocks = list(residual_blocks(model).values())
    if not blocks or not all(_is_residual(b) for b in blocks):
        raise ValueError("model must consist of residual blocks with residual=True")
    return blocks


def gradient_by_path_length(
    model: nn.Module,
    inputs: Tensor,
    targets: Tensor,
    *,
    samples_per_length: int = 10,
    lengths: Sequence[int] | None = None,
    loss_fn: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy,
    seed: int = 0,
) -> PathGradients:
    """Norm of the gradient that single paths of length k carry back (Veit et al. 2016, sec. 5).

    For each k and each sample: choose k of the n residual blocks at random and record the norm
    of ``path_gradient`` for that path (module docstring).

    Args:
        model: a net of residual ``resnet_edu`` blocks (every block must have ``residual=True``).
        inputs, targets: one batch.
        samples_per_length: random block subsets per length (Veit et al. used 1000).
        lengths: the k to measure, default 0..n.
        loss_fn: ``loss_fn(logits, targets) -> scalar``.
        seed: seed of the subset choice.

    Returns:
        A ``PathGradients`` (entries for unmeasured lengths are NaN).

    Example:
        >>> pg = gradient_by_path_length(resnet20(), x, y, samples_per_length=5)
        >>> pg.mean_norm  # decays roughly exponentially with the length
    """
    check_int("samples_per_length", samples_per_length, minimum=1)
    check_int("seed", seed)
    n = len(_all_residual(model))
    lengths = list(range(n + 1)) if lengths is None else lengths
    _check_counts("lengths", lengths, n, "residual blocks")
    rng = random.Random(seed)
    means = np.full(n + 1, np.nan)
    stds = np.full(n + 1, np.nan)
    for k in lengths:
        norms = [
            path_gradient(model, inputs, targets, rng.sample(range(n), k), loss_fn=loss_fn)
            .norm()
            .item()
            for _ in range(samples_per_length)
        ]
        means[k], stds[k] = float(np.mean(norms)), float(np.std(norms))
    counts = np.array(path_length_distribution(n), dtype=float)
    return PathGradients(np.arange(n + 1), means, stds, counts, means * counts)
