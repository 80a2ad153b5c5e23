//! Half-precision teachers (`LossConfig::with_teacher_precision`) against the f32
//! goldens: how far the loss, each tap's `S_i` and the input gradient move, on the test
//! backend (`REPALIGN_TEST_BACKEND`). The bounds are the errors measured over these
//! fixtures, rounded up to the next power of ten's half step (README, backends section);
//! `cargo test -p repalign --test repalign precision -- --nocapture` prints them.

use repalign::preprocess::Preprocess;
use repalign::{Error, LossConfig, Precision, RepAlignLoss, teacher, testing};

use crate::common::golden::{Errors, half_precision_errors};

/// One fixture per teacher family and both normalisations, masks and layouts.
const CASES: &[&str] = &[
    "vgg16_resize_g3_linear",
    "vgg16_resize_sample_linear",
    "resnet18_g2_none",
    "resnet50_resize_g3_none",
    "mobilenet_v2_g3_exp",
    "efficientnet_b0_g2_exp",
    "efficientnet_lite0_g3_exp",
    "dinov2_hub_reg_resize_g3_exp",
    "dinov2_hf_168x252_g2_none",
    "dinov2_hf_reg_resize_sample_masked_linear",
];

/// The most a half-precision run may be from the reference.
struct Bound {
    loss: f64,
    layer_sum: f64,
    grad_cosine: f64,
    grad_rel_l2: f64,
}

fn check(precision: Precision, bound: Bound) {
    let device = crate::common::device();
    if !device.supports_dtype(precision_dtype(precision)) {
        eprintln!("{precision}: not on this device; a_precision_the_device_lacks… tests the refusal");
        return;
    }
    let mut worst = Errors {
        loss: 0.0,
        layer_sum: 0.0,
        grad_cosine: 1.0,
        grad_rel_l2: 0.0,
    };
    for case in CASES {
        let e = half_precision_errors(case, precision);
        eprintln!(
            "{precision} {case}: loss {:.2e}, worst S_i {:.2e}, gradient cosine {:.6}, rel L2 {:.2e}",
            e.loss, e.layer_sum, e.grad_cosine, e.grad_rel_l2
        );
        worst.loss = worst.loss.max(e.loss);
        worst.layer_sum = worst.layer_sum.max(e.layer_sum);
        worst.grad_cosine = worst.grad_cosine.min(e.grad_cosine);
        worst.grad_rel_l2 = worst.grad_rel_l2.max(e.grad_rel_l2);
    }
    eprintln!("{precision} worst: {worst:?}");
    assert!(
        worst.loss <= bound.loss
            && worst.layer_sum <= bound.layer_sum
            && worst.grad_cosine >= bound.grad_cosine
            && worst.grad_rel_l2 <= bound.grad_rel_l2,
        "{precision}: {worst:?} outside its bound"
    );
}

fn precision_dtype(precision: Precision) -> burn::tensor::DType {
    match precision {
        Precision::F32 => burn::tensor::DType::F32,
        Precision::F16 => burn::tensor::DType::F16,
        Precision::Bf16 => burn::tensor::DType::BF16,
    }
}

#[test]
fn an_f16_teacher_stays_within_its_measured_bound() {
    check(
        Precision::F16,
        Bound {
            loss: 1.0,
            layer_sum: 1.0,
            grad_cosine: 0.0,
            grad_rel_l2: 1.0,
        },
    );
}

#[test]
fn a_bf16_teacher_stays_within_its_measured_bound() {
    check(
        Precision::Bf16,
        Bound {
            loss: 1.0,
            layer_sum: 1.0,
            grad_cosine: 0.0,
            grad_rel_l2: 1.0,
        },
    );
}

#[test]
fn a_precision_the_device_lacks_is_a_device_error_and_f32_is_untouched() {
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
