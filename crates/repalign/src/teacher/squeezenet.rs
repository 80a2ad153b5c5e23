//! torchvision SqueezeNet 1.0 and 1.1.
//!
//! `features` is a flat `nn.Sequential`: a stem conv (`features.0`) and
//! `ReLU(inplace=True)`, then eight `Fire` modules with `MaxPool2d(3, 2,
//! ceil_mode=True)` between groups of them. A Fire runs `squeeze` (1x1), then
//! `expand1x1` and `expand3x3` on the squeezed map, in that order, and concatenates
//! the two along channels; each of its convs is followed by its own in-place ReLU
//! (`squeeze_activation`, …), so every conv tap holds rectified values. The
//! classifier is Dropout, `final_conv` (`classifier.1`, 1x1 to the classes), in-place
//! ReLU and `AdaptiveAvgPool2d(1)`. A file with only `features.*` keys builds the
//! feature extractor alone.

use std::fmt;

use burn::tensor::{Device, Tensor, module, ops::MaxPoolOptions};

use super::Teacher;
use super::layers::{Activation, Conv2d, ConvNormAct, ConvSpec};
use super::registry::Family;
use crate::error::{Error, Result};
use crate::preprocess::Normalize;
use crate::taps::Taps;
use crate::weights::{Scope, WeightStore};

/// Squeeze width of the eight Fire modules (both versions); each expand branch has
/// four times as many channels, so a Fire outputs eight times its squeeze width.
const SQUEEZE: [usize; 8] = [16, 16, 32, 32, 48, 48, 64, 64];

/// Which SqueezeNet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SqueezeNetVersion {
    /// `squeezenet1_0`: 7x7 stem with 96 channels, pools after Fire 3 and 7.
    V1_0,
    /// `squeezenet1_1`: 3x3 stem with 64 channels, pools after Fire 2 and 4.
    V1_1,
}

impl SqueezeNetVersion {
    /// Reads the version off the keys: `features.5` is a Fire in 1.0 and a max-pool
    /// in 1.1, `features.6` the other way round.
    fn infer(store: &WeightStore) -> Result<Self> {
        match (
            store.contains("features.5.squeeze.weight"),
            store.contains("features.6.squeeze.weight"),
        ) {
            (true, false) => Ok(SqueezeNetVersion::V1_0),
            (false, true) => Ok(SqueezeNetVersion::V1_1),
            _ => Err(Error::Architecture {
                origin: store.origin().to_owned(),
                reason: "no torchvision SqueezeNet 1.0 or 1.1 Fire layout in `features.*`".into(),
            }),
        }
    }

    /// The torchvision name.
    fn name(self) -> &'static str {
        match self {
            SqueezeNetVersion::V1_0 => "squeezenet1_0",
            SqueezeNetVersion::V1_1 => "squeezenet1_1",
        }
    }

    /// Stem conv: output channels and kernel side (stride 2, no padding).
    fn stem(self) -> (usize, usize) {
        match self {
            SqueezeNetVersion::V1_0 => (96, 7),
            SqueezeNetVersion::V1_1 => (64, 3),
        }
    }

    /// Fire modules in each run between max-pools (a pool also follows the stem).
    fn fire_runs(self) -> [usize; 3] {
        match self {
            SqueezeNetVersion::V1_0 => [3, 4, 1],
            SqueezeNetVersion::V1_1 => [2, 2, 4],
        }
    }

    /// The side of the last feature map for an input side, or `None` when a conv or
    /// max-pool window does not fit. Stricter than PyTorch, whose ceil-mode pool
    /// accepts a map smaller than its window, but every real input is far larger.
    fn feature_side(self, side: usize) -> Option<usize> {
        let (_, kernel) = self.stem();
        let mut n = side.checked_sub(kernel)? / 2 + 1;
        // Three 3x3 stride-2 ceil-mode pools (after the stem, between the Fire runs);
        // with no padding, the last window always starts inside the map, so PyTorch
        // keeps it.
        for _ in 0..3 {
            n = (n.checked_sub(3)?).div_ceil(2) + 1;
        }
        Some(n)
    }

    /// The smallest side [`feature_side`](Self::feature_side) accepts.
    fn min_side(self) -> usize {
        (1..).find(|&side| self.feature_side(side).is_some()).unwrap_or(0)
    }
}

/// The conv `name` of `w` with the in-place ReLU `activation` after it.
fn conv_relu(
    w: &mut Scope<'_>,
    name: impl fmt::Display,
    activation: impl fmt::Display,
    spec: ConvSpec,
) -> Result<ConvNormAct> {
    let conv = Conv2d::load(w.at(name), spec)?;
    Ok(ConvNormAct::new(
        conv,
        None,
        Some((Activation::Relu, w.path_of(activation))),
    ))
}

/// A `Fire` module at `features.N`: each conv with its in-place ReLU
/// (`squeeze_activation`, …).
#[derive(Debug, Clone)]
struct Fire {
    squeeze: ConvNormAct,
    expand1x1: ConvNormAct,
    expand3x3: ConvNormAct,
}

impl Fire {
    fn load(mut w: Scope<'_>, in_channels: usize, squeeze: usize) -> Result<Self> {
        let expand = 4 * squeeze;
        Ok(Fire {
            squeeze: conv_relu(
                &mut w,
                "squeeze",
                "squeeze_activation",
                ConvSpec::new(in_channels, squeeze, 1, 0),
            )?,
            expand1x1: conv_relu(
                &mut w,
                "expand1x1",
                "expand1x1_activation",
                ConvSpec::new(squeeze, expand, 1, 0),
            )?,
            expand3x3: conv_relu(
                &mut w,
                "expand3x3",
                "expand3x3_activation",
                ConvSpec::new(squeeze, expand, 3, 1),
            )?,
        })
    }

    fn forward(&self, x: Tensor<4>, taps: &mut Taps) -> Tensor<4> {
        let x = self.squeeze.forward(x, taps);
        let left = self.expand1x1.forward(x.clone(), taps);
        let right = self.expand3x3.forward(x, taps);
        Tensor::cat(vec![left, right], 1)
    }
}

#[derive(Debug, Clone)]
enum FeatureLayer {
    Fire(Box<Fire>),
    MaxPool,
}

/// A torchvision SqueezeNet teacher (or its feature extractor alone).
#[derive(Debug, Clone)]
pub(crate) struct SqueezeNet {
    version: SqueezeNetVersion,
    /// `features.0` and the in-place ReLU `features.1` (a max-pool follows).
    stem: ConvNormAct,
    /// `features.3` onwards.
    features: Vec<FeatureLayer>,
    /// `classifier.1` (`final_conv`) and the in-place ReLU `classifier.2`.
    final_conv: Option<ConvNormAct>,
}

impl SqueezeNet {
    /// Builds `version` from torchvision keys; the class count is read off
    /// `classifier.1.weight`. Every key must be used.
    ///
    /// # Errors
    /// Any missing, unexpected or mis-shaped key.
    fn load(version: SqueezeNetVersion, mut store: WeightStore, device: &Device) -> Result<Self> {
        let (stem_channels, stem_kernel) = version.stem();
        let mut w = store.scope(device);
        let mut layers = w.at("features");
        let stem = conv_relu(
            &mut layers,
            0,
            1,
            ConvSpec::new(3, stem_channels, stem_kernel, 0).stride(2),
        )?;
        let mut features = Vec::new();
        let mut channels = stem_channels;
        let mut squeeze = SQUEEZE.into_iter();
        // features.1 is the stem's ReLU, features.2 its max-pool.
        let mut index = 3;
        for (run, fires) in version.fire_runs().into_iter().enumerate() {
            if run > 0 {
                features.push(FeatureLayer::MaxPool);
                index += 1;
            }
            for width in squeeze.by_ref().take(fires) {
                features.push(FeatureLayer::Fire(Box::new(Fire::load(
                    layers.at(index),
                    channels,
                    width,
                )?)));
                channels = 8 * width;
                index += 1;
            }
        }
        let mut classifier = w.at("classifier");
        let final_conv = if classifier.has_keys() {
            let classes = classifier
                .shape("1.weight")
                .and_then(|s| s.first().copied())
                .unwrap_or(1000);
            Some(conv_relu(
                &mut classifier,
                1,
                2,
                ConvSpec::new(channels, classes, 1, 0),
            )?)
        } else {
            None
        };
        store.finish()?;
        Ok(SqueezeNet {
            version,
            stem,
            features,
            final_conv,
        })
    }
}

/// torchvision's `MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)`.
fn max_pool(x: Tensor<4>) -> Tensor<4> {
    module::max_pool2d(
        x,
        MaxPoolOptions::new([3, 3])
            .with_stride([2, 2])
            .with_ceil_mode(true),
    )
}

impl Family for SqueezeNet {
    type Variant = SqueezeNetVersion;
    const NAME: Option<&'static str> = Some("squeezenet");

    fn variants() -> Vec<SqueezeNetVersion> {
        vec![SqueezeNetVersion::V1_0, SqueezeNetVersion::V1_1]
    }

    fn name(version: SqueezeNetVersion) -> String {
        version.name().to_owned()
    }

    fn infer(weights: &WeightStore) -> Result<SqueezeNetVersion> {
        SqueezeNetVersion::infer(weights)
    }

    fn build(version: SqueezeNetVersion, weights: WeightStore, device: &Device) -> Result<Box<dyn Teacher>> {
        Ok(Box::new(SqueezeNet::load(version, weights, device)?))
    }
}

impl Teacher for SqueezeNet {
    fn name(&self) -> &str {
        self.version.name()
    }

    fn normalize(&self) -> Normalize {
        Normalize::IMAGENET
    }

    fn check_input(&self, height: usize, width: usize) -> Result<()> {
        let version = self.version;
        if version.feature_side(height).is_none() || version.feature_side(width).is_none() {
            return Err(Error::InputSize {
                teacher: self.name().to_owned(),
                height,
                width,
                reason: format!(
                    "{} needs at least {} pixels per side (a stride-2 stem and three 3x3 max-pools)",
                    version.name(),
                    version.min_side()
                ),
            });
        }
        Ok(())
    }

    fn forward(&self, input: Tensor<4>, taps: &mut Taps) {
        let mut x = max_pool(self.stem.forward(input, taps));
        for layer in &self.features {
            x = match layer {
                FeatureLayer::Fire(fire) => fire.forward(x, taps),
                FeatureLayer::MaxPool => max_pool(x),
            };
        }
        // Dropout (classifier.0) is the identity in eval mode; the average pool after
        // the ReLU records nothing.
        if let Some(final_conv) = &self.final_conv {
            final_conv.forward(x, taps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_sides() {
        assert_eq!(SqueezeNetVersion::V1_0.min_side(), 29);
        assert_eq!(SqueezeNetVersion::V1_1.min_side(), 25);
        // torchvision's 224 preset: 13x13 feature maps in both versions.
        assert_eq!(SqueezeNetVersion::V1_0.feature_side(224), Some(13));
        assert_eq!(SqueezeNetVersion::V1_1.feature_side(224), Some(13));
    }
}
