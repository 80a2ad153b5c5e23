//! torchvision's tensor `Resize`, as two matmuls with exact resampling matrices.

use burn::tensor::{Device, Tensor, TensorData};

use super::resample::{self, Interpolation};

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
    pub fn apply(&self, image: Tensor<4>) -> Tensor<4> {
        let [_, _, height, width] = image.dims();
        let (out_h, out_w) = self.target.output_size(height, width);
        if (out_h, out_w) == (height, width) {
            return image;
        }
        let device = image.device();
        let rows = self.matrix(height, out_h, &device);
        let cols = self.matrix(width, out_w, &device).transpose();
        rows.matmul(image).matmul(cols)
    }

    /// The `(1, 1, out, in)` resampling matrix along one axis.
    fn matrix(&self, input: usize, output: usize, device: &Device) -> Tensor<4> {
        let weights = if self.antialias {
            resample::antialiased(input, output, self.interpolation, None)
        } else {
            resample::plain(input, output, self.interpolation, None)
        };
        resampling_matrix(weights, input, output, device)
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
