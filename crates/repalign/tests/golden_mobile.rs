//! MobileNetV2, EfficientNet B0-B7 and EfficientNet-Lite against the PyTorch reference
//! (fixtures from `scripts/reference/goldens_mobile.py`), and their weight checks.

#[macro_use]
mod common;

use burn::tensor::Device;
use repalign::testing::{WeightRecipe, weights_from_recipes};
use repalign::{TapSelector, WeightStore, teacher};

golden!(
    mobilenet_v2_g2_none,
    mobilenet_v2_g3_exp,
    mobilenet_v2_resize224_g2_linear,
    efficientnet_b0_g2_exp,
    efficientnet_b0_resize_g3_linear,
    efficientnet_b5_inferred_g3_none,
    efficientnet_lite0_g2_none,
    efficientnet_lite0_g3_exp,
    efficientnet_lite0_resize224_g2_linear,
    efficientnet_lite2_resize_g3_linear,
);

/// The recipes of a fixture, for building (and breaking) weight files.
fn fixture_recipes(name: &str) -> Vec<WeightRecipe> {
    common::recipes(&common::read_json(&format!("{name}.json"))["weights"])
}

fn load_error(teacher: &str, recipes: &[WeightRecipe]) -> String {
    match teacher::load(
        teacher,
        weights_from_recipes("test weights", recipes),
        &Device::flex(),
    ) {
        Ok(_) => panic!("{teacher}: loading should fail"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn missing_unexpected_and_misshaped_keys_are_named() {
    for (fixture, teacher, key) in [
        (
            "mobilenet_v2_g2_none",
            "mobilenet_v2",
            "features.2.conv.1.0.weight",
        ),
        (
            "efficientnet_b0_g2_exp",
            "efficientnet_b0",
            "features.1.0.block.1.fc1.bias",
        ),
        (
            "efficientnet_lite0_g2_none",
            "efficientnet_lite0",
            "_blocks.3._bn1.running_var",
        ),
    ] {
        let recipes = fixture_recipes(fixture);
        let missing: Vec<_> = recipes.iter().filter(|r| r.key != key).cloned().collect();
        let error = load_error(teacher, &missing);
        assert!(error.contains(&format!("missing weight `{key}`")), "{error}");

        let mut extra = recipes.clone();
        extra.push(WeightRecipe {
            key: "features.99.weight".into(),
            shape: vec![1],
            seed: 1,
            scale: 1.0,
            offset: 0.0,
        });
        let error = load_error(teacher, &extra);
        assert!(
            error.contains("unexpected weight `features.99.weight`"),
            "{error}"
        );

        let mut misshaped = recipes.clone();
        let entry = misshaped.iter_mut().find(|r| r.key == key).unwrap();
        entry.shape.push(1);
        let error = load_error(teacher, &misshaped);
        assert!(error.contains(&format!("`{key}` has shape")), "{error}");
    }
}

#[test]
fn variant_mix_ups_are_named() {
    let b0 = fixture_recipes("efficientnet_b0_g2_exp");
    let error = load_error("efficientnet_b1", &b0);
    assert!(
        error.contains("these are efficientnet_b0 weights, not efficientnet_b1"),
        "{error}"
    );
    let lite2 = fixture_recipes("efficientnet_lite2_resize_g3_linear");
    let error = load_error("efficientnet_lite0", &lite2);
    assert!(
        error.contains("these are efficientnet_lite2 weights, not efficientnet_lite0"),
        "{error}"
    );
    let error = load_error("efficientnet", &lite2);
    assert!(error.contains("match no torchvision EfficientNet"), "{error}");
}

#[test]
fn family_names_infer_the_variant_and_presets_follow_it() {
    let device = Device::flex();
    let load = |name: &str, fixture: &str| {
        teacher::load(
            name,
            weights_from_recipes(fixture, &fixture_recipes(fixture)),
            &device,
        )
        .unwrap()
    };
    let b5 = load("efficientnet", "efficientnet_b5_inferred_g3_none");
    assert_eq!((b5.name(), b5.input_size()), ("efficientnet_b5", 456));
    let lite2 = load("efficientnet_lite", "efficientnet_lite2_resize_g3_linear");
    assert_eq!((lite2.name(), lite2.input_size()), ("efficientnet_lite2", 260));
    assert!((lite2.normalize().mean[0] - 127.0 / 255.0).abs() < 1e-7);
    let mobile = load("mobilenet_v2", "mobilenet_v2_g2_none");
    assert_eq!((mobile.name(), mobile.input_size()), ("mobilenet_v2", 224));
    assert!(mobile.check_input(0, 5).is_err());
}

#[test]
fn feature_extractors_load_without_their_classifier() {
    let device = Device::flex();
    for (fixture, teacher, head) in [
        ("mobilenet_v2_g2_none", "mobilenet_v2", "classifier."),
        ("efficientnet_lite0_g2_none", "efficientnet_lite0", "_fc."),
    ] {
        let recipes: Vec<_> = fixture_recipes(fixture)
            .into_iter()
            .filter(|r| !r.key.starts_with(head))
            .collect();
        let weights: WeightStore = weights_from_recipes(fixture, &recipes);
        let teacher = teacher::load(teacher, weights, &device).unwrap();
        let selector = TapSelector::default();
        let mut taps = repalign::Taps::new(&selector);
        teacher.forward(repalign::testing::image([1, 3, 17, 19], 7, &device), &mut taps);
        let taps = taps.into_vec();
        assert!(taps.iter().all(|t| !t.info.name.starts_with(head)));
        assert_eq!(taps.last().unwrap().info.shape[1], 1280);
    }
}
