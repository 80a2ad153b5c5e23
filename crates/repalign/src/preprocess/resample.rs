//! 1-D resampling matrices that reproduce PyTorch's `F.interpolate` exactly.
//!
//! Bilinear and bicubic resampling (antialiased or not) are separable: output row `i`
//! is a weighted sum of input rows. Each function returns the rows `rows` of the
//! `(out, in)` weight matrix, row-major, in f64; applying it as a matmul is exact and
//! differentiable. Asking for only the rows a crop keeps bounds the matrix by the crop,
//! however large the resized image would be.
//! The index and weight arithmetic follows ATen's `UpSampleKernel.cpp`.

use std::ops::Range;

/// Which interpolation kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpolation {
    /// Linear in each direction.
    Bilinear,
    /// Cubic convolution in each direction.
    Bicubic,
}

/// ATen's `area_pixel_compute_scale` for `align_corners=False`: the caller's scale
/// factor when given (as `1/scale`), else `in/out`.
fn source_scale(input: usize, output: usize, scale_factor: Option<f64>) -> f64 {
    match scale_factor {
        Some(s) if s > 0.0 => 1.0 / s,
        _ => input as f64 / output as f64,
    }
}

/// Weights of `F.interpolate(..., antialias=True)`: a kernel stretched by the
/// downsampling factor, renormalised per output pixel (cubic `a = -0.5`).
pub fn antialiased(
    input: usize,
    output: usize,
    rows: Range<usize>,
    interpolation: Interpolation,
    scale_factor: Option<f64>,
) -> Vec<f64> {
    let scale = source_scale(input, output, scale_factor);
    let (half_width, filter): (f64, fn(f64) -> f64) = match interpolation {
        Interpolation::Bilinear => (1.0, triangle),
        Interpolation::Bicubic => (2.0, |x| cubic(x, -0.5)),
    };
    let support = if scale >= 1.0 {
        half_width * scale
    } else {
        half_width
    };
    let inv_scale = if scale >= 1.0 { 1.0 / scale } else { 1.0 };
    let mut matrix = vec![0.0; rows.len() * input];
    for (row, i) in matrix.chunks_exact_mut(input).zip(rows) {
        let center = scale * (i as f64 + 0.5);
        // ATen truncates toward zero, then clamps to the image.
        let first = ((center - support + 0.5) as i64).max(0) as usize;
        let end = ((center + support + 0.5) as i64)
            .min(input as i64)
            .max(first as i64) as usize;
        let mut total = 0.0;
        for (j, weight) in row.iter_mut().enumerate().take(end).skip(first) {
            *weight = filter((j as f64 - center + 0.5) * inv_scale);
            total += *weight;
        }
        if total != 0.0 {
            row.iter_mut().for_each(|w| *w /= total);
        }
    }
    matrix
}

/// Weights of `F.interpolate(..., antialias=False, align_corners=False)`: bilinear with
/// source indices clamped at 0, or bicubic with `a = -0.75` and edge-clamped taps.
pub fn plain(
    input: usize,
    output: usize,
    rows: Range<usize>,
    interpolation: Interpolation,
    scale_factor: Option<f64>,
) -> Vec<f64> {
    let scale = source_scale(input, output, scale_factor);
    let last = input as i64 - 1;
    let mut matrix = vec![0.0; rows.len() * input];
    for (row, i) in matrix.chunks_exact_mut(input).zip(rows) {
        let source = scale * (i as f64 + 0.5) - 0.5;
        match interpolation {
            Interpolation::Bilinear => {
                let source = source.max(0.0);
                let x0 = (source.floor() as i64).min(last);
                let x1 = if x0 < last { x0 + 1 } else { x0 };
                let lambda = source - x0 as f64;
                row[x0 as usize] += 1.0 - lambda;
                row[x1 as usize] += lambda;
            }
            Interpolation::Bicubic => {
                let floor = source.floor();
                let t = source - floor;
                let weights = [
                    cubic(t + 1.0, -0.75),
                    cubic(t, -0.75),
                    cubic(1.0 - t, -0.75),
                    cubic(2.0 - t, -0.75),
                ];
                for (k, weight) in weights.into_iter().enumerate() {
                    let index = (floor as i64 - 1 + k as i64).clamp(0, last);
                    row[index as usize] += weight;
                }
            }
        }
    }
    matrix
}

fn triangle(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 { 1.0 - x } else { 0.0 }
}

/// Keys' cubic convolution kernel with parameter `a`.
fn cubic(x: f64, a: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 {
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * a
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_of_rows_is_those_rows_of_the_whole_matrix() {
        for interpolation in [Interpolation::Bilinear, Interpolation::Bicubic] {
            for (input, output, rows) in [(2, 560, 168..392), (37, 16, 3..9), (300, 224, 0..224)] {
                let whole = antialiased(input, output, 0..output, interpolation, None);
                let part = antialiased(input, output, rows.clone(), interpolation, None);
                assert_eq!(part, whole[rows.start * input..rows.end * input]);
                let whole = plain(input, output, 0..output, interpolation, None);
                let part = plain(input, output, rows.clone(), interpolation, None);
                assert_eq!(part, whole[rows.start * input..rows.end * input]);
            }
        }
    }

    fn row_sums(matrix: &[f64], input: usize) -> Vec<f64> {
        matrix.chunks(input).map(|row| row.iter().sum()).collect()
    }

    #[test]
    fn rows_sum_to_one() {
        for (input, output) in [(37, 16), (37, 50), (224, 224), (300, 224), (5, 13)] {
            for interpolation in [Interpolation::Bilinear, Interpolation::Bicubic] {
                for matrix in [
                    antialiased(input, output, 0..output, interpolation, None),
                    plain(input, output, 0..output, interpolation, None),
                ] {
                    for sum in row_sums(&matrix, input) {
                        assert!((sum - 1.0).abs() < 1e-12, "{input}->{output}: {sum}");
                    }
                }
            }
        }
    }

    #[test]
    fn same_size_plain_is_identity() {
        let matrix = plain(7, 7, 0..7, Interpolation::Bicubic, None);
        for i in 0..7 {
            for j in 0..7 {
                let expected = if i == j { 1.0 } else { 0.0 };
                assert!((matrix[i * 7 + j] - expected).abs() < 1e-12);
            }
        }
    }
}
