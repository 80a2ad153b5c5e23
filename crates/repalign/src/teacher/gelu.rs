//! `nn.GELU` (exact, erf-based) on the CPU backend in one vectorisable pass.
//!
//! burn's CPU GELU evaluates `erf` one element at a time through a branchy libm routine,
//! forward and again backward (with an `exp`): in the DINOv2 step that was a fifth of
//! the time. Here one loop the compiler vectorises computes `GELU(x)` and, when `x` is on
//! the tape, `GELU'(x)`, sharing one `exp(−x²/2)` between them; the derivative is
//! attached through a linear surrogate (see `on_host`). `erf` is Abramowitz & Stegun 7.1.26
//! (absolute error below 1.5e-7), the approximation PyTorch's own vectorised CPU `erf`
//! uses; the lower tail is taken from `erfc` directly, so it keeps its relative accuracy.

use burn::tensor::{DType, Tensor, TensorData};
use rayon::prelude::*;

use crate::host;

/// `GELU(input)` through the host kernel, or `None` when the backend is not the CPU
/// one or its values cannot be read (the caller then uses burn's op).
pub(crate) fn on_host<const D: usize>(input: &Tensor<D>) -> Option<Tensor<D>> {
    let device = input.device();
    // The kernel computes in f32: a half-precision teacher uses burn's op.
    if !host::is_flex(&device) || input.dtype() != DType::F32 {
        return None;
    }
    let shape = input.shape();
    let x = host::read(input.clone()).ok()?;
    let track = input.is_tracked();
    let mut value = vec![0.0f32; x.len()];
    let inner = device.clone().inner();
    if !track {
        gelu(&x, &mut value, None);
        return Some(Tensor::from_data(TensorData::new(value, shape), &inner));
    }
    let mut derivative = vec![0.0f32; x.len()];
    gelu(&x, &mut value, Some(&mut derivative));
    // `input · D + (GELU(x) − x · D)`: the bracket is a constant (computed here, in the
    // value buffer), so the gradient is `D`; two tape ops instead of the three of
    // `host::attach_gradient`, and the value is exact to rounding.
    for ((value, &x), &d) in value.iter_mut().zip(&x).zip(&derivative) {
        *value -= x * d;
    }
    let offset = Tensor::<D>::from_data(TensorData::new(value, shape.clone()), &inner);
    let derivative = Tensor::<D>::from_data(TensorData::new(derivative, shape), &inner);
    Some(input.clone() * derivative + offset)
}

/// Elements per parallel task.
const CHUNK: usize = 1 << 14;

/// `value = GELU(x)` and, if asked, `derivative = GELU'(x) = Φ(x) + x φ(x)`.
fn gelu(x: &[f32], value: &mut [f32], derivative: Option<&mut [f32]>) {
    match derivative {
        Some(derivative) => x
            .par_chunks(CHUNK)
            .zip(value.par_chunks_mut(CHUNK))
            .zip(derivative.par_chunks_mut(CHUNK))
            .for_each(|((x, value), derivative)| {
                for ((&x, value), derivative) in x.iter().zip(value).zip(derivative) {
                    let (cdf, density) = normal_cdf_and_density(x);
                    *value = x * cdf;
                    *derivative = cdf + x * density;
                }
            }),
        None => x
            .par_chunks(CHUNK)
            .zip(value.par_chunks_mut(CHUNK))
            .for_each(|(x, value)| {
                for (&x, value) in x.iter().zip(value) {
                    *value = x * normal_cdf_and_density(x).0;
                }
            }),
    }
}

/// `Φ(x)` and `φ(x)` of the standard normal distribution, branch-free.
#[inline(always)]
fn normal_cdf_and_density(x: f32) -> (f32, f32) {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [0.254_829_6, -0.284_496_74, 1.421_413_7, -1.453_152, 1.061_405_4];
    let z = x * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + P * z.abs());
    let poly = ((((A[4] * t + A[3]) * t + A[2]) * t + A[1]) * t + A[0]) * t;
    let gaussian = exp_non_positive(-z * z);
    // erfc(|z|) = poly · exp(−z²); Φ(x) = 1 − erfc(|z|)/2 above zero, erfc(|z|)/2 below.
    let half_erfc = 0.5 * poly * gaussian;
    let cdf = if x >= 0.0 { 1.0 - half_erfc } else { half_erfc };
    (cdf, gaussian * FRAC_1_SQRT_2PI)
}

/// `1/√(2π)`.
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// `exp(v)` for `v ≤ 0` (clamped at −87, where `f32` runs out of normal numbers), as
/// `2^k · exp(r)` with `|r| ≤ ln2/2` and a degree-7 Taylor polynomial (relative error
/// below 1e-8 before rounding); no branches, no library call.
#[inline(always)]
fn exp_non_positive(v: f32) -> f32 {
    // Adding and subtracting 1.5·2²³ rounds to the nearest integer in two exact steps.
    const ROUND: f32 = 12_582_912.0;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let v = v.max(-87.0);
    let k = (v * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = (v - k * LN2_HI) - k * LN2_LO;
    let mut p = 1.0 / 5040.0;
    for c in [1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = p * r + c;
    }
    let scale = f32::from_bits(((k as i32 + 127) as u32) << 23);
    p * scale
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData, activation};

    /// Points from −10 to 10, denser near zero, plus the edges of the clamps.
    fn points() -> Vec<f32> {
        let mut points: Vec<f32> = (-4000..=4000).map(|i| i as f32 / 400.0).collect();
        points.extend([-1e-30, 1e-30, 0.0, -0.0, -13.0, -20.0, -100.0, 30.0, 1e4, -1e4]);
        points
    }

    #[test]
    fn exp_matches_the_standard_library() {
        for i in 0..=8700 {
            let v = -(i as f32) / 100.0;
            let (got, want) = (super::exp_non_positive(v), v.exp());
            assert!((got - want).abs() <= 4e-7 * want, "exp({v}) = {got}, want {want}");
        }
    }

    #[test]
    fn value_and_gradient_match_burns_gelu() {
        let points = points();
        let device = Device::flex();
        let autodiff = device.clone().autodiff();
        let shape = [points.len()];
        let input =
            || Tensor::<1>::from_data(TensorData::new(points.clone(), shape), &autodiff).require_grad();

        let ours_input = input();
        let ours = super::on_host(&ours_input).expect("the default device is the CPU one");
        let ours_grad = ours_input.grad(&ours.clone().sum().backward()).expect("gradient");
        let burn_input = input();
        let burn = activation::gelu(burn_input.clone());
        let burn_grad = burn_input.grad(&burn.clone().sum().backward()).expect("gradient");

        let read = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().expect("f32");
        let (ours, burn, ours_grad, burn_grad) = (read(ours), read(burn), read(ours_grad), read(burn_grad));
        for (i, &x) in points.iter().enumerate() {
            let tolerance = 3e-7 * x.abs().max(1.0);
            assert!(
                (ours[i] - burn[i]).abs() <= tolerance,
                "GELU({x}) = {} vs {}",
                ours[i],
                burn[i]
            );
            assert!(
                (ours_grad[i] - burn_grad[i]).abs() <= 1e-6,
                "GELU'({x}) = {} vs {}",
                ours_grad[i],
                burn_grad[i]
            );
        }
    }

    #[test]
    fn untracked_input_gets_the_value_alone() {
        let device = Device::flex();
        let input = Tensor::<2>::from_data(TensorData::new(vec![-1.0f32, 0.5, 2.0, -3.0], [2, 2]), &device);
        let ours = super::on_host(&input)
            .expect("CPU")
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        let want = activation::gelu(input)
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        for (a, b) in ours.iter().zip(&want) {
            assert!((a - b).abs() <= 3e-7, "{a} vs {b}");
        }
    }
}
