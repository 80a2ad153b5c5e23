//! torchvision VGG 11/13/16/19, with and without BatchNorm.
//!
//! `features` is a flat `nn.Sequential` whose indices are the module paths: conv,
//! [BatchNorm], ReLU(inplace=True), and MaxPool2d(2, 2) after each stage. A weight file
//! with `classifier.*` keys builds the whole network: `AdaptiveAvgPool2d(7)`, then
//! Linear-ReLU-Dropout twice and the last Linear (taps `classifier.{0,3,6}`).

use burn::tensor::{Device, Tensor, module, ops::MaxPoolOptions};

use super::Teacher;
use super::heads::{MlpLayout, PooledMlp};
use super::layers::{Activation, BatchNorm2d, Conv2d, ConvNormAct, ConvSpec};
use super::registry::Family;
use crate::error::{Error, Result};
use crate::preprocess::Normalize;
use crate::taps::Taps;
use crate::weights::WeightStore;

/// Stage widths shared by every VGG.
const WIDTHS: [usize; 5] = [64, 128, 256, 512, 512];

/// Convolutions per stage (torchvision's `cfgs` A, B, D, E).
fn convs_per_stage(depth: usize) -> Option<[usize; 5]> {
    match depth {
        11 => Some([1, 1, 2, 2, 2]),
        13 => Some([2, 2, 2, 2, 2]),
        16 => Some([2, 2, 3, 3, 3]),
        19 => Some([2, 2, 4, 4, 4]),
        _ => None,
    }
}

/// Which VGG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VggVariant {
    /// 11, 13, 16 or 19 weight layers.
    depth: usize,
    /// BatchNorm after every conv (`vggNN_bn`).
    batch_norm: bool,
}

impl VggVariant {
    /// Every torchvision VGG: each depth plain, then with BatchNorm.
    fn all() -> Vec<Self> {
        [11, 13, 16, 19]
            .into_iter()
            .flat_map(|depth| [false, true].map(|batch_norm| VggVariant { depth, batch_norm }))
            .collect()
    }

    /// Reads the variant off the keys of a torchvision VGG state dict.
    fn infer(store: &WeightStore) -> Result<Self> {
        let convs = (0..64)
            .filter(|i| {
                store
                    .shape(&format!("features.{i}.weight"))
                    .is_some_and(|s| s.len() == 4)
            })
            .count();
        let batch_norm = store.contains("features.1.running_mean");
        let depth = convs + 3;
        match convs_per_stage(depth) {
            Some(_) => Ok(VggVariant { depth, batch_norm }),
            None => Err(Error::Architecture {
                origin: store.origin().to_owned(),
                reason: format!(
                    "found {convs} `features.N` convolutions, which is no torchvision VGG (8, 10, 13 or 16)"
                ),
            }),
        }
    }

    /// Output channels per conv in order; `None` marks a 2x2 max-pool. Empty for a
    /// depth that is no VGG.
    fn stages(self) -> impl Iterator<Item = Option<usize>> {
        let convs = convs_per_stage(self.depth).unwrap_or([0; 5]);
        WIDTHS
            .into_iter()
            .zip(convs)
            .filter(|&(_, n)| n > 0)
            .flat_map(|(width, n)| std::iter::repeat_n(Some(width), n).chain([None]))
    }

    /// The torchvision name, e.g. `vgg16_bn`.
    fn name(self) -> String {
        format!("vgg{}{}", self.depth, if self.batch_norm { "_bn" } else { "" })
    }
}

#[derive(Debug, Clone)]
enum FeatureLayer {
    /// Conv, optional BatchNorm, in-place ReLU.
    Conv(Box<ConvNormAct>),
    MaxPool,
}

/// `classifier.{0,3,6}` with in-place ReLUs `classifier.{1,4}` (Dropouts at 2 and 5).
const VGG_HEAD: MlpLayout = MlpLayout {
    linears: [0, 3, 6],
    relus: [1, 4],
};

/// A torchvision VGG teacher.
#[derive(Debug, Clone)]
pub(crate) struct Vgg {
    name: String,
    features: Vec<FeatureLayer>,
    classifier: Option<PooledMlp>,
    normalize: Normalize,
}

/// Spatial size of the last feature map that `classifier.0` expects.
const POOLED: usize = 7;

impl Vgg {
    /// Builds `variant` from torchvision keys. `features.*` alone gives the feature
    /// extractor; with `classifier.*` the whole network. Every key must be used.
    ///
    /// # Errors
    /// Any missing, unexpected or mis-shaped key.
    fn load(variant: VggVariant, mut store: WeightStore, device: &Device) -> Result<Self> {
        let mut w = store.scope(device);
        let mut layers = w.at("features");
        let mut features = Vec::new();
        let mut index = 0;
        let mut channels = 3;
        for stage in variant.stages() {
            match stage {
                None => {
                    features.push(FeatureLayer::MaxPool);
                    index += 1;
                }
                Some(out) => {
                    let conv = Conv2d::load(layers.at(index), ConvSpec::new(channels, out, 3, 1))?;
                    let norm = if variant.batch_norm {
                        index += 1;
                        Some(BatchNorm2d::load(layers.at(index), out, 1e-5)?)
                    } else {
                        None
                    };
                    let relu = (Activation::Relu, layers.path_of(index + 1));
                    features.push(FeatureLayer::Conv(Box::new(ConvNormAct::new(
                        conv,
                        norm,
                        Some(relu),
                    ))));
                    index += 2;
                    channels = out;
                }
            }
        }
        let classifier = PooledMlp::load(w.at("classifier"), &VGG_HEAD, channels, POOLED)?;
        store.finish()?;
        Ok(Vgg {
            name: variant.name(),
            features,
            classifier,
            normalize: Normalize::IMAGENET,
        })
    }

    /// The same network with the original (Caffe) weights' preset: BGR, 0–255, minus
    /// the BGR pixel mean, named `{name}_caffe`.
    fn with_caffe_preset(mut self) -> Self {
        self.name.push_str("_caffe");
        self.normalize = Normalize::CAFFE;
        self
    }
}

impl Family for Vgg {
    type Variant = VggVariant;
    const NAME: Option<&'static str> = Some("vgg");

    fn variants() -> Vec<VggVariant> {
        VggVariant::all()
    }

    fn name(variant: VggVariant) -> String {
        variant.name()
    }

    fn infer(weights: &WeightStore) -> Result<VggVariant> {
        VggVariant::infer(weights)
    }

    fn build(variant: VggVariant, weights: WeightStore, device: &Device) -> Result<Box<dyn Teacher>> {
        Ok(Box::new(Vgg::load(variant, weights, device)?))
    }
}

/// VGG with the original (Caffe) weights' preset: `vgg16_caffe`, `vgg19_caffe`.
/// Caffe's VGGs have no BatchNorm.
pub(crate) struct VggCaffe;

impl Family for VggCaffe {
    type Variant = VggVariant;
    const NAME: Option<&'static str> = None;

    fn variants() -> Vec<VggVariant> {
        VggVariant::all().into_iter().filter(|v| !v.batch_norm).collect()
    }

    fn name(variant: VggVariant) -> String {
        format!("{}_caffe", variant.name())
    }

    fn infer(weights: &WeightStore) -> Result<VggVariant> {
        VggVariant::infer(weights)
    }

    fn build(variant: VggVariant, weights: WeightStore, device: &Device) -> Result<Box<dyn Teacher>> {
        Ok(Box::new(Vgg::load(variant, weights, device)?.with_caffe_preset()))
    }
}

impl Teacher for Vgg {
    fn name(&self) -> &str {
        &self.name
    }

    fn normalize(&self) -> Normalize {
        self.normalize
    }

    fn check_input(&self, height: usize, width: usize) -> Result<()> {
        // Five 2x2 max-pools must each see at least one full window.
        if height < 32 || width < 32 {
            return Err(Error::InputSize {
                teacher: self.name.clone(),
                height,
                width,
                reason: "VGG needs at least 32 pixels per side (five 2x2 max-pools)".into(),
            });
        }
        Ok(())
    }

    fn forward(&self, input: Tensor<4>, taps: &mut Taps) {
        let mut x = input;
        for layer in &self.features {
            x = match layer {
                FeatureLayer::Conv(block) => block.forward(x, taps),
                FeatureLayer::MaxPool => module::max_pool2d(x, MaxPoolOptions::new([2, 2])),
            };
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
    fn names_every_torchvision_vgg() {
        let names: Vec<String> = VggVariant::all().into_iter().map(VggVariant::name).collect();
        assert_eq!(
            names,
            [
                "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"
            ]
        );
    }
}
