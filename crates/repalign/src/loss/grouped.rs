//! The per-layer distance of SPEC §3: pad, group, L2-normalise each group, squared
//! difference, sum.

use burn::tensor::{Tensor, ops::PadMode};

/// PyTorch `F.normalize`'s `eps`: a group's norm is clamped below at this value.
pub(crate) const NORM_EPS: f64 = 1e-12;

/// A tap's last dim zero-padded to whole groups (SPEC §3): `N_i` counts these values.
pub(crate) fn padded_len(len: usize, group: usize) -> usize {
    len.div_ceil(group) * group
}

/// `S_i` (as a one-element tensor) and `N_i` for one tap pair, both `(B, C, L)`.
/// `target` must carry no gradient; the caller ensures it.
pub(crate) fn grouped_alignment(output: Tensor<3>, target: Tensor<3>, group: usize) -> (Tensor<1>, u64) {
    let [batch, channels, len] = output.dims();
    let padded = padded_len(len, group);
    let diff = normalize_groups(output, group, padded) - normalize_groups(target, group, padded);
    let elements = (batch * channels * padded) as u64;
    (diff.square().sum(), elements)
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

/// The per-position share of `S_i`: squared differences of the normalised groups
/// summed over channels, `(B, L)` (padding dropped). Summing it gives `S_i` minus the
/// padded positions' part.
pub(crate) fn grouped_distance_map(output: Tensor<3>, target: Tensor<3>, group: usize) -> Tensor<2> {
    let [batch, _, len] = output.dims();
    let padded = padded_len(len, group);
    let diff = normalize_groups(output, group, padded) - normalize_groups(target, group, padded);
    let per_position: Tensor<2> = diff.square().sum_dim(1).reshape([batch, padded]);
    per_position.slice([0..batch, 0..len])
}
