"""Golden fixture for `repalign::optim::WnGradW`: the original's WNGradW optimizer,
stated below from its update formula in float64, stepped 20 times on four parameters
(a conv weight, a linear weight, a bias, a 0-D scalar) under every option.

Per parameter `p` with gradient `g`, reductions run over dims 1.. for parameters of
two or more dims (one mean/norm/sum per index of dim 0), over dim 0 for vectors, and
over nothing for 0-D scalars (norms are absolute values):

    g' = g - mean(g)                            (>= 2-D, with centring)
    d  = m = b_m m + (1 - b_m) g'               (with momentum b_m > 0; else d = g')
    u  = d / max(|d|, eps)                      (with normalising; else u = d)
    w2 = v = b_w v + (1 - b_w) p^2              (with weight EMA b_w > 0; else w2 = p^2)
    s  = max(sqrt(sum w2), eps) / max(sqrt(1 - b_w^t), eps)   (divisor: bias correction)
    trust = min(1/s if inverse else s, cap)
    p <- p - lr wd p;  p <- p - lr u trust

Rust has no 0-D tensors and steps the scalar as shape [1], where its vector rule is
this scalar rule. The gradients come from a seeded generator (they do not depend on
the parameters) and are stored, as are the initial parameters (float32, the values
both sides start from) and the float64 parameters after step 1 and after the last
step. Each case also records how far the same statement run in float32 lands from
float64 (`f32_rounding`), the floor of the Rust test's tolerance.
"""

import json
import math
from pathlib import Path

import torch
from safetensors.torch import save_file

STEPS = 20
SHAPES = {"conv": (4, 3, 3, 3), "linear": (5, 7), "bias": (5,), "scalar": ()}

DEFAULTS = {
    "weight_decay": 1e-3, "epsilon": 1e-8, "momentum": 0.0, "weight_ema": 0.0,
    "centring": True, "normalising": True, "inverse_trust": False,
    "bias_correction": False, "trust_cap": None,
}

# name, learning rate, options changed from the defaults. The defaults run at the
# original's lr; the others at 1e-2, so that 20 steps move the weights visibly.
CASES = [
    ("defaults", 1e-3, {}),
    ("momentum", 1e-2, {"momentum": 0.9}),
    ("weight_ema", 1e-2, {"weight_ema": 0.99, "bias_correction": True}),
    ("no_centring", 1e-2, {"centring": False}),
    ("no_normalising", 1e-2, {"normalising": False}),
    ("inverse_trust", 1e-2, {"inverse_trust": True}),
    ("trust_cap", 1e-2, {"trust_cap": 0.5}),
    ("combined", 1e-2, {"momentum": 0.9, "weight_ema": 0.99, "bias_correction": True,
                        "normalising": False, "inverse_trust": True, "trust_cap": 0.5,
                        "weight_decay": 5e-2}),
]


def reduction_dims(p):
    if p.dim() >= 2:
        return tuple(range(1, p.dim()))
    if p.dim() == 1:
        return (0,)
    return ()


def step(p, g, state, o, lr):
    """One WNGradW step of one parameter; `state` holds t, m and v."""
    dims = reduction_dims(p)

    def norm(x):
        return torch.linalg.vector_norm(x, dim=dims, keepdim=True) if dims else x.abs()

    def total(x):
        return x.sum(dim=dims, keepdim=True) if dims else x

    eps = o["epsilon"]
    state["t"] += 1
    if o["centring"] and p.dim() >= 2:
        g = g - g.mean(dim=dims, keepdim=True)
    if o["momentum"] > 0:
        state["m"] = o["momentum"] * state["m"] + (1 - o["momentum"]) * g
        d = state["m"]
    else:
        d = g
    u = d / norm(d).clamp_min(eps) if o["normalising"] else d
    if o["weight_ema"] > 0:
        state["v"] = o["weight_ema"] * state["v"] + (1 - o["weight_ema"]) * p * p
        w2 = state["v"]
    else:
        w2 = p * p
    s = total(w2).sqrt().clamp_min(eps)
    if o["bias_correction"]:
        s = s / max(math.sqrt(1 - o["weight_ema"] ** state["t"]), eps)
    trust = 1 / s if o["inverse_trust"] else s
    if o["trust_cap"] is not None:
        trust = trust.clamp_max(o["trust_cap"])
    p = p - lr * o["weight_decay"] * p
    return p - lr * u * trust


def run(params, grads, options, lr, dtype):
    """Every parameter after each step, in `dtype`."""
    current = {k: v.to(dtype) for k, v in params.items()}
    states = {k: {"t": 0, "m": torch.zeros_like(v), "v": torch.zeros_like(v)} for k, v in current.items()}
    history = []
    for t in range(STEPS):
        current = {k: step(p, grads[k][t].to(dtype), states[k], options, lr) for k, p in current.items()}
        history.append(current)
    return history


def main(out_dir: Path):
    gen = torch.Generator().manual_seed(20240611)
    params = {k: torch.randn(shape, generator=gen, dtype=torch.float32) for k, shape in SHAPES.items()}
    # A common part per step (the same for every element) gives centring something to
    # remove; the scale varies so that momentum and normalising differ from plain steps.
    grads = {}
    for k, shape in SHAPES.items():
        scale = torch.linspace(0.2, 2.0, STEPS).reshape((STEPS,) + (1,) * len(shape))
        common = torch.randn((STEPS,) + (1,) * len(shape), generator=gen)
        grads[k] = (scale * torch.randn((STEPS,) + shape, generator=gen) + common).float()

    tensors = {f"param/{k}": v.contiguous() for k, v in params.items()}
    tensors.update({f"grad/{k}": v.contiguous() for k, v in grads.items()})
    cases = []
    for name, lr, changes in CASES:
        options = {**DEFAULTS, **changes}
        exact = run(params, grads, options, lr, torch.float64)
        rounded = run(params, grads, options, lr, torch.float32)
        rounding = max((rounded[-1][k].double() - exact[-1][k]).abs().max().item() for k in SHAPES)
        moved = max((exact[-1][k] - params[k].double()).abs().max().item() for k in SHAPES)
        for k in SHAPES:
            tensors[f"{name}/step1/{k}"] = exact[0][k].contiguous()
            tensors[f"{name}/final/{k}"] = exact[-1][k].contiguous()
        cases.append({"name": name, "lr": lr, "options": options, "f32_rounding": rounding})
        print(f"wngradw {name}: largest move {moved:.3g}, f32 rounding {rounding:.2e}")
    fixture = {"steps": STEPS, "cases": cases, "tensors": "wngradw.safetensors"}
    (out_dir / "wngradw.json").write_text(json.dumps(fixture, indent=1))
    save_file(tensors, str(out_dir / "wngradw.safetensors"))

