"""Published numbers the tests compare against, copied from ../shared/reference/paper-numbers.md.

Source of the numbers: He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition",
CVPR 2016 (arXiv:1512.03385), Table 1 (FLOPs, as multiply-adds) and Table 6 (CIFAR-10 params).
torchvision's own numbers (``meta["num_params"]``, ``meta["_ops"]``) are read from the installed
package in the tests, not copied here. ``test_reference_numbers_match_the_shared_file`` checks
this copy against the shared file when a checkout has it beside it.
"""

from __future__ import annotations

from pathlib import Path

#: Paper Table 1, "FLOPs" row (multiply-adds at 224x224), in units of 1e9.
PAPER_TABLE1_GMACS = {
    "resnet18": 1.8,
    "resnet34": 3.6,
    "resnet50": 3.8,
    "resnet101": 7.6,
    "resnet152": 11.3,
}

#: Paper Table 6, "# params" column, as printed: (depth, millions).
PAPER_TABLE6_PARAMS_M = {
    20: "0.27",
    32: "0.46",
    44: "0.66",
    56: "0.85",
    110: "1.7",
    1202: "19.4",
}

SHARED_NUMBERS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "paper-numbers.md"
