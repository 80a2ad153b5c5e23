//! Fixture reading, weight building and comparison helpers shared by the tests.

pub mod golden;

/// One `#[test]` per fixture name, each running [`golden::run_case`].
macro_rules! golden {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            $crate::common::golden::run_case(stringify!($name));
        }
    )*};
}

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use repalign::testing::{WeightRecipe, weights_from_recipes};
use repalign::{Backend, Teacher, WeightStore, teacher};
use serde_json::Value;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn read_json(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// Every tensor of a fixture safetensors file, as (shape, values).
pub fn read_tensors(name: &str) -> std::collections::HashMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(fixtures().join(name)).unwrap();
    let parsed = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    parsed
        .tensors()
        .into_iter()
        .map(|(key, view)| {
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (key, (view.shape().to_vec(), values))
        })
        .collect()
}

pub fn tensor4(shape: &[usize], values: &[f32], device: &Device) -> Tensor<4> {
    let shape: [usize; 4] = shape.try_into().unwrap();
    Tensor::from_data(TensorData::new(values.to_vec(), shape), device)
}

pub fn to_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

pub fn recipes(value: &Value) -> Vec<WeightRecipe> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| WeightRecipe {
            key: entry["key"].as_str().unwrap().to_owned(),
            shape: entry["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect(),
            seed: entry["seed"].as_u64().unwrap(),
            scale: entry["scale"].as_f64().unwrap() as f32,
            offset: entry["offset"].as_f64().unwrap() as f32,
        })
        .collect()
}

pub fn relative_error(actual: f64, expected: f64) -> f64 {
    (actual - expected).abs() / expected.abs().max(f64::MIN_POSITIVE)
}

/// (cosine similarity, relative L2 error) of `actual` against `expected`.
pub fn compare_vectors(actual: &[f32], expected: &[f32]) -> (f64, f64) {
    assert_eq!(actual.len(), expected.len());
    let (mut dot, mut aa, mut ee, mut diff) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for (&a, &e) in actual.iter().zip(expected) {
        let (a, e) = (f64::from(a), f64::from(e));
        dot += a * e;
        aa += a * a;
        ee += e * e;
        diff += (a - e) * (a - e);
    }
    (
        dot / (aa.sqrt() * ee.sqrt()).max(f64::MIN_POSITIVE),
        diff.sqrt() / ee.sqrt().max(f64::MIN_POSITIVE),
    )
}

/// The recipes of a fixture, as (key, shape, values).
pub fn fixture_tensors(name: &str) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let fixture = read_json(&format!("{name}.json"));
    recipes(&fixture["weights"])
        .into_iter()
        .map(|r| {
            let values = r.values();
            (r.key, r.shape, values)
        })
        .collect()
}

/// The backend and device the suites compute on: `REPALIGN_TEST_BACKEND` (flex, wgpu,
/// cuda or tch, among the backends the test build has), default flex. One place, so that
/// every suite runs on a GPU code path by setting one variable.
fn test_backend() -> &'static (Backend, Device) {
    static BACKEND: std::sync::OnceLock<(Backend, Device)> = std::sync::OnceLock::new();
    BACKEND.get_or_init(|| match std::env::var("REPALIGN_TEST_BACKEND") {
        Ok(name) if !name.trim().is_empty() => Backend::parse(&name)
            .and_then(|backend| Ok((backend, backend.device()?)))
            .unwrap_or_else(|e| panic!("REPALIGN_TEST_BACKEND={name}: {e}")),
        _ => (Backend::Flex, Device::flex()),
    })
}

/// The test device (see `test_backend`).
pub fn device() -> Device {
    test_backend().1.clone()
}

/// Whether the test device is Flex, the default.
pub fn device_is_flex() -> bool {
    test_backend().0 == Backend::Flex
}

/// Whether the test device is a CPU one (flex, tch): those compute the same ops to the
/// same bits every time and check every input; a GPU's reductions may add in another
/// order from one call to the next, and a step there reads nothing back.
pub fn device_is_cpu() -> bool {
    matches!(test_backend().0, Backend::Flex | Backend::Tch)
}

/// A teacher named `name` from in-memory tensors.
pub fn load_tensors(
    name: &str,
    tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
) -> repalign::Result<Box<dyn Teacher>> {
    teacher::load(name, WeightStore::from_tensors("test", tensors), &device())
}

/// The recipes of a fixture, for building (and breaking) weight files.
pub fn fixture_recipes(name: &str) -> Vec<WeightRecipe> {
    recipes(&read_json(&format!("{name}.json"))["weights"])
}

/// The error of loading `teacher` from `recipes`, which must fail.
pub fn load_error(teacher: &str, recipes: &[WeightRecipe]) -> String {
    match teacher::load(teacher, weights_from_recipes("test weights", recipes), &device()) {
        Ok(_) => panic!("{teacher}: loading should fail"),
        Err(e) => e.to_string(),
    }
}
