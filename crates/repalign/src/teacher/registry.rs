//! The teacher registry: every family in one list, and the one rule by which a name
//! and a weight file become a teacher.
//!
//! A family (VGG, ResNet, DINOv2, …) says which variants it has, how each is named,
//! how to read the variant off a weight file and how to build it ([`Family`]). The
//! rule, applied here and nowhere else: the family's own name (`vgg`) reads the
//! variant off the weights; a full name (`vgg16_bn`) checks that the weights are that
//! variant. Adding a teacher is one file implementing [`Family`] and one line in
//! [`FAMILIES`].

use std::marker::PhantomData;

use burn::tensor::Device;

use super::Teacher;
use crate::error::{Error, Result};
use crate::weights::WeightStore;

/// One teacher family. Not object-safe (its variant type differs per family);
/// [`FAMILIES`] holds each behind a [`Registration`].
pub(crate) trait Family: 'static {
    /// What tells the family's networks apart.
    type Variant: Copy;

    /// The family's own name, which reads the variant off the weights (`vgg`);
    /// `None` for a family that has only full names.
    const NAME: Option<&'static str>;

    /// Every variant with a name, in the order [`names`] lists them.
    fn variants() -> Vec<Self::Variant>;

    /// The variant's full name (`vgg16_bn`). Two variants that share a name are the
    /// same network as far as a name can tell.
    fn name(variant: Self::Variant) -> String;

    /// Reads the variant off a weight file.
    ///
    /// # Errors
    /// [`Error::Architecture`] when the file is no variant of this family.
    fn infer(weights: &WeightStore) -> Result<Self::Variant>;

    /// Builds the network, taking every weight once.
    ///
    /// # Errors
    /// Any missing, unexpected, mis-shaped or non-finite weight, naming the key.
    fn build(variant: Self::Variant, weights: WeightStore, device: &Device) -> Result<Box<dyn Teacher>>;

    /// What to build when a full name `wanted` is given with weights of no known
    /// variant. By default the named variant, whose loader then names the first key
    /// that does not fit; a family whose name cannot say everything the loader needs
    /// (DINOv2's weight layout) returns why the weights were unreadable.
    ///
    /// # Errors
    /// `unreadable`, or any error the family prefers.
    fn unreadable(wanted: Self::Variant, unreadable: Error) -> Result<Self::Variant> {
        let _ = unreadable;
        Ok(wanted)
    }
}

/// Every family, in the order [`names`] lists them and [`load`] tries them.
static FAMILIES: &[&dyn Registered] = &[
    &Registration::<super::vgg::Vgg>::NEW,
    &Registration::<super::vgg::VggCaffe>::NEW,
    &Registration::<super::resnet::ResNet>::NEW,
    &Registration::<super::alexnet::AlexNet>::NEW,
    &Registration::<super::squeezenet::SqueezeNet>::NEW,
    &Registration::<super::mobilenet::MobileNetV2>::NEW,
    &Registration::<super::efficientnet::EfficientNet>::NEW,
    &Registration::<super::efficientnet_lite::EfficientNetLite>::NEW,
    &Registration::<super::convnext::ConvNext>::NEW,
    &Registration::<super::dinov2::Dinov2>::NEW,
];

/// Every teacher name [`load`] accepts: each family's own name, then its full names.
pub fn names() -> Vec<String> {
    FAMILIES.iter().flat_map(|family| family.names()).collect()
}

/// Builds the teacher `name` (case-insensitive) from `weights` on `device`. A family
/// name (`vgg`) reads the variant off the weights; a full name (`vgg16_bn`) also checks
/// that they are that variant.
///
/// # Errors
/// [`Error::UnknownTeacher`]; [`Error::Architecture`] for weights of another variant or
/// family; any weight error naming the key.
pub fn load(name: &str, weights: WeightStore, device: &Device) -> Result<Box<dyn Teacher>> {
    let lower = name.to_ascii_lowercase();
    family_of(name, &lower)?.load(&lower, weights, device)
}

/// Builds the named variant with `weights` as they come, without reading the variant
/// off them: for stores that make up their tensors as they are asked
/// ([`crate::testing::random_weights`]).
#[cfg(any(test, feature = "testing"))]
pub(crate) fn build_named(name: &str, weights: WeightStore, device: &Device) -> Result<Box<dyn Teacher>> {
    let lower = name.to_ascii_lowercase();
    family_of(name, &lower)?.build_named(&lower, weights, device)
}

fn family_of(name: &str, lower: &str) -> Result<&'static dyn Registered> {
    FAMILIES
        .iter()
        .copied()
        .find(|family| family.names().iter().any(|n| n == lower))
        .ok_or_else(|| Error::UnknownTeacher {
            name: name.to_owned(),
            known: names().join(", "),
        })
}

/// A [`Family`] with its variant type erased, so that one list holds them all.
trait Registered: Sync {
    fn names(&self) -> Vec<String>;
    fn load(&self, name: &str, weights: WeightStore, device: &Device) -> Result<Box<dyn Teacher>>;
    #[cfg(any(test, feature = "testing"))]
    fn build_named(&self, name: &str, weights: WeightStore, device: &Device) -> Result<Box<dyn Teacher>>;
}

struct Registration<F>(PhantomData<fn() -> F>);

impl<F> Registration<F> {
    const NEW: Self = Registration(PhantomData);
}

impl<F: Family> Registration<F> {
    fn variant(name: &str) -> Option<F::Variant> {
        F::variants().into_iter().find(|&v| F::name(v) == name)
    }
}

impl<F: Family> Registered for Registration<F> {
    fn names(&self) -> Vec<String> {
        let full = F::variants().into_iter().map(F::name);
        F::NAME.map(str::to_owned).into_iter().chain(full).collect()
    }

    fn load(&self, name: &str, weights: WeightStore, device: &Device) -> Result<Box<dyn Teacher>> {
        let found = F::infer(&weights);
        let variant = match Self::variant(name) {
            // The family's own name.
            None => found?,
            Some(wanted) => match found {
                // Name the mix-up plainly rather than through its first mis-shaped key.
                Ok(found) if F::name(found) != name => {
                    return Err(Error::Architecture {
                        origin: weights.origin().to_owned(),
                        reason: format!("these are {} weights, not {name}", F::name(found)),
                    });
                }
                // What the weights say may be more than the name does (DINOv2's layout).
                Ok(found) => found,
                Err(unreadable) => F::unreadable(wanted, unreadable)?,
            },
        };
        F::build(variant, weights, device)
    }

    #[cfg(any(test, feature = "testing"))]
    fn build_named(&self, name: &str, weights: WeightStore, device: &Device) -> Result<Box<dyn Teacher>> {
        let variant = Self::variant(name).ok_or_else(|| Error::UnknownTeacher {
            name: name.to_owned(),
            known: self.names().join(", "),
        })?;
        F::build(variant, weights, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_lower_case() {
        let names = names();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "a name belongs to two families");
        assert!(names.iter().all(|n| *n == n.to_ascii_lowercase()));
    }
}
