//! torchvision's tensor `Resize`, as two matmuls with exact resampling matrices.

use burn::tensor::{Device, Tensor, TensorData};

use std::ops::Range;

use super::CenterCrop;
use super::resample::{self, Interpolation};
use crate::error::Result;

/// The size a [`Resize`] produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizeTarget {
    /// `Resize(S)`: the shorter side becomes `S`, the longer keeps the aspect ratio
    /// (truncated, as torchvision does).
    ShorterSide(usize),
    /// `Resize((H, W))`.
    Exact {
        /// Output height.
        height: usize,
        /// Output width.
        width: usize,
    },
}

impl ResizeTarget {
    /// Output `(height, width)` for an input of `(height, width)`.
    pub fn output_size(self, height: usize, width: usize) -> (usize, usize) {
        match self {
            ResizeTarget::Exact { height, width } => (height, width),
            ResizeTarget::ShorterSide(short) => {
                let (in_short, in_long) = (height.min(width), height.max(width));
                // Python: int(requested * long / short), a float division truncated.
                let long = (short as f64 * in_long as f64 / in_short as f64) as usize;
                if width <= height {
                    (long, short)
                } else {
                    (short, long)
                }
            }
        }
    }
}

/// `torchvision.transforms.Resize` on float tensors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resize {
    /// Output size rule.
    pub target: ResizeTarget,
    /// Kernel.
    pub interpolation: Interpolation,
    /// torchvision's `antialias` (default `true` since 0.17).
    pub antialias: bool,
}

impl Resize {
    /// `Resize(size, interpolation, antialias=True)` with the shorter side set to `size`.
    pub fn shorter_side(size: usize, interpolation: Interpolation) -> Self {
        Resize {
            target: ResizeTarget::ShorterSide(size),
            interpolation,
            antialias: true,
        }
    }

    /// Sets antialiasing.
    pub fn with_antialias(mut self, antialias: bool) -> Self {
        self.antialias = antialias;
        self
    }

    /// Resizes `(B, C, H, W)`; returns the input untouched when the size already fits.
    ///
    /// # Errors
    /// [`crate::Error::Shape`] when the input or the output would be empty.
    pub fn apply(&self, image: Tensor<4>) -> Result<Tensor<4>> {
        let [batch, channels, height, width] = image.dims();
        let (out_h, out_w) = if height == 0 || width == 0 {
            (0, 0)
        } else {
            self.target.output_size(height, width)
        };
        if out_h == 0 || out_w == 0 {
            return Err(crate::Error::Shape {
                argument: format!("resize to {:?}", self.target),
                expected: "a non-empty input and output".into(),
                actual: vec![batch, channels, height, width],
            });
        }
        Ok(self.apply_window(image, 0..out_h, 0..out_w))
    }

    /// Resizes, then keeps the centre `crop`, computing only the rows and columns the
    /// crop keeps: the same values as [`Resize::apply`] then [`CenterCrop::apply`],
    /// with memory bounded by the crop and the source, whatever the aspect ratio (a
    /// 2x5000 image resized to a shorter side of 224 would be 224x560000 pixels, and
    /// its column matrix 560000x5000).
    ///
    /// # Errors
    /// [`crate::Error::Shape`] when the resized image is smaller than the crop.
    pub(crate) fn apply_then_crop(&self, image: Tensor<4>, crop: &CenterCrop) -> Result<Tensor<4>> {
        let [batch, channels, height, width] = image.dims();
        let (out_h, out_w) = self.target.output_size(height, width);
        let (rows, cols) = crop.window([batch, channels, out_h, out_w])?;
        Ok(self.apply_window(image, rows, cols))
    }

    /// The rows `rows` and columns `cols` of the resized image.
    fn apply_window(&self, image: Tensor<4>, rows: Range<usize>, cols: Range<usize>) -> Tensor<4> {
        let [batch, channels, height, width] = image.dims();
        let (out_h, out_w) = self.target.output_size(height, width);
        if (out_h, out_w) == (height, width) {
            return if (rows.len(), cols.len()) == (height, width) {
                image
            } else {
                image.slice([0..batch, 0..channels, rows, cols])
            };
        }
        let device = image.device();
        let row_matrix = self.matrix(height, out_h, rows, &device);
        let col_matrix = self.matrix(width, out_w, cols, &device).transpose();
        row_matrix.matmul(image).matmul(col_matrix)
    }

    /// The rows `rows` of the `(1, 1, out, in)` resampling matrix along one axis.
    fn matrix(&self, input: usize, output: usize, rows: Range<usize>, device: &Device) -> Tensor<4> {
        let kept = rows.len();
        let weights = if self.antialias {
            resample::antialiased(input, output, rows, self.interpolation, None)
        } else {
            resample::plain(input, output, rows, self.interpolation, None)
        };
        resampling_matrix(weights, input, kept, device)
    }
}

/// Turns row-major f64 weights into a `(1, 1, out, in)` constant tensor.
pub(crate) fn resampling_matrix(
    weights: Vec<f64>,
    input: usize,
    output: usize,
    device: &Device,
) -> Tensor<4> {
    let weights: Vec<f32> = weights.into_iter().map(|w| w as f32).collect();
    Tensor::from_data(TensorData::new(weights, [1, 1, output, input]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorter_side_matches_torchvision() {
        let resize = ResizeTarget::ShorterSide(224);
        assert_eq!(resize.output_size(480, 640), (224, 298));
        assert_eq!(resize.output_size(640, 480), (298, 224));
        assert_eq!(resize.output_size(100, 100), (224, 224));
        assert_eq!(resize.output_size(333, 500), (224, 336));
    }
}
