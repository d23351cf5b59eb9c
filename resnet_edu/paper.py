"""The papers' published numbers, each with its table or section (chapters 1, 2, 4, 5, 7, 9).

Chapters and tests compare their measurements with these numbers and import them from here:
one home, one citation each. Two papers:

- "the paper": K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image Recognition",
  CVPR 2016, arXiv:1512.03385 (bib key ``he2016deep``).
- "identity mappings": K. He, X. Zhang, S. Ren, J. Sun, "Identity Mappings in Deep Residual
  Networks", ECCV 2016, arXiv:1603.05027 (bib key ``he2016identity``).

The numbers were cross-checked against the project's reference sheet
(``shared/reference/paper-numbers.md``, kept outside the repository); the few that sheet does
not hold say so in their comment. torchvision's own figures (``meta["num_params"]``,
``meta["_ops"]``, accuracies) are not copied here: read them from the installed package,
``torchvision.models.get_model_weights(name).IMAGENET1K_V1.meta``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CIFAR",
    "CIFAR_WIDTHS",
    "IDENTITY_MAPPINGS_TABLE3",
    "TABLE1_BLOCKS",
    "TABLE1_GMACS",
    "TABLE2_TOP1_ERROR",
    "TABLE3_TOP1_ERROR",
    "TABLE6_ERROR",
    "TABLE6_PARAMS_M",
    "TABLE6_RESNET110_MEAN_STD",
    "VGG_GMACS",
    "CifarRecipe",
]

# --- ImageNet (the paper, section 3.3 and 4.1) ---------------------------------------------

#: Table 1, "FLOPs" row: multiply-adds of one 224x224 image, in units of 1e9. The paper puts a
#: Bottleneck's stride on its first 1x1 conv; torchvision's "v1.5" puts it on the 3x3, which
#: costs more (resnet50: 4.09 G). ``measure.mult_adds(on_meta(resnet50, stride_in_1x1=True))``
#: gives 3.86 G.
TABLE1_GMACS = {
    "resnet18": 1.8,
    "resnet34": 3.6,
    "resnet50": 3.8,
    "resnet101": 7.6,
    "resnet152": 11.3,
}

#: Table 1: blocks per stage (conv2_x .. conv5_x). 18/34 use BasicBlock, 50/101/152 Bottleneck.
TABLE1_BLOCKS = {
    "resnet18": (2, 2, 2, 2),
    "resnet34": (3, 4, 6, 3),
    "resnet50": (3, 4, 6, 3),
    "resnet101": (3, 4, 23, 3),
    "resnet152": (3, 8, 36, 3),
}

#: VGG's multiply-adds in units of 1e9. VGG-16: section 4.1 ("VGG-16/19 nets (15.3/19.6
#: billion FLOPs)"; in the reference sheet). VGG-19: section 3.3 and section 4.1; not in the
#: reference sheet, copied from the paper's text and not cross-checked here. Measured with
#: ``measure.mult_adds``: VGG-19 19.63 G; VGG-16 15.47 G, or 15.35 G for its convolutions alone,
#: so the paper's VGG-16 figure seems to leave out the fully-connected layers.
VGG_GMACS = {"vgg16": 15.3, "vgg19": 19.6}

#: Table 2: top-1 error (%, 10-crop testing) on ImageNet validation; plain nets vs ResNets with
#: option A shortcuts (zero-padding where the shape changes).
TABLE2_TOP1_ERROR = {
    "plain18": 27.94,
    "plain34": 28.54,
    "resnet18": 27.88,
    "resnet34": 25.03,
}

#: Table 3: top-1 error (%, 10-crop testing) on ImageNet validation. ResNet-34 with the three
#: shortcut options: A = zero-padding where the shape changes (all identity otherwise),
#: B = projections where the shape changes, C = projections everywhere. 50/101/152 use B.
TABLE3_TOP1_ERROR = {
    "resnet34 A": 25.03,
    "resnet34 B": 24.52,
    "resnet34 C": 24.19,
    "resnet50": 22.85,
    "resnet101": 21.75,
    "resnet152": 21.43,
}

# --- CIFAR-10 (the paper, section 4.2) ------------------------------------------------------

#: Section 4.2: the three stages' widths on 32x32, 16x16 and 8x8 maps; depth 6n + 2.
CIFAR_WIDTHS = (16, 32, 64)

#: Table 6, "# params" column in millions, as printed (residual and plain nets have the same
#: count: option A shortcuts add no parameter).
TABLE6_PARAMS_M = {20: 0.27, 32: 0.46, 44: 0.66, 56: 0.85, 110: 1.7, 1202: 19.4}

#: Table 6: CIFAR-10 test error (%) of the ResNets. ResNet-110 is the best of 5 runs; its mean
#: and std are in :data:`TABLE6_RESNET110_MEAN_STD`. Plain nets have no row in Table 6: their
#: training and test curves are in Figure 6 only (plain-20 < 32 < 44 < 56 in training error).
TABLE6_ERROR = {20: 8.75, 32: 7.51, 44: 7.17, 56: 6.97, 110: 6.43, 1202: 7.93}

#: Table 6, ResNet-110: mean and std of the test error (%) over 5 runs, "6.43 (6.61±0.16)".
TABLE6_RESNET110_MEAN_STD = (6.61, 0.16)


@dataclass(frozen=True)
class CifarRecipe:
    """The paper's CIFAR-10 training recipe, section 4.2, in the paper's own units."""

    batch_size: int = 128  # "a mini-batch size of 128"
    lr: float = 0.1  # "start with a learning rate of 0.1"
    momentum: float = 0.9  # "momentum of 0.9"
    weight_decay: float = 1e-4  # "weight decay of 0.0001"
    milestones: tuple[int, int] = (32_000, 48_000)  # "divide it by 10 at 32k and 48k iterations"
    lr_factor: float = 0.1  # "divide it by 10"
    iterations: int = 64_000  # "terminate training at 64k iterations"
    train_images: int = 45_000  # "determined on a 45k/5k train/val split"
    val_images: int = 5_000
    pad: int = 4  # "4 pixels are padded on each side, and a 32x32 crop is randomly sampled"
    crop: int = 32
    flip: bool = True  # "or its horizontal flip"
    # ResNet-110: "0.1 is slightly too large to start converging. So we use 0.01 to warm up the
    # training until the training error is below 80% (about 400 iterations)".
    warmup_from_depth: int = 110
    warmup_lr: float = 0.01
    warmup_until_train_error: float = 80.0  # percent
    warmup_iterations_about: int = 400


#: The recipe as one object: ``paper.CIFAR.batch_size`` etc.
CIFAR = CifarRecipe()

# --- Identity mappings (He et al. 2016b) ----------------------------------------------------

#: Identity mappings, Table 3: test error (%) of the original unit vs the full pre-activation
#: unit, same network and recipe -- the controlled comparison (reported as the median of 5
#: runs, per the reference sheet). Keys: (dataset, network); values: (original, pre-activation).
#: The abstract's 4.62 % for ResNet-1001 is from Table 4, a different setting: do not compare
#: it with these.
IDENTITY_MAPPINGS_TABLE3 = {
    ("CIFAR-10", "resnet110, 1-layer skip"): (9.90, 8.91),
    ("CIFAR-10", "resnet110"): (6.61, 6.37),
    ("CIFAR-10", "resnet164"): (5.93, 5.46),
    ("CIFAR-10", "resnet1001"): (7.61, 4.92),
    ("CIFAR-100", "resnet164"): (25.16, 24.33),
    ("CIFAR-100", "resnet1001"): (27.82, 22.71),
}
