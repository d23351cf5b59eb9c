"""Deprecated shim: the published numbers now live in ``resnet_edu.paper`` (import that).

Kept only while ``tests/test_cifar.py`` and ``tests/test_imagenet.py`` import it; it reads no
file. ``SHARED_NUMBERS`` is the path of the reference sheet outside the repository, which tests
must not read (issue 14, item 5): ``tests/test_paper.py`` checks ``resnet_edu.paper`` instead.
"""

from __future__ import annotations

from pathlib import Path

from resnet_edu import paper

PAPER_TABLE1_GMACS = dict(paper.TABLE1_GMACS)
#: As printed in Table 6: "0.27", ..., "1.7", "19.4".
PAPER_TABLE6_PARAMS_M = {depth: f"{m:g}" for depth, m in paper.TABLE6_PARAMS_M.items()}
SHARED_NUMBERS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "paper-numbers.md"
