//! Where in the image the distance comes from.

use burn::tensor::Tensor;

use super::grouped::grouped_distance_map;
use super::sample::sample_distance_map;
use super::{Normalization, RepAlignLoss};
use crate::error::{Error, Result};
use crate::features::Features;
use crate::preprocess::resample::{self, Interpolation};
use crate::preprocess::resize::resampling_matrix;

impl RepAlignLoss {
    /// Per-pixel contributions to the loss, `(B, height, width)`: for every spatial tap
    /// `(B, C, H_i, W_i)`, the squared differences of its normalised groups summed over
    /// channels (whole samples: divided by the sample's element count), scaled by
    /// `w_i / Σ N`, bilinearly upsampled to `height`x`width` (the
    /// teacher's input size) and summed over taps. Token and vector taps (Linear
    /// layers) have no place in the image and are left out.
    ///
    /// # Errors
    /// As [`loss`](Self::loss); [`Error::Config`] when no tap is spatial.
    pub fn heatmap(
        &self,
        output: &Features,
        target: &Features,
        height: usize,
        width: usize,
    ) -> Result<Tensor<3>> {
        let report = self.loss(output, target)?;
        let total = report.elements();
        let mut heat: Option<Tensor<3>> = None;
        for ((out, tgt), layer) in output.taps().iter().zip(target.taps()).zip(&report.layers) {
            let [batch, _, tap_h, tap_w] = match out.info.shape[..] {
                [b, c, h, w] => [b, c, h, w],
                _ => continue,
            };
            let (output, target) = (out.value.clone(), tgt.value.clone().detach());
            let map = match self.config.normalization() {
                Normalization::Groups { size } => grouped_distance_map(output, target, size),
                Normalization::Sample => sample_distance_map(output, target),
            }
            .reshape([batch, 1, tap_h, tap_w]);
            let device = map.device();
            let rows = resampling_matrix(
                resample::plain(tap_h, height, 0..height, Interpolation::Bilinear, None),
                tap_h,
                height,
                &device,
            );
            let cols = resampling_matrix(
                resample::plain(tap_w, width, 0..width, Interpolation::Bilinear, None),
                tap_w,
                width,
                &device,
            )
            .transpose();
            let up: Tensor<3> =
                (rows.matmul(map).matmul(cols) * (layer.weight / total)).reshape([batch, height, width]);
            heat = Some(match heat {
                Some(sum) => sum + up,
                None => up,
            });
        }
        heat.ok_or_else(|| Error::Config("no spatial (Conv2d) tap to draw a heat map from".into()))
    }
}
