//! ResNet, AlexNet and SqueezeNet against the PyTorch reference (fixtures from
//! `scripts/reference/goldens_cnn.py`).

#[macro_use]
mod common;

golden!(
    resnet18_g2_none,
    resnet18_resize224_g2_exp,
    resnet34_g3_linear,
    resnet50_g2_exp,
    resnet50_resize_g3_none,
    resnet152_g2_linear,
    alexnet_features_g2_none,
    alexnet_classifier_g3_exp,
    alexnet_features_resize224_g2_linear,
    squeezenet1_0_g2_none,
    squeezenet1_0_features_g3_linear,
    squeezenet1_1_g3_exp,
    squeezenet1_1_resize_g2_linear,
);

use burn::tensor::Device;
use repalign::{Error, LayerKind, TapSelector, Taps, Teacher, WeightStore, teacher};

/// The recipes of a fixture, as (key, shape, values).
fn fixture_tensors(name: &str) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let fixture = common::read_json(&format!("{name}.json"));
    common::recipes(&fixture["weights"])
        .into_iter()
        .map(|r| {
            let values = r.values();
            (r.key, r.shape, values)
        })
        .collect()
}

fn load(name: &str, tensors: Vec<(String, Vec<usize>, Vec<f32>)>) -> repalign::Result<Box<dyn Teacher>> {
    teacher::load(name, WeightStore::from_tensors("test", tensors), &Device::flex())
}

/// Runs `teacher` on a `side`x`side` image, tapping `kinds`: (name, kind, values).
fn taps(teacher: &dyn Teacher, side: usize, kinds: &[LayerKind]) -> Vec<(String, LayerKind, Vec<f32>)> {
    let selector = TapSelector::default().with_kinds(kinds.iter().copied());
    let mut taps = Taps::new(&selector);
    let device = Device::flex();
    teacher.forward(
        repalign::testing::image([1, 3, side, side], 7, &device),
        &mut taps,
    );
    taps.into_vec()
        .into_iter()
        .map(|tap| (tap.info.name, tap.info.kind, common::to_vec(tap.value)))
        .collect()
}

#[test]
fn resnet_names_depth_and_input_sizes() {
    let tensors = fixture_tensors("resnet18_g2_none");
    let resnet = load("resnet", tensors.clone()).unwrap();
    assert_eq!(resnet.name(), "resnet18");
    // Every conv and pool is padded: one pixel goes through, nothing does not.
    resnet.check_input(1, 1).unwrap();
    assert_eq!(taps(&*resnet, 1, &[LayerKind::Linear]).len(), 1);
    assert!(matches!(resnet.check_input(0, 5), Err(Error::InputSize { .. })));
    let error = load("resnet50", tensors).unwrap_err().to_string();
    assert!(
        error.contains("these are resnet18 weights, not resnet50"),
        "{error}"
    );
}

#[test]
fn resnet_norm_taps_hold_the_block_output() {
    // torchvision's `out += identity; relu(out)` overwrites the last BatchNorm's
    // output after the downsample branch has been hooked.
    let resnet = load("resnet18", fixture_tensors("resnet18_g2_none")).unwrap();
    let all = [
        LayerKind::Conv2d,
        LayerKind::Norm,
        LayerKind::Relu,
        LayerKind::Linear,
    ];
    let taps = taps(&*resnet, 32, &all);
    let names: Vec<&str> = taps
        .iter()
        .filter(|(name, ..)| name.starts_with("layer2.0."))
        .map(|(name, ..)| name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "layer2.0.conv1",
            "layer2.0.bn1",
            "layer2.0.relu",
            "layer2.0.conv2",
            "layer2.0.bn2",
            "layer2.0.downsample.0",
            "layer2.0.downsample.1",
            "layer2.0.relu",
        ]
    );
    let value = |name: &str, nth: usize| {
        taps.iter()
            .filter(|(n, ..)| n == name)
            .nth(nth)
            .map(|(.., v)| v.clone())
            .unwrap()
    };
    assert_eq!(value("layer2.0.bn2", 0), value("layer2.0.relu", 1));
    assert_eq!(value("layer2.0.bn1", 0), value("layer2.0.relu", 0));
    assert_eq!(value("bn1", 0), value("relu", 0));
    assert!(value("layer2.0.downsample.1", 0).iter().any(|&v| v < 0.0));
}

/// Zero weights (unit running variance) for every key of torchvision's ResNet-101.
fn resnet101_keys() -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut tensors = Vec::new();
    let mut conv = |key: String, shape: Vec<usize>| {
        let n = shape.iter().product();
        tensors.push((format!("{key}.weight"), shape, vec![0.0; n]));
    };
    let mut convs = vec![("conv1".to_owned(), vec![64, 3, 7, 7])];
    let mut norms = vec![("bn1".to_owned(), 64)];
    let mut channels = 64;
    for (stage, (planes, blocks)) in [(64, 3), (128, 4), (256, 23), (512, 3)].into_iter().enumerate() {
        for block in 0..blocks {
            let path = format!("layer{}.{block}", stage + 1);
            convs.push((format!("{path}.conv1"), vec![planes, channels, 1, 1]));
            convs.push((format!("{path}.conv2"), vec![planes, planes, 3, 3]));
            convs.push((format!("{path}.conv3"), vec![4 * planes, planes, 1, 1]));
            norms.extend([(format!("{path}.bn1"), planes), (format!("{path}.bn2"), planes)]);
            norms.push((format!("{path}.bn3"), 4 * planes));
            if block == 0 {
                convs.push((format!("{path}.downsample.0"), vec![4 * planes, channels, 1, 1]));
                norms.push((format!("{path}.downsample.1"), 4 * planes));
            }
            channels = 4 * planes;
        }
    }
    for (key, shape) in convs {
        conv(key, shape);
    }
    for (key, c) in norms {
        for (stat, value) in [
            ("weight", 1.0),
            ("bias", 0.0),
            ("running_mean", 0.0),
            ("running_var", 1.0),
        ] {
            tensors.push((format!("{key}.{stat}"), vec![c], vec![value; c]));
        }
    }
    tensors.push(("fc.weight".into(), vec![10, 2048], vec![0.0; 20480]));
    tensors.push(("fc.bias".into(), vec![10], vec![0.0; 10]));
    tensors
}

#[test]
fn resnet101_structure() {
    let resnet = load("resnet101", resnet101_keys()).unwrap();
    let names: Vec<String> = taps(&*resnet, 8, &[LayerKind::Conv2d, LayerKind::Linear])
        .into_iter()
        .map(|(name, ..)| name)
        .collect();
    // Stem, three convs per block over 3 + 4 + 23 + 3 blocks, four downsamples, fc.
    assert_eq!(names.len(), 1 + 3 * 33 + 4 + 1);
    assert_eq!(
        names[..6],
        [
            "conv1",
            "layer1.0.conv1",
            "layer1.0.conv2",
            "layer1.0.conv3",
            "layer1.0.downsample.0",
            "layer1.1.conv1"
        ]
    );
    assert_eq!(names[names.len() - 2..], ["layer4.2.conv3", "fc"]);
    assert!(names.contains(&"layer3.22.conv3".to_owned()));
    assert_eq!(load("resnet", resnet101_keys()).unwrap().name(), "resnet101");
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
        load("squeezenet1_1", missing),
        Err(Error::MissingWeight { key, .. }) if key == "features.9.expand3x3.bias"
    ));
    let mut extra = tensors.clone();
    extra.push(("features.13.weight".into(), vec![1], vec![0.0]));
    assert!(matches!(
        load("squeezenet1_1", extra),
        Err(Error::UnexpectedWeight { key, .. }) if key == "features.13.weight"
    ));
    let mut reshaped = tensors.clone();
    for (key, shape, _) in &mut reshaped {
        if key == "features.3.squeeze.weight" {
            shape.swap(0, 1);
        }
    }
    assert!(matches!(
        load("squeezenet1_1", reshaped),
        Err(Error::WeightShape { key, .. }) if key == "features.3.squeeze.weight"
    ));
    let error = load("squeezenet1_0", tensors).unwrap_err().to_string();
    assert!(
        error.contains("these are squeezenet1_1 weights, not squeezenet1_0"),
        "{error}"
    );

    let resnet: Vec<_> = fixture_tensors("resnet34_g3_linear")
        .into_iter()
        .filter(|(key, ..)| key != "layer2.0.downsample.1.running_var")
        .collect();
    assert!(matches!(
        load("resnet34", resnet),
        Err(Error::MissingWeight { key, .. }) if key == "layer2.0.downsample.1.running_var"
    ));
    let alexnet: Vec<_> = fixture_tensors("alexnet_classifier_g3_exp")
        .into_iter()
        .filter(|(key, ..)| key != "classifier.4.weight")
        .collect();
    assert!(matches!(
        load("alexnet", alexnet),
        Err(Error::MissingWeight { key, .. }) if key == "classifier.4.weight"
    ));
    assert!(matches!(
        load("squeezenet", fixture_tensors("alexnet_features_g2_none")),
        Err(Error::Architecture { .. })
    ));
}

#[test]
fn minimum_input_sizes() {
    let alexnet = load("alexnet", fixture_tensors("alexnet_features_g2_none")).unwrap();
    alexnet.check_input(63, 63).unwrap();
    let error = alexnet.check_input(62, 100).unwrap_err().to_string();
    assert!(error.contains("at least 63 pixels"), "{error}");
    let squeezenet = load("squeezenet", fixture_tensors("squeezenet1_0_g2_none")).unwrap();
    assert_eq!(squeezenet.name(), "squeezenet1_0");
    squeezenet.check_input(29, 29).unwrap();
    // The stem, three convs in each of eight Fires, and the final conv.
    assert_eq!(taps(&*squeezenet, 29, &[LayerKind::Conv2d]).len(), 26);
    let error = squeezenet.check_input(29, 28).unwrap_err().to_string();
    assert!(error.contains("at least 29 pixels"), "{error}");
    let squeezenet = load("squeezenet", fixture_tensors("squeezenet1_1_g3_exp")).unwrap();
    squeezenet.check_input(25, 25).unwrap();
    assert!(squeezenet.check_input(24, 25).is_err());
}
