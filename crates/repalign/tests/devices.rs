//! The test device against Flex: the same network computed twice in f32 must agree
//! tap by tap to rounding, within the noise the goldens allow for
//! ([`F32_TAP_NOISE`]). On Flex itself there is nothing to compare; run with
//! `REPALIGN_TEST_BACKEND=wgpu` (as `.ci/run` does on lavapipe) or `cuda`.

use burn::tensor::Device;
use repalign::Features;

use crate::common::golden::{F32_TAP_NOISE, GoldenCase, rms};
use crate::common::*;

/// The deepest fixtures, where f32 differences grow most: an EfficientNet with
/// squeeze-excitation, ResNet152, and a DINOv2 with registers.
const DEEP_FIXTURES: [&str; 3] = [
    "efficientnet_b5_inferred_g3_none",
    "resnet152_g2_linear",
    "dinov2_hf_reg_168x252_g3_none",
];

/// How two computations of the same taps differ.
#[derive(Default)]
struct Agreement {
    /// The largest element difference relative to its tap's RMS, and where.
    worst: f64,
    worst_tap: String,
    /// Values positive in one and not in the other (a ReLU after them gates
    /// differently), and the largest of them relative to its tap's RMS.
    sign_flips: usize,
    largest_flipped: f64,
}

impl Agreement {
    fn add(&mut self, label: &str, ours: &Features, reference: &Features) {
        for (tap, reference_tap) in ours.taps().iter().zip(reference.taps()) {
            let values = to_vec(tap.value.clone());
            let reference_values = to_vec(reference_tap.value.clone());
            let rms = rms(&reference_values).max(f64::MIN_POSITIVE);
            for (&a, &b) in values.iter().zip(&reference_values) {
                let noise = f64::from(a - b).abs() / rms;
                if noise > self.worst {
                    self.worst = noise;
                    self.worst_tap = format!("{label} {}", tap.info.name);
                }
                if (a > 0.0) != (b > 0.0) {
                    self.sign_flips += 1;
                    self.largest_flipped = self.largest_flipped.max(f64::from(a.abs().max(b.abs())) / rms);
                }
            }
        }
    }

    fn check(&self, name: &str) {
        eprintln!(
            "{name}: largest difference from Flex {:.2e} of the tap's RMS ({}); {} values change sign, the largest {:.1e} of the RMS",
            self.worst, self.worst_tap, self.sign_flips, self.largest_flipped
        );
        assert!(
            self.worst <= F32_TAP_NOISE,
            "{name}: {} differs from Flex by {:.2e} of its RMS (allowed {F32_TAP_NOISE:.0e})",
            self.worst_tap,
            self.worst
        );
    }
}

#[test]
fn taps_agree_across_devices() {
    let device = device();
    if device_is_flex() {
        eprintln!("taps_agree_across_devices: the test device is Flex; nothing to compare");
        return;
    }
    let flex = Device::flex();
    for name in DEEP_FIXTURES {
        let ours = GoldenCase::load(name, &device);
        let reference = GoldenCase::load(name, &flex);
        let mut agreement = Agreement::default();
        for image in ["output", "target"] {
            agreement.add(
                image,
                &ours.features(image, &device),
                &reference.features(image, &flex),
            );
        }
        agreement.check(name);
    }
}

mod real_weights {
    use repalign::{RepAlignLoss, WeightStore, teacher};

    use super::*;

    /// ImageNet VGG16 on the judges' photos (`judges.rs`): its taps are the inputs of
    /// the ReLUs LPIPS-vgg reads through.
    #[test]
    #[ignore = "needs fetched weights: `repalign fetch vgg16`"]
    fn vgg16_taps_of_the_judges_photos_agree_across_devices() {
        let device = device();
        if device_is_flex() {
            eprintln!("vgg16 taps: the test device is Flex; nothing to compare");
            return;
        }
        let path = repalign_fetch::weights_path(&repalign_fetch::cache_dir(None).unwrap(), "vgg16");
        assert!(
            path.exists(),
            "{} is missing: `repalign fetch vgg16`",
            path.display()
        );
        let loss = |device: &Device| {
            let teacher = teacher::load("vgg16", WeightStore::from_file(&path).unwrap(), device).unwrap();
            let preprocess = teacher.preprocess().without_resizing();
            RepAlignLoss::new(teacher, Default::default()).with_preprocess(preprocess)
        };
        let flex = Device::flex();
        let (ours, reference) = (loss(&device), loss(&flex));
        let tensors = read_tensors("judges_photos.safetensors");
        let mut agreement = Agreement::default();
        for image in ["distorted", "clean"] {
            let (shape, values) = &tensors[image];
            agreement.add(
                image,
                &ours.features(&tensor4(shape, values, &device)).unwrap(),
                &reference.features(&tensor4(shape, values, &flex)).unwrap(),
            );
        }
        agreement.check("vgg16 on the judges' photos");
    }
}
