//! torchvision EfficientNet B0–B7.
//!
//! `features.0` is the stem `Conv2dNormActivation` (conv, BatchNorm, SiLU), `features.1..=7`
//! the seven stages of `MBConv` blocks (`features.S.B.block.I`), `features.8` the 1x1
//! head; then average pooling, dropout (identity in eval) and `classifier.1`. An
//! `MBConv` block holds an optional 1x1 expansion `Conv2dNormActivation` (absent when the
//! expand ratio is 1, i.e. in stage 1), the depthwise `Conv2dNormActivation`, a
//! `SqueezeExcitation` (`avgpool`, `fc1`, `activation`, `fc2`, `scale_activation`) and the
//! 1x1 projection (conv, BatchNorm, no activation).
//!
//! In-place effects on the taps, all from torchvision's code:
//! * each SiLU after a BatchNorm is `inplace=True`, so BatchNorm taps hold the
//!   activated values (the convs before them are not affected);
//! * the squeeze-excitation's `activation` is `SiLU(inplace=True)` directly after the
//!   `fc1` conv, so the `fc1` tap holds SiLU(fc1);
//! * the residual is `result += input`, in place on the projection BatchNorm's output;
//! * stochastic depth is the identity in eval mode.
//!
//! B0–B4 use BatchNorm eps 1e-5, B5–B7 1e-3 (torchvision passes
//! `partial(nn.BatchNorm2d, eps=0.001)` for those); eps is not in the weights, so it
//! comes with the variant.

use burn::tensor::{Device, Tensor, activation, module};

use super::Teacher;
use super::heads::PooledLinear;
use super::layers::{Activation, Conv2d, ConvNormAct, ConvSpec};
use super::registry::Family;
use crate::error::{Error, Result};
use crate::preprocess::Normalize;
use crate::taps::Taps;
use crate::weights::{Scope, WeightStore};

/// torchvision's B0 stages before scaling: expand ratio, kernel, stride, input
/// channels, output channels, layers.
const STAGES: [(usize, usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
];

/// torchvision's `_make_divisible(v, 8)`: nearest multiple of 8, at least 8, and never
/// more than 10% below `v`. (The same rule as TensorFlow's `round_filters`.)
pub(crate) fn make_divisible(v: f64) -> usize {
    let rounded = (((v + 4.0) as usize) / 8 * 8).max(8);
    if (rounded as f64) < 0.9 * v {
        rounded + 8
    } else {
        rounded
    }
}

/// Which EfficientNet (B0 to B7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EfficientNetVariant(u8);

/// One `MBConv` block's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BlockConfig {
    input: usize,
    output: usize,
    expanded: usize,
    squeeze: usize,
    kernel: usize,
    stride: usize,
}

impl EfficientNetVariant {
    /// Every variant, B0 to B7.
    const ALL: [EfficientNetVariant; 8] = [
        EfficientNetVariant(0),
        EfficientNetVariant(1),
        EfficientNetVariant(2),
        EfficientNetVariant(3),
        EfficientNetVariant(4),
        EfficientNetVariant(5),
        EfficientNetVariant(6),
        EfficientNetVariant(7),
    ];

    /// The torchvision name, e.g. `efficientnet_b3`.
    fn name(self) -> String {
        format!("efficientnet_b{}", self.0)
    }

    /// (width, depth) multipliers, as torchvision's builders pass them.
    fn multipliers(self) -> (f64, f64) {
        match self.0 {
            0 => (1.0, 1.0),
            1 => (1.0, 1.1),
            2 => (1.1, 1.2),
            3 => (1.2, 1.4),
            4 => (1.4, 1.8),
            5 => (1.6, 2.2),
            6 => (1.8, 2.6),
            _ => (2.0, 3.1),
        }
    }

    /// BatchNorm epsilon.
    fn eps(self) -> f64 {
        if self.0 >= 5 { 1e-3 } else { 1e-5 }
    }

    /// The crop size of torchvision's weights for this variant.
    pub fn input_size(self) -> usize {
        [224, 240, 288, 300, 380, 456, 528, 600][usize::from(self.0)]
    }

    /// Stem width.
    fn stem(self) -> usize {
        make_divisible(STAGES[0].3 as f64 * self.multipliers().0)
    }

    /// Blocks per stage, each with its shape.
    fn stages(self) -> Vec<Vec<BlockConfig>> {
        let (width, depth) = self.multipliers();
        STAGES
            .iter()
            .map(|&(expand, kernel, stride, input, output, layers)| {
                let input = make_divisible(input as f64 * width);
                let output = make_divisible(output as f64 * width);
                let layers = (layers as f64 * depth).ceil() as usize;
                (0..layers)
                    .map(|i| {
                        let input = if i == 0 { input } else { output };
                        BlockConfig {
                            input,
                            output,
                            expanded: make_divisible((input * expand) as f64),
                            squeeze: (input / 4).max(1),
                            kernel,
                            stride: if i == 0 { stride } else { 1 },
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// Head width: four times the last stage's.
    fn head(self) -> usize {
        4 * make_divisible(STAGES[6].4 as f64 * self.multipliers().0)
    }

    /// Reads the variant off a torchvision state dict: blocks per stage and head width
    /// tell the eight apart.
    ///
    /// # Errors
    /// [`Error::Architecture`] when no variant has this structure.
    fn infer(store: &WeightStore) -> Result<Self> {
        let blocks: Vec<usize> = (1..=7)
            .map(|s| {
                (0..)
                    .take_while(|b| {
                        store
                            .keys()
                            .any(|k| k.starts_with(&format!("features.{s}.{b}.block.")))
                    })
                    .count()
            })
            .collect();
        let head = store
            .shape("features.8.0.weight")
            .and_then(|s| s.first().copied());
        Self::ALL
            .into_iter()
            .find(|v| head == Some(v.head()) && v.stages().iter().map(Vec::len).eq(blocks.iter().copied()))
            .ok_or_else(|| Error::Architecture {
                origin: store.origin().to_owned(),
                reason: format!(
                    "blocks per stage {blocks:?} and head width {head:?} match no torchvision EfficientNet B0-B7"
                ),
            })
    }
}

/// Conv (no bias, "same" padding `kernel / 2` in the spec), BatchNorm, in-place SiLU:
/// torchvision's `Conv2dNormActivation`.
fn conv_bn_silu(w: Scope<'_>, spec: ConvSpec, eps: f64) -> Result<ConvNormAct> {
    ConvNormAct::load_torchvision(w, spec, eps, Some(Activation::Silu))
}

/// torchvision's `SqueezeExcitation` with `activation=SiLU(inplace=True)`.
#[derive(Debug, Clone)]
struct SqueezeExcitation {
    /// `fc1` and the in-place SiLU `activation`.
    fc1: ConvNormAct,
    fc2: Conv2d,
}

impl SqueezeExcitation {
    fn load(mut w: Scope<'_>, c: BlockConfig) -> Result<Self> {
        let fc1 = Conv2d::load(w.at("fc1"), ConvSpec::new(c.expanded, c.squeeze, 1, 0))?;
        Ok(SqueezeExcitation {
            fc1: ConvNormAct::new(fc1, None, Some((Activation::Silu, w.path_of("activation")))),
            fc2: Conv2d::load(w.at("fc2"), ConvSpec::new(c.squeeze, c.expanded, 1, 0))?,
        })
    }

    fn forward(&self, x: Tensor<4>, taps: &mut Taps) -> Tensor<4> {
        let scale = module::adaptive_avg_pool2d(x.clone(), [1, 1]);
        let scale = self.fc1.forward(scale, taps);
        let scale = activation::sigmoid(self.fc2.forward(scale, taps));
        scale * x
    }
}

/// torchvision's `MBConv`.
#[derive(Debug, Clone)]
struct MbConv {
    expand: Option<ConvNormAct>,
    depthwise: ConvNormAct,
    se: SqueezeExcitation,
    /// The projection `Conv2dNormActivation`, without activation.
    project: ConvNormAct,
    residual: bool,
}

impl MbConv {
    fn load(mut w: Scope<'_>, c: BlockConfig, eps: f64) -> Result<Self> {
        let mut block = w.at("block");
        let expand = if c.expanded != c.input {
            Some(conv_bn_silu(
                block.at(0),
                ConvSpec::new(c.input, c.expanded, 1, 0),
                eps,
            )?)
        } else {
            None
        };
        // Sequential indices shift by one when there is an expansion conv.
        let index = usize::from(expand.is_some());
        let depthwise = conv_bn_silu(
            block.at(index),
            ConvSpec::new(c.expanded, c.expanded, c.kernel, c.kernel / 2)
                .stride(c.stride)
                .groups(c.expanded),
            eps,
        )?;
        let se = SqueezeExcitation::load(block.at(index + 1), c)?;
        let project = ConvNormAct::load_torchvision(
            block.at(index + 2),
            ConvSpec::new(c.expanded, c.output, 1, 0),
            eps,
            None,
        )?;
        Ok(MbConv {
            expand,
            depthwise,
            se,
            project,
            residual: c.stride == 1 && c.input == c.output,
        })
    }

    fn forward(&self, input: Tensor<4>, taps: &mut Taps) -> Tensor<4> {
        let mut x = input.clone();
        if let Some(expand) = &self.expand {
            x = expand.forward(x, taps);
        }
        let x = self.depthwise.forward(x, taps);
        let x = self.se.forward(x, taps);
        if self.residual {
            self.project.forward_add_in_place(x, input, taps)
        } else {
            self.project.forward(x, taps)
        }
    }
}

/// A torchvision EfficientNet (B0–B7) teacher.
#[derive(Debug, Clone)]
pub(crate) struct EfficientNet {
    variant: EfficientNetVariant,
    name: String,
    stem: ConvNormAct,
    blocks: Vec<MbConv>,
    head: ConvNormAct,
    classifier: Option<PooledLinear>,
}

impl EfficientNet {
    /// Builds `variant` from torchvision keys. Without `classifier.*` keys, the feature
    /// extractor alone; the class count is read off `classifier.1.weight`. Every key
    /// must be used.
    ///
    /// # Errors
    /// Any missing, unexpected or mis-shaped key.
    fn load(variant: EfficientNetVariant, mut store: WeightStore, device: &Device) -> Result<Self> {
        let eps = variant.eps();
        let mut w = store.scope(device);
        let mut features = w.at("features");
        let stem = conv_bn_silu(
            features.at(0),
            ConvSpec::new(3, variant.stem(), 3, 1).stride(2),
            eps,
        )?;
        let mut blocks = Vec::new();
        let mut channels = variant.stem();
        for (s, stage) in variant.stages().into_iter().enumerate() {
            for (b, config) in stage.into_iter().enumerate() {
                blocks.push(MbConv::load(features.at(s + 1).at(b), config, eps)?);
                channels = config.output;
            }
        }
        let head = conv_bn_silu(features.at(8), ConvSpec::new(channels, variant.head(), 1, 0), eps)?;
        let classifier = PooledLinear::load(&mut w, "classifier", "classifier.1", variant.head())?;
        store.finish()?;
        Ok(EfficientNet {
            variant,
            name: variant.name(),
            stem,
            blocks,
            head,
            classifier,
        })
    }
}

impl Family for EfficientNet {
    type Variant = EfficientNetVariant;
    const NAME: Option<&'static str> = Some("efficientnet");

    fn variants() -> Vec<EfficientNetVariant> {
        EfficientNetVariant::ALL.to_vec()
    }

    fn name(variant: EfficientNetVariant) -> String {
        variant.name()
    }

    fn infer(weights: &WeightStore) -> Result<EfficientNetVariant> {
        EfficientNetVariant::infer(weights)
    }

    fn build(
        variant: EfficientNetVariant,
        weights: WeightStore,
        device: &Device,
    ) -> Result<Box<dyn Teacher>> {
        Ok(Box::new(EfficientNet::load(variant, weights, device)?))
    }
}

impl Teacher for EfficientNet {
    fn name(&self) -> &str {
        &self.name
    }

    fn normalize(&self) -> Normalize {
        Normalize::IMAGENET
    }

    fn input_size(&self) -> usize {
        self.variant.input_size()
    }

    fn forward(&self, input: Tensor<4>, taps: &mut Taps) {
        let mut x = self.stem.forward(input, taps);
        for block in &self.blocks {
            x = block.forward(x, taps);
        }
        let x = self.head.forward(x, taps);
        if let Some(classifier) = &self.classifier {
            classifier.forward(x, taps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// torchvision's numbers for each variant (read off the built modules): stem
    /// width, blocks per stage, output width per stage, head width, Conv2d + Linear
    /// count, BatchNorm eps.
    #[test]
    fn variants_match_torchvision() {
        type Expected = (usize, [usize; 7], [usize; 7], usize, usize, f64);
        let expected: [Expected; 8] = [
            (
                32,
                [1, 2, 2, 3, 3, 4, 1],
                [16, 24, 40, 80, 112, 192, 320],
                1280,
                82,
                1e-5,
            ),
            (
                32,
                [2, 3, 3, 4, 4, 5, 2],
                [16, 24, 40, 80, 112, 192, 320],
                1280,
                116,
                1e-5,
            ),
            (
                32,
                [2, 3, 3, 4, 4, 5, 2],
                [16, 24, 48, 88, 120, 208, 352],
                1408,
                116,
                1e-5,
            ),
            (
                40,
                [2, 3, 3, 5, 5, 6, 2],
                [24, 32, 48, 96, 136, 232, 384],
                1536,
                131,
                1e-5,
            ),
            (
                48,
                [2, 4, 4, 6, 6, 8, 2],
                [24, 32, 56, 112, 160, 272, 448],
                1792,
                161,
                1e-5,
            ),
            (
                48,
                [3, 5, 5, 7, 7, 9, 3],
                [24, 40, 64, 128, 176, 304, 512],
                2048,
                195,
                1e-3,
            ),
            (
                56,
                [3, 6, 6, 8, 8, 11, 3],
                [32, 40, 72, 144, 200, 344, 576],
                2304,
                225,
                1e-3,
            ),
            (
                64,
                [4, 7, 7, 10, 10, 13, 4],
                [32, 48, 80, 160, 224, 384, 640],
                2560,
                274,
                1e-3,
            ),
        ];
        for (variant, (stem, depths, widths, head, taps, eps)) in
            EfficientNetVariant::ALL.into_iter().zip(expected)
        {
            let stages = variant.stages();
            assert_eq!(variant.stem(), stem, "{}", variant.name());
            assert_eq!(stages.iter().map(Vec::len).collect::<Vec<_>>(), depths);
            assert_eq!(stages.iter().map(|s| s[0].output).collect::<Vec<_>>(), widths);
            assert_eq!(variant.head(), head);
            assert_eq!(variant.eps(), eps);
            // Stem, per block (expansion?) + depthwise + fc1 + fc2 + projection, head, classifier.
            let block_taps: usize = stages
                .iter()
                .flatten()
                .map(|b| 4 + usize::from(b.expanded != b.input))
                .sum();
            assert_eq!(1 + block_taps + 2, taps, "{}", variant.name());
        }
    }
}
