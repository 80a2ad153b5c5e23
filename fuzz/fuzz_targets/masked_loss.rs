//! Arbitrary image sizes through arbitrary resize / crop plans, and arbitrary masks
//! through the masked loss of a small teacher with conv, token and vector taps: a
//! finite loss of the planned size or a typed error, never a panic.
#![no_main]

use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Tensor, TensorData};
use libfuzzer_sys::fuzz_target;
use repalign::preprocess::{CenterCrop, Interpolation, Normalize, Preprocess, Resize, ResizeTarget, Step};
use repalign::teacher::TokenLayout;
use repalign::{LayerKind, LossConfig, Normalization, RepAlignLoss, Taps, Teacher};

/// Records its input as a conv tap, 2x2 patches (plus a mean token) as token taps,
/// and the mean colour as a vector tap: every kind of place a mask can take.
#[derive(Debug)]
struct Patches;

impl Teacher for Patches {
    fn name(&self) -> &str {
        "patches"
    }

    fn normalize(&self) -> Normalize {
        Normalize::IMAGENET
    }

    fn check_input(&self, height: usize, width: usize) -> repalign::Result<()> {
        if height < 2 || width < 2 || height % 2 != 0 || width % 2 != 0 {
            return Err(repalign::Error::InputSize {
                teacher: "patches".into(),
                height,
                width,
                reason: "sides must be even".into(),
            });
        }
        Ok(())
    }

    fn token_layout(&self, height: usize, width: usize) -> Option<TokenLayout> {
        Some(TokenLayout {
            prefix: 1,
            rows: height / 2,
            cols: width / 2,
        })
    }

    fn forward(&self, input: Tensor<4>, taps: &mut Taps) {
        let [batch, channels, height, width] = input.dims();
        taps.record("conv", LayerKind::Conv2d, &input);
        // Even sides (see `check_input`): 2x2 patches.
        let patches: Tensor<3> = adaptive_avg_pool2d(input.clone(), [height / 2, width / 2])
            .flatten(2, 3)
            .swap_dims(1, 2);
        let mean: Tensor<3> = patches.clone().mean_dim(1);
        let tokens = Tensor::cat(vec![mean.clone(), patches], 1);
        taps.record("tokens", LayerKind::Linear, &tokens);
        taps.record("head", LayerKind::Linear, &mean.reshape([batch, channels]));
    }
}

/// The fuzzer's bytes, read front to back (zeros once they run out).
struct Bytes<'a>(std::slice::Iter<'a, u8>);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        self.0.next().copied().unwrap_or(0)
    }

    fn size(&mut self, max: usize) -> usize {
        usize::from(u16::from_le_bytes([self.byte(), self.byte()])) % (max + 1)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = Bytes(data.iter());
    let batch = 1 + usize::from(bytes.byte() % 2);
    let (height, width) = (1 + bytes.size(160), 1 + bytes.size(160));
    let interpolation = match bytes.byte() % 2 {
        0 => Interpolation::Bilinear,
        _ => Interpolation::Bicubic,
    };
    let antialias = bytes.byte() % 2 == 1;
    let mut preprocess = Preprocess::identity();
    for _ in 0..bytes.byte() % 3 {
        let step = match bytes.byte() % 3 {
            0 => Step::Resize(Resize {
                target: ResizeTarget::ShorterSide(bytes.size(96)),
                interpolation,
                antialias,
            }),
            1 => Step::Resize(Resize {
                target: ResizeTarget::Exact {
                    height: bytes.size(96),
                    width: bytes.size(96),
                },
                interpolation,
                antialias,
            }),
            _ => Step::CenterCrop(CenterCrop {
                height: bytes.size(96),
                width: bytes.size(96),
            }),
        };
        preprocess = preprocess.then(step);
    }
    let preprocess = preprocess.then(Step::Normalize(Normalize::IMAGENET));
    let normalization = match bytes.byte() % 3 {
        0 => Normalization::Sample,
        size => Normalization::Groups { size: usize::from(size) },
    };
    let Ok(config) = LossConfig::default().with_normalization(normalization) else {
        return;
    };

    let device = Device::flex();
    let count = batch * height * width;
    let pixels: Vec<f32> = (0..3 * count).map(|i| (i * 37 % 101) as f32 / 100.0).collect();
    let target = Tensor::<4>::from_data(TensorData::new(pixels.clone(), [batch, 3, height, width]), &device);
    let output = Tensor::<4>::from_data(
        TensorData::new(pixels.iter().map(|p| 1.0 - p).collect::<Vec<_>>(), [batch, 3, height, width]),
        &device,
    )
    .autodiff()
    .require_grad();
    // Mask values from the rest of the bytes, some outside [0, 1] or not finite.
    let mask: Vec<f32> = (0..count)
        .map(|_| match bytes.byte() {
            251 => f32::NAN,
            252 => 1.5,
            253 => -0.25,
            254 => f32::INFINITY,
            value => f32::from(value.min(250)) / 250.0,
        })
        .collect();
    let mask_height = if bytes.byte() == 7 { height + 1 } else { height };
    let mask = Tensor::<4>::from_data(
        TensorData::new(
            [mask, vec![1.0; batch * width]].concat()[..batch * mask_height * width].to_vec(),
            [batch, 1, mask_height, width],
        ),
        &device,
    );

    let loss = RepAlignLoss::new(Box::new(Patches), config).with_preprocess(preprocess.clone());
    let Ok(target) = loss.target_features(&target) else {
        return;
    };
    // What the plan says, the features have.
    let (in_height, in_width) = preprocess.output_size(height, width);
    assert_eq!(target.taps()[0].info.shape, vec![batch, 3, in_height, in_width]);
    if let Ok(report) = loss.loss_against_masked(&output, &target, &mask) {
        let value = report.value().expect("readable");
        assert!(value.is_finite() && value >= 0.0, "loss {value}");
        let grad = output.grad(&report.total.backward()).expect("a gradient");
        let grad: Vec<f32> = grad.into_data().try_to_vec().expect("f32");
        assert!(grad.iter().all(|g| g.is_finite()), "non-finite gradient");
    }
});
