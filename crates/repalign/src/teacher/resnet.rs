//! torchvision ResNet 18/34/50/101/152.
//!
//! Stem `conv1`-`bn1`-`relu`-`maxpool(3, 2, 1)`, four stages `layer1..4` of residual
//! blocks, `AdaptiveAvgPool2d(1)` and `fc`. ResNet 18/34 use `BasicBlock` (two 3x3
//! convs), 50/101/152 `Bottleneck` (1x1, 3x3, 1x1 with 4x expansion). The first block
//! of a stage that changes shape has a `downsample` (1x1 conv, BatchNorm), which runs
//! after the main branch: its taps follow the block's last BatchNorm.
//!
//! Every conv is followed by a (not in-place) BatchNorm, so the conv taps hold the raw
//! convolution. Only `Norm` taps see in-place updates: `relu(inplace=True)` after
//! `bn1`/`bn2`, and `out += identity; relu(out)` after the block's last BatchNorm.

use burn::tensor::{Device, Tensor, module, ops::MaxPoolOptions};

use super::Teacher;
use super::layers::{Activation, BatchNorm2d, Conv2d, ConvNormAct, ConvSpec, Linear};
use super::registry::Family;
use crate::error::{Error, Result};
use crate::preprocess::Normalize;
use crate::taps::Taps;
use crate::weights::{Scope, WeightStore};

/// BatchNorm epsilon (PyTorch's default).
const EPS: f64 = 1e-5;

/// Output channels of each stage's 3x3 convolutions (`planes` in torchvision).
const PLANES: [usize; 4] = [64, 128, 256, 512];

/// The residual block type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResNetBlock {
    /// Two 3x3 convolutions (ResNet 18/34).
    Basic,
    /// 1x1 reduce, 3x3, 1x1 expand by 4 (ResNet 50/101/152).
    Bottleneck,
}

impl ResNetBlock {
    /// Output channels of a block relative to its `planes`.
    fn expansion(self) -> usize {
        match self {
            ResNetBlock::Basic => 1,
            ResNetBlock::Bottleneck => 4,
        }
    }
}

/// torchvision's depths: block type and blocks per stage.
const DEPTHS: [(usize, ResNetBlock, [usize; 4]); 5] = [
    (18, ResNetBlock::Basic, [2, 2, 2, 2]),
    (34, ResNetBlock::Basic, [3, 4, 6, 3]),
    (50, ResNetBlock::Bottleneck, [3, 4, 6, 3]),
    (101, ResNetBlock::Bottleneck, [3, 4, 23, 3]),
    (152, ResNetBlock::Bottleneck, [3, 8, 36, 3]),
];

/// Which ResNet: one of [`DEPTHS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResNetVariant {
    depth: usize,
    block: ResNetBlock,
    blocks: [usize; 4],
}

impl ResNetVariant {
    fn all() -> impl Iterator<Item = Self> {
        DEPTHS
            .into_iter()
            .map(|(depth, block, blocks)| ResNetVariant { depth, block, blocks })
    }

    /// Reads the variant off the keys of a torchvision ResNet state dict: `conv3` in
    /// the blocks means Bottleneck, and the block indices give the stage depths.
    fn infer(store: &WeightStore) -> Result<Self> {
        let block = if store.contains("layer1.0.conv3.weight") {
            ResNetBlock::Bottleneck
        } else {
            ResNetBlock::Basic
        };
        let blocks = [1, 2, 3, 4].map(|stage| {
            (0..)
                .take_while(|b| store.contains(&format!("layer{stage}.{b}.conv1.weight")))
                .count()
        });
        Self::all()
            .find(|v| v.block == block && v.blocks == blocks)
            .ok_or_else(|| Error::Architecture {
                origin: store.origin().to_owned(),
                reason: format!(
                    "found {block:?} blocks {blocks:?} per stage, which is no torchvision ResNet (18, 34, 50, 101, 152)"
                ),
            })
    }

    /// The torchvision name, e.g. `resnet50`.
    fn name(self) -> String {
        format!("resnet{}", self.depth)
    }
}

/// The bias-free conv `conv` of `w` and the BatchNorm `bn` after it.
fn conv_bn(w: &mut Scope<'_>, conv: &str, bn: &str, spec: ConvSpec) -> Result<(Conv2d, BatchNorm2d)> {
    Ok((
        Conv2d::load(w.at(conv), spec.without_bias())?,
        BatchNorm2d::load(w.at(bn), spec.out_channels, EPS)?,
    ))
}

/// A conv and BatchNorm followed by the in-place ReLU `relu`.
fn with_relu((conv, bn): (Conv2d, BatchNorm2d), relu: &str) -> ConvNormAct {
    ConvNormAct::new(conv, Some(bn), Some((Activation::Relu, relu.to_owned())))
}

/// A `BasicBlock` (`conv1`/`bn1`, `conv2`/`bn2`) or `Bottleneck` (and `conv3`/`bn3`).
#[derive(Debug, Clone)]
struct Block {
    /// `conv1`, `bn1` and `relu`.
    first: ConvNormAct,
    /// A Bottleneck's `conv2`, `bn2` and `relu`.
    middle: Option<ConvNormAct>,
    /// The last conv and BatchNorm, whose output `out += identity; relu(out)`
    /// overwrites.
    last: (Conv2d, BatchNorm2d),
    /// `downsample`: a strided 1x1 conv (`downsample.0`) and BatchNorm
    /// (`downsample.1`) that bring the block input to the block output's shape.
    downsample: Option<(Conv2d, BatchNorm2d)>,
    /// Path of the block's one `ReLU(inplace=True)` module, called after every
    /// BatchNorm but the last and after the residual sum.
    relu: String,
}

impl Block {
    /// Loads the block `w` taking `in_channels`; `stride` applies in the 3x3 conv
    /// (torchvision's "ResNet v1.5").
    fn load(
        mut w: Scope<'_>,
        block: ResNetBlock,
        in_channels: usize,
        planes: usize,
        stride: usize,
    ) -> Result<Self> {
        let out_channels = planes * block.expansion();
        let relu = w.path_of("relu");
        let (first, middle, last) = match block {
            ResNetBlock::Basic => (
                conv_bn(
                    &mut w,
                    "conv1",
                    "bn1",
                    ConvSpec::new(in_channels, planes, 3, 1).stride(stride),
                )?,
                None,
                conv_bn(&mut w, "conv2", "bn2", ConvSpec::new(planes, planes, 3, 1))?,
            ),
            ResNetBlock::Bottleneck => (
                conv_bn(&mut w, "conv1", "bn1", ConvSpec::new(in_channels, planes, 1, 0))?,
                Some(conv_bn(
                    &mut w,
                    "conv2",
                    "bn2",
                    ConvSpec::new(planes, planes, 3, 1).stride(stride),
                )?),
                conv_bn(&mut w, "conv3", "bn3", ConvSpec::new(planes, out_channels, 1, 0))?,
            ),
        };
        let downsample = if stride != 1 || in_channels != out_channels {
            Some(conv_bn(
                &mut w,
                "downsample.0",
                "downsample.1",
                ConvSpec::new(in_channels, out_channels, 1, 0).stride(stride),
            )?)
        } else {
            None
        };
        Ok(Block {
            first: with_relu(first, &relu),
            middle: middle.map(|layers| with_relu(layers, &relu)),
            last,
            downsample,
            relu,
        })
    }

    fn forward(&self, x: Tensor<4>, taps: &mut Taps) -> Tensor<4> {
        let relu = Activation::Relu;
        let mut out = self.first.forward(x.clone(), taps);
        if let Some(middle) = &self.middle {
            out = middle.forward(out, taps);
        }
        let (last_conv, last_bn) = &self.last;
        let out = last_conv.forward(out, taps);
        // `out += identity; out = relu(out)` overwrites the last BatchNorm's output, so
        // its tap holds the block output; but the downsample branch is hooked in
        // between. Compute everything first, then record in execution order.
        let out = last_bn.forward_untapped(out);
        let (shortcut, identity) = match &self.downsample {
            Some((conv, bn)) => {
                let shortcut = conv.forward_untapped(x);
                let identity = bn.forward_untapped(shortcut.clone());
                (Some((conv, bn, shortcut)), identity)
            }
            None => (None, x),
        };
        let out = relu.apply(out + identity.clone());
        last_bn.record(&out, taps);
        if let Some((conv, bn, shortcut)) = shortcut {
            conv.record(&shortcut, taps);
            bn.record(&identity, taps);
        }
        taps.record(&self.relu, relu.kind(), &out);
        out
    }
}

/// A torchvision ResNet teacher.
#[derive(Debug, Clone)]
pub(crate) struct ResNet {
    name: String,
    /// `conv1`, `bn1` and the in-place `relu` (a max-pool follows).
    stem: ConvNormAct,
    /// `layer1` … `layer4`.
    layers: Vec<Vec<Block>>,
    fc: Linear,
}

impl ResNet {
    /// Builds `variant` from torchvision keys. Every key must be used; the number of
    /// classes is read off `fc.weight`.
    ///
    /// # Errors
    /// Any missing, unexpected or mis-shaped key.
    fn load(variant: ResNetVariant, mut store: WeightStore, device: &Device) -> Result<Self> {
        let ResNetVariant { block, blocks, .. } = variant;
        let mut w = store.scope(device);
        let stem = with_relu(
            conv_bn(&mut w, "conv1", "bn1", ConvSpec::new(3, 64, 7, 3).stride(2))?,
            "relu",
        );
        let mut channels = 64;
        let mut layers = Vec::new();
        for (stage, (planes, count)) in PLANES.into_iter().zip(blocks).enumerate() {
            let mut layer = Vec::new();
            for index in 0..count {
                let stride = if stage > 0 && index == 0 { 2 } else { 1 };
                layer.push(Block::load(
                    w.at(format!("layer{}", stage + 1)).at(index),
                    block,
                    channels,
                    planes,
                    stride,
                )?);
                channels = planes * block.expansion();
            }
            layers.push(layer);
        }
        let classes = w
            .shape("fc.weight")
            .and_then(|s| s.first().copied())
            .unwrap_or(1000);
        let fc = Linear::load(w.at("fc"), channels, classes)?;
        store.finish()?;
        Ok(ResNet {
            name: variant.name(),
            stem,
            layers,
            fc,
        })
    }
}

impl Family for ResNet {
    type Variant = ResNetVariant;
    const NAME: Option<&'static str> = Some("resnet");

    fn variants() -> Vec<ResNetVariant> {
        ResNetVariant::all().collect()
    }

    fn name(variant: ResNetVariant) -> String {
        variant.name()
    }

    fn infer(weights: &WeightStore) -> Result<ResNetVariant> {
        ResNetVariant::infer(weights)
    }

    fn build(variant: ResNetVariant, weights: WeightStore, device: &Device) -> Result<Box<dyn Teacher>> {
        Ok(Box::new(ResNet::load(variant, weights, device)?))
    }
}

impl Teacher for ResNet {
    fn name(&self) -> &str {
        &self.name
    }

    fn normalize(&self) -> Normalize {
        Normalize::IMAGENET
    }

    fn forward(&self, input: Tensor<4>, taps: &mut Taps) {
        let x = self.stem.forward(input, taps);
        let mut x = module::max_pool2d(
            x,
            MaxPoolOptions::new([3, 3])
                .with_stride([2, 2])
                .with_padding([1, 1]),
        );
        for block in self.layers.iter().flatten() {
            x = block.forward(x, taps);
        }
        let x: Tensor<2> = module::adaptive_avg_pool2d(x, [1, 1]).flatten(1, 3);
        self.fc.forward(x, taps);
    }
}
