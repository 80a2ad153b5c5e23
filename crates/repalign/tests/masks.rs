//! Masks: a mask of ones is no mask, and every bad mask is a typed error.

use burn::tensor::{Tensor, TensorData};
use repalign::preprocess::{Normalize, Preprocess, Step};
use repalign::teacher;
use repalign::{Error, LossConfig, Normalization, RepAlignLoss, testing};

use crate::common::{compare_vectors, relative_error};

fn loss(name: &str, normalization: Normalization, preprocess: Option<Preprocess>) -> RepAlignLoss {
    let device = crate::common::device();
    let weights = testing::random_weights(name, 5).unwrap();
    let teacher = teacher::load(name, weights, &device).unwrap();
    let config = LossConfig::default().with_normalization(normalization).unwrap();
    let loss = RepAlignLoss::new(teacher, config);
    match preprocess {
        Some(preprocess) => loss.with_preprocess(preprocess),
        None => loss,
    }
}

fn identity() -> Option<Preprocess> {
    Some(Preprocess::identity().then(Step::Normalize(Normalize::IMAGENET)))
}

/// Value and input gradient of the loss, masked or not.
fn step(loss: &RepAlignLoss, shape: [usize; 4], mask: Option<&Tensor<4>>) -> (f32, Vec<f32>) {
    let device = crate::common::device();
    let target = testing::image(shape, 1, &device);
    let output = Tensor::from_inner(testing::image(shape, 2, &device))
        .autodiff()
        .require_grad();
    let features = loss.target_features(&target).unwrap();
    let report = match mask {
        Some(mask) => loss.loss_against_masked(&output, &features, mask).unwrap(),
        None => loss.loss_against(&output, &features).unwrap(),
    };
    let value = report.total.clone().into_scalar::<f32>();
    let grad = output.grad(&report.total.backward()).unwrap();
    (value, grad.into_data().try_to_vec::<f32>().unwrap())
}

#[test]
fn a_mask_of_ones_gives_exactly_the_unmasked_loss_and_gradient() {
    let groups = Normalization::Groups { size: 2 };
    let cases = [
        ("vgg11", groups, identity(), [2, 3, 33, 35]),
        ("vgg11", Normalization::Sample, identity(), [1, 3, 40, 36]),
        (
            "resnet18",
            Normalization::Groups { size: 3 },
            identity(),
            [1, 3, 37, 29],
        ),
        // Token taps: class, register and patch tokens.
        ("dinov2_vits14_reg", groups, identity(), [1, 3, 28, 42]),
        ("dinov2_vits14", Normalization::Sample, identity(), [2, 3, 42, 28]),
        // The teacher's preset: the mask of ones goes through resize and crop.
        ("vgg11", groups, None, [1, 3, 50, 61]),
    ];
    for (name, normalization, preprocess, shape) in cases {
        let loss = loss(name, normalization, preprocess);
        let [batch, _, height, width] = shape;
        let ones = Tensor::<4>::ones([batch, 1, height, width], &crate::common::device());
        let plain = step(&loss, shape, None);
        let masked = step(&loss, shape, Some(&ones));
        if crate::common::device_is_cpu() {
            assert_eq!(masked, plain, "{name} {normalization:?} {shape:?}");
        } else {
            // A GPU may add the same sums in another order from one call to the next
            // (streamed vs collected taps agree to rounding there too): f32 rounding.
            let (value, want) = (f64::from(masked.0), f64::from(plain.0));
            assert!(relative_error(value, want) <= 1e-6, "{name}: {value} vs {want}");
            let (cosine, rel_l2) = compare_vectors(&masked.1, &plain.1);
            assert!(
                cosine >= 1.0 - 1e-9 && rel_l2 <= 1e-5,
                "{name}: gradient cosine {cosine}, rel L2 {rel_l2:.2e}"
            );
        }
    }
}

#[test]
fn bad_masks_are_typed_errors_naming_the_cause() {
    let loss = loss("vgg11", Normalization::Groups { size: 2 }, None);
    let device = crate::common::device();
    let shape = [2, 3, 40, 60];
    let output = testing::image(shape, 2, &device);
    let target = loss.target_features(&testing::image(shape, 1, &device)).unwrap();
    let mask =
        |values: Vec<f32>, dims: [usize; 4]| Tensor::<4>::from_data(TensorData::new(values, dims), &device);
    let count = 2 * 40 * 60;

    let wrong_size = mask(vec![1.0; 2 * 40 * 61], [2, 1, 40, 61]);
    let wrong_channels = mask(vec![1.0; 3 * count], [2, 3, 40, 60]);
    for bad in [wrong_size, wrong_channels] {
        match loss.loss_against_masked(&output, &target, &bad) {
            Err(Error::Shape { argument, .. }) => assert_eq!(argument, "mask"),
            other => panic!("expected a shape error, got {other:?}"),
        }
    }

    let mut nan = vec![1.0; count];
    nan[7] = f32::NAN;
    match loss.loss_against_masked(&output, &target, &mask(nan, [2, 1, 40, 60])) {
        Err(Error::NonFinite { argument }) => assert_eq!(argument, "mask"),
        other => panic!("expected NonFinite, got {other:?}"),
    }

    let mut above_one = vec![1.0; count];
    above_one[3] = 1.5;
    let mut second_sample_zero = vec![1.0; count];
    second_sample_zero[count / 2..].fill(0.0);
    // Non-zero only outside the preset's centre crop (40x60 → 224x336 → 224x224).
    let outside_crop: Vec<f32> = (0..count).map(|i| if i % 60 < 5 { 1.0 } else { 0.0 }).collect();
    for (values, cause) in [
        (vec![0.0; count], "sample 0 is zero everywhere"),
        (above_one, "values must lie in [0, 1], found 1.5"),
        (second_sample_zero, "sample 1 is zero everywhere"),
        (
            outside_crop,
            "zero everywhere in the 224x224 region the teacher sees",
        ),
    ] {
        let error = loss
            .loss_against_masked(&output, &target, &mask(values, [2, 1, 40, 60]))
            .unwrap_err();
        assert!(matches!(error, Error::Mask(_)), "{error:?}");
        assert!(error.to_string().contains(cause), "{error} lacks `{cause}`");
    }
}
