//! `--plot FILE.svg|FILE.png`: the loss layer by layer, drawn with plotters, in the
//! format the file's extension names. Two panels over the same layer axis: each
//! layer's weighted contribution `w_i S_i / Σ N` as bars (they add up to the loss), and
//! the PyTorch original's per-layer view, the mean `S_i / N_i` with the element count
//! `N_i` on a logarithmic second axis.

mod axis;
mod chart;
pub(crate) mod font;
pub(crate) mod labels;

use std::path::{Path, PathBuf};

use plotters::prelude::{BitMapBackend, DrawingBackend, IntoDrawingArea, SVGBackend};

use crate::error::CliError;

/// One layer's part of the loss, as [`repalign::LayerLoss`] has it (with `S_i` read
/// back); any values are drawn, non-finite ones as gaps.
pub struct Layer {
    pub name: String,
    /// `S_i`: the layer's sum of squared differences.
    pub sum: f64,
    /// `N_i`: the number of elements compared (a weighted count under a mask).
    pub elements: f64,
    /// `w_i`: the layer's weight.
    pub weight: f64,
}

#[derive(Clone, Copy, Debug)]
enum Format {
    Svg,
    Png,
}

/// Where the chart goes, in a format read off the extension: checked before the loss
/// is computed, so that a misnamed file fails at once.
#[derive(Debug)]
pub struct PlotFile {
    path: PathBuf,
    format: Format,
}

impl PlotFile {
    /// # Errors
    /// [`CliError::Usage`] unless the file is named `*.svg` or `*.png` (any case).
    pub fn new(path: &Path) -> Result<Self, CliError> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let format = match extension.as_deref() {
            Some("svg") => Format::Svg,
            Some("png") => Format::Png,
            _ => {
                return Err(CliError::Usage(format!(
                    "--plot writes .svg or .png files: name the file *.svg or *.png, not {}",
                    path.display()
                )));
            }
        };
        Ok(PlotFile {
            path: path.to_owned(),
            format,
        })
    }

    /// Draws the chart and writes it atomically (`output.rs`).
    ///
    /// # Errors
    /// [`CliError::Failed`] if plotters cannot draw it, [`CliError::Write`] if the file
    /// cannot be written.
    pub fn write(&self, title: &str, layers: &[Layer]) -> Result<(), CliError> {
        font::register()?;
        let (width, height) = chart::size(layers.len());
        match self.format {
            Format::Svg => {
                let mut svg = String::new();
                {
                    let root = SVGBackend::with_string(&mut svg, (width, height));
                    self.draw(root, title, layers)?;
                }
                crate::output::write_file(&self.path, svg.as_bytes())
            }
            Format::Png => {
                let mut pixels = vec![0; width as usize * height as usize * 3];
                {
                    let root = BitMapBackend::with_buffer(&mut pixels, (width, height));
                    self.draw(root, title, layers)?;
                }
                let image = image::RgbImage::from_raw(width, height, pixels).ok_or_else(|| {
                    CliError::Failed("the plot's pixel buffer does not match its size".into())
                })?;
                crate::output::write_png(&self.path, &image)
            }
        }
    }

    fn draw<DB: DrawingBackend>(&self, backend: DB, title: &str, layers: &[Layer]) -> Result<(), CliError> {
        chart::draw(&backend.into_drawing_area(), title, layers)
            .map_err(|e| CliError::Failed(format!("cannot draw the plot {}: {e}", self.path.display())))
    }
}
