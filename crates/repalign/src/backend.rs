//! Choosing the device at run time among the backends this build has.
//!
//! burn 0.22's `Device` carries its backend, so one binary built with several backend
//! features can compute on any of them; this module names them, says which are compiled
//! in, and opens one only where its hardware is there, with an error rather than
//! burn's panic where it is not.

use std::fmt;

use burn::tensor::Device;

use crate::error::{Error, Result};

/// A burn backend repalign can compute on, each behind the cargo feature of its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// burn's pure-Rust CPU backend, with repalign's fused CPU kernels.
    Flex,
    /// Any GPU through wgpu (Vulkan, Metal, DirectX); also a software Vulkan driver
    /// such as Mesa's lavapipe, when named explicitly.
    Wgpu,
    /// NVIDIA GPUs through CUDA (the driver is loaded at run time; no toolkit needed to build).
    Cuda,
    /// LibTorch on the CPU (burn 0.22 deprecates this backend; it still builds and runs).
    Tch,
}

impl Backend {
    /// Every backend, in the order a default is chosen: GPUs first, then the CPU ones.
    pub const PREFERENCE: [Backend; 4] = [Backend::Cuda, Backend::Wgpu, Backend::Tch, Backend::Flex];

    /// The backend's name, as `parse` takes it and the cargo feature spells it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Wgpu => "wgpu",
            Backend::Cuda => "cuda",
            Backend::Tch => "tch",
        }
    }

    /// The backend called `name` (case-insensitive), compiled in or not.
    pub fn parse(name: &str) -> Result<Backend> {
        Backend::PREFERENCE
            .into_iter()
            .find(|backend| backend.name().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| {
                Error::Device(format!(
                    "unknown backend `{name}` (known: {})",
                    names(&Backend::PREFERENCE)
                ))
            })
    }

    /// Whether this build has the backend (its cargo feature was on).
    pub fn is_compiled(self) -> bool {
        match self {
            Backend::Flex => cfg!(feature = "flex"),
            Backend::Wgpu => cfg!(feature = "wgpu"),
            Backend::Cuda => cfg!(feature = "cuda"),
            Backend::Tch => cfg!(feature = "tch"),
        }
    }

    /// The backends this build has, in `PREFERENCE` order.
    pub fn compiled() -> Vec<Backend> {
        Backend::PREFERENCE
            .into_iter()
            .filter(|b| b.is_compiled())
            .collect()
    }

    /// The backend's first device, if this build has the backend and the machine has the
    /// hardware: a CUDA GPU for `Cuda`, any wgpu adapter (a software one included) for
    /// `Wgpu`. Never panics on a missing driver.
    pub fn device(self) -> Result<Device> {
        if !self.is_compiled() {
            return Err(Error::Device(format!(
                "this build has no `{}` backend (built with: {}; rebuild with `--features {}`)",
                self.name(),
                names(&Backend::compiled()),
                self.name()
            )));
        }
        probe::device(self)
    }

    /// The device a caller who did not choose gets: the first backend in `PREFERENCE`
    /// that this build has and whose hardware is there. A software wgpu adapter is not
    /// chosen by default (the CPU backends are faster than a GPU emulated on the CPU).
    pub fn default_device() -> Result<(Backend, Device)> {
        for backend in Backend::compiled() {
            if let Some(device) = probe::default_candidate(backend) {
                return Ok((backend, device));
            }
        }
        Err(Error::Device(format!(
            "none of this build's backends ({}) has a device here",
            names(&Backend::compiled())
        )))
    }

    /// What the backend's device is, for listings: the part's name for a GPU (marked
    /// `software` for an emulated one), the CPU otherwise; the error when there is none.
    pub fn describe(self) -> Result<String> {
        let device = self.device()?;
        Ok(probe::describe(self, &device))
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn names(backends: &[Backend]) -> String {
    if backends.is_empty() {
        return "none".into();
    }
    backends.iter().map(|b| b.name()).collect::<Vec<_>>().join(", ")
}

/// Opening devices: each backend behind its feature, so the rest of the module compiles
/// with any set of them.
mod probe {
    use burn::tensor::Device;
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    use burn::tensor::DeviceType;

    use super::Backend;
    use crate::error::{Error, Result};

    pub fn device(backend: Backend) -> Result<Device> {
        match backend {
            #[cfg(feature = "flex")]
            Backend::Flex => Ok(Device::flex()),
            #[cfg(feature = "tch")]
            #[allow(deprecated)]
            Backend::Tch => Ok(Device::libtorch()),
            #[cfg(feature = "cuda")]
            Backend::Cuda => first(DeviceType::Cuda).ok_or_else(|| {
                Error::Device("no CUDA device: no NVIDIA driver (libcuda) or no GPU on this machine".into())
            }),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => first(DeviceType::Wgpu).ok_or_else(|| {
                Error::Device(
                    "no wgpu adapter: no GPU driver for Vulkan, Metal or DirectX (on Linux \
                     without a GPU, Mesa's lavapipe gives a software one: mesa-vulkan-drivers)"
                        .into(),
                )
            }),
            #[allow(unreachable_patterns)]
            _ => Err(Error::Device(format!("this build has no `{backend}` backend"))),
        }
    }

    /// The backend's device if a default choice may take it.
    pub fn default_candidate(backend: Backend) -> Option<Device> {
        let device = device(backend).ok()?;
        match backend {
            #[cfg(feature = "wgpu")]
            // A software rasterizer (lavapipe, llvmpipe) is no card.
            Backend::Wgpu => device
                .identity()
                .is_some_and(|identity| identity.physical.is_some())
                .then_some(device),
            _ => Some(device),
        }
    }

    pub fn describe(backend: Backend, device: &Device) -> String {
        match backend {
            Backend::Flex => "CPU (burn Flex)".into(),
            Backend::Tch => "CPU (LibTorch)".into(),
            #[cfg(any(feature = "wgpu", feature = "cuda"))]
            Backend::Wgpu | Backend::Cuda => match device.identity() {
                Some(identity) if identity.physical.is_none() => format!("{} (software)", identity.name),
                Some(identity) => identity.name,
                None => "unnamed device".into(),
            },
            #[allow(unreachable_patterns)]
            _ => {
                let _ = device;
                "unnamed device".into()
            }
        }
    }

    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    fn first(kind: DeviceType) -> Option<Device> {
        Device::enumerate(kind).into_iter().next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_unknown_names_say_what_is_known() {
        for backend in Backend::PREFERENCE {
            assert_eq!(Backend::parse(backend.name()).unwrap(), backend);
            assert_eq!(Backend::parse(&backend.name().to_uppercase()).unwrap(), backend);
        }
        let error = Backend::parse("metal").unwrap_err().to_string();
        assert!(
            error.contains("unknown backend `metal`") && error.contains("flex"),
            "{error}"
        );
    }

    #[test]
    fn a_backend_not_compiled_in_is_an_error_naming_the_feature() {
        for backend in Backend::PREFERENCE.into_iter().filter(|b| !b.is_compiled()) {
            let error = backend.device().unwrap_err().to_string();
            assert!(error.contains(&format!("--features {backend}")), "{error}");
        }
    }

    #[cfg(feature = "flex")]
    #[test]
    fn flex_is_always_there_and_is_the_default_without_a_gpu_backend() {
        assert!(Backend::Flex.device().is_ok());
        if Backend::compiled() == [Backend::Flex] {
            assert_eq!(Backend::default_device().unwrap().0, Backend::Flex);
        }
    }
}
