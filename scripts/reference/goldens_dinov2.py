"""Golden fixtures for DINOv2 in its two weight layouts.

torch.hub layout: `HubDinov2` below is a minimal module with the structure, module
paths and numerics of `facebookresearch/dinov2`'s `DinoVisionTransformer` (eval mode,
no xFormers): the hub code itself needs a download, so it is written out here and
checked against timm's DINOv2 ViT where the two agree (`check_against_timm`).

transformers layout: the installed `Dinov2Model` / `Dinov2WithRegistersModel`, built
from a small config. transformers 5 renamed the modules of the published checkpoints
(`attention.attention.query` -> `attention.q_proj`, ..., `attention.output.dense` ->
`attention.o_proj`, and split SwiGLU's `weights_in` into `gate_proj` + `up_proj`,
`weights_out` -> `down_proj`) and converts the keys at load time; its
`save_pretrained` converts them back unless `save_original_format=False`. Both
namings occur in files, so both have cases:

* layout "hf": the published files' (transformers 4) names, as SPEC §1's tap names
  are. The fixture is written with those names (`classic_hf_name`), and the SwiGLU
  MLP is transformers 4's `Dinov2SwiGLUFFN` (one `weights_in` Linear, one tap).
* layout "hf5": transformers 5's names as its `state_dict()` has them, taps as its
  hooks record them (the split SwiGLU: `gate_proj`, `up_proj`, `down_proj`).

Widths are reduced (heads = width / 64) and depth is 2, but every position embedding
covers the released 37x37 grid (518 px).
"""

import json
import math
import re
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from reference import loss_case, randomize, recipe_tensor, selected

PATCH = 14
GRID = 37


class LayerScale(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * self.gamma


class Attention(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.heads = dim // 64
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads)
        q, k, v = [t.transpose(1, 2) for t in torch.unbind(qkv, 2)]
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(B, N, C))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class SwiGLUFFN(nn.Module):
    """The hub's `SwiGLUFFNFused` without xFormers: `w12`, `silu(x1) * x2`, `w3`."""

    def __init__(self, dim, hidden):
        super().__init__()
        hidden = (int(hidden * 2 / 3) + 7) // 8 * 8
        self.w12 = nn.Linear(dim, 2 * hidden)
        self.w3 = nn.Linear(hidden, dim)

    def forward(self, x):
        x1, x2 = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(x1) * x2)


class Block(nn.Module):
    def __init__(self, dim, swiglu):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = (SwiGLUFFN if swiglu else Mlp)(dim, 4 * dim)
        self.ls2 = LayerScale(dim)

    def forward(self, x):
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=PATCH, stride=PATCH)

    def forward(self, x):
        _, _, H, W = x.shape
        assert H % PATCH == 0 and W % PATCH == 0
        return self.proj(x).flatten(2).transpose(1, 2)


class HubDinov2(nn.Module):
    """`DinoVisionTransformer` as `dinov2_vit*14[_reg]` builds it (block_chunks=0,
    init_values=1.0, qkv bias, the hub's position-embedding interpolation)."""

    def __init__(self, dim, depth, registers=0, swiglu=False):
        super().__init__()
        self.patch_embed = PatchEmbed(dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + GRID * GRID, dim))
        self.register_tokens = nn.Parameter(torch.zeros(1, registers, dim)) if registers else None
        self.blocks = nn.ModuleList([Block(dim, swiglu) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Identity()
        self.mask_token = nn.Parameter(torch.zeros(1, dim))
        # dinov2_vit*14_reg: antialias and no offset; without registers the opposite.
        self.interpolate_antialias = registers > 0
        self.interpolate_offset = 0.0 if registers else 0.1

    def interpolate_pos_encoding(self, x, w, h):
        previous_dtype = x.dtype
        npatch = x.shape[1] - 1
        N = self.pos_embed.shape[1] - 1
        if npatch == N and w == h:
            return self.pos_embed
        pos_embed = self.pos_embed.float()
        class_pos_embed = pos_embed[:, 0]
        patch_pos_embed = pos_embed[:, 1:]
        dim = x.shape[-1]
        w0, h0 = w // PATCH, h // PATCH
        M = int(math.sqrt(N))
        kwargs = {}
        if self.interpolate_offset:
            kwargs["scale_factor"] = (float(w0 + self.interpolate_offset) / M, float(h0 + self.interpolate_offset) / M)
        else:
            kwargs["size"] = (w0, h0)
        patch_pos_embed = F.interpolate(
            patch_pos_embed.reshape(1, M, M, dim).permute(0, 3, 1, 2),
            mode="bicubic", antialias=self.interpolate_antialias, **kwargs)
        assert (w0, h0) == patch_pos_embed.shape[-2:]
        patch_pos_embed = patch_pos_embed.permute(0, 2, 3, 1).view(1, -1, dim)
        return torch.cat((class_pos_embed.unsqueeze(0), patch_pos_embed), dim=1).to(previous_dtype)

    def forward(self, x):
        _, _, w, h = x.shape  # sic: the hub calls the rows `w`
        x = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = x + self.interpolate_pos_encoding(x, w, h)
        if self.register_tokens is not None:
            x = torch.cat((x[:, :1], self.register_tokens.expand(x.shape[0], -1, -1), x[:, 1:]), dim=1)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x)[:, 0])


class ClassicSwiGLUFFN(nn.Module):
    """transformers 4's `Dinov2SwiGLUFFN` (the layout of the published ViT-g files)."""

    def __init__(self, config):
        super().__init__()
        hidden = int(config.hidden_size * config.mlp_ratio)
        hidden = (int(hidden * 2 / 3) + 7) // 8 * 8
        self.weights_in = nn.Linear(config.hidden_size, 2 * hidden)
        self.weights_out = nn.Linear(hidden, config.hidden_size)

    def forward(self, x):
        x1, x2 = self.weights_in(x).chunk(2, dim=-1)
        return self.weights_out(F.silu(x1) * x2)


def hf_dinov2(dim, depth, registers=0, swiglu=False, classic=True):
    """transformers' model; `classic` swaps in transformers 4's fused SwiGLU."""
    from transformers import (Dinov2Config, Dinov2Model, Dinov2WithRegistersConfig,
                              Dinov2WithRegistersModel)
    common = dict(hidden_size=dim, num_hidden_layers=depth, num_attention_heads=dim // 64, mlp_ratio=4,
                  image_size=GRID * PATCH, patch_size=PATCH, layer_norm_eps=1e-6, use_swiglu_ffn=swiglu,
                  attn_implementation="eager")
    if registers:
        model = Dinov2WithRegistersModel(Dinov2WithRegistersConfig(num_register_tokens=registers, **common))
    else:
        model = Dinov2Model(Dinov2Config(**common))
    if swiglu and classic:
        for layer in model.encoder.layer:
            layer.mlp = ClassicSwiGLUFFN(model.config)
    return model


CLASSIC = [
    (".attention.q_proj", ".attention.attention.query"),
    (".attention.k_proj", ".attention.attention.key"),
    (".attention.v_proj", ".attention.attention.value"),
    (".attention.o_proj", ".attention.output.dense"),
]


def classic_hf_name(name):
    """transformers 5 module path -> the transformers 4 path of the checkpoints."""
    for new, old in CLASSIC:
        name = name.replace(new, old)
    return name


def boost_embeddings(model, recipe):
    """The fan-in rule would make the position embedding ~0.006 and hide any
    interpolation error: give the tokens unit scale."""
    state = model.state_dict()
    for entry in recipe:
        if re.search(r"(cls_token|pos_embed|position_embeddings|register_tokens|mask_token)$", entry["key"]):
            entry["scale"] = 1.0
            state[entry["key"]] = recipe_tensor(entry)
    model.load_state_dict(state)


def build(layout, dim, depth, registers, swiglu, seed):
    if layout == "hub":
        model = HubDinov2(dim, depth, registers, swiglu)
    else:
        model = hf_dinov2(dim, depth, registers, swiglu, classic=layout == "hf")
    model = model.eval()
    recipe = randomize(model, base_seed=seed)
    boost_embeddings(model, recipe)
    return model, recipe


def rename_fixture(out_dir, name):
    path = out_dir / f"{name}.json"
    fixture = json.loads(path.read_text())
    for layer in fixture["layers"]:
        layer["name"] = classic_hf_name(layer["name"])
    for entry in fixture["weights"]:
        entry["key"] = classic_hf_name(entry["key"])
    path.write_text(json.dumps(fixture, indent=1))


def check_against_timm():
    """Our hub module equals timm's DINOv2 ViT on the same weights, where both
    resample the same way: at the native 37x37 grid (no resampling) and, with
    registers, at 224 (both antialiased and size-based). timm folds the class token's
    position into `cls_token` for the register models (`no_embed_class`)."""
    import timm.models.vision_transformer as tv
    for registers in (0, 4):
        ours, _ = build("hub", 128, 2, registers, False, seed=99)
        timm_model = tv.VisionTransformer(
            img_size=GRID * PATCH, patch_size=PATCH, embed_dim=128, depth=2, num_heads=2, init_values=1.0,
            num_classes=0, reg_tokens=registers, no_embed_class=registers > 0, dynamic_img_size=True,
            global_pool="token").eval()
        state = {k: v for k, v in ours.state_dict().items() if k != "mask_token"}
        if registers:
            state["cls_token"] = state["cls_token"] + state["pos_embed"][:, :1]
            state["pos_embed"] = state["pos_embed"][:, 1:]
            state["reg_token"] = state.pop("register_tokens")
        timm_model.load_state_dict(state)
        sizes = [(518, 518)] + ([(224, 224), (168, 252)] if registers else [])
        for size in sizes:
            x = torch.randn(2, 3, *size)
            with torch.no_grad():
                error = (ours(x) - timm_model(x)).abs().max().item()
            assert error < 1e-4, (registers, size, error)
    print("hub module matches timm")


CASES = [
    # name, layout, width, depth, registers, swiglu, image shape, resize, group, weighting
    ("dinov2_hub_resize_g2_none", "hub", 128, 2, 0, False, (2, 3, 60, 50), 224, 2, "none"),
    ("dinov2_hub_168x252_g3_exp", "hub", 128, 2, 0, False, (1, 3, 168, 252), None, 3, "exp"),
    # 37 patch rows: the hub still resamples them (with its 0.1 offset, not the identity).
    ("dinov2_hub_518x28_g2_linear", "hub", 128, 1, 0, False, (1, 3, 518, 28), None, 2, "linear"),
    ("dinov2_hub_reg_resize_g3_exp", "hub", 128, 2, 4, False, (1, 3, 50, 60), 224, 3, "exp"),
    ("dinov2_hub_reg_168x252_g2_linear", "hub", 128, 2, 4, False, (1, 3, 168, 252), None, 2, "linear"),
    ("dinov2_hub_vits_resize_g2_exp", "hub", 384, 2, 0, False, (1, 3, 64, 64), 224, 2, "exp"),
    ("dinov2_hub_swiglu_126x98_g3_none", "hub", 128, 2, 0, True, (1, 3, 126, 98), None, 3, "none"),
    ("dinov2_hf_resize_g3_linear", "hf", 128, 2, 0, False, (2, 3, 60, 50), 224, 3, "linear"),
    ("dinov2_hf_168x252_g2_none", "hf", 128, 2, 0, False, (1, 3, 168, 252), None, 2, "none"),
    ("dinov2_hf_518x28_g3_exp", "hf", 128, 1, 0, False, (1, 3, 518, 28), None, 3, "exp"),
    ("dinov2_hf_reg_resize_g2_exp", "hf", 128, 2, 4, False, (1, 3, 50, 60), 224, 2, "exp"),
    ("dinov2_hf_reg_168x252_g3_none", "hf", 128, 2, 4, False, (1, 3, 168, 252), None, 3, "none"),
    ("dinov2_hf_reg_swiglu_126x98_g2_linear", "hf", 128, 2, 4, True, (1, 3, 126, 98), None, 2, "linear"),
    ("dinov2_hf5_resize_g2_exp", "hf5", 128, 2, 0, False, (1, 3, 60, 50), 224, 2, "exp"),
    ("dinov2_hf5_reg_resize_g3_linear", "hf5", 128, 2, 4, False, (1, 3, 50, 60), 224, 3, "linear"),
    ("dinov2_hf5_reg_swiglu_70x56_g3_none", "hf5", 128, 2, 4, True, (1, 3, 70, 56), None, 3, "none"),
]


def main(out_dir: Path):
    check_against_timm()
    for index, (name, layout, dim, depth, registers, swiglu, shape, resize, group, weighting) in enumerate(CASES):
        if not selected(name):
            continue
        model, recipe = build(layout, dim, depth, registers, swiglu, seed=300 + index)
        loss_case(out_dir, name, "dinov2", model, recipe, shape, resize, group, weighting, seed=300 + index)
        if layout == "hf":
            rename_fixture(out_dir, name)
