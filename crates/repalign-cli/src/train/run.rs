//! One training run of the student: an objective of weighted terms (pixel L1, the
//! RepAlign loss, a judge), the same data, start and schedule for every objective.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use repalign::judge::{Judge, JudgeTarget};
use repalign::optim::WnGradWConfig;
use repalign::{RepAlignLoss, TargetCache};

use super::data::Patch;
use super::rng::SplitMix64;
use super::student::Student;
use crate::cli::OptimizerKind;
use crate::error::CliError;
use crate::output;

/// What every run of a comparison shares.
#[derive(Debug, Clone)]
pub struct Settings {
    pub width: usize,
    pub depth: usize,
    /// The student's initial weights and the batch order.
    pub seed: u64,
    pub optimizer: OptimizerKind,
    pub lr: f64,
    pub steps: usize,
    pub batch: usize,
    pub checkpoint_every: usize,
    /// The bar's and the summary's wording: quiet runs of a sweep print less.
    pub verbose: bool,
}

/// One weighted term of an objective.
pub enum Term<'a> {
    /// Mean absolute pixel difference.
    Pixel(f64),
    /// The RepAlign loss, its targets through its own cache.
    RepAlign(&'a RepAlignLoss, f64, &'a mut TargetCache),
    /// A judge as a loss (`Judge::loss_against`), its targets kept per patch.
    Judge(&'a Judge, f64, HashMap<String, JudgeTarget>),
}

/// A named sum of terms.
pub struct Objective<'a> {
    pub name: String,
    pub terms: Vec<Term<'a>>,
}

/// Trains a fresh student on `objective`; returns it and the loss of every step, and
/// saves checkpoints in `checkpoints` (none when `None`).
pub fn train(
    objective: &mut Objective,
    patches: &[Patch],
    settings: &Settings,
    device: &Device,
    checkpoints: Option<&Path>,
) -> Result<(Student, Vec<f64>), CliError> {
    let autodiff = device.clone().autodiff();
    // Every run starts from the same student.
    autodiff.seed(settings.seed);
    let mut student = Student::new(settings.width, settings.depth, &autodiff);
    let mut optimizer = optimizer(settings.optimizer)?;
    let mut order = SplitMix64::new(settings.seed ^ 0x5eed);
    let mut queue: Vec<usize> = Vec::new();
    let mut losses = Vec::with_capacity(settings.steps);

    let bar = crate::progress::bar(
        Some(settings.steps as u64),
        "{prefix:>28} [{bar:30}] {pos}/{len} {msg} {per_sec} eta {eta}",
    );
    bar.set_prefix(objective.name.clone());
    let start = Instant::now();
    for step in 1..=settings.steps {
        let batch: Vec<usize> = (0..settings.batch)
            .map(|_| {
                if queue.is_empty() {
                    queue = shuffled(patches.len(), &mut order);
                }
                queue.pop().unwrap_or(0)
            })
            .collect();
        let ids: Vec<&str> = batch.iter().map(|&i| patches[i].id.as_str()).collect();
        let low = Tensor::cat(batch.iter().map(|&i| patches[i].low.clone()).collect(), 0).autodiff();
        let high = Tensor::cat(batch.iter().map(|&i| patches[i].high.clone()).collect(), 0);
        let output = student.forward(low)?;

        let mut total: Option<Tensor<1>> = None;
        for term in &mut objective.terms {
            let value = match term {
                Term::Pixel(weight) => (output.clone() - high.clone().autodiff()).abs().mean() * *weight,
                Term::RepAlign(loss, weight, cache) => {
                    let target = cache.target_features(loss, &ids, &high)?;
                    loss.loss_against(&output, &target)?.total * *weight
                }
                Term::Judge(judge, weight, targets) => {
                    let target = judge_targets(judge, targets, &ids, &batch, patches)?;
                    judge.loss_against(&output, &target)? * *weight
                }
            };
            total = Some(match total {
                Some(sum) => sum + value,
                None => value,
            });
        }
        let Some(total) = total else {
            return Err(CliError::Usage(format!(
                "{}: an objective needs a term",
                objective.name
            )));
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
        student = optimizer.step(settings.lr, student, grads);

        bar.inc(1);
        bar.set_message(format!("loss {value:.4}"));
        if let Some(dir) = checkpoints
            && (step % settings.checkpoint_every == 0 || step == settings.steps)
        {
            student.save(&dir.join(format!("student-step{step:05}.safetensors")))?;
        }
    }
    bar.finish_and_clear();
    if settings.verbose {
        eprintln!(
            "{}: {} steps in {:.0} s ({:.2} it/s), final loss {:.4}",
            objective.name,
            settings.steps,
            start.elapsed().as_secs_f64(),
            settings.steps as f64 / start.elapsed().as_secs_f64(),
            losses.last().copied().unwrap_or(f64::NAN)
        );
    }
    Ok((student, losses))
}

/// The judge's targets of a batch: each patch's computed once, then reused.
fn judge_targets(
    judge: &Judge,
    targets: &mut HashMap<String, JudgeTarget>,
    ids: &[&str],
    batch: &[usize],
    patches: &[Patch],
) -> Result<JudgeTarget, CliError> {
    for (&id, &index) in ids.iter().zip(batch) {
        if !targets.contains_key(id) {
            targets.insert(id.to_owned(), judge.target(&patches[index].high)?);
        }
    }
    let parts: Vec<&JudgeTarget> = ids.iter().filter_map(|id| targets.get(*id)).collect();
    Ok(JudgeTarget::concat(&parts)?)
}

/// A fresh optimiser of the chosen kind; both are burn `ModuleOptimizer`s, so the loop
/// steps either the same way.
fn optimizer(kind: OptimizerKind) -> Result<ModuleOptimizer, CliError> {
    Ok(match kind {
        OptimizerKind::AdamW => AdamWConfig::new().with_weight_decay(1e-4).init(),
        OptimizerKind::WnGradW => WnGradWConfig::new().init()?,
    })
}

pub fn write_losses(path: &Path, losses: &[f64]) -> Result<(), CliError> {
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
