//! One DINOv2 transformer block: pre-norm attention and MLP, each scaled by a learned
//! per-channel LayerScale before its residual add.
//!
//! The weight layouts compute the same function but are built from different
//! modules, and the seed hooks modules: torch.hub fuses query, key and value into one
//! `attn.qkv` Linear (one tap), transformers has three (three taps); transformers 4
//! fuses SwiGLU's gate and up projections into one Linear, transformers 5 splits them.
//! The structs here keep those differences so the taps come out as PyTorch records them.

use burn::tensor::{FloatDType, Tensor, activation, module};

use super::{HfNaming, Layout};
use crate::error::Result;
use crate::taps::{LayerKind, Taps};
use crate::teacher::layers::{Activation, Linear, like};
use crate::weights::Scope;

/// Every DINOv2 size uses 64 channels per head.
pub(super) const HEAD_DIM: usize = 64;

/// `nn.LayerNorm(dim, eps=1e-6)`, tapped as kind `Norm`.
#[derive(Debug, Clone)]
pub(super) struct LayerNorm {
    path: String,
    weight: Tensor<1>,
    bias: Tensor<1>,
}

impl LayerNorm {
    /// DINOv2's epsilon in both layouts.
    const EPS: f64 = 1e-6;

    pub fn load(mut w: Scope<'_>, dim: usize) -> Result<Self> {
        let weight = w.take("weight", [dim])?;
        let bias = w.take("bias", [dim])?;
        Ok(LayerNorm {
            path: w.path().to_owned(),
            weight,
            bias,
        })
    }

    pub fn forward(&self, input: Tensor<3>, taps: &mut Taps) -> Tensor<3> {
        // In f32 whatever the teacher's precision (autocast's rule for layer_norm): the
        // mean and variance of a token in half precision lose too much.
        let dtype = input.dtype();
        let output = module::layer_norm(
            input.cast(FloatDType::F32),
            self.weight.clone(),
            Some(self.bias.clone()),
            Self::EPS,
        )
        .cast(dtype);
        taps.record(&self.path, LayerKind::Norm, &output);
        output
    }
}

/// The Linear layers of the attention, as each layout modules them.
// One per block, built once: the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Projections {
    /// torch.hub: `attn.qkv` (`dim` → `3*dim`, split q | k | v), then `attn.proj`.
    Fused { qkv: Linear, proj: Linear },
    /// transformers: query, key, value, then the output projection, hooked in that
    /// order (`attention.attention.{query,key,value}`, `attention.output.dense`, or
    /// transformers 5's `attention.{q,k,v,o}_proj`).
    Separate {
        query: Linear,
        key: Linear,
        value: Linear,
        dense: Linear,
    },
}

/// Multi-head self-attention, `softmax(q kᵀ / √64) v`.
#[derive(Debug, Clone)]
struct Attention {
    projections: Projections,
    heads: usize,
}

impl Attention {
    /// Takes the projections of the block `w`.
    fn load(w: &mut Scope<'_>, layout: Layout, dim: usize) -> Result<Self> {
        let mut linear = |name: &str, out: usize| Linear::load(w.at(name), dim, out);
        let projections = match layout {
            Layout::TorchHub => Projections::Fused {
                qkv: linear("attn.qkv", 3 * dim)?,
                proj: linear("attn.proj", dim)?,
            },
            Layout::HuggingFace(naming) => {
                let [query, key, value, dense] = naming.attention();
                Projections::Separate {
                    query: linear(query, dim)?,
                    key: linear(key, dim)?,
                    value: linear(value, dim)?,
                    dense: linear(dense, dim)?,
                }
            }
        };
        Ok(Attention {
            projections,
            heads: dim / HEAD_DIM,
        })
    }

    fn forward(&self, x: Tensor<3>, taps: &mut Taps) -> Tensor<3> {
        let [batch, tokens, dim] = x.dims();
        match &self.projections {
            Projections::Fused { qkv, proj } => {
                let qkv = qkv.forward(x, taps);
                let q = qkv.clone().narrow(2, 0, dim);
                let k = qkv.clone().narrow(2, dim, dim);
                let v = qkv.narrow(2, 2 * dim, dim);
                proj.forward(self.attend(q, k, v, [batch, tokens, dim]), taps)
            }
            Projections::Separate {
                query,
                key,
                value,
                dense,
            } => {
                let q = query.forward(x.clone(), taps);
                let k = key.forward(x.clone(), taps);
                let v = value.forward(x, taps);
                dense.forward(self.attend(q, k, v, [batch, tokens, dim]), taps)
            }
        }
    }

    /// Scaled dot-product attention over `(B, N, D)` projections split into heads.
    fn attend(
        &self,
        q: Tensor<3>,
        k: Tensor<3>,
        v: Tensor<3>,
        [batch, tokens, dim]: [usize; 3],
    ) -> Tensor<3> {
        let split =
            |t: Tensor<3>| -> Tensor<4> { t.reshape([batch, tokens, self.heads, HEAD_DIM]).swap_dims(1, 2) };
        let scale = (HEAD_DIM as f64).powf(-0.5);
        let scores = split(q).matmul(split(k).transpose()) * scale;
        // Softmax in f32 whatever the teacher's precision, as autocast runs it.
        let dtype = scores.dtype();
        let weights = activation::softmax(scores.cast(FloatDType::F32), 3).cast(dtype);
        weights
            .matmul(split(v))
            .swap_dims(1, 2)
            .reshape([batch, tokens, dim])
    }
}

/// The feed-forward network.
// One per block, built once: the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum FeedForward {
    /// `fc1`, exact GELU (module `act_path`), `fc2`.
    Mlp {
        fc1: Linear,
        fc2: Linear,
        act_path: String,
    },
    /// ViT-g's fused SwiGLU: `w12` (`weights_in`) to `2h`, `silu(x1) * x2`, `w3`
    /// (`weights_out`). The gating is functional, so nothing between is tapped.
    SwiGlu { w12: Linear, w3: Linear, hidden: usize },
    /// transformers 5's split SwiGLU: `down_proj(act_fn(gate_proj(x)) * up_proj(x))`,
    /// with the SiLU a module (`act_path`) that runs, and is hooked, before `up_proj`.
    SplitSwiGlu {
        gate: Linear,
        up: Linear,
        down: Linear,
        act_path: String,
    },
}

/// The MLP kind and hidden width, as read off the weight shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ffn {
    /// `fc1` → GELU → `fc2` with this hidden width (4 × dim in every released size).
    Mlp(usize),
    /// SwiGLU with hidden width `h` (gate and up projections to `h` each, fused in
    /// `w12` / `weights_in` or split); ViT-g/14.
    SwiGlu(usize),
}

impl FeedForward {
    /// Takes the MLP `w` (`mlp`).
    fn load(mut w: Scope<'_>, layout: Layout, dim: usize, ffn: Ffn) -> Result<Self> {
        // The activation module's path (the fused SwiGLUs' SiLU is functional: unused).
        let act_path = w.path_of(match (ffn, layout) {
            (Ffn::Mlp(_), Layout::TorchHub) => "act",
            (Ffn::Mlp(_), Layout::HuggingFace(HfNaming::Transformers4)) => "activation",
            (Ffn::Mlp(_), Layout::HuggingFace(HfNaming::Transformers5)) => "activation_fn",
            (Ffn::SwiGlu(_), _) => "act_fn",
        });
        let mut linear = |name: &str, inputs: usize, out: usize| Linear::load(w.at(name), inputs, out);
        Ok(match (ffn, layout) {
            (Ffn::Mlp(hidden), _) => FeedForward::Mlp {
                fc1: linear("fc1", dim, hidden)?,
                fc2: linear("fc2", hidden, dim)?,
                act_path,
            },
            (Ffn::SwiGlu(hidden), Layout::TorchHub) => FeedForward::SwiGlu {
                w12: linear("w12", dim, 2 * hidden)?,
                w3: linear("w3", hidden, dim)?,
                hidden,
            },
            (Ffn::SwiGlu(hidden), Layout::HuggingFace(HfNaming::Transformers4)) => FeedForward::SwiGlu {
                w12: linear("weights_in", dim, 2 * hidden)?,
                w3: linear("weights_out", hidden, dim)?,
                hidden,
            },
            (Ffn::SwiGlu(hidden), Layout::HuggingFace(HfNaming::Transformers5)) => FeedForward::SplitSwiGlu {
                gate: linear("gate_proj", dim, hidden)?,
                up: linear("up_proj", dim, hidden)?,
                down: linear("down_proj", hidden, dim)?,
                act_path,
            },
        })
    }

    fn forward(&self, x: Tensor<3>, taps: &mut Taps) -> Tensor<3> {
        match self {
            FeedForward::Mlp { fc1, fc2, act_path } => {
                let x = fc1.forward(x, taps);
                let x = Activation::Gelu.forward(x, act_path, taps);
                fc2.forward(x, taps)
            }
            FeedForward::SwiGlu { w12, w3, hidden } => {
                let x12 = w12.forward(x, taps);
                let gate = x12.clone().narrow(2, 0, *hidden);
                let up = x12.narrow(2, *hidden, *hidden);
                w3.forward(Activation::Silu.apply(gate) * up, taps)
            }
            FeedForward::SplitSwiGlu {
                gate,
                up,
                down,
                act_path,
            } => {
                let gate = Activation::Silu.forward(gate.forward(x.clone(), taps), act_path, taps);
                let up = up.forward(x, taps);
                down.forward(gate * up, taps)
            }
        }
    }
}

/// A transformer block.
#[derive(Debug, Clone)]
pub(super) struct Block {
    norm1: LayerNorm,
    attention: Attention,
    /// LayerScale `ls1.gamma` / `layer_scale1.lambda1`, as `(1, 1, D)`.
    scale1: Tensor<3>,
    norm2: LayerNorm,
    mlp: FeedForward,
    scale2: Tensor<3>,
}

impl Block {
    /// Takes the block `w` (`blocks.N` or `encoder.layer.N`).
    pub fn load(mut w: Scope<'_>, layout: Layout, dim: usize, ffn: Ffn) -> Result<Self> {
        let scale_key = |n: usize| match layout {
            Layout::TorchHub => format!("ls{n}.gamma"),
            Layout::HuggingFace(_) => format!("layer_scale{n}.lambda1"),
        };
        let norm1 = LayerNorm::load(w.at("norm1"), dim)?;
        let attention = Attention::load(&mut w, layout, dim)?;
        let scale1 = w.take(&scale_key(1), [dim])?.reshape([1, 1, dim]);
        let norm2 = LayerNorm::load(w.at("norm2"), dim)?;
        let mlp = FeedForward::load(w.at("mlp"), layout, dim, ffn)?;
        let scale2 = w.take(&scale_key(2), [dim])?.reshape([1, 1, dim]);
        Ok(Block {
            norm1,
            attention,
            scale1,
            norm2,
            mlp,
            scale2,
        })
    }

    /// `x + ls1(attn(norm1(x)))`, then `x + ls2(mlp(norm2(x)))`.
    pub fn forward(&self, x: Tensor<3>, taps: &mut Taps) -> Tensor<3> {
        let attended = self.attention.forward(self.norm1.forward(x.clone(), taps), taps);
        let scale1 = like(&self.scale1, &attended);
        let x = x + attended * scale1;
        let fed = self.mlp.forward(self.norm2.forward(x.clone(), taps), taps);
        let scale2 = like(&self.scale2, &fed);
        x + fed * scale2
    }
}
