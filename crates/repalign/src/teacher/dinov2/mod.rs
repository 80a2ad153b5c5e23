//! DINOv2 ViT-S/B/L/g with patch 14, with or without register tokens, from either
//! weight layout: torch.hub `facebookresearch/dinov2` or transformers'
//! `Dinov2Model` / `Dinov2WithRegistersModel` (SPEC §6).
//!
//! Everything is read off the weight shapes: width (heads = width / 64), depth, MLP
//! kind and width, register count and the position-embedding grid. The layout decides
//! the module structure, hence the taps: torch.hub records `patch_embed.proj`, then per
//! block `attn.qkv`, `attn.proj`, `mlp.fc1`, `mlp.fc2` (`mlp.w12`, `mlp.w3` for ViT-g);
//! transformers records the projection, then `query`, `key`, `value`,
//! `output.dense`, `fc1`, `fc2` (`weights_in`, `weights_out`). The head is an
//! `nn.Identity` and the final LayerNorm is no Linear: neither is tapped by default.
//!
//! transformers files come in two namings ([`HfNaming`]): transformers 4's, which the
//! published checkpoints (`facebook/dinov2-*`) keep, and transformers 5's, whose
//! modules are renamed (`attention.q_proj`, …) and whose SwiGLU MLP is split
//! (`gate_proj`, `up_proj`, `down_proj`). transformers 5 converts the published files
//! at load time; a file written from its `state_dict()` has its own names. Either
//! loads, and the taps are named as that file's modules are.

mod block;
mod pos_embed;

use burn::tensor::{Device, Tensor};

pub(crate) use block::Ffn;
pub(crate) use pos_embed::PosInterpolation;

use self::block::{Block, HEAD_DIM, LayerNorm};
use self::pos_embed::PositionEmbedding;
use super::layers::{Conv2d, ConvSpec, like};
use super::registry::Family;
use super::{Teacher, TokenLayout};
use crate::error::{Error, Result};
use crate::preprocess::Normalize;
use crate::taps::Taps;
use crate::weights::WeightStore;

/// The patch side of every DINOv2 checkpoint.
const PATCH: usize = 14;

/// Which reference implementation the weights (and so the module structure) come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// torch.hub `facebookresearch/dinov2` (`cls_token`, `blocks.N.attn.qkv`, …).
    TorchHub,
    /// transformers `Dinov2Model` / `Dinov2WithRegistersModel` (`embeddings.cls_token`,
    /// `encoder.layer.N`, …), with the block's modules named by one release.
    HuggingFace(HfNaming),
}

/// How a transformers file names the modules of a block. Only the attention and the
/// SwiGLU MLP differ (the embeddings, `norm1`/`norm2`, `layer_scale{1,2}.lambda1`,
/// `mlp.fc1`/`mlp.fc2` and `layernorm` keep their names), and the module structure, so
/// the taps, follow the naming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HfNaming {
    /// transformers 4, the published checkpoints, and transformers 5's
    /// `save_pretrained` by default (`save_original_format=True`):
    /// `attention.attention.{query,key,value}`, `attention.output.dense`; GELU module
    /// `mlp.activation`; SwiGLU `mlp.weights_in` (gate | up in one Linear, one tap),
    /// functional SiLU, `mlp.weights_out`.
    Transformers4,
    /// transformers 5's own modules, as its `state_dict()` and
    /// `save_pretrained(save_original_format=False)` write them:
    /// `attention.{q,k,v,o}_proj`; GELU module `mlp.activation_fn`; SwiGLU
    /// `mlp.gate_proj`, the SiLU module `mlp.act_fn`, `mlp.up_proj`, `mlp.down_proj`,
    /// hooked in that order.
    Transformers5,
}

impl HfNaming {
    /// Reads the naming off the first block's query projection. Weights with neither
    /// get transformers 4's, whose loader then names the first key that is missing.
    fn of(store: &WeightStore) -> Self {
        let naming = HfNaming::Transformers5;
        let query = format!(
            "{}.{}.weight",
            Layout::HuggingFace(naming).block(0),
            naming.attention()[0]
        );
        if store.contains(&query) {
            naming
        } else {
            HfNaming::Transformers4
        }
    }

    /// The attention's query, key, value and output projections under the block, in
    /// the order they run (and are hooked).
    fn attention(self) -> [&'static str; 4] {
        match self {
            HfNaming::Transformers4 => [
                "attention.attention.query",
                "attention.attention.key",
                "attention.attention.value",
                "attention.output.dense",
            ],
            HfNaming::Transformers5 => [
                "attention.q_proj",
                "attention.k_proj",
                "attention.v_proj",
                "attention.o_proj",
            ],
        }
    }
}

impl Layout {
    fn key(self, hub: &str, hf: &str) -> String {
        match self {
            Layout::TorchHub => hub.to_owned(),
            Layout::HuggingFace(_) => hf.to_owned(),
        }
    }

    fn block(self, index: usize) -> String {
        match self {
            Layout::TorchHub => format!("blocks.{index}"),
            Layout::HuggingFace(_) => format!("encoder.layer.{index}"),
        }
    }

    /// The SwiGLU MLP's first Linear under `mlp` and its output width in hidden
    /// widths: torch.hub's `w12` and transformers 4's `weights_in` hold gate and up
    /// (2h), transformers 5's `gate_proj` the gate alone (h).
    fn swiglu_input(self) -> (&'static str, usize) {
        match self {
            Layout::TorchHub => ("w12", 2),
            Layout::HuggingFace(HfNaming::Transformers4) => ("weights_in", 2),
            Layout::HuggingFace(HfNaming::Transformers5) => ("gate_proj", 1),
        }
    }
}

/// The shape of a DINOv2 network, as read off its weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dinov2Config {
    /// Weight layout.
    layout: Layout,
    /// Token width (384, 768, 1024, 1536 for S, B, L, g).
    dim: usize,
    /// Number of blocks.
    depth: usize,
    /// MLP kind and hidden width.
    ffn: Ffn,
    /// Register tokens (0 or 4 in the releases).
    registers: usize,
    /// Side of the stored position-embedding grid (37 in the releases).
    grid: usize,
}

impl Dinov2Config {
    /// Reads the configuration off the keys and shapes of a weight file.
    ///
    /// # Errors
    /// [`Error::Architecture`] when the file is not a DINOv2 of either layout or
    /// its shapes do not fit together.
    fn infer(store: &WeightStore) -> Result<Self> {
        let bad = |reason: String| Error::Architecture {
            origin: store.origin().to_owned(),
            reason,
        };
        let layout = if store.contains("cls_token") {
            Layout::TorchHub
        } else if store.contains("embeddings.cls_token") {
            Layout::HuggingFace(HfNaming::of(store))
        } else {
            return Err(bad(
                "no DINOv2 weights: neither `cls_token` (torch.hub) nor `embeddings.cls_token` (transformers)".into(),
            ));
        };
        let cls_key = layout.key("cls_token", "embeddings.cls_token");
        let dim = match store.shape(&cls_key) {
            Some(&[1, 1, dim]) if dim > 0 && dim % HEAD_DIM == 0 => dim,
            other => {
                return Err(bad(format!(
                    "`{cls_key}` has shape {other:?}; expected (1, 1, D) with D a multiple of {HEAD_DIM}"
                )));
            }
        };
        let depth = (0..)
            .take_while(|&i| store.contains(&format!("{}.norm1.weight", layout.block(i))))
            .count();
        if depth == 0 {
            return Err(bad(format!(
                "no transformer blocks (`{}.norm1.weight`)",
                layout.block(0)
            )));
        }
        let mlp = |name: &str| store.shape(&format!("{}.mlp.{name}.weight", layout.block(0)));
        let (swiglu_input, widths) = layout.swiglu_input();
        let ffn = match (mlp("fc1"), mlp(swiglu_input)) {
            (Some(&[hidden, _]), _) => Ffn::Mlp(hidden),
            (None, Some(&[out, _])) if out % widths == 0 => Ffn::SwiGlu(out / widths),
            _ => return Err(bad(format!("cannot find the MLP of `{}`", layout.block(0)))),
        };
        let reg_key = layout.key("register_tokens", "embeddings.register_tokens");
        let registers = match store.shape(&reg_key) {
            None => 0,
            Some(&[1, registers, d]) if d == dim => registers,
            Some(shape) => {
                return Err(bad(format!(
                    "`{reg_key}` has shape {shape:?}; expected (1, R, {dim})"
                )));
            }
        };
        let pos_key = layout.key("pos_embed", "embeddings.position_embeddings");
        let grid = match store.shape(&pos_key) {
            Some(&[1, n, d]) if d == dim => n.checked_sub(1).and_then(square_side),
            _ => None,
        };
        let grid = match grid {
            Some(grid) if grid > 0 => grid,
            _ => {
                let other = store.shape(&pos_key);
                return Err(bad(format!(
                    "`{pos_key}` has shape {other:?}; expected (1, 1 + M*M, {dim})"
                )));
            }
        };
        Ok(Dinov2Config {
            layout,
            dim,
            depth,
            ffn,
            registers,
            grid,
        })
    }

    /// How this model resamples its position embedding: the register models switched
    /// to antialiased, size-based resampling; without registers the two layouts differ.
    fn pos_interpolation(&self) -> PosInterpolation {
        match (self.registers, self.layout) {
            (0, Layout::TorchHub) => PosInterpolation::PlainWithOffset,
            (0, Layout::HuggingFace(_)) => PosInterpolation::Plain,
            _ => PosInterpolation::Antialiased,
        }
    }

    /// The torch.hub name of the released model of this shape (`dinov2_vitb14_reg`),
    /// whatever the layout, or a descriptive one for other shapes.
    fn name(&self) -> String {
        let release = RELEASES
            .iter()
            .find(|&&(_, dim, depth, ffn)| (dim, depth, ffn) == (self.dim, self.depth, self.ffn));
        match (release, self.registers) {
            (Some((size, ..)), 0) => format!("dinov2_vit{size}14"),
            (Some((size, ..)), 4) => format!("dinov2_vit{size}14_reg"),
            _ => format!(
                "dinov2 (width {}, depth {}, {:?} MLP, {} registers)",
                self.dim, self.depth, self.ffn, self.registers
            ),
        }
    }
}

/// The released sizes: name letter, width, depth and MLP (4 × width, or for ViT-g
/// SwiGLU's `(int(8 * dim / 3) + 7) // 8 * 8`), each with 0 or 4 registers.
const RELEASES: [(&str, usize, usize, Ffn); 4] = [
    ("s", 384, 12, Ffn::Mlp(1536)),
    ("b", 768, 12, Ffn::Mlp(3072)),
    ("l", 1024, 24, Ffn::Mlp(4096)),
    ("g", 1536, 40, Ffn::SwiGlu(4096)),
];

/// The side of the released models' position-embedding grid (518 px / 14).
const RELEASED_GRID: usize = 37;

/// `Some(m)` when `n == m * m`.
fn square_side(n: usize) -> Option<usize> {
    let m = (n as f64).sqrt().round() as usize;
    (m.checked_mul(m) == Some(n)).then_some(m)
}

/// A DINOv2 teacher.
#[derive(Debug, Clone)]
pub(crate) struct Dinov2 {
    name: String,
    patch_embed: Conv2d,
    /// `cls_token + pos_embed[:, 0]`, then the register tokens: the tokens that precede
    /// the patches, `(1, 1 + R, D)`. Registers are inserted after the position
    /// embedding is added, so they carry none.
    prefix: Tensor<3>,
    pos_embed: PositionEmbedding,
    blocks: Vec<Block>,
    norm: LayerNorm,
}

impl Dinov2 {
    /// Builds the network described by `config` from `store`, taking every key once.
    /// The `mask_token` (used only for masked-image training) is shape-checked and
    /// dropped.
    ///
    /// # Errors
    /// Any missing, unexpected or mis-shaped key.
    fn load(config: Dinov2Config, mut store: WeightStore, device: &Device) -> Result<Self> {
        let Dinov2Config {
            layout, dim, grid, ..
        } = config;
        if dim == 0 || dim % HEAD_DIM != 0 {
            return Err(Error::Config(format!(
                "DINOv2 width {dim} is not a multiple of {HEAD_DIM}"
            )));
        }
        let mut w = store.scope(device);
        let patch_embed = Conv2d::load(
            w.at(layout.key("patch_embed.proj", "embeddings.patch_embeddings.projection")),
            ConvSpec::new(3, dim, PATCH, 0).stride(PATCH),
        )?;
        let cls = w.take(&layout.key("cls_token", "embeddings.cls_token"), [1, 1, dim])?;
        let pos = w.take(
            &layout.key("pos_embed", "embeddings.position_embeddings"),
            [1, 1 + grid * grid, dim],
        )?;
        let pos_embed = PositionEmbedding::new(pos, grid, dim, config.pos_interpolation());
        let mut prefix = cls + pos_embed.class();
        if config.registers > 0 {
            let registers = w.take(
                &layout.key("register_tokens", "embeddings.register_tokens"),
                [1, config.registers, dim],
            )?;
            prefix = Tensor::cat(vec![prefix, registers], 1);
        }
        let mask_key = layout.key("mask_token", "embeddings.mask_token");
        if w.contains(&mask_key) {
            w.take::<2>(&mask_key, [1, dim])?;
        }
        let blocks = (0..config.depth)
            .map(|i| Block::load(w.at(layout.block(i)), layout, dim, config.ffn))
            .collect::<Result<_>>()?;
        let norm = LayerNorm::load(w.at(layout.key("norm", "layernorm")), dim)?;
        store.finish()?;
        Ok(Dinov2 {
            name: config.name(),
            patch_embed,
            prefix,
            pos_embed,
            blocks,
            norm,
        })
    }
}

impl Family for Dinov2 {
    type Variant = Dinov2Config;
    const NAME: Option<&'static str> = Some("dinov2");

    /// The released models, in torch.hub's layout (a name cannot tell the layout; a
    /// weight file can, and [`Family::unreadable`] keeps it that way).
    fn variants() -> Vec<Dinov2Config> {
        [0, 4]
            .into_iter()
            .flat_map(|registers| {
                RELEASES.map(|(_, dim, depth, ffn)| Dinov2Config {
                    layout: Layout::TorchHub,
                    dim,
                    depth,
                    ffn,
                    registers,
                    grid: RELEASED_GRID,
                })
            })
            .collect()
    }

    fn name(config: Dinov2Config) -> String {
        config.name()
    }

    fn infer(weights: &WeightStore) -> Result<Dinov2Config> {
        Dinov2Config::infer(weights)
    }

    /// Weights in which no DINOv2 can be read could be of either layout: say why,
    /// rather than name a torch.hub key the user's transformers file never had.
    fn unreadable(_: Dinov2Config, unreadable: Error) -> Result<Dinov2Config> {
        Err(unreadable)
    }

    fn build(config: Dinov2Config, weights: WeightStore, device: &Device) -> Result<Box<dyn Teacher>> {
        Ok(Box::new(Dinov2::load(config, weights, device)?))
    }
}

impl Teacher for Dinov2 {
    fn name(&self) -> &str {
        &self.name
    }

    fn normalize(&self) -> Normalize {
        Normalize::IMAGENET
    }

    fn check_input(&self, height: usize, width: usize) -> Result<()> {
        if height < PATCH || width < PATCH || !height.is_multiple_of(PATCH) || !width.is_multiple_of(PATCH) {
            return Err(Error::InputSize {
                teacher: self.name.clone(),
                height,
                width,
                reason: format!("DINOv2 needs both sides to be positive multiples of the patch size {PATCH}"),
            });
        }
        Ok(())
    }

    fn token_layout(&self, height: usize, width: usize) -> Option<TokenLayout> {
        Some(TokenLayout {
            prefix: self.prefix.dims()[1],
            rows: height / PATCH,
            cols: width / PATCH,
        })
    }

    fn forward(&self, input: Tensor<4>, taps: &mut Taps) {
        let [batch, _, height, width] = input.dims();
        let (rows, cols) = (height / PATCH, width / PATCH);
        let patches = self.patch_embed.forward(input, taps);
        // (B, D, rows, cols) -> (B, rows*cols, D), row-major as `flatten(2).transpose(1, 2)`.
        let patches: Tensor<3> = patches.flatten(2, 3).swap_dims(1, 2);
        let position = like(&self.pos_embed.patches(rows, cols), &patches);
        let patches = patches + position;
        let [_, prefix_len, dim] = self.prefix.dims();
        let prefix = like(&self.prefix, &patches).expand([batch, prefix_len, dim]);
        let mut x = Tensor::cat(vec![prefix, patches], 1);
        for block in &self.blocks {
            x = block.forward(x, taps);
        }
        // The model's output: no Linear follows (the hub head is `nn.Identity`).
        self.norm.forward(x, taps);
    }
}

#[cfg(test)]
mod tests;
