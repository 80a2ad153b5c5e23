//! SSIM as `pytorch-msssim` computes it: a separable Gaussian window (11 taps, σ 1.5)
//! applied without padding ("valid"), K = (0.01, 0.03) on data range 1, the SSIM map
//! averaged per channel, then over channels.

use burn::tensor::{Tensor, TensorData, module, ops::ConvOptions};

/// Window side.
pub(super) const WINDOW: usize = 11;
const C1: f64 = 0.01 * 0.01;
const C2: f64 = 0.03 * 0.03;

/// The normalised 1-D Gaussian, centred on tap `WINDOW / 2`, exactly as the package
/// computes it in f32: `exp(-x² / 2σ²)` for `x = -5..=5`, divided by its sum. Written
/// out because torch's vectorised `exp` and `sum` round differently from a scalar f32
/// evaluation, and SSIM on flat regions (variances `E[x²] − μ²` near zero) moves by
/// 2e-5 with the window's last bit. The test below checks them against the formula.
const GAUSSIAN: [f32; WINDOW] = [
    0.001_028_380_4,
    0.007_598_758,
    0.036_000_773,
    0.109_360_69,
    0.213_005_53,
    0.266_011_7,
    0.213_005_53,
    0.109_360_69,
    0.036_000_773,
    0.007_598_758,
    0.001_028_380_4,
];

/// The Gaussian blur of each channel, valid part only: along H, then along W.
fn blur(x: Tensor<4>) -> Tensor<4> {
    let channels = x.dims()[1];
    let device = x.device();
    let taps = GAUSSIAN;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_the_normalised_gaussian_of_sigma_1_5() {
        let g: Vec<f64> = (0..WINDOW)
            .map(|i| {
                let x = i as f64 - (WINDOW / 2) as f64;
                (-(x * x) / (2.0 * 1.5 * 1.5)).exp()
            })
            .collect();
        let sum: f64 = g.iter().sum();
        for (ours, exact) in GAUSSIAN.iter().zip(&g) {
            assert!(
                (f64::from(*ours) - exact / sum).abs() < 1e-7,
                "{ours} vs {}",
                exact / sum
            );
        }
    }
}
