"""Deprecated: chapter 8's figures now live in ``resnet_edu.plots`` (same function names).

Kept only until chapter 8 imports ``plots`` instead (``from resnet_edu import plots``); then
delete this file. Nothing else imports it.
"""

from .plots import (
    PLAIN_COLOR,
    RESIDUAL_COLOR,
    gradient_correlation_plot,
    landscape_1d,
    landscape_contour,
    lesion_plot,
    path_length_plot,
)

__all__ = [
    "PLAIN_COLOR",
    "RESIDUAL_COLOR",
    "gradient_correlation_plot",
    "landscape_1d",
    "landscape_contour",
    "lesion_plot",
    "path_length_plot",
]
