//! What a loss evaluation returns: the scalar for `backward()` and its parts.

use burn::tensor::Tensor;

use crate::error::{Error, Result};
use crate::taps::TapInfo;

/// One layer's share of the loss.
#[derive(Debug, Clone)]
pub struct LayerLoss {
    /// Which tap.
    pub info: TapInfo,
    /// `S_i`: with groups, the sum of squared differences of the normalised groups
    /// (mask-weighted); with whole samples, the sum over the batch of each sample's
    /// mean squared difference. One element, on the autodiff tape when the output
    /// features are.
    pub sum: Tensor<1>,
    /// `N_i`: with groups, the number of compared elements, padding included (with a
    /// mask, each group counted with its weight, so not always a whole number); with
    /// whole samples, the batch size.
    pub elements: f64,
    /// `w_i`: this layer's weight.
    pub weight: f64,
}

/// The loss and how it decomposes: `total = Σ w_i S_i / Σ N_i`.
#[derive(Debug, Clone)]
pub struct LossReport {
    /// The scalar loss, one element; call `backward()` on it.
    pub total: Tensor<1>,
    /// Per-layer parts, in tap order.
    pub layers: Vec<LayerLoss>,
}

impl LossReport {
    /// Total number of compared elements, `Σ N_i`.
    pub fn elements(&self) -> f64 {
        self.layers.iter().map(|layer| layer.elements).sum()
    }

    /// The loss as a number (reads the tensor back from the device).
    ///
    /// # Errors
    /// [`Error::Backend`] when the device cannot be read.
    pub fn value(&self) -> Result<f64> {
        scalar(&self.total)
    }

    /// Every `S_i` as a number, in tap order (one read-back).
    ///
    /// # Errors
    /// [`Error::Backend`] when the device cannot be read.
    pub fn layer_sums(&self) -> Result<Vec<f64>> {
        if self.layers.is_empty() {
            return Ok(Vec::new());
        }
        let sums = Tensor::cat(self.layers.iter().map(|l| l.sum.clone()).collect(), 0);
        let values = sums
            .into_data()
            .convert::<f64>()
            .try_into_vec::<f64>()
            .map_err(|e| Error::Backend(format!("{e:?}")))?;
        Ok(values)
    }
}

fn scalar(tensor: &Tensor<1>) -> Result<f64> {
    tensor
        .to_data()
        .convert::<f64>()
        .try_into_vec::<f64>()
        .map_err(|e| Error::Backend(format!("{e:?}")))?
        .first()
        .copied()
        .ok_or_else(|| Error::Backend("empty scalar tensor".into()))
}
