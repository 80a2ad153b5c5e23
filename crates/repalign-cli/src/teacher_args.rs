//! From `--teacher/--weights/--size/--no-resize` to a ready [`RepAlignLoss`].

use burn::tensor::Device;
use repalign::preprocess::{Preprocess, Step};
use repalign::{LossConfig, RepAlignLoss, WeightStore, teacher};

use crate::cli::TeacherArgs;
use crate::error::CliError;
use std::path::PathBuf;

/// Loads the teacher and its preprocessing as the flags ask.
pub fn build_loss(args: &TeacherArgs, config: LossConfig, device: &Device) -> Result<RepAlignLoss, CliError> {
    if args.size == Some(0) {
        return Err(CliError::Usage("--size must be at least 1".into()));
    }
    let name = teacher_name(args)?;
    let weights = WeightStore::from_file(weights_file(args)?)?;
    let teacher = teacher::load(name, weights, device)?;
    let preprocess = if args.no_resize {
        Preprocess::identity().then(Step::Normalize(teacher.normalize()))
    } else {
        let size = args.size.unwrap_or_else(|| teacher.input_size());
        Preprocess::resize_crop_normalize(size, teacher.normalize())
    };
    Ok(RepAlignLoss::new(teacher, config).with_preprocess(preprocess))
}

/// `--teacher`, which every command but `compare --metric JUDGE` needs.
fn teacher_name(args: &TeacherArgs) -> Result<&str, CliError> {
    args.teacher
        .as_deref()
        .ok_or_else(|| CliError::Usage("--teacher NAME is required (e.g. --teacher vgg16)".into()))
}

/// `--weights`, else the teacher's file in the cache.
fn weights_file(args: &TeacherArgs) -> Result<PathBuf, CliError> {
    if let Some(path) = &args.weights {
        return Ok(path.clone());
    }
    let cache = repalign_fetch::cache_dir(args.cache_dir.as_deref())?;
    let name = teacher_name(args)?.to_ascii_lowercase();
    let path = repalign_fetch::weights_path(&cache, &name);
    if path.exists() {
        return Ok(path);
    }
    Err(CliError::Usage(match repalign_fetch::asset_for_teacher(&name) {
        Some(asset) => format!(
            "no weights for `{name}` in {}: run `repalign fetch {}` (or pass --weights FILE)",
            cache.display(),
            asset.name()
        ),
        None => {
            format!("no weights for `{name}`: pass --weights FILE (safetensors with the reference key names)")
        }
    }))
}
