//! DISTS (the `DISTS-pytorch` package, 0.1): VGG16's convolutions with every max-pool
//! replaced by an L2 pool (a 3x3 Hanning window over squares, stride 2), and at the
//! image and each stage's last ReLU a structure term (means) and a texture term
//! (variances and covariance) per channel, weighted by the learned α and β.

use burn::tensor::{Device, Tensor, TensorData, activation, module, ops::ConvOptions};

use crate::error::Result;
use crate::preprocess::Normalize;
use crate::teacher::layers::{Conv2d, ConvSpec};
use crate::weights::WeightStore;

/// Every side passes: the L2 pools are padded, so even a 1x1 image reaches the last
/// stage.
pub(super) const MIN_SIZE: usize = 1;
/// The channels of each compared feature: the image, then the five stages.
const CHANNELS: [usize; 6] = [3, 64, 128, 256, 512, 512];
/// VGG16's `features` convolutions per stage.
const STAGES: [&[usize]; 5] = [&[0, 2], &[5, 7], &[10, 12, 14], &[17, 19, 21], &[24, 26, 28]];
/// The stabilising constants of the structure and texture terms.
const C1: f64 = 1e-6;
const C2: f64 = 1e-6;

#[derive(Debug, Clone)]
pub(super) struct Dists {
    stages: Vec<Vec<Conv2d>>,
    /// Per compared feature, α and β divided by their joint sum, `(1, C, 1)`.
    alpha: Vec<Tensor<3>>,
    beta: Vec<Tensor<3>>,
}

impl Dists {
    pub fn load(mut vgg16: WeightStore, mut head: WeightStore, device: &Device) -> Result<Self> {
        let classifier: Vec<String> = vgg16
            .keys()
            .filter(|k| k.starts_with("classifier."))
            .map(str::to_owned)
            .collect();
        for key in &classifier {
            vgg16.skip(key);
        }
        let mut w = vgg16.scope(device);
        let mut features = w.at("features");
        let mut channels = 3;
        let mut stages = Vec::new();
        for (stage, indices) in STAGES.iter().enumerate() {
            let out = CHANNELS[stage + 1];
            let mut convs = Vec::new();
            for &index in *indices {
                convs.push(Conv2d::load(
                    features.at(index),
                    ConvSpec::new(channels, out, 3, 1),
                )?);
                channels = out;
            }
            stages.push(convs);
        }
        vgg16.finish()?;
        let total: usize = CHANNELS.iter().sum();
        let mut h = head.scope(device);
        let alpha: Tensor<4> = h.take("alpha", [1, total, 1, 1])?;
        let beta: Tensor<4> = h.take("beta", [1, total, 1, 1])?;
        head.finish()?;
        let sum = alpha.clone().sum() + beta.clone().sum();
        let split = |w: Tensor<4>| {
            let w = (w.reshape([1, total]) / sum.clone().reshape([1, 1])).reshape([1, total, 1]);
            let mut start = 0;
            CHANNELS
                .iter()
                .map(|&c| {
                    let part = w.clone().slice([0..1, start..start + c, 0..1]);
                    start += c;
                    part
                })
                .collect()
        };
        Ok(Dists {
            stages,
            alpha: split(alpha),
            beta: split(beta),
        })
    }

    /// The image and each stage's output, `(B, C, H*W, 1)`.
    pub fn features(&self, image: Tensor<4>) -> Vec<Tensor<4>> {
        let flat = |x: &Tensor<4>| {
            let [b, c, ..] = x.dims();
            x.clone().reshape([b as i64, c as i64, -1, 1])
        };
        let mut features = vec![flat(&image)];
        let mut x = Normalize::IMAGENET.apply(image);
        for (stage, convs) in self.stages.iter().enumerate() {
            if stage > 0 {
                x = l2_pool(x);
            }
            for conv in convs {
                x = activation::relu(conv.forward_untapped(x));
            }
            features.push(flat(&x));
        }
        features
    }

    /// `1 − Σ_k Σ_c (α_kc S1_kc + β_kc S2_kc)`, shape `(B,)`.
    pub fn distance(&self, output: Vec<Tensor<4>>, target: &[Tensor<4>]) -> Tensor<1> {
        let batch = output[0].dims()[0];
        let mut similarity = Tensor::<1>::zeros([batch], &target[0].device());
        for (k, (x, y)) in output.into_iter().zip(target).enumerate() {
            let x = x.squeeze_dim::<3>(3);
            let y = y.clone().squeeze_dim::<3>(3);
            let x_mean = x.clone().mean_dim(2);
            let y_mean = y.clone().mean_dim(2);
            let structure = (x_mean.clone() * y_mean.clone() * 2.0 + C1)
                / (x_mean.clone().square() + y_mean.clone().square() + C1);
            let x_var = (x.clone() - x_mean.clone()).square().mean_dim(2);
            let y_var = (y.clone() - y_mean.clone()).square().mean_dim(2);
            let covariance = (x * y).mean_dim(2) - x_mean * y_mean;
            let texture = (covariance * 2.0 + C2) / (x_var + y_var + C2);
            let term = (structure * self.alpha[k].clone() + texture * self.beta[k].clone()).sum_dim(1);
            similarity = similarity + term.reshape([batch]);
        }
        similarity.neg() + 1.0
    }
}

/// `L2pooling`: `sqrt(conv(x², g) + 1e-12)` per channel, with `g` the normalised
/// outer product of `hanning(5)[1:-1] = [0.5, 1, 0.5]`, stride 2, padding 1.
fn l2_pool(x: Tensor<4>) -> Tensor<4> {
    let channels = x.dims()[1];
    let window: [f32; 9] = [1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0].map(|v| v / 16.0);
    let values: Vec<f32> = (0..channels).flat_map(|_| window).collect();
    let filter = Tensor::<4>::from_data(TensorData::new(values, [channels, 1, 3, 3]), &x.device());
    let options = ConvOptions::new([2, 2], [1, 1], [1, 1], channels);
    (module::conv2d(x.square(), filter, None, options) + 1e-12).sqrt()
}
