//! The judges against their reference packages (`scripts/reference/goldens_judges.py`):
//! three real photo crops under noise, blur and JPEG, each judge's value to 1e-4
//! relative of the package's float64 one and its gradient as the loss goldens.
//!
//! SSIM and PSNR need nothing; LPIPS and DISTS need the fetched weights (`repalign
//! fetch alexnet vgg16 lpips dists`), so they are ignored by default and `.ci/run`
//! runs them with the other `real_weights::` tests.

use burn::tensor::Tensor;
use repalign::WeightStore;
use repalign::judge::{Judge, Metric};

use super::common::*;

const FIXTURE: &str = "judges_photos";

/// Runs the judge on the fixture's images and checks value and gradient.
fn check(judge: &Judge) {
    let metric = judge.metric().name();
    let fixture = read_json(&format!("{FIXTURE}.json"));
    let expected = &fixture["metrics"][metric];
    let tensors = read_tensors(&format!("{FIXTURE}.safetensors"));
    let autodiff = device().autodiff();
    let (shape, values) = &tensors["distorted"];
    let distorted = tensor4(shape, values, &autodiff).require_grad();
    let (shape, values) = &tensors["clean"];
    let clean = tensor4(shape, values, &autodiff);

    let scores = judge.score(&distorted, &clean).unwrap();
    let values = to_vec(scores.clone());
    let mut worst = 0.0f64;
    for (i, (&ours, theirs)) in values
        .iter()
        .zip(expected["value_f64"].as_array().unwrap())
        .enumerate()
    {
        let theirs = theirs.as_f64().unwrap();
        let error = relative_error(f64::from(ours), theirs);
        worst = worst.max(error);
        assert!(
            error <= 1e-4,
            "{metric} sample {i}: {ours} vs {theirs} (relative {error:.2e})"
        );
    }

    let grad = distorted.grad(&scores.sum().backward()).unwrap();
    let (cosine, rel_l2) = compare_vectors(&to_vec(grad), &tensors[&format!("grad_{metric}")].1);
    // PyTorch's own f32 gradient is the floor (SPEC §7's bounds otherwise).
    let floor = 2.0 * expected["grad_f32_rel_l2"].as_f64().unwrap();
    eprintln!(
        "{metric}: value relative error ≤ {worst:.1e}; gradient cosine {cosine:.8}, relative L2 {rel_l2:.1e}"
    );
    assert!(cosine >= 0.9999, "{metric}: gradient cosine {cosine}");
    assert!(
        rel_l2 <= floor.max(1e-3),
        "{metric}: gradient relative L2 {rel_l2:.2e}"
    );
}

#[test]
fn ssim_matches_pytorch_msssim() {
    check(&Judge::plain(Metric::Ssim).unwrap());
}

#[test]
fn psnr_matches_its_definition() {
    check(&Judge::plain(Metric::Psnr).unwrap());
}

/// The identical pair scores perfectly: LPIPS 0, SSIM 1 (the fixture's `identity_f64`).
#[test]
fn a_clean_image_against_itself_is_perfect() {
    let tensors = read_tensors(&format!("{FIXTURE}.safetensors"));
    let (shape, values) = &tensors["clean"];
    let clean = tensor4(shape, values, &device());
    let ssim = to_vec(Judge::plain(Metric::Ssim).unwrap().score(&clean, &clean).unwrap());
    assert!(ssim.iter().all(|&s| (s - 1.0).abs() < 1e-6), "{ssim:?}");
}

mod real_weights {
    use super::*;

    fn judge(metric: Metric) -> Judge {
        let cache = repalign_fetch::cache_dir(None).unwrap();
        let (backbone, head) = metric.weights().unwrap();
        let load = |name: &str| {
            let path = repalign_fetch::weights_path(&cache, name);
            assert!(
                path.exists(),
                "{} is missing: `repalign fetch alexnet vgg16 lpips dists`",
                path.display()
            );
            WeightStore::from_file(path).unwrap()
        };
        Judge::learned(metric, load(backbone), load(head), &device()).unwrap()
    }

    #[test]
    #[ignore = "needs fetched weights: `repalign fetch alexnet vgg16 lpips dists`"]
    fn lpips_alex_matches_the_lpips_package() {
        check(&judge(Metric::LpipsAlex));
    }

    #[test]
    #[ignore = "needs fetched weights: `repalign fetch alexnet vgg16 lpips dists`"]
    fn lpips_vgg_matches_the_lpips_package() {
        check(&judge(Metric::LpipsVgg));
    }

    #[test]
    #[ignore = "needs fetched weights: `repalign fetch alexnet vgg16 lpips dists`"]
    fn dists_matches_the_dists_package() {
        check(&judge(Metric::Dists));
    }

    /// Training with a judge as the loss: the target is computed once and reused.
    #[test]
    #[ignore = "needs fetched weights: `repalign fetch alexnet vgg16 lpips dists`"]
    fn lpips_as_a_loss_with_a_reused_target_pulls_the_image_towards_it() {
        let judge = judge(Metric::LpipsVgg);
        let tensors = read_tensors(&format!("{FIXTURE}.safetensors"));
        let autodiff = device().autodiff();
        let (shape, values) = &tensors["clean"];
        let target = judge.target(&tensor4(shape, values, &autodiff)).unwrap();
        let (shape, values) = &tensors["distorted"];
        let mut image = tensor4(shape, values, &autodiff);
        let mut losses = Vec::new();
        for _ in 0..3 {
            let input = image.clone().detach().require_grad();
            let loss = judge.loss_against(&input, &target).unwrap();
            let grad = input.grad(&loss.clone().backward()).unwrap();
            losses.push(loss.into_scalar::<f32>());
            image = Tensor::from_inner(input.inner() - grad * 20.0);
        }
        assert!(losses.windows(2).all(|w| w[1] < w[0]), "{losses:?}");
    }
}
