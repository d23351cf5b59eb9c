"""Loss landscapes along filter-normalised random directions (chapter 8).

Li, Xu, Taylor, Studer, Goldstein, "Visualizing the Loss Landscape of Neural Nets", NeurIPS 2018.
Around trained weights θ, plot L(θ + α δ) (1-D) or L(θ + α δ + β η) (2-D) for random directions
δ, η. A raw Gaussian direction would perturb small-norm filters relatively more than large ones,
and since a ReLU net with BN is invariant to the scale of a filter, the picture would depend on
that arbitrary scale. Li et al. therefore normalise the direction *filter by filter*
(their eq. 1):

    d_{i,j} <- d_{i,j} / ||d_{i,j}|| * ||θ_{i,j}||

where (i, j) is the j-th filter (output channel) of layer i -- a row of a linear layer's weight.
As in their code (``ignore='biasbn'``), directions are zero for 1-D parameters -- biases and BN
scales/shifts -- so those stay at their trained values.

During the evaluation the model is in eval mode: BN uses its running statistics, so the loss at
every grid point is a deterministic function of the weights alone (in train mode it would also
depend on the batch, and the running statistics would drift). The weights and the train/eval
mode are restored exactly afterwards, even if a loss evaluation raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ._checks import check_module

Direction = dict[str, Tensor]
Data = tuple[Tensor, Tensor] | Iterable[tuple[Tensor, Tensor]]
LossFn = Callable[[Tensor, Tensor], Tensor]


def filter_normalized_direction(
    model: nn.Module, *, generator: torch.Generator | None = None
) -> Direction:
    """A Gaussian direction in weight space, normalised filter by filter (Li et al., eq. 1).

    Args:
        model: the network whose trained weights set the scale of each filter.
        generator: a ``torch.Generator`` for a reproducible direction.

    Returns:
        ``{parameter name: tensor of the parameter's shape}``; zero for 1-D parameters (biases
        and BN parameters), and for each filter of a weight with 2+ dims the norm of the
        direction equals that filter's norm.

    Example:
        >>> d = filter_normalized_direction(model, generator=torch.Generator().manual_seed(0))
    """
    check_module("model", model)
    direction = {}
    for name, p in model.named_parameters():
        if p.dim() <= 1:
            direction[name] = torch.zeros_like(p)
            continue
        d = torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device)
        d_norm = d.flatten(1).norm(dim=1).clamp_min(1e-12)
        p_norm = p.detach().flatten(1).norm(dim=1)
        scale = (p_norm / d_norm).view(-1, *([1] * (p.dim() - 1)))
        direction[name] = d * scale
    return direction


def _check_direction(name: str, direction: Direction, params: dict[str, nn.Parameter]) -> None:
    if not isinstance(direction, dict):
        raise TypeError(f"{name} must be a dict from filter_normalized_direction(model)")
    if set(direction) != set(params):
        missing = sorted(set(params) - set(direction))[:3]
        extra = sorted(set(direction) - set(params))[:3]
        raise ValueError(
            f"{name} does not match the model's parameters (missing {missing}, extra {extra}); "
            "build it with filter_normalized_direction(model)"
        )
    for key, p in params.items():
        if direction[key].shape != p.shape:
            raise ValueError(
                f"{name}[{key!r}] has shape {tuple(direction[key].shape)}, "
                f"the parameter {tuple(p.shape)}"
            )


def _batches(data: Data) -> list[tuple[Tensor, Tensor]]:
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], Tensor):
        return [data]
    if isinstance(data, Tensor) or not isinstance(data, Iterable):
        raise TypeError(
            "data must be an (inputs, targets) tuple of tensors or an iterable of such batches, "
            f"got {type(data).__name__}"
        )
    return list(data)


def _grid(name: str, values: Sequence[float] | np.ndarray | Tensor) -> np.ndarray:
    grid = np.asarray(values, dtype=float)
    if grid.ndim != 1 or grid.size == 0 or not np.isfinite(grid).all():
        raise ValueError(f"{name} must be a non-empty 1-D sequence of finite numbers")
    return grid


def _mean_loss(model: nn.Module, loss_fn: LossFn, batches: list[tuple[Tensor, Tensor]]) -> float:
    total = count = 0.0
    for x, y in batches:
        total += loss_fn(model(x), y).item() * len(y)  # loss_fn returns a batch mean
        count += len(y)
    return total / count


@torch.no_grad()
def loss_surface(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    directions: Sequence[Direction],
    coordinates: Sequence[Sequence[float]],
) -> np.ndarray:
    """Mean loss at θ + Σ_i c_i d_i for every combination of coordinates (any number of axes).

    ``loss_surface_1d`` and ``loss_surface_2d`` are the two cases the chapter draws.

    Args:
        model: the network (its parameters are θ).
        loss_fn: ``loss_fn(logits, targets) -> batch-mean loss``, e.g. ``F.cross_entropy``.
        data: ``(inputs, targets)`` tensors or an iterable of such batches.
        directions: one direction dict per axis.
        coordinates: one 1-D grid per axis.

    Returns:
        An array of shape ``(len(coordinates[0]), len(coordinates[1]), ...)``.

    Example:
        >>> loss_surface(model, F.cross_entropy, (x, y), [d], [np.linspace(-1, 1, 21)])
    """
    check_module("model", model)
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    params = dict(model.named_parameters())
    if len(directions) != len(coordinates):
        raise ValueError("directions and coordinates must have one entry per axis")
    for i, d in enumerate(directions):
        _check_direction(f"directions[{i}]", d, params)
    grids = [_grid(f"coordinates[{i}]", c) for i, c in enumerate(coordinates)]
    batches = _batches(data)
    if not batches:
        raise ValueError("data is empty")

    theta = {k: p.detach().clone() for k, p in params.items()}
    moving = [k for k in params if any(d[k].any() for d in directions)]
    was_training = model.training
    model.eval()
    losses = np.empty([len(g) for g in grids])
    try:
        for index in np.ndindex(*losses.shape):
            for k in moving:
                new = theta[k].clone()
                for axis, i in enumerate(index):
                    new.add_(directions[axis][k], alpha=float(grids[axis][i]))
                params[k].copy_(new)
            losses[index] = _mean_loss(model, loss_fn, batches)
    finally:
        for k, p in params.items():
            p.copy_(theta[k])
        model.train(was_training)
    return losses


def loss_surface_1d(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    direction: Direction,
    alphas: Sequence[float],
) -> np.ndarray:
    """L(θ + α d) for each α (Li et al., sec. 5): an array of ``len(alphas)`` losses.

    Example:
        >>> d = filter_normalized_direction(model)
        >>> loss_surface_1d(model, F.cross_entropy, (x, y), d, np.linspace(-1, 1, 21))
    """
    return loss_surface(model, loss_fn, data, [direction], [alphas])


def loss_surface_2d(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    d1: Direction,
    d2: Direction,
    alphas: Sequence[float],
    betas: Sequence[float],
) -> np.ndarray:
    """L(θ + α d1 + β d2) on a grid: array ``[i, j]`` = loss at ``(alphas[i], betas[j])``.

    For ``plt.contour(alphas, betas, Z)`` pass ``Z = losses.T`` (matplotlib indexes rows by
    y); ``plots_why.landscape_contour`` does that for you.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> d1 = filter_normalized_direction(model, generator=g)
        >>> d2 = filter_normalized_direction(model, generator=g)
        >>> grid = np.linspace(-1, 1, 11)
        >>> loss_surface_2d(model, F.cross_entropy, (x, y), d1, d2, grid, grid).shape
        (11, 11)
    """
    return loss_surface(model, loss_fn, data, [d1, d2], [alphas, betas])


def surface_roughness(losses: np.ndarray) -> float:
    """Mean |second difference| of a 1-D or 2-D loss surface, relative to its mean |first diff|.

    A smooth bowl has a small, steady second difference compared with its slope (≈ 0 for a
    straight line, small for a parabola sampled finely); a chaotic surface with many local
    bumps has second differences as large as its first ones. Used to put one number on "the
    plain net's landscape is rougher" (Li et al., Fig. 5); grid spacing cancels out.

    Example:
        >>> surface_roughness(np.linspace(-1, 1, 11) ** 2)
        0.4
    """
    z = np.asarray(losses, dtype=float)
    if z.ndim not in (1, 2) or min(z.shape) < 3:
        raise ValueError(
            f"losses must be a 1-D or 2-D array with >= 3 points per axis, got {z.shape}"
        )
    first, second = [], []
    for axis in range(z.ndim):
        first.append(np.abs(np.diff(z, axis=axis)).mean())
        second.append(np.abs(np.diff(z, n=2, axis=axis)).mean())
    return float(np.mean(second) / max(np.mean(first), 1e-12))


def curvature_ratio_map(
    losses: np.ndarray, alphas: Sequence[float] | None = None, betas: Sequence[float] | None = None
) -> np.ndarray:
    """|λ_min / λ_max| of the finite-difference Hessian at each interior grid point.

    Li et al. (2018, Fig. 7) map this ratio of the Hessian's extreme eigenvalues to show where a
    surface is convex (ratio 0: no negative curvature) and where it is not. Here the 2x2
    Hessian of the plotted *slice* is estimated with central differences on the grid, so it is
    the curvature of the surface as drawn, not of the full weight space. Points with
    ``λ_min >= 0`` get 0.

    Args:
        losses: ``loss_surface_2d(...)``, shape ``(len(alphas), len(betas))``, >= 3x3.
        alphas, betas: the grid (for the spacing); default unit spacing.

    Returns:
        An array of shape ``(len(alphas) - 2, len(betas) - 2)``.

    Example:
        >>> curvature_ratio_map(grid[:, None] ** 2 + grid[None, :] ** 2).max()
        0.0
    """
    z = np.asarray(losses, dtype=float)
    if z.ndim != 2 or min(z.shape) < 3:
        raise ValueError(f"losses must be a 2-D array of at least 3x3 points, got shape {z.shape}")
    ha = 1.0 if alphas is None else float(np.diff(_grid("alphas", alphas)).mean())
    hb = 1.0 if betas is None else float(np.diff(_grid("betas", betas)).mean())
    zaa = (z[2:, 1:-1] - 2 * z[1:-1, 1:-1] + z[:-2, 1:-1]) / ha**2
    zbb = (z[1:-1, 2:] - 2 * z[1:-1, 1:-1] + z[1:-1, :-2]) / hb**2
    zab = (z[2:, 2:] - z[2:, :-2] - z[:-2, 2:] + z[:-2, :-2]) / (4 * ha * hb)
    half_trace = (zaa + zbb) / 2
    spread = np.sqrt(np.maximum(half_trace**2 - (zaa * zbb - zab**2), 0.0))
    lam_max, lam_min = half_trace + spread, half_trace - spread
    largest = np.maximum(np.abs(lam_max), np.abs(lam_min))
    ratio = np.abs(np.minimum(lam_min, 0.0)) / np.maximum(largest, 1e-300)
    return np.where(largest > 0, ratio, 0.0)


def nonconvex_fraction(
    losses: np.ndarray,
    alphas: Sequence[float] | None = None,
    betas: Sequence[float] | None = None,
    *,
    tol: float = 0.01,
) -> float:
    """Share of interior grid points whose curvature ratio exceeds ``tol`` (non-convex there).

    One number for "the plain net's landscape is less convex" (Li et al. 2018, Fig. 7); see
    ``curvature_ratio_map``.

    Example:
        >>> nonconvex_fraction(z_plain, grid, grid) > nonconvex_fraction(z_resnet, grid, grid)
    """
    return float((curvature_ratio_map(losses, alphas, betas) > tol).mean())
