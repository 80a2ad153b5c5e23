//! # repalign
//!
//! Representation-alignment losses on [burn]: a frozen, pretrained *teacher* network
//! looks at the student's output and at the ground truth; the outputs of its Conv2d
//! and Linear layers (the *taps*) are compared in small L2-normalised groups, and the
//! gradient flows back through the teacher to the student's output.
//!
//! The numbers follow the PyTorch `RepAlignLoss` exactly (see `SPEC.md`):
//! `loss = Σ_i w_i S_i / Σ_i N_i`. Its first published version normalises groups of
//! neighbours (the default); its current one each sample's tap as a whole
//! ([`Normalization::Sample`], with [`Weighting::Linear`]). Either can weight regions of
//! the image with a mask: [`RepAlignLoss::loss_against_masked`].
//!
//! ## A training step
//!
//! ```
//! use burn::tensor::{Device, Distribution, Tensor};
//! use repalign::{LossConfig, RepAlignLoss, Weighting, WeightStore, teacher};
//!
//! # fn main() -> Result<(), repalign::Error> {
//! let device = Device::flex();
//! # let weights = repalign::testing::random_weights("vgg11", 0)?;
//! // let weights = WeightStore::from_file("vgg11.safetensors")?;
//! let teacher = teacher::load("vgg11", weights, &device)?;
//! let loss = RepAlignLoss::new(teacher, LossConfig::default().with_weighting(Weighting::Exp))
//!     .with_preprocess(repalign::preprocess::Preprocess::identity());
//!
//! // A one-parameter "student": its output is the input scaled by `gain`.
//! let autodiff = device.clone().autodiff();
//! let gain = Tensor::<1>::from_floats([0.5], &autodiff).require_grad();
//! let input = Tensor::<4>::random([1, 3, 32, 32], Distribution::Default, &autodiff);
//! let output = input.clone() * gain.clone().reshape([1, 1, 1, 1]);
//! let ground_truth = input;
//!
//! let target = loss.target_features(&ground_truth)?; // no tape; reusable across steps
//! let report = loss.loss_against(&output, &target)?;
//! let grads = report.total.backward();
//! let grad = gain.grad(&grads).expect("the student receives a gradient");
//! assert!(grad.into_scalar::<f32>().is_finite());
//! # Ok(())
//! # }
//! ```
//!
//! The original trains its students with WNGradW: [`optim::WnGradWConfig`] builds it as a
//! burn optimizer, stepped like burn's AdamW.
//!
//! ## Choosing the taps, weighting regions
//!
//! Conv2d and Linear layers are tapped by default, as the original's hooks record
//! them; a [`TapSelector`] picks other kinds or a subset by module path. A mask
//! `(B, 1, H, W)` in `[0, 1]`, in the output's coordinates, weights where the loss looks.
//!
//! ```
//! use burn::tensor::{Device, Distribution, Tensor};
//! use repalign::{LayerKind, LossConfig, RepAlignLoss, TapSelector, teacher};
//!
//! # fn main() -> Result<(), repalign::Error> {
//! let device = Device::flex();
//! # let weights = repalign::testing::random_weights("vgg11", 0)?;
//! let teacher = teacher::load("vgg11", weights, &device)?;
//! // The ReLUs of the feature extractor only (`features.1`, `features.4`, ...).
//! let selector = TapSelector::default()
//!     .with_kinds([LayerKind::Relu])
//!     .with_name_patterns(["features.*"]);
//! let loss = RepAlignLoss::new(teacher, LossConfig::default()).with_selector(selector);
//!
//! let output = Tensor::<4>::random([1, 3, 64, 64], Distribution::Default, &device);
//! let target = Tensor::<4>::random([1, 3, 64, 64], Distribution::Default, &device);
//! // Only the left half of the image counts.
//! let ones = Tensor::<4>::ones([1, 1, 64, 32], &device);
//! let mask = Tensor::cat(vec![ones.clone(), ones.zeros_like()], 3);
//! let report = loss.loss_against_masked(&output, &loss.target_features(&target)?, &mask)?;
//! assert!(!report.layers.is_empty());
//! assert!(report.layers.iter().all(|layer| layer.info.name.starts_with("features.")));
//! assert!(report.value()? > 0.0);
//! # Ok(())
//! # }
//! ```
//!
//! ## Devices
//!
//! The backend is chosen at run time among those the build has (cargo features `flex`,
//! the default, `wgpu`, `cuda`, `tch`): [`Backend::default_device`] takes a GPU where
//! there is one and the CPU otherwise; [`Backend::device`] opens a named one, with an
//! error, not a panic, where its driver or hardware is missing.
//!
//! ```
//! use repalign::Backend;
//!
//! # fn main() -> Result<(), repalign::Error> {
//! let (backend, _device) = Backend::default_device()?;
//! println!("computing on {backend}: {}", backend.describe()?);
//! assert!(Backend::compiled().contains(&backend));
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod backend;
mod cache;
mod error;
mod features;
mod host;
mod input;
pub mod judge;
mod loss;
pub mod optim;
pub mod preprocess;
mod taps;
pub mod teacher;
#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub mod testing;
mod weights;

pub use backend::Backend;
pub use cache::{CacheStats, TargetCache};
pub use error::{Error, Result};
pub use features::Features;
pub use loss::{LayerLoss, LossConfig, LossReport, Normalization, Precision, RepAlignLoss, Weighting};
pub use taps::{LayerKind, Tap, TapInfo, TapSelector, Taps};
pub use teacher::Teacher;
pub use weights::WeightStore;
