//! From `--teacher/--weights/--size/--no-resize/--resize/--kinds/--taps` to a ready
//! [`RepAlignLoss`].

use burn::tensor::Device;
use repalign::preprocess::{Preprocess, Step};
use repalign::{LayerKind, LossConfig, RepAlignLoss, TapSelector, WeightStore, teacher};

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
    let preprocess = match (args.no_resize, args.size, args.resize) {
        (true, _, _) => Preprocess::identity().then(Step::Normalize(teacher.normalize())),
        (false, Some(size), _) => Preprocess::resize_crop_normalize(size, teacher.normalize()),
        (false, None, Some((height, width))) => {
            Preprocess::resize_exact_normalize(height, width, teacher.normalize())
        }
        // The teacher's own preset (ConvNeXt's resizes to more than it crops, bilinearly).
        (false, None, None) => teacher.preprocess(),
    };
    let selector = selector(args)?;
    Ok(RepAlignLoss::new(teacher, config)
        .with_preprocess(preprocess)
        .with_selector(selector))
}

/// `--kinds` and `--taps`: the layers tapped (default: Conv2d and Linear, every name).
fn selector(args: &TeacherArgs) -> Result<TapSelector, CliError> {
    let mut selector = TapSelector::default();
    let kinds = listed(&args.kinds);
    if !kinds.is_empty() {
        let parsed = kinds
            .iter()
            .map(|name| {
                LayerKind::parse(name).ok_or_else(|| {
                    let known: Vec<String> = LayerKind::ALL
                        .iter()
                        .map(|k| k.as_str().to_ascii_lowercase())
                        .collect();
                    CliError::Usage(format!(
                        "--kinds: unknown layer kind `{name}` (known: {})",
                        known.join(", ")
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        selector = selector.with_kinds(parsed);
    }
    let patterns = listed(&args.taps);
    if !patterns.is_empty() {
        selector = selector.with_name_patterns(patterns);
    }
    Ok(selector)
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

/// The non-empty items of a comma-separated option, trimmed (`--kinds relu, ,gelu`).
fn listed(values: &[String]) -> Vec<&str> {
    values
        .iter()
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .collect()
}
