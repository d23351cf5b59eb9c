"""Misuse probe (issue 14, item 14) for measure, plots, ensembles, gradflow, landscape, shattered,
data and exercises: every bad call raises a ValueError or TypeError that names the argument,
before torch, sklearn, numpy or matplotlib sees it.

One row per bad call: (id, call, expected exception type, text the message must contain).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import resnet_edu  # noqa: E402
from resnet_edu import (  # noqa: E402
    data,
    diagrams,
    ensembles,
    exercises,
    gradflow,
    landscape,
    measure,
    plots,
    shattered,
)

_CACHE: dict[str, object] = {}


def _model() -> nn.Module:
    """A tiny trained-shape ResNet-8 on 1-channel 8x8 inputs (built once)."""
    if "model" not in _CACHE:
        torch.manual_seed(0)
        _CACHE["model"] = resnet_edu.CifarResNet(8, in_channels=1).eval()
    return _CACHE["model"]


def _plain() -> nn.Module:
    if "plain" not in _CACHE:
        _CACHE["plain"] = resnet_edu.CifarResNet(8, in_channels=1, residual=False).eval()
    return _CACHE["plain"]


X = torch.randn(6, 1, 8, 8)
Y = torch.randint(0, 10, (6,))
Z = np.ones((5, 5))
GRID = [-1.0, 0.0, 1.0]


def _direction() -> dict:
    return landscape.filter_normalized_direction(_model(), generator=torch.Generator())


def _enter(context) -> None:
    with context:
        pass


def _documented() -> None:
    """A docstring."""


CASES: list[tuple[str, Callable[[], object], type, str]] = [
    # measure
    ("count_params str", lambda: measure.count_params("model"), TypeError, "model"),
    (
        "count_params flag",
        lambda: measure.count_params(_model(), trainable_only=1),
        TypeError,
        "trainable_only",
    ),
    ("on_meta not callable", lambda: measure.on_meta(5), TypeError, "builder"),
    ("on_meta returns int", lambda: measure.on_meta(lambda: 3), TypeError, "builder"),
    ("weighted_layers None", lambda: measure.weighted_layers(None), TypeError, "model"),
    ("mult_adds str size", lambda: measure.mult_adds(_model(), "1,1,8,8"), TypeError, "input_size"),
    (
        "mult_adds zero size",
        lambda: measure.mult_adds(_model(), (1, 1, 0, 8)),
        ValueError,
        "input_size",
    ),
    (
        "mult_adds channels",
        lambda: measure.mult_adds(_model(), (1, 3, 8, 8)),
        ValueError,
        "channels",
    ),
    ("mult_adds no batch dim", lambda: measure.mult_adds(_model(), (1, 8, 8)), ValueError, "4-D"),
    (
        "layer_costs float",
        lambda: measure.layer_costs(_model(), (1, 1, 8.0, 8)),
        TypeError,
        "input_size",
    ),
    (
        "layer_table depth",
        lambda: measure.layer_table(_model(), (1, 1, 8, 8), depth=0),
        ValueError,
        "depth",
    ),
    ("source int", lambda: measure.source(5), TypeError, "obj"),
    ("source first missing", lambda: measure.source(_documented, first="zzz"), ValueError, "first"),
    ("source first int", lambda: measure.source(_documented, first=3), TypeError, "first"),
    (
        "source docstring str",
        lambda: measure.source(_documented, docstring="no"),
        TypeError,
        "docstring",
    ),
    ("show_source last", lambda: measure.show_source(_documented, last=""), TypeError, "last"),
    ("eval_mode str", lambda: _enter(measure.eval_mode("model")), TypeError, "model"),
    # ensembles
    ("residual_blocks str", lambda: ensembles.residual_blocks("m"), TypeError, "model"),
    ("deletable_blocks int", lambda: ensembles.deletable_blocks(3), TypeError, "model"),
    (
        "delete_blocks string",
        lambda: _enter(ensembles.delete_blocks(_model(), "layer1.0")),
        TypeError,
        "names",
    ),
    (
        "delete_blocks unknown",
        lambda: _enter(ensembles.delete_blocks(_model(), ["zzz"])),
        ValueError,
        "names",
    ),
    ("delete_blocks model", lambda: _enter(ensembles.delete_blocks("m", [])), TypeError, "model"),
    ("branch_ratios inputs", lambda: ensembles.branch_ratios(_model(), "x"), TypeError, "inputs"),
    ("branch_ratios model", lambda: ensembles.branch_ratios("m", X), TypeError, "model"),
    ("error_percent tensor", lambda: ensembles.error_percent(_model(), X), TypeError, "data"),
    (
        "error_percent lengths",
        lambda: ensembles.error_percent(_model(), (X, Y[:3])),
        ValueError,
        "data",
    ),
    ("error_percent empty", lambda: ensembles.error_percent(_model(), []), ValueError, "data"),
    ("error_percent model", lambda: ensembles.error_percent("m", (X, Y)), TypeError, "model"),
    (
        "error_percent channels",
        lambda: ensembles.error_percent(_model(), (X.repeat(1, 3, 1, 1), Y)),
        ValueError,
        "channels",
    ),
    (
        "error_percent float labels",
        lambda: ensembles.error_percent(_model(), (X, Y.float())),
        TypeError,
        "targets",
    ),
    (
        "error_percent string data",
        lambda: ensembles.error_percent(_model(), "xy"),
        TypeError,
        "data",
    ),
    (
        "lesion_blocks string",
        lambda: ensembles.lesion_blocks(_model(), (X, Y), blocks="layer1.0"),
        TypeError,
        "blocks",
    ),
    (
        "lesion_blocks unknown",
        lambda: ensembles.lesion_blocks(_model(), (X, Y), blocks=["zzz"]),
        ValueError,
        "blocks",
    ),
    ("lesion_blocks model", lambda: ensembles.lesion_blocks("m", (X, Y)), TypeError, "model"),
    (
        "lesion_random int",
        lambda: ensembles.lesion_random(_model(), (X, Y), n_deleted=3),
        TypeError,
        "n_deleted",
    ),
    (
        "lesion_random too many",
        lambda: ensembles.lesion_random(_model(), (X, Y), n_deleted=[100]),
        ValueError,
        "n_deleted",
    ),
    (
        "lesion_random samples",
        lambda: ensembles.lesion_random(_model(), (X, Y), n_deleted=[1], samples=0),
        ValueError,
        "samples",
    ),
    (
        "lesion_random seed",
        lambda: ensembles.lesion_random(_model(), (X, Y), n_deleted=[1], seed="a"),
        TypeError,
        "seed",
    ),
    (
        "path_length_distribution neg",
        lambda: ensembles.path_length_distribution(-1),
        ValueError,
        "n_blocks",
    ),
    (
        "path_length_distribution float",
        lambda: ensembles.path_length_distribution(2.0),
        TypeError,
        "n_blocks",
    ),
    (
        "path_gradient index",
        lambda: ensembles.path_gradient(_model(), X, Y, branch=[99]),
        ValueError,
        "branch",
    ),
    (
        "path_gradient int",
        lambda: ensembles.path_gradient(_model(), X, Y, branch=3),
        TypeError,
        "branch",
    ),
    (
        "path_gradient plain",
        lambda: ensembles.path_gradient(_plain(), X, Y, branch=[]),
        ValueError,
        "model",
    ),
    (
        "path_gradient inputs",
        lambda: ensembles.path_gradient(_model(), "x", Y, branch=[]),
        TypeError,
        "inputs",
    ),
    (
        "path_gradient batch",
        lambda: ensembles.path_gradient(_model(), X, Y[:2], branch=[]),
        ValueError,
        "targets",
    ),
    (
        "path_gradient loss_fn",
        lambda: ensembles.path_gradient(_model(), X, Y, branch=[], loss_fn=3),
        TypeError,
        "loss_fn",
    ),
    (
        "by_path_length samples",
        lambda: ensembles.gradient_by_path_length(_model(), X, Y, samples_per_length=0),
        ValueError,
        "samples_per_length",
    ),
    (
        "by_path_length lengths",
        lambda: ensembles.gradient_by_path_length(_model(), X, Y, lengths=[99]),
        ValueError,
        "lengths",
    ),
    (
        "by_path_length int",
        lambda: ensembles.gradient_by_path_length(_model(), X, Y, lengths=5),
        TypeError,
        "lengths",
    ),
    (
        "by_path_length seed",
        lambda: ensembles.gradient_by_path_length(_model(), X, Y, seed=1.5),
        TypeError,
        "seed",
    ),
    # gradflow
    ("GradientRecorder str", lambda: gradflow.GradientRecorder("m"), TypeError, "model"),
    (
        "GradientRecorder no layer",
        lambda: gradflow.GradientRecorder(nn.ReLU()),
        ValueError,
        "model",
    ),
    (
        "GradientRecorder blocks str",
        lambda: gradflow.GradientRecorder(_model(), blocks="layer1.0"),
        TypeError,
        "blocks",
    ),
    (
        "GradientRecorder blocks unknown",
        lambda: gradflow.GradientRecorder(_model(), blocks=["zzz"]),
        ValueError,
        "blocks",
    ),
    (
        "GradientRecorder block_types int",
        lambda: gradflow.GradientRecorder(_model(), block_types=[3]),
        TypeError,
        "block_types",
    ),
    (
        "GradientRecorder block_types str",
        lambda: gradflow.GradientRecorder(_model(), block_types="BasicBlock"),
        TypeError,
        "block_types",
    ),
    (
        "ActivationRecorder blocks str",
        lambda: gradflow.ActivationRecorder(_model(), blocks="x"),
        TypeError,
        "blocks",
    ),
    (
        "ActivationRecorder nothing",
        lambda: gradflow.ActivationRecorder(nn.ReLU()),
        ValueError,
        "model",
    ),
    (
        "gradient_norms targets",
        lambda: gradflow.gradient_norms(_model(), X, "y"),
        TypeError,
        "targets",
    ),
    (
        "gradient_norms batch",
        lambda: gradflow.gradient_norms(_model(), X, Y[:3]),
        ValueError,
        "targets",
    ),
    (
        "gradient_norms loss_fn",
        lambda: gradflow.gradient_norms(_model(), X, Y, loss_fn=3),
        TypeError,
        "loss_fn",
    ),
    (
        "gradient_norms channels",
        lambda: gradflow.gradient_norms(_model(), X.repeat(1, 3, 1, 1), Y),
        ValueError,
        "channels",
    ),
    (
        "block_gradient_norms blocks",
        lambda: gradflow.block_gradient_norms(_model(), X, Y, blocks="layer1.0"),
        TypeError,
        "blocks",
    ),
    ("response_stds inputs", lambda: gradflow.response_stds(_model(), "x"), TypeError, "inputs"),
    (
        "response_stds train_mode",
        lambda: gradflow.response_stds(_model(), X, train_mode="yes"),
        TypeError,
        "train_mode",
    ),
    ("spread empty", lambda: gradflow.spread([]), ValueError, "norms"),
    ("spread str", lambda: gradflow.spread("abc"), TypeError, "norms"),
    ("spread negative", lambda: gradflow.spread([1.0, -1.0]), ValueError, "norms"),
    ("GradientRecord kind", lambda: gradflow.GradientRecord().as_array("bias"), ValueError, "kind"),
    ("GradientRecord last", lambda: gradflow.GradientRecord().last(), ValueError, "backward"),
    ("find_blocks str", lambda: gradflow.find_blocks("m"), TypeError, "model"),
    ("response_layers str", lambda: gradflow.response_layers("m"), TypeError, "model"),
    # landscape
    ("direction model", lambda: landscape.filter_normalized_direction("m"), TypeError, "model"),
    (
        "direction generator",
        lambda: landscape.filter_normalized_direction(_model(), generator=0),
        TypeError,
        "generator",
    ),
    (
        "surface loss_fn",
        lambda: landscape.loss_surface(_model(), 3, (X, Y), [_direction()], [GRID]),
        TypeError,
        "loss_fn",
    ),
    (
        "surface directions dict",
        lambda: landscape.loss_surface(_model(), F.cross_entropy, (X, Y), _direction(), [GRID]),
        TypeError,
        "directions",
    ),
    (
        "surface nan grid",
        lambda: landscape.loss_surface(
            _model(), F.cross_entropy, (X, Y), [_direction()], [[math.nan]]
        ),
        ValueError,
        "coordinates",
    ),
    (
        "surface axes",
        lambda: landscape.loss_surface(
            _model(), F.cross_entropy, (X, Y), [_direction()], [GRID, GRID]
        ),
        ValueError,
        "coordinates",
    ),
    (
        "surface empty data",
        lambda: landscape.loss_surface(_model(), F.cross_entropy, [], [_direction()], [GRID]),
        ValueError,
        "data",
    ),
    (
        "surface str data",
        lambda: landscape.loss_surface(_model(), F.cross_entropy, "xy", [_direction()], [GRID]),
        TypeError,
        "data",
    ),
    (
        "surface 1d direction",
        lambda: landscape.loss_surface_1d(_model(), F.cross_entropy, (X, Y), {"a": X}, GRID),
        ValueError,
        "direction",
    ),
    (
        "surface 2d alphas",
        lambda: landscape.loss_surface_2d(
            _model(), F.cross_entropy, (X, Y), _direction(), _direction(), [], GRID
        ),
        ValueError,
        "alphas",
    ),
    (
        "surface channels",
        lambda: landscape.loss_surface_1d(
            _model(), F.cross_entropy, (X.repeat(1, 3, 1, 1), Y), _direction(), GRID
        ),
        ValueError,
        "channels",
    ),
    (
        "curvature small",
        lambda: landscape.slice_curvature_ratio_map(np.zeros((2, 2))),
        ValueError,
        "losses",
    ),
    (
        "curvature alphas length",
        lambda: landscape.slice_curvature_ratio_map(Z, alphas=[0.0, 1.0]),
        ValueError,
        "alphas",
    ),
    ("nonconvex tol", lambda: landscape.slice_nonconvex_fraction(Z, tol=-1.0), ValueError, "tol"),
    ("nonconvex str", lambda: landscape.slice_nonconvex_fraction("abc"), TypeError, "losses"),
    # shattered
    ("line_1d points", lambda: shattered.line_1d(1), ValueError, "n_points"),
    ("line_1d order", lambda: shattered.line_1d(8, low=1.0, high=0.0), ValueError, "high"),
    ("line_1d low str", lambda: shattered.line_1d(8, low="a"), TypeError, "low"),
    ("input_line x0", lambda: shattered.input_line("x"), TypeError, "x0"),
    ("input_line points", lambda: shattered.input_line(X[0], n_points=1), ValueError, "n_points"),
    ("input_line radius", lambda: shattered.input_line(X[0], radius=-1.0), ValueError, "radius"),
    (
        "input_line direction shape",
        lambda: shattered.input_line(X[0], direction=torch.zeros(3)),
        ValueError,
        "direction",
    ),
    (
        "input_line direction str",
        lambda: shattered.input_line(X[0], direction="u"),
        TypeError,
        "direction",
    ),
    (
        "input_line generator",
        lambda: shattered.input_line(X[0], generator=5),
        TypeError,
        "generator",
    ),
    ("calibrate_bn model", lambda: shattered.calibrate_bn("m", X), TypeError, "model"),
    ("calibrate_bn inputs", lambda: shattered.calibrate_bn(_model(), "x"), TypeError, "inputs"),
    (
        "input_gradients unit",
        lambda: shattered.input_gradients(_model(), X, unit=99),
        ValueError,
        "unit",
    ),
    (
        "input_gradients negative",
        lambda: shattered.input_gradients(_model(), X, unit=-1),
        ValueError,
        "unit",
    ),
    (
        "input_gradients channels",
        lambda: shattered.input_gradients(_model(), X.repeat(1, 3, 1, 1)),
        ValueError,
        "channels",
    ),
    (
        "autocorrelation lag",
        lambda: shattered.gradient_autocorrelation(torch.ones(8, 2), max_lag=-1),
        ValueError,
        "max_lag",
    ),
    (
        "autocorrelation big lag",
        lambda: shattered.gradient_autocorrelation(torch.ones(8, 2), max_lag=100),
        ValueError,
        "max_lag",
    ),
    (
        "autocorrelation scalar",
        lambda: shattered.gradient_autocorrelation(torch.tensor(1.0), max_lag=0),
        ValueError,
        "grads",
    ),
    (
        "correlation lag",
        lambda: shattered.input_gradient_correlation(_model(), X, lag=0),
        ValueError,
        "lag",
    ),
    ("ToyNet depth", lambda: shattered.ToyNet(-1), ValueError, "depth"),
    ("ToyNet odd residual", lambda: shattered.ToyNet(3, residual=True), ValueError, "depth"),
    ("ToyNet width", lambda: shattered.ToyNet(2, width=0), ValueError, "width"),
    ("ToyNet residual str", lambda: shattered.ToyNet(2, residual="yes"), TypeError, "residual"),
    ("ToyNet batchnorm str", lambda: shattered.ToyNet(2, batchnorm="no"), TypeError, "batchnorm"),
    (
        "ToyNet extra_relu unknown",
        lambda: shattered.ToyNet(2, residual=True, extra_relu="pre"),
        ValueError,
        "extra_relu",
    ),
    (
        "ToyNet extra_relu plain",
        lambda: shattered.ToyNet(2, extra_relu="on_skip"),
        ValueError,
        "extra_relu",
    ),
    (
        "ToyNet forward shape",
        lambda: shattered.ToyNet(2)(torch.zeros(4, 3)),
        ValueError,
        "x must be",
    ),
    ("ToyNet forward str", lambda: shattered.ToyNet(2)("x"), ValueError, "x must be"),
    # data
    (
        "digits test_fraction high",
        lambda: data.digits(test_fraction=0.999),
        ValueError,
        "test_fraction",
    ),
    (
        "digits test_fraction low",
        lambda: data.digits(test_fraction=0.0001),
        ValueError,
        "test_fraction",
    ),
    ("digits channels", lambda: data.digits(channels=2), ValueError, "channels"),
    ("digits batch_size", lambda: data.digits(batch_size=0), ValueError, "batch_size"),
    ("digits huge size", lambda: data.digits(size=100_000), ValueError, "size"),
    ("digits workers", lambda: data.digits(num_workers=-1), ValueError, "num_workers"),
    ("digits seed", lambda: data.digits(seed=-1), ValueError, "seed"),
    ("synthetic val_split neg", lambda: data.synthetic(val_split=-1), ValueError, "val_split"),
    (
        "synthetic val_split all",
        lambda: data.synthetic(num_train=64, val_split=64),
        ValueError,
        "val_split",
    ),
    (
        "synthetic val_split few",
        lambda: data.synthetic(num_train=64, val_split=3),
        ValueError,
        "val_split",
    ),
    ("synthetic num_train", lambda: data.synthetic(num_train=0), ValueError, "num_train"),
    ("synthetic augment", lambda: data.synthetic(augment="yes"), TypeError, "augment"),
    ("synthetic seed", lambda: data.synthetic(seed=1.5), TypeError, "seed"),
    ("cifar10 root", lambda: data.cifar10(5), TypeError, "root"),
    ("cifar10 val_split", lambda: data.cifar10("data", val_split=-1), ValueError, "val_split"),
    ("cifar10 download", lambda: data.cifar10("data", download="yes"), TypeError, "download"),
    (
        "ImageTensors array",
        lambda: data.ImageTensors(
            np.zeros((4, 3, 8, 8)), torch.arange(4), mean=[0.0] * 3, std=[1.0] * 3
        ),
        TypeError,
        "images",
    ),
    (
        "ImageTensors lengths",
        lambda: data.ImageTensors(
            torch.zeros(4, 3, 8, 8), torch.arange(3), mean=[0.0] * 3, std=[1.0] * 3
        ),
        ValueError,
        "labels",
    ),
    (
        "ImageTensors std zero",
        lambda: data.ImageTensors(
            torch.zeros(4, 3, 8, 8), torch.arange(4), mean=[0.0] * 3, std=[0.0] * 3
        ),
        ValueError,
        "std",
    ),
    (
        "ImageTensors pad",
        lambda: data.ImageTensors(
            torch.zeros(4, 3, 8, 8), torch.arange(4), mean=[0.0] * 3, std=[1.0] * 3, pad=-1
        ),
        ValueError,
        "pad",
    ),
    (
        "committed_file name path",
        lambda: data.committed_file("../x.json", repo_url="https://github.com/o/r", branch="main"),
        ValueError,
        "name must be a file name in book/_data",
    ),
    (
        "committed_file name int",
        lambda: data.committed_file(3, repo_url="https://github.com/o/r", branch="main"),
        TypeError,
        "name must be a non-empty str",
    ),
    (
        "committed_file repo_url None",
        lambda: data.committed_file("x.json", repo_url=None, branch="main"),
        TypeError,
        "repo_url must be a non-empty str",
    ),
    (
        "ImageTensors set_epoch",
        lambda: data.ImageTensors(
            torch.zeros(4, 3, 8, 8), torch.arange(4), mean=[0.0] * 3, std=[1.0] * 3
        ).set_epoch(1.5),
        TypeError,
        "epoch",
    ),
    (
        "committed_file branch empty",
        lambda: data.committed_file("x.json", repo_url="https://github.com/o/r", branch=""),
        TypeError,
        "branch must be a non-empty str",
    ),
    # exercises
    (
        "check_basic_block int",
        lambda: exercises.check_basic_block(5),
        TypeError,
        "user_cls_or_factory",
    ),
    (
        "check_basic_block seed",
        lambda: exercises.check_basic_block(resnet_edu.BasicBlock, seed="a"),
        TypeError,
        "seed",
    ),
    (
        "check_basic_block flag",
        lambda: exercises.check_basic_block(resnet_edu.BasicBlock, raise_on_failure="yes"),
        TypeError,
        "raise_on_failure",
    ),
    # plots
    ("model_family int", lambda: plots.model_family(3), TypeError, "label"),
    ("model_style int", lambda: plots.model_style(3), TypeError, "label"),
    ("model_style depths", lambda: plots.model_style("plain20", depths="20"), TypeError, "depths"),
    ("gradient_flow empty", lambda: plots.gradient_flow({}), TypeError, "norms_by_model"),
    (
        "gradient_flow ax",
        lambda: plots.gradient_flow({"plain20": [1.0, 2.0]}, ax="x"),
        TypeError,
        "ax",
    ),
    (
        "gradient_flow str series",
        lambda: plots.gradient_flow({"plain20": "xyz"}),
        TypeError,
        "norms_by_model",
    ),
    ("response_std empty", lambda: plots.response_std({}), TypeError, "stds_by_model"),
    (
        "training_curves empty train",
        lambda: plots.training_curves({"plain20": {"train_error": []}}),
        ValueError,
        "train_error",
    ),
    (
        "training_curves ylim",
        lambda: plots.training_curves({"plain20": {"train_error": [1.0]}}, ylim=(0,)),
        ValueError,
        "ylim",
    ),
    ("cost_bars pair", lambda: plots.cost_bars({"resnet18": (1,)}), TypeError, "models"),
    ("lesion_plot empty", lambda: plots.lesion_plot({}), ValueError, "results"),
    (
        "lesion_plot baselines",
        lambda: plots.lesion_plot({"resnet20": {"x": 1.0}}, baselines=3),
        TypeError,
        "baselines",
    ),
    ("lesion_plot values", lambda: plots.lesion_plot({"resnet20": 3}), TypeError, "results"),
    (
        "path_length_plot lengths",
        lambda: plots.path_length_plot([0, 1], [1.0]),
        ValueError,
        "lengths",
    ),
    ("path_length_plot str", lambda: plots.path_length_plot([0, 1], "cd"), TypeError, "values"),
    ("correlation_plot empty", lambda: plots.gradient_correlation_plot({}), ValueError, "curves"),
    (
        "correlation_plot triple",
        lambda: plots.gradient_correlation_plot({"plain": (1, 2, 3)}),
        TypeError,
        "curves",
    ),
    (
        "landscape_1d ax",
        lambda: plots.landscape_1d([0.0], {"resnet20": [1.0]}, ax="left"),
        TypeError,
        "ax",
    ),
    ("landscape_1d empty", lambda: plots.landscape_1d([0.0, 1.0], {}), ValueError, "curves"),
    (
        "landscape_1d points",
        lambda: plots.landscape_1d([0.0, 1.0], {"resnet20": [1.0]}),
        ValueError,
        "curves",
    ),
    (
        "contour shape",
        lambda: plots.landscape_contour([0, 1], [0, 1, 2], np.zeros((3, 2))),
        ValueError,
        "losses",
    ),
    (
        "contour levels",
        lambda: plots.landscape_contour([0, 1, 2], [0, 1, 2], Z[:3, :3], levels=0),
        ValueError,
        "levels",
    ),
    # functions new in this revision
    ("display_label int", lambda: plots.display_label(20), TypeError, "label"),
    (
        "figure6 vgg",
        lambda: plots.figure6({"vgg16": {"train_error": [1.0]}}),
        ValueError,
        "histories",
    ),
    (
        "figure6 ylim",
        lambda: plots.figure6({"plain20": {"train_error": [1.0]}}, ylim=5),
        ValueError,
        "ylim",
    ),
    (
        "layer_curves layers str",
        lambda: plots.layer_curves({"plain20": {"a": [1.0]}}, layers="a"),
        TypeError,
        "layers",
    ),
    (
        "layer_curves unknown",
        lambda: plots.layer_curves({"plain20": {"a": [1.0]}}, layers=["b"]),
        ValueError,
        "layers",
    ),
    (
        "layer_curves steps",
        lambda: plots.layer_curves({"plain20": {"a": [1.0, 2.0]}}, steps=[0]),
        ValueError,
        "steps",
    ),
    (
        "per_layer_curves reference",
        lambda: plots.per_layer_curves({"a": [1.0]}, reference="1e-3"),
        TypeError,
        "reference",
    ),
    ("per_layer_curves empty", lambda: plots.per_layer_curves({}), TypeError, "series_by_layer"),
    ("WeightRecorder str", lambda: gradflow.WeightRecorder("m"), TypeError, "model"),
    (
        "WeightRecorder optimizer",
        lambda: gradflow.WeightRecorder(_model(), optimizer="sgd"),
        TypeError,
        "optimizer",
    ),
    ("WeightRecorder no layer", lambda: gradflow.WeightRecorder(nn.ReLU()), ValueError, "model"),
    # the held-out probe of issue 20: calls a door can catch, in measure, gradflow, diagrams
    (
        "on_meta model not builder",
        lambda: measure.on_meta(_model()),
        TypeError,
        "builder must be a function or class",
    ),
    (
        "WeightRecorder other model's optimizer",
        lambda: gradflow.WeightRecorder(
            _model(), optimizer=torch.optim.SGD(_plain().parameters(), lr=0.1)
        ),
        ValueError,
        "optimizer must update model's weights",
    ),
    (
        "gradient_norms float labels",
        lambda: gradflow.gradient_norms(_model(), X, Y.float()),
        TypeError,
        "targets must be integer class labels",
    ),
    (
        "gradient_norms label out of range",
        lambda: gradflow.gradient_norms(_model(), X, torch.full((6,), 10)),
        ValueError,
        "targets must be class labels in 0..9",
    ),
    (
        "network_figure builder not model",
        lambda: diagrams.network_figure(resnet_edu.resnet20),
        TypeError,
        "models must be a model or a list",
    ),
    (
        "block_figure class not block",
        lambda: diagrams.block_figure(resnet_edu.BasicBlock),
        TypeError,
        "blocks must be a block or a list",
    ),
    (
        "slice map spacing",
        lambda: landscape.slice_curvature_ratio_map(Z, alphas=[0, 1, 3, 4, 5]),
        ValueError,
        "alphas",
    ),
    (
        "slice fraction tol",
        lambda: landscape.slice_nonconvex_fraction(Z, tol="0.01"),
        TypeError,
        "tol",
    ),
]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize(
    "call, error, names", [pytest.param(*case[1:], id=case[0]) for case in CASES]
)
def test_bad_call_is_refused_with_a_clear_error(call, error, names):
    with pytest.raises(error) as info:
        call()
    assert type(info.value) in (ValueError, TypeError) or issubclass(type(info.value), error)
    assert names in str(info.value), f"the message does not name {names!r}: {info.value}"


def test_the_probe_is_wide():
    assert len(CASES) >= 180
    assert len({case[0] for case in CASES}) == len(CASES)  # unique ids
