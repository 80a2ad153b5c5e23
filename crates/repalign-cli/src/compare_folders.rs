//! `repalign compare DIR_A DIR_B`: every file of DIR_A against the file of the same
//! name in DIR_B, one line each (TSV `name<TAB>loss`, or JSON lines). A file that is
//! unpaired, unreadable or of a size the teacher cannot take is reported on stderr and
//! skipped; the exit code says whether every pair was compared.

use std::io::Write;
use std::path::Path;

use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use repalign::RepAlignLoss;

use crate::cli::CompareArgs;
use crate::compare::{check_sizes, report_line};
use crate::error::CliError;
use crate::image_io;

/// Image files of a folder, by file name, sorted.
fn image_names(dir: &Path) -> Result<Vec<String>, CliError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| CliError::Usage(format!("cannot list {}: {e}", dir.display())))?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|entry| entry.path().is_file())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| {
            let lower = name.to_ascii_lowercase();
            [".png", ".jpg", ".jpeg"].iter().any(|ext| lower.ends_with(ext))
        })
        .collect();
    names.sort();
    Ok(names)
}

pub fn run(args: &CompareArgs, loss: &RepAlignLoss, device: &Device) -> Result<(), CliError> {
    let outputs = image_names(&args.output)?;
    let targets = image_names(&args.target)?;
    let mut failures = 0usize;
    for name in targets.iter().filter(|name| !outputs.contains(name)) {
        eprintln!("repalign: {name}: only in {}", args.target.display());
        failures += 1;
    }
    let pairs: Vec<&String> = outputs
        .iter()
        .filter(|name| {
            let paired = targets.contains(name);
            if !paired {
                eprintln!("repalign: {name}: only in {}", args.output.display());
            }
            paired
        })
        .collect();
    failures += outputs.len() - pairs.len();

    let bar = ProgressBar::with_draw_target(Some(pairs.len() as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("[{bar:30}] {pos}/{len} {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    let mut stdout = std::io::stdout().lock();
    let mut compared = 0usize;
    for name in pairs {
        bar.set_message(name.clone());
        match compare_pair(args, loss, device, name) {
            Ok(line) => {
                bar.suspend(|| writeln!(stdout, "{line}"))
                    .map_err(CliError::stdout)?;
                compared += 1;
            }
            Err(error) => {
                bar.suspend(|| eprintln!("repalign: {name}: {error}"));
                failures += 1;
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if failures > 0 {
        return Err(CliError::SomeFailed(format!(
            "{compared} pairs compared, {failures} files skipped (see above)"
        )));
    }
    Ok(())
}

fn compare_pair(
    args: &CompareArgs,
    loss: &RepAlignLoss,
    device: &Device,
    name: &str,
) -> Result<String, CliError> {
    let output = image_io::load(&args.output.join(name), device)?;
    let target = image_io::load(&args.target.join(name), device)?;
    check_sizes(loss, &output.dims(), &target.dims())?;
    let report = loss.loss_for(&output, &target)?;
    report_line(
        args.json,
        Some(name),
        loss.teacher().name(),
        report.value()?,
        &report,
    )
}
