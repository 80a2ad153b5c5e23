//! The device the CLI computes on, chosen by cargo features.

use burn::tensor::Device;

/// The first enabled of CUDA, wgpu, LibTorch and Flex.
pub fn device() -> Device {
    #[cfg(feature = "cuda")]
    return Device::cuda(0);
    #[cfg(all(feature = "wgpu", not(feature = "cuda")))]
    return Device::wgpu(Default::default());
    #[cfg(all(feature = "tch", not(any(feature = "cuda", feature = "wgpu"))))]
    return Device::libtorch();
    #[cfg(not(any(feature = "cuda", feature = "wgpu", feature = "tch")))]
    return Device::flex();
}
