//! Where in the image the distance comes from.

use burn::tensor::Tensor;

use super::grouped::grouped_distance_map;
use super::sample::sample_distance_map;
use super::{Normalization, RepAlignLoss};
use crate::error::{Error, Result};
use crate::features::Features;
use crate::preprocess::resample::{self, Interpolation};
use crate::preprocess::resize::resampling_matrix;
use crate::taps::LayerKind;

impl RepAlignLoss {
    /// Per-pixel contributions to the loss, `(B, height, width)`: for every spatial tap
    /// (a conv's `(B, C, H_i, W_i)`, or a Linear's channels-last `(B, H_i, W_i, C)` as in
    /// ConvNeXt), the squared differences of its normalised groups summed over channels
    /// (whole samples: divided by the sample's element count), scaled by `w_i / Σ N`,
    /// bilinearly upsampled to `height`x`width` (the teacher's input size) and summed
    /// over taps. Token and vector taps have no place in the image and are left out.
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
            let channels_last = out.info.kind == LayerKind::Linear;
            let [batch, tap_h, tap_w, channels] = match out.info.shape[..] {
                [b, h, w, c] if channels_last => [b, h, w, c],
                [b, c, h, w] => [b, h, w, c],
                _ => continue,
            };
            let (output, target) = (out.value.clone(), tgt.value.clone().detach());
            let elements = match self.config.normalization() {
                Normalization::Groups { size } => grouped_distance_map(output, target, size),
                Normalization::Sample => sample_distance_map(output, target),
            };
            let map: Tensor<4> = if channels_last {
                let per_position: Tensor<4> = elements.reshape([batch, tap_h, tap_w, channels]).sum_dim(3);
                per_position.reshape([batch, 1, tap_h, tap_w])
            } else {
                let per_position: Tensor<3> = elements.sum_dim(1);
                per_position.reshape([batch, 1, tap_h, tap_w])
            };
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
        heat.ok_or_else(|| {
            Error::Config("no spatial tap (a conv, or a channels-last Linear) to draw a heat map from".into())
        })
    }
}
