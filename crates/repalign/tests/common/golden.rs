//! The golden-test runner: loads a fixture written by `scripts/reference/make_goldens.py`,
//! runs the same step through repalign, and compares.
//!
//! Tolerances are SPEC §7's: both sides compute in f32, so the loss and each `S_i`
//! agree to 1e-4 relative; the input gradient, summed over many paths in a different
//! order, to cosine ≥ 0.9999 and relative L2 ≤ 1e-3.

use repalign::preprocess::{Preprocess, Step};
use repalign::testing::weights_from_recipes;
use repalign::{LossConfig, Normalization, Precision, RepAlignLoss, Weighting, teacher};

use super::*;

/// Runs the fixture `{name}.json` and asserts every figure.
pub fn run_case(name: &str) {
    run(name, Precision::F32, Check::Everything);
}

/// How far a run of the fixture `{name}.json` with a half-precision teacher is from the
/// reference: the same step with everything but the figures' tolerances asserted.
pub fn half_precision_errors(name: &str, precision: Precision) -> Errors {
    run(name, precision, Check::StructureOnly)
}

/// A run's distance from the fixture's figures.
#[derive(Debug, Clone, Copy)]
pub struct Errors {
    /// Relative error of the loss.
    pub loss: f64,
    /// The largest relative error of a tap's `S_i`, over taps whose `S_i` is at least a
    /// millionth of the largest (a tap's sum near zero has no meaningful relative error).
    pub layer_sum: f64,
    /// Cosine and relative L2 error of the input gradient against the float64 reference.
    pub grad_cosine: f64,
    pub grad_rel_l2: f64,
}

#[derive(PartialEq)]
enum Check {
    Everything,
    StructureOnly,
}

fn run(name: &str, precision: Precision, check: Check) -> Errors {
    let fixture = read_json(&format!("{name}.json"));
    let tensors = read_tensors(fixture["tensors"].as_str().unwrap());
    let device = device();
    let weights = weights_from_recipes(name, &recipes(&fixture["weights"]));
    let teacher = teacher::load(fixture["teacher"].as_str().unwrap(), weights, &device).unwrap();
    // The reference normalised with the teacher's preset statistics.
    let normalize = teacher.normalize();
    let pre = &fixture["preprocess"];
    for (ours, theirs) in normalize.mean.iter().chain(&normalize.std).zip(
        pre["mean"]
            .as_array()
            .unwrap()
            .iter()
            .chain(pre["std"].as_array().unwrap()),
    ) {
        assert!(
            (f64::from(*ours) - theirs.as_f64().unwrap()).abs() < 1e-7,
            "{name}: normalisation"
        );
    }
    let preprocess = match pre["resize"].as_u64() {
        Some(size) => Preprocess::resize_crop_normalize(size as usize, normalize),
        None => Preprocess::identity().then(Step::Normalize(normalize)),
    };
    let size = fixture["group_size"].as_u64().unwrap() as usize;
    // Fixtures of the first version say nothing: groups.
    let normalization = match fixture["normalization"].as_str() {
        None | Some("groups") => Normalization::Groups { size },
        Some("sample") => Normalization::Sample,
        Some(other) => panic!("{name}: unknown normalization {other}"),
    };
    let config = LossConfig::default()
        .with_normalization(normalization)
        .unwrap()
        .with_weighting(Weighting::parse(fixture["weighting"].as_str().unwrap()).unwrap())
        .with_teacher_precision(precision);
    let loss = RepAlignLoss::new(teacher, config).with_preprocess(preprocess);

    let autodiff = device.clone().autodiff();
    let (shape, values) = &tensors["output"];
    let output = tensor4(shape, values, &autodiff).require_grad();
    let (shape, values) = &tensors["target"];
    let target = tensor4(shape, values, &device);

    let mask = tensors
        .get("mask")
        .map(|(shape, values)| tensor4(shape, values, &device));
    let report = match &mask {
        Some(mask) => {
            let target = loss.target_features(&target).unwrap();
            loss.loss_against_masked(&output, &target, mask).unwrap()
        }
        None => loss.loss_for(&output, &target).unwrap(),
    };
    let expected_layers = fixture["layers"].as_array().unwrap();
    assert_eq!(report.layers.len(), expected_layers.len(), "{name}: tap count");
    let sums = report.layer_sums().unwrap();
    let largest = expected_layers
        .iter()
        .map(|l| l["sum"].as_f64().unwrap().abs())
        .fold(0.0, f64::max);
    let mut worst_sum: f64 = 0.0;
    for ((layer, sum), expected) in report.layers.iter().zip(&sums).zip(expected_layers) {
        let tap = &layer.info.name;
        assert_eq!(tap, expected["name"].as_str().unwrap(), "{name}: tap order");
        assert_eq!(
            layer.info.kind.as_str(),
            expected["kind"].as_str().unwrap(),
            "{name}: {tap} kind"
        );
        let shape: Vec<usize> = expected["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(layer.info.shape, shape, "{name}: {tap} shape");
        // A count, exact; with a mask a sum of f32 weights.
        let elements = expected["elements"].as_f64().unwrap();
        let tolerance = if mask.is_some() { 1e-5 } else { 0.0 };
        assert!(
            relative_error(layer.elements, elements) <= tolerance,
            "{name}: {tap} elements {} vs {elements}",
            layer.elements
        );
        let weight = expected["weight"].as_f64().unwrap();
        assert!(
            relative_error(layer.weight, weight) < 1e-12,
            "{name}: {tap} weight {} vs {weight}",
            layer.weight
        );
        let expected_sum = expected["sum"].as_f64().unwrap();
        let error = relative_error(*sum, expected_sum);
        if expected_sum.abs() >= 1e-6 * largest {
            worst_sum = worst_sum.max(error);
        }
        assert!(
            check == Check::StructureOnly || error <= 1e-4,
            "{name}: {tap} S_i {sum} vs {expected_sum} (rel {error:.2e})"
        );
    }
    let value = report.value().unwrap();
    let expected_loss = fixture["loss"].as_f64().unwrap();
    let loss_error = relative_error(value, expected_loss);
    let error = loss_error;
    assert!(
        check == Check::StructureOnly || error <= 1e-4,
        "{name}: loss {value} vs {expected_loss} (rel {error:.2e})"
    );

    let grads = report.total.backward();
    let grad = to_vec(output.grad(&grads).expect("output gradient"));
    // Against the exact (float64) reference gradient: SPEC §7's tolerance.
    let (cosine, rel_l2) = compare_vectors(&grad, &tensors["grad_f64"].1);
    let errors = Errors {
        loss: loss_error,
        layer_sum: worst_sum,
        grad_cosine: cosine,
        grad_rel_l2: rel_l2,
    };
    if check == Check::StructureOnly {
        return errors;
    }
    assert!(
        cosine >= 0.9999 && rel_l2 <= 1e-3,
        "{name}: gradient vs f64 reference: cosine {cosine}, rel L2 {rel_l2:.2e}"
    );
    // Against PyTorch's own f32 gradient: SPEC §7's tolerance, unless f32 rounding alone
    // moves the reference further from the exact gradient (`grad_f32_rounding`, measured
    // by the script); two f32 results each that far from it can be twice that apart.
    let rounding = fixture["grad_f32_rounding"].as_f64().unwrap();
    let tolerance = 1e-3f64.max(2.0 * rounding);
    let (cosine, rel_l2) = compare_vectors(&grad, &tensors["grad"].1);
    assert!(
        cosine >= 0.9999 && rel_l2 <= tolerance,
        "{name}: gradient vs f32 reference: cosine {cosine}, rel L2 {rel_l2:.2e} (tolerance {tolerance:.1e})"
    );
    errors
}
