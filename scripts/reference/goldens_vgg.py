"""Golden fixtures for VGG (torchvision) and for torchvision's tensor Resize."""

import json
from pathlib import Path

import torch.nn as nn
import torchvision
import torchvision.transforms as T
from safetensors.torch import save_file

from reference import image, loss_case, randomize


def reduced_classifier(model, hidden=64, classes=10):
    """torchvision's VGG classifier structure at a width small enough for a fixture."""
    model.classifier = nn.Sequential(
        nn.Linear(512 * 7 * 7, hidden), nn.ReLU(True), nn.Dropout(),
        nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(),
        nn.Linear(hidden, classes),
    )
    return model


class FeaturesOnly(nn.Module):
    """A VGG feature extractor whose state dict keeps the `features.` prefix, as
    LPIPS-style checkpoints have it."""

    def __init__(self, features):
        super().__init__()
        self.features = features

    def forward(self, x):
        return self.features(x)


def vgg(name, classifier):
    model = getattr(torchvision.models, name)(weights=None)
    model = reduced_classifier(model) if classifier else FeaturesOnly(model.features)
    return model.eval()


CASES = [
    # name, teacher, classifier, image shape, resize, group size, weighting
    ("vgg11_plain_g2_none", "vgg11", False, (1, 3, 40, 48), None, 2, "none"),
    ("vgg11_plain_g3_exp", "vgg11", False, (1, 3, 40, 48), None, 3, "exp"),
    ("vgg11_plain_g2_linear", "vgg11", False, (2, 3, 33, 35), None, 2, "linear"),
    ("vgg11_bn_classifier_resize_g2_exp", "vgg11_bn", True, (1, 3, 45, 52), 36, 2, "exp"),
    ("vgg11_bn_classifier_resize_g3_none", "vgg11_bn", True, (1, 3, 45, 52), 36, 3, "none"),
    ("vgg16_resize_g3_linear", "vgg16", False, (1, 3, 50, 40), 34, 3, "linear"),
    ("vgg16_resize_g2_exp", "vgg16", False, (2, 3, 50, 40), 34, 2, "exp"),
]

RESIZES = [
    # input (H, W), target size, interpolation, antialias
    ((37, 41), 16, "bicubic", True),
    ((37, 41), 50, "bicubic", True),
    ((37, 41), 16, "bicubic", False),
    ((37, 41), 50, "bicubic", False),
    ((37, 41), 16, "bilinear", True),
    ((37, 41), 50, "bilinear", False),
    ((30, 20), (11, 29), "bicubic", True),
    ((64, 96), 24, "bilinear", False),
]


def resize_cases(out_dir: Path):
    cases, tensors = [], {}
    for i, (hw, size, mode, aa) in enumerate(RESIZES):
        x = image(3000 + i, (1, 3, *hw)) * 2 - 0.5
        interpolation = {"bicubic": T.InterpolationMode.BICUBIC, "bilinear": T.InterpolationMode.BILINEAR}[mode]
        y = T.Resize(size, interpolation=interpolation, antialias=aa)(x)
        tensors[f"input_{i}"] = x.contiguous()
        tensors[f"output_{i}"] = y.contiguous()
        cases.append({"size": size, "interpolation": mode, "antialias": aa})
    (out_dir / "resize.json").write_text(json.dumps(cases, indent=1))
    save_file(tensors, str(out_dir / "resize.safetensors"))
    print(f"resize: {len(cases)} cases")


def main(out_dir: Path):
    for index, (name, teacher, classifier, shape, resize, group, weighting) in enumerate(CASES):
        model = vgg(teacher, classifier)
        recipe = randomize(model, base_seed=index + 1)
        loss_case(out_dir, name, teacher, model, recipe, shape, resize, group, weighting, seed=index)
    resize_cases(out_dir)
