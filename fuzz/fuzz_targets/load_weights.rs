//! Any bytes as a safetensors weight file, then as the weights of several teachers:
//! a teacher or a typed error, never a panic.
#![no_main]

use burn::tensor::Device;
use libfuzzer_sys::fuzz_target;
use repalign::{WeightStore, teacher};

const TEACHERS: [&str; 6] = [
    "vgg",
    "resnet18",
    "mobilenet_v2",
    "efficientnet_lite0",
    "squeezenet1_1",
    "dinov2",
];

fuzz_target!(|data: &[u8]| {
    let Ok(store) = WeightStore::from_bytes(data, "fuzz.safetensors") else {
        return;
    };
    let device = Device::flex();
    for name in TEACHERS {
        let _ = teacher::load(name, store.clone(), &device);
    }
});
