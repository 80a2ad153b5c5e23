//! The device the CLI computes on, chosen by cargo features.

use burn::tensor::{Device, Tensor};

use crate::error::CliError;

/// The first enabled of CUDA, wgpu, LibTorch and Flex.
pub fn device() -> Device {
    #[cfg(feature = "cuda")]
    return Device::cuda(0);
    #[cfg(all(feature = "wgpu", not(feature = "cuda")))]
    return Device::wgpu(Default::default());
    // burn 0.22 deprecates its LibTorch backend; it still builds and runs (see BENCHMARKS.md).
    #[cfg(all(feature = "tch", not(any(feature = "cuda", feature = "wgpu"))))]
    #[allow(deprecated)]
    return Device::libtorch();
    #[cfg(not(any(feature = "cuda", feature = "wgpu", feature = "tch")))]
    return Device::flex();
}

/// A tensor's values read back from its device as f32, in row-major order.
pub fn tensor_values<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, CliError> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| repalign::Error::Backend(format!("{e:?}")).into())
}
