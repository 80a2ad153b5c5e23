//! `repalign compare DIR_A DIR_B`: every file of DIR_A against the file of the same
//! name in DIR_B, one line each (TSV `name<TAB>loss`, or JSON lines). A file that is
//! unpaired, unreadable or of a size the teacher cannot take is reported on stderr and
//! skipped; the exit code says whether every pair was compared. Consecutive pairs of
//! the same image size go through the teacher together (`--batch`).

use std::io::Write;
use std::path::Path;

use burn::tensor::{Device, Tensor};
use indicatif::ProgressBar;
use repalign::RepAlignLoss;

use crate::cli::CompareArgs;
use crate::compare::{check_sizes, report_line};
use crate::error::CliError;
use crate::image_io;

/// Image files of a folder, by file name, sorted.
fn image_names(dir: &Path) -> Result<Vec<String>, CliError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CliError::ListFolder {
        path: dir.to_owned(),
        source,
    })?;
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

    let bar = crate::progress::bar(Some(pairs.len() as u64), "[{bar:30}] {pos}/{len} {msg}");
    let mut out = Output {
        stdout: std::io::stdout().lock(),
        bar: &bar,
        compared: 0,
        failures,
    };
    let mut batch: Vec<Pair> = Vec::with_capacity(usize::from(args.batch));
    for name in pairs {
        bar.set_message(name.clone());
        let pair = match load_pair(args, loss, device, name) {
            Ok(pair) => pair,
            Err(error) => {
                out.skip(name, &error);
                continue;
            }
        };
        if batch
            .first()
            .is_some_and(|first| first.output.dims() != pair.output.dims())
            || batch.len() >= usize::from(args.batch)
        {
            compare_batch(args, loss, std::mem::take(&mut batch), &mut out)?;
        }
        batch.push(pair);
    }
    compare_batch(args, loss, batch, &mut out)?;
    bar.finish_and_clear();
    if out.failures > 0 {
        return Err(CliError::SomeFailed(format!(
            "{} pairs compared, {} files skipped (see above)",
            out.compared, out.failures
        )));
    }
    Ok(())
}

/// One pair, decoded and checked.
struct Pair {
    name: String,
    output: Tensor<4>,
    target: Tensor<4>,
}

/// Where results and skips go, and their counts.
struct Output<'a, W: Write> {
    stdout: W,
    bar: &'a ProgressBar,
    compared: usize,
    failures: usize,
}

impl<W: Write> Output<'_, W> {
    fn line(&mut self, line: &str) -> Result<(), CliError> {
        let stdout = &mut self.stdout;
        self.bar
            .suspend(|| writeln!(stdout, "{line}"))
            .map_err(CliError::stdout)?;
        self.compared += 1;
        self.bar.inc(1);
        Ok(())
    }

    fn skip(&mut self, name: &str, error: &CliError) {
        self.bar.suspend(|| eprintln!("repalign: {name}: {error}"));
        self.failures += 1;
        self.bar.inc(1);
    }
}

fn load_pair(args: &CompareArgs, loss: &RepAlignLoss, device: &Device, name: &str) -> Result<Pair, CliError> {
    let output = image_io::load(&args.output.join(name), args.max_pixels, device)?;
    let target = image_io::load(&args.target.join(name), args.max_pixels, device)?;
    check_sizes(loss, &output.dims(), &target.dims())?;
    Ok(Pair {
        name: name.to_owned(),
        output,
        target,
    })
}

/// Pairs of one image size through the teacher as one batch (no autodiff tape: no
/// gradient is asked for), then the loss of each pair on its own.
fn compare_batch<W: Write>(
    args: &CompareArgs,
    loss: &RepAlignLoss,
    batch: Vec<Pair>,
    out: &mut Output<W>,
) -> Result<(), CliError> {
    if batch.is_empty() {
        return Ok(());
    }
    let features = |images: Vec<Tensor<4>>| loss.target_features(&Tensor::cat(images, 0)).map(|f| f.split());
    let both = features(batch.iter().map(|p| p.output.clone()).collect()).and_then(|outputs| {
        Ok((
            outputs,
            features(batch.iter().map(|p| p.target.clone()).collect())?,
        ))
    });
    let (outputs, targets) = match both {
        Ok(both) => both,
        Err(error) => {
            let error = CliError::from(error);
            for pair in &batch {
                out.skip(&pair.name, &error);
            }
            return Ok(());
        }
    };
    for ((pair, output), target) in batch.iter().zip(&outputs).zip(&targets) {
        let line = loss
            .loss(output, target)
            .map_err(CliError::from)
            .and_then(|report| {
                report_line(
                    args.json,
                    Some(&pair.name),
                    loss.teacher().name(),
                    report.value()?,
                    &report,
                )
            });
        match line {
            Ok(line) => out.line(&line)?,
            Err(error) => out.skip(&pair.name, &error),
        }
    }
    Ok(())
}
