//! torchvision ConvNeXt tiny/small/base/large, and any configuration of the same layout
//! (stage widths and depths read off the weights).
//!
//! `features.0` is the stem, a 4x4 stride-4 conv (`features.0.0`) and a LayerNorm2d
//! (`.1`). Four stages of `CNBlock`s follow (`features.1`, `.3`, `.5`, `.7`), with a
//! LayerNorm2d and a 2x2 stride-2 conv between them (`features.2`, `.4`, `.6`). A block:
//! a depthwise 7x7 conv (`block.0`), a permute to channels-last, LayerNorm (`block.2`),
//! Linear to 4x the width (`block.3`), GELU, Linear back (`block.5`), a permute back,
//! times `layer_scale`, plus the block's input (stochastic depth is the identity in eval
//! mode). The head, `classifier`, when the file has it: global average pooling,
//! LayerNorm2d (`.0`), flatten, Linear (`.2`).
//!
//! The block's Linears run on channels-last tensors, so their hooks record
//! `(B, H, W, C)`: those taps keep that shape and are grouped as it is, like every tap.
//! No layer runs in place: every tap holds its layer's own output.

use burn::tensor::{Device, FloatDType, Tensor, module};

use super::Teacher;
use super::layers::{Activation, Conv2d, ConvSpec, Linear};
use super::registry::Family;
use crate::error::{Error, Result};
use crate::preprocess::{CenterCrop, Interpolation, Normalize, Preprocess, Resize, Step};
use crate::taps::Taps;
use crate::weights::{Scope, WeightStore};

/// LayerNorm epsilon of every ConvNeXt norm (torchvision's `eps=1e-6`).
const EPS: f64 = 1e-6;

/// The published configurations: name, stage widths, blocks per stage, and the
/// shorter side its ImageNet weights resize to before the 224 crop.
const PUBLISHED: [(&str, [usize; 4], [usize; 4], usize); 4] = [
    ("convnext_tiny", [96, 192, 384, 768], [3, 3, 9, 3], 236),
    ("convnext_small", [96, 192, 384, 768], [3, 3, 27, 3], 230),
    ("convnext_base", [128, 256, 512, 1024], [3, 3, 27, 3], 232),
    ("convnext_large", [192, 384, 768, 1536], [3, 3, 27, 3], 232),
];

/// The crop every preset takes, and the resize of a configuration not published.
const CROP: usize = 224;
const RESIZE: usize = 232;

/// `features` indices of the four stages (the downsamplings sit between them).
const STAGES: [usize; 4] = [1, 3, 5, 7];

/// Which ConvNeXt: its stage widths and depths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConvNextVariant {
    widths: [usize; 4],
    depths: [usize; 4],
}

impl ConvNextVariant {
    fn published() -> impl Iterator<Item = (&'static str, ConvNextVariant, usize)> {
        PUBLISHED
            .into_iter()
            .map(|(name, widths, depths, resize)| (name, ConvNextVariant { widths, depths }, resize))
    }

    /// Reads the widths off each stage's first depthwise conv and the depths off the
    /// block indices.
    fn infer(store: &WeightStore) -> Result<Self> {
        let unreadable = |reason: String| Error::Architecture {
            origin: store.origin().to_owned(),
            reason,
        };
        if !store.contains("features.0.0.weight") || !store.contains("features.1.0.layer_scale") {
            return Err(unreadable(
                "no `features.0.0.weight` and `features.1.0.layer_scale`: not a torchvision ConvNeXt".into(),
            ));
        }
        let mut widths = [0; 4];
        let mut depths = [0; 4];
        for (stage, &index) in STAGES.iter().enumerate() {
            depths[stage] = (0..)
                .take_while(|b| store.contains(&format!("features.{index}.{b}.layer_scale")))
                .count();
            widths[stage] = store
                .shape(&format!("features.{index}.0.block.0.weight"))
                .and_then(|shape| shape.first().copied())
                .filter(|&width| width > 0 && depths[stage] > 0)
                .ok_or_else(|| unreadable(format!("stage `features.{index}` has no blocks")))?;
        }
        Ok(ConvNextVariant { widths, depths })
    }

    fn name(self) -> String {
        Self::published()
            .find(|&(_, variant, _)| variant == self)
            .map_or_else(|| "convnext".to_owned(), |(name, _, _)| name.to_owned())
    }

    /// The shorter side the preset resizes to before its 224 crop.
    fn resize(self) -> usize {
        Self::published()
            .find(|&(_, variant, _)| variant == self)
            .map_or(RESIZE, |(_, _, resize)| resize)
    }
}

/// `nn.LayerNorm` over the last dimension, in f32 whatever the teacher's precision
/// (autocast's rule for layer_norm). Not a tapped kind.
#[derive(Debug, Clone)]
struct LayerNorm {
    weight: Tensor<1>,
    bias: Tensor<1>,
}

impl LayerNorm {
    fn load(mut w: Scope<'_>, dim: usize) -> Result<Self> {
        Ok(LayerNorm {
            weight: w.take("weight", [dim])?,
            bias: w.take("bias", [dim])?,
        })
    }

    /// Normalises a channels-last `(B, H, W, C)` tensor over `C`.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let dtype = x.dtype();
        module::layer_norm(
            x.cast(FloatDType::F32),
            self.weight.clone(),
            Some(self.bias.clone()),
            EPS,
        )
        .cast(dtype)
    }

    /// torchvision's `LayerNorm2d`: the same over the channels of `(B, C, H, W)`.
    fn forward_2d(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward(x.permute([0, 2, 3, 1])).permute([0, 3, 1, 2])
    }
}

/// A `CNBlock`.
#[derive(Debug, Clone)]
struct Block {
    depthwise: Conv2d,
    norm: LayerNorm,
    expand: Linear,
    project: Linear,
    /// `layer_scale`, `(C, 1, 1)` as stored, kept as `(1, C, 1, 1)`.
    layer_scale: Tensor<4>,
}

impl Block {
    fn load(mut w: Scope<'_>, dim: usize) -> Result<Self> {
        let layer_scale = w.take("layer_scale", [dim, 1, 1])?.reshape([1, dim, 1, 1]);
        let mut block = w.at("block");
        Ok(Block {
            depthwise: Conv2d::load(block.at(0), ConvSpec::new(dim, dim, 7, 3).groups(dim))?,
            norm: LayerNorm::load(block.at(2), dim)?,
            expand: Linear::load(block.at(3), dim, 4 * dim)?,
            project: Linear::load(block.at(5), 4 * dim, dim)?,
            layer_scale,
        })
    }

    fn forward(&self, input: Tensor<4>, taps: &mut Taps) -> Tensor<4> {
        let x = self.depthwise.forward(input.clone(), taps).permute([0, 2, 3, 1]);
        let x = self.expand.forward(self.norm.forward(x), taps);
        let x = self
            .project
            .forward(Activation::Gelu.apply(x), taps)
            .permute([0, 3, 1, 2]);
        x * super::layers::like(&self.layer_scale, &input) + input
    }
}

/// What follows a stage: `features.{2,4,6}`, a LayerNorm2d and a 2x2 stride-2 conv.
#[derive(Debug, Clone)]
struct Downsample {
    norm: LayerNorm,
    conv: Conv2d,
}

/// A torchvision ConvNeXt teacher.
#[derive(Debug, Clone)]
pub(crate) struct ConvNext {
    name: String,
    resize: usize,
    /// `features.0.0` and its LayerNorm2d `features.0.1`.
    stem: (Conv2d, LayerNorm),
    /// Each stage's blocks and the downsampling after it (none after the last).
    stages: Vec<(Vec<Block>, Option<Downsample>)>,
    /// `classifier.0` (LayerNorm2d) and `classifier.2`, when the file has them.
    classifier: Option<(LayerNorm, Linear)>,
}

impl ConvNext {
    /// Builds `variant` from torchvision keys, every key used once.
    fn load(variant: ConvNextVariant, mut store: WeightStore, device: &Device) -> Result<Self> {
        let ConvNextVariant { widths, depths } = variant;
        let mut w = store.scope(device);
        let mut features = w.at("features");
        let stem = (
            Conv2d::load(features.at("0.0"), ConvSpec::new(3, widths[0], 4, 0).stride(4))?,
            LayerNorm::load(features.at("0.1"), widths[0])?,
        );
        let mut stages = Vec::with_capacity(STAGES.len());
        for (stage, &index) in STAGES.iter().enumerate() {
            let blocks = (0..depths[stage])
                .map(|b| Block::load(features.at(index).at(b), widths[stage]))
                .collect::<Result<Vec<_>>>()?;
            let downsample = match widths.get(stage + 1) {
                Some(&next) => {
                    let mut down = features.at(index + 1);
                    Some(Downsample {
                        norm: LayerNorm::load(down.at(0), widths[stage])?,
                        conv: Conv2d::load(down.at(1), ConvSpec::new(widths[stage], next, 2, 0).stride(2))?,
                    })
                }
                None => None,
            };
            stages.push((blocks, downsample));
        }
        let last = widths[3];
        let classifier = if w.at("classifier").has_keys() {
            let classes = w
                .shape("classifier.2.weight")
                .and_then(|shape| shape.first().copied())
                .unwrap_or(1000);
            Some((
                LayerNorm::load(w.at("classifier.0"), last)?,
                Linear::load(w.at("classifier.2"), last, classes)?,
            ))
        } else {
            None
        };
        store.finish()?;
        Ok(ConvNext {
            name: variant.name(),
            resize: variant.resize(),
            stem,
            stages,
            classifier,
        })
    }
}

impl Family for ConvNext {
    type Variant = ConvNextVariant;
    const NAME: Option<&'static str> = Some("convnext");

    fn variants() -> Vec<ConvNextVariant> {
        ConvNextVariant::published()
            .map(|(_, variant, _)| variant)
            .collect()
    }

    fn name(variant: ConvNextVariant) -> String {
        variant.name()
    }

    fn infer(weights: &WeightStore) -> Result<ConvNextVariant> {
        ConvNextVariant::infer(weights)
    }

    fn build(variant: ConvNextVariant, weights: WeightStore, device: &Device) -> Result<Box<dyn Teacher>> {
        Ok(Box::new(ConvNext::load(variant, weights, device)?))
    }
}

impl Teacher for ConvNext {
    fn name(&self) -> &str {
        &self.name
    }

    fn normalize(&self) -> Normalize {
        Normalize::IMAGENET
    }

    fn input_size(&self) -> usize {
        CROP
    }

    /// torchvision's `ImageClassification` for these weights: the shorter side resized
    /// (bilinear, antialiased) to 230–236 by variant, a 224 centre crop, ImageNet's
    /// normalisation.
    fn preprocess(&self) -> Preprocess {
        Preprocess::identity()
            .then(Step::Resize(Resize::shorter_side(
                self.resize,
                Interpolation::Bilinear,
            )))
            .then(Step::CenterCrop(CenterCrop::square(CROP)))
            .then(Step::Normalize(self.normalize()))
    }

    fn check_input(&self, height: usize, width: usize) -> Result<()> {
        // The stride-4 stem and three stride-2 downsamplings, none padded.
        if height < 32 || width < 32 {
            return Err(Error::InputSize {
                teacher: self.name.clone(),
                height,
                width,
                reason: "ConvNeXt needs at least 32 pixels per side (a 4x4 stem and three 2x2 downsamplings)"
                    .into(),
            });
        }
        Ok(())
    }

    fn forward(&self, input: Tensor<4>, taps: &mut Taps) {
        let (conv, norm) = &self.stem;
        let mut x = norm.forward_2d(conv.forward(input, taps));
        for (blocks, downsample) in &self.stages {
            for block in blocks {
                x = block.forward(x, taps);
            }
            if let Some(Downsample { norm, conv }) = downsample {
                x = conv.forward(norm.forward_2d(x), taps);
            }
        }
        if let Some((norm, linear)) = &self.classifier {
            let pooled = norm.forward_2d(module::adaptive_avg_pool2d(x, [1, 1]));
            linear.forward(pooled.flatten::<2>(1, 3), taps);
        }
    }
}
