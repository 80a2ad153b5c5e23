//! The cache folder: where fetched weights and photos live.

use std::path::{Path, PathBuf};

use crate::FetchError;

/// The cache folder: `explicit` (the CLI's `--dir`), else `$REPALIGN_CACHE`, else
/// `$XDG_CACHE_HOME/repalign`, else `~/.cache/repalign`. Nothing is created.
///
/// # Errors
///
/// [`FetchError::NoCacheDir`] when none of these is set.
pub fn cache_dir(explicit: Option<&Path>) -> Result<PathBuf, FetchError> {
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
        None => Err(FetchError::NoCacheDir),
    }
}

/// Where the weights for teacher `name` are kept in `cache`
/// (`weights/NAME.safetensors`).
pub fn weights_path(cache: &Path, name: &str) -> PathBuf {
    cache.join("weights").join(format!("{name}.safetensors"))
}

/// Where fetched photos are kept in `cache` (`photos/`).
pub fn photos_dir(cache: &Path) -> PathBuf {
    cache.join("photos")
}
