//! torchvision AlexNet.
//!
//! `features` is a flat `nn.Sequential`: five convs (`features.{0,3,6,8,10}`), each
//! followed by `ReLU(inplace=True)`, with `MaxPool2d(3, 2)` after the first, second
//! and fifth. A weight file with `classifier.*` keys builds the whole network:
//! `AdaptiveAvgPool2d(6)`, then Dropout-Linear-ReLU twice and the last Linear (taps
//! `classifier.{1,4,6}`). Every ReLU is in place, so the conv taps and the first two
//! Linear taps hold rectified values.

use burn::tensor::{Device, Tensor, module, ops::MaxPoolOptions};

use super::Teacher;
use super::layers::{Activation, Conv2d, ConvSpec, Linear};
use crate::error::{Error, Result};
use crate::preprocess::Normalize;
use crate::taps::Taps;
use crate::weights::WeightStore;

/// One conv of `features`: index, in/out channels, kernel, stride, padding, and
/// whether a 3x3 stride-2 max-pool follows its ReLU.
const FEATURES: [(usize, usize, usize, usize, usize, usize, bool); 5] = [
    (0, 3, 64, 11, 4, 2, true),
    (3, 64, 192, 5, 1, 2, true),
    (6, 192, 384, 3, 1, 1, false),
    (8, 384, 256, 3, 1, 1, false),
    (10, 256, 256, 3, 1, 1, true),
];

/// Spatial size of the last feature map that `classifier.1` expects.
const POOLED: usize = 6;

/// The smallest side every max-pool window fits in (see [`feature_side`]).
const MIN_SIDE: usize = 63;

/// The side of the last feature map for an input side, or `None` when a conv or
/// max-pool window does not fit (burn would fail on it).
fn feature_side(side: usize) -> Option<usize> {
    let mut n = side;
    for (_, _, _, kernel, stride, padding, pool) in FEATURES {
        n = (n + 2 * padding).checked_sub(kernel)? / stride + 1;
        if pool {
            n = n.checked_sub(3)? / 2 + 1;
        }
    }
    Some(n)
}

/// A `features` conv and the in-place ReLU after it.
#[derive(Debug, Clone)]
struct FeatureConv {
    conv: Conv2d,
    relu: String,
    pool_after: bool,
}

/// `classifier.{1,4,6}` (the Dropouts and ReLUs in between have no weights).
#[derive(Debug, Clone)]
struct Classifier {
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
}

/// A torchvision AlexNet teacher (or its feature extractor alone).
#[derive(Debug, Clone)]
pub struct AlexNet {
    features: Vec<FeatureConv>,
    classifier: Option<Classifier>,
}

impl AlexNet {
    /// Builds AlexNet from torchvision keys. `features.*` alone gives the feature
    /// extractor; with `classifier.*` the whole network, whose hidden width and class
    /// count are read off the shapes. Every key must be used.
    ///
    /// # Errors
    /// Any missing, unexpected or mis-shaped key.
    pub fn load(mut store: WeightStore, device: &Device) -> Result<Self> {
        let mut features = Vec::new();
        for (index, in_channels, out_channels, kernel, stride, padding, pool_after) in FEATURES {
            let conv = Conv2d::load(
                &mut store,
                device,
                format!("features.{index}"),
                ConvSpec::new(in_channels, out_channels, kernel, padding).stride(stride),
            )?;
            features.push(FeatureConv {
                conv,
                relu: format!("features.{}", index + 1),
                pool_after,
            });
        }
        let classifier = if store.keys().any(|k| k.starts_with("classifier.")) {
            let hidden = store
                .shape("classifier.1.weight")
                .and_then(|s| s.first().copied())
                .unwrap_or(4096);
            let classes = store
                .shape("classifier.6.weight")
                .and_then(|s| s.first().copied())
                .unwrap_or(1000);
            let channels = FEATURES[FEATURES.len() - 1].2;
            Some(Classifier {
                fc1: Linear::load(
                    &mut store,
                    device,
                    "classifier.1".into(),
                    channels * POOLED * POOLED,
                    hidden,
                )?,
                fc2: Linear::load(&mut store, device, "classifier.4".into(), hidden, hidden)?,
                fc3: Linear::load(&mut store, device, "classifier.6".into(), hidden, classes)?,
            })
        } else {
            None
        };
        store.finish()?;
        Ok(AlexNet { features, classifier })
    }
}

impl Teacher for AlexNet {
    fn name(&self) -> &str {
        "alexnet"
    }

    fn normalize(&self) -> Normalize {
        Normalize::IMAGENET
    }

    fn check_input(&self, height: usize, width: usize) -> Result<()> {
        if feature_side(height).is_none() || feature_side(width).is_none() {
            return Err(Error::InputSize {
                teacher: self.name().to_owned(),
                height,
                width,
                reason: format!(
                    "AlexNet needs at least {MIN_SIDE} pixels per side (a stride-4 conv and three 3x3 max-pools)"
                ),
            });
        }
        Ok(())
    }

    fn forward(&self, input: Tensor<4>, taps: &mut Taps) {
        let mut x = input;
        for layer in &self.features {
            x = layer
                .conv
                .forward_in_place(x, Activation::Relu, &layer.relu, taps);
            if layer.pool_after {
                x = module::max_pool2d(x, MaxPoolOptions::new([3, 3]).with_stride([2, 2]));
            }
        }
        if let Some(classifier) = &self.classifier {
            let x: Tensor<2> = module::adaptive_avg_pool2d(x, [POOLED, POOLED]).flatten(1, 3);
            // Dropout (classifier.0, .3) is the identity in eval mode.
            let x = classifier
                .fc1
                .forward_in_place(x, Activation::Relu, "classifier.2", taps);
            let x = classifier
                .fc2
                .forward_in_place(x, Activation::Relu, "classifier.5", taps);
            classifier.fc3.forward(x, taps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_side_is_the_smallest_that_fits() {
        assert_eq!(feature_side(MIN_SIDE), Some(1));
        assert!((0..MIN_SIDE).all(|side| feature_side(side).is_none()));
        assert_eq!(feature_side(224), Some(6));
    }
}
