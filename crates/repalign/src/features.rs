//! The taps of one teacher pass over one batch of images (the seed's `MakeData`).

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
}
