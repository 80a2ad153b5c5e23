//! Kernels over the tensors' own memory, for the CPU backend.
//!
//! On Flex a tensor is host memory, and a pass written as one Rust loop does in one walk
//! what a chain of burn ops does in many (each op writes a fresh buffer the size of its
//! input). Such a kernel computes a value and, when its input is on the autodiff tape,
//! the value's derivative; [`attach_gradient`] then puts the value on the tape through a
//! linear surrogate whose gradient is that derivative. Other backends (GPUs, LibTorch)
//! keep the plain burn ops: reading their tensors back would cost more than it saves.

use burn::tensor::{Device, Tensor};

use crate::error::{Error, Result};

/// Whether tensors on `device` are host memory that the kernels here can read in one
/// copy: Flex, and LibTorch on the CPU.
pub(crate) fn applies(device: &Device) -> bool {
    #[cfg(feature = "tch")]
    #[allow(deprecated)] // burn 0.22 deprecates its LibTorch backend; we still serve it
    if device.clone().inner() == Device::libtorch() {
        return true;
    }
    is_flex(device)
}

/// Whether `device` is Flex, whose own elementwise kernels are scalar loops: the place
/// where a vectorised kernel of ours (GELU) beats the backend's op. LibTorch's are
/// vectorised already, and the copies would cost more than they save.
pub(crate) fn is_flex(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    return device.clone().inner() == Device::flex();
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

/// The values of an `f32` tensor, without its autodiff tape (one copy at most).
pub(crate) fn read<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    tensor
        .inner()
        .into_data()
        .try_into_vec::<f32>()
        .map_err(|error| Error::Backend(format!("{error:?}")))
}

/// `value` with the gradient of `linear` with respect to its inputs:
/// `value + (linear − stop(linear))`. The bracket is exactly zero, so the result is
/// `value` to the bit; `linear` must be linear in the tracked input (`input · G` or
/// `Σ input · G`), so that its gradient is the constant `G` the kernel computed.
pub(crate) fn attach_gradient<const D: usize>(value: Tensor<D>, linear: Tensor<D>) -> Tensor<D> {
    linear.clone() - linear.detach() + value
}

/// A loss kernel's result as a one-element tensor: `sum`, and when the kernel computed
/// the gradient with respect to `input` (because `input` is on the tape), that
/// gradient joined through [`attach_gradient`] with the surrogate `Σ input · G`.
pub(crate) fn sum_with_gradient<const D: usize>(
    sum: f64,
    input: Tensor<D>,
    gradient: Option<Vec<f32>>,
) -> Tensor<1> {
    let device = input.device().inner();
    let sum = Tensor::<1>::from_floats([sum as f32], &device);
    let Some(gradient) = gradient else {
        return sum;
    };
    let gradient = Tensor::<D>::from_data(burn::tensor::TensorData::new(gradient, input.dims()), &device);
    attach_gradient(sum, (input * gradient).sum())
}
