//! The classifier heads several torchvision teachers share. A head exists only when
//! the weight file has its keys (otherwise the teacher is a feature extractor); its
//! hidden width and class count are read off the shapes, so a fine-tuned head of
//! another width loads too.

use burn::tensor::{Device, Tensor, module};

use super::layers::{Activation, Linear};
use crate::error::Result;
use crate::taps::Taps;
use crate::weights::WeightStore;

/// The out-features of `{path}.weight`, if the file has it with at least one dim.
fn out_features(store: &WeightStore, path: &str, default: usize) -> usize {
    store
        .shape(&format!("{path}.weight"))
        .and_then(|shape| shape.first().copied())
        .unwrap_or(default)
}

/// Whether any key of the file starts with `prefix`.
fn present(store: &WeightStore, prefix: &str) -> bool {
    store.keys().any(|key| key.starts_with(prefix))
}

/// Global average pooling, flatten, (dropout: the identity in eval mode), one Linear:
/// MobileNetV2 and EfficientNet (`classifier.1`), EfficientNet-Lite (`_fc`).
#[derive(Debug, Clone)]
pub(crate) struct PooledLinear(Linear);

impl PooledLinear {
    /// The head at `path` when the file has keys under `prefix` (e.g. `classifier.`).
    pub fn load(
        store: &mut WeightStore,
        device: &Device,
        prefix: &str,
        path: &str,
        in_features: usize,
    ) -> Result<Option<Self>> {
        if !present(store, prefix) {
            return Ok(None);
        }
        let classes = out_features(store, path, 1000);
        Ok(Some(PooledLinear(Linear::load(
            store,
            device,
            path.into(),
            in_features,
            classes,
        )?)))
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
    pub linears: [&'static str; 3],
    /// The two in-place ReLUs after the first two.
    pub relus: [&'static str; 2],
}

/// VGG's and AlexNet's head: `AdaptiveAvgPool2d(side)`, flatten, then Linear, ReLU
/// (in place), Dropout twice and a last Linear (torchvision: 4096 hidden, 1000 classes).
#[derive(Debug, Clone)]
pub(crate) struct PooledMlp {
    side: usize,
    linears: [Linear; 3],
    relus: [&'static str; 2],
}

impl PooledMlp {
    /// The head when the file has `classifier.*` keys, for `channels` feature maps
    /// pooled to `side`×`side`.
    pub fn load(
        store: &mut WeightStore,
        device: &Device,
        layout: &MlpLayout,
        channels: usize,
        side: usize,
    ) -> Result<Option<Self>> {
        if !present(store, "classifier.") {
            return Ok(None);
        }
        let [first, second, last] = layout.linears;
        let hidden = out_features(store, first, 4096);
        let classes = out_features(store, last, 1000);
        let linears = [
            Linear::load(store, device, first.into(), channels * side * side, hidden)?,
            Linear::load(store, device, second.into(), hidden, hidden)?,
            Linear::load(store, device, last.into(), hidden, classes)?,
        ];
        Ok(Some(PooledMlp {
            side,
            linears,
            relus: layout.relus,
        }))
    }

    pub fn forward(&self, x: Tensor<4>, taps: &mut Taps) {
        let x: Tensor<2> = module::adaptive_avg_pool2d(x, [self.side, self.side]).flatten(1, 3);
        let [first, second, last] = &self.linears;
        let x = first.forward_in_place(x, Activation::Relu, self.relus[0], taps);
        let x = second.forward_in_place(x, Activation::Relu, self.relus[1], taps);
        last.forward(x, taps);
    }
}
