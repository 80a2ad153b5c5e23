//! `repalign compare OUTPUT TARGET`: the loss of one pair, as a number or JSON, and
//! optionally its gradient with respect to the output's pixels.

use std::io::Write;

use burn::tensor::Device;
use repalign::judge::Metric;
use repalign::{LossConfig, LossReport};
use serde::Serialize;

use crate::backend;
use crate::cli::CompareArgs;
use crate::compare_folders::Measure;
use crate::error::CliError;
use crate::heatmap;
use crate::image_io;
use crate::judge;
use crate::npy;
use crate::plot;
use crate::teacher_args::build_loss;

#[derive(Serialize)]
struct JsonReport<'a> {
    /// The file name, in folder mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    metric: &'static str,
    loss: f64,
    teacher: &'a str,
    layers: Vec<JsonLayer<'a>>,
}

#[derive(Serialize)]
struct JsonLayer<'a> {
    name: &'a str,
    kind: &'a str,
    shape: &'a [usize],
    sum: f64,
    /// A whole number but with a mask.
    elements: serde_json::Number,
    weight: f64,
}

pub fn run(args: &CompareArgs, device: &Device) -> Result<(), CliError> {
    if let Some(metric) = args.metric.judge() {
        return run_judge(args, metric, device);
    }
    let weighting = crate::cli::weighting(&args.weighting)?;
    // The preset's largest intermediate is its SIZExSIZE crop (resize and crop are one
    // step): --max-pixels bounds it as it bounds the decoded images.
    if let Some(size) = args.teacher.size
        && (size as u64).saturating_mul(size as u64) > args.max_pixels
    {
        return Err(CliError::Usage(format!(
            "--size {size} makes {size}x{size} images, more than --max-pixels {}",
            args.max_pixels
        )));
    }
    let config = LossConfig::default()
        .with_normalization(args.normalization.with_group_size(args.group_size))?
        .with_teacher_precision(args.precision.into())
        .with_weighting(weighting);
    match (args.output.is_dir(), args.target.is_dir()) {
        (true, true) => {
            for (given, option) in [
                (args.grad_out.is_some(), "--grad-out"),
                (args.mask.is_some(), "--mask"),
            ] {
                if given {
                    return Err(CliError::Usage(format!(
                        "{option} takes one pair of files, not folders"
                    )));
                }
            }
            let loss = build_loss(&args.teacher, config, device)?;
            return crate::compare_folders::run(args, &Measure::RepAlign(&loss), device);
        }
        (false, false) => {}
        _ => {
            return Err(CliError::Usage(
                "OUTPUT and TARGET must both be files or both be folders".into(),
            ));
        }
    }
    let plot_file = args.plot.as_deref().map(plot::PlotFile::new).transpose()?;
    let loss = build_loss(&args.teacher, config, device)?;

    let autodiff = device.clone().autodiff();
    let output = image_io::load(&args.output, args.max_pixels, &autodiff)?;
    let target = image_io::load(&args.target, args.max_pixels, device)?;
    let output = if args.grad_out.is_some() {
        output.require_grad()
    } else {
        output
    };
    check_sizes(&loss, &output.dims(), &target.dims())?;

    let target_features = loss.target_features(&target)?;
    // The output's features outlive the loss only for the heat map (never masked).
    let (report, heat_features) = match &args.mask {
        Some(path) => {
            let mask = image_io::load_mask(path, args.max_pixels, device)?;
            (loss.loss_against_masked(&output, &target_features, &mask)?, None)
        }
        None => {
            let output_features = loss.features(&output)?;
            let report = loss.loss(&output_features, &target_features)?;
            (report, args.heatmap.is_some().then_some(output_features))
        }
    };
    let value = report.value()?;
    if let (Some(path), Some(output_features)) = (&args.heatmap, &heat_features) {
        heatmap::write(path, &loss, &output, output_features, &target_features, value)?;
    }
    let line = report_line(args.json, None, loss.teacher().name(), value, &report)?;
    writeln!(std::io::stdout().lock(), "{line}").map_err(CliError::stdout)?;
    if let Some(plot_file) = &plot_file {
        let layers: Vec<plot::Layer> = report
            .layers
            .iter()
            .zip(report.layer_sums()?)
            .map(|(layer, sum)| plot::Layer {
                name: layer.info.name.clone(),
                sum,
                elements: layer.elements,
                weight: layer.weight,
            })
            .collect();
        let title = format!("{} — loss {value:.6}", loss.teacher().name());
        plot_file.write(&title, &layers)?;
    }

    if let Some(path) = &args.grad_out {
        let grads = report.total.backward();
        let grad = output
            .grad(&grads)
            .ok_or_else(|| CliError::Failed("no gradient reached the output image".into()))?;
        let shape = grad.dims();
        let values = backend::tensor_values(grad)?;
        npy::write_f32(path, &shape, &values)?;
    }
    Ok(())
}

/// `compare --metric JUDGE`: the judge's score of a pair of files or of folders.
fn run_judge(args: &CompareArgs, metric: Metric, device: &Device) -> Result<(), CliError> {
    for (given, option) in [
        (args.teacher.teacher.is_some(), "--teacher"),
        (args.teacher.weights.is_some(), "--weights"),
        (args.teacher.size.is_some(), "--size"),
        (args.mask.is_some(), "--mask"),
        (args.heatmap.is_some(), "--heatmap"),
        (args.plot.is_some(), "--plot"),
    ] {
        if given {
            return Err(CliError::Usage(format!(
                "{option} is for --metric repalign; {metric} brings its own network and compares whole images"
            )));
        }
    }
    let folders = match (args.output.is_dir(), args.target.is_dir()) {
        (true, true) => true,
        (false, false) => false,
        _ => {
            return Err(CliError::Usage(
                "OUTPUT and TARGET must both be files or both be folders".into(),
            ));
        }
    };
    if folders && args.grad_out.is_some() {
        return Err(CliError::Usage(
            "--grad-out takes one pair of files, not folders".into(),
        ));
    }
    let judge = judge::load(metric, args.teacher.cache_dir.as_deref(), device)?;
    if folders {
        return crate::compare_folders::run(args, &Measure::Judge(&judge), device);
    }
    let autodiff = device.clone().autodiff();
    let output = image_io::load(&args.output, args.max_pixels, &autodiff)?;
    let target = image_io::load(&args.target, args.max_pixels, device)?;
    judge::check_sizes(metric, &output.dims(), &target.dims())?;
    let output = if args.grad_out.is_some() {
        output.require_grad()
    } else {
        output
    };
    let score = judge.score(&output, &target)?;
    let value = backend::tensor_values(score.clone())?[0];
    let line = judge::line(args.json, None, metric, value)?;
    writeln!(std::io::stdout().lock(), "{line}").map_err(CliError::stdout)?;
    if let Some(path) = &args.grad_out {
        let grads = score.backward();
        let grad = output
            .grad(&grads)
            .ok_or_else(|| CliError::Failed("no gradient reached the output image".into()))?;
        let shape = grad.dims();
        npy::write_f32(path, &shape, &backend::tensor_values(grad)?)?;
    }
    Ok(())
}

/// Output and target must reach the teacher at the same size.
pub fn check_sizes(
    loss: &repalign::RepAlignLoss,
    output: &[usize; 4],
    target: &[usize; 4],
) -> Result<(), CliError> {
    let preprocess = loss.preprocess();
    let out = preprocess.output_size(output[2], output[3]);
    let tgt = preprocess.output_size(target[2], target[3]);
    if out != tgt {
        return Err(CliError::Input(format!(
            "output is {}x{} and target {}x{} pixels, which reach the teacher at {}x{} and {}x{}; \
             use the same size, or drop --no-resize",
            output[2], output[3], target[2], target[3], out.0, out.1, tgt.0, tgt.1
        )));
    }
    Ok(())
}

/// The loss as one output line: the number (with `name<TAB>` in folder mode), or JSON.
pub fn report_line(
    json: bool,
    name: Option<&str>,
    teacher: &str,
    value: f64,
    report: &LossReport,
) -> Result<String, CliError> {
    if !json {
        return Ok(match name {
            Some(name) => format!("{name}\t{value}"),
            None => value.to_string(),
        });
    }
    let sums = report.layer_sums()?;
    let json = JsonReport {
        name,
        metric: "repalign",
        loss: value,
        teacher,
        layers: report
            .layers
            .iter()
            .zip(sums)
            .map(|(layer, sum)| JsonLayer {
                name: &layer.info.name,
                kind: layer.info.kind.as_str(),
                shape: &layer.info.shape,
                sum,
                elements: json_number(layer.elements),
                weight: layer.weight,
            })
            .collect(),
    };
    serde_json::to_string(&json).map_err(|e| CliError::Failed(format!("cannot encode the JSON report: {e}")))
}

/// A count as an integer, a weighted count as a float.
fn json_number(value: f64) -> serde_json::Number {
    if value.fract() == 0.0 && (0.0..9.0e15).contains(&value) {
        serde_json::Number::from(value as u64)
    } else {
        serde_json::Number::from_f64(value).unwrap_or_else(|| serde_json::Number::from(0))
    }
}
