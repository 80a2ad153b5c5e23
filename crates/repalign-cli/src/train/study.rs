//! `repalign study`: does the loss help, by yardsticks it was not trained on? The
//! 2x super-resolution student of `repalign train`, trained once per method (and
//! seed) on the same crops, from the same start, for the same steps, then judged on
//! held-out photos by PSNR, SSIM, LPIPS (AlexNet, VGG16), DISTS and the RepAlign
//! distance under teachers no method trained with.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use repalign::judge::{Judge, Metric};
use repalign::{LossConfig, Normalization, RepAlignLoss, TargetCache, Weighting};

use super::data::{self, HeldOut};
use super::evaluate::{captioned, center};
use super::run::{self, Objective, Settings, Term};
use super::student::{Student, upsample};
use crate::backend::tensor_values;
use crate::cli::{StudyArgs, TeacherArgs};
use crate::error::CliError;
use crate::output;
use crate::picture;
use crate::teacher_args::build_loss;

/// The photos the students train on: the rest of `repalign fetch photos`, named so
/// that other fetched photos do not change the study.
const TRAIN: [&str; 8] = [
    "brick.png",
    "camera.png",
    "grass.png",
    "gravel.png",
    "hubble_deep_field.jpg",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "retina.jpg",
];
/// The photos the methods are judged on, never trained on.
const TEST: [&str; 3] = ["coffee.png", "chelsea.png", "rocket.jpg"];
/// The photo `--sweep` picks λ on: neither trained on nor a test photo.
const VALIDATION: [&str; 1] = ["astronaut.png"];
/// The λ values `--sweep` tries.
const SWEEP: [f64; 3] = [0.01, 0.1, 1.0];
/// Side of the per-photo crops in the picture grids.
const DETAIL: usize = 128;

/// A way to train the student.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    L1,
    L1RepAlign,
    L1RepAlignSample,
    L1LpipsVgg,
    RepAlign,
}

impl Method {
    const ALL: [Method; 5] = [
        Method::L1,
        Method::L1RepAlign,
        Method::L1RepAlignSample,
        Method::L1LpipsVgg,
        Method::RepAlign,
    ];

    fn name(self) -> &'static str {
        match self {
            Method::L1 => "l1",
            Method::L1RepAlign => "l1+repalign",
            Method::L1RepAlignSample => "l1+repalign-sample",
            Method::L1LpipsVgg => "l1+lpips-vgg",
            Method::RepAlign => "repalign",
        }
    }

    /// The perceptual term added to L1, whose λ `--lambdas` sets.
    fn weighted_term(self) -> Option<&'static str> {
        match self {
            Method::L1RepAlign => Some("repalign"),
            Method::L1RepAlignSample => Some("repalign-sample"),
            Method::L1LpipsVgg => Some("lpips-vgg"),
            Method::L1 | Method::RepAlign => None,
        }
    }

    /// The judge this method trained on, if any (marked in the table).
    fn trained_on(self) -> Option<Metric> {
        (self == Method::L1LpipsVgg).then_some(Metric::LpipsVgg)
    }
}

fn parse_methods(list: &str) -> Result<Vec<Method>, CliError> {
    let methods = list
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            Method::ALL.into_iter().find(|m| m.name() == name).ok_or_else(|| {
                let known: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
                CliError::Usage(format!("unknown method `{name}` (known: {})", known.join(", ")))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if methods.is_empty() {
        return Err(CliError::Usage("--methods names no method".into()));
    }
    Ok(methods)
}

fn parse_lambdas(list: &str) -> Result<HashMap<String, f64>, CliError> {
    let mut lambdas = HashMap::new();
    for pair in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let parsed = pair
            .split_once('=')
            .and_then(|(name, value)| Some((name.trim(), value.trim().parse::<f64>().ok()?)));
        match parsed {
            Some((name, value)) if value > 0.0 && value.is_finite() => {
                if !Method::ALL.iter().any(|m| m.weighted_term() == Some(name)) {
                    return Err(CliError::Usage(format!(
                        "--lambdas: no term `{name}` (known: repalign, repalign-sample, lpips-vgg)"
                    )));
                }
                lambdas.insert(name.to_owned(), value);
            }
            _ => {
                return Err(CliError::Usage(format!(
                    "--lambdas: `{pair}` is not NAME=VALUE with a positive VALUE"
                )));
            }
        }
    }
    Ok(lambdas)
}

fn parse_seeds(list: &str) -> Result<Vec<u64>, CliError> {
    let seeds = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u64>()
                .map_err(|_| CliError::Usage(format!("--seeds: `{s}` is not a whole number")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if seeds.is_empty() {
        return Err(CliError::Usage("--seeds names no seed".into()));
    }
    Ok(seeds)
}

/// The flags, checked, with `--quick` applied.
struct Plan {
    methods: Vec<Method>,
    lambdas: HashMap<String, f64>,
    seeds: Vec<u64>,
    settings: Settings,
    crop: usize,
    patches_per_photo: usize,
    eval_size: usize,
}

fn plan(args: &StudyArgs) -> Result<Plan, CliError> {
    let methods = parse_methods(&args.methods)?;
    let lambdas = parse_lambdas(&args.lambdas)?;
    for method in &methods {
        if let Some(term) = method.weighted_term()
            && !lambdas.contains_key(term)
            && !args.sweep
        {
            return Err(CliError::Usage(format!("--lambdas gives no λ for `{term}`")));
        }
    }
    let (steps, crop, patches_per_photo, eval_size) = if args.quick {
        (3, 64, 1, 64)
    } else {
        (args.steps, args.crop, args.patches_per_photo, args.eval_size)
    };
    if crop < 64 || !crop.is_multiple_of(2) || eval_size < 64 || !eval_size.is_multiple_of(2) {
        return Err(CliError::Usage(
            "--crop and --eval-size must be even and at least 64 (LPIPS on AlexNet judges them)".into(),
        ));
    }
    if args.batch == 0 || steps == 0 || patches_per_photo == 0 || args.depth < 2 || args.width == 0 {
        return Err(CliError::Usage(
            "--batch, --steps and --patches-per-photo must be at least 1, --depth at least 2, --width at least 1"
                .into(),
        ));
    }
    if !(args.lr > 0.0 && args.lr.is_finite()) {
        return Err(CliError::Usage("--lr must be positive".into()));
    }
    Ok(Plan {
        methods,
        lambdas,
        seeds: parse_seeds(&args.seeds)?,
        settings: Settings {
            width: args.width,
            depth: args.depth,
            seed: 0,
            optimizer: args.optimizer,
            lr: args.lr,
            steps,
            batch: args.batch,
            checkpoint_every: steps,
            verbose: true,
        },
        crop,
        patches_per_photo,
        eval_size,
    })
}

/// The networks the methods train with.
struct Losses {
    repalign: RepAlignLoss,
    repalign_sample: RepAlignLoss,
    lpips_vgg: Judge,
}

/// A RepAlign loss on `name`'s fetched weights: at the crops' own size (training) or
/// at the teacher's preset (judging), as `repalign train` builds them.
fn repalign_loss(
    args: &StudyArgs,
    name: &str,
    config: LossConfig,
    at_own_size: bool,
    device: &Device,
) -> Result<RepAlignLoss, CliError> {
    let teacher = TeacherArgs {
        teacher: Some(name.to_owned()),
        weights: None,
        cache_dir: args.cache_dir.clone(),
        size: None,
        no_resize: at_own_size,
        resize: None,
        kinds: Vec::new(),
        taps: Vec::new(),
    };
    build_loss(&teacher, config, device)
}

/// The photos `names` of `dir`, each of which must be there.
fn photo_paths(dir: &std::path::Path, names: &[&str]) -> Result<Vec<PathBuf>, CliError> {
    let files: Vec<PathBuf> = names.iter().map(|name| dir.join(name)).collect();
    if let Some(missing) = files.iter().find(|f| !f.exists()) {
        return Err(CliError::Failed(format!(
            "{} is missing: run `repalign fetch photos`",
            missing.display()
        )));
    }
    Ok(files)
}

/// The objective of `method`; RepAlign targets go through `cache`.
fn objective<'a>(
    method: Method,
    lambda: f64,
    losses: &'a Losses,
    cache: &'a mut TargetCache,
) -> Objective<'a> {
    let terms = match method {
        Method::L1 => vec![Term::Pixel(1.0)],
        Method::L1RepAlign => vec![Term::Pixel(1.0), Term::RepAlign(&losses.repalign, lambda, cache)],
        Method::L1RepAlignSample => vec![
            Term::Pixel(1.0),
            Term::RepAlign(&losses.repalign_sample, lambda, cache),
        ],
        Method::L1LpipsVgg => vec![
            Term::Pixel(1.0),
            Term::Judge(&losses.lpips_vgg, lambda, HashMap::new()),
        ],
        Method::RepAlign => vec![Term::RepAlign(&losses.repalign, 1.0, cache)],
    };
    let name = match method.weighted_term() {
        Some(_) => format!("{} (λ {lambda})", method.name()),
        None => method.name().to_owned(),
    };
    Objective { name, terms }
}

/// One column of the table.
enum Yardstick {
    Judge(Judge),
    RepAlign(String, RepAlignLoss),
}

impl Yardstick {
    fn title(&self) -> String {
        match self {
            Yardstick::Judge(judge) => {
                let arrow = if judge.metric().lower_is_better() {
                    "↓"
                } else {
                    "↑"
                };
                format!("{} {arrow}", judge.metric())
            }
            Yardstick::RepAlign(name, _) => format!("RepAlign {name} ↓"),
        }
    }

    fn score(&self, output: &Tensor<4>, target: &Tensor<4>) -> Result<f64, CliError> {
        Ok(match self {
            Yardstick::Judge(judge) => f64::from(tensor_values(judge.score(output, target)?)?[0]),
            Yardstick::RepAlign(_, loss) => loss.loss_for(output, target)?.value()?,
        })
    }

    fn metric(&self) -> Option<Metric> {
        match self {
            Yardstick::Judge(judge) => Some(judge.metric()),
            Yardstick::RepAlign(..) => None,
        }
    }
}

/// The photos `names` from the cache, centre-cropped to `size` (or less), with inputs.
fn photos(
    dir: &std::path::Path,
    names: &[&str],
    size: usize,
    device: &Device,
) -> Result<Vec<HeldOut>, CliError> {
    data::held_out(&photo_paths(dir, names)?, device)?
        .into_iter()
        .map(|photo| {
            let high = center(&photo.high, size);
            let [_, _, h, w] = high.dims();
            let high = high.slice([0..1, 0..3, 0..h / 2 * 2, 0..w / 2 * 2]);
            Ok(HeldOut {
                name: photo.name,
                low: super::student::downscale(high.clone())?,
                high,
            })
        })
        .collect()
}

pub fn run(args: &StudyArgs, device: &Device) -> Result<(), CliError> {
    let plan = plan(args)?;
    let started = Instant::now();
    let cache_root = repalign_fetch::cache_dir(args.cache_dir.as_deref())?;
    let photo_dir = repalign_fetch::photos_dir(&cache_root);
    let test = photos(&photo_dir, &TEST, plan.eval_size, device)?;
    let validation = photos(&photo_dir, &VALIDATION, plan.eval_size, device)?;
    let train_files = photo_paths(&photo_dir, &TRAIN)?;

    let groups = LossConfig::default();
    let sample = LossConfig::default()
        .with_normalization(Normalization::Sample)?
        .with_weighting(Weighting::Linear);
    let losses = Losses {
        repalign: repalign_loss(args, &args.teacher, groups, true, device)?,
        repalign_sample: repalign_loss(args, &args.teacher, sample, true, device)?,
        lpips_vgg: crate::judge::load(Metric::LpipsVgg, args.cache_dir.as_deref(), device)?,
    };
    std::fs::create_dir_all(&args.out).map_err(|source| CliError::Write {
        path: args.out.clone(),
        source,
    })?;
    let names = |photos: &[HeldOut]| {
        photos
            .iter()
            .map(|p| p.name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    eprintln!(
        "{} training photos ({}px crops, {} each); test: {}; validation: {}",
        train_files.len(),
        plan.crop,
        plan.patches_per_photo,
        names(&test),
        names(&validation)
    );
    if args.sweep {
        return sweep(args, &plan, &losses, &train_files, &validation, device, started);
    }

    let mut yardsticks: Vec<Yardstick> = Vec::new();
    for metric in Metric::ALL {
        yardsticks.push(Yardstick::Judge(crate::judge::load(
            metric,
            args.cache_dir.as_deref(),
            device,
        )?));
    }
    for name in args.judges.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if name == args.teacher {
            return Err(CliError::Usage(format!(
                "--judges: `{name}` is the teacher the methods train with; judge with others"
            )));
        }
        yardsticks.push(Yardstick::RepAlign(
            name.to_owned(),
            repalign_loss(args, name, LossConfig::default(), false, device)?,
        ));
    }

    // scores[row][column][seed]: row 0 is bicubic, then the methods.
    let rows = plan.methods.len() + 1;
    let mut scores = vec![vec![Vec::new(); yardsticks.len()]; rows];
    let bicubic = judge_all(&yardsticks, &test, None)?;
    for (column, value) in bicubic.into_iter().enumerate() {
        scores[0][column].push(value);
    }
    let runs = plan.seeds.len() * plan.methods.len();
    let mut pictures: Vec<Student> = Vec::new();
    for (s, &seed) in plan.seeds.iter().enumerate() {
        let patches = data::patches(&train_files, plan.patches_per_photo, plan.crop, seed, device)?;
        let settings = Settings {
            seed,
            ..plan.settings.clone()
        };
        for (m, &method) in plan.methods.iter().enumerate() {
            eprintln!(
                "[{}/{runs}] seed {seed}: {}",
                s * plan.methods.len() + m + 1,
                method.name()
            );
            let lambda = method
                .weighted_term()
                .and_then(|term| plan.lambdas.get(term))
                .copied()
                .unwrap_or(1.0);
            let mut cache = TargetCache::new(4 << 30);
            let mut objective = objective(method, lambda, &losses, &mut cache);
            let (student, _) = run::train(&mut objective, &patches, &settings, device, None)?;
            let student = student.valid();
            for (column, value) in judge_all(&yardsticks, &test, Some(&student))?
                .into_iter()
                .enumerate()
            {
                scores[m + 1][column].push(value);
            }
            if s == 0 {
                pictures.push(student);
            }
        }
    }

    let lpips = yardsticks.iter().find_map(|yardstick| match yardstick {
        Yardstick::Judge(judge) if judge.metric() == Metric::LpipsAlex => Some(judge),
        _ => None,
    });
    let mut names = vec!["bicubic"];
    names.extend(plan.methods.iter().map(|method| method.name()));
    names.push("ground truth");
    for photo in &test {
        let mut panels = vec![center(&upsample(photo.low.clone())?.clamp(0.0, 1.0), DETAIL)];
        for student in &pictures {
            panels.push(center(
                &student.forward(photo.low.clone())?.clamp(0.0, 1.0),
                DETAIL,
            ));
        }
        panels.push(center(&photo.high, DETAIL));
        let grid = args.out.join(format!("{}_grid.png", photo.name));
        picture::write_strip(&grid, &captioned(&names, panels, lpips)?, 2)?;
    }
    let table = table(&plan, &yardsticks, &scores, &test);
    println!("{table}");
    output::write_file(&args.out.join("results.md"), table.as_bytes())?;
    eprintln!(
        "wrote {} in {:.0} s",
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Every yardstick's mean over the photos, for a student or (`None`) bicubic.
fn judge_all(
    yardsticks: &[Yardstick],
    photos: &[HeldOut],
    student: Option<&Student>,
) -> Result<Vec<f64>, CliError> {
    let mut sums = vec![0.0; yardsticks.len()];
    for photo in photos {
        let output = match student {
            Some(student) => student.forward(photo.low.clone())?,
            None => upsample(photo.low.clone())?,
        }
        .clamp(0.0, 1.0);
        for (sum, yardstick) in sums.iter_mut().zip(yardsticks) {
            *sum += yardstick.score(&output, &photo.high)?;
        }
    }
    Ok(sums.into_iter().map(|s| s / photos.len().max(1) as f64).collect())
}

/// Mean and (over several seeds) sample standard deviation.
fn mean_std(values: &[f64]) -> (f64, Option<f64>) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n.max(1.0);
    let std = (values.len() > 1)
        .then(|| (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    (mean, std)
}

fn table(plan: &Plan, yardsticks: &[Yardstick], scores: &[Vec<Vec<f64>>], test: &[HeldOut]) -> String {
    let seeds: Vec<String> = plan.seeds.iter().map(u64::to_string).collect();
    let mut out = format!(
        "2x super-resolution, {} steps of {} {}px crops; judged on the central {}px of {} \
         (mean over the photos; seeds {}: mean ± standard deviation). † = the method trained on this judge.\n\n| method |",
        plan.settings.steps,
        plan.settings.batch,
        plan.crop,
        plan.eval_size,
        test.iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        seeds.join(", ")
    );
    for yardstick in yardsticks {
        let _ = write!(out, " {} |", yardstick.title());
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(yardsticks.len()));
    for (row, per_column) in scores.iter().enumerate() {
        let (name, method) = match row {
            0 => ("bicubic".to_owned(), None),
            _ => {
                let method = plan.methods[row - 1];
                let name = match method.weighted_term().and_then(|t| plan.lambdas.get(t)) {
                    Some(lambda) => format!("{} (λ {lambda})", method.name()),
                    None => method.name().to_owned(),
                };
                (name, Some(method))
            }
        };
        let _ = write!(out, "\n| {name} |");
        for (values, yardstick) in per_column.iter().zip(yardsticks) {
            let digits = if yardstick.metric() == Some(Metric::Psnr) {
                2
            } else {
                4
            };
            let (mean, std) = mean_std(values);
            let mark = if method.and_then(Method::trained_on).is_some()
                && method.and_then(Method::trained_on) == yardstick.metric()
            {
                " †"
            } else {
                ""
            };
            match std {
                Some(std) => {
                    let _ = write!(out, " {mean:.digits$} ± {std:.digits$}{mark} |");
                }
                None => {
                    let _ = write!(out, " {mean:.digits$}{mark} |");
                }
            }
        }
    }
    out.push('\n');
    out
}

/// `--sweep`: each `l1+X` method at each λ of [`SWEEP`], judged by LPIPS-alex on the
/// validation photo; the lowest wins.
fn sweep(
    args: &StudyArgs,
    plan: &Plan,
    losses: &Losses,
    train_files: &[PathBuf],
    validation: &[HeldOut],
    device: &Device,
    started: Instant,
) -> Result<(), CliError> {
    let judge = Yardstick::Judge(crate::judge::load(
        Metric::LpipsAlex,
        args.cache_dir.as_deref(),
        device,
    )?);
    let judges = [judge];
    let seed = plan.seeds[0];
    let patches = data::patches(train_files, plan.patches_per_photo, plan.crop, seed, device)?;
    let settings = Settings {
        seed,
        ..plan.settings.clone()
    };
    let weighted: Vec<Method> = plan
        .methods
        .iter()
        .copied()
        .filter(|m| m.weighted_term().is_some())
        .collect();
    let mut out = format!(
        "λ sweep: LPIPS-alex ↓ on the central {}px of {} after {} steps (seed {seed})\n\n| method |",
        plan.eval_size,
        validation
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        plan.settings.steps
    );
    for lambda in SWEEP {
        let _ = write!(out, " λ {lambda} |");
    }
    out.push_str(" pick |\n|---|");
    out.push_str(&"---:|".repeat(SWEEP.len() + 1));
    let mut picks = Vec::new();
    for method in weighted {
        let mut row = Vec::new();
        for lambda in SWEEP {
            let mut cache = TargetCache::new(4 << 30);
            let mut objective = objective(method, lambda, losses, &mut cache);
            let (student, _) = run::train(&mut objective, &patches, &settings, device, None)?;
            row.push(judge_all(&judges, validation, Some(&student.valid()))?[0]);
        }
        let best = row
            .iter()
            .zip(SWEEP)
            .min_by(|a, b| a.0.total_cmp(b.0))
            .map_or(SWEEP[0], |(_, lambda)| lambda);
        let _ = write!(out, "\n| {} |", method.name());
        for value in &row {
            let _ = write!(out, " {value:.4} |");
        }
        let _ = write!(out, " {best} |");
        if let Some(term) = method.weighted_term() {
            picks.push(format!("{term}={best}"));
        }
    }
    let _ = write!(out, "\n\n--lambdas {}\n", picks.join(","));
    println!("{out}");
    output::write_file(&args.out.join("sweep.md"), out.as_bytes())?;
    eprintln!(
        "wrote {} in {:.0} s",
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
