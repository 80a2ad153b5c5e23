//! The whole-sample distance of [`sample`](super::sample) in one pass over host
//! memory, for CPU backends: the same role as [`fused`](super::fused) for groups.
//!
//! The norms are constants for autodiff, so the gradient of
//! `l_b = Σ m (x/n_x − y/n_y)² / Σ m` with respect to `x` is
//! `2 m (x/n_x − y/n_y) / (n_x Σ m)`, written in the same pass as the value and joined
//! to the tape through [`host::attach_gradient`].

use burn::tensor::Tensor;
use rayon::prelude::*;

use super::fused::{HostMask, RowWeights};
use super::sample::SAMPLE_EPS;
use crate::error::Result;
use crate::host;

/// Rows per parallel task are chosen so that a task holds about this many elements.
const CHUNK_ELEMENTS: usize = 1 << 15;

/// `S_i` (one element; on the tape when `output` is) and `N_i = B` for one tap pair,
/// both `(B, C, L)`, with an optional mask broadcastable to it. `target` must carry no
/// gradient; the caller ensures it.
pub(crate) fn sample_alignment(
    output: Tensor<3>,
    target: Tensor<3>,
    mask: Option<Tensor<3>>,
) -> Result<(Tensor<1>, f64)> {
    let [batch, channels, len] = output.dims();
    let track = output.is_tracked();
    let mask = mask.map(|mask| HostMask::read(mask, channels)).transpose()?;
    let output_data = host::read(output.clone())?;
    let target_data = host::read(target)?;
    let row_weights = |row: usize| HostMask::row_or_ones(mask.as_ref(), row);

    let per_sample = channels * len;
    let samples: Vec<Sample> = (0..batch)
        .map(|b| {
            let range = b * per_sample..(b + 1) * per_sample;
            let weight = (b * channels..(b + 1) * channels)
                .map(|row| match row_weights(row) {
                    RowWeights::Uniform(weight) => f64::from(weight) * len as f64,
                    RowWeights::Positions(weights) => weights.iter().map(|&w| f64::from(w)).sum(),
                })
                .sum::<f64>();
            Sample {
                output_scale: (1.0 / (norm(&output_data[range.clone()]) + SAMPLE_EPS)) as f32,
                target_scale: (1.0 / (norm(&target_data[range]) + SAMPLE_EPS)) as f32,
                weight,
            }
        })
        .collect();

    let row = |index: usize, o: &[f32], t: &[f32], grad: Option<&mut [f32]>| -> f64 {
        if len == 0 {
            return 0.0;
        }
        let sample = &samples[index / channels];
        let weights = row_weights(index);
        let weight_at = |position: usize| match weights {
            RowWeights::Uniform(weight) => weight,
            RowWeights::Positions(weights) => weights[position],
        };
        let (x_scale, y_scale) = (sample.output_scale, sample.target_scale);
        let mut sum = 0.0f32;
        match grad {
            None => {
                for (position, (&x, &y)) in o.iter().zip(t).enumerate() {
                    let u = x * x_scale - y * y_scale;
                    sum += weight_at(position) * u * u;
                }
            }
            Some(grad) => {
                let gradient_scale = (2.0 * f64::from(x_scale) / sample.weight) as f32;
                for (position, ((&x, &y), g)) in o.iter().zip(t).zip(grad).enumerate() {
                    let m = weight_at(position);
                    let u = x * x_scale - y * y_scale;
                    sum += m * u * u;
                    *g = m * u * gradient_scale;
                }
            }
        }
        f64::from(sum) / sample.weight
    };

    let rows_per_chunk = CHUNK_ELEMENTS.div_ceil(len.max(1)).max(1);
    let chunk = rows_per_chunk * len.max(1);
    let (sum, gradient) = if track {
        let mut gradient = vec![0.0f32; output_data.len()];
        let sum: f64 = output_data
            .par_chunks(chunk)
            .zip(target_data.par_chunks(chunk))
            .zip(gradient.par_chunks_mut(chunk))
            .enumerate()
            .map(|(index, ((out, tgt), grad))| {
                out.chunks(len.max(1))
                    .zip(tgt.chunks(len.max(1)))
                    .zip(grad.chunks_mut(len.max(1)))
                    .enumerate()
                    .map(|(r, ((o, t), g))| row(index * rows_per_chunk + r, o, t, Some(g)))
                    .sum::<f64>()
            })
            .sum();
        (sum, Some(gradient))
    } else {
        let sum: f64 = output_data
            .par_chunks(chunk)
            .zip(target_data.par_chunks(chunk))
            .enumerate()
            .map(|(index, (out, tgt))| {
                out.chunks(len.max(1))
                    .zip(tgt.chunks(len.max(1)))
                    .enumerate()
                    .map(|(r, (o, t))| row(index * rows_per_chunk + r, o, t, None))
                    .sum::<f64>()
            })
            .sum();
        (sum, None)
    };

    Ok((host::sum_with_gradient(sum, output, gradient), batch as f64))
}

/// One sample's constants: `1/n_x`, `1/n_y` and `Σ m`.
struct Sample {
    output_scale: f32,
    target_scale: f32,
    weight: f64,
}

/// `‖values‖₂`, accumulated in `f64`.
fn norm(values: &[f32]) -> f64 {
    values
        .par_chunks(CHUNK_ELEMENTS)
        .map(|chunk| chunk.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>())
        .sum::<f64>()
        .sqrt()
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};

    use super::super::sample;

    fn values(count: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..count)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    type Implementation = fn(Tensor<3>, Tensor<3>, Option<Tensor<3>>) -> (Tensor<1>, f64);

    fn through(
        implementation: Implementation,
        shape: [usize; 3],
        mask: Option<(&[f32], [usize; 3])>,
        seed: u64,
    ) -> (f32, f64, Vec<f32>) {
        let device = Device::flex();
        let autodiff = device.clone().autodiff();
        let count = shape.iter().product();
        let output =
            Tensor::<3>::from_data(TensorData::new(values(count, seed), shape), &autodiff).require_grad();
        let target = Tensor::<3>::from_data(TensorData::new(values(count, seed + 1), shape), &device);
        let mask = mask
            .map(|(values, shape)| Tensor::<3>::from_data(TensorData::new(values.to_vec(), shape), &device));
        let (sum, elements) = implementation(output.clone(), target, mask);
        let gradient = output
            .grad(&sum.backward())
            .expect("output gradient")
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        (sum.into_scalar::<f32>(), elements, gradient)
    }

    fn fused(output: Tensor<3>, target: Tensor<3>, mask: Option<Tensor<3>>) -> (Tensor<1>, f64) {
        super::sample_alignment(output, target, mask).expect("fused")
    }

    #[test]
    fn fused_pass_equals_the_tensor_formula_with_and_without_masks() {
        for (case, shape) in [[2, 3, 7], [1, 1, 1], [3, 16, 4099], [2, 5, 1]]
            .into_iter()
            .enumerate()
        {
            let [batch, channels, len] = shape;
            let masks: Vec<([usize; 3], Vec<f32>)> = [[batch, 1, len], [batch, channels, 1], [batch, 1, 1]]
                .into_iter()
                .map(|s| (s, values(s.iter().product(), 7).iter().map(|v| v.abs()).collect()))
                .collect();
            let masks = std::iter::once(None).chain(masks.iter().map(|(s, v)| Some((v.as_slice(), *s))));
            for mask in masks {
                let context = format!("{shape:?} mask {:?}", mask.map(|m| m.1));
                let (want, want_n, want_grad) = through(sample::sample_alignment, shape, mask, case as u64);
                let (got, got_n, got_grad) = through(fused, shape, mask, case as u64);
                assert_eq!(got_n, want_n, "{context}");
                assert!(
                    (got - want).abs() <= 1e-5 * want.abs().max(1e-3),
                    "{context}: {got} vs {want}"
                );
                let scale = want_grad.iter().fold(0.0f32, |m, g| m.max(g.abs()));
                for (i, (g, w)) in got_grad.iter().zip(&want_grad).enumerate() {
                    assert!((g - w).abs() <= 1e-4 * scale, "{context} element {i}: {g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn a_mask_of_ones_changes_nothing_to_the_bit() {
        let shape = [2, 16, 4099];
        let plain = through(fused, shape, None, 3);
        for mask_shape in [[2, 1, 4099], [2, 16, 1], [2, 1, 1]] {
            let ones = vec![1.0; mask_shape.iter().product()];
            assert_eq!(
                through(fused, shape, Some((&ones, mask_shape)), 3),
                plain,
                "{mask_shape:?}"
            );
        }
    }
}
