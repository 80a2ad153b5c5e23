//! Held-out evaluation: PSNR and the RepAlign distance under each judging teacher,
//! for bicubic upsampling and every trained student, plus side-by-side images.

use std::fmt::Write as _;
use std::path::Path;

use burn::module::Module;
use burn::tensor::Tensor;
use repalign::RepAlignLoss;
use repalign::judge::Judge;

use super::data::HeldOut;
use super::student::{Student, upsample};
use crate::backend::tensor_values;
use crate::error::CliError;
use crate::picture::{self, Panel};

/// Scores every method on every held-out photo, writes `<photo>_compare.png`
/// (input upsampled bicubically | each student in training order | ground truth) and
/// `<photo>_detail.png` (the same, centre crops, drawn twice their size), each panel
/// captioned with its method, PSNR and (given `lpips`) LPIPS against the ground truth,
/// and returns the markdown table of the means.
pub fn evaluate(
    trained: &[(String, Student)],
    held_out: &[HeldOut],
    judges: &[(String, RepAlignLoss)],
    lpips: Option<&Judge>,
    out: &Path,
) -> Result<String, CliError> {
    let students: Vec<(&str, Student)> = trained
        .iter()
        .map(|(name, s)| (name.as_str(), s.valid()))
        .collect();
    let mut methods: Vec<&str> = vec!["bicubic"];
    methods.extend(students.iter().map(|(name, _)| *name));
    // scores[method] = (PSNR sum, distance sums per judge)
    let mut scores = vec![(0.0, vec![0.0; judges.len()]); methods.len()];
    for photo in held_out {
        let mut panels = Vec::with_capacity(methods.len() + 1);
        panels.push(upsample(photo.low.clone())?.clamp(0.0, 1.0));
        for (_, student) in &students {
            panels.push(student.forward(photo.low.clone())?.clamp(0.0, 1.0));
        }
        for (method, output) in panels.iter().enumerate() {
            scores[method].0 += psnr(output, &photo.high)?;
            for (judge, (_, loss)) in judges.iter().enumerate() {
                scores[method].1[judge] += loss.loss_for(output, &photo.high)?.value()?;
            }
        }
        panels.push(photo.high.clone());
        let mut names = methods.clone();
        names.push("ground truth");
        let detail: Vec<Tensor<4>> = panels.iter().map(|p| center(p, DETAIL)).collect();
        let compare = out.join(format!("{}_compare.png", photo.name));
        picture::write_strip(&compare, &captioned(&names, panels, lpips)?, 1)?;
        let detail_file = out.join(format!("{}_detail.png", photo.name));
        picture::write_strip(&detail_file, &captioned(&names, detail, lpips)?, 2)?;
    }

    let count = held_out.len().max(1) as f64;
    let mut table = String::from("| method | PSNR (dB) ↑ |");
    for (index, (name, _)) in judges.iter().enumerate() {
        let role = if index == 0 { "trained with" } else { "judge" };
        let _ = write!(table, " RepAlign {name} ({role}) ↓ |");
    }
    table.push_str("\n|---|---:|");
    table.push_str(&"---:|".repeat(judges.len()));
    for (method, (psnr_sum, distances)) in methods.iter().zip(&scores) {
        let _ = write!(table, "\n| {method} | {:.2} |", psnr_sum / count);
        for distance in distances {
            let _ = write!(table, " {:.4} |", distance / count);
        }
    }
    table.push('\n');
    Ok(table)
}

/// Side of the centre crops in `<photo>_detail.png`.
const DETAIL: usize = 160;

/// The central `side`×`side` pixels (or less, for a smaller image).
pub(super) fn center(image: &Tensor<4>, side: usize) -> Tensor<4> {
    let [_, _, height, width] = image.dims();
    let (h, w) = (side.min(height), side.min(width));
    let (top, left) = ((height - h) / 2, (width - w) / 2);
    image.clone().slice([0..1, 0..3, top..top + h, left..left + w])
}

/// Peak signal-to-noise ratio of images in [0, 1], in dB.
fn psnr(output: &Tensor<4>, target: &Tensor<4>) -> Result<f64, CliError> {
    let mse: f64 = (output.clone() - target.clone())
        .square()
        .mean()
        .into_scalar::<f32>()
        .into();
    Ok(10.0 * (1.0 / mse.max(1e-12)).log10())
}

/// The panels of a picture whose last image is the ground truth, each captioned with
/// its name and, but for the last, its PSNR and (given `lpips`) LPIPS against it.
pub(super) fn captioned(
    names: &[&str],
    images: Vec<Tensor<4>>,
    lpips: Option<&Judge>,
) -> Result<Vec<Panel>, CliError> {
    let Some(truth) = images.last().cloned() else {
        return Ok(Vec::new());
    };
    let count = images.len();
    images
        .into_iter()
        .zip(names)
        .enumerate()
        .map(|(index, (image, name))| {
            let mut caption = vec![(*name).to_owned()];
            if index + 1 < count {
                caption.push(format!("PSNR {:.2} dB", psnr(&image, &truth)?));
                if let Some(judge) = lpips {
                    let value = tensor_values(judge.score(&image, &truth)?)?[0];
                    let metric = judge.metric().name().replacen("lpips", "LPIPS", 1);
                    caption.push(format!("{metric} {value:.4}"));
                }
            }
            Ok(Panel { image, caption })
        })
        .collect()
}
