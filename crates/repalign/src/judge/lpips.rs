//! LPIPS v0.1 (the `lpips` package, 0.1.4): the five ReLU outputs of a frozen AlexNet
//! or VGG16, each unit-normalised over channels, their squared difference weighted per
//! channel by a learned 1x1 head, averaged over space and summed over layers.
//!
//! Its scaling layer, `(2x − 1 − shift) / scale`, is ImageNet's normalisation
//! `(x − mean) / std` written for inputs in [-1, 1]: the same numbers, so the backbone
//! runs as our teacher does, without resizing.

use burn::tensor::{Device, Tensor};

use super::Metric;
use crate::error::{Error, Result};
use crate::taps::{LayerKind, TapSelector, Taps};
use crate::teacher::{self, Teacher};
use crate::weights::WeightStore;

/// `normalize_tensor`'s epsilon, added to the norm.
const EPS: f64 = 1e-10;

/// The ReLU modules LPIPS reads (ends of its slices) and their widths.
fn layers(metric: Metric) -> (&'static str, [&'static str; 5], [usize; 5]) {
    match metric {
        Metric::LpipsAlex => (
            "alexnet",
            [
                "features.1",
                "features.4",
                "features.7",
                "features.9",
                "features.11",
            ],
            [64, 192, 384, 256, 256],
        ),
        _ => (
            "vgg16",
            [
                "features.3",
                "features.8",
                "features.15",
                "features.22",
                "features.29",
            ],
            [64, 128, 256, 512, 512],
        ),
    }
}

#[derive(Debug, Clone)]
pub(super) struct Lpips {
    backbone: std::sync::Arc<dyn Teacher>,
    selector: TapSelector,
    /// Per layer, the head's channel weights `(1, C, 1)`.
    heads: Vec<Tensor<3>>,
    min_size: usize,
}

impl Lpips {
    pub fn load(
        metric: Metric,
        backbone: WeightStore,
        mut head: WeightStore,
        device: &Device,
    ) -> Result<Self> {
        let (name, relus, widths) = layers(metric);
        let backbone: std::sync::Arc<dyn Teacher> = teacher::load(name, backbone, device)?.into();
        let mut w = head.scope(device);
        let heads = widths
            .iter()
            .enumerate()
            .map(|(k, &width)| {
                let weight: Tensor<4> = w
                    .at(format!("lin{k}"))
                    .at("model")
                    .at(1)
                    .take("weight", [1, width, 1, 1])?;
                Ok(weight.reshape([1, width, 1]))
            })
            .collect::<Result<Vec<_>>>()?;
        head.finish()?;
        let min_size = (1..=512)
            .find(|&side| backbone.check_input(side, side).is_ok())
            .unwrap_or(512);
        Ok(Lpips {
            backbone,
            selector: TapSelector::default()
                .with_kinds([LayerKind::Relu])
                .with_name_patterns(relus),
            heads,
            min_size,
        })
    }

    pub fn min_size(&self) -> usize {
        self.min_size
    }

    /// The five ReLU outputs `(B, C, H*W)`, unit-normalised over channels, as 4-D
    /// tensors `(B, C, H*W, 1)` for [`super::JudgeTarget`].
    pub fn features(&self, image: Tensor<4>) -> Result<Vec<Tensor<4>>> {
        let input = self.backbone.normalize().apply(image);
        let mut taps = Taps::new(&self.selector);
        self.backbone.forward(input, &mut taps);
        let taps = taps.into_vec();
        if taps.len() != self.heads.len() {
            return Err(Error::Architecture {
                origin: self.backbone.name().to_owned(),
                reason: format!(
                    "LPIPS reads {} ReLU outputs, the backbone gave {}",
                    self.heads.len(),
                    taps.len()
                ),
            });
        }
        Ok(taps
            .into_iter()
            .map(|tap| {
                let f = tap.value;
                let norm = f.clone().square().sum_dim(1).sqrt() + EPS;
                (f / norm).unsqueeze_dim(3)
            })
            .collect())
    }

    /// `Σ_k mean_hw Σ_c w_kc (f_k − g_k)²`, shape `(B,)`.
    pub fn distance(&self, output: Vec<Tensor<4>>, target: &[Tensor<4>]) -> Tensor<1> {
        let batch = output[0].dims()[0];
        output
            .into_iter()
            .zip(target)
            .zip(&self.heads)
            .map(|((f, g), head)| {
                let diff = (f - g.clone()).squeeze_dim::<3>(3).square();
                (diff * head.clone()).sum_dim(1).mean_dim(2).reshape([batch])
            })
            .fold(Tensor::zeros([batch], &target[0].device()), |sum, layer| {
                sum + layer
            })
    }
}
