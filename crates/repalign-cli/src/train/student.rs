//! The student: a small residual CNN for 2x super-resolution. The low-resolution
//! input is upsampled bicubically and the convolutions learn the missing detail, so
//! an untrained student already equals the bicubic baseline. Leaky ReLUs: with plain
//! ReLUs some seeds left the student stuck near bicubic for the whole default budget.

use std::path::Path;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::tensor::Tensor;
use burn::tensor::activation::leaky_relu;
use repalign::preprocess::{Interpolation, Preprocess, Resize, ResizeTarget, Step};

use crate::backend::tensor_values;
use crate::error::CliError;
use crate::output::write_file;

/// Upsampler plus residual convolutions.
#[derive(Module, Debug)]
pub struct Student {
    convs: Vec<Conv2d>,
}

impl Student {
    /// `depth` 3x3 convolutions of `width` channels (`depth` ≥ 2).
    pub fn new(width: usize, depth: usize, device: &burn::tensor::Device) -> Self {
        let conv = |from: usize, to: usize| {
            Conv2dConfig::new([from, to], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device)
        };
        let mut convs = vec![conv(3, width)];
        convs.extend((2..depth).map(|_| conv(width, width)));
        // The last layer starts near zero: the untrained student is bicubic, give or
        // take a little noise (exactly zero would starve the other layers of gradient).
        convs.push(
            Conv2dConfig::new([width, 3], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .with_initializer(Initializer::Normal { mean: 0.0, std: 1e-3 })
                .init(device),
        );
        Student { convs }
    }

    /// `(B, 3, h, w)` in [0, 1] → `(B, 3, 2h, 2w)`.
    pub fn forward(&self, low: Tensor<4>) -> Result<Tensor<4>, CliError> {
        let base = upsample(low.clone())?;
        let mut x = low;
        let last = self.convs.len() - 1;
        for (index, conv) in self.convs.iter().enumerate() {
            x = conv.forward(x);
            if index == 0 {
                // Work at the output resolution from the first layer on.
                x = upsample(x)?;
            }
            if index < last {
                x = leaky_relu(x, 0.1);
            }
        }
        Ok(base + x)
    }

    /// Writes the weights as safetensors (`convs.N.weight`, `convs.N.bias`).
    pub fn save(&self, path: &Path) -> Result<(), CliError> {
        let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        let mut push = |name: String, shape: Vec<usize>, values: Vec<f32>| {
            tensors.push((name, shape, values.iter().flat_map(|v| v.to_le_bytes()).collect()));
        };
        for (index, conv) in self.convs.iter().enumerate() {
            let weight = conv.weight.val();
            push(
                format!("convs.{index}.weight"),
                weight.dims().to_vec(),
                tensor_values(weight)?,
            );
            if let Some(bias) = &conv.bias {
                let bias = bias.val();
                push(
                    format!("convs.{index}.bias"),
                    bias.dims().to_vec(),
                    tensor_values(bias)?,
                );
            }
        }
        let write_error = |e: safetensors::SafeTensorError| CliError::Write {
            path: path.to_owned(),
            source: std::io::Error::other(e),
        };
        let views = tensors
            .iter()
            .map(|(name, shape, bytes)| {
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                    .map(|view| (name.clone(), view))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(write_error)?;
        let encoded = safetensors::serialize(views, None).map_err(write_error)?;
        write_file(path, &encoded)
    }
}

/// Bicubic 2x upsampling (torchvision `Resize`, no antialiasing: it only matters when
/// shrinking).
pub fn upsample(image: Tensor<4>) -> Result<Tensor<4>, CliError> {
    let [_, _, height, width] = image.dims();
    resize(image, 2 * height, 2 * width, false)
}

/// Bicubic 2x downscaling with antialiasing (what PIL and torchvision do), clamped
/// to [0, 1]: how the low-resolution inputs are made.
pub fn downscale(image: Tensor<4>) -> Result<Tensor<4>, CliError> {
    let [_, _, height, width] = image.dims();
    Ok(resize(image, height / 2, width / 2, true)?.clamp(0.0, 1.0))
}

fn resize(image: Tensor<4>, height: usize, width: usize, antialias: bool) -> Result<Tensor<4>, CliError> {
    let step = Step::Resize(Resize {
        target: ResizeTarget::Exact { height, width },
        interpolation: Interpolation::Bicubic,
        antialias,
    });
    Ok(Preprocess::identity().then(step).apply(image)?)
}
