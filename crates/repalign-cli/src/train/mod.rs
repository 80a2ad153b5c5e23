//! `repalign train`: 2x super-resolution of the fetched photos, trained once with the
//! RepAlign loss and once with a pixel L1 loss on the same data and step budget, then
//! judged on held-out photos by PSNR and by the RepAlign distance under other teachers.

mod curve;
mod data;
mod evaluate;
mod rng;
mod student;

use std::path::Path;
use std::time::Instant;

use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use repalign::optim::WnGradWConfig;
use repalign::{LossConfig, RepAlignLoss, TargetCache};
use rng::SplitMix64;

use crate::cli::{OptimizerKind, TeacherArgs, TrainArgs};
use crate::error::CliError;
use crate::output;
use crate::teacher_args::build_loss;
use data::Patch;
use student::Student;

/// How one run scores its output against the ground truth.
struct Objective<'a> {
    name: String,
    repalign: Option<&'a RepAlignLoss>,
    pixel_weight: f64,
}

pub fn run(args: &TrainArgs, device: &Device) -> Result<(), CliError> {
    check_args(args)?;
    let cache_root = repalign_fetch::cache_dir(args.cache_dir.as_deref())?;
    let (train_files, held_out_files) = data::photo_files(&repalign_fetch::photos_dir(&cache_root))?;
    let teacher_args = |name: &str, no_resize: bool| TeacherArgs {
        teacher: Some(name.to_owned()),
        weights: None,
        cache_dir: args.cache_dir.clone(),
        size: None,
        no_resize,
    };
    let weighting = crate::cli::weighting(&args.weighting)?;
    let config = LossConfig::default()
        .with_normalization(args.normalization.with_group_size(2))?
        .with_teacher_precision(args.precision.into())
        .with_weighting(weighting);
    // Training crops go to the teacher at their own size; judges see whole photos
    // with their own preset.
    let teacher = build_loss(&teacher_args(&args.teacher, true), config.clone(), device)?;
    let mut judges = vec![(
        args.teacher.clone(),
        build_loss(&teacher_args(&args.teacher, false), config.clone(), device)?,
    )];
    for name in args.judges.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        judges.push((
            name.to_owned(),
            build_loss(&teacher_args(name, false), config.clone(), device)?,
        ));
    }

    let patches = data::patches(&train_files, args.patches_per_photo, args.crop, args.seed, device)?;
    let held_out = data::held_out(&held_out_files, device)?;
    std::fs::create_dir_all(&args.out).map_err(|source| CliError::Write {
        path: args.out.clone(),
        source,
    })?;
    eprintln!(
        "{} training crops of {}px from {} photos; held out: {}",
        patches.len(),
        args.crop,
        train_files.len(),
        data::HELD_OUT.join(", ")
    );

    let perceptual_name = if args.pixel_weight > 0.0 {
        format!("RepAlign({}) + {} L1", args.teacher, args.pixel_weight)
    } else {
        format!("RepAlign({})", args.teacher)
    };
    // The pixel baseline first: it is quick, and its numbers come early.
    let objectives = [
        Objective {
            name: "L1".into(),
            repalign: None,
            pixel_weight: 1.0,
        },
        Objective {
            name: perceptual_name,
            repalign: Some(&teacher),
            pixel_weight: args.pixel_weight,
        },
    ];
    let mut cache = TargetCache::new(args.cache_budget_mib << 20);
    if let Some(dir) = &args.feature_cache {
        cache = cache.with_disk_store(dir)?;
    }
    let mut trained = Vec::new();
    let mut curves = Vec::new();
    for (index, objective) in objectives.iter().enumerate() {
        let run_dir = args.out.join(format!("run{index}"));
        let (student, losses) = train(objective, &patches, &mut cache, args, device, &run_dir)?;
        write_losses(&run_dir.join("losses.csv"), &losses)?;
        curves.push((objective.name.clone(), losses));
        trained.push((objective.name.clone(), student));
    }
    let stats = cache.stats();
    eprintln!(
        "target cache: {} misses, {} hits, {} from disk, {} evictions, {:.1} MiB resident",
        stats.misses,
        stats.hits,
        stats.disk_hits,
        stats.evictions,
        stats.resident_bytes as f64 / (1u64 << 20) as f64
    );
    curve::write_svg(&args.out.join("loss_curves.svg"), &curves)?;
    let table = evaluate::evaluate(&trained, &held_out, &judges, &args.out)?;
    println!("{table}");
    output::write_file(&args.out.join("results.md"), table.as_bytes())?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

fn check_args(args: &TrainArgs) -> Result<(), CliError> {
    match (args.precision, args.normalization) {
        (crate::cli::PrecisionKind::F16, _) => {
            return Err(CliError::Usage(
                "--precision f16 cannot train (its range cannot hold the loss's gradients); use bf16 with --normalization sample, or f32".into(),
            ));
        }
        (crate::cli::PrecisionKind::Bf16, crate::cli::NormalizationKind::Groups) => {
            return Err(CliError::Usage(
                "--precision bf16 trains only with --normalization sample (group normalisation's gradient amplifies its rounding)".into(),
            ));
        }
        _ => {}
    }
    if args.crop < 16 || !args.crop.is_multiple_of(2) {
        return Err(CliError::Usage(format!(
            "--crop must be even and at least 16, got {}",
            args.crop
        )));
    }
    if args.batch == 0 || args.steps == 0 || args.patches_per_photo == 0 || args.checkpoint_every == 0 {
        return Err(CliError::Usage(
            "--batch, --steps, --patches-per-photo and --checkpoint-every must be at least 1".into(),
        ));
    }
    if args.depth < 2 || args.width == 0 {
        return Err(CliError::Usage(
            "the student needs --depth of at least 2 and --width of at least 1".into(),
        ));
    }
    if !(args.lr > 0.0 && args.lr.is_finite() && args.pixel_weight >= 0.0 && args.pixel_weight.is_finite()) {
        return Err(CliError::Usage(
            "--lr must be positive and --pixel-weight non-negative".into(),
        ));
    }
    Ok(())
}

/// One training run; returns the student and the loss of every step.
fn train(
    objective: &Objective,
    patches: &[Patch],
    cache: &mut TargetCache,
    args: &TrainArgs,
    device: &Device,
    checkpoints: &Path,
) -> Result<(Student, Vec<f64>), CliError> {
    let autodiff = device.clone().autodiff();
    // Every run starts from the same student.
    autodiff.seed(args.seed);
    let mut student = Student::new(args.width, args.depth, &autodiff);
    let mut optimizer = optimizer(args.optimizer)?;
    let mut order = SplitMix64::new(args.seed ^ 0x5eed);
    let mut queue: Vec<usize> = Vec::new();
    let mut losses = Vec::with_capacity(args.steps);

    let bar = crate::progress::bar(
        Some(args.steps as u64),
        "{prefix:>24} [{bar:30}] {pos}/{len} {msg} {per_sec}",
    );
    bar.set_prefix(objective.name.clone());
    let start = Instant::now();
    for step in 1..=args.steps {
        let batch: Vec<usize> = (0..args.batch)
            .map(|_| {
                if queue.is_empty() {
                    queue = shuffled(patches.len(), &mut order);
                }
                queue.pop().unwrap_or(0)
            })
            .collect();
        let low = Tensor::cat(batch.iter().map(|&i| patches[i].low.clone()).collect(), 0).autodiff();
        let high = Tensor::cat(batch.iter().map(|&i| patches[i].high.clone()).collect(), 0);
        let output = student.forward(low)?;

        let mut total = None;
        if let Some(loss) = objective.repalign {
            let ids: Vec<&str> = batch.iter().map(|&i| patches[i].id.as_str()).collect();
            let target = cache.target_features(loss, &ids, &high)?;
            total = Some(loss.loss_against(&output, &target)?.total);
        }
        if objective.pixel_weight > 0.0 {
            let l1 = (output - high.autodiff()).abs().mean() * objective.pixel_weight;
            total = Some(match total {
                Some(t) => t + l1,
                None => l1,
            });
        }
        let Some(total) = total else {
            return Err(CliError::Usage(
                "a run needs the RepAlign loss or a pixel weight".into(),
            ));
        };
        let value: f64 = total.clone().into_scalar::<f32>().into();
        if !value.is_finite() {
            return Err(CliError::Failed(format!(
                "{}: the loss became {value} at step {step}; lower --lr",
                objective.name
            )));
        }
        losses.push(value);
        let grads = GradientsParams::from_grads(total.backward(), &student);
        student = optimizer.step(args.lr, student, grads);

        bar.inc(1);
        bar.set_message(format!("loss {value:.4}"));
        if step % args.checkpoint_every == 0 || step == args.steps {
            student.save(&checkpoints.join(format!("student-step{step:05}.safetensors")))?;
        }
    }
    bar.finish_and_clear();
    eprintln!(
        "{}: {} steps in {:.0} s ({:.2} it/s), final loss {:.4}",
        objective.name,
        args.steps,
        start.elapsed().as_secs_f64(),
        args.steps as f64 / start.elapsed().as_secs_f64(),
        losses.last().copied().unwrap_or(f64::NAN)
    );
    Ok((student, losses))
}

/// A fresh optimiser of the chosen kind; both are burn `ModuleOptimizer`s, so the loop
/// steps either the same way.
fn optimizer(kind: OptimizerKind) -> Result<ModuleOptimizer, CliError> {
    Ok(match kind {
        OptimizerKind::AdamW => AdamWConfig::new().with_weight_decay(1e-4).init(),
        OptimizerKind::WnGradW => WnGradWConfig::new().init()?,
    })
}

fn write_losses(path: &Path, losses: &[f64]) -> Result<(), CliError> {
    let mut csv = String::from("step,loss\n");
    for (step, loss) in losses.iter().enumerate() {
        csv.push_str(&format!("{},{loss}\n", step + 1));
    }
    output::write_file(path, csv.as_bytes())
}

/// A random permutation of `0..n` (Fisher–Yates).
fn shuffled(n: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}
