//! The teachers' structure: the registry's names, variants read off the weights, taps
//! where PyTorch records them, minimum input sizes.

use repalign::testing::weights_from_recipes;
use repalign::{Error, LayerKind, TapSelector, Taps, Teacher, WeightStore, teacher, testing};

use crate::common::{self, fixture_recipes, fixture_tensors, load_tensors};

/// Runs `teacher` on a `side`x`side` image, tapping `kinds`: (name, kind, values).
fn taps(teacher: &dyn Teacher, side: usize, kinds: &[LayerKind]) -> Vec<(String, LayerKind, Vec<f32>)> {
    let selector = TapSelector::default().with_kinds(kinds.iter().copied());
    let mut taps = Taps::new(&selector);
    let device = crate::common::device();
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
    let resnet = load_tensors("resnet", tensors.clone()).unwrap();
    assert_eq!(resnet.name(), "resnet18");
    // Every conv and pool is padded: one pixel goes through, nothing does not.
    resnet.check_input(1, 1).unwrap();
    assert_eq!(taps(&*resnet, 1, &[LayerKind::Linear]).len(), 1);
    assert!(matches!(resnet.check_input(0, 5), Err(Error::InputSize { .. })));
    let error = load_tensors("resnet50", tensors).unwrap_err().to_string();
    assert!(
        error.contains("these are resnet18 weights, not resnet50"),
        "{error}"
    );
}

#[test]
fn resnet_norm_taps_hold_the_block_output() {
    // torchvision's `out += identity; relu(out)` overwrites the last BatchNorm's
    // output after the downsample branch has been hooked.
    let resnet = load_tensors("resnet18", fixture_tensors("resnet18_g2_none")).unwrap();
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
    let resnet = load_tensors("resnet101", resnet101_keys()).unwrap();
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
    assert_eq!(
        load_tensors("resnet", resnet101_keys()).unwrap().name(),
        "resnet101"
    );
}

#[test]
fn minimum_input_sizes() {
    let alexnet = load_tensors("alexnet", fixture_tensors("alexnet_features_g2_none")).unwrap();
    alexnet.check_input(63, 63).unwrap();
    let error = alexnet.check_input(62, 100).unwrap_err().to_string();
    assert!(error.contains("at least 63 pixels"), "{error}");
    let squeezenet = load_tensors("squeezenet", fixture_tensors("squeezenet1_0_g2_none")).unwrap();
    assert_eq!(squeezenet.name(), "squeezenet1_0");
    squeezenet.check_input(29, 29).unwrap();
    // The stem, three convs in each of eight Fires, and the final conv.
    assert_eq!(taps(&*squeezenet, 29, &[LayerKind::Conv2d]).len(), 26);
    let error = squeezenet.check_input(29, 28).unwrap_err().to_string();
    assert!(error.contains("at least 29 pixels"), "{error}");
    let squeezenet = load_tensors("squeezenet", fixture_tensors("squeezenet1_1_g3_exp")).unwrap();
    squeezenet.check_input(25, 25).unwrap();
    assert!(squeezenet.check_input(24, 25).is_err());
}

#[test]
fn family_names_infer_the_variant_and_presets_follow_it() {
    let device = crate::common::device();
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
    let device = crate::common::device();
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

/// The teachers whose random weights take gigabytes or most of the suite's time
/// (ConvNeXt-L 0.2, ViT-L 0.3 and ViT-g 1.1 billion parameters): checked by
/// [`the_largest_teachers_load_random_weights`], by hand.
const LARGEST: [&str; 5] = [
    "convnext_large",
    "dinov2_vitl14",
    "dinov2_vitg14",
    "dinov2_vitl14_reg",
    "dinov2_vitg14_reg",
];

/// Every name the registry lists loads random weights of its variant, and a family's
/// own name reads that variant off the same weights.
#[test]
fn every_name_loads_random_weights() {
    let checked = load_random_weights(|name| !LARGEST.contains(&name));
    assert_eq!(
        checked + LARGEST.len() + 7,
        teacher::names().len(),
        "7 family names"
    );
}

/// [`every_name_loads_random_weights`] for the largest teachers: ~14 GB and a minute.
/// `cargo test -p repalign --release -- --ignored the_largest`
#[test]
#[ignore = "needs ~14 GB of memory; run by hand"]
fn the_largest_teachers_load_random_weights() {
    assert_eq!(load_random_weights(|name| LARGEST.contains(&name)), LARGEST.len());
}

/// Loads every full name that `wanted` accepts from its random weights, by its name and
/// by its family's; returns how many.
fn load_random_weights(wanted: impl Fn(&str) -> bool) -> usize {
    let device = crate::common::device();
    let mut family: Option<String> = None;
    let mut checked = 0;
    for name in teacher::names() {
        if !wanted(&name) {
            continue;
        }
        let weights = match testing::random_weights(&name, 3) {
            Ok(weights) => weights,
            // A family's own name has no weights of its own; its variants follow it.
            Err(Error::UnknownTeacher { .. }) => {
                family = Some(name);
                continue;
            }
            Err(error) => panic!("{name}: {error}"),
        };
        let teacher =
            teacher::load(&name, weights.clone(), &device).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(teacher.name(), name);
        if let Some(family) = family.as_deref().filter(|f| name.starts_with(f)) {
            let inferred =
                teacher::load(family, weights, &device).unwrap_or_else(|e| panic!("{family}: {e}"));
            // The weights of `vgg16_caffe` are a plain VGG16's; only the preset differs.
            let plain = name.trim_end_matches("_caffe");
            assert_eq!(
                inferred.name(),
                plain,
                "{family} read the wrong variant off {name}'s weights"
            );
        }
        checked += 1;
    }
    checked
}
