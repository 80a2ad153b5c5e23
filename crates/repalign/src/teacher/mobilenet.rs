//! torchvision MobileNetV2 (width 1.0, the `IMAGENET1K_V1` layout).
//!
//! `features.0` is a `Conv2dNormActivation` (conv `.0`, BatchNorm `.1`,
//! `ReLU6(inplace=True)` `.2`); `features.1..=17` are `InvertedResidual` blocks whose
//! `conv` Sequential holds an optional 1x1 expansion `Conv2dNormActivation`, the
//! depthwise `Conv2dNormActivation`, the 1x1 projection conv and its BatchNorm (so the
//! first block, expand ratio 1, has `conv.{0.0,0.1,0.2,1,2}` and the others
//! `conv.{0.*,1.*,2,3}`); `features.18` is the 1x1 head `Conv2dNormActivation`. Then
//! global average pooling, dropout (identity in eval) and `classifier.1`.
//!
//! The ReLU6 after each BatchNorm is in place, so a BatchNorm tap holds the rectified
//! values; the conv taps are not affected (the BatchNorm made a new tensor). The
//! residual `x + self.conv(x)` is not in place.

use burn::tensor::{Device, Tensor};

use super::Teacher;
use super::heads::PooledLinear;
use super::layers::{Activation, BatchNorm2d, Conv2d, ConvNormAct, ConvSpec};
use super::registry::Family;
use crate::error::Result;
use crate::preprocess::Normalize;
use crate::taps::Taps;
use crate::weights::{Scope, WeightStore};

/// torchvision's `inverted_residual_setting`: expand ratio t, output channels c,
/// repeats n, first stride s.
const SETTING: [(usize, usize, usize, usize); 7] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
];
const STEM: usize = 32;
const HEAD: usize = 1280;
const EPS: f64 = 1e-5;

/// Conv (no bias), BatchNorm, in-place ReLU6: torchvision's `Conv2dNormActivation`.
fn conv_bn_relu6(w: Scope<'_>, spec: ConvSpec) -> Result<ConvNormAct> {
    ConvNormAct::load_torchvision(w, spec, EPS, Some(Activation::Relu6))
}

/// torchvision's `InvertedResidual`.
#[derive(Debug, Clone)]
struct InvertedResidual {
    expand: Option<ConvNormAct>,
    depthwise: ConvNormAct,
    /// The projection conv and its BatchNorm, no activation.
    project: ConvNormAct,
    residual: bool,
}

impl InvertedResidual {
    fn load(
        mut w: Scope<'_>,
        (input, output, stride, expand_ratio): (usize, usize, usize, usize),
    ) -> Result<Self> {
        let mut conv = w.at("conv");
        let hidden = input * expand_ratio;
        let expand = if expand_ratio != 1 {
            Some(conv_bn_relu6(conv.at(0), ConvSpec::new(input, hidden, 1, 0))?)
        } else {
            None
        };
        // Sequential indices shift by one when there is an expansion conv.
        let index = usize::from(expand.is_some());
        let depthwise = conv_bn_relu6(
            conv.at(index),
            ConvSpec::new(hidden, hidden, 3, 1).stride(stride).groups(hidden),
        )?;
        let project = ConvNormAct::new(
            Conv2d::load(
                conv.at(index + 1),
                ConvSpec::new(hidden, output, 1, 0).without_bias(),
            )?,
            Some(BatchNorm2d::load(conv.at(index + 2), output, EPS)?),
            None,
        );
        Ok(InvertedResidual {
            expand,
            depthwise,
            project,
            residual: stride == 1 && input == output,
        })
    }

    fn forward(&self, input: Tensor<4>, taps: &mut Taps) -> Tensor<4> {
        let mut x = input.clone();
        if let Some(expand) = &self.expand {
            x = expand.forward(x, taps);
        }
        let x = self.depthwise.forward(x, taps);
        let x = self.project.forward(x, taps);
        if self.residual { input + x } else { x }
    }
}

/// A torchvision MobileNetV2 teacher.
#[derive(Debug, Clone)]
pub(crate) struct MobileNetV2 {
    stem: ConvNormAct,
    blocks: Vec<InvertedResidual>,
    head: ConvNormAct,
    classifier: Option<PooledLinear>,
}

impl MobileNetV2 {
    /// Builds MobileNetV2 from torchvision keys. Without `classifier.*` keys, the
    /// feature extractor (`features.*`) alone; the classifier's class count is read
    /// off its weight. Every key must be used.
    ///
    /// # Errors
    /// Any missing, unexpected or mis-shaped key.
    fn load(mut store: WeightStore, device: &Device) -> Result<Self> {
        let mut w = store.scope(device);
        let mut features = w.at("features");
        let stem = conv_bn_relu6(features.at(0), ConvSpec::new(3, STEM, 3, 1).stride(2))?;
        let mut blocks = Vec::new();
        let mut channels = STEM;
        for (expand_ratio, output, repeats, stride) in SETTING {
            for i in 0..repeats {
                let stride = if i == 0 { stride } else { 1 };
                blocks.push(InvertedResidual::load(
                    features.at(blocks.len() + 1),
                    (channels, output, stride, expand_ratio),
                )?);
                channels = output;
            }
        }
        let head = conv_bn_relu6(features.at(blocks.len() + 1), ConvSpec::new(channels, HEAD, 1, 0))?;
        let classifier = PooledLinear::load(&mut w, "classifier", "classifier.1", HEAD)?;
        store.finish()?;
        Ok(MobileNetV2 {
            stem,
            blocks,
            head,
            classifier,
        })
    }
}

/// One network, no variants: its one name checks nothing more than the loader does.
impl Family for MobileNetV2 {
    type Variant = ();
    const NAME: Option<&'static str> = None;

    fn variants() -> Vec<()> {
        vec![()]
    }

    fn name((): ()) -> String {
        "mobilenet_v2".to_owned()
    }

    fn infer(_: &WeightStore) -> Result<()> {
        Ok(())
    }

    fn build((): (), weights: WeightStore, device: &Device) -> Result<Box<dyn Teacher>> {
        Ok(Box::new(MobileNetV2::load(weights, device)?))
    }
}

impl Teacher for MobileNetV2 {
    fn name(&self) -> &str {
        "mobilenet_v2"
    }

    fn normalize(&self) -> Normalize {
        Normalize::IMAGENET
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
