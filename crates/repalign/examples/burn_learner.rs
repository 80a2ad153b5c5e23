//! Training with burn's `Learner` (burn-train): a small residual student learns to undo a
//! contrast wash-out under the RepAlign loss, the teacher's taps of each ground truth
//! coming from a [`TargetCache`] keyed by sample id. The loss and its cache live in a
//! `#[module(skip)]` field of the student, so `TrainStep` and `InferenceStep` (burn's
//! validation step) reach them; every copy the Learner makes of the model shares them.
//! A VGG11 teacher with random weights and random images keep it offline and quick:
//! two epochs of three training batches and one validation batch on Flex, then the
//! Learner's summary (loss per split) and the cache's counts (the second epoch is all hits).
//!
//! ```text
//! cargo run -p repalign --example burn_learner
//! ```

use std::fmt;
use std::sync::{Arc, Mutex};

use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::InMemDataset;
use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::optim::AdamConfig;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use burn::train::metric::LossMetric;
use burn::train::{InferenceStep, Learner, RegressionOutput, SupervisedTraining, TrainOutput, TrainStep};
use repalign::preprocess::Preprocess;
use repalign::{LossConfig, RepAlignLoss, TargetCache, teacher, testing};

/// Image side: VGG needs at least 32 pixels (five 2x2 max-pools).
const SIZE: usize = 32;
const BATCH: usize = 4;
const EPOCHS: usize = 2;
/// Sample ids: training and validation images are distinct cache entries.
const TRAIN: std::ops::Range<usize> = 0..12;
const VALID: std::ops::Range<usize> = 100..104;

/// The perceptual loss and the teacher taps of the ground truths, shared (not copied)
/// by every clone of the student.
#[derive(Clone)]
struct Objective(Arc<(RepAlignLoss, Mutex<TargetCache>)>);

impl Objective {
    /// The RepAlign loss of `output` against the ground truths of samples `ids`.
    fn loss(&self, output: &Tensor<4>, ids: &[String], ground_truth: &Tensor<4>) -> Tensor<1> {
        let (loss, cache) = &*self.0;
        let target = cache
            .lock()
            .expect("target cache lock")
            .target_features(loss, ids, ground_truth)
            .expect("teacher pass on the ground truth");
        loss.loss_against(output, &target).expect("RepAlign loss").total
    }
}

impl fmt::Debug for Objective {
    // Shows up in the model's summary; the teacher's own Debug would list every layer.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepAlignLoss({})", self.0.0.teacher().name())
    }
}

/// The student: the input plus a learned correction.
#[derive(Module, Debug)]
struct Student {
    conv1: Conv2d,
    conv2: Conv2d,
    #[module(skip)]
    objective: Objective,
}

impl Student {
    fn new(objective: Objective, device: &Device) -> Self {
        let conv = |from: usize, to: usize| {
            Conv2dConfig::new([from, to], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device)
        };
        Student {
            conv1: conv(3, 16),
            conv2: conv(16, 3),
            objective,
        }
    }

    fn forward(&self, image: Tensor<4>) -> Tensor<4> {
        image.clone() + self.conv2.forward(relu(self.conv1.forward(image)))
    }

    /// Forward pass and loss: the same for training (on the autodiff device) and validation.
    fn regression(&self, batch: Batch) -> RegressionOutput {
        let output = self.forward(batch.washed_out);
        let loss = self.objective.loss(&output, &batch.ids, &batch.clean);
        RegressionOutput::new(loss, output.flatten(1, 3), batch.clean.flatten(1, 3))
    }
}

impl TrainStep for Student {
    type Input = Batch;
    type Output = RegressionOutput;

    fn step(&self, batch: Batch) -> TrainOutput<RegressionOutput> {
        let item = self.regression(batch);
        TrainOutput::new(self, item.loss.backward(), item)
    }
}

impl InferenceStep for Student {
    type Input = Batch;
    type Output = RegressionOutput;

    fn step(&self, batch: Batch) -> RegressionOutput {
        self.regression(batch)
    }
}

/// A batch: the samples' ids (the cache keys), the student's input and the ground truth.
#[derive(Clone, Debug)]
struct Batch {
    ids: Vec<String>,
    washed_out: Tensor<4>,
    clean: Tensor<4>,
}

/// Makes each sample from its id: a random image, and a copy at half contrast.
struct WashOut;

impl Batcher<usize, Batch> for WashOut {
    fn batch(&self, items: Vec<usize>, device: &Device) -> Batch {
        let images = items
            .iter()
            .map(|&id| testing::image([1, 3, SIZE, SIZE], id as u64, device))
            .collect();
        let clean = Tensor::cat(images, 0);
        Batch {
            ids: items.iter().map(|id| format!("sample-{id}")).collect(),
            washed_out: clean.clone() * 0.5 + 0.25,
            clean,
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let device = Device::flex();
    let weights = testing::random_weights("vgg11", 0)?;
    let loss = RepAlignLoss::new(teacher::load("vgg11", weights, &device)?, LossConfig::default())
        .with_preprocess(Preprocess::identity());
    let objective = Objective(Arc::new((loss, Mutex::new(TargetCache::new(64 << 20)))));
    // The Learner trains on the autodiff device the model lives on; the teacher stays
    // on the plain one (its weights are constants).
    let autodiff = device.clone().autodiff();
    autodiff.seed(0);
    let student = Student::new(objective.clone(), &autodiff);

    let train = DataLoaderBuilder::new(WashOut)
        .batch_size(BATCH)
        .shuffle(0)
        .build(InMemDataset::new(TRAIN.collect::<Vec<usize>>()));
    let valid = DataLoaderBuilder::new(WashOut)
        .batch_size(BATCH)
        .build(InMemDataset::new(VALID.collect::<Vec<usize>>()));

    // Metric logs and the experiment log; a stale directory would confuse the summary.
    let artifacts = std::env::temp_dir().join("repalign-learner-example");
    std::fs::remove_dir_all(&artifacts).ok();
    std::fs::create_dir_all(&artifacts)?;
    let result = SupervisedTraining::new(&artifacts, train, valid)
        .metric_train_numeric(LossMetric::new())
        .metric_valid_numeric(LossMetric::new())
        .num_epochs(EPOCHS)
        .summary()
        .launch(Learner::new(student, AdamConfig::new().init(), 1e-3));
    if let Some(error) = result.error {
        return Err(format!("training failed: {error}").into());
    }

    let stats = objective.0.1.lock().expect("target cache lock").stats();
    println!(
        "target cache: {} misses (one teacher pass per sample), {} hits, {:.1} MiB resident",
        stats.misses,
        stats.hits,
        stats.resident_bytes as f64 / (1u64 << 20) as f64
    );
    let samples = (TRAIN.len() + VALID.len()) as u64;
    assert_eq!(
        (stats.misses, stats.hits),
        (samples, samples * (EPOCHS as u64 - 1)),
        "each sample's targets are computed once"
    );
    Ok(())
}
