"""Golden fixtures for the original's current variants: whole-sample normalisation
(`normalization="sample"`, alone and with linear weighting) and masks (with groups
and with whole samples), on the teachers the group goldens cover: VGG, ResNet and
DINOv2 in both weight layouts.

The reference statements are `ReferenceRepAlignLoss.sample_layer` and `tap_mask` in
`reference.py`, written from the formulas in our issue 13.
"""

from pathlib import Path

import goldens_cnn
import goldens_dinov2
import goldens_vgg
from reference import loss_case, randomize

# DINOv2's tokens: class token (+ registers) before a grid of 14 px patches.
PATCH = 14

CASES = [
    # name, family, architecture, image shape, resize (S, or (H, W) for Resize((H, W))), group,
    # weighting, normalization, masked
    ("vgg11_plain_sample_none", "vgg", "vgg11", (2, 3, 40, 48), None, 2, "none", "sample", False),
    ("vgg16_resize_sample_linear", "vgg", "vgg16", (1, 3, 50, 40), 34, 2, "linear", "sample", False),
    ("vgg11_plain_g2_masked", "vgg", "vgg11", (2, 3, 33, 35), None, 2, "none", "groups", True),
    ("vgg16_resize_g3_masked_exp", "vgg", "vgg16", (1, 3, 50, 40), 34, 3, "exp", "groups", True),
    ("vgg16_resize_sample_masked_linear", "vgg", "vgg16", (2, 3, 45, 52), 34, 2, "linear", "sample", True),
    ("resnet18_sample_linear", "resnet", "resnet18", (2, 3, 48, 40), None, 2, "linear", "sample", False),
    ("resnet50_resize_g2_masked", "resnet", "resnet50", (1, 3, 50, 45), 36, 2, "none", "groups", True),
    ("resnet18_sample_masked_none", "resnet", "resnet18", (1, 3, 64, 64), None, 2, "none", "sample", True),
    ("dinov2_hub_resize_sample_linear", "hub", (128, 2, 0), (1, 3, 60, 50), 224, 2, "linear", "sample", False),
    ("dinov2_hub_reg_168x252_g2_masked", "hub", (128, 2, 4), (1, 3, 168, 252), None, 2, "none", "groups", True),
    ("dinov2_hf_reg_resize_sample_masked_linear", "hf", (128, 2, 4), (2, 3, 50, 60), 224, 2, "linear", "sample", True),
    ("dinov2_hf_168x252_sample_none", "hf", (128, 2, 0), (1, 3, 168, 252), None, 2, "none", "sample", False),
    ("dinov2_hf_126x98_g3_masked_exp", "hf", (128, 2, 0), (1, 3, 126, 98), None, 3, "exp", "groups", True),
    # The original's current pipeline: Resize((H, W)), bilinear, no crop (`--resize HxW`).
    ("vgg16_resize_hw_sample_linear", "vgg", "vgg16", (1, 3, 50, 40), (48, 64), 2, "linear", "sample", False),
    ("dinov2_hf_resize_hw_sample_masked_linear", "hf", (128, 2, 0), (1, 3, 60, 50), (56, 84), 2, "linear", "sample",
     True),
]


def main(out_dir: Path):
    for index, (name, family, arch, shape, resize, group, weighting, normalization, masked) in enumerate(CASES):
        seed = 600 + index
        tokens = None
        if family == "vgg":
            teacher, model = arch, goldens_vgg.vgg(arch, classifier=False)
            recipe = randomize(model, base_seed=seed)
        elif family == "resnet":
            teacher, model = arch, goldens_cnn.build(arch, "small")
            recipe = goldens_cnn.tame_residuals(model, randomize(model, base_seed=seed))
        else:
            dim, depth, registers = arch
            teacher = "dinov2"
            model, recipe = goldens_dinov2.build(family, dim, depth, registers, False, seed=seed)
            tokens = (1 + registers, PATCH)
        loss_case(out_dir, name, teacher, model, recipe, shape, resize, group, weighting, seed=seed,
                  normalization=normalization, masked=masked, tokens=tokens)
        if family == "hf":
            goldens_dinov2.rename_fixture(out_dir, name)
