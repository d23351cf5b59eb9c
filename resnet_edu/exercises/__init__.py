"""Exercise checkers that tell the reader precisely what is wrong (chapters 2 and 6).

Each checker runs the reader's code next to a reference, with the same weights, and names the
mistake whose output the reader's code reproduces -- behaviour, never source text.

Chapter 2, a BasicBlock of one's own (``basic_block``):
    check_basic_block   the reader's BasicBlock against ``resnet_edu.BasicBlock``

Chapter 6, build ResNet yourself, torchvision-style (``build_blocks``, ``build_network``):
    check_convs         conv3x3 and conv1x1
    check_block         a BasicBlock or a Bottleneck (torchvision's v1.5, or the paper's v1)
    check_make_layer    ResNet._make_layer alone, with torchvision's blocks
    check_resnet        the whole network: torchvision's ResNet-18 and -50 weights load and agree

Chapter 6's checkers return a :class:`Verdict` (``✓``/``✗``) and never raise because of the
reader's code, so a notebook's "Run all" goes on; ``raise_on_failure=True`` turns a failure into
an :class:`ExerciseError`.
"""

from ._feedback import CheckResult, ExerciseError, Verdict
from .basic_block import check_basic_block
from .build_blocks import check_block, check_convs
from .build_network import check_make_layer, check_resnet

__all__ = [
    "CheckResult",
    "ExerciseError",
    "Verdict",
    "check_basic_block",
    "check_block",
    "check_convs",
    "check_make_layer",
    "check_resnet",
]
