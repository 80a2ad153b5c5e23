//! The device the CLI computes on: `--device` (or `$REPALIGN_DEVICE`) among the backends
//! compiled in, else the first whose hardware is there (`repalign devices` lists them).

use std::io::Write;

use burn::tensor::{Device, Tensor};
use repalign::Backend;

use crate::error::CliError;

/// The device named by `--device`, or the default one.
pub fn device(name: Option<&str>) -> Result<Device, CliError> {
    Ok(match name {
        Some(name) => Backend::parse(name)?.device()?,
        None => Backend::default_device()?.1,
    })
}

/// `repalign devices`: every backend, whether this build has it, its device, the default.
pub fn list() -> Result<(), CliError> {
    let default = Backend::default_device().ok().map(|(backend, _)| backend);
    let mut stdout = std::io::stdout().lock();
    for backend in Backend::PREFERENCE {
        let state = if !backend.is_compiled() {
            format!("not in this build (--features {backend})")
        } else {
            match backend.describe() {
                Ok(device) if default == Some(backend) => format!("{device} (default)"),
                Ok(device) => device,
                Err(error) => error.to_string(),
            }
        };
        writeln!(stdout, "{:<5} {state}", backend.name()).map_err(CliError::stdout)?;
    }
    Ok(())
}

/// A tensor's values read back from its device as f32, in row-major order.
pub fn tensor_values<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, CliError> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| repalign::Error::Backend(format!("{e:?}")).into())
}
