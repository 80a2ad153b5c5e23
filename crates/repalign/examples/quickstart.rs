//! The loss on an embedded default: a VGG16 teacher with deterministic random weights,
//! a synthetic image, and copies of it with growing noise. Prints the loss per noise
//! level, the per-layer split of one of them, and the gradient that reaches the image.
//!
//! ```text
//! cargo run --release -p repalign --example quickstart
//! ```

use burn::tensor::{Device, Distribution, Tensor, TensorData};
use repalign::teacher;
use repalign::{LossConfig, RepAlignLoss, Weighting, testing};

const SIZE: usize = 96;

fn main() -> Result<(), repalign::Error> {
    let device = Device::flex();
    let teacher = teacher::load("vgg16", testing::random_weights("vgg16", 7)?, &device)?;
    let loss = RepAlignLoss::new(teacher, LossConfig::default().with_weighting(Weighting::Exp));

    let clean = synthetic_image(&device);
    let target = loss.target_features(&clean)?;
    println!("teacher vgg16 (random weights), {SIZE}x{SIZE} image, preset preprocessing, exp weighting");
    println!("noise sigma\tloss");
    for sigma in [0.0, 0.02, 0.05, 0.1, 0.2] {
        let noise = Tensor::<4>::random([1, 3, SIZE, SIZE], Distribution::Normal(0.0, 1.0), &device) * sigma;
        let noisy = (clean.clone() + noise).clamp(0.0, 1.0);
        let output = Tensor::from_inner(noisy).autodiff().require_grad();
        let report = loss.loss(&loss.features(&output)?, &target)?;
        println!("{sigma:.2}\t\t{:.6}", report.value()?);
        if sigma == 0.1 {
            let grads = report.total.backward();
            if let Some(grad) = output.grad(&grads) {
                let norm: f32 = grad.square().sum().sqrt().into_scalar();
                println!("\t\tgradient L2 norm on the image: {norm:.3e}");
            }
        }
    }
    Ok(())
}

/// Smooth colour gradients with a few stripes: something with edges and texture.
fn synthetic_image(device: &Device) -> Tensor<4> {
    let mut values = Vec::with_capacity(3 * SIZE * SIZE);
    for channel in 0..3 {
        for y in 0..SIZE {
            for x in 0..SIZE {
                let (fx, fy) = (x as f32 / SIZE as f32, y as f32 / SIZE as f32);
                let stripes = ((fx * 12.0 + fy * 5.0 + channel as f32).sin() * 0.5 + 0.5) * 0.4;
                values.push((0.3 * fx + 0.3 * fy * channel as f32 / 2.0 + stripes).clamp(0.0, 1.0));
            }
        }
    }
    Tensor::from_data(TensorData::new(values, [1, 3, SIZE, SIZE]), device)
}
