//! Teachers: frozen pretrained networks that record taps in PyTorch's execution order.

mod dinov2;
mod layers;
mod vgg;

use std::fmt;

use burn::tensor::{Device, Tensor};

pub use dinov2::{Dinov2, Dinov2Config, Dinov2Variant, Ffn, Layout as Dinov2Layout, PosInterpolation};
pub use vgg::{Vgg, VggVariant};

use crate::error::{Error, Result};
use crate::preprocess::{Normalize, Preprocess};
use crate::taps::Taps;
use crate::weights::WeightStore;

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
    ///
    /// # Errors
    /// [`Error::InputSize`] saying why not.
    fn check_input(&self, height: usize, width: usize) -> Result<()>;

    /// Runs the network on a `(B, 3, H, W)` input that passed
    /// [`check_input`](Teacher::check_input), recording taps in execution order.
    fn forward(&self, input: Tensor<4>, taps: &mut Taps);
}

/// Teacher names accepted by [`load`].
pub const TEACHER_NAMES: &[&str] = &[
    "vgg",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
    "dinov2",
    "dinov2_vits14",
    "dinov2_vitb14",
    "dinov2_vitl14",
    "dinov2_vitg14",
    "dinov2_vits14_reg",
    "dinov2_vitb14_reg",
    "dinov2_vitl14_reg",
    "dinov2_vitg14_reg",
];

/// Builds the teacher `name` from `weights` on `device`. A family name (`vgg`) reads
/// the variant off the weights; a full name (`vgg16_bn`) also checks that they fit.
///
/// # Errors
/// [`Error::UnknownTeacher`], or any weight error naming the key.
pub fn load(name: &str, weights: WeightStore, device: &Device) -> Result<Box<dyn Teacher>> {
    let lower = name.to_ascii_lowercase();
    if lower == "vgg" {
        let variant = VggVariant::infer(&weights)?;
        return Ok(Box::new(Vgg::load(variant, weights, device)?));
    }
    if let Some(variant) = VggVariant::parse(&lower) {
        // Name the mix-up plainly rather than through its first missing key.
        if let Ok(found) = VggVariant::infer(&weights)
            && found != variant
        {
            return Err(Error::Architecture {
                origin: weights.origin().to_owned(),
                reason: format!("these are {} weights, not {}", found.name(), variant.name()),
            });
        }
        return Ok(Box::new(Vgg::load(variant, weights, device)?));
    }
    if lower == "dinov2" || lower.starts_with("dinov2_") {
        return load_dinov2(&lower, weights, device);
    }
    Err(Error::UnknownTeacher {
        name: name.to_owned(),
        known: TEACHER_NAMES.join(", "),
    })
}

/// `dinov2` reads everything off the weights; `dinov2_vitb14_reg` and the like also
/// check that the weights are that released model (in either layout).
fn load_dinov2(name: &str, weights: WeightStore, device: &Device) -> Result<Box<dyn Teacher>> {
    let config = Dinov2Config::infer(&weights)?;
    if name != "dinov2" {
        let variant = Dinov2Variant::parse(name).ok_or_else(|| Error::UnknownTeacher {
            name: name.to_owned(),
            known: TEACHER_NAMES.join(", "),
        })?;
        if let Some(reason) = variant.mismatch(&config) {
            return Err(Error::Architecture {
                origin: weights.origin().to_owned(),
                reason: format!("these weights are not {name}: {reason}"),
            });
        }
    }
    Ok(Box::new(Dinov2::load(config, weights, device)?))
}
