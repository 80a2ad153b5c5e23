//! Images in and out of `(1, 3, H, W)` float tensors in [0, 1].
//!
//! What is converted (as PIL's `Image.open(f).convert("RGB")`, which the reference's
//! users call): gray is replicated to three channels; an alpha channel is dropped, not
//! composited; 16-bit values are scaled by 1/65535; palette images are expanded; CMYK
//! JPEGs are converted to RGB by the decoder; the EXIF orientation is applied, so the
//! image is the way up a photo viewer shows it. What is refused, with the file named:
//! a missing or unreadable file, an unknown or damaged format, an empty image, and an
//! image of more than `max_pixels` pixels (checked from the header, before decoding).

use std::io::Cursor;
use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use image::{DynamicImage, ImageDecoder, ImageReader};

use crate::error::CliError;

/// The default `--max-pixels`: 64 megapixels (8192 × 8192), 768 MiB as floats.
pub const DEFAULT_MAX_PIXELS: u64 = 1 << 26;

/// A decoded image: planar RGB in [0, 1], `3 × height × width` values.
#[derive(Debug, Clone, PartialEq)]
pub struct Rgb {
    pub height: usize,
    pub width: usize,
    pub planar: Vec<f32>,
}

impl Rgb {
    /// As a `(1, 3, H, W)` tensor on `device`.
    pub fn into_tensor(self, device: &Device) -> Tensor<4> {
        Tensor::from_data(
            TensorData::new(self.planar, [1, 3, self.height, self.width]),
            device,
        )
    }
}

/// Reads and decodes `path` into a `(1, 3, H, W)` tensor on `device`.
pub fn load(path: &Path, max_pixels: u64, device: &Device) -> Result<Tensor<4>, CliError> {
    let bytes = std::fs::read(path).map_err(|e| image_error(path, e))?;
    Ok(decode(&bytes, path, max_pixels)?.into_tensor(device))
}

/// Reads a mask (`--mask`): grey values in [0, 1] (colour is converted to luma, alpha
/// dropped), as a `(1, 1, H, W)` tensor on `device`. Same rules as [`load`].
pub fn load_mask(path: &Path, max_pixels: u64, device: &Device) -> Result<Tensor<4>, CliError> {
    let bytes = std::fs::read(path).map_err(|e| image_error(path, e))?;
    let grey = decode_image(&bytes, path, max_pixels)?.to_luma32f();
    let (width, height) = (grey.width() as usize, grey.height() as usize);
    // The luma weights add up to one ulp over 1 in f32: a white RGB pixel comes out as
    // 1.0000001, which the mask check would refuse.
    let values: Vec<f32> = grey.into_raw().into_iter().map(|v| v.clamp(0.0, 1.0)).collect();
    Ok(Tensor::from_data(
        TensorData::new(values, [1, 1, height, width]),
        device,
    ))
}

/// Decodes PNG or JPEG bytes; `origin` names them in errors.
pub fn decode(bytes: &[u8], origin: &Path, max_pixels: u64) -> Result<Rgb, CliError> {
    let rgb = decode_image(bytes, origin, max_pixels)?.to_rgb32f();
    let (width, height) = (rgb.width() as usize, rgb.height() as usize);
    let interleaved = rgb.into_raw();
    // HWC → CHW.
    let plane = width * height;
    let mut planar = vec![0.0f32; interleaved.len()];
    for (pixel, rgb) in interleaved.chunks_exact(3).enumerate() {
        for (channel, &value) in rgb.iter().enumerate() {
            planar[channel * plane + pixel] = value;
        }
    }
    Ok(Rgb {
        height,
        width,
        planar,
    })
}

/// The decoded image, upright, after the format and size checks.
fn decode_image(bytes: &[u8], origin: &Path, max_pixels: u64) -> Result<DynamicImage, CliError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| image_error(origin, e))?;
    if reader.format().is_none() {
        return Err(image_error(origin, "not a PNG or JPEG file"));
    }
    let mut decoder = reader.into_decoder().map_err(|e| image_error(origin, e))?;
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels == 0 {
        return Err(image_error(
            origin,
            format!("the image is empty ({width}x{height})"),
        ));
    }
    if pixels > max_pixels {
        return Err(image_error(
            origin,
            format!("{width}x{height} is {pixels} pixels, more than --max-pixels {max_pixels}"),
        ));
    }
    let orientation = decoder.orientation().map_err(|e| image_error(origin, e))?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| image_error(origin, e))?;
    image.apply_orientation(orientation);
    Ok(image)
}

fn image_error(path: &Path, reason: impl std::fmt::Display) -> CliError {
    CliError::Image {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}
