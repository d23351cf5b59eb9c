"""Loss landscapes along filter-normalised random directions (chapter 8).

Li, Xu, Taylor, Studer, Goldstein, "Visualizing the Loss Landscape of Neural Nets", NeurIPS 2018.
Around trained weights θ, plot L(θ + α δ) (1-D) or L(θ + α δ + β η) (2-D) for random directions
δ, η. The norm of a filter that BN follows is arbitrary: scale the filter, and BN's statistics
with it, and the network computes the same function. A raw Gaussian direction would therefore
move a filter of small norm a lot, relative to its size, and one of large norm hardly at all, and
the picture would depend on those arbitrary norms. Li et al. normalise the direction *filter by
filter* (their eq. 1):

    d_{i,j} <- d_{i,j} / ||d_{i,j}|| * ||θ_{i,j}||

where (i, j) is the j-th filter (output channel) of layer i -- a row of a linear layer's weight.
As in their code (``ignore='biasbn'``), directions are zero for 1-D parameters -- biases and BN
scales/shifts -- so those stay at their trained values.

The loss is evaluated in eval mode, as Li et al.'s code does (``net.eval()``): BN divides by the
running statistics collected with the trained filters, and the loss at every grid point is a
function of the weights alone (in train mode it would also depend on the batch, and the running
statistics would drift). A step α along a filter-normalised direction changes every filter by α
times its own norm, so, with those statistics fixed, every BN output moves by a comparable
relative amount. Li et al. evaluate the training loss; pass training data to get it. The weights
and the train/eval mode are restored exactly afterwards, even if a loss evaluation raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ._checks import as_batches, check_module, check_positive_number
from .train import evaluate

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
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {generator!r}")
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


def _read_batches(data: Data) -> list[tuple[Tensor, Tensor]]:
    """Every batch of ``data`` in a list, read once: each grid point sees the same examples."""
    batches = list(as_batches(data))
    for batch in batches:
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise TypeError(f"data must yield (inputs, targets) pairs, got {type(batch).__name__}")
    return batches


def _grid(name: str, values: Sequence[float] | np.ndarray | Tensor) -> np.ndarray:
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a 1-D sequence of numbers, got a str")
    try:
        grid = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a 1-D sequence of numbers, got {values!r:.60}") from err
    if grid.ndim != 1 or grid.size == 0 or not np.isfinite(grid).all():
        raise ValueError(f"{name} must be a non-empty 1-D sequence of finite numbers")
    return grid


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
    for name, value in (("directions", directions), ("coordinates", coordinates)):
        if not isinstance(value, (list, tuple)):
            raise TypeError(
                f"{name} must be a list with one entry per axis, got {type(value).__name__}"
            )
    if len(directions) != len(coordinates):
        raise ValueError("directions and coordinates must have one entry per axis")
    for i, d in enumerate(directions):
        _check_direction(f"directions[{i}]", d, params)
    grids = [_grid(f"coordinates[{i}]", c) for i, c in enumerate(coordinates)]
    batches = _read_batches(data)
    if not batches:
        raise ValueError("data is empty")

    theta = {k: p.detach().clone() for k, p in params.items()}
    moving = [k for k in params if any(d[k].any() for d in directions)]
    losses = np.empty([len(g) for g in grids])
    try:
        for index in np.ndindex(*losses.shape):
            for k in moving:
                new = theta[k].clone()
                for axis, i in enumerate(index):
                    new.add_(directions[axis][k], alpha=float(grids[axis][i]))
                params[k].copy_(new)
            # the package's one evaluation loop: eval mode, flags restored, batch-mean losses
            losses[index] = evaluate(model, batches, loss_fn=loss_fn)[0]
    finally:
        for k, p in params.items():
            p.copy_(theta[k])
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
    _check_direction("direction", direction, dict(check_module("model", model).named_parameters()))
    _grid("alphas", alphas)
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
    y); ``plots.landscape_contour`` does that for you.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> d1 = filter_normalized_direction(model, generator=g)
        >>> d2 = filter_normalized_direction(model, generator=g)
        >>> grid = np.linspace(-1, 1, 11)
        >>> loss_surface_2d(model, F.cross_entropy, (x, y), d1, d2, grid, grid).shape
        (11, 11)
    """
    params = dict(check_module("model", model).named_parameters())
    _check_direction("d1", d1, params)
    _check_direction("d2", d2, params)
    _grid("alphas", alphas)
    _grid("betas", betas)
    return loss_surface(model, loss_fn, data, [d1, d2], [alphas, betas])


def _surface(losses: Any) -> np.ndarray:
    if isinstance(losses, (str, bytes)):
        raise TypeError("losses must be a 2-D array of numbers, got a str")
    try:
        z = np.asarray(losses, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"losses must be a 2-D array of numbers, got {losses!r:.60}") from err
    if z.ndim != 2 or min(z.shape) < 3:
        raise ValueError(f"losses must be a 2-D array of at least 3x3 points, got shape {z.shape}")
    return z


def _spacing(name: str, grid: Sequence[float] | None, points: int) -> float:
    if grid is None:
        return 1.0
    values = _grid(name, grid)
    if values.size != points:
        raise ValueError(
            f"{name} must have {points} values (one per row/column of losses), got {values.size}"
        )
    steps = np.diff(values)
    if not (np.all(steps > 0) and np.allclose(steps, steps[0])):
        raise ValueError(f"{name} must be evenly spaced and increasing, like np.linspace")
    return float(steps[0])


def slice_curvature_ratio_map(
    losses: np.ndarray, alphas: Sequence[float] | None = None, betas: Sequence[float] | None = None
) -> np.ndarray:
    """|λ_min / λ_max| of the 2x2 Hessian OF THE 2-D SLICE at each interior grid point.

    Li et al. (2018, Fig. 7) map |λ_min / λ_max| of the *full* Hessian (all weights), computed
    with Hessian-vector products, to show where the landscape is convex. This is a cheaper,
    different quantity: the 2x2 Hessian of the plotted slice L(θ + α d1 + β d2), estimated
    with central differences on the grid -- the curvature of the surface as drawn, in two of
    the network's many dimensions. A slice can look convex where the full Hessian has negative
    eigenvalues. Points with ``λ_min >= 0`` get 0.

    Args:
        losses: ``loss_surface_2d(...)``, shape ``(len(alphas), len(betas))``, >= 3x3.
        alphas, betas: the grid (for the spacing); default unit spacing.

    Returns:
        An array of shape ``(len(alphas) - 2, len(betas) - 2)``.

    Example:
        >>> slice_curvature_ratio_map(grid[:, None] ** 2 + grid[None, :] ** 2).max()
        0.0
    """
    z = _surface(losses)
    ha = _spacing("alphas", alphas, z.shape[0])
    hb = _spacing("betas", betas, z.shape[1])
    zaa = (z[2:, 1:-1] - 2 * z[1:-1, 1:-1] + z[:-2, 1:-1]) / ha**2
    zbb = (z[1:-1, 2:] - 2 * z[1:-1, 1:-1] + z[1:-1, :-2]) / hb**2
    zab = (z[2:, 2:] - z[2:, :-2] - z[:-2, 2:] + z[:-2, :-2]) / (4 * ha * hb)
    half_trace = (zaa + zbb) / 2
    spread = np.sqrt(np.maximum(half_trace**2 - (zaa * zbb - zab**2), 0.0))
    lam_max, lam_min = half_trace + spread, half_trace - spread
    largest = np.maximum(np.abs(lam_max), np.abs(lam_min))
    ratio = np.abs(np.minimum(lam_min, 0.0)) / np.maximum(largest, 1e-300)
    return np.where(largest > 0, ratio, 0.0)


def slice_nonconvex_fraction(
    losses: np.ndarray,
    alphas: Sequence[float] | None = None,
    betas: Sequence[float] | None = None,
    *,
    tol: float = 0.01,
) -> float:
    """Share of a 2-D slice's interior grid points with negative curvature beyond ``tol``.

    One number for "the plain net's slice is less convex": the share of points where the
    slice's 2x2 Hessian has |λ_min / λ_max| > ``tol`` (see ``slice_curvature_ratio_map``). It
    is NOT Li et al.'s Fig. 7 quantity, which uses the full Hessian; it describes the slice
    drawn, not the landscape.

    Example:
        >>> slice_nonconvex_fraction(z_plain, a, b) > slice_nonconvex_fraction(z_res, a, b)
    """
    tol = check_positive_number("tol", tol, allow_zero=True)
    return float((slice_curvature_ratio_map(losses, alphas, betas) > tol).mean())
