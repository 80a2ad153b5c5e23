//! The raster pictures' text and layout: captions under side-by-side panels (the
//! training and study grids) and the text of the heat map's legend. Text is drawn by
//! plotters' bitmap backend straight onto the image, in the charts' embedded font
//! (`plot::font`), so a picture reads the same on every machine.

use std::path::Path;

use burn::tensor::Tensor;
use image::{Rgb, RgbImage};
use plotters::prelude::{BitMapBackend, IntoDrawingArea, IntoFont, RGBColor, TextStyle};
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::backend::tensor_values;
use crate::error::CliError;
use crate::output::write_png;
use crate::plot::font;

/// Which point of a text's top edge is put at the given position.
#[derive(Clone, Copy)]
pub enum Anchor {
    Left,
    Center,
    Right,
}

/// Draws one line of `text`, `size` pixels high, with its `anchor` at `at`.
pub fn draw_text(
    image: &mut RgbImage,
    text: &str,
    at: (i32, i32),
    size: f64,
    color: Rgb<u8>,
    anchor: Anchor,
) -> Result<(), CliError> {
    font::register()?;
    let (width, height) = image.dimensions();
    let horizontal = match anchor {
        Anchor::Left => HPos::Left,
        Anchor::Center => HPos::Center,
        Anchor::Right => HPos::Right,
    };
    let [r, g, b] = color.0;
    let color = RGBColor(r, g, b);
    let style = TextStyle::from((font::FAMILY, size).into_font())
        .color(&color)
        .pos(Pos::new(horizontal, VPos::Top));
    let root = BitMapBackend::with_buffer(image.as_mut(), (width, height)).into_drawing_area();
    root.draw_text(text, &style, at)
        .and_then(|()| root.present())
        .map_err(|e| CliError::Failed(format!("cannot draw the text `{text}`: {e}")))
}

/// The width and height `text` takes at `size` pixels.
pub fn text_size(text: &str, size: f64) -> Result<(u32, u32), CliError> {
    font::register()?;
    let mut pixel = [0u8; 3];
    let root = BitMapBackend::with_buffer(&mut pixel, (1, 1)).into_drawing_area();
    root.estimate_text_size(text, &TextStyle::from((font::FAMILY, size).into_font()))
        .map_err(|e| CliError::Failed(format!("cannot measure the text `{text}`: {e}")))
}

/// One image of a side-by-side strip and the lines under it (the first: what it is).
pub struct Panel {
    /// `(1, 3, H, W)` in [0, 1]; every panel of a strip has the same `H`.
    pub image: Tensor<4>,
    pub caption: Vec<String>,
}

/// Caption text size, and the space a caption line takes.
const CAPTION: f64 = 15.0;
const LINE: u32 = 19;
const GAP: u32 = 6;

/// Writes the panels next to each other, each drawn `scale` times its size (nearest
/// neighbour, so the pixels stay the pixels that were compared), with its caption
/// centred under it, as a PNG.
pub fn write_strip(path: &Path, panels: &[Panel], scale: u32) -> Result<(), CliError> {
    let scale = scale.max(1);
    let height = panels.first().map_or(0, |p| p.image.dims()[2]) as u32 * scale;
    let widths: Vec<u32> = panels.iter().map(|p| p.image.dims()[3] as u32 * scale).collect();
    let lines = panels.iter().map(|p| p.caption.len()).max().unwrap_or(0) as u32;
    let total = widths.iter().sum::<u32>() + GAP * (panels.len() as u32).saturating_sub(1);
    let mut canvas = RgbImage::from_pixel(total, height + GAP + lines * LINE + GAP, Rgb([255; 3]));
    let mut left = 0;
    for (panel, &width) in panels.iter().zip(&widths) {
        let [_, _, h, w] = panel.image.dims();
        let values = tensor_values(panel.image.clone())?;
        let plane = h * w;
        for y in 0..height.min(h as u32 * scale) {
            for x in 0..width {
                let i = (y / scale) as usize * w + (x / scale) as usize;
                let at = |c: usize| (values[c * plane + i].clamp(0.0, 1.0) * 255.0).round() as u8;
                canvas.put_pixel(left + x, y, Rgb([at(0), at(1), at(2)]));
            }
        }
        for (row, line) in panel.caption.iter().enumerate() {
            let color = if row == 0 { Rgb([0; 3]) } else { Rgb([70; 3]) };
            let at = (
                (left + width / 2) as i32,
                (height + GAP + row as u32 * LINE) as i32,
            );
            draw_text(&mut canvas, line, at, CAPTION, color, Anchor::Center)?;
        }
        left += width + GAP;
    }
    write_png(path, &canvas)
}
