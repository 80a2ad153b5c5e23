//! The cache folder: where fetched weights and photos live.

use std::path::{Path, PathBuf};

use crate::error::CliError;

/// `--dir`, else `$REPALIGN_CACHE`, else `$XDG_CACHE_HOME/repalign`, else
/// `~/.cache/repalign`.
pub fn cache_dir(explicit: Option<&Path>) -> Result<PathBuf, CliError> {
    if let Some(dir) = explicit {
        return Ok(dir.to_owned());
    }
    if let Some(dir) = std::env::var_os("REPALIGN_CACHE").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("repalign"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".cache").join("repalign")),
        None => Err(CliError::Usage(
            "no cache folder: set REPALIGN_CACHE or HOME, or pass --dir".into(),
        )),
    }
}

/// Where the weights for teacher `name` are kept.
pub fn weights_path(cache: &Path, name: &str) -> PathBuf {
    cache.join("weights").join(format!("{name}.safetensors"))
}

/// Where fetched photos are kept.
pub fn photos_dir(cache: &Path) -> PathBuf {
    cache.join("photos")
}
