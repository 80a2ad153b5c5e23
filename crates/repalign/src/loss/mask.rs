//! Masks: how much each region of the image counts.
//!
//! A mask `(B, 1, H, W)` in `[0, 1]` lives in the output image's coordinates. It goes
//! through the image's resizes and crops (not its normalisation), and each tap sees it
//! at its own resolution: a conv tap `(B, C, h, w)` the mask average-pooled to `h`x`w`
//! (PyTorch's `adaptive_avg_pool2d`); a patch token the mean over its patch, a class or
//! register token the mean of the whole mask; a tap with no place in the image (a
//! Linear layer's vector) the mean of the whole mask.

use burn::tensor::Tensor;
use burn::tensor::module::adaptive_avg_pool2d;

use crate::error::{Error, Result};
use crate::host;
use crate::preprocess::Preprocess;
use crate::taps::{LayerKind, TapInfo};
use crate::teacher::TokenLayout;

/// A validated mask at the teacher's input size.
pub(crate) struct InputMask {
    /// `(B, 1, H, W)`, clamped to `[0, 1]` (bicubic resampling overshoots).
    values: Tensor<4>,
    /// Where the teacher's token taps sit in the image, if it has any.
    tokens: Option<TokenLayout>,
}

impl InputMask {
    /// Checks `mask` against the output image's shape `(B, 3, H, W)` and brings it to
    /// the teacher's input size. Reads the mask back once (its range and sums).
    ///
    /// # Errors
    /// [`Error::Shape`], [`Error::Dtype`], [`Error::NonFinite`] or [`Error::Mask`]
    /// (values outside `[0, 1]`; a sample whose mask is zero where the teacher looks).
    pub(crate) fn new(
        mask: &Tensor<4>,
        image: [usize; 4],
        preprocess: &Preprocess,
        tokens: impl FnOnce(usize, usize) -> Option<TokenLayout>,
    ) -> Result<Self> {
        let [batch, _, height, width] = image;
        let dims = mask.dims();
        if dims != [batch, 1, height, width] {
            return Err(Error::Shape {
                argument: "mask".into(),
                expected: format!("(B, 1, H, W) = ({batch}, 1, {height}, {width}), the output image's size"),
                actual: dims.to_vec(),
            });
        }
        let dtype = mask.dtype();
        if dtype != burn::tensor::DType::F32 {
            return Err(Error::Dtype {
                argument: "mask".into(),
                dtype: format!("{dtype:?}"),
            });
        }
        let mask = mask.clone().inner();
        let values = host::read(mask.clone())?;
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                argument: "mask".into(),
            });
        }
        if let Some(bad) = values.iter().find(|v| !(0.0..=1.0).contains(*v)) {
            return Err(Error::Mask(format!("values must lie in [0, 1], found {bad}")));
        }
        let per_sample = height * width;
        if let Some(sample) = (0..batch).find(|b| {
            values[b * per_sample..(b + 1) * per_sample]
                .iter()
                .all(|v| *v == 0.0)
        }) {
            return Err(Error::Mask(format!(
                "sample {sample} is zero everywhere: nothing would count"
            )));
        }
        // Resampling weights sum to one only up to f32 rounding: divided by the
        // resampled ones, a constant mask stays exactly constant (a mask of ones is
        // then exactly no mask), and any other changes by rounding only.
        let geometry = preprocess.geometry_only();
        let ones = geometry.apply(Tensor::ones_like(&mask))?;
        let values = (geometry.apply(mask)? / ones).clamp(0.0, 1.0);
        let [_, _, in_height, in_width] = values.dims();
        let sums = host::read(values.clone().sum_dim(3).sum_dim(2))?;
        if let Some(sample) = sums.iter().position(|s| *s <= 0.0) {
            return Err(Error::Mask(format!(
                "sample {sample} is zero everywhere in the {in_height}x{in_width} region the teacher sees (after resizing and cropping)"
            )));
        }
        Ok(InputMask {
            values,
            tokens: tokens(in_height, in_width),
        })
    }

    /// The weights a tap's `(B, C, L)` view gets, broadcastable to it: `(B, 1, h·w)`
    /// for a conv tap, `(B, h, w·C)` for a channels-last Linear tap `(B, h, w, C)`,
    /// `(B, T, 1)` for token taps, `(B, 1, 1)` otherwise.
    pub(crate) fn for_tap(&self, info: &TapInfo) -> Tensor<3> {
        let batch = self.values.dims()[0];
        let whole = || self.values.clone().mean_dim(3).mean_dim(2).reshape([batch, 1, 1]);
        match (info.shape.as_slice(), self.tokens) {
            // A Linear on a channels-last `(B, H, W, C)` tensor (ConvNeXt's blocks): its
            // `(B, H, W·C)` view weights each position's C values by the mask there.
            (&[_, h, w, channels], _) if info.kind == LayerKind::Linear => {
                let pooled: Tensor<4> =
                    adaptive_avg_pool2d(self.values.clone(), [h, w]).reshape([batch, h, w, 1]);
                pooled.repeat_dim(3, channels).reshape([batch, h, w * channels])
            }
            (&[_, _, h, w], _) => adaptive_avg_pool2d(self.values.clone(), [h, w]).reshape([batch, 1, h * w]),
            (&[_, tokens, _], Some(layout)) if tokens == layout.prefix + layout.rows * layout.cols => {
                let patches = adaptive_avg_pool2d(self.values.clone(), [layout.rows, layout.cols]).reshape([
                    batch,
                    layout.rows * layout.cols,
                    1,
                ]);
                if layout.prefix == 0 {
                    return patches;
                }
                let prefix = whole().repeat_dim(1, layout.prefix);
                Tensor::cat(vec![prefix, patches], 1)
            }
            _ => whole(),
        }
    }
}
