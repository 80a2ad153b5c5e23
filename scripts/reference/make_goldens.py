"""Writes the golden fixtures that the Rust tests compare against.

The PyTorch reference is the seed's RepAlignLoss (first published version), written
out below with its two free parameters (group size, layer weighting) exposed. Teacher
weights are not stored: each tensor is regenerated on both sides from a recipe
(seed, scale, offset) with the SplitMix64 generator of `repalign::testing`, so the
fixtures stay a few kilobytes while the teachers are full size.

Run with the venv from setup.sh:
    .venv/bin/python scripts/reference/make_goldens.py crates/repalign/tests/fixtures
"""

import json
import math
import sys
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
import torchvision.transforms as T
from safetensors.torch import save_file

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

MASK = (1 << 64) - 1
GAMMA = np.uint64(0x9E3779B97F4A7C15)


def uniform(seed: int, n: int) -> np.ndarray:
    """SplitMix64 outputs 1..n from `seed`, mapped to f32 in [-1, 1) exactly as Rust does."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + np.arange(1, n + 1, dtype=np.uint64) * GAMMA
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    k = (z >> np.uint64(40)).astype(np.float32)
    return (k / np.float32(1 << 24)) * np.float32(2) - np.float32(1)


def recipe_tensor(entry) -> torch.Tensor:
    n = int(np.prod(entry["shape"], dtype=np.int64)) if entry["shape"] else 1
    values = np.float32(entry["offset"]) + np.float32(entry["scale"]) * uniform(entry["seed"], n)
    return torch.from_numpy(values.reshape(entry["shape"]))


def f32(x: float) -> float:
    """The f32 nearest to x, as a Python float (so JSON carries it exactly)."""
    return float(np.float32(x))


def randomize(model: nn.Module, base_seed: int):
    """Overwrites every float tensor of the state dict from a recipe; returns the recipe."""
    recipe = []
    state = model.state_dict()
    for key, tensor in state.items():
        if not tensor.is_floating_point():
            continue
        shape = list(tensor.shape)
        seed = (base_seed * 1_000_003 + zlib.crc32(key.encode())) & MASK
        if key.endswith("running_var"):
            scale, offset = 0.3, 1.0
        elif key.endswith("running_mean") or key.endswith("bias"):
            scale, offset = 0.1, 0.0
        elif tensor.dim() == 1:  # norm weights
            scale, offset = 0.2, 1.0
        else:
            fan_in = int(np.prod(shape[1:]))
            scale, offset = math.sqrt(6.0 / fan_in), 0.0
        entry = {"key": key, "shape": shape, "seed": seed, "scale": f32(scale), "offset": f32(offset)}
        recipe.append(entry)
        state[key] = recipe_tensor(entry)
    model.load_state_dict(state)
    return recipe


class ReferenceRepAlignLoss(nn.Module):
    """The seed's RepAlignLoss, with group size and weighting as parameters."""

    def __init__(self, teacher, normalize, group_size=2, weighting="none"):
        super().__init__()
        self.model = teacher
        self.normalize = normalize
        self.group_size = group_size
        self.weighting = weighting
        self.activations = []
        self.names = []
        for p in self.model.parameters():
            p.requires_grad_(False)
        for name, module in self.model.named_modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                module.register_forward_hook(self._hook(name))

    def _hook(self, name):
        def hook(module, inputs, output):
            # Stored without a copy, as in the seed: in-place activations that run
            # later overwrite what is recorded here.
            self.activations.append(output)
            self.names.append((name, type(module).__name__))
        return hook

    def make_data(self, image):
        self.activations, self.names = [], []
        self.model(self.normalize(image))
        return self.activations

    def layer(self, x, y):
        x = x.view(x.size(0), x.size(1), -1)
        y = y.view(y.size(0), y.size(1), -1)
        g = self.group_size
        pad = (g - x.shape[-1] % g) % g
        x = F.pad(x, (0, pad)).reshape(x.size(0), x.size(1), -1, g)
        y = F.pad(y, (0, pad)).reshape(y.size(0), y.size(1), -1, g)
        d = F.mse_loss(F.normalize(x, p=2.0, dim=-1), F.normalize(y, p=2.0, dim=-1).detach(), reduction="none")
        return d.sum(), d.numel()

    def weights(self, n):
        if self.weighting == "exp":
            raw = [math.exp(i * 0.1) for i in range(n)]
            return [w / sum(raw) for w in raw]
        if self.weighting == "linear":
            return [(i + 1) / (n + 1) for i in range(n)]
        return [1.0] * n

    def forward(self, xs, ys):
        weights = self.weights(len(xs))
        total, elements, parts = 0, 0, []
        for x, y, w in zip(xs, ys, weights):
            s, n = self.layer(x, y)
            parts.append((s.detach().item(), n, w))
            total = total + (s * w if self.weighting != "none" else s)
            elements += n
        return total / elements, parts


def reduced_classifier(model, hidden=64, classes=10):
    """torchvision's VGG classifier structure at a width small enough for a fixture."""
    model.classifier = nn.Sequential(
        nn.Linear(512 * 7 * 7, hidden), nn.ReLU(True), nn.Dropout(),
        nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(),
        nn.Linear(hidden, classes),
    )
    return model


def vgg(name, classifier):
    model = getattr(torchvision.models, name)(weights=None)
    if classifier:
        model = reduced_classifier(model)
    else:
        model = FeaturesOnly(model.features)
    return model.eval()


class FeaturesOnly(nn.Module):
    """A VGG feature extractor whose state dict keeps the `features.` prefix, as
    LPIPS-style checkpoints have it."""

    def __init__(self, features):
        super().__init__()
        self.features = features

    def forward(self, x):
        return self.features(x)


def image(seed, shape):
    """Values in [0, 1], as a decoded image would be."""
    n = int(np.prod(shape))
    return torch.from_numpy((uniform(seed, n) * np.float32(0.5) + np.float32(0.5)).reshape(shape))


def preprocess(resize):
    normalize = T.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    if resize is None:
        return normalize, {"resize": None}
    return T.Compose([
        T.Resize(resize, interpolation=T.InterpolationMode.BICUBIC, antialias=True),
        T.CenterCrop(resize),
        normalize,
    ]), {"resize": resize}


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


def evaluate(model, transform, group, weighting, output, target):
    """One training step of the reference: target under no_grad, output with grad."""
    loss_fn = ReferenceRepAlignLoss(model, transform, group, weighting)
    output = output.clone().requires_grad_(True)
    with torch.no_grad():
        ys = loss_fn.make_data(target)
    xs = loss_fn.make_data(output)
    names = list(loss_fn.names)
    loss, parts = loss_fn(xs, ys)
    loss.backward()
    return loss.item(), names, [list(x.shape) for x in xs], parts, output.grad


def loss_case(out_dir: Path, index, name, teacher_name, classifier, shape, resize, group, weighting):
    model = vgg(teacher_name, classifier)
    recipe = randomize(model, base_seed=index + 1)
    transform, pre = preprocess(resize)
    target = image(1000 + index, shape)
    # A perturbed copy, as a student's output would be.
    output = (target + 0.1 * (image(2000 + index, shape) - 0.5)).clamp(0, 1)
    loss, names, shapes, parts, grad = evaluate(model, transform, group, weighting, output, target)
    # The same step in float64 tells how far f32 rounding alone moves the reference's
    # gradient: where that exceeds SPEC §7's tolerance the f32 gradient is no stable
    # target, and the test compares with this one instead.
    _, _, _, _, grad64 = evaluate(model.double(), transform, group, weighting, output.double(), target.double())
    rounding = ((grad.double() - grad64).norm() / grad64.norm()).item()
    layers = [
        {"name": n, "kind": k, "shape": sh, "sum": s, "elements": e, "weight": w}
        for (n, k), sh, (s, e, w) in zip(names, shapes, parts)
    ]
    fixture = {
        "teacher": teacher_name, "preprocess": pre, "group_size": group, "weighting": weighting,
        "loss": loss, "layers": layers, "weights": recipe,
        "grad_f32_rounding": rounding,
        "tensors": f"{name}.safetensors",
    }
    (out_dir / f"{name}.json").write_text(json.dumps(fixture, indent=1))
    save_file({"output": output.contiguous(), "target": target.contiguous(), "grad": grad.contiguous(),
               "grad_f64": grad64.float().contiguous()},
              str(out_dir / f"{name}.safetensors"))
    print(f"{name}: loss {loss:.6g}, {len(layers)} taps, f32 gradient rounding {rounding:.1e}")


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


def main():
    out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "crates/repalign/tests/fixtures")
    out_dir.mkdir(parents=True, exist_ok=True)
    for index, case in enumerate(CASES):
        loss_case(out_dir, index, *case)
    resize_cases(out_dir)
    versions = {"torch": torch.__version__, "torchvision": torchvision.__version__, "numpy": np.__version__}
    (out_dir / "VERSIONS.json").write_text(json.dumps(versions, indent=1))


if __name__ == "__main__":
    main()
