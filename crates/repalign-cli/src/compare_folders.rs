//! `repalign compare DIR_A DIR_B`: every file of DIR_A against the file of the same
//! name in DIR_B, one line each (TSV `name<TAB>value`, or JSON lines), by the RepAlign
//! loss or a judge. A file that is unpaired, unreadable or of a size the network cannot
//! take is reported on stderr and skipped; the exit code says whether every pair was
//! compared; a last line on stderr sums the run up (pairs, mean, median, worst pair),
//! under a progress bar on a terminal. Consecutive pairs of the same image size go
//! through the network together (`--batch`).

use std::io::Write;
use std::path::Path;

use burn::tensor::{Device, Tensor};
use indicatif::ProgressBar;
use repalign::RepAlignLoss;
use repalign::judge::Judge;

use crate::cli::CompareArgs;
use crate::compare::{check_sizes, report_line};
use crate::error::CliError;
use crate::image_io;
use crate::judge;

/// What a folder comparison measures.
pub enum Measure<'a> {
    RepAlign(&'a RepAlignLoss),
    Judge(&'a Judge),
}

impl Measure<'_> {
    /// Whether a smaller value means a closer pair (the loss, LPIPS, DISTS; not SSIM, PSNR).
    fn lower_is_better(&self) -> bool {
        match self {
            Measure::RepAlign(_) => true,
            Measure::Judge(judge) => judge.metric().lower_is_better(),
        }
    }

    fn check_sizes(&self, output: &[usize; 4], target: &[usize; 4]) -> Result<(), CliError> {
        match self {
            Measure::RepAlign(loss) => check_sizes(loss, output, target),
            Measure::Judge(judge) => judge::check_sizes(judge.metric(), output, target),
        }
    }
}

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

pub fn run(args: &CompareArgs, measure: &Measure, device: &Device) -> Result<(), CliError> {
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
        values: Vec::with_capacity(pairs.len()),
        failures,
    };
    let mut batch: Vec<Pair> = Vec::with_capacity(usize::from(args.batch));
    for name in pairs {
        bar.set_message(name.clone());
        let pair = match load_pair(args, measure, device, name) {
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
            compare_batch(args, measure, std::mem::take(&mut batch), &mut out)?;
        }
        batch.push(pair);
    }
    compare_batch(args, measure, batch, &mut out)?;
    bar.finish_and_clear();
    eprintln!("repalign: {}", summary(&out.values, measure.lower_is_better()));
    if out.failures > 0 {
        return Err(CliError::SomeFailed(format!(
            "{} pairs compared, {} files skipped (see above)",
            out.values.len(),
            out.failures
        )));
    }
    Ok(())
}

/// The line after the pairs: how many, their mean and median, and the worst pair (the
/// largest value where smaller is closer, else the smallest).
fn summary(values: &[(String, f64)], lower_is_better: bool) -> String {
    let mut sorted: Vec<&(String, f64)> = values.iter().collect();
    sorted.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (Some(first), Some(last)) = (sorted.first(), sorted.last()) else {
        return "no pair compared".into();
    };
    let middle = sorted.len() / 2;
    let median = if sorted.len() % 2 == 1 {
        sorted[middle].1
    } else {
        (sorted[middle - 1].1 + sorted[middle].1) / 2.0
    };
    let mean = values.iter().map(|(_, v)| v).sum::<f64>() / values.len() as f64;
    let (name, worst) = if lower_is_better { last } else { first };
    let pairs = if values.len() == 1 { "pair" } else { "pairs" };
    format!(
        "{} {pairs}: mean {mean}, median {median}, worst {name} ({worst})",
        values.len()
    )
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
    /// Each compared pair's name and value.
    values: Vec<(String, f64)>,
    failures: usize,
}

impl<W: Write> Output<'_, W> {
    fn line(&mut self, name: &str, value: f64, line: &str) -> Result<(), CliError> {
        let stdout = &mut self.stdout;
        self.bar
            .suspend(|| writeln!(stdout, "{line}"))
            .map_err(CliError::stdout)?;
        self.values.push((name.to_owned(), value));
        self.bar.inc(1);
        Ok(())
    }

    fn skip(&mut self, name: &str, error: &CliError) {
        self.bar.suspend(|| eprintln!("repalign: {name}: {error}"));
        self.failures += 1;
        self.bar.inc(1);
    }
}

fn load_pair(args: &CompareArgs, measure: &Measure, device: &Device, name: &str) -> Result<Pair, CliError> {
    let output = image_io::load(&args.output.join(name), args.max_pixels, device)?;
    let target = image_io::load(&args.target.join(name), args.max_pixels, device)?;
    measure.check_sizes(&output.dims(), &target.dims())?;
    Ok(Pair {
        name: name.to_owned(),
        output,
        target,
    })
}

/// Pairs of one image size through the network as one batch (no autodiff tape: no
/// gradient is asked for), then the value of each pair on its own.
fn compare_batch<W: Write>(
    args: &CompareArgs,
    measure: &Measure,
    batch: Vec<Pair>,
    out: &mut Output<W>,
) -> Result<(), CliError> {
    if batch.is_empty() {
        return Ok(());
    }
    let loss = match measure {
        Measure::RepAlign(loss) => loss,
        Measure::Judge(judge) => return judge_batch(args, judge, batch, out),
    };
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
                let value = report.value()?;
                let line = report_line(args.json, Some(&pair.name), loss.teacher().name(), value, &report)?;
                Ok((value, line))
            });
        match line {
            Ok((value, line)) => out.line(&pair.name, value, &line)?,
            Err(error) => out.skip(&pair.name, &error),
        }
    }
    Ok(())
}

/// A judge scores a whole batch at once.
fn judge_batch<W: Write>(
    args: &CompareArgs,
    judge: &Judge,
    batch: Vec<Pair>,
    out: &mut Output<W>,
) -> Result<(), CliError> {
    let stack = |images: Vec<Tensor<4>>| Tensor::cat(images, 0);
    let outputs = stack(batch.iter().map(|p| p.output.clone()).collect());
    let targets = stack(batch.iter().map(|p| p.target.clone()).collect());
    match judge::scores(judge, &outputs, &targets) {
        Ok(values) => {
            for (pair, value) in batch.iter().zip(values) {
                match judge::line(args.json, Some(&pair.name), judge.metric(), value) {
                    Ok(line) => out.line(&pair.name, f64::from(value), &line)?,
                    Err(error) => out.skip(&pair.name, &error),
                }
            }
        }
        Err(error) => {
            for pair in &batch {
                out.skip(&pair.name, &error);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::summary;

    fn pairs(values: &[f64]) -> Vec<(String, f64)> {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| (format!("p{i}.png"), v))
            .collect()
    }

    #[test]
    fn the_summary_gives_the_median_and_the_worst_pair_by_the_measures_direction() {
        assert_eq!(
            summary(&pairs(&[0.5, 0.25, 2.0]), true),
            "3 pairs: mean 0.9166666666666666, median 0.5, worst p2.png (2)"
        );
        assert_eq!(
            summary(&pairs(&[30.0, 20.0, 40.0, 10.0]), false),
            "4 pairs: mean 25, median 25, worst p3.png (10)"
        );
        assert_eq!(
            summary(&pairs(&[1.0]), true),
            "1 pair: mean 1, median 1, worst p0.png (1)"
        );
        assert_eq!(summary(&[], true), "no pair compared");
    }
}
