//! How the per-layer distances are combined: group size and layer weights.

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

/// Loss configuration: group size and weighting.
#[derive(Debug, Clone, PartialEq)]
pub struct LossConfig {
    group_size: usize,
    weighting: Weighting,
}

impl Default for LossConfig {
    /// Groups of 2, no weights: the seed's defaults.
    fn default() -> Self {
        LossConfig {
            group_size: 2,
            weighting: Weighting::None,
        }
    }
}

impl LossConfig {
    /// Features are L2-normalised in groups of this many neighbours (≥ 1).
    ///
    /// # Errors
    /// [`Error::Config`] for 0.
    pub fn with_group_size(mut self, group_size: usize) -> Result<Self> {
        if group_size == 0 {
            return Err(Error::Config("group size must be at least 1".into()));
        }
        self.group_size = group_size;
        Ok(self)
    }

    /// Layer weighting.
    pub fn with_weighting(mut self, weighting: Weighting) -> Self {
        self.weighting = weighting;
        self
    }

    /// The group size.
    pub fn group_size(&self) -> usize {
        self.group_size
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
