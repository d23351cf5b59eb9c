"""Helpers for the model tests: parameter counts and realistic norm statistics."""

from __future__ import annotations

import torch
from torch import nn

from resnet_edu.measure import count_params

__all__ = ["assert_same_buffers", "assert_same_tensors", "count_params", "randomize_norms"]


def randomize_norms(model: nn.Module, seed: int = 1) -> nn.Module:
    """Give every BatchNorm non-trivial scale, shift and running statistics.

    Freshly initialised BNs are (gamma=1, beta=0, mean=0, var=1): a model that forgot to load
    them, or mixed them up, would still pass an output comparison. Random values make the
    comparison bite.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(0.5 + torch.rand(n, generator=gen))
                m.bias.copy_(0.1 * torch.randn(n, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(n, generator=gen))
    return model


def assert_same_tensors(ours: dict[str, torch.Tensor], ref: dict[str, torch.Tensor]) -> None:
    """Same keys in the same order and bit-identical values (cheaper than assert_close)."""
    assert list(ours) == list(ref)
    for key, value in ours.items():
        assert torch.equal(value, ref[key]), key


def assert_same_buffers(ours: nn.Module, ref: nn.Module) -> None:
    """BatchNorm running statistics agree (what a forward pass in train mode updates)."""
    torch.testing.assert_close(dict(ours.named_buffers()), dict(ref.named_buffers()))
