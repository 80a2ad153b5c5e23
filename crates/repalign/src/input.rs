//! The checks every image meets before a network or a judge sees it.

use burn::tensor::{DType, Tensor};

use crate::error::{Error, Result};

/// Checks that `image` is a non-empty `(B, 3, H, W)` f32 batch of finite values.
///
/// Reading a value back from a GPU waits for its queue to drain: a training step must
/// not. So off the CPU an image on the autodiff tape (the student's output, every
/// step) is not checked for finite values — a NaN in it gives a NaN loss, which the
/// caller reads anyway; targets and images off the tape are checked everywhere.
pub(crate) fn check_image(image: &Tensor<4>, argument: &str) -> Result<()> {
    let [batch, channels, height, width] = image.dims();
    if batch == 0 || channels != 3 || height == 0 || width == 0 {
        return Err(Error::Shape {
            argument: argument.to_owned(),
            expected: "(B, 3, H, W) with B, H, W > 0".into(),
            actual: vec![batch, channels, height, width],
        });
    }
    let dtype = image.dtype();
    if dtype != DType::F32 {
        return Err(Error::Dtype {
            argument: argument.to_owned(),
            dtype: format!("{dtype:?}"),
        });
    }
    if crate::host::applies(&image.device()) || !image.is_tracked() {
        let finite = image
            .clone()
            .is_finite()
            .all()
            .try_into_scalar::<bool>()
            .map_err(|e| Error::Backend(format!("{e:?}")))?;
        if !finite {
            return Err(Error::NonFinite {
                argument: argument.to_owned(),
            });
        }
    }
    Ok(())
}
