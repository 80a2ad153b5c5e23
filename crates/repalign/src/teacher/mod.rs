//! Teachers: frozen pretrained networks that record taps in PyTorch's execution order.

mod alexnet;
mod convnext;
mod dinov2;
mod efficientnet;
mod efficientnet_lite;
mod gelu;
mod heads;
pub(crate) mod layers;
mod mobilenet;
mod registry;
mod resnet;
mod squeezenet;
mod vgg;

use std::fmt;

use burn::tensor::Tensor;

#[cfg(any(test, feature = "testing"))]
pub(crate) use registry::build_named;
pub use registry::{load, names};

use crate::error::{Error, Result};
use crate::preprocess::{Normalize, Preprocess};
use crate::taps::Taps;

/// How a vision transformer's tokens map onto its input: `prefix` tokens with no place
/// in the image (class, registers), then a row-major grid of `rows`x`cols` patches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLayout {
    /// Tokens before the patches.
    pub prefix: usize,
    /// Patch rows.
    pub rows: usize,
    /// Patch columns.
    pub cols: usize,
}

/// A frozen network whose forward pass records taps.
///
/// Implementations hold their weights as constant tensors, so running them on an
/// autodiff input builds a tape only for the input's gradient.
pub trait Teacher: fmt::Debug + Send + Sync {
    /// The preset name, e.g. `vgg16_bn`.
    fn name(&self) -> &str;

    /// The input normalisation the teacher was trained with.
    fn normalize(&self) -> Normalize;

    /// The square input size of the teacher's preset (224 for ImageNet models).
    fn input_size(&self) -> usize {
        224
    }

    /// The teacher's preset: `Resize(input_size, bicubic, antialias)`,
    /// `CenterCrop(input_size)`, its normalisation.
    fn preprocess(&self) -> Preprocess {
        Preprocess::resize_crop_normalize(self.input_size(), self.normalize())
    }

    /// Whether an input of `height`x`width` (after preprocessing) can go through.
    /// The default refuses only an empty input: networks whose every conv and pool is
    /// padded (ResNet, MobileNetV2, EfficientNet and Lite) take any size from 1x1.
    ///
    /// # Errors
    /// [`Error::InputSize`] saying why not.
    fn check_input(&self, height: usize, width: usize) -> Result<()> {
        if height == 0 || width == 0 {
            return Err(Error::InputSize {
                teacher: self.name().to_owned(),
                height,
                width,
                reason: "the image is empty".into(),
            });
        }
        Ok(())
    }

    /// Where the token taps `(B, T, D)` of an input of `height`x`width` (after
    /// preprocessing) sit in the image, for masks; `None` (the default) for a teacher
    /// without tokens, whose 3-D taps then see the mean of the whole mask.
    fn token_layout(&self, height: usize, width: usize) -> Option<TokenLayout> {
        let _ = (height, width);
        None
    }

    /// Runs the network on a `(B, 3, H, W)` input that passed
    /// [`check_input`](Teacher::check_input), recording taps in execution order.
    fn forward(&self, input: Tensor<4>, taps: &mut Taps);
}
