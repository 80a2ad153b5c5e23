//! Images in and out of `(1, 3, H, W)` float tensors in [0, 1].
//!
//! Any 8- or 16-bit PNG/JPEG decodes to RGB: gray is replicated to three channels,
//! 16-bit values are scaled by 1/65535, an alpha channel is dropped.

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};

use crate::error::CliError;

/// Decodes `path` into a `(1, 3, H, W)` tensor on `device`.
pub fn load(path: &Path, device: &Device) -> Result<Tensor<4>, CliError> {
    let image = image::ImageReader::open(path)
        .and_then(|reader| reader.with_guessed_format())
        .map_err(|e| CliError::Image {
            path: path.to_owned(),
            reason: e.to_string(),
        })?
        .decode()
        .map_err(|e| CliError::Image {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    let rgb = image.to_rgb32f();
    let (width, height) = (rgb.width() as usize, rgb.height() as usize);
    let interleaved = rgb.into_raw();
    // HWC → CHW.
    let mut planar = vec![0.0f32; interleaved.len()];
    let plane = width * height;
    for (pixel, rgb) in interleaved.chunks_exact(3).enumerate() {
        for (channel, &value) in rgb.iter().enumerate() {
            planar[channel * plane + pixel] = value;
        }
    }
    Ok(Tensor::from_data(
        TensorData::new(planar, [1, 3, height, width]),
        device,
    ))
}
