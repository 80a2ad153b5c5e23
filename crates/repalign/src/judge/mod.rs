//! Judges: the image-quality measures the field accepts, to check whether a loss helps
//! by someone else's yardstick, and to train with as users do.
//!
//! Each follows its reference package to the number: LPIPS v0.1 (`lpips` 0.1.4), DISTS
//! (`DISTS-pytorch` 0.1), SSIM (`pytorch-msssim`: Gaussian window 11, σ 1.5, valid
//! convolution, data range 1) and PSNR (data range 1). Images are `(B, 3, H, W)` RGB in
//! [0, 1], compared at their own size.
//!
//! Every judge is differentiable: [`Judge::target`] runs the ground truth once without
//! a tape, [`Judge::loss_against`] is the training loss against it.
//!
//! ```
//! use burn::tensor::{Device, Distribution, Tensor};
//! use repalign::judge::{Judge, Metric};
//!
//! # fn main() -> Result<(), repalign::Error> {
//! let device = Device::flex();
//! let ssim = Judge::plain(Metric::Ssim)?;
//! let image = Tensor::<4>::random([1, 3, 32, 32], Distribution::Default, &device);
//! let score = ssim.score(&image, &image)?.into_scalar::<f32>();
//! assert!((score - 1.0).abs() < 1e-5);
//! # Ok(())
//! # }
//! ```

mod dists;
mod lpips;
mod psnr;
mod ssim;

use std::fmt;

use burn::tensor::{Device, Tensor};

use crate::error::{Error, Result};
use crate::weights::WeightStore;

/// Which judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// LPIPS v0.1 on AlexNet: a distance, 0 for identical images.
    LpipsAlex,
    /// LPIPS v0.1 on VGG16: a distance.
    LpipsVgg,
    /// DISTS: a distance, structure and texture on VGG16 features.
    Dists,
    /// SSIM: a similarity, 1 for identical images.
    Ssim,
    /// PSNR in dB: a similarity, capped at 100 dB (see [`Judge::score`]).
    Psnr,
}

impl Metric {
    /// Every judge, in the order the CLI lists them.
    pub const ALL: [Metric; 5] = [
        Metric::LpipsAlex,
        Metric::LpipsVgg,
        Metric::Dists,
        Metric::Ssim,
        Metric::Psnr,
    ];

    /// The name the CLI takes: `lpips-alex`, `lpips-vgg`, `dists`, `ssim`, `psnr`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::LpipsAlex => "lpips-alex",
            Metric::LpipsVgg => "lpips-vgg",
            Metric::Dists => "dists",
            Metric::Ssim => "ssim",
            Metric::Psnr => "psnr",
        }
    }

    /// The metric called `name` (case-insensitive).
    pub fn parse(name: &str) -> Option<Metric> {
        Metric::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
    }

    /// Whether a lower score is better (a distance) rather than a higher one.
    pub fn lower_is_better(self) -> bool {
        matches!(self, Metric::LpipsAlex | Metric::LpipsVgg | Metric::Dists)
    }

    /// The weights a learned judge needs, as `(backbone, head)` names of `repalign
    /// fetch`'s cache files; `None` for SSIM and PSNR.
    pub fn weights(self) -> Option<(&'static str, &'static str)> {
        match self {
            Metric::LpipsAlex => Some(("alexnet", "lpips_alex")),
            Metric::LpipsVgg => Some(("vgg16", "lpips_vgg")),
            Metric::Dists => Some(("vgg16", "dists")),
            Metric::Ssim | Metric::Psnr => None,
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A loaded judge.
#[derive(Debug, Clone)]
pub struct Judge {
    metric: Metric,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Lpips(lpips::Lpips),
    Dists(dists::Dists),
    Ssim,
    Psnr,
}

/// What a judge keeps of a ground truth: computed once, without a tape, and reusable
/// across training steps (see [`Judge::target`]).
#[derive(Debug, Clone)]
pub struct JudgeTarget {
    metric: Metric,
    /// The image's shape, which the output must share.
    shape: [usize; 4],
    parts: Vec<Tensor<4>>,
}

impl JudgeTarget {
    /// The targets of several batches as one, in order (e.g. per-image targets kept
    /// across training steps, gathered into each step's batch).
    ///
    /// # Errors
    /// [`Error::Config`] when there are none, or they come from different judges or
    /// images of different sizes.
    pub fn concat(targets: &[&JudgeTarget]) -> Result<JudgeTarget> {
        let first = targets
            .first()
            .ok_or_else(|| Error::Config("no judge targets to concatenate".into()))?;
        let mut shape = first.shape;
        for target in &targets[1..] {
            if target.metric != first.metric || target.shape[1..] != first.shape[1..] {
                return Err(Error::Config(format!(
                    "cannot join a {} target of {:?} to a {} target of {:?}",
                    target.metric, target.shape, first.metric, first.shape
                )));
            }
            shape[0] += target.shape[0];
        }
        let parts = (0..first.parts.len())
            .map(|k| Tensor::cat(targets.iter().map(|t| t.parts[k].clone()).collect(), 0))
            .collect();
        Ok(JudgeTarget {
            metric: first.metric,
            shape,
            parts,
        })
    }
}

impl Judge {
    /// SSIM or PSNR, which learn nothing.
    ///
    /// # Errors
    /// [`Error::Config`] for a learned judge (use [`Judge::learned`]).
    pub fn plain(metric: Metric) -> Result<Judge> {
        let kind = match metric {
            Metric::Ssim => Kind::Ssim,
            Metric::Psnr => Kind::Psnr,
            learned => {
                return Err(Error::Config(format!(
                    "{learned} needs weights: load it with Judge::learned"
                )));
            }
        };
        Ok(Judge { metric, kind })
    }

    /// LPIPS or DISTS from its backbone's torchvision weights (`alexnet` or `vgg16`
    /// `features.*`) and its head (LPIPS's `lin{k}.model.1.weight`, DISTS's `alpha`
    /// and `beta`), every key and shape checked.
    ///
    /// # Errors
    /// [`Error::Config`] for SSIM or PSNR; any weight error naming the key.
    pub fn learned(
        metric: Metric,
        backbone: WeightStore,
        head: WeightStore,
        device: &Device,
    ) -> Result<Judge> {
        let kind = match metric {
            Metric::LpipsAlex | Metric::LpipsVgg => {
                Kind::Lpips(lpips::Lpips::load(metric, backbone, head, device)?)
            }
            Metric::Dists => Kind::Dists(dists::Dists::load(backbone, head, device)?),
            plain => {
                return Err(Error::Config(format!(
                    "{plain} learns nothing: load it with Judge::plain"
                )));
            }
        };
        Ok(Judge { metric, kind })
    }

    /// Which judge this is.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// The smallest height and width the judge takes.
    pub fn min_size(&self) -> usize {
        match &self.kind {
            Kind::Lpips(lpips) => lpips.min_size(),
            Kind::Dists(_) => dists::MIN_SIZE,
            Kind::Ssim => ssim::WINDOW,
            Kind::Psnr => 1,
        }
    }

    /// Prepares a ground truth `(B, 3, H, W)` in [0, 1]: its features (LPIPS, DISTS)
    /// or the image itself, detached.
    ///
    /// # Errors
    /// [`Error::Shape`], [`Error::Dtype`], [`Error::NonFinite`], or
    /// [`Error::InputSize`] for an image smaller than [`Judge::min_size`].
    pub fn target(&self, image: &Tensor<4>) -> Result<JudgeTarget> {
        self.check(image, "target")?;
        let shape = image.dims();
        let image = image.clone().detach();
        let parts = match &self.kind {
            Kind::Lpips(lpips) => lpips.features(image)?.into_iter().map(|f| f.detach()).collect(),
            Kind::Dists(dists) => dists.features(image).into_iter().map(|f| f.detach()).collect(),
            Kind::Ssim | Kind::Psnr => vec![image.clone()],
        };
        Ok(JudgeTarget {
            metric: self.metric,
            shape,
            parts,
        })
    }

    /// The score of each output image against its target, shape `(B,)`: on the
    /// autodiff tape when `output` is. PSNR is capped at 100 dB (a mean squared error
    /// of at most 1e-10), so that identical images give a finite number and gradient.
    ///
    /// # Errors
    /// As [`Judge::target`], and [`Error::Shape`] when the output's shape is not the
    /// target's, or [`Error::Config`] for a target another judge prepared.
    pub fn score_against(&self, output: &Tensor<4>, target: &JudgeTarget) -> Result<Tensor<1>> {
        if target.metric != self.metric {
            return Err(Error::Config(format!(
                "a {} target given to the {} judge",
                target.metric, self.metric
            )));
        }
        self.check(output, "output")?;
        if output.dims() != target.shape {
            return Err(Error::Shape {
                argument: "output".into(),
                expected: format!("the target's shape {:?}", target.shape),
                actual: output.dims().to_vec(),
            });
        }
        let output = output.clone();
        Ok(match &self.kind {
            Kind::Lpips(lpips) => lpips.distance(lpips.features(output)?, &target.parts),
            Kind::Dists(dists) => dists.distance(dists.features(output), &target.parts),
            Kind::Ssim => ssim::ssim(output, target.parts[0].clone()),
            Kind::Psnr => psnr::psnr(output, target.parts[0].clone()),
        })
    }

    /// The score of each pair, shape `(B,)` (see [`Judge::score_against`]).
    ///
    /// # Errors
    /// As [`Judge::score_against`].
    pub fn score(&self, output: &Tensor<4>, target: &Tensor<4>) -> Result<Tensor<1>> {
        self.score_against(output, &self.target(target)?)
    }

    /// The judge as a training loss, shape `(1,)`, lower is better: the batch mean of
    /// the distance (LPIPS, DISTS), of `1 − SSIM`, or of `−PSNR`.
    ///
    /// # Errors
    /// As [`Judge::score_against`].
    pub fn loss_against(&self, output: &Tensor<4>, target: &JudgeTarget) -> Result<Tensor<1>> {
        let score = self.score_against(output, target)?.mean();
        Ok(match self.metric {
            Metric::LpipsAlex | Metric::LpipsVgg | Metric::Dists => score,
            Metric::Ssim => score.neg() + 1.0,
            Metric::Psnr => score.neg(),
        })
    }

    fn check(&self, image: &Tensor<4>, argument: &str) -> Result<()> {
        crate::input::check_image(image, argument)?;
        let [_, _, height, width] = image.dims();
        let min = self.min_size();
        if height < min || width < min {
            return Err(Error::InputSize {
                teacher: self.metric.name().to_owned(),
                height,
                width,
                reason: format!("it needs at least {min}x{min} pixels"),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{SplitMix64, image, random_weights};

    fn device() -> Device {
        Device::flex()
    }

    fn value(tensor: Tensor<1>) -> Vec<f32> {
        tensor.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    /// A head of random positive weights: LPIPS's lin layers or DISTS's α and β.
    fn head(metric: Metric, seed: u64) -> WeightStore {
        let mut rng = SplitMix64::new(seed);
        let mut positive = |n: usize| (0..n).map(|_| rng.next_signed().abs()).collect::<Vec<f32>>();
        let tensors = match metric {
            Metric::Dists => ["alpha", "beta"]
                .map(|name| (name.to_owned(), vec![1, 1475, 1, 1], positive(1475)))
                .to_vec(),
            _ => {
                let widths: &[usize] = if metric == Metric::LpipsAlex {
                    &[64, 192, 384, 256, 256]
                } else {
                    &[64, 128, 256, 512, 512]
                };
                widths
                    .iter()
                    .enumerate()
                    .map(|(k, &c)| (format!("lin{k}.model.1.weight"), vec![1, c, 1, 1], positive(c)))
                    .collect()
            }
        };
        WeightStore::from_tensors("head", tensors)
    }

    fn learned(metric: Metric) -> Judge {
        let backbone = if metric == Metric::LpipsAlex {
            "alexnet"
        } else {
            "vgg16"
        };
        Judge::learned(
            metric,
            random_weights(backbone, 1).unwrap(),
            head(metric, 2),
            &device(),
        )
        .unwrap()
    }

    #[test]
    fn every_judge_scores_identical_images_as_identical() {
        let side = 64;
        let a = image([2, 3, side, side], 3, &device());
        for metric in Metric::ALL {
            let judge = match metric.weights() {
                Some(_) => learned(metric),
                None => Judge::plain(metric).unwrap(),
            };
            let perfect = match metric {
                Metric::Ssim => 1.0,
                Metric::Psnr => 100.0,
                _ => 0.0,
            };
            for score in value(judge.score(&a, &a).unwrap()) {
                assert!((score - perfect).abs() < 1e-4, "{metric}: {score}");
            }
            let b = image([2, 3, side, side], 4, &device());
            let moved = value(judge.score(&a, &b).unwrap());
            for score in moved {
                let worse = if metric.lower_is_better() {
                    score > perfect
                } else {
                    score < perfect
                };
                assert!(worse, "{metric}: {score} for different images");
            }
        }
    }

    #[test]
    fn psnr_and_ssim_follow_their_definitions() {
        let zeros = Tensor::<4>::zeros([1, 3, 16, 16], &device());
        let grey = Tensor::<4>::full([1, 3, 16, 16], 0.1, &device());
        let psnr = Judge::plain(Metric::Psnr).unwrap();
        assert!((value(psnr.score(&zeros, &grey).unwrap())[0] - 20.0).abs() < 1e-4);
        // Flat images: only the luminance term differs, (2·0·0.1 + C1) / (0.01 + C1).
        let ssim = Judge::plain(Metric::Ssim).unwrap();
        let expected = 1e-4 / (0.01 + 1e-4);
        assert!((value(ssim.score(&zeros, &grey).unwrap())[0] - expected as f32).abs() < 1e-5);
    }

    #[test]
    fn the_loss_trains_towards_the_target() {
        let autodiff = device().autodiff();
        let target = image([1, 3, 32, 32], 5, &autodiff);
        for metric in [Metric::Ssim, Metric::Psnr, Metric::LpipsVgg, Metric::Dists] {
            let judge = match metric.weights() {
                Some(_) => learned(metric),
                None => Judge::plain(metric).unwrap(),
            };
            let reference = judge.target(&target).unwrap();
            let output = image([1, 3, 32, 32], 6, &autodiff).require_grad();
            let loss = judge.loss_against(&output, &reference).unwrap();
            let grad = output.grad(&loss.clone().backward()).unwrap();
            let step = output.clone().inner() - grad.clone() * (0.01 / grad.abs().max().into_scalar::<f32>());
            let before = loss.into_scalar::<f32>();
            let after = judge
                .loss_against(&Tensor::from_inner(step), &reference)
                .unwrap()
                .into_scalar::<f32>();
            assert!(after < before, "{metric}: {before} -> {after}");
        }
    }

    #[test]
    fn bad_inputs_are_errors_naming_the_cause() {
        let ssim = Judge::plain(Metric::Ssim).unwrap();
        let small = image([1, 3, 8, 8], 0, &device());
        let error = ssim.score(&small, &small).unwrap_err().to_string();
        assert!(error.contains("at least 11x11"), "{error}");
        let a = image([1, 3, 16, 16], 0, &device());
        let b = image([1, 3, 16, 24], 0, &device());
        let error = ssim.score(&a, &b).unwrap_err().to_string();
        assert!(error.contains("target's shape"), "{error}");
        let target = Judge::plain(Metric::Psnr).unwrap().target(&a).unwrap();
        assert!(matches!(ssim.score_against(&a, &target), Err(Error::Config(_))));
        assert!(matches!(Judge::plain(Metric::Dists), Err(Error::Config(_))));
        let wrong_head = Judge::learned(
            Metric::LpipsVgg,
            random_weights("vgg16", 1).unwrap(),
            head(Metric::LpipsAlex, 2),
            &device(),
        );
        assert!(
            matches!(wrong_head, Err(Error::WeightShape { .. })),
            "{wrong_head:?}"
        );
    }
}
