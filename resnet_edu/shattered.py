"""Shattered gradients: how input gradients decorrelate with depth (chapter 8).

Balduzzi, Frean, Leary, Lewis, Ma, McWilliams, "The Shattered Gradients Problem: If resnets are
the answer, then what is the question?", ICML 2017. They feed a 1-D input, 256 points on
[-2, 2], through a rectifier net with a scalar output and look at the gradient df/dx at each
point: for a shallow net it changes smoothly from point to point, for a deep plain net it
looks like white noise ("shattered"), and for a ResNet of the same depth it stays correlated.
Their measure is the correlation between gradients at nearby inputs; it decays exponentially
with depth in plain nets and sub-linearly (like 1/sqrt(depth)) in ResNets.

Two set-ups are provided:

* the paper's own: ``ToyNet`` (1-D input, fully connected, optional BN and skips) evaluated on
  ``line_1d()``. Its residual blocks are the paper's, x + F(x) with nothing after the addition;
  ``extra_relu`` adds the ReLU of the book's BasicBlock after the addition (or on one of the two
  paths), which chapter 8 uses to test what that ReLU does;
* an image analogue for the book's CIFAR-style nets: ``input_line`` walks along a random
  direction around one (digits) image, x(t) = x0 + t·r·u for t in [-1, 1], and
  ``input_gradients`` returns the gradient of one output at every x(t) -- an image-shaped
  vector per point.

The measure (``gradient_autocorrelation``): the Pearson correlation between the flattened
gradients at x(t) and x(t + lag), averaged over t. For a 1-D input the "flattened gradient" is
a single number, so there the correlation is taken across the whole series instead (the
autocorrelation of the gradient signal g(t), as in the paper's Fig. 2).

Gradients are taken in eval mode, so each point's gradient depends on that point only (BN with
its running statistics); the model's mode is restored afterwards.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
import torch
from torch import Tensor, nn

from ._checks import BATCH_NORMS, check_choice, check_int, check_module, check_positive_number
from .measure import eval_mode


def line_1d(n_points: int = 256, low: float = -2.0, high: float = 2.0) -> Tensor:
    """The paper's 1-D inputs: ``n_points`` equally spaced on [low, high], shape (n, 1).

    Example:
        >>> line_1d(5).flatten()
        tensor([-2., -1.,  0.,  1.,  2.])
    """
    check_int("n_points", n_points, minimum=2)
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value):
            raise TypeError(f"{name} must be a finite number, got {value!r}")
    if not high > low:
        raise ValueError(f"high must be > low, got low={low}, high={high}")
    return torch.linspace(low, high, n_points).unsqueeze(1)


def input_line(
    x0: Tensor,
    *,
    n_points: int = 64,
    radius: float = 1.0,
    direction: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Inputs x(t) = x0 + t·radius·u for ``n_points`` values of t evenly spaced on [-1, 1].

    Args:
        x0: the centre, one input of shape (C, H, W) (or (1, C, H, W)).
        n_points: points on the line.
        radius: how far the line reaches on each side; ``u`` has one unit of standard
            deviation per pixel, so ``radius=1`` moves each pixel by about one standard
            deviation of standardised data at the ends.
        direction: ``u`` itself (shape of ``x0``); default a Gaussian draw.
        generator: a ``torch.Generator`` for the Gaussian draw.

    Returns:
        A batch of shape ``(n_points, *x0.shape)``.

    Example:
        >>> input_line(torch.zeros(1, 8, 8), n_points=32).shape
        torch.Size([32, 1, 8, 8])
    """
    if not isinstance(x0, Tensor):
        raise TypeError(f"x0 must be a torch.Tensor, got {type(x0).__name__}")
    if x0.dim() >= 2 and x0.shape[0] == 1 and x0.dim() == 4:
        x0 = x0[0]
    check_int("n_points", n_points, minimum=2)
    radius = check_positive_number("radius", radius)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {generator!r}")
    if direction is None:
        direction = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    elif not isinstance(direction, Tensor):
        raise TypeError(f"direction must be a torch.Tensor or None, got {type(direction).__name__}")
    elif direction.shape != x0.shape:
        raise ValueError(
            f"direction must have the shape of x0 {tuple(x0.shape)}, got {tuple(direction.shape)}"
        )
    t = torch.linspace(-1.0, 1.0, n_points, dtype=x0.dtype).view(-1, *([1] * x0.dim()))
    return x0.unsqueeze(0) + t * radius * direction.to(x0.device).unsqueeze(0)


@torch.no_grad()
def calibrate_bn(model: nn.Module, inputs: Tensor) -> nn.Module:
    """Set every BatchNorm's running statistics to those of ``inputs``, in place.

    Needed to measure an *untrained* net in eval mode: a fresh BN has running mean 0 and
    variance 1, so it does nothing, and a ReLU net with zero biases is then positively
    homogeneous -- f(c·x) = c·f(x) -- which makes gradients along a line through the origin
    piecewise constant whatever the depth. Balduzzi et al. use BN with batch statistics; this
    computes those statistics once (one forward pass in train mode with a cumulative average)
    and freezes them, so that each input's gradient still depends on that input only.

    Args:
        model: the network; its running statistics change, nothing else does.
        inputs: the batch whose statistics to use (e.g. the line itself, or a data batch).

    Example:
        >>> model = calibrate_bn(ToyNet(24), line_1d())
    """
    check_module("model", model)
    if not isinstance(inputs, Tensor):
        raise TypeError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}")
    norms = [m for m in model.modules() if isinstance(m, BATCH_NORMS)]
    momenta = [m.momentum for m in norms]
    try:
        with eval_mode(model):  # restores every module's flag after the train-mode pass below
            for m in norms:
                m.reset_running_stats()
                m.momentum = None  # cumulative average: after one batch, exactly its statistics
            model.train()
            model(inputs)
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
    return model


def input_gradients(model: nn.Module, inputs: Tensor, *, unit: int = 0) -> Tensor:
    """d output[unit] / d input at every input of the batch (eval mode), same shape as inputs.

    Args:
        model: any network returning ``(N, outputs)``.
        inputs: the batch, e.g. from ``input_line`` or ``line_1d``.
        unit: which output (a class logit) to differentiate.

    Example:
        >>> grads = input_gradients(model, input_line(x0), unit=3)
    """
    check_module("model", model)
    if not isinstance(inputs, Tensor):
        raise TypeError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}")
    check_int("unit", unit, minimum=0)
    with eval_mode(model):
        x = inputs.detach().clone().requires_grad_(True)
        out = model(x)
        if out.dim() != 2 or unit >= out.shape[1]:
            raise ValueError(f"unit must index the model's outputs {tuple(out.shape)}, got {unit}")
        # eval mode: samples are independent, so the gradient of the sum is per-sample
        (grad,) = torch.autograd.grad(out[:, unit].sum(), x)
    return grad


def gradient_autocorrelation(grads: Tensor, max_lag: int) -> np.ndarray:
    """Correlation of gradients ``lag`` steps apart along the line, for lag = 0..max_lag.

    For vector gradients (images): the Pearson correlation of the flattened g(t) and
    g(t + lag), averaged over t. For scalar gradients (1-D inputs): the Pearson correlation of
    the series g(t) with g(t + lag). Entry 0 is 1 by definition.

    Pairs in which one gradient is constant (all zero, say) are left out of the average; the
    result is NaN when no pair is left.

    Args:
        grads: ``(n_points, ...)`` gradients along a line.
        max_lag: largest lag, < n_points - 1.

    Example:
        >>> gradient_autocorrelation(input_gradients(model, line), max_lag=8)
    """
    if not isinstance(grads, Tensor):
        raise TypeError(f"grads must be a torch.Tensor, got {type(grads).__name__}")
    if grads.dim() == 0 or len(grads) < 2:
        raise ValueError(
            f"grads must be (n_points, ...) with n_points >= 2, got {tuple(grads.shape)}"
        )
    g = grads.detach().double().reshape(len(grads), -1)
    n = g.shape[0]
    check_int("max_lag", max_lag, minimum=0)
    if max_lag > n - 2:
        raise ValueError(f"max_lag must be <= n_points - 2 = {n - 2}, got {max_lag}")
    result = np.empty(max_lag + 1)
    if g.shape[1] == 1:
        series = g[:, 0]
        for lag in range(max_lag + 1):
            a, b = series[: n - lag], series[lag:]
            result[lag] = _pearson(a, b)
        return result
    centred = g - g.mean(1, keepdim=True)
    norms = centred.norm(dim=1)
    for lag in range(max_lag + 1):
        # a point whose gradient is constant (e.g. zero: all ReLUs on its way dead) has no
        # correlation to speak of; leave its pairs out rather than count them as 0
        a, b = centred[: n - lag], centred[lag:]
        denom = norms[: n - lag] * norms[lag:]
        ok = denom > 0
        result[lag] = ((a[ok] * b[ok]).sum(1) / denom[ok]).mean().item() if ok.any() else np.nan
    return result


def _pearson(a: Tensor, b: Tensor) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-30))


def input_gradient_correlation(
    model: nn.Module, inputs_line: Tensor, *, unit: int = 0, lag: int = 1
) -> float:
    """One number: the correlation of input gradients ``lag`` steps apart along a line.

    Near 1: the gradient changes smoothly (shallow nets, ResNets); near 0: shattered (deep
    plain nets). See ``gradient_autocorrelation`` for the measure.

    Args:
        model: the network.
        inputs_line: ``(n_points, ...)`` inputs from ``input_line`` or ``line_1d``.
        unit: which output to differentiate.
        lag: distance along the line, in steps.

    Example:
        >>> line = input_line(x0, n_points=64, generator=torch.Generator().manual_seed(0))
        >>> input_gradient_correlation(plain56(in_channels=1), line)
    """
    check_int("lag", lag, minimum=1)
    grads = input_gradients(model, inputs_line, unit=unit)
    return float(gradient_autocorrelation(grads, lag)[lag])


#: Where a residual ``ToyNet`` block may put one more ReLU (see ``ToyNet``).
EXTRA_RELUS = ("none", "after_addition", "end_of_branch", "on_skip")


class ToyNet(nn.Module):
    """The paper's fully connected rectifier net: 1-D input, hidden layers of ``width``, 1 output.

    A stem ``relu(bn(W x))`` lifts the scalar input to ``width`` units, then ``depth`` hidden
    layers follow. Plain: each is ``relu(bn(W x))``. Residual: consecutive pairs become a block
    with the branch ``F(x) = bn(W2 relu(bn(W1 x)))``, and ``extra_relu`` says what else it does:

    * ``"none"`` (default): ``x + F(x)``, nothing after the addition, as in Balduzzi et al.;
    * ``"after_addition"``: ``relu(x + F(x))``, the paper's BasicBlock (chapter 8's old toy);
    * ``"end_of_branch"``: ``x + relu(F(x))``, the same ReLU moved off the shortcut path;
    * ``"on_skip"``: ``relu(x) + F(x)``, a ReLU on the shortcut path only.

    Linear layers are He-initialised.

    Args:
        depth: hidden layers after the stem (even when ``residual``).
        width: hidden units (the paper used 200).
        residual: add the skip connections.
        batchnorm: use BatchNorm1d after each linear layer.
        extra_relu: one of ``EXTRA_RELUS``; residual nets only.

    Example:
        >>> ToyNet(24)(line_1d()).shape
        torch.Size([256, 1])
        >>> ToyNet(50, residual=True, extra_relu="after_addition")  # the post-activation toy
    """

    def __init__(
        self,
        depth: int,
        *,
        width: int = 200,
        residual: bool = False,
        batchnorm: bool = True,
        extra_relu: str = "none",
    ) -> None:
        super().__init__()
        check_int("depth", depth, minimum=0)
        check_int("width", width, minimum=1)
        for name, value in (("residual", residual), ("batchnorm", batchnorm)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be True or False, got {value!r}")
        check_choice("extra_relu", extra_relu, EXTRA_RELUS)
        if residual and depth % 2:
            raise ValueError(f"depth must be even for a residual ToyNet, got {depth}")
        if not residual and extra_relu != "none":
            raise ValueError(
                f"extra_relu must be 'none' for a plain ToyNet (it has no shortcut), "
                f"got {extra_relu!r}; pass residual=True"
            )
        self.residual, self.extra_relu = residual, extra_relu

        def layer(n_in: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Linear(n_in, width), nn.BatchNorm1d(width) if batchnorm else nn.Identity()
            )

        self.stem = layer(1)
        self.hidden = nn.ModuleList(layer(width) for _ in range(depth))
        self.head = nn.Linear(width, 1)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[1] != 1:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must be a (N, 1) batch of scalar inputs (see line_1d), got {got}")
        x = torch.relu(self.stem(x))
        if not self.residual:
            for layer in self.hidden:
                x = torch.relu(layer(x))
            return self.head(x)
        for first, second in zip(self.hidden[::2], self.hidden[1::2], strict=True):
            branch = second(torch.relu(first(x)))  # F(x)
            if self.extra_relu == "after_addition":
                x = torch.relu(x + branch)
            elif self.extra_relu == "end_of_branch":
                x = x + torch.relu(branch)
            elif self.extra_relu == "on_skip":
                x = torch.relu(x) + branch
            else:
                x = x + branch
        return self.head(x)
