//! How each tap is normalised and how the per-layer distances are combined.

use burn::tensor::{Device, FloatDType};

use crate::error::{Error, Result};

/// Layer weights `w_i` over the `n` taps (SPEC §4).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Weighting {
    /// Every layer counts once: `loss = Σ S_i / Σ N_i`.
    #[default]
    None,
    /// The seed's `use_weight=True`: `w_i = exp(0.1 i) / Σ_j exp(0.1 j)`.
    Exp,
    /// Later upstream versions: `w_i = (i + 1) / (n + 1)`.
    Linear,
    /// One weight per tap, in tap order.
    Custom(Vec<f64>),
}

impl Weighting {
    /// The weights for `n` taps.
    ///
    /// # Errors
    /// [`Error::Config`] when a custom list has the wrong length or a non-finite entry.
    pub fn weights(&self, n: usize) -> Result<Vec<f64>> {
        Ok(match self {
            Weighting::None => vec![1.0; n],
            Weighting::Exp => {
                let raw: Vec<f64> = (0..n).map(|i| (0.1 * i as f64).exp()).collect();
                let total: f64 = raw.iter().sum();
                raw.into_iter().map(|w| w / total).collect()
            }
            Weighting::Linear => (0..n).map(|i| (i + 1) as f64 / (n + 1) as f64).collect(),
            Weighting::Custom(weights) => {
                if weights.len() != n {
                    return Err(Error::Config(format!(
                        "custom weighting has {} weights but the teacher records {n} taps",
                        weights.len()
                    )));
                }
                if let Some(bad) = weights.iter().find(|w| !w.is_finite()) {
                    return Err(Error::Config(format!("custom weight {bad} is not finite")));
                }
                weights.clone()
            }
        })
    }

    /// Parses `none`, `exp` or `linear`.
    pub fn parse(name: &str) -> Option<Weighting> {
        match name.to_ascii_lowercase().as_str() {
            "none" => Some(Weighting::None),
            "exp" => Some(Weighting::Exp),
            "linear" => Some(Weighting::Linear),
            _ => None,
        }
    }
}

/// How a tap's features are L2-normalised before they are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalization {
    /// The first published version (SPEC §3): each `(B, C, L)` tap is zero-padded along
    /// `L` to whole groups of `size` neighbours, each group divided by
    /// `max(‖group‖₂, 1e-12)`; `S_i` sums the squared differences, `N_i` counts the
    /// padded elements.
    Groups {
        /// Neighbours per group (≥ 1).
        size: usize,
    },
    /// The original's current version: each sample's tap as a whole is divided by
    /// `‖x‖₂ + 1e-8` (a constant for autodiff), `l_b` is the mean squared difference
    /// over the sample's elements, `S_i = Σ_b l_b` and `N_i = B`.
    Sample,
}

impl Default for Normalization {
    /// Groups of 2: the seed's default.
    fn default() -> Self {
        Normalization::Groups { size: 2 }
    }
}

/// The floating-point type the teacher computes in. The loss itself (normalisation, sums)
/// and the gradient into the student's output stay in f32 whatever the teacher's.
///
/// In half precision the whole teacher pass runs in that type (the input is cast after
/// preprocessing; the weights stay f32 in memory and are cast as each layer meets them,
/// as `torch.autocast` casts them), except LayerNorm and softmax, which compute in f32
/// as autocast runs them; each tap is cast back to f32 for the loss. How far that is
/// from the f32 loss is measured, not assumed: see docs/guide/backends.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// Single precision, as the PyTorch original.
    #[default]
    F32,
    /// IEEE half precision (5 exponent bits, 10 of mantissa). For values: measured, its
    /// range cannot hold a loss's gradients (whole-sample ones vanish), so do not train
    /// with it (`repalign train` refuses it).
    F16,
    /// bfloat16 (f32's exponent range, 7 bits of mantissa). Measured, its gradient is
    /// close to f32's only with [`Normalization::Sample`]: the group normalisation's
    /// gradient scales with 1/‖pair‖ and turns bf16's rounding in small pairs into
    /// gradients far from f32's (`repalign train` refuses bf16 with groups).
    Bf16,
}

impl Precision {
    /// `f32`, `f16` or `bf16`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
        }
    }

    /// Whether `device` computes in this precision (storage, conversion and arithmetic):
    /// where it does not, the loss refuses the setting with [`Error::Device`].
    pub fn is_supported_on(self, device: &Device) -> bool {
        device.supports_dtype(self.dtype())
    }

    /// burn's dtype for it.
    pub(crate) fn dtype(self) -> FloatDType {
        match self {
            Precision::F32 => FloatDType::F32,
            Precision::F16 => FloatDType::F16,
            Precision::Bf16 => FloatDType::BF16,
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Loss configuration: normalisation, weighting and the teacher's precision.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LossConfig {
    normalization: Normalization,
    weighting: Weighting,
    teacher_precision: Precision,
}

impl LossConfig {
    /// Groups of this many neighbours (≥ 1): shorthand for
    /// [`with_normalization`](Self::with_normalization)`(Normalization::Groups { size })`.
    ///
    /// # Errors
    /// [`Error::Config`] for 0.
    pub fn with_group_size(self, size: usize) -> Result<Self> {
        self.with_normalization(Normalization::Groups { size })
    }

    /// How taps are normalised.
    ///
    /// # Errors
    /// [`Error::Config`] for groups of 0.
    pub fn with_normalization(mut self, normalization: Normalization) -> Result<Self> {
        if normalization == (Normalization::Groups { size: 0 }) {
            return Err(Error::Config("group size must be at least 1".into()));
        }
        self.normalization = normalization;
        Ok(self)
    }

    /// Layer weighting.
    pub fn with_weighting(mut self, weighting: Weighting) -> Self {
        self.weighting = weighting;
        self
    }

    /// The precision the teacher computes in (default f32). A device that cannot compute
    /// in it makes every loss call an [`Error::Device`].
    pub fn with_teacher_precision(mut self, precision: Precision) -> Self {
        self.teacher_precision = precision;
        self
    }

    /// The teacher's precision.
    pub fn teacher_precision(&self) -> Precision {
        self.teacher_precision
    }

    /// How taps are normalised.
    pub fn normalization(&self) -> Normalization {
        self.normalization
    }

    /// The weighting.
    pub fn weighting(&self) -> &Weighting {
        &self.weighting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_weights_sum_to_one_and_grow() {
        let w = Weighting::Exp.weights(5).unwrap();
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(w.windows(2).all(|p| p[1] > p[0]));
    }

    #[test]
    fn linear_weights_match_upstream() {
        assert_eq!(Weighting::Linear.weights(3).unwrap(), vec![0.25, 0.5, 0.75]);
    }

    #[test]
    fn custom_weights_must_match_tap_count() {
        let err = Weighting::Custom(vec![1.0, 2.0]).weights(3).unwrap_err();
        assert!(
            err.to_string()
                .contains("2 weights but the teacher records 3 taps")
        );
        assert!(Weighting::Custom(vec![f64::NAN]).weights(1).is_err());
    }

    #[test]
    fn group_size_zero_is_refused() {
        assert!(LossConfig::default().with_group_size(0).is_err());
    }
}
