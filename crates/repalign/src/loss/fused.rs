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

use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

use super::grouped::{NORM_EPS, padded_len};
use crate::error::Result;
use crate::host;

/// `S_i` (one element; on the tape when `output` is) and `N_i` for one tap pair, both
/// `(B, C, L)`. `target` must carry no gradient; the caller ensures it.
pub(crate) fn grouped_alignment(
    output: Tensor<3>,
    target: Tensor<3>,
    group: usize,
) -> Result<(Tensor<1>, u64)> {
    let [batch, channels, len] = output.dims();
    let elements = (batch * channels * padded_len(len, group)) as u64;
    let device = output.device().inner();
    let track = output.is_tracked();
    let output_data = host::read(output.clone())?;
    let target_data = host::read(target)?;
    let (sum, gradient) = align_rows(&output_data, &target_data, len, group, track);
    let sum_tensor = Tensor::<1>::from_floats([sum as f32], &device);
    let Some(gradient) = gradient else {
        return Ok((sum_tensor, elements));
    };
    let gradient = Tensor::<3>::from_data(TensorData::new(gradient, [batch, channels, len]), &device);
    let linear = (output * gradient).sum();
    Ok((host::attach_gradient(sum_tensor, linear), elements))
}

/// Elements per parallel task: large enough that splitting costs nothing next to the
/// work, small enough that both cores get a share of the smallest taps worth splitting.
const CHUNK_ELEMENTS: usize = 1 << 15;

/// `S_i` over rows of `len` values (every `(batch, channel)` row of a tap) and, when
/// asked, its gradient with respect to `output`. The padding of a row's last group
/// holds zeros on both sides: it adds nothing to the norms or the distance, so the
/// last group is simply shorter.
fn align_rows(
    output: &[f32],
    target: &[f32],
    len: usize,
    group: usize,
    with_gradient: bool,
) -> (f64, Option<Vec<f32>>) {
    if len == 0 || group == 0 {
        return (0.0, with_gradient.then(|| vec![0.0; output.len()]));
    }
    let rows_per_chunk = CHUNK_ELEMENTS.div_ceil(len).max(1);
    let chunk = rows_per_chunk * len;
    match with_gradient {
        false => {
            let sum = output
                .par_chunks(chunk)
                .zip(target.par_chunks(chunk))
                .map(|(out, tgt)| {
                    out.chunks(len)
                        .zip(tgt.chunks(len))
                        .map(|(o, t)| align_row(o, t, None, group))
                        .sum::<f64>()
                })
                .sum();
            (sum, None)
        }
        true => {
            let mut gradient = vec![0.0f32; output.len()];
            let sum = output
                .par_chunks(chunk)
                .zip(target.par_chunks(chunk))
                .zip(gradient.par_chunks_mut(chunk))
                .map(|((out, tgt), grad)| {
                    out.chunks(len)
                        .zip(tgt.chunks(len))
                        .zip(grad.chunks_mut(len))
                        .map(|((o, t), g)| align_row(o, t, Some(g), group))
                        .sum::<f64>()
                })
                .sum();
            (sum, Some(gradient))
        }
    }
}

/// One `(batch, channel)` row: its groups never reach into the next row.
fn align_row(output: &[f32], target: &[f32], mut grad: Option<&mut [f32]>, group: usize) -> f64 {
    if group == 2
        && let Some(grad) = grad.as_deref_mut()
    {
        // The default group size, on the training path: a loop the compiler can unroll.
        let pairs = output.len() / 2 * 2;
        let (grad_pairs, grad_rest) = grad.split_at_mut(pairs);
        return align_pairs(&output[..pairs], &target[..pairs], grad_pairs)
            + align_group(&output[pairs..], &target[pairs..], Some(grad_rest));
    }
    let mut sum = 0.0;
    for (index, (o, t)) in output.chunks(group).zip(target.chunks(group)).enumerate() {
        let start = index * group;
        let g = grad.as_deref_mut().map(|g| &mut g[start..start + o.len()]);
        sum += align_group(o, t, g);
    }
    sum
}

/// [`align_group`] with its gradient for consecutive pairs, written out for two values
/// (one reciprocal square root per norm instead of a division per value).
fn align_pairs(output: &[f32], target: &[f32], grad: &mut [f32]) -> f64 {
    /// Values summed in `f32` before joining the `f64` total.
    const BLOCK: usize = 128;
    let eps_squared = (NORM_EPS * NORM_EPS) as f32;
    let mut total = 0.0f64;
    let blocks = output
        .chunks(BLOCK)
        .zip(target.chunks(BLOCK))
        .zip(grad.chunks_mut(BLOCK));
    for ((output, target), grad) in blocks {
        let mut block = 0.0f32;
        let pairs = output
            .chunks_exact(2)
            .zip(target.chunks_exact(2))
            .zip(grad.chunks_exact_mut(2));
        for ((o, t), g) in pairs {
            let oo = o[0] * o[0] + o[1] * o[1];
            let tt = t[0] * t[0] + t[1] * t[1];
            let o_inverse = 1.0 / oo.max(eps_squared).sqrt();
            let t_inverse = 1.0 / tt.max(eps_squared).sqrt();
            let (n0, n1) = (o[0] * o_inverse, o[1] * o_inverse);
            let (u0, u1) = (n0 - t[0] * t_inverse, n1 - t[1] * t_inverse);
            block += u0 * u0 + u1 * u1;
            let n_dot_u = if oo > eps_squared { n0 * u0 + n1 * u1 } else { 0.0 };
            g[0] = 2.0 * (u0 - n0 * n_dot_u) * o_inverse;
            g[1] = 2.0 * (u1 - n1 * n_dot_u) * o_inverse;
        }
        total += f64::from(block);
    }
    total
}

/// One group's `‖o/‖o‖ − t/‖t‖‖²` (norms clamped below at `eps` like `F.normalize`) and,
/// into `grad`, its gradient with respect to `o`:
/// `2 (u − n ⟨n, u⟩) / ‖o‖` with `n = o/‖o‖`, `u = n − t/‖t‖`; below the clamp the norm
/// is the constant `eps` and the gradient is `2 u / eps`.
fn align_group(o: &[f32], t: &[f32], grad: Option<&mut [f32]>) -> f64 {
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
            *g = 2.0 * projected / o_norm;
        }
    }
    f64::from(distance)
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

    /// Value and gradient of `S_i` through one implementation.
    fn through(
        implementation: fn(Tensor<3>, Tensor<3>, usize) -> (Tensor<1>, u64),
        output: &[f32],
        target: &[f32],
        shape: [usize; 3],
        group: usize,
    ) -> (f32, u64, Vec<f32>) {
        let device = Device::default();
        let autodiff = device.clone().autodiff();
        let output =
            Tensor::<3>::from_data(TensorData::new(output.to_vec(), shape), &autodiff).require_grad();
        let target = Tensor::<3>::from_data(TensorData::new(target.to_vec(), shape), &device);
        let (sum, elements) = implementation(output.clone(), target, group);
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

    fn fused(output: Tensor<3>, target: Tensor<3>, group: usize) -> (Tensor<1>, u64) {
        super::grouped_alignment(output, target, group).expect("fused")
    }

    #[test]
    fn fused_pass_equals_the_tensor_formula_in_value_and_gradient() {
        // Odd lengths pad the last group; group 1 makes every gradient zero; the large
        // shape spans several parallel chunks.
        let cases = [
            ([2, 3, 7], 2),
            ([1, 4, 9], 3),
            ([2, 2, 5], 1),
            ([1, 1, 1], 4),
            ([3, 16, 4099], 2),
        ];
        let mut clamped = false;
        for (case, (shape, group)) in cases.into_iter().enumerate() {
            let output = values(shape, group, 2 * case as u64 + 1);
            // A different seed and a shifted group pattern: zero and tiny groups meet
            // normal ones on the other side.
            let target = values(shape, group, 2 * case as u64 + 2)
                .into_iter()
                .rev()
                .collect::<Vec<_>>();
            let (want, want_elements, want_grad) =
                through(grouped::grouped_alignment, &output, &target, shape, group);
            let (got, got_elements, got_grad) = through(fused, &output, &target, shape, group);
            assert_eq!(got_elements, want_elements, "{shape:?} group {group}");
            assert!(
                (got - want).abs() <= 1e-5 * want.abs().max(1.0),
                "{shape:?} group {group}: {got} vs {want}"
            );
            // Element by element: below the clamp gradients reach 2/eps = 2e12.
            for (i, (g, w)) in got_grad.iter().zip(&want_grad).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-4 * w.abs() + 1e-4,
                    "{shape:?} group {group} element {i}: {g} vs {w}"
                );
            }
            clamped |= want_grad.iter().any(|w| w.abs() > 1e10);
        }
        assert!(clamped, "no case reached below the clamp");
    }

    #[test]
    fn identical_features_give_exactly_zero_and_no_gradient() {
        let shape = [2, 5, 13];
        let values = values(shape, 2, 9);
        let (sum, _, gradient) = through(fused, &values, &values, shape, 2);
        assert_eq!(sum, 0.0);
        assert!(gradient.iter().all(|g| *g == 0.0));
    }

    #[test]
    fn untracked_output_gets_the_value_without_a_gradient_pass() {
        let shape = [1, 2, 6];
        let device = Device::default();
        let output = Tensor::<3>::from_data(TensorData::new(values(shape, 2, 3), shape), &device);
        let target = Tensor::<3>::from_data(TensorData::new(values(shape, 2, 4), shape), &device);
        let (want, _) = grouped::grouped_alignment(output.clone(), target.clone(), 2);
        let (got, _) = fused(output, target, 2);
        let (want, got) = (want.into_scalar::<f32>(), got.into_scalar::<f32>());
        assert!((got - want).abs() <= 1e-6, "{got} vs {want}");
    }
}
