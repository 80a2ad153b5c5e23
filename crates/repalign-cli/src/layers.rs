//! `repalign layers`: the taps a teacher records, as the seed's `verbose` listing.

use std::io::Write;

use burn::tensor::Device;
use repalign::LossConfig;

use crate::cli::LayersArgs;
use crate::error::CliError;
use crate::teacher_args::build_loss;

pub fn run(args: &LayersArgs, device: &Device) -> Result<(), CliError> {
    let loss = build_loss(&args.teacher, LossConfig::default(), device)?;
    let size = args.teacher.size.unwrap_or_else(|| loss.teacher().input_size());
    // With --resize every image reaches the teacher at that size.
    let (height, width) = args.teacher.resize.unwrap_or((size, size));
    let infos = loss.tap_infos(height, width, device)?;
    let mut stdout = std::io::stdout().lock();
    for (index, info) in infos.iter().enumerate() {
        let shape: Vec<String> = info.shape.iter().map(ToString::to_string).collect();
        writeln!(
            stdout,
            "{index}\t{}\t{}\t({})",
            info.name,
            info.kind,
            shape.join(", ")
        )
        .map_err(CliError::stdout)?;
    }
    writeln!(stdout, "total\t{} taps", infos.len()).map_err(CliError::stdout)
}
