//! One side of the benchmark (`scripts/bench.sh`): our training step on a teacher —
//! teacher pass on the target (or a [`TargetCache`] hit), teacher pass on the output
//! on the autodiff tape, loss, backward — timed per step, printed as JSON.
//!
//! ```text
//! cargo run --release -p repalign --example bench_step -- \
//!     --teacher vgg16 --weights W.safetensors --batch 4 --steps 5 [--cache] [--size 224] \
//!     [--device flex|wgpu|cuda|libtorch]
//! ```

use std::time::Instant;

// The allocator settings the `repalign` binary runs with, so that both measure the same
// program; a module of the binary, not of the library (see the file).
#[path = "../../repalign-cli/src/malloc.rs"]
mod malloc;

use burn::tensor::{Device, Tensor};
use repalign::preprocess::{Preprocess, Step};
use repalign::{Backend, LossConfig, RepAlignLoss, TargetCache, WeightStore, teacher, testing};

struct Args {
    teacher: String,
    weights: String,
    batch: usize,
    size: usize,
    steps: usize,
    warmup: usize,
    cache: bool,
    device: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        teacher: String::new(),
        weights: String::new(),
        batch: 1,
        size: 224,
        steps: 5,
        warmup: 1,
        cache: false,
        device: "flex".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--cache" {
            args.cache = true;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|e| format!("{flag} {value}: {e}"));
        match flag.as_str() {
            "--teacher" => args.teacher = value.clone(),
            "--weights" => args.weights = value.clone(),
            "--batch" => args.batch = number()?,
            "--size" => args.size = number()?,
            "--steps" => args.steps = number()?,
            "--warmup" => args.warmup = number()?,
            "--device" => args.device = value.clone(),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if args.teacher.is_empty() || args.weights.is_empty() {
        return Err("--teacher and --weights are required".into());
    }
    Ok(args)
}

/// A backend of this build by name (`repalign::Backend`: flex, wgpu, cuda, tch;
/// `libtorch` is `tch`'s name in `scripts/bench/bench.py`): its device and what it is
/// (e.g. the GPU's name), for the report.
fn device(name: &str) -> Result<(Device, String), String> {
    let name = if name == "libtorch" { "tch" } else { name };
    let open = |backend: Backend| Ok((backend.device()?, backend.describe()?));
    Backend::parse(name)
        .and_then(open)
        .map_err(|e: repalign::Error| e.to_string())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    malloc::tune_for_tensors();
    let args = parse_args()?;
    let (device, description) = device(&args.device)?;
    let teacher = teacher::load(&args.teacher, WeightStore::from_file(&args.weights)?, &device)?;
    // Images arrive at the teacher's size: normalisation only, on both sides.
    let preprocess = Preprocess::identity().then(Step::Normalize(teacher.normalize()));
    let loss = RepAlignLoss::new(teacher, LossConfig::default()).with_preprocess(preprocess);

    let shape = [args.batch, 3, args.size, args.size];
    // The same images as torch_step.py (SplitMix64 recipes), so the losses agree.
    let target = testing::image(shape, 1, &device);
    let student_output = target.clone() * 0.9 + testing::image(shape, 2, &device) * 0.1;
    let ids: Vec<String> = (0..args.batch).map(|i| format!("sample-{i}")).collect();
    let mut cache = TargetCache::new(u64::MAX);

    // Per step: total, then the phases (target, output forward with the loss, backward); Flex
    // runs eagerly, so the split is meaningful there.
    let mut steps: Vec<[f64; 4]> = Vec::with_capacity(args.steps);
    let mut value = 0.0;
    for step in 0..args.warmup + args.steps {
        let output = Tensor::from_inner(student_output.clone())
            .autodiff()
            .require_grad();
        let start = Instant::now();
        let target_features = if args.cache {
            cache.target_features(&loss, &ids, &target)?
        } else {
            loss.target_features(&target)?
        };
        let after_target = start.elapsed().as_secs_f64();
        // The teacher pass on the output, each tap compared with its target as it comes.
        let report = loss.loss_against(&output, &target_features)?;
        value = report.value()?;
        let after_forward = start.elapsed().as_secs_f64();
        drop(target_features);
        let grads = report.total.backward();
        // Reading a number back waits for the work on asynchronous backends.
        let grad = output.grad(&grads).ok_or("no gradient")?;
        let _: f32 = grad.sum().into_scalar();
        let total = start.elapsed().as_secs_f64();
        if step >= args.warmup {
            steps.push([
                total,
                after_target,
                after_forward - after_target,
                total - after_forward,
            ]);
        }
    }
    let column = |i: usize| -> String {
        let values: Vec<String> = steps.iter().map(|s| format!("{:.6}", s[i])).collect();
        format!("[{}]", values.join(", "))
    };
    println!(
        "{{\"times\": {}, \"phases\": {{\"target\": {}, \"forward_loss\": {}, \"backward\": {}}}, \"loss\": {value}, \"device\": {}}}",
        column(0),
        column(1),
        column(2),
        column(3),
        serde_json::to_string(&description)?
    );
    Ok(())
}
