//! The target-feature cache gives the same loss and gradient as recomputing the
//! targets, from memory and from its disk store, and counts what it does.

use std::path::PathBuf;

use burn::tensor::Tensor;
use repalign::preprocess::{Normalize, Preprocess, Step};
use repalign::teacher;
use repalign::{Error, LayerKind, LossConfig, RepAlignLoss, TapSelector, TargetCache, Weighting, testing};

fn vgg11() -> RepAlignLoss {
    let device = crate::common::device();
    let weights = testing::random_weights("vgg11_bn", 5).unwrap();
    let teacher = teacher::load("vgg11_bn", weights, &device).unwrap();
    RepAlignLoss::new(teacher, LossConfig::default().with_weighting(Weighting::Exp))
        .with_preprocess(Preprocess::identity().then(Step::Normalize(Normalize::IMAGENET)))
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("repalign-cache-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Loss value and output gradient of one step, with the targets given.
fn step(loss: &RepAlignLoss, output: &Tensor<4>, target: &repalign::Features) -> (f64, Vec<f32>) {
    let output = Tensor::from_inner(output.clone()).autodiff().require_grad();
    let report = loss.loss(&loss.features(&output).unwrap(), target).unwrap();
    let value = report.value().unwrap();
    let grads = report.total.backward();
    let grad = output.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
    (value, grad)
}

fn assert_close(a: &(f64, Vec<f32>), b: &(f64, Vec<f32>)) {
    assert!((a.0 - b.0).abs() <= 1e-6 * b.0.abs(), "loss {} vs {}", a.0, b.0);
    let scale = b.1.iter().fold(0f32, |m, g| m.max(g.abs()));
    for (x, y) in a.1.iter().zip(&b.1) {
        assert!((x - y).abs() <= 1e-5 * scale, "gradient {x} vs {y}");
    }
}

#[test]
fn cached_targets_give_the_same_loss_and_gradient_as_recomputing() {
    let loss = vgg11();
    let device = crate::common::device();
    let ids = ["a", "b", "c", "d"];
    let targets: Vec<Tensor<4>> = (0..4)
        .map(|i| testing::image([1, 3, 32, 32], 10 + i, &device))
        .collect();
    let one_entry = loss.target_features(&targets[0]).unwrap().bytes();
    // Room for two samples: every epoch evicts, so the disk store is exercised too.
    let dir = temp_dir("same");
    let mut cache = TargetCache::new(2 * one_entry).with_disk_store(&dir).unwrap();

    for epoch in 0..3 {
        for batch in [[0, 1], [2, 3]] {
            let target = Tensor::cat(batch.iter().map(|&i| targets[i].clone()).collect(), 0);
            let output = target.clone() * 0.8 + 0.05 * (epoch as f32 + 1.0);
            let batch_ids = [ids[batch[0]], ids[batch[1]]];
            let cached = cache.target_features(&loss, &batch_ids, &target).unwrap();
            let recomputed = loss.target_features(&target).unwrap();
            assert_close(&step(&loss, &output, &cached), &step(&loss, &output, &recomputed));
        }
    }
    let stats = cache.stats();
    assert_eq!(
        stats.misses, 4,
        "each sample goes through the teacher once: {stats:?}"
    );
    assert_eq!(stats.hits + stats.disk_hits, 8, "{stats:?}");
    assert!(stats.disk_hits > 0 && stats.evictions > 0, "{stats:?}");
    assert!(stats.resident_bytes <= 2 * one_entry, "{stats:?}");
    assert_eq!(cache.len(), 2);

    // A new cache on the same directory (the next run) needs no teacher pass.
    let mut next_run = TargetCache::new(u64::MAX).with_disk_store(&dir).unwrap();
    let target = Tensor::cat(targets.clone(), 0);
    let cached = next_run.target_features(&loss, &ids, &target).unwrap();
    let output = target.clone() * 0.5;
    assert_close(
        &step(&loss, &output, &cached),
        &step(&loss, &output, &loss.target_features(&target).unwrap()),
    );
    assert_eq!((next_run.stats().disk_hits, next_run.stats().misses), (4, 0));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn disk_entries_of_another_configuration_or_damaged_are_recomputed() {
    let device = crate::common::device();
    let dir = temp_dir("stale");
    let target = testing::image([1, 3, 32, 32], 3, &device);
    let mut cache = TargetCache::new(0).with_disk_store(&dir).unwrap();
    cache.target_features(&vgg11(), &["x"], &target).unwrap();
    assert_eq!(cache.stats().misses, 1);
    assert_eq!(cache.len(), 0, "a zero budget keeps nothing in memory");

    // Same directory, other tap selection: the file is not trusted.
    let relu_taps = vgg11().with_selector(TapSelector::default().with_kinds([LayerKind::Relu]));
    let mut other = TargetCache::new(0).with_disk_store(&dir).unwrap();
    other.target_features(&relu_taps, &["x"], &target).unwrap();
    assert_eq!((other.stats().disk_hits, other.stats().misses), (0, 1));

    // A truncated file is a miss, then rewritten.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    }
    let mut damaged = TargetCache::new(0).with_disk_store(&dir).unwrap();
    damaged.target_features(&relu_taps, &["x"], &target).unwrap();
    damaged.target_features(&relu_taps, &["x"], &target).unwrap();
    assert_eq!((damaged.stats().misses, damaged.stats().disk_hits), (1, 1));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn misuse_is_a_typed_error() {
    let device = crate::common::device();
    let target = testing::image([2, 3, 32, 32], 4, &device);
    let mut cache = TargetCache::new(u64::MAX);
    let err = cache
        .target_features(&vgg11(), &["only one"], &target)
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");

    cache.target_features(&vgg11(), &["p", "q"], &target).unwrap();
    let relu_taps = vgg11().with_selector(TapSelector::default().with_kinds([LayerKind::Relu]));
    let err = cache
        .target_features(&relu_taps, &["p", "q"], &target)
        .unwrap_err();
    assert!(err.to_string().contains("another loss configuration"), "{err}");
}

#[test]
fn whole_batches_come_back_in_the_order_asked() {
    // A fixed batch is served as the pass it came from; the same ids in another order,
    // or a part of them, must still line up row for row.
    let loss = vgg11();
    let device = crate::common::device();
    let images: Vec<Tensor<4>> = (0..3)
        .map(|i| testing::image([1, 3, 32, 32], 40 + i, &device))
        .collect();
    let batch = |order: &[usize]| Tensor::cat(order.iter().map(|&i| images[i].clone()).collect(), 0);
    let ids = ["x", "y", "z"];
    let mut cache = TargetCache::new(u64::MAX);
    for order in [
        vec![0, 1, 2],
        vec![0, 1, 2],
        vec![2, 0, 1],
        vec![1],
        vec![0, 1, 2],
    ] {
        let target = batch(&order);
        let order_ids: Vec<&str> = order.iter().map(|&i| ids[i]).collect();
        let cached = cache.target_features(&loss, &order_ids, &target).unwrap();
        let output = target.clone() * 0.7 + 0.1;
        assert_close(
            &step(&loss, &output, &cached),
            &step(&loss, &output, &loss.target_features(&target).unwrap()),
        );
    }
    assert_eq!((cache.stats().misses, cache.stats().hits), (3, 10));
}
