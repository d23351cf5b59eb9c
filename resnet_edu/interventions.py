"""Interventions: change one suspected cause of the degradation problem, see if it goes (ch. 3).

A measurement that goes with a failure is a correlation. To call it a cause, change it and
watch the failure. Each tool here changes one thing in a network or in its training and leaves
everything else (layers, initial weights, data, recipe) as it was. All of them work with
:func:`resnet_edu.train.fit`:

- :func:`scale_shortcuts` -- ``y = relu(F(x) + scale * shortcut(x))``: a dose of identity, from
  the plain net (``scale = 0``) to the ResNet (``scale = 1``); the book writes the factor lambda.
- :class:`FixedWeightNorms` -- a ``fit`` callback that puts every convolution's weight back to its
  initial norm after each step. A convolution followed by BatchNorm is scale-invariant, so its
  effective learning rate is ``lr / ||W||^2`` (Arora et al. 2019); this holds it fixed.
- :class:`FixedUpdateRatio` -- gradient hooks that rescale each layer's gradient so that
  ``lr * ||dL/dW|| = ratio * ||W||``: every layer moves by the same fraction of its weights in
  each step, whatever its gradient's size (the rule of LARS, You et al. 2017). No exploding
  first update, no collapsing effective learning rate.
- :class:`GradientProbe` -- a ``fit`` callback that measures, at chosen steps and on a copy of
  the model, how well the gradient points downhill: how much mini-batch gradients agree with
  their mean, and how much of the loss a line search along the mean gradient can remove.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_batch, check_module, check_positive_number

__all__ = [
    "FixedUpdateRatio",
    "FixedWeightNorms",
    "GradientProbe",
    "ProbeResult",
    "ScaledShortcutBlock",
    "scale_shortcuts",
]


class ScaledShortcutBlock(nn.Module):
    """``y = relu(F(x) + scale * shortcut(x))`` around a residual ``BasicBlock`` or ``Bottleneck``.

    The wrapped block keeps its weights; only the sum changes. ``scale = 1`` is the block itself,
    ``scale = 0`` its plain twin.
    """

    def __init__(self, block: nn.Module, scale: float) -> None:
        super().__init__()
        self.block, self.scale = block, scale

    def forward(self, x: Tensor) -> Tensor:
        block = self.block
        return block.relu(block.branch(x) + self.scale * block.shortcut(x))

    def extra_repr(self) -> str:
        return f"scale={self.scale:g}"


def scale_shortcuts(model: nn.Module, scale: float) -> nn.Module:
    """Multiply every shortcut of a ``CifarResNet`` (or a torchvision-style ResNet) by ``scale``.

    Each block of ``layer1`` ... ``layer4`` is wrapped in a :class:`ScaledShortcutBlock`, so its
    weights move one level down (``layer1.0.conv1`` becomes ``layer1.0.block.conv1``).

    Args:
        model: a ResNet with residual blocks (``residual=True``) in ``layer1``, ``layer2`` ...
        scale: the factor of the shortcut, in [0, 1] (0: the plain net; 1: the ResNet).

    Returns:
        ``model``, for chaining.

    Example:
        >>> model = scale_shortcuts(CifarResNet(56), scale=0.5)
    """
    check_module("model", model)
    scale = check_positive_number("scale", scale, allow_zero=True)
    if scale > 1:
        raise ValueError(f"scale must be in [0, 1] (0: plain net, 1: ResNet), got {scale}")
    stages = [getattr(model, f"layer{i}") for i in range(1, 5) if hasattr(model, f"layer{i}")]
    blocks = [(stage, i) for stage in stages for i in range(len(stage))]
    if not blocks:
        raise ValueError(f"model ({type(model).__name__}) has no stages layer1, layer2, ...")
    for stage, i in blocks:
        block = stage[i]
        if not (hasattr(block, "branch") and getattr(block, "residual", False)):
            raise ValueError(
                f"scale_shortcuts needs residual blocks with branch() and shortcut(); "
                f"{type(block).__name__} in {type(model).__name__} is not one (a plain net?)"
            )
    for stage, i in blocks:
        stage[i] = ScaledShortcutBlock(stage[i], scale)
    return model


def _conv_weights(model: nn.Module) -> list[nn.Parameter]:
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not weights:
        raise ValueError(f"model ({type(model).__name__}) has no nn.Conv2d layer")
    return weights


class FixedWeightNorms:
    """A ``fit`` callback: after every step, each conv weight is rescaled to its initial norm.

    For a convolution followed by BatchNorm this changes nothing the network computes, only the
    scale of the weights, and so it holds the layer's effective learning rate ``lr / ||W||^2``
    at its initial value for the whole run: the weight norm cannot grow.

    Args:
        model: the network; the norms are taken when the callback is made (before training).

    Example:
        >>> fit(model, data, config, callbacks=[FixedWeightNorms(model)])
    """

    def __init__(self, model: nn.Module) -> None:
        self.weights = _conv_weights(check_module("model", model))
        self.norms = [w.detach().norm().item() for w in self.weights]

    @torch.no_grad()
    def __call__(self, event: Any) -> None:
        if event.kind != "step":
            return
        for weight, norm in zip(self.weights, self.norms, strict=True):
            weight.mul_(norm / weight.norm().clamp_min(1e-30))


class FixedUpdateRatio:
    """Hold every layer's gradient step at ``ratio`` times its weight norm (a LARS-style rule).

    A context manager that adds a hook to the weight of every ``Conv2d`` and ``Linear``; the hook
    rescales the gradient ``g`` to ``g * ratio * ||W|| / (lr * ||g||)``, so that the SGD step
    ``lr * g`` is ``ratio * ||W||`` long in every layer and every step (momentum and weight
    decay then act as usual). The hooks are removed on exit.

    Args:
        model: the network.
        ratio: the step of each layer relative to its weight norm, e.g. 1e-3.
        lr: the learning rate SGD will use (``TrainConfig.lr``).

    Example:
        >>> with FixedUpdateRatio(model, ratio=1e-3, lr=config.lr):
        ...     history = fit(model, data, config)
    """

    def __init__(self, model: nn.Module, *, ratio: float, lr: float) -> None:
        check_module("model", model)
        self.ratio = check_positive_number("ratio", ratio)
        self.lr = check_positive_number("lr", lr)
        self.weights = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        if not self.weights:
            raise ValueError(f"model ({type(model).__name__}) has no nn.Conv2d or nn.Linear")
        self._handles: list[Any] = []

    def _hook(self, weight: nn.Parameter):
        def rescale(grad: Tensor) -> Tensor:
            size = self.ratio * weight.detach().norm() / self.lr
            return grad * (size / grad.norm().clamp_min(1e-30))

        return rescale

    def __enter__(self) -> FixedUpdateRatio:
        self._handles = [w.register_hook(self._hook(w)) for w in self.weights]
        return self

    def __exit__(self, *exc_info) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


@dataclass
class ProbeResult:
    """What a :class:`GradientProbe` measured at one step.

    Attributes:
        step: optimiser steps done before the measurement (0: at initialisation).
        loss: mean loss over the probe batches.
        agreement: mean cosine between each mini-batch gradient and the mean of the others
            (1: every batch points the same way; about 0: the batches disagree).
        gradient_norm: norm of the mean gradient g (all parameters).
        line: ``{t: loss at w - t * lr * g}`` for each step multiple t.
        best_drop: the largest fraction of ``loss`` removed along the line (0 if none).
    """

    step: int
    loss: float
    agreement: float
    gradient_norm: float
    line: dict[float, float] = field(default_factory=dict)
    best_drop: float = 0.0


class GradientProbe:
    """A ``fit`` callback: how well does the gradient point downhill, at chosen steps?

    At each step in ``steps`` it copies the model (so training is not touched) and, in
    training mode as ``fit`` runs it, computes the gradient of the loss on each probe batch.
    Two numbers follow (see :class:`ProbeResult`): the *agreement* of the mini-batch gradients
    with their mean, and the *best drop*, the largest share of the loss that a step along the
    mean gradient removes, over step lengths ``t * lr`` for ``t`` in ``multiples`` -- a line
    search. Call :meth:`measure` yourself for step 0.

    Args:
        batches: the probe batches, ``(inputs, targets)`` pairs of one size (e.g. 8 training
            batches); the mean gradient is their mean.
        steps: the steps after which to measure.
        lr: the learning rate the multiples refer to.
        multiples: step lengths along the mean gradient, in units of ``lr``.

    Example:
        >>> probe = GradientProbe(batches, steps=(20, 90), lr=0.025)
        >>> fit(model, data, config, callbacks=[probe])
        >>> [r.best_drop for r in probe.results]
    """

    def __init__(
        self,
        batches: Sequence[tuple[Tensor, Tensor]],
        *,
        steps: Iterable[int],
        lr: float,
        multiples: Sequence[float] = (0.5, 1, 2, 4, 8, 16, 32, 64),
    ) -> None:
        self.batches = _check_probe_batches(batches)
        self.steps = {int(s) for s in steps}
        if any(s < 0 for s in self.steps):
            raise ValueError(f"steps must be >= 0, got {sorted(self.steps)}")
        self.lr = check_positive_number("lr", lr)
        self.multiples = tuple(check_positive_number("multiples", t) for t in multiples)
        if not self.multiples:
            raise ValueError("multiples must hold at least one step length")
        self.results: list[ProbeResult] = []

    def __call__(self, event: Any) -> None:
        if event.kind == "step" and event.step in self.steps:
            self.measure(event.model, event.step)

    def measure(self, model: nn.Module, step: int = 0) -> ProbeResult:
        """Measure ``model`` now (on a copy) and append the result to ``results``."""
        check_module("model", model)
        probe = copy.deepcopy(model).train()
        params = [p for p in probe.parameters() if p.requires_grad]
        grads, losses = _batch_gradients(probe, params, self.batches)
        mean, total, n = grads.mean(0), grads.sum(0), len(grads)
        agreement = [F.cosine_similarity(g, (total - g) / (n - 1), dim=0).item() for g in grads]
        start = float(np.mean(losses))
        line = self._line(probe, params, mean)
        best = min([start, *line.values()])
        result = ProbeResult(
            step=step,
            loss=start,
            agreement=float(np.mean(agreement)),
            gradient_norm=mean.norm().item(),
            line=line,
            best_drop=(start - best) / start if math.isfinite(best) else 0.0,
        )
        self.results.append(result)
        return result

    @torch.no_grad()
    def _line(self, model: nn.Module, params: list[nn.Parameter], direction: Tensor) -> dict:
        origin = [p.detach().clone() for p in params]
        parts = torch.split(direction, [p.numel() for p in params])
        line = {}
        for t in self.multiples:
            for p, p0, d in zip(params, origin, parts, strict=True):
                p.copy_(p0 - t * self.lr * d.view_as(p))
            losses = [F.cross_entropy(model(x), y).item() for x, y in self.batches]
            line[t] = float(np.mean(losses))
        return line


def _check_probe_batches(batches: Any) -> list[tuple[Tensor, Tensor]]:
    """``batches`` as a list, after checking it holds at least two ``(inputs, targets)`` pairs."""
    if isinstance(batches, (str, bytes, Tensor)) or not isinstance(batches, Sequence):
        raise TypeError("batches must be a list of (inputs, targets) pairs")
    if len(batches) < 2:
        raise ValueError(f"batches must hold at least 2 batches, got {len(batches)}")
    for inputs, targets in batches:
        check_batch(inputs, targets)
    return list(batches)


def _batch_gradients(model: nn.Module, params: list[nn.Parameter], batches) -> tuple:
    """One flat gradient per batch (stacked, one row each) and each batch's loss."""
    grads, losses = [], []
    for inputs, targets in batches:
        model.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(inputs), targets)
        loss.backward()
        grads.append(torch.cat([_flat_grad(p) for p in params]))
        losses.append(loss.item())
    return torch.stack(grads), losses


def _flat_grad(p: Tensor) -> Tensor:
    return torch.zeros(p.numel()) if p.grad is None else p.grad.reshape(-1)
