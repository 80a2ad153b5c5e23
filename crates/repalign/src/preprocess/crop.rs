//! torchvision's `CenterCrop`.

use std::ops::Range;

use burn::tensor::Tensor;

use crate::error::{Error, Result};

/// `CenterCrop((height, width))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CenterCrop {
    /// Output height.
    pub height: usize,
    /// Output width.
    pub width: usize,
}

impl CenterCrop {
    /// A square crop.
    pub fn square(size: usize) -> Self {
        CenterCrop {
            height: size,
            width: size,
        }
    }

    /// Crops the centre of `(B, C, H, W)`.
    ///
    /// # Errors
    /// [`Error::Shape`] when the image is smaller than the crop (torchvision would pad
    /// with zeros; comparing zero borders is never what a loss user wants).
    pub fn apply(&self, image: Tensor<4>) -> Result<Tensor<4>> {
        let [batch, channels, _, _] = image.dims();
        let (rows, cols) = self.window(image.dims())?;
        Ok(image.slice([0..batch, 0..channels, rows, cols]))
    }

    /// The rows and columns the crop keeps of a `(B, C, H, W)` image.
    ///
    /// # Errors
    /// [`Error::Shape`] when the image is smaller than the crop.
    pub(crate) fn window(
        &self,
        [batch, channels, height, width]: [usize; 4],
    ) -> Result<(Range<usize>, Range<usize>)> {
        if self.height > height || self.width > width {
            return Err(Error::Shape {
                argument: "image before center crop".into(),
                expected: format!("at least {}x{} pixels", self.height, self.width),
                actual: vec![batch, channels, height, width],
            });
        }
        let top = offset(height, self.height);
        let left = offset(width, self.width);
        Ok((top..top + self.height, left..left + self.width))
    }
}

/// torchvision: `int(round((size - crop) / 2.0))`; Python rounds halves to even.
fn offset(size: usize, crop: usize) -> usize {
    let half = (size - crop) as f64 / 2.0;
    half.round_ties_even() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_half_to_even_like_python() {
        assert_eq!(offset(225, 224), 0); // round(0.5) == 0
        assert_eq!(offset(227, 224), 2); // round(1.5) == 2
        assert_eq!(offset(229, 224), 2); // round(2.5) == 2
        assert_eq!(offset(298, 224), 37);
    }
}
