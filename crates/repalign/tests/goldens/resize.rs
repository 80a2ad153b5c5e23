//! `Resize` against torchvision's tensor `Resize` (bicubic/bilinear, antialias on/off,
//! up and down, shorter-side and exact sizes). Both apply the same f64-derived weights
//! in f32, so results agree to 1e-5 absolute on values of order 1.

use crate::common::*;
use repalign::preprocess::{Interpolation, Resize, ResizeTarget};

#[test]
fn resize_matches_torchvision() {
    let cases = read_json("resize.json");
    let tensors = read_tensors("resize.safetensors");
    let device = crate::common::device();
    for (i, case) in cases.as_array().unwrap().iter().enumerate() {
        let target = match &case["size"] {
            serde_json::Value::Array(hw) => ResizeTarget::Exact {
                height: hw[0].as_u64().unwrap() as usize,
                width: hw[1].as_u64().unwrap() as usize,
            },
            size => ResizeTarget::ShorterSide(size.as_u64().unwrap() as usize),
        };
        let interpolation = match case["interpolation"].as_str().unwrap() {
            "bicubic" => Interpolation::Bicubic,
            _ => Interpolation::Bilinear,
        };
        let resize = Resize {
            target,
            interpolation,
            antialias: case["antialias"].as_bool().unwrap(),
        };
        let (shape, values) = &tensors[&format!("input_{i}")];
        let (expected_shape, expected) = &tensors[&format!("output_{i}")];
        let output = resize.apply(tensor4(shape, values, &device)).unwrap();
        assert_eq!(output.dims().to_vec(), *expected_shape, "case {i}: {case}");
        let actual = to_vec(output);
        let worst = actual
            .iter()
            .zip(expected)
            .map(|(a, e)| (a - e).abs())
            .fold(0.0f32, f32::max);
        assert!(worst <= 1e-5, "case {i} {case}: max abs error {worst:.2e}");
    }
}
