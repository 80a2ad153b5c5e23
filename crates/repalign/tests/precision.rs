//! Half-precision teachers (`LossConfig::with_teacher_precision`) on the test backend
//! (`REPALIGN_TEST_BACKEND`): identical images still give exactly zero, and a device
//! without the type refuses it with a typed error, and the gradient reaches the f32
//! output finite and in f32. How far half precision is from f32 is measured on real
//! weights (`scripts/precision.sh`, `real_weights.rs`).

use repalign::preprocess::Preprocess;
use repalign::{Error, LossConfig, Normalization, Precision, RepAlignLoss, teacher, testing};

#[test]
fn a_half_precision_teacher_gives_zero_for_identical_images_or_a_device_error() {
    let device = crate::common::device();
    let image = testing::image([1, 3, 32, 32], 7, &device);
    for precision in [Precision::F16, Precision::Bf16] {
        let teacher = teacher::load("vgg11", testing::random_weights("vgg11", 1).unwrap(), &device).unwrap();
        let loss = RepAlignLoss::new(teacher, LossConfig::default().with_teacher_precision(precision))
            .with_preprocess(Preprocess::identity());
        let result = loss.loss_for(&image, &image);
        if precision.is_supported_on(&device) {
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
fn a_half_precision_teacher_gives_a_finite_gradient_into_the_f32_output() {
    let device = crate::common::device();
    let image = testing::image([1, 3, 32, 32], 7, &device);
    let output = testing::image([1, 3, 32, 32], 8, &device.clone().autodiff()).require_grad();
    for precision in [Precision::F16, Precision::Bf16] {
        if !precision.is_supported_on(&device) {
            continue;
        }
        let teacher = teacher::load("vgg11", testing::random_weights("vgg11", 1).unwrap(), &device).unwrap();
        let config = LossConfig::default()
            .with_teacher_precision(precision)
            .with_normalization(Normalization::Sample)
            .unwrap();
        let loss = RepAlignLoss::new(teacher, config).with_preprocess(Preprocess::identity());
        let target = loss.target_features(&image).unwrap();
        let report = loss.loss_against(&output, &target).unwrap();
        let grads = report.total.backward();
        let grad = output.grad(&grads).unwrap();
        assert_eq!(grad.dtype(), burn::tensor::DType::F32, "{precision}");
        let grad: Vec<f32> = grad.into_data().try_to_vec().unwrap();
        assert!(grad.iter().all(|g| g.is_finite()), "{precision}: gradient");
    }
}
