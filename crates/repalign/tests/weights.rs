//! Broken or mismatched weight files end in a typed error naming the file and, where
//! there is one, the key (docs/guide/bad-inputs.md).

use repalign::teacher;
use repalign::testing::WeightRecipe;
use repalign::{Error, WeightStore, testing};

use crate::common::{fixture_recipes, fixture_tensors, load_error, load_tensors};

const ORIGIN: &str = "test.safetensors";

/// The random VGG11 of `repalign::testing` as safetensors bytes, plus `extra` tensors.
fn vgg11_bytes(extra: &[(&str, safetensors::Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let mut store = testing::random_weights("vgg11", 1).unwrap();
    let device = crate::common::device();
    let keys: Vec<String> = store.keys().map(str::to_owned).collect();
    let mut tensors: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for key in keys {
        let shape = store.shape(&key).unwrap().to_vec();
        let values: Vec<f32> = if shape.len() == 1 {
            store
                .take::<1>(&key, [shape[0]], &device)
                .unwrap()
                .into_data()
                .try_to_vec()
                .unwrap()
        } else {
            let dims = [shape[0], shape[1], shape[2], shape[3]];
            store
                .take::<4>(&key, dims, &device)
                .unwrap()
                .into_data()
                .try_to_vec()
                .unwrap()
        };
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        tensors.push((key, safetensors::Dtype::F32, shape, bytes));
    }
    for (key, dtype, shape, bytes) in extra {
        tensors.push(((*key).to_owned(), *dtype, shape.clone(), bytes.clone()));
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(key, dtype, shape, bytes)| {
            (
                key.clone(),
                safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

fn load(bytes: &[u8], teacher_name: &str) -> Error {
    let store = match WeightStore::from_bytes(bytes, ORIGIN) {
        Ok(store) => store,
        Err(error) => return error,
    };
    match teacher::load(teacher_name, store, &crate::common::device()) {
        Ok(_) => panic!("{teacher_name} accepted broken weights"),
        Err(error) => error,
    }
}

fn assert_names(error: &Error, parts: &[&str]) {
    let message = error.to_string();
    assert!(!message.contains('\n'), "{message}");
    for part in parts {
        assert!(message.contains(part), "`{part}` not in: {message}");
    }
}

/// A header by hand: `json`, padded, then `data`.
fn raw_file(json: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(json.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

#[test]
fn a_valid_file_loads() {
    assert!(
        teacher::load(
            "vgg11",
            WeightStore::from_bytes(&vgg11_bytes(&[]), ORIGIN).unwrap(),
            &crate::common::device()
        )
        .is_ok()
    );
}

#[test]
fn truncated_files_are_format_errors() {
    let bytes = vgg11_bytes(&[]);
    for cut in [0, 4, 8, 100, bytes.len() / 2, bytes.len() - 1] {
        let error = load(&bytes[..cut], "vgg11");
        assert!(matches!(error, Error::WeightsFormat { .. }), "cut {cut}: {error}");
        assert_names(&error, &[ORIGIN]);
    }
}

#[test]
fn bad_headers_are_format_errors() {
    let cases = [
        raw_file("{not json", &[]),
        raw_file(
            r#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}"#,
            &[0; 4],
        ),
        raw_file(
            r#"{"a": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 4]}}"#,
            &[0; 4],
        ),
        u64::MAX.to_le_bytes().to_vec(),
    ];
    for bytes in cases {
        let error = load(&bytes, "vgg11");
        assert!(matches!(error, Error::WeightsFormat { .. }), "{error}");
        assert_names(&error, &[ORIGIN]);
    }
}

#[test]
fn duplicate_keys_are_refused_and_named() {
    let json = r#"{"features.0.bias": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                   "features.0.bias": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#;
    let error = load(&raw_file(json, &[0; 8]), "vgg11");
    assert_names(&error, &[ORIGIN, "`features.0.bias` twice"]);
}

#[test]
fn a_weight_of_an_unconvertible_dtype_is_named() {
    let bytes = vgg11_bytes(&[]);
    let parsed = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    // Re-store one weight as int32.
    let tensors: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = parsed
        .tensors()
        .into_iter()
        .map(|(key, view)| {
            let dtype = if key == "features.3.bias" {
                safetensors::Dtype::I32
            } else {
                view.dtype()
            };
            (key, dtype, view.shape().to_vec(), view.data().to_vec())
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(k, d, s, b)| {
            (
                k.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let error = load(&safetensors::serialize(views, None).unwrap(), "vgg11");
    assert!(matches!(error, Error::WeightDtype { .. }), "{error}");
    assert_names(&error, &[ORIGIN, "features.3.bias", "I32"]);
}

#[test]
fn weights_of_another_architecture_are_refused() {
    let bytes = vgg11_bytes(&[]);
    for name in [
        "vgg16",
        "resnet18",
        "alexnet",
        "mobilenet_v2",
        "efficientnet_b0",
        "efficientnet_lite0",
        "dinov2",
        "squeezenet1_1",
    ] {
        let error = load(&bytes, name);
        assert_names(&error, &[ORIGIN]);
    }
}

#[test]
fn misshapen_weights_are_errors_not_panics() {
    // A scalar where the classifier's first matrix should be, and a vector for a conv.
    let scalar = vgg11_bytes(&[("classifier.0.weight", safetensors::Dtype::F32, vec![], vec![0; 4])]);
    assert_names(&load(&scalar, "vgg11"), &[ORIGIN, "classifier"]);
    let json = r#"{"features.0.weight": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}"#;
    assert_names(
        &load(&raw_file(json, &[0; 16]), "vgg11"),
        &[ORIGIN, "features.0.weight"],
    );
}

#[test]
fn nan_or_infinite_weights_are_refused_and_named() {
    let bytes = vgg11_bytes(&[]);
    let parsed = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for poison in [f32::NAN, f32::INFINITY] {
        let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = parsed
            .tensors()
            .into_iter()
            .map(|(key, view)| {
                let mut data = view.data().to_vec();
                if key == "features.0.bias" {
                    data[..4].copy_from_slice(&poison.to_le_bytes());
                }
                (key, view.shape().to_vec(), data)
            })
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
            .iter()
            .map(|(k, s, b)| {
                (
                    k.clone(),
                    safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap(),
                )
            })
            .collect();
        let error = load(&safetensors::serialize(views, None).unwrap(), "vgg11");
        assert!(matches!(error, Error::WeightNonFinite { .. }), "{error}");
        assert_names(&error, &[ORIGIN, "features.0.bias"]);
    }
}

#[test]
fn weight_errors_name_the_key() {
    let tensors = fixture_tensors("squeezenet1_1_g3_exp");
    let missing: Vec<_> = tensors
        .iter()
        .filter(|(key, ..)| key != "features.9.expand3x3.bias")
        .cloned()
        .collect();
    assert!(matches!(
        load_tensors("squeezenet1_1", missing),
        Err(Error::MissingWeight { key, .. }) if key == "features.9.expand3x3.bias"
    ));
    let mut extra = tensors.clone();
    extra.push(("features.13.weight".into(), vec![1], vec![0.0]));
    assert!(matches!(
        load_tensors("squeezenet1_1", extra),
        Err(Error::UnexpectedWeight { key, .. }) if key == "features.13.weight"
    ));
    let mut reshaped = tensors.clone();
    for (key, shape, _) in &mut reshaped {
        if key == "features.3.squeeze.weight" {
            shape.swap(0, 1);
        }
    }
    assert!(matches!(
        load_tensors("squeezenet1_1", reshaped),
        Err(Error::WeightShape { key, .. }) if key == "features.3.squeeze.weight"
    ));
    let error = load_tensors("squeezenet1_0", tensors).unwrap_err().to_string();
    assert!(
        error.contains("these are squeezenet1_1 weights, not squeezenet1_0"),
        "{error}"
    );

    let resnet: Vec<_> = fixture_tensors("resnet34_g3_linear")
        .into_iter()
        .filter(|(key, ..)| key != "layer2.0.downsample.1.running_var")
        .collect();
    assert!(matches!(
        load_tensors("resnet34", resnet),
        Err(Error::MissingWeight { key, .. }) if key == "layer2.0.downsample.1.running_var"
    ));
    let alexnet: Vec<_> = fixture_tensors("alexnet_classifier_g3_exp")
        .into_iter()
        .filter(|(key, ..)| key != "classifier.4.weight")
        .collect();
    assert!(matches!(
        load_tensors("alexnet", alexnet),
        Err(Error::MissingWeight { key, .. }) if key == "classifier.4.weight"
    ));
    assert!(matches!(
        load_tensors("squeezenet", fixture_tensors("alexnet_features_g2_none")),
        Err(Error::Architecture { .. })
    ));
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
