//! SSIM as `pytorch-msssim` computes it: a separable Gaussian window (11 taps, σ 1.5)
//! applied without padding ("valid"), K = (0.01, 0.03) on data range 1, the SSIM map
//! averaged per channel, then over channels.

use burn::tensor::{Tensor, TensorData, module, ops::ConvOptions};

/// Window side.
pub(super) const WINDOW: usize = 11;
const SIGMA: f64 = 1.5;
const C1: f64 = 0.01 * 0.01;
const C2: f64 = 0.03 * 0.03;

/// The normalised 1-D Gaussian, centred on tap `WINDOW / 2`.
fn gaussian() -> Vec<f32> {
    let g: Vec<f64> = (0..WINDOW)
        .map(|i| {
            let x = i as f64 - (WINDOW / 2) as f64;
            (-(x * x) / (2.0 * SIGMA * SIGMA)).exp()
        })
        .collect();
    let sum: f64 = g.iter().sum();
    g.iter().map(|v| (v / sum) as f32).collect()
}

/// The Gaussian blur of each channel, valid part only: along H, then along W.
fn blur(x: Tensor<4>) -> Tensor<4> {
    let channels = x.dims()[1];
    let device = x.device();
    let taps = gaussian();
    let kernel = |shape: [usize; 4]| {
        let values: Vec<f32> = (0..channels).flat_map(|_| taps.iter().copied()).collect();
        Tensor::<4>::from_data(TensorData::new(values, shape), &device)
    };
    let options = || ConvOptions::new([1, 1], [0, 0], [1, 1], channels);
    let x = module::conv2d(x, kernel([channels, 1, WINDOW, 1]), None, options());
    module::conv2d(x, kernel([channels, 1, 1, WINDOW]), None, options())
}

/// SSIM of each pair, shape `(B,)`.
pub(super) fn ssim(x: Tensor<4>, y: Tensor<4>) -> Tensor<1> {
    let batch = x.dims()[0];
    let mu_x = blur(x.clone());
    let mu_y = blur(y.clone());
    let mu_xx = mu_x.clone().square();
    let mu_yy = mu_y.clone().square();
    let mu_xy = mu_x * mu_y;
    let var_x = blur(x.clone().square()) - mu_xx.clone();
    let var_y = blur(y.clone().square()) - mu_yy.clone();
    let cov = blur(x * y) - mu_xy.clone();
    let contrast_structure = (cov * 2.0 + C2) / (var_x + var_y + C2);
    let luminance = (mu_xy * 2.0 + C1) / (mu_xx + mu_yy + C1);
    let map = luminance * contrast_structure;
    let channels = map.dims()[1];
    map.reshape([batch as i64, channels as i64, -1])
        .mean_dim(2)
        .mean_dim(1)
        .reshape([batch])
}
