//! Safe under threads: the loss, its features, the teachers and the target cache (behind
//! a lock: its lookups update the recency order) are shared across threads, and losses
//! computed on four threads at once equal the single-thread values exactly.

use std::sync::Mutex;

use burn::tensor::{Device, Tensor};
use repalign::preprocess::{Normalize, Preprocess, Step};
use repalign::{
    Features, LossConfig, RepAlignLoss, TargetCache, Teacher, WeightStore, Weighting, teacher, testing,
};

/// Compile-time: these may be sent to and shared between threads.
const _: () = {
    const fn send_sync<T: Send + Sync + ?Sized>() {}
    send_sync::<RepAlignLoss>();
    send_sync::<Features>();
    send_sync::<dyn Teacher>();
    send_sync::<WeightStore>();
    send_sync::<Mutex<TargetCache>>();
    const fn send<T: Send>() {}
    send::<TargetCache>();
};

/// A loss value and the gradient on the output image.
type Outcome = (f32, Vec<f32>);

/// The loss of sample `i`, with the target from the shared cache.
fn step(loss: &RepAlignLoss, cache: &Mutex<TargetCache>, i: u64, device: &Device) -> Outcome {
    let ground_truth = testing::image([1, 3, 32, 32], 100 + i, device);
    let target = cache
        .lock()
        .unwrap()
        .target_features(loss, &[format!("sample-{i}")], &ground_truth)
        .unwrap();
    let image = testing::image([1, 3, 32, 32], 200 + i, device);
    let output = Tensor::from_inner(image).autodiff().require_grad();
    let report = loss.loss_against(&output, &target).unwrap();
    let value = report.total.clone().into_scalar::<f32>();
    let grads = report.total.backward();
    let gradient = output
        .grad(&grads)
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    (value, gradient)
}

#[test]
fn losses_on_four_threads_equal_the_single_thread_values() {
    let device = crate::common::device();
    let weights = testing::random_weights("vgg11", 4).unwrap();
    let loss = RepAlignLoss::new(
        teacher::load("vgg11", weights, &device).unwrap(),
        LossConfig::default().with_weighting(Weighting::Exp),
    )
    .with_preprocess(Preprocess::identity().then(Step::Normalize(Normalize::IMAGENET)));
    const SAMPLES: u64 = 8;
    let alone = Mutex::new(TargetCache::new(64 << 20));
    let expected: Vec<Outcome> = (0..SAMPLES).map(|i| step(&loss, &alone, i, &device)).collect();

    // Four threads, each taking every fourth sample, twice: the second round reads the
    // targets the others cached.
    let shared = Mutex::new(TargetCache::new(64 << 20));
    for _round in 0..2 {
        let results: Vec<Vec<(u64, Outcome)>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4u64)
                .map(|thread| {
                    let (loss, shared, device) = (&loss, &shared, &device);
                    scope.spawn(move || {
                        (0..SAMPLES)
                            .filter(|i| i % 4 == thread)
                            .map(|i| (i, step(loss, shared, i, device)))
                            .collect()
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        for (i, result) in results.into_iter().flatten() {
            assert_eq!(result, expected[i as usize], "sample {i}");
        }
    }
    let stats = shared.lock().unwrap().stats();
    assert_eq!((stats.misses, stats.hits), (8, 8));
}
