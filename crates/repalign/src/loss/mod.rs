//! The representation-alignment loss (SPEC §3–§5).

mod config;
mod fused;
mod grouped;
mod heatmap;
mod mask;
mod report;
mod sample;
mod sample_fused;

use burn::tensor::Tensor;

pub use config::{LossConfig, Normalization, Precision, Weighting};
pub use report::{LayerLoss, LossReport};

use crate::error::{Error, Result};
use crate::features::Features;
use crate::preprocess::Preprocess;
use crate::taps::{Tap, TapInfo, TapSelector, Taps};
use crate::teacher::Teacher;
use mask::InputMask;

/// A frozen teacher, its preprocessing, the tap selection and the loss settings.
///
/// Prepare targets once with [`target_features`](Self::target_features) (no autodiff
/// tape), compare many times with [`loss`](Self::loss); or call
/// [`loss_for`](Self::loss_for) for both passes at once.
#[derive(Debug)]
pub struct RepAlignLoss {
    teacher: Box<dyn Teacher>,
    preprocess: Preprocess,
    selector: TapSelector,
    config: LossConfig,
}

impl RepAlignLoss {
    /// A loss with the teacher's own preprocessing and the default taps (Conv2d + Linear).
    pub fn new(teacher: Box<dyn Teacher>, config: LossConfig) -> Self {
        RepAlignLoss {
            preprocess: teacher.preprocess(),
            teacher,
            selector: TapSelector::default(),
            config,
        }
    }

    /// Replaces the preprocessing.
    pub fn with_preprocess(mut self, preprocess: Preprocess) -> Self {
        self.preprocess = preprocess;
        self
    }

    /// Replaces the tap selection.
    pub fn with_selector(mut self, selector: TapSelector) -> Self {
        self.selector = selector;
        self
    }

    /// The teacher.
    pub fn teacher(&self) -> &dyn Teacher {
        self.teacher.as_ref()
    }

    /// The preprocessing in use.
    pub fn preprocess(&self) -> &Preprocess {
        &self.preprocess
    }

    /// The loss settings.
    pub fn config(&self) -> &LossConfig {
        &self.config
    }

    /// Teacher taps of the student's output `(B, 3, H, W)`, on the autodiff tape when
    /// `image` is (the seed's `MakeData(output)`).
    ///
    /// # Errors
    /// Wrong channel count, empty batch, NaN/Inf values (checked on the CPU backends,
    /// and elsewhere for images off the autodiff tape: a GPU step reads nothing back),
    /// or a size the teacher cannot take.
    pub fn features(&self, image: &Tensor<4>) -> Result<Features> {
        self.run_teacher(image.clone(), "output image")
    }

    /// Teacher taps of a ground truth, computed without an autodiff tape; they are
    /// constants of the loss and can be reused across steps.
    ///
    /// # Errors
    /// As [`features`](Self::features).
    pub fn target_features(&self, image: &Tensor<4>) -> Result<Features> {
        self.run_teacher(image.clone().inner(), "target image")
    }

    /// Name, kind and output shape of every tap for a `(1, 3, height, width)` image
    /// (before preprocessing), by running the teacher once on zeros.
    ///
    /// # Errors
    /// As [`features`](Self::features).
    pub fn tap_infos(
        &self,
        height: usize,
        width: usize,
        device: &burn::tensor::Device,
    ) -> Result<Vec<TapInfo>> {
        let zeros = Tensor::<4>::zeros([1, 3, height, width], device).inner();
        Ok(self.run_teacher(zeros, "image")?.infos())
    }

    /// Identifies what the cached target features depend on besides the weights:
    /// teacher, preprocessing, tap selection. Stored in cache files, so it is spelled
    /// out field by field (never `Debug`, which may change with the compiler or a
    /// refactor); the version changes whenever the spelling does, and a file with
    /// another fingerprint is recomputed, not read.
    ///
    /// A half-precision teacher appends `;precision=…`; f32 keeps the spelling of the
    /// version without the setting, so existing f32 entries stay valid.
    pub(crate) fn fingerprint(&self) -> String {
        let precision = match self.config.teacher_precision() {
            Precision::F32 => String::new(),
            other => format!(";precision={other}"),
        };
        format!(
            "v1;teacher={};preprocess={};taps={}{precision}",
            self.teacher.name(),
            self.preprocess.fingerprint(),
            self.selector.fingerprint()
        )
    }

    fn run_teacher(&self, image: Tensor<4>, argument: &str) -> Result<Features> {
        let batch = image.dims()[0];
        let input = self.checked_input(image, argument)?;
        let mut taps = Taps::new(&self.selector);
        self.teacher.forward(input, &mut taps);
        let taps = taps.into_vec();
        if taps.is_empty() {
            return Err(Error::Config(format!(
                "no layer of {} matches the tap selection ({})",
                self.teacher.name(),
                self.selector.describe()
            )));
        }
        Ok(Features::new(taps, batch))
    }

    /// Checks an image (shape, dtype, finite values, a size the teacher takes) and
    /// preprocesses it.
    fn checked_input(&self, image: Tensor<4>, argument: &str) -> Result<Tensor<4>> {
        crate::input::check_image(&image, argument)?;
        let [_, _, height, width] = image.dims();
        let (in_height, in_width) = self.preprocess.output_size(height, width);
        self.teacher.check_input(in_height, in_width)?;
        let input = self.preprocess.apply(image)?;
        self.in_teacher_precision(input)
    }

    /// The preprocessed input in the teacher's precision; the taps come back in f32
    /// (`Taps::record`), so everything after the teacher stays f32.
    fn in_teacher_precision(&self, input: Tensor<4>) -> Result<Tensor<4>> {
        let precision = self.config.teacher_precision();
        if precision == Precision::F32 {
            return Ok(input);
        }
        let device = input.device();
        if !precision.is_supported_on(&device) {
            return Err(Error::Device(format!(
                "the teacher cannot compute in {precision} on this device ({:?} has no {precision} arithmetic)",
                device.clone().inner()
            )));
        }
        Ok(input.cast(precision.dtype()))
    }

    /// The loss between output-side and target-side features (the seed's `forward`).
    /// The target is detached whatever its origin.
    ///
    /// # Errors
    /// [`Error::FeatureMismatch`] when the two lists differ in length, names or shapes;
    /// [`Error::Config`] for a custom weighting of the wrong length.
    pub fn loss(&self, output: &Features, target: &Features) -> Result<LossReport> {
        if output.len() != target.len() {
            return Err(tap_count_mismatch(output.len(), target.len()));
        }
        check_batches(output.batch(), target)?;
        let weights = self.config.weighting().weights(target.len())?;
        let layers = output
            .taps()
            .iter()
            .zip(target.taps())
            .zip(weights)
            .map(|((out, tgt), weight)| self.layer_loss(out, tgt, weight, None))
            .collect::<Result<Vec<_>>>()?;
        report(layers)
    }

    /// The loss of an output image against target features, each tap compared as soon
    /// as the teacher produces it: the same number as
    /// `loss(&features(output)?, target)`, but the output's taps are never all alive
    /// at once (each is dropped after its comparison unless the autodiff tape needs it),
    /// which lowers the peak memory of a training step. The way to train with a
    /// [`TargetCache`](crate::TargetCache).
    ///
    /// # Errors
    /// As [`features`](Self::features) and [`loss`](Self::loss).
    pub fn loss_against(&self, output: &Tensor<4>, target: &Features) -> Result<LossReport> {
        self.compare_while_running(output, target, None)
    }

    /// [`loss_against`](Self::loss_against) with a mask `(B, 1, H, W)` in `[0, 1]` in
    /// the output image's coordinates (1 = counts fully, 0 = not at all). The mask goes
    /// through the image's resizes and crops (not its normalisation); each tap sees it
    /// at its own resolution: a conv tap `(B, C, h, w)` average-pooled to `h`x`w`, a
    /// patch token the mean over its patch, class and register tokens and taps with no
    /// place in the image (Linear vectors) the mean of the whole mask. With groups,
    /// a group's weight `m_g` is the mean of its positions' weights,
    /// `S_i = Σ m_g d_g` and `N_i = Σ m_g · size`; with whole samples,
    /// `l_b = Σ m d / Σ m`. A mask of ones gives the unmasked loss. The mask is read
    /// back to the host once per call (and, off the CPU, once per tap for `N_i`).
    ///
    /// # Errors
    /// As [`loss_against`](Self::loss_against); [`Error::Shape`] when the mask is not
    /// `(B, 1, H, W)` of the output's `B`, `H`, `W`; [`Error::Mask`] for values outside
    /// `[0, 1]` or a sample whose mask is zero where the teacher looks.
    pub fn loss_against_masked(
        &self,
        output: &Tensor<4>,
        target: &Features,
        mask: &Tensor<4>,
    ) -> Result<LossReport> {
        let mask = InputMask::new(mask, output.dims(), &self.preprocess, |height, width| {
            self.teacher.token_layout(height, width)
        })?;
        self.compare_while_running(output, target, Some(&mask))
    }

    /// Runs the teacher on `output`, comparing each tap with its target as soon as it
    /// is produced.
    fn compare_while_running(
        &self,
        output: &Tensor<4>,
        target: &Features,
        mask: Option<&InputMask>,
    ) -> Result<LossReport> {
        let batch = output.dims()[0];
        check_batches(batch, target)?;
        let input = self.checked_input(output.clone(), "output image")?;
        let weights = self.config.weighting().weights(target.len())?;
        let mut layers = Vec::with_capacity(target.len());
        let mut failure = None;
        let mut seen = 0;
        let mut compare = |tap: Tap| {
            let index = seen;
            seen += 1;
            if failure.is_some() {
                return;
            }
            let result = match (target.taps().get(index), weights.get(index)) {
                (Some(tgt), Some(&weight)) => self.layer_loss(&tap, tgt, weight, mask),
                _ => Err(Error::FeatureMismatch(format!(
                    "the output has more taps than the {} target taps (first extra: `{}`)",
                    target.len(),
                    tap.info.name
                ))),
            };
            match result {
                Ok(layer) => layers.push(layer),
                Err(error) => failure = Some(error),
            }
        };
        self.teacher
            .forward(input, &mut Taps::consuming(&self.selector, &mut compare));
        if let Some(error) = failure {
            return Err(error);
        }
        if seen != target.len() {
            return Err(tap_count_mismatch(seen, target.len()));
        }
        report(layers)
    }

    /// One tap pair's share: names and shapes must agree.
    fn layer_loss(&self, out: &Tap, tgt: &Tap, weight: f64, mask: Option<&InputMask>) -> Result<LayerLoss> {
        if out.info.name != tgt.info.name || out.info.shape != tgt.info.shape {
            return Err(Error::FeatureMismatch(format!(
                "tap `{}` {:?} vs `{}` {:?} (output and target must have the same batch size and image size)",
                out.info.name, out.info.shape, tgt.info.name, tgt.info.shape
            )));
        }
        let target_value = tgt.value.clone().detach();
        let output = out.value.clone();
        let mask = mask.map(|mask| mask.for_tap(&out.info));
        let host = crate::host::applies(&output.device());
        let (sum, elements) = match (self.config.normalization(), host) {
            (Normalization::Groups { size }, true) => {
                fused::grouped_alignment(output, target_value, size, mask)?
            }
            (Normalization::Groups { size }, false) => {
                grouped::grouped_alignment(output, target_value, size, mask)?
            }
            (Normalization::Sample, true) => sample_fused::sample_alignment(output, target_value, mask)?,
            (Normalization::Sample, false) => sample::sample_alignment(output, target_value, mask),
        };
        Ok(LayerLoss {
            info: out.info.clone(),
            sum,
            elements,
            weight,
        })
    }

    /// Both teacher passes and the loss in one call: `output` on the tape, `target` not.
    ///
    /// # Errors
    /// As [`features`](Self::features) and [`loss`](Self::loss).
    pub fn loss_for(&self, output: &Tensor<4>, target: &Tensor<4>) -> Result<LossReport> {
        let target = self.target_features(target)?;
        self.loss_against(output, &target)
    }
}

/// Output and target batches must have the same number of images, and there must be
/// taps to compare.
fn check_batches(output_batch: usize, target: &Features) -> Result<()> {
    if target.is_empty() {
        return Err(no_taps());
    }
    if output_batch != target.batch() {
        return Err(Error::FeatureMismatch(format!(
            "the output batch has {output_batch} images and the target batch {}",
            target.batch()
        )));
    }
    Ok(())
}

/// `total = Σ w_i S_i / Σ N_i` over the layers.
fn report(layers: Vec<LayerLoss>) -> Result<LossReport> {
    let elements: f64 = layers.iter().map(|l| l.elements).sum();
    let weighted = layers
        .iter()
        .map(|l| l.sum.clone() * l.weight)
        .reduce(|a, b| a + b)
        .ok_or_else(no_taps)?;
    Ok(LossReport {
        total: weighted / elements,
        layers,
    })
}

fn no_taps() -> Error {
    Error::FeatureMismatch("the teacher recorded no taps; check the tap selection".into())
}

fn tap_count_mismatch(output: usize, target: usize) -> Error {
    Error::FeatureMismatch(format!("{output} output taps vs {target} target taps"))
}
