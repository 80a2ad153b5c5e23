"""Golden fixtures for torchvision ConvNeXt.

Small configurations of the same layout (narrow stages, few blocks) keep the fixtures
and the Rust debug tests quick; `convnext_tiny_*` is the published tiny at a small
image, loaded by its full name. `layer_scale` is made non-trivial (torchvision's 1e-6
init would make every block the identity), as trained weights have it.
"""

from pathlib import Path

import torch.nn as nn
from torchvision.models import convnext_tiny
from torchvision.models.convnext import CNBlockConfig, ConvNeXt

from reference import loss_case, randomize, recipe_tensor


class FeaturesOnly(nn.Module):
    """`features` alone, keys under `features.`, as a feature-extractor file has them."""

    def __init__(self, features):
        super().__init__()
        self.features = features

    def forward(self, x):
        return self.features(x)


def small(widths, depths, classes):
    """A ConvNeXt of `widths` and `depths` per stage (torchvision's own class)."""
    setting = [
        CNBlockConfig(width, widths[i + 1] if i + 1 < len(widths) else None, depth)
        for i, (width, depth) in enumerate(zip(widths, depths))
    ]
    return ConvNeXt(setting, num_classes=classes)


def build(config):
    if config == "tiny":
        return convnext_tiny(weights=None).eval()
    if config == "small_head":
        return small([8, 16, 24, 32], [1, 2, 2, 1], 10).eval()
    if config == "features":
        return FeaturesOnly(small([12, 16, 20, 24], [2, 1, 3, 1], 10).features).eval()
    raise ValueError(config)


def scale_layers(model, recipe):
    """`layer_scale` at 0.2 ± 0.1 (trained ConvNeXts keep it well below 1)."""
    state = model.state_dict()
    for entry in recipe:
        if entry["key"].endswith("layer_scale"):
            entry["scale"], entry["offset"] = 0.1, 0.2
            state[entry["key"]] = recipe_tensor(entry)
    model.load_state_dict(state)
    return recipe


CASES = [
    # name, teacher name, config, image shape, resize, group size, weighting, options
    ("convnext_small_head_g2_none", "convnext", "small_head", (1, 3, 64, 64), None, 2, "none", {}),
    ("convnext_features_72x56_g3_linear", "convnext", "features", (2, 3, 72, 56), None, 3, "linear", {}),
    ("convnext_resize_g2_exp", "convnext", "small_head", (1, 3, 45, 50), 40, 2, "exp", {}),
    ("convnext_tiny_g2_exp", "convnext_tiny", "tiny", (1, 3, 64, 64), None, 2, "exp", {}),
    # Masks on the channels-last Linear taps, with groups and with whole samples.
    ("convnext_masked_g3_none", "convnext", "small_head", (2, 3, 64, 48), None, 3, "none", {"masked": True}),
    ("convnext_sample_masked_linear", "convnext", "features", (1, 3, 56, 64), None, 2, "linear",
     {"masked": True, "normalization": "sample"}),
]


def main(out_dir: Path):
    for index, (name, teacher, config, shape, resize, group, weighting, options) in enumerate(CASES):
        model = build(config)
        recipe = scale_layers(model, randomize(model, base_seed=700 + index))
        loss_case(out_dir, name, teacher, model, recipe, shape, resize, group, weighting, seed=700 + index,
                  **options)
