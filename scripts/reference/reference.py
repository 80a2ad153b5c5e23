"""Shared pieces of the golden-fixture scripts: the PyTorch reference loss, the
SplitMix64 weight recipes shared with `repalign::testing`, and the fixture writer.

The reference is the seed's RepAlignLoss (first published version), written out
below with its two free parameters (group size, layer weighting) exposed. Teacher
weights are not stored: each tensor is regenerated on both sides from a recipe
(seed, scale, offset), so fixtures stay small while the teachers are full size.
"""

import fnmatch
import json
import math
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

# The loss cases to write, as glob patterns over fixture names (`make_goldens.py
# --only`); empty: every case.
ONLY: list[str] = []


def selected(name: str) -> bool:
    """Whether the loss case `name` is to be written (see `ONLY`)."""
    return not ONLY or any(fnmatch.fnmatchcase(name, pattern) for pattern in ONLY)

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
    """The seed's RepAlignLoss, with group size and weighting as parameters, and the
    original's current variants: whole-sample normalisation (`normalization="sample"`)
    and masks, written from their statement in our issue 13 (see `sample_layer`,
    `tap_mask`)."""

    def __init__(self, teacher, normalize, group_size=2, weighting="none", normalization="groups"):
        super().__init__()
        self.model = teacher
        self.normalize = normalize
        self.group_size = group_size
        self.weighting = weighting
        self.normalization = normalization
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

    def layer(self, x, y, m=None):
        """SPEC §3 in groups; with a mask `m` broadcastable to `(B, C, L)`, each group
        weighted by the mean of its real (unpadded) positions' weights."""
        x = x.view(x.size(0), x.size(1), -1)
        y = y.view(y.size(0), y.size(1), -1)
        if self.normalization == "sample":
            return self.sample_layer(x, y, m)
        g = self.group_size
        length = x.shape[-1]
        pad = (g - length % g) % g
        x = F.pad(x, (0, pad)).reshape(x.size(0), x.size(1), -1, g)
        y = F.pad(y, (0, pad)).reshape(y.size(0), y.size(1), -1, g)
        d = F.mse_loss(F.normalize(x, p=2.0, dim=-1), F.normalize(y, p=2.0, dim=-1).detach(), reduction="none")
        if m is None:
            return d.sum(), d.numel()
        if m.shape[-1] > 1:
            counts = torch.full((x.size(2),), float(g), dtype=m.dtype)
            counts[-1] = g - pad
            m = F.pad(m, (0, pad)).reshape(m.size(0), m.size(1), -1, g).sum(-1) / counts
        # m: (B, C', G') group weights, broadcast over channels and groups.
        d = d.sum(-1)
        m = m.expand_as(d)
        return (d * m).sum(), (m * g).sum().item()

    def sample_layer(self, x, y, m=None):
        """Whole-sample normalisation: `n = ‖x_b‖₂ + 1e-8` as a constant, `l_b` the
        (mask-weighted) mean of `(x/n_x − y/n_y)²` over the sample, `S = Σ_b l_b`,
        `N = B`."""
        with torch.no_grad():
            nx = x.flatten(1).norm(dim=1).view(-1, 1, 1) + 1e-8
            ny = y.flatten(1).norm(dim=1).view(-1, 1, 1) + 1e-8
        d = (x / nx - (y / ny).detach()) ** 2
        if m is None:
            per_sample = d.mean(dim=(1, 2))
        else:
            m = m.expand_as(d)
            per_sample = (m * d).sum(dim=(1, 2)) / m.sum(dim=(1, 2))
        return per_sample.sum(), x.size(0)

    def weights(self, n):
        if self.weighting == "exp":
            raw = [math.exp(i * 0.1) for i in range(n)]
            return [w / sum(raw) for w in raw]
        if self.weighting == "linear":
            return [(i + 1) / (n + 1) for i in range(n)]
        return [1.0] * n

    def forward(self, xs, ys, masks=None):
        weights = self.weights(len(xs))
        masks = masks or [None] * len(xs)
        total, elements, parts = 0, 0, []
        for x, y, w, m in zip(xs, ys, weights, masks):
            s, n = self.layer(x, y, m)
            parts.append((s.detach().item(), n, w))
            total = total + (s * w if self.weighting != "none" else s)
            elements += n
        return total / elements, parts


def tap_mask(mask, tap, tokens=None, kind="Conv2d"):
    """What a tap of shape `tap` sees of a mask `(B, 1, H, W)` at the teacher's input
    size, broadcastable to the tap's `(B, C, L)` view: a conv tap the mask
    average-pooled to its `h`x`w`; a Linear's channels-last tap `(B, h, w, C)`
    (ConvNeXt) the same at each of its positions' C values; with `tokens = (prefix,
    patch)`, a token tap of
    `prefix + (H/patch)(W/patch)` tokens the mean of the whole mask for the prefix and
    the mean over each patch for the patches; anything else the mean of the mask."""
    b = mask.size(0)
    whole = mask.mean(dim=(1, 2, 3)).view(b, 1, 1)
    if len(tap) == 4 and kind == "Linear":
        h, w, c = tap[1:]
        pooled = F.adaptive_avg_pool2d(mask, (h, w)).view(b, h, w, 1)
        return pooled.expand(b, h, w, c).reshape(b, h, w * c)
    if len(tap) == 4:
        return F.adaptive_avg_pool2d(mask, tap[2:]).view(b, 1, -1)
    if len(tap) == 3 and tokens is not None:
        prefix, patch = tokens
        rows, cols = mask.size(2) // patch, mask.size(3) // patch
        if tap[1] == prefix + rows * cols:
            patches = F.adaptive_avg_pool2d(mask, (rows, cols)).view(b, -1, 1)
            return torch.cat([whole.expand(b, prefix, 1), patches], dim=1)
    return whole


def image(seed, shape):
    """Values in [0, 1], as a decoded image would be (`repalign::testing::image`)."""
    n = int(np.prod(shape))
    return torch.from_numpy((uniform(seed, n) * np.float32(0.5) + np.float32(0.5)).reshape(shape))


IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def preprocess(resize, normalize=IMAGENET):
    """The teacher preset (`Resize(S, bicubic, antialias)`, `CenterCrop(S)`,
    `Normalize`), or normalisation alone when `resize` is None. A pair `(H, W)` is the
    original's current preprocessing instead: `Resize((H, W))` (bilinear, antialias, no
    crop), then `Normalize`."""
    mean, std = normalize
    norm = T.Normalize(mean=mean, std=std)
    size = {"resize_hw": list(resize)} if isinstance(resize, tuple) else {"resize": resize}
    description = {**size, "mean": [f32(m) for m in mean], "std": [f32(s) for s in std]}
    if resize is None:
        return norm, description
    return T.Compose([geometry(resize), norm]), description


def geometry(resize):
    """The preset's resize and crop without its normalisation: what a mask goes through."""
    if resize is None:
        return lambda x: x
    if isinstance(resize, tuple):
        return T.Resize(resize, interpolation=T.InterpolationMode.BILINEAR, antialias=True)
    return T.Compose([
        T.Resize(resize, interpolation=T.InterpolationMode.BICUBIC, antialias=True),
        T.CenterCrop(resize),
    ])


def evaluate(model, transform, group, weighting, output, target, normalization="groups", mask=None):
    """One training step of the reference: target under no_grad, output with grad.
    `mask`: `(B, 1, H, W)` at the teacher's input size, and the token layout, or None."""
    loss_fn = ReferenceRepAlignLoss(model, transform, group, weighting, normalization)
    output = output.clone().requires_grad_(True)
    with torch.no_grad():
        ys = loss_fn.make_data(target)
    xs = loss_fn.make_data(output)
    names = list(loss_fn.names)
    masks = None
    if mask is not None:
        mask, tokens = mask
        masks = [tap_mask(mask, list(x.shape), tokens, kind) for x, (_, kind) in zip(xs, names)]
    loss, parts = loss_fn(xs, ys, masks)
    loss.backward()
    return loss.item(), names, [list(x.shape) for x in xs], parts, output.grad


def mask_image(seed, shape):
    """A mask `(B, 1, H, W)` in [0, 1] with exact zeros and ones: a smooth ramp across
    the width times seeded noise, clamped."""
    b, _, h, w = shape
    ramp = torch.linspace(-0.3, 1.3, w).view(1, 1, 1, w)
    return (ramp * (0.5 + image(seed, (b, 1, h, w)))).clamp(0, 1)


def loss_case(out_dir: Path, name, teacher, model, recipe, shape, resize, group, weighting,
              seed, normalize=IMAGENET, normalization="groups", masked=False, tokens=None):
    """Runs the reference on a seeded image pair and writes `{name}.json` and
    `{name}.safetensors`. `teacher` is the name the Rust side loads the weights with;
    `model` is in eval mode with the weights of `recipe`. `masked`: weight the loss by
    a seeded mask (stored as `mask`); `tokens`: the teacher's `(prefix, patch)` token
    layout, for masks on token taps."""
    if not selected(name):
        return
    transform, pre = preprocess(resize, normalize)
    target = image(1000 + seed, shape)
    # A perturbed copy, as a student's output would be.
    output = (target + 0.1 * (image(2000 + seed, shape) - 0.5)).clamp(0, 1)
    mask = mask_image(4000 + seed, (shape[0], 1, shape[2], shape[3])) if masked else None

    def step(model, output, target, dtype):
        teacher_mask = None
        if mask is not None:
            teacher_mask = (geometry(resize)(mask.to(dtype)).clamp(0, 1), tokens)
        return evaluate(model, transform, group, weighting, output, target, normalization, teacher_mask)

    loss, names, shapes, parts, grad = step(model, output, target, torch.float32)
    # The same step in float64 tells how far f32 rounding alone moves the reference's
    # gradient: the Rust test compares with both (see tests/common/golden.rs).
    # So does each tap's sum: `sum_f64` is the exact one, which the Rust test uses to tell
    # f32 rounding (a deep or ill-conditioned tap moves PyTorch's own f32 sum too) from
    # a real difference.
    _, _, _, parts64, grad64 = step(model.double(), output.double(), target.double(), torch.float64)
    model.float()
    rounding = ((grad.double() - grad64).norm() / grad64.norm()).item()
    layers = [
        {"name": n, "kind": k, "shape": sh, "sum": s, "sum_f64": s64, "elements": e, "weight": w}
        for (n, k), sh, (s, e, w), (s64, _, _) in zip(names, shapes, parts, parts64)
    ]
    fixture = {
        "teacher": teacher, "preprocess": pre, "group_size": group, "weighting": weighting,
        "normalization": normalization,
        "loss": loss, "layers": layers, "weights": recipe,
        "grad_f32_rounding": rounding,
        "tensors": f"{name}.safetensors",
    }
    (out_dir / f"{name}.json").write_text(json.dumps(fixture, indent=1))
    tensors = {"output": output.contiguous(), "target": target.contiguous(), "grad": grad.contiguous(),
               "grad_f64": grad64.float().contiguous()}
    if mask is not None:
        tensors["mask"] = mask.contiguous()
    save_file(tensors, str(out_dir / f"{name}.safetensors"))
    print(f"{name}: loss {loss:.6g}, {len(layers)} taps, f32 gradient rounding {rounding:.1e}")


def write_versions(out_dir: Path):
    import torchvision
    versions = {"torch": torch.__version__, "torchvision": torchvision.__version__, "numpy": np.__version__}
    (out_dir / "VERSIONS.json").write_text(json.dumps(versions, indent=1))
