//! `--heatmap FILE.png`: the per-pixel loss contributions drawn over the output image
//! as the teacher saw it (resized and cropped, before normalisation).

use std::path::Path;

use burn::tensor::Tensor;
use repalign::{Features, RepAlignLoss};

use crate::backend::tensor_values;
use crate::error::CliError;
use crate::output::write_png;

/// Renders the heat map of one pair over `output` (the image in [0, 1]) and writes it.
pub fn write(
    path: &Path,
    loss: &RepAlignLoss,
    output: &Tensor<4>,
    output_features: &Features,
    target_features: &Features,
) -> Result<(), CliError> {
    let view = loss.preprocess().geometry_only().apply(output.clone().inner())?;
    let [_, _, height, width] = view.dims();
    let heat = loss.heatmap(output_features, target_features, height, width)?;
    let heat = tensor_values(heat.inner().slice([0..1, 0..height, 0..width]))?;
    let pixels = tensor_values(view)?;
    let peak = heat.iter().copied().fold(0.0f32, f32::max).max(f32::MIN_POSITIVE);
    let plane = height * width;
    let image = image::RgbImage::from_fn(width as u32, height as u32, |x, y| {
        let i = y as usize * width + x as usize;
        let gray =
            (0.299 * pixels[i] + 0.587 * pixels[plane + i] + 0.114 * pixels[2 * plane + i]).clamp(0.0, 1.0);
        let t = (heat[i] / peak).clamp(0.0, 1.0);
        let (r, g, b) = colormap(t);
        // Dim the photo, then lay the heat over it in proportion to its strength.
        let alpha = 0.25 + 0.6 * t;
        let mix = |c: f32| (((1.0 - alpha) * 0.6 * gray + alpha * c) * 255.0).round() as u8;
        image::Rgb([mix(r), mix(g), mix(b)])
    });
    write_png(path, &image)
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
