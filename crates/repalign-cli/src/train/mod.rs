//! `repalign train`: 2x super-resolution of the fetched photos, trained once with the
//! RepAlign loss and once with a pixel L1 loss on the same data and step budget, then
//! judged on held-out photos by PSNR and by the RepAlign distance under other teachers.

mod curve;
mod data;
mod evaluate;
mod rng;
mod run;
mod student;
pub mod study;

use burn::tensor::Device;
use repalign::judge::Metric;
use repalign::{LossConfig, TargetCache};
use run::{Objective, Settings, Term};

use crate::cli::{TeacherArgs, TrainArgs};
use crate::error::CliError;
use crate::output;
use crate::teacher_args::build_loss;

pub fn run(args: &TrainArgs, device: &Device) -> Result<(), CliError> {
    check_args(args)?;
    let cache_root = repalign_fetch::cache_dir(args.cache_dir.as_deref())?;
    let (train_files, held_out_files) = data::photo_files(&repalign_fetch::photos_dir(&cache_root))?;
    // The training teacher taps what --kinds and --taps choose; judges the default.
    let teacher_args = |name: &str, no_resize: bool| TeacherArgs {
        teacher: Some(name.to_owned()),
        weights: None,
        cache_dir: args.cache_dir.clone(),
        size: None,
        no_resize,
        resize: None,
        kinds: if name == args.teacher {
            args.kinds.clone()
        } else {
            Vec::new()
        },
        taps: if name == args.teacher {
            args.taps.clone()
        } else {
            Vec::new()
        },
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
    let new_cache = || -> Result<TargetCache, CliError> {
        let mut cache = TargetCache::new(args.cache_budget_mib << 20);
        if let Some(dir) = &args.feature_cache {
            cache = cache.with_disk_store(dir)?;
        }
        Ok(cache)
    };
    let mut cache = new_cache()?;
    let mut perceptual = vec![Term::RepAlign(&teacher, 1.0, &mut cache)];
    if args.pixel_weight > 0.0 {
        perceptual.push(Term::Pixel(args.pixel_weight));
    }
    // The pixel baseline first: it is quick, and its numbers come early.
    let objectives = [
        Objective {
            name: "L1".into(),
            terms: vec![Term::Pixel(1.0)],
        },
        Objective {
            name: perceptual_name,
            terms: perceptual,
        },
    ];
    let settings = settings(args);
    let mut trained = Vec::new();
    let mut curves = Vec::new();
    for (index, mut objective) in objectives.into_iter().enumerate() {
        let run_dir = args.out.join(format!("run{index}"));
        let (student, losses) = run::train(&mut objective, &patches, &settings, device, Some(&run_dir))?;
        run::write_losses(&run_dir.join("losses.csv"), &losses)?;
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
    // The pictures' captions give LPIPS where its weights are fetched; training needs
    // only the teachers', so without them the captions give PSNR alone.
    let lpips = match crate::judge::load(Metric::LpipsAlex, args.cache_dir.as_deref(), device) {
        Ok(judge) => Some(judge),
        Err(CliError::Usage(why)) => {
            eprintln!("repalign: the pictures' captions leave LPIPS out: {why}");
            None
        }
        Err(error) => return Err(error),
    };
    let table = evaluate::evaluate(&trained, &held_out, &judges, lpips.as_ref(), &args.out)?;
    println!("{table}");
    output::write_file(&args.out.join("results.md"), table.as_bytes())?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

/// The settings every run of `repalign train` shares.
fn settings(args: &TrainArgs) -> Settings {
    Settings {
        width: args.width,
        depth: args.depth,
        seed: args.seed,
        optimizer: args.optimizer,
        lr: args.lr,
        steps: args.steps,
        batch: args.batch,
        checkpoint_every: args.checkpoint_every,
        verbose: true,
    }
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
