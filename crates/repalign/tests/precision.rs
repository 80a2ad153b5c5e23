//! Half-precision teachers (`LossConfig::with_teacher_precision`) on the test backend
//! (`REPALIGN_TEST_BACKEND`): identical images still give exactly zero, and a device
//! without the type refuses it with a typed error. How far half precision is from f32
//! is not bounded here yet (README, backends section: the measurement so far).

use repalign::preprocess::Preprocess;
use repalign::{Error, LossConfig, Normalization, Precision, RepAlignLoss, teacher, testing};

fn precision_dtype(precision: Precision) -> burn::tensor::DType {
    match precision {
        Precision::F32 => burn::tensor::DType::F32,
        Precision::F16 => burn::tensor::DType::F16,
        Precision::Bf16 => burn::tensor::DType::BF16,
    }
}

#[test]
fn a_half_precision_teacher_gives_zero_for_identical_images_or_a_device_error() {
    let device = crate::common::device();
    let image = testing::image([1, 3, 32, 32], 7, &device);
    for precision in [Precision::F16, Precision::Bf16] {
        let teacher = teacher::load("vgg11", testing::random_weights("vgg11", 1).unwrap(), &device).unwrap();
        let loss = RepAlignLoss::new(teacher, LossConfig::default().with_teacher_precision(precision))
            .with_preprocess(Preprocess::identity());
        let result = loss.loss_for(&image, &image);
        if device.supports_dtype(precision_dtype(precision)) {
            assert_eq!(
                result.unwrap().value().unwrap(),
                0.0,
                "{precision}: identical images"
            );
        } else {
            match result {
                Err(Error::Device(message)) => assert!(message.contains(precision.name()), "{message}"),
                other => panic!("{precision}: expected a device error, got {other:?}"),
            }
        }
    }
}

#[test]
fn only_bf16_with_whole_sample_normalisation_takes_an_output_on_the_tape() {
    let device = crate::common::device();
    let image = testing::image([1, 3, 32, 32], 7, &device);
    let output = testing::image([1, 3, 32, 32], 8, &device.clone().autodiff()).require_grad();
    for (precision, normalization) in [
        (Precision::F16, Normalization::Sample),
        (Precision::F16, Normalization::Groups { size: 2 }),
        (Precision::Bf16, Normalization::Groups { size: 2 }),
        (Precision::Bf16, Normalization::Sample),
    ] {
        if !device.supports_dtype(precision_dtype(precision)) {
            continue;
        }
        let teacher = teacher::load("vgg11", testing::random_weights("vgg11", 1).unwrap(), &device).unwrap();
        let config = LossConfig::default()
            .with_teacher_precision(precision)
            .with_normalization(normalization)
            .unwrap();
        let loss = RepAlignLoss::new(teacher, config).with_preprocess(Preprocess::identity());
        // Targets (no tape) are computed in any precision.
        let target = loss.target_features(&image).unwrap();
        let result = loss.loss_against(&output, &target);
        match (precision, normalization) {
            (Precision::F16, _) | (_, Normalization::Groups { .. }) => match result {
                Err(Error::Config(message)) => assert!(message.contains("no usable gradient"), "{message}"),
                other => panic!(
                    "{precision} {normalization:?} on the tape: expected a config error, got {other:?}"
                ),
            },
            _ => {
                let report = result.unwrap();
                let grads = report.total.backward();
                let grad: Vec<f32> = output.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
                assert!(
                    grad.iter().all(|g| g.is_finite()) && grad.iter().any(|&g| g != 0.0),
                    "{precision}: gradient"
                );
            }
        }
    }
}
