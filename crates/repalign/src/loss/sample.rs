//! The original's current per-layer distance: each sample's tap normalised as a whole.
//!
//! For a tap pair `x`, `y` of shape `(B, C, L)`: `n_x = ‖x_b‖₂ + 1e-8` over all of a
//! sample's elements, taken as a constant (no gradient flows through the norm), and
//! `n_y` likewise; `l_b` is the mean of `(x/n_x − y/n_y)²` over the sample's elements
//! (with a mask `m`, `Σ m·d / Σ m`); `S_i = Σ_b l_b`, `N_i = B`.

use burn::tensor::Tensor;

/// Added to each sample's norm (not a clamp: the original adds it).
pub(crate) const SAMPLE_EPS: f64 = 1e-8;

/// `S_i` (one element) and `N_i = B` for one tap pair, both `(B, C, L)`; `mask`
/// broadcastable to `(B, C, L)`. `target` must carry no gradient; the caller ensures it.
pub(crate) fn sample_alignment(
    output: Tensor<3>,
    target: Tensor<3>,
    mask: Option<Tensor<3>>,
) -> (Tensor<1>, f64) {
    let [batch, channels, len] = output.dims();
    let distances = (normalize_samples(output) - normalize_samples(target)).square();
    let per_sample: Tensor<3> = match mask {
        None => distances.sum_dim(2).sum_dim(1) / (channels * len) as f64,
        Some(mask) => {
            let weight: Tensor<3> = mask.clone().expand([batch, channels, len]).sum_dim(2).sum_dim(1);
            (distances * mask).sum_dim(2).sum_dim(1) / weight
        }
    };
    (per_sample.sum(), batch as f64)
}

/// `x / (‖x_b‖₂ + eps)` per sample, the norm detached.
fn normalize_samples(values: Tensor<3>) -> Tensor<3> {
    let norm = values.clone().detach().square().sum_dim(2).sum_dim(1).sqrt() + SAMPLE_EPS;
    values / norm
}

/// Each element's share of `S_i`, `(B, C, L)`: its squared difference divided by the
/// sample's element count.
pub(crate) fn sample_distance_map(output: Tensor<3>, target: Tensor<3>) -> Tensor<3> {
    let [_, channels, len] = output.dims();
    let distances = (normalize_samples(output) - normalize_samples(target)).square();
    distances / (channels * len) as f64
}
