//! Properties that hold for any weights: exact zero on identical inputs, typed errors
//! on bad input, finite gradients, and the gradient checked by finite differences.

use burn::tensor::{Device, Tensor, TensorData};
use repalign::preprocess::{CenterCrop, Interpolation, Normalize, Preprocess, Resize, ResizeTarget, Step};
use repalign::teacher;
use repalign::{Error, LossConfig, RepAlignLoss, Weighting, testing};

use crate::common::{compare_vectors, relative_error};

fn vgg11(config: LossConfig) -> RepAlignLoss {
    let device = crate::common::device();
    let weights = testing::random_weights("vgg11_bn", 3).unwrap();
    let teacher = teacher::load("vgg11_bn", weights, &device).unwrap();
    RepAlignLoss::new(teacher, config)
        .with_preprocess(Preprocess::identity().then(Step::Normalize(Normalize::IMAGENET)))
}

fn random_image(shape: [usize; 4], device: &Device) -> Tensor<4> {
    let seed = shape.iter().product::<usize>() as u64;
    testing::image(shape, seed, device)
}

#[test]
fn identical_images_give_exactly_zero() {
    let loss = vgg11(LossConfig::default().with_weighting(Weighting::Exp));
    let device = crate::common::device();
    let image = random_image([2, 3, 40, 36], &device);
    let output = Tensor::from_inner(image.clone()).autodiff().require_grad();
    let report = loss.loss_for(&output, &image).unwrap();
    assert_eq!(report.value().unwrap(), 0.0);
    assert!(report.layer_sums().unwrap().iter().all(|&s| s == 0.0));
    let grads = report.total.backward();
    let grad: Vec<f32> = output.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
    assert!(grad.iter().all(|g| g.is_finite()));
}

#[test]
fn nan_or_inf_in_an_image_is_a_typed_error() {
    let loss = vgg11(LossConfig::default());
    let device = crate::common::device();
    let good = random_image([1, 3, 32, 32], &device);
    for bad_value in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut values = vec![0.5f32; 3 * 32 * 32];
        values[100] = bad_value;
        let bad = Tensor::<4>::from_data(TensorData::new(values, [1, 3, 32, 32]), &device);
        match loss.loss_for(&bad, &good) {
            Err(Error::NonFinite { argument }) => assert_eq!(argument, "output image"),
            other => panic!("expected NonFinite, got {other:?}"),
        }
        match loss.loss_for(&good, &bad) {
            Err(Error::NonFinite { argument }) => assert_eq!(argument, "target image"),
            other => panic!("expected NonFinite, got {other:?}"),
        }
    }
}

#[test]
fn a_non_finite_output_on_the_tape_is_an_error_on_the_cpu_and_a_non_finite_loss_on_a_gpu() {
    let loss = vgg11(LossConfig::default());
    let device = crate::common::device();
    let target = loss
        .target_features(&random_image([1, 3, 32, 32], &device))
        .unwrap();
    let mut values = vec![0.5f32; 3 * 32 * 32];
    values[100] = f32::NAN;
    let output = Tensor::<4>::from_data(
        TensorData::new(values, [1, 3, 32, 32]),
        &device.clone().autodiff(),
    )
    .require_grad();
    match (
        loss.loss_against(&output, &target),
        crate::common::device_is_cpu(),
    ) {
        (Err(Error::NonFinite { argument }), true) => assert_eq!(argument, "output image"),
        // No read-back in a training step off the CPU: the NaN reaches the loss.
        (Ok(report), false) => assert!(!report.value().unwrap().is_finite()),
        (other, cpu) => panic!("cpu: {cpu}: unexpected {other:?}"),
    }
}

#[test]
fn wrong_channels_small_images_and_mismatched_batches_are_errors() {
    let loss = vgg11(LossConfig::default());
    let device = crate::common::device();
    let err = loss.features(&random_image([1, 4, 32, 32], &device)).unwrap_err();
    assert!(
        err.to_string().contains("output image: expected (B, 3, H, W)"),
        "{err}"
    );
    let err = loss.features(&random_image([1, 3, 16, 40], &device)).unwrap_err();
    assert!(matches!(err, Error::InputSize { .. }), "{err}");
    let output = loss.features(&random_image([2, 3, 32, 32], &device)).unwrap();
    let target = loss
        .target_features(&random_image([1, 3, 32, 32], &device))
        .unwrap();
    let err = loss.loss(&output, &target).unwrap_err();
    assert!(matches!(err, Error::FeatureMismatch(_)), "{err}");
}

#[test]
fn gradients_are_finite_on_zero_and_constant_images() {
    let loss = vgg11(LossConfig::default().with_group_size(3).unwrap());
    let device = crate::common::device();
    for (output_value, target_value) in [(0.0, 0.0), (0.0, 0.7), (0.3, 0.3), (1.0, 0.0)] {
        let output =
            Tensor::<4>::full([1, 3, 32, 32], output_value, &device.clone().autodiff()).require_grad();
        let target = Tensor::<4>::full([1, 3, 32, 32], target_value, &device);
        let report = loss.loss_for(&output, &target).unwrap();
        assert!(report.value().unwrap().is_finite());
        let grads = report.total.backward();
        let grad: Vec<f32> = output.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
        assert!(
            grad.iter().all(|g| g.is_finite()),
            "({output_value}, {target_value})"
        );
    }
}

/// Central differences on an f32 ReLU network: a step `h` along a direction that moves
/// every pixel flips ReLU and max-pool decisions once it exceeds ~3e-3 (measured: 36%
/// off at 1e-2, 3.5% at 3e-3), while below ~3e-4 f32 rounding of the loss (~1e-9)
/// dominates the quotient. At h = 1e-3 both stay under 1% (measured 0.6%); we accept 2%.
#[test]
fn gradient_matches_finite_differences() {
    let loss = vgg11(LossConfig::default().with_weighting(Weighting::Linear));
    let device = crate::common::device();
    let shape = [1, 3, 32, 32];
    let target = testing::image(shape, 1, &device);
    let base: Vec<f32> = testing::image(shape, 2, &device)
        .into_data()
        .try_to_vec()
        .unwrap();
    let eval = |values: &[f32]| -> f64 {
        let image = Tensor::<4>::from_data(TensorData::new(values.to_vec(), shape), &device);
        loss.loss_for(&image, &target).unwrap().value().unwrap()
    };
    let output = Tensor::<4>::from_data(TensorData::new(base.clone(), shape), &device.clone().autodiff())
        .require_grad();
    let report = loss.loss_for(&output, &target).unwrap();
    let grads = report.total.backward();
    let grad: Vec<f32> = output.grad(&grads).unwrap().into_data().try_to_vec().unwrap();

    // Directional derivative along a fixed random direction: one comparison that
    // involves every pixel.
    let mut rng = testing::SplitMix64::new(11);
    let direction: Vec<f32> = (0..base.len()).map(|_| rng.next_signed()).collect();
    let h = 1e-3f32;
    let plus: Vec<f32> = base.iter().zip(&direction).map(|(b, d)| b + h * d).collect();
    let minus: Vec<f32> = base.iter().zip(&direction).map(|(b, d)| b - h * d).collect();
    let numeric = (eval(&plus) - eval(&minus)) / (2.0 * f64::from(h));
    let analytic: f64 = grad
        .iter()
        .zip(&direction)
        .map(|(g, d)| f64::from(*g) * f64::from(*d))
        .sum();
    let relative = (numeric - analytic).abs() / analytic.abs();
    assert!(
        relative < 0.02,
        "analytic {analytic:.6e} vs numeric {numeric:.6e} ({relative:.2e})"
    );
}

#[test]
fn custom_weighting_of_the_wrong_length_is_a_config_error() {
    let loss = vgg11(LossConfig::default().with_weighting(Weighting::Custom(vec![1.0; 3])));
    let device = crate::common::device();
    let image = random_image([1, 3, 32, 32], &device);
    let err = loss.loss_for(&image, &image).unwrap_err();
    assert!(
        err.to_string()
            .contains("3 weights but the teacher records 8 taps"),
        "{err}"
    );
}

#[test]
fn tap_listing_names_kinds_and_shapes() {
    let loss = vgg11(LossConfig::default());
    let infos = loss.tap_infos(64, 48, &crate::common::device()).unwrap();
    assert_eq!(infos.len(), 8);
    assert_eq!(infos[0].name, "features.0");
    assert_eq!(infos[0].shape, vec![1, 64, 64, 48]);
    assert_eq!(infos[7].name, "features.25");
    assert_eq!(infos[7].shape, vec![1, 512, 4, 3]);
}

#[test]
fn heatmap_is_zero_for_identical_images_and_finds_a_local_change() {
    let loss = vgg11(LossConfig::default());
    let device = crate::common::device();
    let image = random_image([1, 3, 64, 64], &device);
    let same = loss
        .heatmap(
            &loss.features(&image).unwrap(),
            &loss.target_features(&image).unwrap(),
            64,
            64,
        )
        .unwrap();
    let values: Vec<f32> = same.into_data().try_to_vec().unwrap();
    assert!(values.iter().all(|&v| v == 0.0));

    // Change only the top-left 24x24 corner: most of the heat must land there.
    let mut changed: Vec<f32> = image.clone().into_data().try_to_vec().unwrap();
    for c in 0..3 {
        for y in 0..24 {
            for x in 0..24 {
                changed[c * 64 * 64 + y * 64 + x] = 1.0 - changed[c * 64 * 64 + y * 64 + x];
            }
        }
    }
    let changed = Tensor::<4>::from_data(TensorData::new(changed, [1, 3, 64, 64]), &device);
    let heat = loss
        .heatmap(
            &loss.features(&changed).unwrap(),
            &loss.target_features(&image).unwrap(),
            64,
            64,
        )
        .unwrap();
    let heat: Vec<f32> = heat.into_data().try_to_vec().unwrap();
    let corner: f32 = (0..32)
        .flat_map(|y| (0..32).map(move |x| (y, x)))
        .map(|(y, x)| heat[y * 64 + x])
        .sum();
    let total: f32 = heat.iter().sum();
    assert!(corner > 0.5 * total, "corner {corner} of {total}");
}

#[test]
fn non_float32_images_and_batch_mismatches_name_the_argument() {
    let loss = vgg11(LossConfig::default());
    let device = crate::common::device();
    let half = random_image([1, 3, 32, 32], &device).cast(burn::tensor::DType::F16);
    let err = loss.features(&half).unwrap_err();
    assert!(matches!(err, Error::Dtype { .. }), "{err}");
    assert!(
        err.to_string().contains("output image: expected float32"),
        "{err}"
    );
    let err = loss.target_features(&half).unwrap_err();
    assert!(err.to_string().starts_with("target image"), "{err}");

    let err = loss
        .loss_for(
            &random_image([2, 3, 32, 32], &device),
            &random_image([3, 3, 32, 32], &device),
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("output batch has 2 images and the target batch 3"),
        "{err}"
    );
    let err = loss
        .features(&Tensor::zeros([0, 3, 32, 32], &device))
        .unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
}

#[test]
fn streaming_loss_equals_the_loss_of_collected_features_in_value_and_gradient() {
    let loss = vgg11(LossConfig::default().with_weighting(Weighting::Linear));
    let device = crate::common::device();
    let image = random_image([2, 3, 36, 40], &device);
    let target = loss
        .target_features(&random_image([2, 3, 36, 41], &device).slice([0..2, 0..3, 0..36, 0..40]))
        .unwrap();
    let run = |streaming: bool| {
        let output = Tensor::from_inner(image.clone()).autodiff().require_grad();
        let report = if streaming {
            loss.loss_against(&output, &target).unwrap()
        } else {
            loss.loss(&loss.features(&output).unwrap(), &target).unwrap()
        };
        let value = report.value().unwrap();
        let sums = report.layer_sums().unwrap();
        let grad: Vec<f32> = output
            .grad(&report.total.backward())
            .unwrap()
            .into_data()
            .try_to_vec()
            .unwrap();
        (value, sums, grad)
    };
    let (value, sums, grad) = run(true);
    let (want_value, want_sums, want_grad) = run(false);
    assert!(value > 0.0);
    if crate::common::device_is_cpu() {
        assert_eq!(value, want_value);
        assert_eq!(sums, want_sums);
        assert_eq!(grad, want_grad);
    } else {
        // A GPU's reductions need not add in the same order twice: the same ops agree
        // to f32 rounding, not to the bit.
        assert!(
            relative_error(value, want_value) <= 1e-6,
            "{value} vs {want_value}"
        );
        for (sum, want) in sums.iter().zip(&want_sums) {
            assert!(relative_error(*sum, *want) <= 1e-6, "S_i {sum} vs {want}");
        }
        let (cosine, rel_l2) = compare_vectors(&grad, &want_grad);
        assert!(
            cosine >= 1.0 - 1e-9 && rel_l2 <= 1e-6,
            "gradient: cosine {cosine}, rel L2 {rel_l2:.2e}"
        );
    }
}

#[test]
fn streaming_loss_refuses_targets_of_another_tap_selection() {
    let device = crate::common::device();
    let image = random_image([1, 3, 32, 32], &device);
    let all = vgg11(LossConfig::default());
    let some = vgg11(LossConfig::default())
        .with_selector(repalign::TapSelector::default().with_name_patterns(["features.1*"]));
    let fewer = some.target_features(&image).unwrap();
    let more = all.target_features(&image).unwrap();
    assert!(fewer.len() < more.len());
    for (loss, target) in [(&all, &fewer), (&some, &more)] {
        match loss.loss_against(&image, target) {
            Err(Error::FeatureMismatch(message)) => assert!(message.contains("tap"), "{message}"),
            other => panic!("expected FeatureMismatch, got {other:?}"),
        }
    }
}

/// Resize then centre crop computes only the rows and columns the crop keeps: the same
/// values as resizing the whole image and cropping it after.
#[test]
fn resize_then_crop_equals_cropping_the_resized_image() {
    let device = crate::common::device();
    for interpolation in [Interpolation::Bilinear, Interpolation::Bicubic] {
        for antialias in [true, false] {
            for (height, width, side, crop) in [
                (30, 50, 20, 16),
                (50, 30, 40, 40),
                (9, 200, 24, 24),
                (64, 64, 64, 48),
            ] {
                let resize = Resize::shorter_side(side, interpolation).with_antialias(antialias);
                let image = testing::image([2, 3, height, width], 5, &device);
                let fused = Preprocess::identity()
                    .then(Step::Resize(resize))
                    .then(Step::CenterCrop(CenterCrop::square(crop)))
                    .apply(image.clone())
                    .unwrap();
                let resized = Preprocess::identity()
                    .then(Step::Resize(resize))
                    .apply(image)
                    .unwrap();
                let apart = Preprocess::identity()
                    .then(Step::CenterCrop(CenterCrop::square(crop)))
                    .apply(resized)
                    .unwrap();
                assert_eq!(fused.dims(), [2, 3, crop, crop]);
                let fused: Vec<f32> = fused.into_data().try_to_vec::<f32>().unwrap();
                let apart: Vec<f32> = apart.into_data().try_to_vec::<f32>().unwrap();
                for (a, b) in fused.iter().zip(&apart) {
                    assert!(
                        (a - b).abs() <= 1e-6,
                        "{height}x{width} -> {side}, crop {crop}: {a} vs {b}"
                    );
                }
            }
        }
    }
}

/// A 2x5000 image through the 224 preset: resized whole, it would be 224x560000 pixels
/// with a 560000x5000 column matrix (tens of gigabytes); cropped as it is resized, it
/// costs what its 224x224 output costs.
#[test]
fn an_extreme_aspect_ratio_costs_what_the_crop_costs() {
    let device = crate::common::device();
    let preset = Preprocess::resize_crop_normalize(224, Normalize::IMAGENET);
    for shape in [[1, 3, 2, 5000], [1, 3, 5000, 2], [1, 3, 1, 3000]] {
        let output = preset.apply(testing::image(shape, 1, &device)).unwrap();
        assert_eq!(output.dims(), [1, 3, 224, 224], "{shape:?}");
    }
}

/// Found by the `masked_loss` fuzz target: a plan whose intermediate size is zero
/// (`Resize((0, 5))` then `Resize(10)`) reported a non-empty output size and then
/// panicked in the resampling ("chunk size must be non-zero").
#[test]
fn a_resize_or_crop_to_zero_pixels_even_in_between_is_a_shape_error_not_a_panic() {
    let device = crate::common::device();
    let image = random_image([1, 3, 20, 30], &device);
    let exact = |height, width| {
        Step::Resize(Resize {
            target: ResizeTarget::Exact { height, width },
            interpolation: Interpolation::Bilinear,
            antialias: true,
        })
    };
    let plans = [
        vec![
            exact(0, 5),
            Step::Resize(Resize::shorter_side(10, Interpolation::Bicubic)),
        ],
        vec![Step::Resize(Resize::shorter_side(0, Interpolation::Bicubic))],
        vec![Step::CenterCrop(CenterCrop { height: 0, width: 4 }), exact(8, 8)],
    ];
    for steps in plans {
        let plan = steps.into_iter().fold(Preprocess::identity(), Preprocess::then);
        match plan.apply(image.clone()) {
            Err(Error::Shape { argument, .. }) => {
                assert!(argument.starts_with("preprocessing step"), "{argument}")
            }
            other => panic!("{plan:?}: expected a shape error, got {other:?}"),
        }
    }
    let empty = Resize::shorter_side(0, Interpolation::Bilinear).apply(image);
    assert!(matches!(empty, Err(Error::Shape { .. })), "{empty:?}");
}
