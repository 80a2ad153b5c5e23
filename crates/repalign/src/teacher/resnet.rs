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
use super::layers::{Activation, BatchNorm2d, Conv2d, ConvSpec, Linear};
use super::registry::Family;
use crate::error::{Error, Result};
use crate::preprocess::Normalize;
use crate::taps::Taps;
use crate::weights::WeightStore;

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

/// `downsample`: a strided 1x1 conv (`downsample.0`) and BatchNorm (`downsample.1`)
/// that bring the block input to the block output's shape.
#[derive(Debug, Clone)]
struct Downsample {
    conv: Conv2d,
    bn: BatchNorm2d,
}

/// A `BasicBlock` (no `conv3`) or `Bottleneck` (with `conv3`/`bn3`).
#[derive(Debug, Clone)]
struct Block {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    conv2: Conv2d,
    bn2: BatchNorm2d,
    conv3: Option<(Conv2d, BatchNorm2d)>,
    downsample: Option<Downsample>,
    /// Path of the block's one `ReLU(inplace=True)` module, called after every
    /// BatchNorm but the last and after the residual sum.
    relu: String,
}

impl Block {
    /// Loads block `path` taking `in_channels`; `stride` applies in the 3x3 conv
    /// (torchvision's "ResNet v1.5").
    fn load(
        store: &mut WeightStore,
        device: &Device,
        path: &str,
        block: ResNetBlock,
        in_channels: usize,
        planes: usize,
        stride: usize,
    ) -> Result<Self> {
        let out_channels = planes * block.expansion();
        let conv = |store: &mut WeightStore, name: &str, spec: ConvSpec| {
            Conv2d::load(store, device, format!("{path}.{name}"), spec.without_bias())
        };
        let bn = |store: &mut WeightStore, name: &str, channels: usize| {
            BatchNorm2d::load(store, device, format!("{path}.{name}"), channels, EPS)
        };
        let (conv1, bn1, conv2, bn2, conv3) = match block {
            ResNetBlock::Basic => (
                conv(
                    store,
                    "conv1",
                    ConvSpec::new(in_channels, planes, 3, 1).stride(stride),
                )?,
                bn(store, "bn1", planes)?,
                conv(store, "conv2", ConvSpec::new(planes, planes, 3, 1))?,
                bn(store, "bn2", planes)?,
                None,
            ),
            ResNetBlock::Bottleneck => (
                conv(store, "conv1", ConvSpec::new(in_channels, planes, 1, 0))?,
                bn(store, "bn1", planes)?,
                conv(store, "conv2", ConvSpec::new(planes, planes, 3, 1).stride(stride))?,
                bn(store, "bn2", planes)?,
                Some((
                    conv(store, "conv3", ConvSpec::new(planes, out_channels, 1, 0))?,
                    bn(store, "bn3", out_channels)?,
                )),
            ),
        };
        let downsample = if stride != 1 || in_channels != out_channels {
            Some(Downsample {
                conv: conv(
                    store,
                    "downsample.0",
                    ConvSpec::new(in_channels, out_channels, 1, 0).stride(stride),
                )?,
                bn: bn(store, "downsample.1", out_channels)?,
            })
        } else {
            None
        };
        Ok(Block {
            conv1,
            bn1,
            conv2,
            bn2,
            conv3,
            downsample,
            relu: format!("{path}.relu"),
        })
    }

    fn forward(&self, x: Tensor<4>, taps: &mut Taps) -> Tensor<4> {
        let relu = Activation::Relu;
        let out = self.conv1.forward(x.clone(), taps);
        let out = self.bn1.forward_in_place(out, relu, &self.relu, taps);
        let out = self.conv2.forward(out, taps);
        let (last_bn, out) = match &self.conv3 {
            None => (&self.bn2, out),
            Some((conv3, bn3)) => {
                let out = self.bn2.forward_in_place(out, relu, &self.relu, taps);
                (bn3, conv3.forward(out, taps))
            }
        };
        // `out += identity; out = relu(out)` overwrites the last BatchNorm's output, so
        // its tap holds the block output; but the downsample branch is hooked in
        // between. Compute everything first, then record in execution order.
        let out = last_bn.forward_untapped(out);
        let (shortcut, identity) = match &self.downsample {
            Some(downsample) => {
                let shortcut = downsample.conv.forward_untapped(x);
                let identity = downsample.bn.forward_untapped(shortcut.clone());
                (Some((downsample, shortcut)), identity)
            }
            None => (None, x),
        };
        let out = relu.apply(out + identity.clone());
        last_bn.record(&out, taps);
        if let Some((downsample, shortcut)) = shortcut {
            downsample.conv.record(&shortcut, taps);
            downsample.bn.record(&identity, taps);
        }
        taps.record(&self.relu, relu.kind(), &out);
        out
    }
}

/// A torchvision ResNet teacher.
#[derive(Debug, Clone)]
pub(crate) struct ResNet {
    name: String,
    conv1: Conv2d,
    bn1: BatchNorm2d,
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
        let conv1 = Conv2d::load(
            &mut store,
            device,
            "conv1".into(),
            ConvSpec::new(3, 64, 7, 3).stride(2).without_bias(),
        )?;
        let bn1 = BatchNorm2d::load(&mut store, device, "bn1".into(), 64, EPS)?;
        let mut channels = 64;
        let mut layers = Vec::new();
        for (stage, (planes, count)) in PLANES.into_iter().zip(blocks).enumerate() {
            let mut layer = Vec::new();
            for index in 0..count {
                let stride = if stage > 0 && index == 0 { 2 } else { 1 };
                let path = format!("layer{}.{index}", stage + 1);
                layer.push(Block::load(
                    &mut store, device, &path, block, channels, planes, stride,
                )?);
                channels = planes * block.expansion();
            }
            layers.push(layer);
        }
        let classes = store
            .shape("fc.weight")
            .and_then(|s| s.first().copied())
            .unwrap_or(1000);
        let fc = Linear::load(&mut store, device, "fc".into(), channels, classes)?;
        store.finish()?;
        Ok(ResNet {
            name: variant.name(),
            conv1,
            bn1,
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
        let x = self.conv1.forward(input, taps);
        let x = self.bn1.forward_in_place(x, Activation::Relu, "relu", taps);
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
