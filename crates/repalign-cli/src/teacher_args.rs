//! From `--teacher/--weights/--size/--no-resize` to a ready [`RepAlignLoss`].

use burn::tensor::Device;
use repalign::preprocess::{Preprocess, Step};
use repalign::{LossConfig, RepAlignLoss, WeightStore, teacher};

use crate::cli::TeacherArgs;
use crate::error::CliError;

/// Loads the teacher and its preprocessing as the flags ask.
pub fn build_loss(args: &TeacherArgs, config: LossConfig, device: &Device) -> Result<RepAlignLoss, CliError> {
    if args.size == Some(0) {
        return Err(CliError::Usage("--size must be at least 1".into()));
    }
    let weights = WeightStore::from_file(&args.weights)?;
    let teacher = teacher::load(&args.teacher, weights, device)?;
    let preprocess = if args.no_resize {
        Preprocess::identity().then(Step::Normalize(teacher.normalize()))
    } else {
        let size = args.size.unwrap_or_else(|| teacher.input_size());
        Preprocess::resize_crop_normalize(size, teacher.normalize())
    };
    Ok(RepAlignLoss::new(teacher, config).with_preprocess(preprocess))
}
