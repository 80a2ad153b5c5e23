//! The classifier heads several torchvision teachers share. A head exists only when
//! the weight file has its keys (otherwise the teacher is a feature extractor); its
//! hidden width and class count are read off the shapes, so a fine-tuned head of
//! another width loads too.

use burn::tensor::{Tensor, module};

use super::layers::{Activation, Linear};
use crate::error::Result;
use crate::taps::Taps;
use crate::weights::Scope;

/// The out-features of the Linear `w`'s `weight`, if the file has it with at least
/// one dim.
fn out_features(w: &Scope<'_>, default: usize) -> usize {
    w.shape("weight")
        .and_then(|shape| shape.first().copied())
        .unwrap_or(default)
}

/// Global average pooling, flatten, (dropout: the identity in eval mode), one Linear:
/// MobileNetV2 and EfficientNet (`classifier.1`), EfficientNet-Lite (`_fc`).
#[derive(Debug, Clone)]
pub(crate) struct PooledLinear(Linear);

impl PooledLinear {
    /// The Linear at `linear` when the file has keys under the module `head` (e.g.
    /// `classifier` and `classifier.1`; `_fc` for both), both names in `w`.
    pub fn load(w: &mut Scope<'_>, head: &str, linear: &str, in_features: usize) -> Result<Option<Self>> {
        if !w.at(head).has_keys() {
            return Ok(None);
        }
        let linear = w.at(linear);
        let classes = out_features(&linear, 1000);
        Ok(Some(PooledLinear(Linear::load(linear, in_features, classes)?)))
    }

    pub fn forward(&self, x: Tensor<4>, taps: &mut Taps) {
        let x: Tensor<2> = module::adaptive_avg_pool2d(x, [1, 1]).flatten(1, 3);
        self.0.forward(x, taps);
    }
}

/// Where the layers of a [`PooledMlp`] sit in `classifier` (it is an `nn.Sequential`
/// whose Dropouts take indices too).
pub(crate) struct MlpLayout {
    /// The three Linears.
    pub linears: [usize; 3],
    /// The two in-place ReLUs after the first two.
    pub relus: [usize; 2],
}

/// VGG's and AlexNet's head: `AdaptiveAvgPool2d(side)`, flatten, then Linear, ReLU
/// (in place), Dropout twice and a last Linear (torchvision: 4096 hidden, 1000 classes).
#[derive(Debug, Clone)]
pub(crate) struct PooledMlp {
    side: usize,
    linears: [Linear; 3],
    /// Paths of the two in-place ReLUs.
    relus: [String; 2],
}

impl PooledMlp {
    /// The head when the file has keys under `classifier` (the module `w`), for
    /// `channels` feature maps pooled to `side`×`side`.
    pub fn load(mut w: Scope<'_>, layout: &MlpLayout, channels: usize, side: usize) -> Result<Option<Self>> {
        if !w.has_keys() {
            return Ok(None);
        }
        let [first, second, last] = layout.linears;
        let hidden = out_features(&w.at(first), 4096);
        let classes = out_features(&w.at(last), 1000);
        let linears = [
            Linear::load(w.at(first), channels * side * side, hidden)?,
            Linear::load(w.at(second), hidden, hidden)?,
            Linear::load(w.at(last), hidden, classes)?,
        ];
        Ok(Some(PooledMlp {
            side,
            linears,
            relus: layout.relus.map(|relu| w.path_of(relu)),
        }))
    }

    pub fn forward(&self, x: Tensor<4>, taps: &mut Taps) {
        let x: Tensor<2> = module::adaptive_avg_pool2d(x, [self.side, self.side]).flatten(1, 3);
        let [first, second, last] = &self.linears;
        let x = first.forward_in_place(x, Activation::Relu, &self.relus[0], taps);
        let x = second.forward_in_place(x, Activation::Relu, &self.relus[1], taps);
        last.forward(x, taps);
    }
}
