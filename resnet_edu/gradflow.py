"""Instruments that watch the signal and the gradient flow through a network (chapters 3, 8, 9).

Three recorders, all context managers that add hooks on ``__enter__`` and always remove them on
``__exit__`` (also when the body raises), and all returning plain data -- a dataclass of
``{module name: [one value per step]}`` dicts in forward order, with ``as_array()`` for a
layer x step NumPy array -- that the functions of ``resnet_edu.plots`` take:

- ``GradientRecorder``: per backward pass, the L2 norm of the weight gradient of every
  ``Conv2d``/``Linear``, and the L2 norm of dLoss/d(output) of the stem, of every residual (or
  plain) block and of the head.
- ``ActivationRecorder``: per forward pass, the mean, std and fraction of zeros of every block's
  output, and the std of every 3x3 layer's response after its BN, before the ReLU or the addition
  (the quantity of the paper's Figure 7).
- ``WeightRecorder``: per training step, the norm of every ``Conv2d``/``Linear`` weight and the
  size of its update relative to it, ||W_{t+1} - W_t|| / ||W_t|| (for a layer followed by BN,
  a growing weight norm means ever smaller relative updates).

Three one-shot helpers answer the common question in one line and leave the model exactly as
they found it (mode, ``.grad``, BN running statistics): ``gradient_norms``,
``block_gradient_norms`` and ``response_stds``.

The recorders only *read*: outputs and gradients are bit-identical with and without them. They
use tensor hooks rather than ``register_full_backward_hook``, because the blocks end in
``nn.ReLU(inplace=True)`` and full backward hooks refuse outputs that are modified in place; the
end of a backward pass is a public autograd hook, ``torch.autograd.graph.register_multi_grad_hook``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import NORM_LAYERS, check_batch, check_choice, check_labels, check_module
from .measure import eval_mode

#: Class names recognised as blocks by default: ours (``resnet_edu.blocks``, ``resnet_edu.preact``)
#: and torchvision's, which use the same names.
DEFAULT_BLOCK_TYPES = ("BasicBlock", "Bottleneck", "PreActBlock")


STEM, HEAD = "stem", "head"

LossFn = Callable[[Tensor, Tensor], Tensor]


# --------------------------------------------------------------------------------------------
# Plain data
# --------------------------------------------------------------------------------------------
def _to_array(series: dict[str, list[float]]) -> np.ndarray:
    if not series:
        return np.zeros((0, 0))
    return np.array([series[name] for name in series], dtype=float)


@dataclass
class GradientRecord:
    """What a ``GradientRecorder`` saw: one value per layer and backward pass (chapter 3).

    Attributes:
        weight_grad_norms: ``{conv/linear name: [||dL/dW|| per backward pass]}``, forward order.
        output_grad_norms: ``{"stem" | block name | "head": [||dL/d(output)|| per pass]}``.
            ``"stem"`` is the input of the first block (the output of everything before it),
            ``"head"`` the model's output (the logits).
        steps: number of backward passes recorded.

    A layer that received no gradient in a pass (frozen, or unused) has ``nan`` for it.

    Example:
        >>> record.as_array("weight").shape  # ResNet-56, 3 steps: (layers, steps)
        (57, 3)
    """

    weight_grad_norms: dict[str, list[float]] = field(default_factory=dict)
    output_grad_norms: dict[str, list[float]] = field(default_factory=dict)
    steps: int = 0

    def as_array(self, kind: str = "weight") -> np.ndarray:
        """A ``layers x steps`` float array of ``kind`` ``"weight"`` or ``"output"`` norms."""
        check_choice("kind", kind, ("weight", "output"))
        return _to_array(self.weight_grad_norms if kind == "weight" else self.output_grad_norms)

    def names(self, kind: str = "weight") -> list[str]:
        """The row names of ``as_array(kind)``."""
        check_choice("kind", kind, ("weight", "output"))
        return list(self.weight_grad_norms if kind == "weight" else self.output_grad_norms)

    def last(self, kind: str = "weight") -> dict[str, float]:
        """``{name: norm}`` of the latest backward pass."""
        check_choice("kind", kind, ("weight", "output"))
        series = self.weight_grad_norms if kind == "weight" else self.output_grad_norms
        if self.steps == 0:
            raise ValueError("no backward pass was recorded: call loss.backward() in the with")
        return {name: values[-1] for name, values in series.items()}


@dataclass
class ActivationRecord:
    """What an ``ActivationRecorder`` saw: one value per module and forward pass (chapter 3).

    Attributes:
        block_mean, block_std: mean and std of every block's output.
        dead_fraction: fraction of every block's output entries that are exactly 0 (dead ReLUs,
            for blocks that end in a ReLU).
        response_std: ``{3x3 conv name: std of its response}`` -- after the norm that follows it,
            before any ReLU or addition (the paper's Figure 7; see ``response_layers``).
        steps: number of forward passes recorded.

    Example:
        >>> list(record.response_std)[:2]
        ['conv1', 'layer1.0.conv1']
    """

    block_mean: dict[str, list[float]] = field(default_factory=dict)
    block_std: dict[str, list[float]] = field(default_factory=dict)
    dead_fraction: dict[str, list[float]] = field(default_factory=dict)
    response_std: dict[str, list[float]] = field(default_factory=dict)
    steps: int = 0

    _KINDS = ("block_mean", "block_std", "dead_fraction", "response_std")

    def as_array(self, kind: str = "response_std") -> np.ndarray:
        """A ``modules x steps`` array of one of the four statistics."""
        check_choice("kind", kind, self._KINDS)
        return _to_array(getattr(self, kind))

    def last(self, kind: str = "response_std") -> dict[str, float]:
        """``{name: value}`` of the latest forward pass."""
        check_choice("kind", kind, self._KINDS)
        if self.steps == 0:
            raise ValueError("no forward pass was recorded: call the model inside the with")
        return {name: values[-1] for name, values in getattr(self, kind).items()}


# --------------------------------------------------------------------------------------------
# Finding the parts of a model
# --------------------------------------------------------------------------------------------
def _recorded_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if not layers:
        raise ValueError(
            f"model ({type(model).__name__}) has no nn.Conv2d or nn.Linear layer to record"
        )
    return layers


def find_blocks(
    model: nn.Module,
    *,
    blocks: Iterable[str] | None = None,
    block_types: Iterable[type | str] | None = None,
) -> list[tuple[str, nn.Module]]:
    """The ``(name, module)`` pairs that count as blocks (``is_block``), in ``named_modules()``
    order (``ensembles.residual_blocks`` uses it too).

    Args:
        model: the network.
        blocks: explicit module names (as in ``model.named_modules()``); overrides detection.
        block_types: classes or class names; default ``DEFAULT_BLOCK_TYPES`` (our and
            torchvision's ``BasicBlock``/``Bottleneck``, our ``PreActBlock``).

    Example:
        >>> [name for name, _ in find_blocks(resnet20())][:2]
        ['layer1.0', 'layer1.1']
    """
    modules = dict(check_module("model", model).named_modules())
    if blocks is not None:
        if isinstance(blocks, (str, bytes)) or not isinstance(blocks, Iterable):
            raise TypeError(f"blocks must be a list of module names, got {blocks!r}")
        names = list(blocks)
        unknown = [n for n in names if n not in modules or n == ""]
        if unknown:
            sample = [n for n in modules if n][:6]
            raise ValueError(f"blocks: no submodule named {unknown}; names look like {sample}")
        return [(n, modules[n]) for n in names]
    matches = _block_matcher(block_types)
    return [(n, m) for n, m in modules.items() if n and matches(m)]


def is_block(module: nn.Module, block_types: Iterable[type | str] | None = None) -> bool:
    """Whether ``module`` counts as a block: the package's one definition of "a block".

    A block is an instance of one of ``block_types`` (classes or class names), by default
    ``DEFAULT_BLOCK_TYPES``: ``BasicBlock``, ``Bottleneck`` or ``PreActBlock`` -- ours, or
    torchvision's, which have the same names. Plain twins (``residual=False``) are blocks too.

    Example:
        >>> is_block(resnet20().layer1[0]), is_block(resnet20().layer1)
        (True, False)
    """
    return _block_matcher(block_types)(module)


def _block_matcher(block_types: Iterable[type | str] | None) -> Callable[[nn.Module], bool]:
    if isinstance(block_types, (str, bytes, type)):
        raise TypeError(
            f"block_types must be a list of classes or class names, got {block_types!r}"
        )
    types = DEFAULT_BLOCK_TYPES if block_types is None else tuple(block_types)
    for t in types:
        if not isinstance(t, (type, str)):
            raise TypeError(f"block_types must hold classes or class names, got {t!r}")
    classes = tuple(t for t in types if isinstance(t, type))
    class_names = {t for t in types if isinstance(t, str)}
    return lambda m: isinstance(m, classes) or type(m).__name__ in class_names


def response_layers(model: nn.Module) -> dict[str, str]:
    """``{3x3 conv name: name of the module whose output is that conv's response}``.

    The response of a 3x3 conv is the output of the norm layer registered right after it in the
    same parent (``conv1`` -> ``bn1``; ``nn.Identity`` in a no-BN net), or the conv's own output
    when no norm follows it (the last conv of a pre-activation block, a VGG without BN). That is
    "the outputs of each 3x3 layer, after BN and before other nonlinearity (ReLU/addition)" of the
    paper's Figure 7, for every 3x3 layer including the CIFAR stem.

    Example:
        >>> list(response_layers(resnet20()).items())[:2]
        [('conv1', 'bn1'), ('layer1.0.conv1', 'layer1.0.bn1')]
    """
    pairs: dict[str, str] = {}
    for parent_name, parent in check_module("model", model).named_modules():
        children = list(parent.named_children())
        for i, (name, child) in enumerate(children):
            if not (isinstance(child, nn.Conv2d) and tuple(child.kernel_size) == (3, 3)):
                continue
            prefix = f"{parent_name}." if parent_name else ""
            follower = children[i + 1] if i + 1 < len(children) else None
            if follower is not None and isinstance(follower[1], NORM_LAYERS):
                pairs[prefix + name] = prefix + follower[0]
            else:
                pairs[prefix + name] = prefix + name
    return pairs


def _std_mean(x: Tensor) -> tuple[Tensor, Tensor]:
    """Std (Bessel-corrected) and mean of a flat float tensor from its first two moments.

    Two fast reductions (mean, dot) instead of torch.std's Welford pass, which is 2-5x slower
    on CPU and made the recorder cost ~25% of a ResNet-56 step. Float32 moments are accurate to
    ~1e-5 relative for activations whose mean is not much larger than their std (BN outputs,
    ReLU outputs), far below the batch-to-batch variation of the statistic.
    """
    n = x.numel()
    mean = x.mean()
    mean_square = torch.dot(x, x) / n
    var = (mean_square - mean.square()).clamp_min(0.0) * (n / max(n - 1, 1))
    return var.sqrt(), mean


def _combine(old: Tensor | None, new: Tensor) -> Tensor:
    # A module run twice in one pass: the norm of the gradient w.r.t. both of its outputs.
    return new if old is None else torch.hypot(old, new)


# --------------------------------------------------------------------------------------------
# Recorders
# --------------------------------------------------------------------------------------------
class _Recorder:
    """Hook bookkeeping shared by the recorders: enter once, always remove on exit."""

    def __init__(self, model: nn.Module) -> None:
        self.model = check_module("model", model)
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._state = "new"  # new -> active -> closed

    def __enter__(self):
        if self._state != "new":
            raise RuntimeError(
                f"this {type(self).__name__} was already used; make a new one for a new recording"
            )
        self._state = "active"
        try:
            self._install()
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self._remove()

    def _remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._state = "closed"

    def _install(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class _BlockRecorder(_Recorder):
    """A recorder that watches a model's blocks (``find_blocks``); ``_setup`` does the rest."""

    def __init__(
        self,
        model: nn.Module,
        *,
        blocks: Iterable[str] | None = None,
        block_types: Iterable[type | str] | None = None,
    ) -> None:
        super().__init__(model)
        self._blocks = find_blocks(model, blocks=blocks, block_types=block_types)
        self._setup()

    def _setup(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class _ForwardOrder:
    """The order in which named modules first run, learnt in one forward pass, then off."""

    def __init__(self, named_modules: Iterable[tuple[str, nn.Module]]) -> None:
        self.rank: dict[str, int] = {}
        self.handles = [m.register_forward_pre_hook(self._hook(n)) for n, m in named_modules]

    def _hook(self, name: str):
        def hook(module, args):
            self.rank.setdefault(name, len(self.rank))

        return hook

    def stop(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()

    def sort(self, names: Iterable[str]) -> list[str]:
        """``names`` in forward order; names that never ran come last, in the order given."""
        return sorted(names, key=lambda n: self.rank.get(n, len(self.rank)))


def _series(steps: list[dict[tuple[str, str], Tensor]], kind: str, names: Iterable[str]):
    """``{name: [value per step]}`` from per-step ``{(kind, name): 0-d tensor}``, nan if absent.

    One stack and one copy to the CPU per name, not one per value.
    """
    out: dict[str, list[float]] = {}
    for name in names:
        values = [step.get((kind, name)) for step in steps]
        known = [v for v in values if v is not None]
        floats = iter(torch.stack(known).float().cpu().tolist()) if known else iter(())
        out[name] = [math.nan if v is None else next(floats) for v in values]
    return out


class _BackwardPasses:
    """One ``{(kind, name): norm}`` dict per backward pass: tensor hooks fill it, and a public
    autograd hook (``register_multi_grad_hook``) closes it when the pass is over."""

    def __init__(self, active: Callable[[], bool]) -> None:
        self.active = active
        self.steps: list[dict[tuple[str, str], Tensor]] = []
        self._pending: dict[tuple[str, str], Tensor] = {}
        self._end_hooks: list[torch.utils.hooks.RemovableHandle] = []

    def grad_hook(self, kind: str, name: str) -> Callable[[Tensor], None]:
        def hook(grad: Tensor) -> None:
            if self.active():  # not a graph built inside the with, differentiated after it
                key, norm = (kind, name), torch.linalg.vector_norm(grad.detach())
                self._pending[key] = _combine(self._pending.get(key), norm)

        return hook

    def end_after(self, tensors: list[Tensor]) -> None:
        """Close the pass once the gradients of all ``tensors`` that it computes are in."""
        self._end_hooks.append(torch.autograd.graph.register_multi_grad_hook(tensors, self._end))

    def _end(self, grads: Sequence[Tensor | None]) -> None:
        if self._pending:  # empty if another forward's hook closed this pass already
            self.steps.append(self._pending)
            self._pending = {}

    def remove(self) -> None:
        """Drop the end hooks (at exit, and of forwards whose backward came or never will)."""
        for hook in self._end_hooks:
            hook.remove()
        self._end_hooks.clear()


class GradientRecorder(_BlockRecorder):
    """Record gradient norms per backward pass while the ``with`` block runs (chapter 3).

    For every ``Conv2d``/``Linear`` it records ``||dL/dW||`` (the gradient of that backward pass,
    which equals ``layer.weight.grad.norm()`` when the grads were zeroed before it); for the stem,
    every block and the head, ``||dL/d(output)||``. A step is one backward pass through the model
    (``loss.backward()``), so one recorder can watch a whole training run.

    Args:
        model: any ``nn.Module`` with at least one ``Conv2d``/``Linear``.
        blocks: names of the modules to treat as blocks (default: detected by class).
        block_types: classes or class names that are blocks (default ``DEFAULT_BLOCK_TYPES``).

    The stem's output is the input of the first block called in a forward pass (for our CIFAR
    nets ``relu(bn1(conv1(x)))``, for torchvision's the max-pool output); the head's output is the
    model's output. A model without blocks records only the head.

    Example:
        >>> model = resnet20()
        >>> with GradientRecorder(model) as rec:
        ...     F.cross_entropy(model(x), y).backward()
        >>> norms = rec.result().last("weight")  # {"conv1": ..., ..., "fc": ...}
    """

    def _setup(self) -> None:
        self._weights = _recorded_layers(self.model)
        self._order = _ForwardOrder([*self._weights, *self._blocks])
        self._passes = _BackwardPasses(lambda: self._state == "active")
        self._end_set = False  # the end of this forward's backward pass is hooked

    def _install(self) -> None:
        trainable = {n: m.weight for n, m in self._weights if m.weight.requires_grad}
        self._trainable = list(trainable.values())  # a frozen layer keeps nan in every step
        for name, weight in trainable.items():
            self._handles.append(weight.register_hook(self._passes.grad_hook("weight", name)))
        for name, block in self._blocks:
            self._handles.append(block.register_forward_pre_hook(self._stem_hook))
            self._handles.append(block.register_forward_hook(self._output_hook(name)))
        self._handles.append(self.model.register_forward_pre_hook(self._root_pre_hook))
        self._handles.append(self.model.register_forward_hook(self._output_hook(HEAD)))
        self._handles += [*self._order.handles, self._passes]

    def _root_pre_hook(self, module, args) -> None:
        self._end_set = False
        if torch.is_grad_enabled():
            self._passes.remove()  # the last forward's backward pass has come, or never will

    def _stem_hook(self, module, args) -> None:
        if not self._end_set and args and isinstance(args[0], Tensor):
            self._watch(STEM, args[0])  # the first block's input is the stem's output

    def _output_hook(self, name: str):
        def hook(module, args, output):
            if name == HEAD:
                self._order.stop()  # the first forward is over: the order is known
            if isinstance(output, Tensor):
                self._watch(name, output)

        return hook

    def _watch(self, name: str, output: Tensor) -> None:
        if output.requires_grad:
            output.register_hook(self._passes.grad_hook("output", name))
            if not self._end_set:  # the first output watched: every later one depends on it
                self._passes.end_after([*self._trainable, output])
                self._end_set = True

    def result(self) -> GradientRecord:
        """The norms recorded so far, as a ``GradientRecord`` (callable during or after)."""
        steps, weights = self._passes.steps, self._order.sort(n for n, _ in self._weights)
        blocks = self._order.sort(n for n, _ in self._blocks)
        outputs = [STEM, *blocks, HEAD] if blocks else [HEAD]
        return GradientRecord(
            _series(steps, "weight", weights), _series(steps, "output", outputs), len(steps)
        )


def _block_statistics(x: Tensor) -> dict[str, Tensor]:
    std, mean = _std_mean(x)
    # ||sign(x)||^2 counts the non-zeros, ~5x faster on CPU than count_nonzero or (x == 0).sum()
    # (benchmarks/bench_gradflow.py)
    alive = torch.linalg.vector_norm(torch.sign(x)).square() / x.numel()
    return {"block_mean": mean, "block_std": std, "dead_fraction": 1.0 - alive}


def _response_statistics(x: Tensor) -> dict[str, Tensor]:
    return {"response_std": _std_mean(x)[0]}


class ActivationRecorder(_BlockRecorder):
    """Record activation statistics per forward pass while the ``with`` block runs (chapter 3).

    Per block: mean, std and fraction of exact zeros of its output. Per 3x3 conv: the std of its
    response after the norm that follows it and before any ReLU or addition (see
    ``response_layers``) -- the paper's Figure 7. Statistics are computed inside the forward
    hook, before any in-place ReLU can overwrite the tensor, and without building a graph.

    Args:
        model: any ``nn.Module``.
        blocks, block_types: as for ``GradientRecorder``.

    Example:
        >>> model = resnet20().train()
        >>> with ActivationRecorder(model) as rec:
        ...     model(x)
        >>> stds = rec.result().last("response_std")  # {"conv1": ..., "layer1.0.conv1": ...}
    """

    def _setup(self) -> None:
        self._responses = response_layers(self.model)
        if not self._blocks and not self._responses:
            raise ValueError(
                f"model ({type(self.model).__name__}) has no block and no 3x3 conv to record; "
                "pass blocks=[module names]"
            )
        self._steps: list[dict[tuple[str, str], Tensor]] = []
        self._current: dict[tuple[str, str], Tensor] = {}

    def _install(self) -> None:
        modules = dict(self.model.named_modules())
        hooks = [(block, self._hook(name, _block_statistics)) for name, block in self._blocks]
        hooks += [
            (modules[response], self._hook(conv, _response_statistics))
            for conv, response in self._responses.items()
        ]
        self._handles += [module.register_forward_hook(hook) for module, hook in hooks]
        self._handles.append(self.model.register_forward_pre_hook(self._root_pre_hook))
        self._handles.append(self.model.register_forward_hook(self._root_hook))

    def _root_pre_hook(self, module, args) -> None:
        self._current = {}

    def _root_hook(self, module, args, output) -> None:
        self._steps.append(self._current)
        self._current = {}

    def _hook(self, name: str, statistics: Callable[[Tensor], dict[str, Tensor]]):
        # Inside the forward hook, before an in-place ReLU can overwrite the output.
        def hook(module, args, output):
            if isinstance(output, Tensor):
                with torch.no_grad():
                    for kind, value in statistics(output.detach().float().reshape(-1)).items():
                        self._current[kind, name] = value

        return hook

    def result(self) -> ActivationRecord:
        """The statistics recorded so far, as an ``ActivationRecord``."""
        record = ActivationRecord(steps=len(self._steps))
        for kind in ActivationRecord._KINDS:
            names = self._responses if kind == "response_std" else [n for n, _ in self._blocks]
            setattr(record, kind, _series(self._steps, kind, names))
        return record


@dataclass
class WeightRecord:
    """What a ``WeightRecorder`` saw: weight norms and relative updates per training step.

    Attributes:
        weight_norms: ``{conv/linear name: [||W_0||, ||W_1||, ..., ||W_T||]}`` -- the norm of
            each layer's weight before the first recorded update and after each one (T + 1
            values; index t = after t updates).
        update_ratios: ``{conv/linear name: [||W_{t+1} - W_t|| / ||W_t|| for t < T]}`` -- the
            size of each update relative to the weight it changed (T values), the quantity
            Karpathy's lectures plot on a log scale (healthy: around 1e-3).
        steps: T, the number of updates recorded.

    Example:
        >>> len(record.weight_norms["conv1"]) == record.steps + 1
        True
    """

    weight_norms: dict[str, list[float]] = field(default_factory=dict)
    update_ratios: dict[str, list[float]] = field(default_factory=dict)
    steps: int = 0


class WeightRecorder(_Recorder):
    """Record each layer's weight norm and update-to-weight ratio over training (chapter 3).

    A conv followed by BatchNorm is scale-invariant: its gradient falls as 1/||W|| and its
    relative update as 1/||W||^2, so a layer whose weight norm grows learns ever more slowly.
    This recorder measures exactly that, for every ``Conv2d``/``Linear`` weight. It compares
    weights, whatever changed them (SGD, momentum, weight decay), so its ratios are the real
    relative updates, not ``lr * grad`` estimates.

    When is an update recorded?
        - ``optimizer`` given: after every ``optimizer.step()`` (a step post-hook).
        - otherwise: at the start of every forward pass in training mode with gradients enabled
          whose weights differ from the last recorded ones, and once more when the ``with``
          ends -- so it also watches ``train.fit``, whose optimizer a caller does not see.

    Args:
        model: any ``nn.Module`` with at least one ``Conv2d``/``Linear``.
        optimizer: the ``torch.optim.Optimizer`` that updates ``model`` (optional).

    Example:
        >>> with WeightRecorder(model) as rec:
        ...     fit(model, data, config)
        >>> rec.result().update_ratios["conv1"][:3]
    """

    def __init__(self, model: nn.Module, *, optimizer: torch.optim.Optimizer | None = None) -> None:
        super().__init__(model)
        if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer must be a torch.optim.Optimizer or None, got {type(optimizer).__name__}"
            )
        self._layers = _recorded_layers(model)
        if optimizer is not None:
            held = {id(p) for group in optimizer.param_groups for p in group["params"]}
            if not any(id(layer.weight) in held for _, layer in self._layers):
                raise ValueError(
                    "optimizer must update model's weights, but it holds none of them "
                    "(an optimizer of another model, or of a copy?)"
                )
        self._optimizer = optimizer
        self._previous: dict[str, Tensor] = {}
        self._norms: list[Tensor] = []  # one (layers,) tensor per snapshot
        self._ratios: list[Tensor] = []  # one (layers,) tensor per update

    def _install(self) -> None:
        self._snapshot(force=True)
        if self._optimizer is not None:
            hook = self._optimizer.register_step_post_hook(lambda *_: self._snapshot())
        else:
            hook = self.model.register_forward_pre_hook(self._forward_pre_hook)
        self._handles.append(hook)

    def __exit__(self, *exc_info) -> None:
        if self._optimizer is None and self._state == "active":
            self._snapshot()  # the update after the last forward pass
        super().__exit__(*exc_info)

    def _forward_pre_hook(self, module, args) -> None:
        if module.training and torch.is_grad_enabled():
            self._snapshot()

    @torch.no_grad()
    def _snapshot(self, *, force: bool = False) -> None:
        now = {name: layer.weight.detach().clone() for name, layer in self._layers}
        if not force:
            deltas = [torch.linalg.vector_norm(now[n] - self._previous[n]) for n, _ in self._layers]
            if not any(bool(d > 0) for d in deltas):
                return  # nothing changed since the last snapshot: no update to record
            before = self._norms[-1]
            self._ratios.append(torch.stack(deltas).float() / before.clamp_min(1e-30))
        self._norms.append(torch.stack([torch.linalg.vector_norm(w).float() for w in now.values()]))
        self._previous = now

    def result(self) -> WeightRecord:
        """The norms and ratios recorded so far, as a ``WeightRecord``."""
        names = [name for name, _ in self._layers]
        norms = torch.stack(self._norms).cpu().T.tolist() if self._norms else [[]] * len(names)
        ratios = torch.stack(self._ratios).cpu().T.tolist() if self._ratios else [[]] * len(names)
        return WeightRecord(
            weight_norms=dict(zip(names, norms, strict=True)),
            update_ratios=dict(zip(names, ratios, strict=True)),
            steps=len(self._ratios),
        )


# --------------------------------------------------------------------------------------------
# One-shot helpers
# --------------------------------------------------------------------------------------------
@contextmanager
def _untouched(model: nn.Module, *, train: bool) -> Iterator[None]:
    """Run a measurement and put back the mode, the ``.grad`` s and the buffers (BN stats)."""
    grads = {p: p.grad for p in model.parameters()}
    buffers = {b: b.detach().clone() for b in model.buffers()}
    try:
        with eval_mode(model):  # restores every module's own train/eval flag on exit
            model.train(train)
            for p in model.parameters():
                p.grad = None
            yield
    finally:
        with torch.no_grad():
            for b, saved in buffers.items():
                b.copy_(saved)
        for p, g in grads.items():
            p.grad = g


def _one_backward(
    model: nn.Module, inputs: Tensor, targets: Tensor, loss_fn: LossFn, **recorder_kwargs
) -> GradientRecord:
    check_module("model", model)
    check_batch(inputs, targets)
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    with _untouched(model, train=True), GradientRecorder(model, **recorder_kwargs) as rec:
        outputs = model(inputs)
        if loss_fn is F.cross_entropy and targets.shape != outputs.shape:  # not probabilities
            check_labels(targets, outputs.shape[1])
        loss_fn(outputs, targets).backward()
    return rec.result()


def gradient_norms(
    model: nn.Module, inputs: Tensor, targets: Tensor, *, loss_fn: LossFn = F.cross_entropy
) -> dict[str, float]:
    """``{conv/linear name: ||dL/dW||}`` after one forward/backward in train mode (chapter 3).

    The model is left as it was: its mode, its ``.grad`` s and its BN running statistics.

    Args:
        model: the network.
        inputs: a batch of inputs.
        targets: the matching targets for ``loss_fn``.
        loss_fn: ``loss_fn(outputs, targets) -> scalar``; default cross-entropy.

    Example:
        >>> norms = gradient_norms(plain56(), x, y)
        >>> spread(norms)  # orders of magnitude between the largest and smallest layer norm
    """
    return _one_backward(model, inputs, targets, loss_fn).last("weight")


def block_gradient_norms(
    model: nn.Module,
    inputs: Tensor,
    targets: Tensor,
    *,
    loss_fn: LossFn = F.cross_entropy,
    blocks: Iterable[str] | None = None,
    block_types: Iterable[type | str] | None = None,
) -> dict[str, float]:
    """``{"stem" | block name | "head": ||dL/d(output)||}`` after one forward/backward (chapter 3).

    Same arguments and guarantees as ``gradient_norms``, plus ``blocks``/``block_types`` as for
    ``GradientRecorder``.

    Example:
        >>> norms = block_gradient_norms(resnet20(), x, y)
        >>> list(norms)[:3], list(norms)[-1]
        (['stem', 'layer1.0', 'layer1.1'], 'head')
    """
    record = _one_backward(model, inputs, targets, loss_fn, blocks=blocks, block_types=block_types)
    return record.last("output")


def response_stds(
    model: nn.Module, inputs: Tensor, *, train_mode: bool = False
) -> dict[str, float]:
    """``{3x3 conv name: std of its response}`` for one batch, Figure-7 style (chapter 3).

    Args:
        model: the network.
        inputs: a batch of inputs.
        train_mode: ``False`` (default) measures a trained net as the paper did, BN using its
            running statistics; ``True`` uses batch statistics (needed at initialisation, where
            the running statistics are still 0 and 1). The model is left as it was either way.

    Example:
        >>> stds = response_stds(trained_resnet20, x_test)
        >>> list(stds)[:2]
        ['conv1', 'layer1.0.conv1']
    """
    check_module("model", model)
    check_batch(inputs)
    if not isinstance(train_mode, bool):
        raise TypeError(f"train_mode must be True or False, got {train_mode!r}")
    with (
        _untouched(model, train=train_mode),
        torch.no_grad(),
        ActivationRecorder(model) as rec,
    ):
        model(inputs)
    return rec.result().last("response_std")


def spread(norms: dict[str, float] | Sequence[float]) -> float:
    """``log10(max / min)`` of a set of positive norms: orders of magnitude between layers.

    Example:
        >>> spread({"a": 0.01, "b": 10.0})
        3.0
    """
    if isinstance(norms, (str, bytes)):
        raise TypeError(f"norms must be a dict or a sequence of numbers, got the str {norms!r}")
    try:
        values = np.asarray(list(norms.values()) if isinstance(norms, dict) else norms, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"norms must be a dict or a sequence of numbers, got {norms!r:.60}"
        ) from err
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError("norms must be a non-empty set of finite positive numbers")
    return float(np.log10(values.max() / values.min()))
