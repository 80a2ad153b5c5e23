//! What the image reader converts and what it refuses (docs/guide/bad-inputs.md).
//! Fixtures: `scripts/reference/make_image_fixtures.py`.

use std::path::{Path, PathBuf};

use repalign_cli::error::CliError;
use repalign_cli::image_io::{self, DEFAULT_MAX_PIXELS, Rgb};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/images")
        .join(name)
}

fn decode(name: &str) -> Result<Rgb, CliError> {
    let path = fixture(name);
    let bytes = std::fs::read(&path).map_err(|e| CliError::Image {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    image_io::decode(&bytes, &path, DEFAULT_MAX_PIXELS)
}

/// Every pixel of every channel equals `rgb` (within `tolerance`).
fn assert_uniform(image: &Rgb, rgb: [f32; 3], tolerance: f32) {
    let plane = image.height * image.width;
    for (channel, &expected) in rgb.iter().enumerate() {
        for &value in &image.planar[channel * plane..(channel + 1) * plane] {
            assert!(
                (value - expected).abs() <= tolerance,
                "channel {channel}: {value} vs {expected}"
            );
        }
    }
}

fn refusal(name: &str) -> String {
    let error = decode(name).unwrap_err();
    assert!(matches!(error, CliError::Image { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains(name) && !message.contains('\n'), "{message}");
    message
}

#[test]
fn gray_is_replicated_to_three_channels() {
    let image = decode("gray.png").unwrap();
    assert_eq!((image.height, image.width), (8, 12));
    assert_uniform(&image, [128.0 / 255.0; 3], 1e-6);
}

#[test]
fn alpha_is_dropped_not_composited() {
    assert_uniform(&decode("gray_alpha.png").unwrap(), [64.0 / 255.0; 3], 1e-6);
    // Fully transparent, yet the colour is kept (PIL's convert("RGB") does the same).
    assert_uniform(
        &decode("rgba.png").unwrap(),
        [200.0 / 255.0, 100.0 / 255.0, 50.0 / 255.0],
        1e-6,
    );
}

#[test]
fn sixteen_bit_values_are_scaled_by_1_over_65535() {
    assert_uniform(&decode("gray16.png").unwrap(), [16384.0 / 65535.0; 3], 1e-6);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rgb16.png");
    image::ImageBuffer::<image::Rgb<u16>, _>::from_pixel(5, 3, image::Rgb([65535, 32768, 1]))
        .save(&path)
        .unwrap();
    let image = image_io::decode(&std::fs::read(&path).unwrap(), &path, DEFAULT_MAX_PIXELS).unwrap();
    assert_uniform(&image, [1.0, 32768.0 / 65535.0, 1.0 / 65535.0], 1e-6);
}

#[test]
fn palette_images_are_expanded() {
    assert_uniform(
        &decode("palette.png").unwrap(),
        [10.0 / 255.0, 20.0 / 255.0, 30.0 / 255.0],
        1e-6,
    );
}

#[test]
fn cmyk_jpeg_becomes_rgb() {
    // Pure red in CMYK; PIL decodes it to (255, 0, 0).
    assert_uniform(&decode("cmyk.jpg").unwrap(), [1.0, 0.0, 0.0], 0.03);
}

#[test]
fn exif_orientation_is_applied() {
    // Stored 12 wide and 8 high, left half white; orientation 6 turns it upright:
    // 8 wide, 12 high, top half white.
    let image = decode("exif_rotated.jpg").unwrap();
    assert_eq!((image.height, image.width), (12, 8));
    let at = |y: usize, x: usize| image.planar[y * image.width + x];
    assert!(
        at(1, 4) > 0.9 && at(10, 4) < 0.1,
        "top {} bottom {}",
        at(1, 4),
        at(10, 4)
    );
}

#[test]
fn broken_files_are_refused_with_the_file_named() {
    refusal("empty.png");
    refusal("garbage.png");
    refusal("truncated.png");
    let missing = image_io::load(
        &fixture("missing.png"),
        DEFAULT_MAX_PIXELS,
        &burn::tensor::Device::flex(),
    );
    let message = missing.unwrap_err().to_string();
    assert!(message.contains("missing.png"), "{message}");
}

#[test]
fn images_over_the_pixel_limit_are_refused_before_decoding() {
    let path = fixture("gray.png");
    let error = image_io::decode(&std::fs::read(&path).unwrap(), &path, 95).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("12x8 is 96 pixels, more than --max-pixels 95"),
        "{error}"
    );
    assert!(image_io::decode(&std::fs::read(&path).unwrap(), &path, 96).is_ok());
}
