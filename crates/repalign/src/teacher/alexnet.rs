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
use super::heads::{MlpLayout, PooledMlp};
use super::layers::{Activation, Conv2d, ConvNormAct, ConvSpec};
use super::registry::Family;
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

/// `classifier.{1,4,6}` with in-place ReLUs `classifier.{2,5}` (Dropouts at 0 and 3).
const ALEXNET_HEAD: MlpLayout = MlpLayout {
    linears: [1, 4, 6],
    relus: [2, 5],
};

/// A torchvision AlexNet teacher (or its feature extractor alone).
#[derive(Debug, Clone)]
pub(crate) struct AlexNet {
    /// Each conv of [`FEATURES`] with the in-place ReLU after it.
    features: Vec<ConvNormAct>,
    classifier: Option<PooledMlp>,
}

impl AlexNet {
    /// Builds AlexNet from torchvision keys. `features.*` alone gives the feature
    /// extractor; with `classifier.*` the whole network, whose hidden width and class
    /// count are read off the shapes. Every key must be used.
    ///
    /// # Errors
    /// Any missing, unexpected or mis-shaped key.
    fn load(mut store: WeightStore, device: &Device) -> Result<Self> {
        let mut w = store.scope(device);
        let mut layers = w.at("features");
        let mut features = Vec::new();
        for (index, in_channels, out_channels, kernel, stride, padding, _) in FEATURES {
            let conv = Conv2d::load(
                layers.at(index),
                ConvSpec::new(in_channels, out_channels, kernel, padding).stride(stride),
            )?;
            let relu = (Activation::Relu, layers.path_of(index + 1));
            features.push(ConvNormAct::new(conv, None, Some(relu)));
        }
        let channels = FEATURES[FEATURES.len() - 1].2;
        let classifier = PooledMlp::load(w.at("classifier"), &ALEXNET_HEAD, channels, POOLED)?;
        store.finish()?;
        Ok(AlexNet { features, classifier })
    }
}

/// One network, no variants: its one name checks nothing more than the loader does.
impl Family for AlexNet {
    type Variant = ();
    const NAME: Option<&'static str> = None;

    fn variants() -> Vec<()> {
        vec![()]
    }

    fn name((): ()) -> String {
        "alexnet".to_owned()
    }

    fn infer(_: &WeightStore) -> Result<()> {
        Ok(())
    }

    fn build((): (), weights: WeightStore, device: &Device) -> Result<Box<dyn Teacher>> {
        Ok(Box::new(AlexNet::load(weights, device)?))
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
        for (layer, &(.., pool_after)) in self.features.iter().zip(&FEATURES) {
            x = layer.forward(x, taps);
            if pool_after {
                x = module::max_pool2d(x, MaxPoolOptions::new([3, 3]).with_stride([2, 2]));
            }
        }
        if let Some(classifier) = &self.classifier {
            classifier.forward(x, taps);
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
