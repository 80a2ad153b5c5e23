//! The per-layer distance of SPEC §3: pad, group, L2-normalise each group, squared
//! difference, sum; with a mask, each group's distance weighted by the mean of its
//! positions' weights.

use burn::tensor::{Tensor, TensorData, ops::PadMode};

use crate::error::Result;
use crate::host;

/// PyTorch `F.normalize`'s `eps`: a group's norm is clamped below at this value.
pub(crate) const NORM_EPS: f64 = 1e-12;

/// A tap's last dim zero-padded to whole groups (SPEC §3): `N_i` counts these values.
pub(crate) fn padded_len(len: usize, group: usize) -> usize {
    len.div_ceil(group) * group
}

/// `S_i` (as a one-element tensor) and `N_i` for one tap pair, both `(B, C, L)`.
/// `target` must carry no gradient; the caller ensures it. `mask`, broadcastable to
/// `(B, C, L)` as [`InputMask::for_tap`](super::mask::InputMask::for_tap) makes it,
/// weights each group by the mean of its (unpadded) positions' weights `m_g`:
/// `S_i = Σ m_g d_g`, `N_i = Σ m_g · group`. Reads the mask's group weights back
/// for `N_i`.
///
/// # Errors
/// [`Error::Backend`](crate::Error::Backend) when the mask cannot be read back.
pub(crate) fn grouped_alignment(
    output: Tensor<3>,
    target: Tensor<3>,
    group: usize,
    mask: Option<Tensor<3>>,
) -> Result<(Tensor<1>, f64)> {
    let [batch, channels, len] = output.dims();
    let padded = padded_len(len, group);
    let diff = normalize_groups(output, group, padded) - normalize_groups(target, group, padded);
    let distances: Tensor<4> = diff.square().sum_dim(3);
    let Some(mask) = mask else {
        return Ok((distances.sum(), (batch * channels * padded) as f64));
    };
    let weights = group_weights(mask, group, len);
    let [_, mask_channels, mask_groups, _] = weights.dims();
    // Each weight stands for the rows and groups it is broadcast over.
    let repeats = (batch * channels * padded / group) / (batch * mask_channels * mask_groups);
    let weight_total: f64 = host::read(weights.clone())?.iter().map(|&m| f64::from(m)).sum();
    let elements = weight_total * (repeats * group) as f64;
    Ok(((distances * weights).sum(), elements))
}

/// A `(B, C', L')` mask as `(B, C', G', 1)` group weights: positions averaged over
/// each group of `group` (the last one over its real positions only, so that a mask of
/// ones weights every group by exactly 1); a mask constant along `L` is one weight.
fn group_weights(mask: Tensor<3>, group: usize, len: usize) -> Tensor<4> {
    let [batch, channels, mask_len] = mask.dims();
    if mask_len == 1 {
        return mask.reshape([batch, channels, 1, 1]);
    }
    let padded = padded_len(len, group);
    let groups = padded / group;
    let sums: Tensor<4> = mask
        .pad([(0, padded - len)], PadMode::Constant(0.0))
        .reshape([batch, channels, groups, group])
        .sum_dim(3);
    let counts: Vec<f32> = (0..groups).map(|g| (len - g * group).min(group) as f32).collect();
    let counts =
        Tensor::<1>::from_data(TensorData::new(counts, [groups]), &sums.device()).reshape([1, 1, groups, 1]);
    sums / counts
}

/// Zero-pads the last dim to `padded`, views it as groups of `group` and divides each
/// group by `max(‖v‖₂, eps)`.
///
/// The clamp is applied to the squared norm (`sqrt(max(‖v‖², eps²))` is the same
/// number): clamping after the `sqrt` would send `0 · ∞ = NaN` back through the `sqrt`
/// of an all-zero group, where PyTorch's `F.normalize` gives a zero gradient.
fn normalize_groups(values: Tensor<3>, group: usize, padded: usize) -> Tensor<4> {
    let [batch, channels, len] = values.dims();
    let values = if padded > len {
        values.pad([(0, padded - len)], PadMode::Constant(0.0))
    } else {
        values
    };
    let groups = values.reshape([batch, channels, padded / group, group]);
    let norm = groups
        .clone()
        .square()
        .sum_dim(3)
        .clamp_min(NORM_EPS * NORM_EPS)
        .sqrt();
    groups / norm
}

/// Each element's share of `S_i`: the squared differences of the normalised groups,
/// `(B, C, L)` (padding dropped). Summing it gives `S_i` minus the padded positions' part.
pub(crate) fn grouped_distance_map(output: Tensor<3>, target: Tensor<3>, group: usize) -> Tensor<3> {
    let [batch, channels, len] = output.dims();
    let padded = padded_len(len, group);
    let diff = normalize_groups(output, group, padded) - normalize_groups(target, group, padded);
    let elements: Tensor<3> = diff.square().reshape([batch, channels, padded]);
    elements.slice([0..batch, 0..channels, 0..len])
}
