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
use super::layers::{Activation, BatchNorm2d, Conv2d, ConvSpec};
use super::registry::Family;
use crate::error::Result;
use crate::preprocess::Normalize;
use crate::taps::Taps;
use crate::weights::WeightStore;

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
#[derive(Debug, Clone)]
struct ConvBnRelu6 {
    conv: Conv2d,
    norm: BatchNorm2d,
    relu_path: String,
}

impl ConvBnRelu6 {
    /// Loads `{path}.0` (conv) and `{path}.1` (BatchNorm); the ReLU6 is `{path}.2`.
    fn load(store: &mut WeightStore, device: &Device, path: &str, spec: ConvSpec) -> Result<Self> {
        let out = spec.out_channels;
        Ok(ConvBnRelu6 {
            conv: Conv2d::load(store, device, format!("{path}.0"), spec.without_bias())?,
            norm: BatchNorm2d::load(store, device, format!("{path}.1"), out, EPS)?,
            relu_path: format!("{path}.2"),
        })
    }

    fn forward(&self, x: Tensor<4>, taps: &mut Taps) -> Tensor<4> {
        let x = self.conv.forward(x, taps);
        self.norm
            .forward_in_place(x, Activation::Relu6, &self.relu_path, taps)
    }
}

/// torchvision's `InvertedResidual`.
#[derive(Debug, Clone)]
struct InvertedResidual {
    expand: Option<ConvBnRelu6>,
    depthwise: ConvBnRelu6,
    project: Conv2d,
    project_norm: BatchNorm2d,
    residual: bool,
}

impl InvertedResidual {
    fn load(
        store: &mut WeightStore,
        device: &Device,
        path: &str,
        (input, output, stride, expand_ratio): (usize, usize, usize, usize),
    ) -> Result<Self> {
        let hidden = input * expand_ratio;
        // Sequential indices shift by one when there is an expansion conv.
        let mut index = 0;
        let expand = if expand_ratio != 1 {
            index += 1;
            Some(ConvBnRelu6::load(
                store,
                device,
                &format!("{path}.conv.0"),
                ConvSpec::new(input, hidden, 1, 0),
            )?)
        } else {
            None
        };
        let depthwise = ConvBnRelu6::load(
            store,
            device,
            &format!("{path}.conv.{index}"),
            ConvSpec::new(hidden, hidden, 3, 1).stride(stride).groups(hidden),
        )?;
        let project = Conv2d::load(
            store,
            device,
            format!("{path}.conv.{}", index + 1),
            ConvSpec::new(hidden, output, 1, 0).without_bias(),
        )?;
        let project_norm =
            BatchNorm2d::load(store, device, format!("{path}.conv.{}", index + 2), output, EPS)?;
        Ok(InvertedResidual {
            expand,
            depthwise,
            project,
            project_norm,
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
        let x = self.project_norm.forward(x, taps);
        if self.residual { input + x } else { x }
    }
}

/// A torchvision MobileNetV2 teacher.
#[derive(Debug, Clone)]
pub(crate) struct MobileNetV2 {
    stem: ConvBnRelu6,
    blocks: Vec<InvertedResidual>,
    head: ConvBnRelu6,
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
        let stem = ConvBnRelu6::load(
            &mut store,
            device,
            "features.0",
            ConvSpec::new(3, STEM, 3, 1).stride(2),
        )?;
        let mut blocks = Vec::new();
        let mut channels = STEM;
        for (expand_ratio, output, repeats, stride) in SETTING {
            for i in 0..repeats {
                let stride = if i == 0 { stride } else { 1 };
                let path = format!("features.{}", blocks.len() + 1);
                blocks.push(InvertedResidual::load(
                    &mut store,
                    device,
                    &path,
                    (channels, output, stride, expand_ratio),
                )?);
                channels = output;
            }
        }
        let head = ConvBnRelu6::load(
            &mut store,
            device,
            &format!("features.{}", blocks.len() + 1),
            ConvSpec::new(channels, HEAD, 1, 0),
        )?;
        let classifier = PooledLinear::load(&mut store, device, "classifier.", "classifier.1", HEAD)?;
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
