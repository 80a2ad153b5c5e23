//! Differentiable preprocessing between the student's image and the teacher
//! (the seed's `normalize` transform): resize, center crop, normalise.

mod crop;
mod normalize;
pub(crate) mod resample;
pub(crate) mod resize;

use burn::tensor::Tensor;

pub use crop::CenterCrop;
pub use normalize::{ChannelOrder, Normalize};
pub use resample::Interpolation;
pub use resize::{Resize, ResizeTarget};

use crate::error::Result;

/// One preprocessing step.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `transforms.Resize`.
    Resize(Resize),
    /// `transforms.CenterCrop`.
    CenterCrop(CenterCrop),
    /// `transforms.Normalize`.
    Normalize(Normalize),
}

/// A `transforms.Compose` of steps, applied in order on the autodiff path.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Preprocess {
    steps: Vec<Step>,
}

impl Preprocess {
    /// No steps: the image goes to the teacher as it is.
    pub fn identity() -> Self {
        Preprocess::default()
    }

    /// Appends a step.
    pub fn then(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    /// The usual ImageNet pipeline: `Resize(size, bicubic, antialias)`,
    /// `CenterCrop(size)`, `Normalize(mean, std)`.
    pub fn resize_crop_normalize(size: usize, normalize: Normalize) -> Self {
        Preprocess::identity()
            .then(Step::Resize(Resize::shorter_side(size, Interpolation::Bicubic)))
            .then(Step::CenterCrop(CenterCrop::square(size)))
            .then(Step::Normalize(normalize))
    }

    /// The original's current preprocessing: `Resize((height, width))` (bilinear,
    /// antialias, the aspect ratio not kept, no crop), `Normalize(mean, std)`.
    pub fn resize_exact_normalize(height: usize, width: usize, normalize: Normalize) -> Self {
        let resize = Resize {
            target: ResizeTarget::Exact { height, width },
            interpolation: Interpolation::Bilinear,
            antialias: true,
        };
        Preprocess::identity()
            .then(Step::Resize(resize))
            .then(Step::Normalize(normalize))
    }

    /// The same pipeline without the resize and crop steps (the image keeps its size).
    pub fn without_resizing(&self) -> Self {
        Preprocess {
            steps: self
                .steps
                .iter()
                .filter(|step| matches!(step, Step::Normalize(_)))
                .cloned()
                .collect(),
        }
    }

    /// The resize and crop steps alone: the image as the teacher sees it, before
    /// normalisation (for drawing on).
    pub fn geometry_only(&self) -> Self {
        Preprocess {
            steps: self
                .steps
                .iter()
                .filter(|step| !matches!(step, Step::Normalize(_)))
                .cloned()
                .collect(),
        }
    }

    /// The steps, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The `(height, width)` an input of the given size has after preprocessing.
    pub fn output_size(&self, height: usize, width: usize) -> (usize, usize) {
        self.sizes(height, width)
            .last()
            .map_or((height, width), |(_, size)| size)
    }

    /// Each step with the `(height, width)` the image has after it.
    fn sizes(&self, height: usize, width: usize) -> impl Iterator<Item = (&Step, (usize, usize))> {
        self.steps.iter().scan((height, width), |size, step| {
            *size = match step {
                Step::Resize(resize) => resize.target.output_size(size.0, size.1),
                Step::CenterCrop(crop) => (crop.height, crop.width),
                Step::Normalize(_) => *size,
            };
            Some((step, *size))
        })
    }

    /// Refuses a plan that makes an empty image at any step: burn's ops (and our
    /// resampling) are not defined on zero-sized tensors.
    fn check_sizes(&self, [batch, channels, height, width]: [usize; 4]) -> Result<()> {
        let empty = self
            .sizes(height, width)
            .enumerate()
            .find(|(_, (step, (h, w)))| !matches!(step, Step::Normalize(_)) && (*h == 0 || *w == 0));
        match empty {
            Some((index, (step, (height, width)))) => Err(crate::Error::Shape {
                argument: format!("preprocessing step {} ({step:?})", index + 1),
                expected: "a non-empty output".into(),
                actual: vec![batch, channels, height, width],
            }),
            None => Ok(()),
        }
    }

    /// The steps spelled out for the target cache's fingerprint (see
    /// `RepAlignLoss::fingerprint`); floats as their bits, so equal means identical.
    pub(crate) fn fingerprint(&self) -> String {
        let bits = |values: [f32; 3]| values.map(|v| format!("{:08x}", v.to_bits())).join(",");
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|step| match step {
                Step::Resize(resize) => {
                    let target = match resize.target {
                        ResizeTarget::ShorterSide(side) => format!("shorter={side}"),
                        ResizeTarget::Exact { height, width } => format!("{height}x{width}"),
                    };
                    let interpolation = match resize.interpolation {
                        Interpolation::Bilinear => "bilinear",
                        Interpolation::Bicubic => "bicubic",
                    };
                    format!("resize({target},{interpolation},antialias={})", resize.antialias)
                }
                Step::CenterCrop(crop) => format!("crop({}x{})", crop.height, crop.width),
                Step::Normalize(normalize) => {
                    let order = match normalize.order {
                        ChannelOrder::Rgb => "rgb",
                        ChannelOrder::Bgr => "bgr",
                    };
                    format!(
                        "normalize({order},mean={},std={})",
                        bits(normalize.mean),
                        bits(normalize.std)
                    )
                }
            })
            .collect();
        steps.join("|")
    }

    /// Applies every step.
    ///
    /// # Errors
    /// [`crate::Error::Shape`] when a crop is larger than the image or a step would
    /// make an empty image (a resize or crop to 0 pixels, even in between).
    pub fn apply(&self, mut image: Tensor<4>) -> Result<Tensor<4>> {
        self.check_sizes(image.dims())?;
        let mut steps = self.steps.iter().peekable();
        while let Some(step) = steps.next() {
            image = match step {
                // A resize followed by a crop computes only what the crop keeps.
                Step::Resize(resize) => match steps.next_if(|next| matches!(next, Step::CenterCrop(_))) {
                    Some(Step::CenterCrop(crop)) => resize.apply_then_crop(image, crop)?,
                    _ => resize.apply(image)?,
                },
                Step::CenterCrop(crop) => crop.apply(image)?,
                Step::Normalize(normalize) => normalize.apply(image),
            };
        }
        Ok(image)
    }
}
