//! Training data: fixed random crops of the fetched photos (so their teacher features
//! can be cached), each with its bicubic 2x-downscaled input, and the held-out photos.

use std::path::{Path, PathBuf};

use super::rng::SplitMix64;
use burn::tensor::{Device, Tensor};

use super::student::downscale;
use crate::error::CliError;
use crate::image_io;

/// Photos never trained on: the evaluation set.
pub const HELD_OUT: [&str; 2] = ["coffee.png", "chelsea.png"];

/// One training sample.
pub struct Patch {
    /// Stable id (`photo#index`), the target cache's key.
    pub id: String,
    /// Ground truth `(1, 3, crop, crop)`.
    pub high: Tensor<4>,
    /// Input `(1, 3, crop/2, crop/2)`.
    pub low: Tensor<4>,
}

/// A held-out photo, cropped to even sides.
pub struct HeldOut {
    pub name: String,
    pub high: Tensor<4>,
    pub low: Tensor<4>,
}

/// The photos in `dir`, sorted, split into training files and held-out files.
pub fn photo_files(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>), CliError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        CliError::Failed(format!(
            "no photos in {} ({e}): run `repalign fetch photos` first",
            dir.display()
        ))
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            matches!(ext.as_str(), "png" | "jpg" | "jpeg")
        })
        .collect();
    files.sort();
    let is_held_out = |path: &PathBuf| {
        path.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| HELD_OUT.contains(&n))
    };
    let (held_out, train): (Vec<_>, Vec<_>) = files.into_iter().partition(is_held_out);
    if held_out.len() != HELD_OUT.len() || train.is_empty() {
        return Err(CliError::Failed(format!(
            "{} lacks the sample photos (need {} and others): run `repalign fetch photos`",
            dir.display(),
            HELD_OUT.join(", ")
        )));
    }
    Ok((train, held_out))
}

/// `per_photo` random `crop`×`crop` patches of every training photo, fixed by `seed`.
pub fn patches(
    files: &[PathBuf],
    per_photo: usize,
    crop: usize,
    seed: u64,
    device: &Device,
) -> Result<Vec<Patch>, CliError> {
    let mut rng = SplitMix64::new(seed);
    let mut patches = Vec::with_capacity(files.len() * per_photo);
    for file in files {
        let photo = image_io::load(file, image_io::DEFAULT_MAX_PIXELS, device)?;
        let [_, _, height, width] = photo.dims();
        if height < crop || width < crop {
            continue;
        }
        let name = file.file_stem().and_then(|n| n.to_str()).unwrap_or("photo");
        for index in 0..per_photo {
            let top = (rng.next_u64() % (height - crop + 1) as u64) as usize;
            let left = (rng.next_u64() % (width - crop + 1) as u64) as usize;
            let high = photo
                .clone()
                .slice([0..1, 0..3, top..top + crop, left..left + crop]);
            let low = downscale(high.clone())?;
            patches.push(Patch {
                id: format!("{name}#{index}"),
                high,
                low,
            });
        }
    }
    Ok(patches)
}

/// The held-out photos, each cropped to even sides, with their inputs.
pub fn held_out(files: &[PathBuf], device: &Device) -> Result<Vec<HeldOut>, CliError> {
    files
        .iter()
        .map(|file| {
            let photo = image_io::load(file, image_io::DEFAULT_MAX_PIXELS, device)?;
            let [_, _, height, width] = photo.dims();
            let high = photo.slice([0..1, 0..3, 0..height / 2 * 2, 0..width / 2 * 2]);
            Ok(HeldOut {
                name: file
                    .file_stem()
                    .and_then(|n| n.to_str())
                    .unwrap_or("photo")
                    .to_owned(),
                low: downscale(high.clone())?,
                high,
            })
        })
        .collect()
}
