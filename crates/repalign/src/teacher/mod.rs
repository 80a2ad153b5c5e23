//! Teachers: frozen pretrained networks that record taps in PyTorch's execution order.

mod alexnet;
mod dinov2;
mod efficientnet;
mod efficientnet_lite;
mod gelu;
mod heads;
mod layers;
mod mobilenet;
mod resnet;
mod squeezenet;
mod vgg;

use std::fmt;

use burn::tensor::{Device, Tensor};

pub use alexnet::AlexNet;
pub use dinov2::{Dinov2, Dinov2Config, Dinov2Variant, Ffn, Layout as Dinov2Layout, PosInterpolation};
pub use efficientnet::{EfficientNet, EfficientNetVariant};
pub use efficientnet_lite::{EfficientNetLite, EfficientNetLiteVariant};
pub use mobilenet::MobileNetV2;
pub use resnet::{ResNet, ResNetBlock, ResNetVariant};
pub use squeezenet::{SqueezeNet, SqueezeNetVersion};
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
    "vgg16_caffe",
    "vgg19_caffe",
    "resnet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "alexnet",
    "squeezenet",
    "squeezenet1_0",
    "squeezenet1_1",
    "mobilenet_v2",
    "efficientnet",
    "efficientnet_b0",
    "efficientnet_b1",
    "efficientnet_b2",
    "efficientnet_b3",
    "efficientnet_b4",
    "efficientnet_b5",
    "efficientnet_b6",
    "efficientnet_b7",
    "efficientnet_lite",
    "efficientnet_lite0",
    "efficientnet_lite1",
    "efficientnet_lite2",
    "efficientnet_lite3",
    "efficientnet_lite4",
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
    if let Some(variant) = lower.strip_suffix("_caffe").and_then(VggVariant::parse) {
        check_variant(&weights, VggVariant::infer(&weights), variant, VggVariant::name)?;
        return Ok(Box::new(Vgg::load(variant, weights, device)?.with_caffe_preset()));
    }
    if let Some(variant) = VggVariant::parse(&lower) {
        check_variant(&weights, VggVariant::infer(&weights), variant, VggVariant::name)?;
        return Ok(Box::new(Vgg::load(variant, weights, device)?));
    }
    if resnet::accepts(&lower) {
        return Ok(Box::new(resnet::load_named(&lower, weights, device)?));
    }
    if lower == "alexnet" {
        return Ok(Box::new(AlexNet::load(weights, device)?));
    }
    if squeezenet::accepts(&lower) {
        return Ok(Box::new(squeezenet::load_named(&lower, weights, device)?));
    }
    if lower == "dinov2" || lower.starts_with("dinov2_") {
        return load_dinov2(&lower, weights, device);
    }
    if let Some(teacher) = load_mobile(&lower, weights, device)? {
        return Ok(teacher);
    }
    Err(Error::UnknownTeacher {
        name: name.to_owned(),
        known: TEACHER_NAMES.join(", "),
    })
}

/// MobileNetV2, EfficientNet B0-B7 and EfficientNet-Lite 0-4 (`efficientnet` and
/// `efficientnet_lite` read the variant off the weights); `Ok(None)` when `name` is
/// none of them.
fn load_mobile(name: &str, weights: WeightStore, device: &Device) -> Result<Option<Box<dyn Teacher>>> {
    let teacher: Box<dyn Teacher> = if name == "mobilenet_v2" {
        Box::new(MobileNetV2::load(weights, device)?)
    } else if name == "efficientnet" {
        let variant = EfficientNetVariant::infer(&weights)?;
        Box::new(EfficientNet::load(variant, weights, device)?)
    } else if let Some(variant) = EfficientNetVariant::parse(name) {
        check_variant(
            &weights,
            EfficientNetVariant::infer(&weights),
            variant,
            EfficientNetVariant::name,
        )?;
        Box::new(EfficientNet::load(variant, weights, device)?)
    } else if name == "efficientnet_lite" {
        let variant = EfficientNetLiteVariant::infer(&weights)?;
        Box::new(EfficientNetLite::load(variant, weights, device)?)
    } else if let Some(variant) = EfficientNetLiteVariant::parse(name) {
        check_variant(
            &weights,
            EfficientNetLiteVariant::infer(&weights),
            variant,
            EfficientNetLiteVariant::name,
        )?;
        Box::new(EfficientNetLite::load(variant, weights, device)?)
    } else {
        return Ok(None);
    };
    Ok(Some(teacher))
}

/// Names a variant mix-up (e.g. B1 weights loaded as B0) plainly rather than through
/// its first mis-shaped key. Weights of no known variant fall through to the loader,
/// which names the offending key.
fn check_variant<V: PartialEq + Copy>(
    weights: &WeightStore,
    found: Result<V>,
    wanted: V,
    name: impl Fn(V) -> String,
) -> Result<()> {
    match found {
        Ok(found) if found != wanted => Err(Error::Architecture {
            origin: weights.origin().to_owned(),
            reason: format!("these are {} weights, not {}", name(found), name(wanted)),
        }),
        _ => Ok(()),
    }
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
