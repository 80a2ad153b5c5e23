//! PSNR on data range 1: `10 log10(1 / MSE)` per image, over channels and pixels.

use burn::tensor::Tensor;

/// The smallest mean squared error PSNR sees: identical images score 100 dB, and the
/// loss `−PSNR` keeps a finite gradient.
const MIN_MSE: f64 = 1e-10;

/// PSNR of each pair in dB, shape `(B,)`.
pub(super) fn psnr(x: Tensor<4>, y: Tensor<4>) -> Tensor<1> {
    let batch = x.dims()[0];
    let mse = (x - y)
        .square()
        .reshape([batch as i64, -1])
        .mean_dim(1)
        .reshape([batch]);
    mse.clamp_min(MIN_MSE).log() * (-10.0 / std::f64::consts::LN_10)
}
