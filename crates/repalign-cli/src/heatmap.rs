//! `--heatmap FILE.png`: the per-pixel loss contributions drawn over the output image
//! as the teacher saw it (resized and cropped, before normalisation), with the loss in
//! the corner and a colour bar that says what the colours measure.

use std::path::Path;

use burn::tensor::Tensor;
use image::{Rgb, RgbImage};
use repalign::{Features, RepAlignLoss};

use crate::backend::tensor_values;
use crate::error::CliError;
use crate::output::write_png;
use crate::picture::{Anchor, draw_text, text_size};
use crate::plot::labels::number;

/// The map is drawn an integer number of times the teacher's input size, at least this
/// wide, so that the legend's text fits and a small input stays visible.
const MIN_WIDTH: usize = 384;
const MAX_SCALE: usize = 16;
/// The legend under the map: margins, the colour bar, and its lines of text.
const MARGIN: u32 = 10;
const BAR: u32 = 14;
const TEXT: f64 = 13.0;
const LINE: u32 = 17;
const LEGEND: u32 = MARGIN + BAR + 4 + 3 * LINE + MARGIN;

/// Renders the heat map of one pair over `output` (the image in [0, 1]) and writes it;
/// `value` is the pair's loss, printed in the corner.
pub fn write(
    path: &Path,
    loss: &RepAlignLoss,
    output: &Tensor<4>,
    output_features: &Features,
    target_features: &Features,
    value: f64,
) -> Result<(), CliError> {
    let view = loss.preprocess().geometry_only().apply(output.clone().inner())?;
    let [_, _, height, width] = view.dims();
    let heat = loss.heatmap(output_features, target_features, height, width)?;
    let heat = tensor_values(heat.inner().slice([0..1, 0..height, 0..width]))?;
    let pixels = tensor_values(view)?;
    let peak = heat.iter().copied().fold(0.0f32, f32::max);
    let plane = height * width;
    let gray: Vec<f32> = (0..plane)
        .map(|i| {
            (0.299 * pixels[i] + 0.587 * pixels[plane + i] + 0.114 * pixels[2 * plane + i]).clamp(0.0, 1.0)
        })
        .collect();
    let (low, high) = spread(&gray);

    let scale = MIN_WIDTH.div_ceil(width).clamp(1, MAX_SCALE);
    let (map_width, map_height) = ((width * scale) as u32, (height * scale) as u32);
    let mut image = RgbImage::from_pixel(map_width, map_height + LEGEND, Rgb([255; 3]));
    for y in 0..map_height {
        for x in 0..map_width {
            let i = (y as usize / scale) * width + x as usize / scale;
            // The photo's own tonal range stretched to a dim band, so that dark and
            // light photos alike show their shapes under the heat and neither drowns it.
            let photo = 0.08 + 0.5 * ((gray[i] - low) / (high - low).max(1e-6)).clamp(0.0, 1.0);
            let t = if peak > 0.0 {
                (heat[i] / peak).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let (r, g, b) = colormap(t);
            // The heat over the photo in proportion to its strength.
            let alpha = 0.2 + 0.7 * t;
            let mix = |c: f32| (((1.0 - alpha) * photo + alpha * c) * 255.0).round() as u8;
            image.put_pixel(x, y, Rgb([mix(r), mix(g), mix(b)]));
        }
    }
    corner_label(&mut image, &format!("loss {}", number(value)))?;
    legend(&mut image, map_height, f64::from(peak))?;
    write_png(path, &image)
}

/// The 2nd and 98th percentiles of the photo's gray values.
fn spread(gray: &[f32]) -> (f32, f32) {
    let mut sorted = gray.to_vec();
    sorted.sort_by(f32::total_cmp);
    let at = |q: f32| {
        sorted
            .get(((sorted.len().max(1) - 1) as f32 * q) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    (at(0.02), at(0.98))
}

/// White text on a darkened box in the map's top-left corner: readable on any photo.
fn corner_label(image: &mut RgbImage, text: &str) -> Result<(), CliError> {
    let (width, height) = text_size(text, TEXT)?;
    let (box_width, box_height) = ((width + 12).min(image.width()), height + 8);
    for y in 0..box_height.min(image.height()) {
        for x in 0..box_width {
            let Rgb([r, g, b]) = *image.get_pixel(x, y);
            let dim = |c: u8| (f32::from(c) * 0.3).round() as u8;
            image.put_pixel(x, y, Rgb([dim(r), dim(g), dim(b)]));
        }
    }
    draw_text(image, text, (6, 4), TEXT, Rgb([255; 3]), Anchor::Left)
}

/// Under the map: the colour ramp from no contribution to the map's peak, its scale,
/// and what the values are.
fn legend(image: &mut RgbImage, top: u32, peak: f64) -> Result<(), CliError> {
    let width = image.width();
    let bar_top = top + MARGIN;
    let bar_width = width.saturating_sub(2 * MARGIN).max(1);
    for x in 0..bar_width {
        let (r, g, b) = colormap(x as f32 / (bar_width - 1).max(1) as f32);
        let to_byte = |c: f32| (c * 255.0).round() as u8;
        for y in bar_top..bar_top + BAR {
            image.put_pixel(MARGIN + x, y, Rgb([to_byte(r), to_byte(g), to_byte(b)]));
        }
    }
    let ticks_top = (bar_top + BAR + 4) as i32;
    let black = Rgb([0; 3]);
    let (left, right) = (MARGIN as i32, (MARGIN + bar_width) as i32);
    draw_text(image, "0", (left, ticks_top), TEXT, black, Anchor::Left)?;
    draw_text(
        image,
        &number(peak / 2.0),
        ((left + right) / 2, ticks_top),
        TEXT,
        black,
        Anchor::Center,
    )?;
    draw_text(
        image,
        &number(peak),
        (right, ticks_top),
        TEXT,
        black,
        Anchor::Right,
    )?;
    let lines = [
        "each pixel's part of the loss: w·‖Δ‖²/ΣN over the spatial taps",
        "dark: the two images agree there; bright: they differ most",
    ];
    for (row, line) in lines.iter().enumerate() {
        // Shrunk where the map is too narrow for the line at full size.
        let (line_width, _) = text_size(line, TEXT)?;
        let size = TEXT * (f64::from(bar_width) / f64::from(line_width.max(1))).min(1.0);
        let at = (left, ticks_top + (LINE * (row as u32 + 1)) as i32);
        draw_text(image, line, at, size, Rgb([60; 3]), Anchor::Left)?;
    }
    Ok(())
}

/// A dark-to-bright "inferno"-like ramp: black, purple, orange, yellow.
fn colormap(t: f32) -> (f32, f32, f32) {
    let stops = [
        (0.0, (0.0, 0.0, 0.02)),
        (0.35, (0.45, 0.06, 0.43)),
        (0.7, (0.93, 0.41, 0.15)),
        (1.0, (0.99, 0.99, 0.64)),
    ];
    for pair in stops.windows(2) {
        let ((t0, c0), (t1, c1)) = (pair[0], pair[1]);
        if t <= t1 {
            let f = (t - t0) / (t1 - t0);
            return (
                c0.0 + f * (c1.0 - c0.0),
                c0.1 + f * (c1.1 - c0.1),
                c0.2 + f * (c1.2 - c0.2),
            );
        }
    }
    stops[3].1
}
