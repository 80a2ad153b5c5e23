//! The taps of one teacher pass over one batch of images (the seed's `MakeData`).

use burn::tensor::Tensor;

use crate::error::{Error, Result};
use crate::taps::{Tap, TapInfo};

/// Recorded taps of one batch, in execution order.
///
/// Output-side features are on the autodiff tape when the image was; target-side
/// features ([`crate::RepAlignLoss::target_features`]) carry no tape and can be kept
/// and reused across training steps.
#[derive(Debug, Clone)]
pub struct Features {
    taps: Vec<Tap>,
    batch: usize,
}

impl Features {
    pub(crate) fn new(taps: Vec<Tap>, batch: usize) -> Self {
        Features { taps, batch }
    }

    /// Features from taps computed elsewhere (a teacher of your own, or taps you
    /// transformed); each value is `(B, C, L)` and its info's shape starts with `B`.
    ///
    /// # Errors
    /// [`Error::FeatureMismatch`] when there are no taps or they disagree on the batch size.
    pub fn from_taps(taps: Vec<Tap>) -> Result<Features> {
        let batch = taps
            .first()
            .map(|tap| tap.value.dims()[0])
            .ok_or_else(|| Error::FeatureMismatch("no taps".into()))?;
        for tap in &taps {
            if tap.value.dims()[0] != batch || tap.info.shape.first() != Some(&batch) {
                return Err(Error::FeatureMismatch(format!(
                    "tap `{}` has batch {} (shape {:?}), the first tap {batch}",
                    tap.info.name,
                    tap.value.dims()[0],
                    tap.info.shape
                )));
            }
        }
        Ok(Features::new(taps, batch))
    }

    /// The taps.
    pub fn taps(&self) -> &[Tap] {
        &self.taps
    }

    /// Name, kind and shape of every tap.
    pub fn infos(&self) -> Vec<TapInfo> {
        self.taps.iter().map(|tap| tap.info.clone()).collect()
    }

    /// Batch size of the images these features came from.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Number of taps.
    pub fn len(&self) -> usize {
        self.taps.len()
    }

    /// Whether no tap was recorded.
    pub fn is_empty(&self) -> bool {
        self.taps.is_empty()
    }

    /// Bytes held by the tap values (f32).
    pub fn bytes(&self) -> u64 {
        self.taps
            .iter()
            .map(|tap| tap.value.shape().num_elements() as u64 * 4)
            .sum()
    }

    /// One `Features` per batch row, each of batch 1.
    pub fn split(&self) -> Vec<Features> {
        (0..self.batch)
            .map(|row| {
                let taps = self
                    .taps
                    .iter()
                    .map(|tap| Tap {
                        info: with_batch(&tap.info, 1),
                        value: tap.value.clone().narrow(0, row, 1),
                    })
                    .collect();
                Features::new(taps, 1)
            })
            .collect()
    }

    /// Stacks features of the same taps along the batch dimension (the inverse of
    /// [`split`](Self::split)).
    ///
    /// # Errors
    /// [`Error::FeatureMismatch`] when `parts` is empty or the parts differ in tap
    /// names or per-sample shapes.
    pub fn concat(parts: &[Features]) -> Result<Features> {
        let first = parts
            .first()
            .ok_or_else(|| Error::FeatureMismatch("no features to concatenate".into()))?;
        if parts.len() == 1 {
            return Ok(first.clone());
        }
        let batch: usize = parts.iter().map(|part| part.batch).sum();
        let mut taps = Vec::with_capacity(first.len());
        for (index, tap) in first.taps.iter().enumerate() {
            let mut values = Vec::with_capacity(parts.len());
            for part in parts {
                let other = part.taps.get(index).ok_or_else(|| {
                    Error::FeatureMismatch(format!("{} taps vs {} taps", first.len(), part.len()))
                })?;
                if other.info.name != tap.info.name || other.info.shape[1..] != tap.info.shape[1..] {
                    return Err(Error::FeatureMismatch(format!(
                        "tap `{}` {:?} vs `{}` {:?} (all images of a batch must have the same size)",
                        tap.info.name, tap.info.shape, other.info.name, other.info.shape
                    )));
                }
                values.push(other.value.clone());
            }
            taps.push(Tap {
                info: with_batch(&tap.info, batch),
                value: Tensor::cat(values, 0),
            });
        }
        Ok(Features::new(taps, batch))
    }
}

fn with_batch(info: &TapInfo, batch: usize) -> TapInfo {
    let mut info = info.clone();
    if let Some(first) = info.shape.first_mut() {
        *first = batch;
    }
    info
}
