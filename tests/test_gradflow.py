"""The instruments of resnet_edu.gradflow against answers computed by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import resnet_edu
from resnet_edu import cifar, gradflow


def _batch(n: int = 4, size: int = 16, channels: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(n, channels, size, size), torch.randint(0, 10, (n,))


def _all_hooks(model: nn.Module) -> list:
    """Every hook a recorder could have left on a module or a parameter."""
    left = []
    for m in model.modules():
        for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks"):
            left.extend(getattr(m, attr).values())
    for p in model.parameters():
        left.extend((p._backward_hooks or {}).values())
    return left


def _reference_output_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, blocks):
    """||dL/d(output)|| of the stem, every block and the head, with torch.autograd.grad."""
    captured: dict[str, torch.Tensor] = {}
    handles = []

    def keep(name):
        return lambda module, args, out: captured.setdefault(name, out)

    def keep_stem(module, args):
        captured.setdefault(gradflow.STEM, args[0])

    handles.append(blocks[0][1].register_forward_pre_hook(keep_stem))
    handles += [block.register_forward_hook(keep(name)) for name, block in blocks]
    try:
        logits = model(x)
    finally:
        for h in handles:
            h.remove()
    captured[gradflow.HEAD] = logits
    names = list(captured)
    grads = torch.autograd.grad(F.cross_entropy(logits, y), [captured[n] for n in names])
    return {n: g.norm().item() for n, g in zip(names, grads, strict=True)}


def test_weight_norms_equal_grad_norm_by_hand_at_every_step() -> None:
    model = cifar.resnet20()
    expected: list[dict[str, float]] = []
    with gradflow.GradientRecorder(model) as rec:
        for _ in range(3):
            x, y = _batch()
            model.zero_grad()
            F.cross_entropy(model(x), y).backward()
            expected.append(
                {
                    n: m.weight.grad.norm().item()
                    for n, m in model.named_modules()
                    if isinstance(m, (nn.Conv2d, nn.Linear))
                }
            )
    record = rec.result()
    assert record.steps == 3
    assert list(record.weight_grad_norms) == list(expected[0])  # forward order
    for step, by_hand in enumerate(expected):
        for name, norm in by_hand.items():
            assert record.weight_grad_norms[name][step] == pytest.approx(norm, rel=1e-6)
    assert record.as_array("weight").shape == (len(expected[0]), 3)


def test_block_output_norms_equal_autograd_grad() -> None:
    model = cifar.resnet20().train()
    x, y = _batch()
    blocks = gradflow.find_blocks(model)
    reference = _reference_output_grads(model, x, y, blocks)
    with gradflow.GradientRecorder(model) as rec:
        F.cross_entropy(model(x), y).backward()
    recorded = rec.result().last("output")
    assert list(recorded) == ["stem", *[n for n, _ in blocks], "head"]
    assert recorded == pytest.approx(reference, rel=1e-6)


def test_torchvision_resnet18() -> None:
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet18(num_classes=10)
    x, y = _batch(2, 64)
    blocks = gradflow.find_blocks(model)
    assert [n for n, _ in blocks][:2] == ["layer1.0", "layer1.1"] and len(blocks) == 8
    reference = _reference_output_grads(model, x, y, blocks)
    model.zero_grad()
    with gradflow.GradientRecorder(model) as rec, gradflow.ActivationRecorder(model) as act:
        F.cross_entropy(model(x), y).backward()
    record = rec.result()
    assert record.last("output") == pytest.approx(reference, rel=1e-6)
    assert record.last("weight")["layer4.1.conv2"] == pytest.approx(
        model.layer4[1].conv2.weight.grad.norm().item(), rel=1e-6
    )
    # the 7x7 stem is not a 3x3 layer; every 3x3 conv of a BasicBlock is read after its BN
    responses = act.result().last("response_std")
    assert "conv1" not in responses and len(responses) == 16
    assert gradflow.response_layers(model)["layer1.0.conv2"] == "layer1.0.bn2"


@pytest.mark.parametrize("residual", [True, False])
def test_outputs_and_gradients_bit_identical(residual: bool) -> None:
    model = cifar.CifarResNet(14, residual=residual)
    x, y = _batch()

    def run():
        model.zero_grad()
        out = model(x)
        F.cross_entropy(out, y).backward()
        return out.detach().clone(), [p.grad.clone() for p in model.parameters()]

    out_plain, grads_plain = run()
    with gradflow.GradientRecorder(model), gradflow.ActivationRecorder(model):
        out_hooked, grads_hooked = run()
    assert torch.equal(out_plain, out_hooked)
    assert all(torch.equal(a, b) for a, b in zip(grads_plain, grads_hooked, strict=True))


def test_hooks_removed_after_with_and_after_exception() -> None:
    model = cifar.resnet20()
    assert _all_hooks(model) == []
    with gradflow.GradientRecorder(model), gradflow.ActivationRecorder(model):
        assert len(_all_hooks(model)) > 0
    assert _all_hooks(model) == []
    with pytest.raises(ZeroDivisionError):
        with gradflow.GradientRecorder(model), gradflow.ActivationRecorder(model):
            model(_batch()[0])
            raise ZeroDivisionError
    assert _all_hooks(model) == []


def test_backward_after_the_with_is_not_recorded() -> None:
    model = cifar.resnet20()
    x, y = _batch()
    with gradflow.GradientRecorder(model) as rec:
        loss = F.cross_entropy(model(x), y)
        with torch.no_grad():
            model(x)  # an evaluation forward records nothing
    loss.backward()
    assert rec.result().steps == 0


def test_frozen_layer_records_nan() -> None:
    model = cifar.resnet20()
    model.conv1.weight.requires_grad_(False)
    x, y = _batch()
    with gradflow.GradientRecorder(model) as rec:
        F.cross_entropy(model(x), y).backward()
    norms = rec.result().last("weight")
    assert math.isnan(norms["conv1"]) and norms["fc"] > 0


def test_bad_input() -> None:
    with pytest.raises(TypeError, match="model"):
        gradflow.GradientRecorder("resnet20")
    with pytest.raises(ValueError, match="Conv2d or nn.Linear"):
        gradflow.GradientRecorder(nn.Sequential(nn.BatchNorm2d(3), nn.ReLU()))
    with pytest.raises(ValueError, match="blocks"):
        gradflow.GradientRecorder(cifar.resnet20(), blocks=["layer9.0"])
    with pytest.raises(ValueError, match="no block and no 3x3 conv"):
        gradflow.ActivationRecorder(nn.Sequential(nn.Linear(3, 3)))
    rec = gradflow.GradientRecorder(cifar.resnet20())
    with rec:
        pass
    with pytest.raises(RuntimeError, match="already used"):
        with rec:
            pass
    with pytest.raises(ValueError, match="kind"):
        rec.result().as_array("bias")
    with pytest.raises(ValueError, match="no backward pass"):
        rec.result().last()
    model = cifar.resnet20()
    x, y = _batch()
    with pytest.raises(ValueError, match="batch size"):
        gradflow.gradient_norms(model, x, y[:2])
    with pytest.raises(TypeError, match="inputs"):
        gradflow.gradient_norms(model, x.numpy(), y)


def test_activation_statistics_by_hand() -> None:
    model = cifar.resnet20().train()
    x, _ = _batch()
    seen: dict[str, torch.Tensor] = {}
    handles = [
        model.layer2[1].bn2.register_forward_hook(
            lambda m, a, out: seen.setdefault("bn2", out.detach().clone())
        ),
        model.layer3[0].register_forward_hook(
            lambda m, a, out: seen.setdefault("block", out.detach().clone())
        ),
    ]
    with gradflow.ActivationRecorder(model) as rec:
        model(x)
        model(x)
    for h in handles:
        h.remove()
    record = rec.result()
    assert record.steps == 2
    # 6n+1 = 19 3x3 layers in a ResNet-20: the stem and two per block, as in Figure 7
    assert len(record.response_std) == 19 and list(record.response_std)[0] == "conv1"
    # bn2 is read before the addition and the in-place ReLU changes it
    std = record.last("response_std")["layer2.1.conv2"]
    assert std == pytest.approx(seen["bn2"].std().item(), rel=1e-4)
    block = seen["block"]
    assert record.last("block_mean")["layer3.0"] == pytest.approx(block.mean().item(), rel=1e-4)
    assert record.last("block_std")["layer3.0"] == pytest.approx(block.std().item(), rel=1e-4)
    dead = (block == 0).float().mean().item()
    assert record.last("dead_fraction")["layer3.0"] == pytest.approx(dead)
    assert 0 < dead < 1


def test_response_layers_without_batchnorm() -> None:
    model = cifar.CifarResNet(8, norm_layer=nn.Identity)
    pairs = gradflow.response_layers(model)
    assert pairs["layer1.0.conv2"] == "layer1.0.bn2"  # nn.Identity: the conv output itself
    assert len(pairs) == 7


def test_one_shot_helpers_leave_the_model_untouched() -> None:
    model = cifar.resnet20().eval()
    x, y = _batch()
    for p in model.parameters():
        p.grad = torch.full_like(p, 7.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}

    norms = gradflow.gradient_norms(model, x, y)
    blocks = gradflow.block_gradient_norms(model, x, y)
    stds = gradflow.response_stds(model, x, train_mode=True)

    assert not any(m.training for m in model.modules())
    assert all(torch.equal(p.grad, torch.full_like(p, 7.0)) for p in model.parameters())
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)

    # the same numbers by hand, on a copy in train mode
    model.train()
    for p in model.parameters():
        p.grad = None
    F.cross_entropy(model(x), y).backward()
    assert norms["layer2.0.conv1"] == pytest.approx(
        model.layer2[0].conv1.weight.grad.norm().item(), rel=1e-6
    )
    assert list(blocks)[0] == "stem" and len(blocks) == 11
    assert stds["conv1"] == pytest.approx(1.0, abs=1e-3)  # BN in train mode: unit std


def test_spread() -> None:
    assert gradflow.spread({"a": 0.01, "b": 10.0}) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="positive"):
        gradflow.spread([1.0, 0.0])


def _weights(model):
    return {
        n: m.weight.detach().clone()
        for n, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    }


@pytest.mark.parametrize("with_optimizer", [True, False])
def test_weight_recorder_matches_a_hand_computation(with_optimizer):
    torch.manual_seed(0)
    model = resnet_edu.CifarResNet(8, in_channels=1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=1e-3)
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))
    snapshots = [_weights(model)]
    recorder = gradflow.WeightRecorder(model, optimizer=optimizer if with_optimizer else None)
    with recorder as rec:
        for _ in range(3):
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
            snapshots.append(_weights(model))
        with torch.no_grad():
            model.eval()
            model(x)  # an evaluation is not an update
            model.train()
    record = rec.result()
    assert record.steps == 3
    assert list(record.weight_norms) == list(snapshots[0])  # every conv/linear, in order
    for name in snapshots[0]:
        norms = [s[name].norm().item() for s in snapshots]
        ratios = [
            (b[name] - a[name]).norm().item() / a[name].norm().item()
            for a, b in zip(snapshots[:-1], snapshots[1:], strict=True)
        ]
        assert record.weight_norms[name] == pytest.approx(norms, rel=1e-5)
        assert record.update_ratios[name] == pytest.approx(ratios, rel=1e-4)
    assert all(r > 0 for r in record.update_ratios["conv1"])


def test_weight_recorder_removes_its_hooks_and_rejects_bad_input():
    model = resnet_edu.CifarResNet(8, in_channels=1)
    with gradflow.WeightRecorder(model):
        pass
    assert not model._forward_pre_hooks
    with pytest.raises(TypeError, match="optimizer"):
        gradflow.WeightRecorder(model, optimizer="sgd")
    with pytest.raises(ValueError, match="model"):
        gradflow.WeightRecorder(nn.ReLU())


def test_weight_recorder_watches_fit_without_its_optimizer():
    from resnet_edu.data import synthetic
    from resnet_edu.train import TrainConfig, fit

    data = synthetic(num_train=96, num_test=32, image_size=8, channels=1, batch_size=32)
    model = resnet_edu.CifarResNet(8, in_channels=1)
    with gradflow.WeightRecorder(model) as rec:
        fit(model, data, TrainConfig(epochs=2, progress=False))
    record = rec.result()
    assert record.steps == 2 * 3  # one per optimizer step; the test passes are not updates
    assert len(record.weight_norms["conv1"]) == record.steps + 1
    final = model.conv1.weight.detach().norm().item()
    assert record.weight_norms["conv1"][-1] == pytest.approx(final, rel=1e-5)


def test_a_step_is_one_backward_pass_whatever_the_forwards() -> None:
    """Two forwards and one backward of their sum make one step; a backward through a retained
    graph is a step of its own (the end of a pass is a public autograd hook, not the engine's)."""
    model = cifar.CifarResNet(8)
    (x1, y1), (x2, y2) = _batch(), _batch()
    with gradflow.GradientRecorder(model) as rec:
        model.zero_grad()
        loss = F.cross_entropy(model(x1), y1) + F.cross_entropy(model(x2), y2)
        loss.backward(retain_graph=True)
        first = model.fc.weight.grad.norm().item()
        loss.backward()
    record = rec.result()
    assert record.steps == 2
    assert record.weight_grad_norms["fc"] == pytest.approx([first, first], rel=1e-6)
    # the stem ran twice in each pass: the norm of the gradient w.r.t. both of its outputs
    assert record.output_grad_norms["stem"][0] == record.output_grad_norms["stem"][1] > 0


def test_the_stem_lands_in_its_own_step_when_the_first_conv_is_frozen() -> None:
    """With conv1 frozen, the stem's gradient arrives after every watched weight's: the step
    must still wait for it."""
    model = cifar.resnet20().train()
    model.conv1.weight.requires_grad_(False)
    x, y = _batch()
    blocks = gradflow.find_blocks(model)
    reference = _reference_output_grads(model, x, y, blocks)
    with gradflow.GradientRecorder(model) as rec:
        for _ in range(2):
            F.cross_entropy(model(x), y).backward()
    record = rec.result()
    assert record.steps == 2
    assert record.output_grad_norms["stem"][0] == pytest.approx(reference["stem"], rel=1e-4)


def test_no_hook_piles_up_over_a_run() -> None:
    """One end-of-pass hook per forward at most: a long run does not slow down step by step."""
    model = cifar.CifarResNet(8)
    x, y = _batch()
    with gradflow.GradientRecorder(model) as rec:
        counts = []
        for _ in range(4):
            F.cross_entropy(model(x), y).backward()
            counts.append(len(_all_hooks(model)))
            model(x)  # a forward whose backward never comes
    assert counts[0] == counts[-1] and rec.result().steps == 4
    assert _all_hooks(model) == []
