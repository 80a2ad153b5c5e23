"""Golden fixtures for torchvision ResNet, AlexNet and SqueezeNet.

Images are small to keep the Rust debug tests fast; the `*_resize224_*` cases run the
teacher at its full 224 px preset (a small image resized up), as a full-size check.
"""

from pathlib import Path

import torch.nn as nn
import torchvision

from reference import loss_case, randomize, recipe_tensor


class FeaturesOnly(nn.Module):
    """A feature extractor whose state dict keeps the `features.` prefix, as
    LPIPS-style checkpoints have it."""

    def __init__(self, features):
        super().__init__()
        self.features = features

    def forward(self, x):
        return self.features(x)


def build(arch, head):
    """torchvision `arch` in eval mode. `head`: "full" keeps torchvision's head,
    "small" narrows it (fewer classes, and AlexNet's hidden width) to keep fixtures
    small, "none" keeps `features` alone."""
    if arch.startswith("resnet"):
        model = getattr(torchvision.models, arch)(weights=None, num_classes=10 if head == "small" else 1000)
    elif arch == "alexnet":
        model = torchvision.models.alexnet(weights=None)
        if head == "small":
            model.classifier[1] = nn.Linear(256 * 6 * 6, 64)
            model.classifier[4] = nn.Linear(64, 64)
            model.classifier[6] = nn.Linear(64, 10)
    else:
        model = getattr(torchvision.models, arch)(weights=None, num_classes=10 if head == "small" else 1000)
    if head == "none":
        model = FeaturesOnly(model.features)
    return model.eval()


def tame_residuals(model, recipe):
    """Shrinks the last BatchNorm scale of every residual block (as trained ResNets
    have it), so that activations do not double at every block. With the plain
    recipe a deep random ResNet's features barely change with the input, and the
    loss becomes a difference of nearly equal f32 numbers (gradient rounding ~1e-2)."""
    last = "bn3.weight" if any(e["key"].endswith("bn3.weight") for e in recipe) else "bn2.weight"
    state = model.state_dict()
    for entry in recipe:
        if entry["key"].startswith("layer") and entry["key"].endswith(last):
            entry["scale"], entry["offset"] = 0.05, 0.2
            state[entry["key"]] = recipe_tensor(entry)
    model.load_state_dict(state)
    return recipe


CASES = [
    # name, teacher name, torchvision arch, head, image shape, resize, group size, weighting
    ("resnet18_g2_none", "resnet18", "resnet18", "full", (1, 3, 64, 64), None, 2, "none"),
    ("resnet18_resize224_g2_exp", "resnet18", "resnet18", "small", (1, 3, 40, 48), 224, 2, "exp"),
    ("resnet34_g3_linear", "resnet34", "resnet34", "small", (1, 3, 48, 40), None, 3, "linear"),
    ("resnet50_g2_exp", "resnet50", "resnet50", "full", (2, 3, 64, 64), None, 2, "exp"),
    ("resnet50_resize_g3_none", "resnet", "resnet50", "small", (1, 3, 50, 45), 36, 3, "none"),
    ("resnet152_g2_linear", "resnet", "resnet152", "small", (1, 3, 32, 32), None, 2, "linear"),
    ("alexnet_features_g2_none", "alexnet", "alexnet", "none", (1, 3, 63, 70), None, 2, "none"),
    ("alexnet_classifier_g3_exp", "alexnet", "alexnet", "small", (2, 3, 64, 67), None, 3, "exp"),
    ("alexnet_features_resize224_g2_linear", "alexnet", "alexnet", "none", (1, 3, 48, 40), 224, 2, "linear"),
    ("squeezenet1_0_g2_none", "squeezenet1_0", "squeezenet1_0", "full", (1, 3, 48, 53), None, 2, "none"),
    ("squeezenet1_0_features_g3_linear", "squeezenet1_0", "squeezenet1_0", "none", (1, 3, 29, 30), None, 3, "linear"),
    ("squeezenet1_1_g3_exp", "squeezenet1_1", "squeezenet1_1", "small", (2, 3, 40, 45), None, 3, "exp"),
    ("squeezenet1_1_resize_g2_linear", "squeezenet", "squeezenet1_1", "small", (1, 3, 52, 41), 33, 2, "linear"),
]


def main(out_dir: Path):
    for index, (name, teacher, arch, head, shape, resize, group, weighting) in enumerate(CASES):
        model = build(arch, head)
        recipe = randomize(model, base_seed=100 + index)
        if arch.startswith("resnet"):
            recipe = tame_residuals(model, recipe)
        loss_case(out_dir, name, teacher, model, recipe, shape, resize, group, weighting, seed=100 + index)
