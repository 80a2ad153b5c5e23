//! The per-layer distance of SPEC §3 in one pass over host memory, for CPU backends.
//!
//! The tensor formula in [`grouped`](super::grouped) walks every tap about ten times on
//! the way forward (pad, square, sum, clamp, sqrt, divide — twice —, subtract, square,
//! sum) and as many times again on the way back, each walk a fresh buffer the size of
//! the tap. On a CPU that is most of the loss's cost. Here one pass reads output and
//! target group by group and writes both `S_i` and its gradient `G = ∂S_i/∂output`; the
//! gradient joins the autodiff tape through the linear surrogate
//! `⟨output, G⟩ − stop(⟨output, G⟩) + S_i`, whose value is `S_i` and whose gradient with
//! respect to the output is `G`. The formula is the same; `tests` below hold the two
//! implementations to each other, value and gradient.

use burn::tensor::Tensor;
use rayon::prelude::*;

use super::grouped::{NORM_EPS, padded_len};
use crate::error::Result;
use crate::host;

/// `S_i` (one element; on the tape when `output` is) and `N_i` for one tap pair, both
/// `(B, C, L)`, with the optional mask of [`grouped`](super::grouped) (same weights).
/// `target` must carry no gradient; the caller ensures it.
pub(crate) fn grouped_alignment(
    output: Tensor<3>,
    target: Tensor<3>,
    group: usize,
    mask: Option<Tensor<3>>,
) -> Result<(Tensor<1>, f64)> {
    let [_, channels, len] = output.dims();
    let track = output.is_tracked();
    let mask = mask.map(|mask| HostMask::read(mask, channels)).transpose()?;
    let output_data = host::read(output.clone())?;
    let target_data = host::read(target)?;
    let rows = Rows {
        len,
        group,
        weights: &|row| HostMask::row_or_ones(mask.as_ref(), row),
    };
    let (sum, elements, gradient) = rows.align(&output_data, &target_data, track);
    Ok((host::sum_with_gradient(sum, output, gradient), elements))
}

/// A mask `(B, C', L')` (`C'` is 1 or the tap's channels, `L'` 1 or its length) in
/// host memory.
pub(crate) struct HostMask {
    values: Vec<f32>,
    mask_channels: usize,
    mask_len: usize,
    tap_channels: usize,
}

impl HostMask {
    pub(crate) fn read(mask: Tensor<3>, tap_channels: usize) -> Result<Self> {
        let [_, mask_channels, mask_len] = mask.dims();
        Ok(HostMask {
            values: host::read(mask)?,
            mask_channels,
            mask_len,
            tap_channels,
        })
    }

    /// The weights of row `row` of a tap under `mask`; all ones without one.
    pub(crate) fn row_or_ones(mask: Option<&HostMask>, row: usize) -> RowWeights<'_> {
        mask.map_or(RowWeights::Uniform(1.0), |mask| mask.row(row))
    }

    /// The weights of row `row` (= `b · C + c`) of the tap.
    pub(crate) fn row(&self, row: usize) -> RowWeights<'_> {
        let (sample, channel) = (row / self.tap_channels, row % self.tap_channels);
        let channel = if self.mask_channels == 1 { 0 } else { channel };
        let start = (sample * self.mask_channels + channel) * self.mask_len;
        match self.mask_len {
            1 => RowWeights::Uniform(self.values[start]),
            len => RowWeights::Positions(&self.values[start..start + len]),
        }
    }
}

/// The mask's weights along one row: one for the whole row, or one per position.
#[derive(Clone, Copy)]
pub(crate) enum RowWeights<'a> {
    Uniform(f32),
    Positions(&'a [f32]),
}

impl RowWeights<'_> {
    /// The weight of the group over `positions` of the row: the mean of its positions'
    /// weights (a mean of ones is exactly one).
    fn group(self, positions: std::ops::Range<usize>) -> f32 {
        match self {
            RowWeights::Uniform(weight) => weight,
            RowWeights::Positions(weights) => {
                let count = positions.len() as f32;
                weights[positions].iter().sum::<f32>() / count
            }
        }
    }
}

/// Elements per parallel task: large enough that splitting costs nothing next to the
/// work, small enough that both cores get a share of the smallest taps worth splitting.
const CHUNK_ELEMENTS: usize = 1 << 15;

/// The rows of a tap (every `(batch, channel)` row of `len` values), their grouping and
/// each row's mask weights.
struct Rows<'a> {
    len: usize,
    group: usize,
    weights: &'a (dyn Fn(usize) -> RowWeights<'a> + Sync),
}

impl Rows<'_> {
    /// `S_i`, `N_i` and, when asked, the gradient of `S_i` with respect to `output`.
    /// The padding of a row's last group holds zeros on both sides: it adds nothing to
    /// the norms or the distance, so the last group is simply shorter (but counts
    /// `group` elements in `N_i`).
    fn align(&self, output: &[f32], target: &[f32], with_gradient: bool) -> (f64, f64, Option<Vec<f32>>) {
        let (len, group) = (self.len, self.group);
        if len == 0 || group == 0 {
            return (0.0, 0.0, with_gradient.then(|| vec![0.0; output.len()]));
        }
        let rows_per_chunk = CHUNK_ELEMENTS.div_ceil(len).max(1);
        let chunk = rows_per_chunk * len;
        let add = |a: (f64, f64), b: (f64, f64)| (a.0 + b.0, a.1 + b.1);
        let mut gradient = with_gradient.then(|| vec![0.0f32; output.len()]);
        let (sum, elements) = match gradient.as_mut() {
            None => output
                .par_chunks(chunk)
                .zip(target.par_chunks(chunk))
                .enumerate()
                .map(|(index, (out, tgt))| {
                    out.chunks(len)
                        .zip(tgt.chunks(len))
                        .enumerate()
                        .map(|(row, (o, t))| self.align_row(index * rows_per_chunk + row, o, t, None))
                        .fold((0.0, 0.0), add)
                })
                .reduce(|| (0.0, 0.0), add),
            Some(gradient) => output
                .par_chunks(chunk)
                .zip(target.par_chunks(chunk))
                .zip(gradient.par_chunks_mut(chunk))
                .enumerate()
                .map(|(index, ((out, tgt), grad))| {
                    out.chunks(len)
                        .zip(tgt.chunks(len))
                        .zip(grad.chunks_mut(len))
                        .enumerate()
                        .map(|(row, ((o, t), g))| self.align_row(index * rows_per_chunk + row, o, t, Some(g)))
                        .fold((0.0, 0.0), add)
                })
                .reduce(|| (0.0, 0.0), add),
        };
        (sum, elements, gradient)
    }

    /// One row's `Σ m_g d_g` and `Σ m_g · group`: its groups never reach into the next
    /// row.
    fn align_row(
        &self,
        row: usize,
        output: &[f32],
        target: &[f32],
        mut grad: Option<&mut [f32]>,
    ) -> (f64, f64) {
        let group = self.group;
        let weights = (self.weights)(row);
        let elements = match weights {
            RowWeights::Uniform(weight) => f64::from(weight) * padded_len(output.len(), group) as f64,
            RowWeights::Positions(_) => (0..output.len())
                .step_by(group)
                .map(|start| {
                    f64::from(weights.group(start..(start + group).min(output.len()))) * group as f64
                })
                .sum(),
        };
        if group == 2
            && let Some(grad) = grad.as_deref_mut()
        {
            // The default group size, on the training path: a loop the compiler can unroll.
            let pairs = output.len() / 2 * 2;
            let (grad_pairs, grad_rest) = grad.split_at_mut(pairs);
            let paired = match weights {
                RowWeights::Uniform(weight) => {
                    align_pairs(&output[..pairs], &target[..pairs], grad_pairs, |_| weight)
                }
                RowWeights::Positions(_) => {
                    align_pairs(&output[..pairs], &target[..pairs], grad_pairs, |pair| {
                        weights.group(2 * pair..2 * pair + 2)
                    })
                }
            };
            let rest = if pairs < output.len() {
                let weight = weights.group(pairs..output.len());
                align_group(&output[pairs..], &target[pairs..], weight, Some(grad_rest))
            } else {
                0.0
            };
            return (paired + rest, elements);
        }
        let mut sum = 0.0;
        for (index, (o, t)) in output.chunks(group).zip(target.chunks(group)).enumerate() {
            let start = index * group;
            let g = grad.as_deref_mut().map(|g| &mut g[start..start + o.len()]);
            sum += align_group(o, t, weights.group(start..start + o.len()), g);
        }
        (sum, elements)
    }
}

/// [`align_group`] with its gradient for consecutive pairs, written out for two values
/// (one reciprocal square root per norm instead of a division per value); `weight`
/// gives the weight of each pair by its index.
fn align_pairs(output: &[f32], target: &[f32], grad: &mut [f32], weight: impl Fn(usize) -> f32) -> f64 {
    /// Values summed in `f32` before joining the `f64` total.
    const BLOCK: usize = 128;
    let eps_squared = (NORM_EPS * NORM_EPS) as f32;
    let mut total = 0.0f64;
    let blocks = output
        .chunks(BLOCK)
        .zip(target.chunks(BLOCK))
        .zip(grad.chunks_mut(BLOCK))
        .enumerate();
    for (block_index, ((output, target), grad)) in blocks {
        let mut block = 0.0f32;
        let pairs = output
            .chunks_exact(2)
            .zip(target.chunks_exact(2))
            .zip(grad.chunks_exact_mut(2))
            .enumerate();
        for (pair, ((o, t), g)) in pairs {
            let m = weight(block_index * BLOCK / 2 + pair);
            let oo = o[0] * o[0] + o[1] * o[1];
            let tt = t[0] * t[0] + t[1] * t[1];
            let o_inverse = 1.0 / oo.max(eps_squared).sqrt();
            let t_inverse = 1.0 / tt.max(eps_squared).sqrt();
            let (n0, n1) = (o[0] * o_inverse, o[1] * o_inverse);
            let (u0, u1) = (n0 - t[0] * t_inverse, n1 - t[1] * t_inverse);
            block += m * (u0 * u0 + u1 * u1);
            let n_dot_u = if oo > eps_squared { n0 * u0 + n1 * u1 } else { 0.0 };
            let scale = 2.0 * m * o_inverse;
            g[0] = (u0 - n0 * n_dot_u) * scale;
            g[1] = (u1 - n1 * n_dot_u) * scale;
        }
        total += f64::from(block);
    }
    total
}

/// One group's `m ‖o/‖o‖ − t/‖t‖‖²` (norms clamped below at `eps` like `F.normalize`;
/// `m` its mask weight) and, into `grad`, its gradient with respect to `o`, `m` times
/// `2 (u − n ⟨n, u⟩) / ‖o‖` with `n = o/‖o‖`, `u = n − t/‖t‖`; below the clamp the norm
/// is the constant `eps` and the gradient is `2 u / eps`.
fn align_group(o: &[f32], t: &[f32], weight: f32, grad: Option<&mut [f32]>) -> f64 {
    let eps_squared = (NORM_EPS * NORM_EPS) as f32;
    let (mut oo, mut tt) = (0.0f32, 0.0f32);
    for (&a, &b) in o.iter().zip(t) {
        oo += a * a;
        tt += b * b;
    }
    let o_norm = oo.max(eps_squared).sqrt();
    let t_norm = tt.max(eps_squared).sqrt();
    let mut distance = 0.0f32;
    let mut n_dot_u = 0.0f32;
    for (&a, &b) in o.iter().zip(t) {
        let n = a / o_norm;
        let u = n - b / t_norm;
        distance += u * u;
        n_dot_u += n * u;
    }
    if let Some(grad) = grad {
        let on_sphere = oo > eps_squared;
        for (g, (&a, &b)) in grad.iter_mut().zip(o.iter().zip(t)) {
            let n = a / o_norm;
            let u = n - b / t_norm;
            let projected = if on_sphere { u - n * n_dot_u } else { u };
            *g = weight * 2.0 * projected / o_norm;
        }
    }
    f64::from(weight * distance)
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};

    use super::super::grouped;

    /// Deterministic values in [-1, 1) for a `(B, C, L)` tap: every fifth group (of
    /// `group` along L, counted row by row) is all zero and every fifth, shifted, is
    /// scaled to ~1e-14 (its norm below `eps`), so both sides of the norm's clamp are hit.
    fn values(shape: [usize; 3], group: usize, seed: u64) -> Vec<f32> {
        let [batch, channels, len] = shape;
        let groups_per_row = len.div_ceil(group);
        let mut state = seed;
        let mut values = Vec::with_capacity(batch * channels * len);
        for row in 0..batch * channels {
            for position in 0..len {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let x = ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0;
                values.push(match (row * groups_per_row + position / group) % 5 {
                    1 => 0.0,
                    3 => x * 1e-14,
                    _ => x,
                });
            }
        }
        values
    }

    /// A mask of `shape` with weights in [0, 1] (some exactly 0 and 1).
    fn mask(shape: [usize; 3], seed: u64) -> Vec<f32> {
        let count = shape.iter().product();
        values([1, 1, count], 1, seed)
            .into_iter()
            .enumerate()
            .map(|(i, v)| match i % 7 {
                0 => 0.0,
                1 => 1.0,
                _ => v.abs(),
            })
            .collect()
    }

    type Implementation = fn(Tensor<3>, Tensor<3>, usize, Option<Tensor<3>>) -> (Tensor<1>, f64);

    /// Value, `N_i` and gradient of `S_i` through one implementation.
    fn through(
        implementation: Implementation,
        output: &[f32],
        target: &[f32],
        shape: [usize; 3],
        group: usize,
        mask: Option<(&[f32], [usize; 3])>,
    ) -> (f32, f64, Vec<f32>) {
        let device = Device::flex();
        let autodiff = device.clone().autodiff();
        let output =
            Tensor::<3>::from_data(TensorData::new(output.to_vec(), shape), &autodiff).require_grad();
        let target = Tensor::<3>::from_data(TensorData::new(target.to_vec(), shape), &device);
        let mask = mask
            .map(|(values, shape)| Tensor::<3>::from_data(TensorData::new(values.to_vec(), shape), &device));
        let (sum, elements) = implementation(output.clone(), target, group, mask);
        let grads = sum.backward();
        let gradient = output
            .grad(&grads)
            .expect("output gradient")
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        (
            sum.into_data().try_to_vec::<f32>().expect("f32")[0],
            elements,
            gradient,
        )
    }

    fn fused(
        output: Tensor<3>,
        target: Tensor<3>,
        group: usize,
        mask: Option<Tensor<3>>,
    ) -> (Tensor<1>, f64) {
        super::grouped_alignment(output, target, group, mask).expect("fused")
    }

    fn tensor_formula(
        output: Tensor<3>,
        target: Tensor<3>,
        group: usize,
        mask: Option<Tensor<3>>,
    ) -> (Tensor<1>, f64) {
        grouped::grouped_alignment(output, target, group, mask).expect("burn ops")
    }

    #[test]
    fn fused_pass_equals_the_tensor_formula_in_value_and_gradient() {
        // Odd lengths pad the last group; group 1 makes every gradient zero; the large
        // shape spans several parallel chunks. Each case runs without a mask and with
        // masks per position, per row and per sample.
        let cases = [
            ([2, 3, 7], 2),
            ([1, 4, 9], 3),
            ([2, 2, 5], 1),
            ([1, 1, 1], 4),
            ([3, 16, 4099], 2),
        ];
        let mut clamped = false;
        for (case, (shape, group)) in cases.into_iter().enumerate() {
            let [batch, channels, len] = shape;
            let output = values(shape, group, 2 * case as u64 + 1);
            // A different seed and a shifted group pattern: zero and tiny groups meet
            // normal ones on the other side.
            let target = values(shape, group, 2 * case as u64 + 2)
                .into_iter()
                .rev()
                .collect::<Vec<_>>();
            let mask_shapes = [[batch, 1, len], [batch, channels, 1], [batch, 1, 1]];
            let masks: Vec<(Vec<f32>, [usize; 3])> = mask_shapes
                .iter()
                .enumerate()
                .map(|(i, &s)| (mask(s, 40 + i as u64), s))
                .collect();
            let masks = std::iter::once(None).chain(masks.iter().map(|(v, s)| Some((v.as_slice(), *s))));
            for mask in masks {
                let context = format!("{shape:?} group {group} mask {:?}", mask.map(|m| m.1));
                let (want, want_elements, want_grad) =
                    through(tensor_formula, &output, &target, shape, group, mask);
                let (got, got_elements, got_grad) = through(fused, &output, &target, shape, group, mask);
                assert!(
                    (got_elements - want_elements).abs() <= 1e-9 * want_elements,
                    "{context}: N {got_elements} vs {want_elements}"
                );
                assert!(
                    (got - want).abs() <= 1e-5 * want.abs().max(1.0),
                    "{context}: {got} vs {want}"
                );
                // Element by element: below the clamp gradients reach 2/eps = 2e12.
                for (i, (g, w)) in got_grad.iter().zip(&want_grad).enumerate() {
                    assert!(
                        (g - w).abs() <= 1e-4 * w.abs() + 1e-4,
                        "{context} element {i}: {g} vs {w}"
                    );
                }
                clamped |= want_grad.iter().any(|w| w.abs() > 1e10);
            }
        }
        assert!(clamped, "no case reached below the clamp");
    }

    #[test]
    fn a_mask_of_ones_changes_nothing_to_the_bit() {
        for (shape, group) in [([2, 3, 7], 2), ([1, 4, 9], 3), ([2, 16, 4099], 2)] {
            let [batch, channels, len] = shape;
            let output = values(shape, group, 5);
            let target = values(shape, group, 6);
            let plain = through(fused, &output, &target, shape, group, None);
            for mask_shape in [[batch, 1, len], [batch, channels, 1], [batch, 1, 1]] {
                let ones = vec![1.0; mask_shape.iter().product()];
                let masked = through(fused, &output, &target, shape, group, Some((&ones, mask_shape)));
                assert_eq!(masked, plain, "{shape:?} group {group} mask {mask_shape:?}");
            }
        }
    }

    #[test]
    fn identical_features_give_exactly_zero_and_no_gradient() {
        let shape = [2, 5, 13];
        let values = values(shape, 2, 9);
        let (sum, _, gradient) = through(fused, &values, &values, shape, 2, None);
        assert_eq!(sum, 0.0);
        assert!(gradient.iter().all(|g| *g == 0.0));
    }

    #[test]
    fn untracked_output_gets_the_value_without_a_gradient_pass() {
        let shape = [1, 2, 6];
        let device = Device::flex();
        let output = Tensor::<3>::from_data(TensorData::new(values(shape, 2, 3), shape), &device);
        let target = Tensor::<3>::from_data(TensorData::new(values(shape, 2, 4), shape), &device);
        let (want, _) = tensor_formula(output.clone(), target.clone(), 2, None);
        let (got, _) = fused(output, target, 2, None);
        let (want, got) = (want.into_scalar::<f32>(), got.into_scalar::<f32>());
        assert!((got - want).abs() <= 1e-6, "{got} vs {want}");
    }
}
