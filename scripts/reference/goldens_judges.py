"""Golden fixture for the image-quality judges of `compare --metric` (LPIPS alex/vgg,
DISTS, SSIM, PSNR), computed by the reference packages themselves on real photos.

    .venv/bin/python scripts/reference/goldens_judges.py [OUT_DIR]
    .venv/bin/python scripts/reference/make_goldens.py crates/repalign/tests/fixtures judges

Writes OUT_DIR/judges_photos.{safetensors,json} (default OUT_DIR:
crates/repalign/tests/fixtures). Unlike the other families this one uses real weights
and photos, from the repalign cache (`repalign fetch vgg16 alexnet photos`; the cache
folder is found as the Rust side finds it: $REPALIGN_CACHE, $XDG_CACHE_HOME/repalign,
~/.cache/repalign). The LPIPS heads and DISTS alpha/beta are the ones shipped in the
pinned lpips / DISTS-pytorch wheels.

Tensors: `clean`, `distorted` [3, 3, 64, 64] f32 in [0, 1]; `grad_<metric>` [3, 3, 64, 64]
f32 (the f64 gradient, rounded): d(sum over samples of metric(distorted, clean)) /
d distorted. The JSON has, per metric, the per-sample values in f64 and f32 and how far
the f32 gradient is from the f64 one.

"f64" here means: the package's modules cast with `.double()`. Their constants that the
packages build as f32 tensors (LPIPS shift/scale, DISTS mean/std, the SSIM window) are
thus the f32-rounded values widened to f64; `value_f64_exact_consts` gives the values with
those constants set from their exact decimal / f64 definitions instead, to show how much
that matters.
"""

import hashlib
import importlib.metadata
import io
import json
import os
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import PIL
import PIL.features
import torch
import torchvision
from PIL import Image, ImageFilter
from safetensors.torch import load_file, save_file

import lpips
import pytorch_msssim
from DISTS_pytorch import DISTS_pt
from pytorch_msssim.ssim import _fspecial_gauss_1d

# lpips builds its trunk with tv.alexnet/vgg16(pretrained=False) (deprecated, same as weights=None).
warnings.filterwarnings("ignore", category=UserWarning, module="torchvision.models._utils")
torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

NAME = "judges_photos"
SIZE = 64
# photo, crop's left x and top y (pixels), what is in it
PHOTOS = [
    ("coffee.png", 180, 60, "cup rim and coffee"),
    ("chelsea.png", 140, 120, "cat's eye and fur"),
    ("astronaut.png", 180, 60, "eye and hair"),
]
NOISE_SIGMA = 0.08
BLUR_RADIUS = 1.5
JPEG_QUALITY = 15
SSIM_ARGS = {"data_range": 1.0, "size_average": False, "win_size": 11, "win_sigma": 1.5,
             "K": [0.01, 0.03], "nonnegative_ssim": False}
METRICS = ["lpips-alex", "lpips-vgg", "dists", "ssim", "psnr"]


def cache_dir() -> Path:
    for var, tail in (("REPALIGN_CACHE", ()), ("XDG_CACHE_HOME", ("repalign",))):
        if os.environ.get(var):
            return Path(os.environ[var], *tail)
    return Path.home() / ".cache" / "repalign"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def need(path: Path) -> Path:
    if not path.is_file():
        sys.exit(f"goldens_judges: missing {path} (run `repalign fetch vgg16 alexnet photos`)")
    return path


# --- images -----------------------------------------------------------------

def crop_u8(path: Path, x: int, y: int) -> np.ndarray:
    """HWC uint8 RGB crop."""
    im = Image.open(path).convert("RGB")
    assert x + SIZE <= im.width and y + SIZE <= im.height, (path, im.size)
    return np.asarray(im.crop((x, y, x + SIZE, y + SIZE)), dtype=np.uint8)


def to_chw(a: np.ndarray) -> np.ndarray:
    """HWC uint8 -> CHW float64 in [0, 1]."""
    return a.transpose(2, 0, 1).astype(np.float64) / 255.0


def images(photos_dir: Path):
    crops = [crop_u8(need(photos_dir / name), x, y) for name, x, y, _ in PHOTOS]
    clean = np.stack([to_chw(c) for c in crops])
    # 0: additive Gaussian noise, N(0, sigma^2) drawn in CHW order, clipped to [0, 1].
    noise = np.random.default_rng(0).standard_normal((3, SIZE, SIZE)) * NOISE_SIGMA
    noisy = np.clip(clean[0] + noise, 0.0, 1.0)
    # 1: PIL Gaussian blur of the uint8 crop.
    blurred = to_chw(np.asarray(Image.fromarray(crops[1]).filter(ImageFilter.GaussianBlur(BLUR_RADIUS))))
    # 2: JPEG round trip in memory (PIL defaults otherwise: 4:2:0 subsampling, baseline).
    buf = io.BytesIO()
    Image.fromarray(crops[2]).save(buf, format="JPEG", quality=JPEG_QUALITY)
    jpeg_bytes = buf.tell()
    buf.seek(0)
    jpeg = to_chw(np.asarray(Image.open(buf).convert("RGB")))
    distorted = np.stack([noisy, blurred, jpeg])
    to32 = lambda a: torch.from_numpy(a.astype(np.float32)).contiguous()
    return to32(clean), to32(distorted), jpeg_bytes


# --- metrics ----------------------------------------------------------------

def load_features(modules: dict, weights: Path):
    """Copies `features.N.{weight,bias}` into the convs at torchvision index N."""
    state = load_file(str(weights))
    convs = {int(k.split(".")[1]) for k in state}
    have = {i for i, m in modules.items() if isinstance(m, torch.nn.Conv2d)}
    assert have == convs, (sorted(have), sorted(convs))
    for i in have:
        with torch.no_grad():
            modules[i].weight.copy_(state[f"features.{i}.weight"])
            modules[i].bias.copy_(state[f"features.{i}.bias"])
    return sorted(have)


def make_lpips(net: str, weights: Path):
    model = lpips.LPIPS(net=net, version="0.1", pnet_rand=True, verbose=False)
    slices = [getattr(model.net, f"slice{k}") for k in range(1, model.net.N_slices + 1)]
    modules = {int(name): m for s in slices for name, m in s.named_children()}
    load_features(modules, weights)
    # lpips loads its heads with strict=False: make sure they did load.
    head = Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth"
    heads = torch.load(head, map_location="cpu", weights_only=True)
    for k, v in heads.items():
        assert torch.equal(model.state_dict()[k], v), k
    model.eval()

    def exact(m):
        m.scaling_layer.shift.copy_(torch.tensor([-.030, -.088, -.188], dtype=torch.float64)[None, :, None, None])
        m.scaling_layer.scale.copy_(torch.tensor([.458, .448, .450], dtype=torch.float64)[None, :, None, None])

    return (lambda m, x, y: m(x, y, normalize=True).flatten()), model, exact


def make_dists(weights: Path):
    def vgg16(pretrained=False, **_):
        model = torchvision.models.vgg16(weights=None)
        load_features(dict(enumerate(model.features)), weights)
        return model

    real = DISTS_pt.models
    DISTS_pt.models = types.SimpleNamespace(vgg16=vgg16)  # instead of the ImageNet download
    try:
        model = DISTS_pt.DISTS()  # alpha/beta from sys.prefix/weights.pt (the wheel's data file)
    finally:
        DISTS_pt.models = real
    packaged = torch.load(Path(sys.prefix) / "weights.pt", map_location="cpu", weights_only=True)
    assert torch.equal(model.alpha.data, packaged["alpha"]) and torch.equal(model.beta.data, packaged["beta"])
    model.eval()

    def exact(m):
        m.mean.copy_(torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).view(1, -1, 1, 1))
        m.std.copy_(torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).view(1, -1, 1, 1))

    return (lambda m, x, y: m(x, y, require_grad=True, batch_average=False).flatten()), model, exact


def ssim_value(_, x, y, exact=False):
    args = {k: v for k, v in SSIM_ARGS.items()}
    if exact:  # the window computed in f64 (the package builds it in f32)
        c = torch.arange(args["win_size"], dtype=torch.float64) - args["win_size"] // 2
        g = torch.exp(-(c ** 2) / (2 * args["win_sigma"] ** 2))
        args["win"] = (g / g.sum()).view(1, 1, 1, -1).repeat(x.shape[1], 1, 1, 1)
    return pytorch_msssim.ssim(x, y, **args)


def psnr_value(_, x, y):
    return 10 * torch.log10(1.0 / ((x - y) ** 2).mean(dim=(1, 2, 3)))


def evaluate(fn, model, x, y, dtype):
    if model is not None:
        model.to(dtype)
    x = x.to(dtype).detach().requires_grad_(True)
    values = fn(model, x, y.to(dtype))
    assert values.shape == (3,), values.shape
    values.sum().backward()
    assert torch.isfinite(x.grad).all()
    return values.detach(), x.grad.detach()


def main(out_dir: Path):
    cache = cache_dir()
    vgg_w, alex_w = need(cache / "weights" / "vgg16.safetensors"), need(cache / "weights" / "alexnet.safetensors")
    clean, distorted, jpeg_bytes = images(cache / "photos")

    judges = {
        "lpips-alex": make_lpips("alex", alex_w),
        "lpips-vgg": make_lpips("vgg", vgg_w),
        "dists": make_dists(vgg_w),
        "ssim": (ssim_value, None, None),
        "psnr": (psnr_value, None, None),
    }
    tensors = {"clean": clean, "distorted": distorted}
    metrics, identity = {}, {}
    for name in METRICS:
        fn, model, exact = judges[name]
        v32, g32 = evaluate(fn, model, distorted, clean, torch.float32)
        v64, g64 = evaluate(fn, model, distorted, clean, torch.float64)
        with torch.no_grad():
            if model is not None:
                exact(model)
                v64x = fn(model, distorted.double(), clean.double())
            elif name == "ssim":
                v64x = ssim_value(None, distorted.double(), clean.double(), exact=True)
            else:
                v64x = v64
            if name != "psnr":
                identity[name] = fn(model, clean.double(), clean.double()).tolist()
        tensors[f"grad_{name}"] = g64.float().contiguous()
        d = (g32.double() - g64)
        metrics[name] = {
            "value_f64": v64.tolist(),
            "value_f32": v32.tolist(),
            "value_f64_exact_consts": v64x.tolist(),
            "value_f32_abs_err": (v32.double() - v64).abs().tolist(),
            "grad_f32_rel_l2": (d.norm() / g64.norm()).item(),
            "grad_f32_cosine": torch.nn.functional.cosine_similarity(g32.double().flatten(), g64.flatten(), dim=0).item(),
            "grad_f64_l2": g64.norm().item(),
        }
        print(f"{name:10s} f64 {['%.6g' % v for v in v64.tolist()]}  "
              f"max|f32-f64| {max(metrics[name]['value_f32_abs_err']):.2e}  "
              f"exact-consts max diff {(v64x - v64).abs().max().item():.2e}  "
              f"grad rel {metrics[name]['grad_f32_rel_l2']:.2e}")

    # Sanity: identical images.
    assert all(v == 0.0 for n in ("lpips-alex", "lpips-vgg") for v in identity[n]), identity
    assert all(abs(v) < 1e-6 for v in identity["dists"]), identity
    assert all(abs(v - 1) < 1e-12 for v in identity["ssim"]), identity

    version = importlib.metadata.version
    fixture = {
        "tensors": f"{NAME}.safetensors",
        "layout": "NCHW RGB in [0, 1]; sample i = photos[i] under distortions[i]; "
                  "grad_<metric> = d(sum_i metric(distorted_i, clean_i)) / d distorted, f64 rounded to f32",
        "photos": [{"name": n, "x": x, "y": y, "size": SIZE, "what": what,
                    "sha256": sha256(cache / "photos" / n)} for n, x, y, what in PHOTOS],
        "clean": "uint8 crop / 255",
        "distortions": [
            {"kind": "gaussian_noise", "sigma": NOISE_SIGMA,
             "how": "numpy default_rng(0).standard_normal((3, 64, 64)) (CHW) * sigma added to the "
                    "f64 crop, clipped to [0, 1], then f32"},
            {"kind": "gaussian_blur", "radius": BLUR_RADIUS,
             "how": "PIL ImageFilter.GaussianBlur on the 64x64 uint8 crop, then / 255"},
            {"kind": "jpeg", "quality": JPEG_QUALITY, "bytes": jpeg_bytes,
             "how": "PIL JPEG encode (defaults: 4:2:0) and decode in memory, then / 255; "
                    f"libjpeg {PIL.features.version('jpg')} (libjpeg-turbo {PIL.features.version('libjpeg_turbo')})"},
        ],
        "metrics": metrics,
        "identity_f64": identity,
        "calls": {
            "lpips-alex": "lpips.LPIPS(net='alex', version='0.1', pnet_rand=True) + alexnet.safetensors "
                          "into its slices; (distorted, clean, normalize=True); heads from the wheel",
            "lpips-vgg": "lpips.LPIPS(net='vgg', version='0.1', pnet_rand=True) + vgg16.safetensors "
                         "into its slices; (distorted, clean, normalize=True); heads from the wheel",
            "dists": "DISTS_pytorch.DISTS() with vgg16 features from vgg16.safetensors; "
                     "(distorted, clean, require_grad=True, batch_average=False)",
            "ssim": "pytorch_msssim.ssim(distorted, clean, **ssim_args)",
            "psnr": "10 * log10(1 / mean((distorted - clean)^2 over C, H, W)), data range 1",
        },
        "ssim_args": SSIM_ARGS,
        # The package builds its window in f32 (arange, exp, sum, divide), which is not
        # the f64 window rounded to f32 and sums to 1 - 3e-8 in f64; SSIM moves ~6e-6
        # with the exact window (value_f64_exact_consts), so here it is as used.
        "ssim_window_f32": _fspecial_gauss_1d(SSIM_ARGS["win_size"], SSIM_ARGS["win_sigma"]).flatten().tolist(),
        "weights_sha256": {"vgg16.safetensors": sha256(vgg_w), "alexnet.safetensors": sha256(alex_w),
                           "lpips/weights/v0.1/alex.pth": sha256(Path(lpips.__file__).parent / "weights/v0.1/alex.pth"),
                           "lpips/weights/v0.1/vgg.pth": sha256(Path(lpips.__file__).parent / "weights/v0.1/vgg.pth"),
                           "DISTS_pytorch/weights.pt": sha256(Path(sys.prefix) / "weights.pt")},
        "versions": {p: version(p) for p in ("torch", "torchvision", "numpy", "pillow", "lpips",
                                             "DISTS-pytorch", "pytorch-msssim")},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{NAME}.json").write_text(json.dumps(fixture, indent=1))
    save_file(tensors, str(out_dir / f"{NAME}.safetensors"))
    print(f"{NAME}: {len(METRICS)} metrics, identity {identity}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "crates/repalign/tests/fixtures"))
