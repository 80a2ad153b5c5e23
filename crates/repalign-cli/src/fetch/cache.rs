//! The cache folder: where fetched weights and photos live, and writes that never
//! leave a half-written file behind.

use std::fs::File;
use std::io::Write;
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

/// Writes `path` through a temporary file in the same folder, renamed into place only
/// when `write` succeeded and the data is on disk. On any error the temporary file is
/// removed and `path` is untouched.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let folder = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = folder.join(format!(".{name}.partial-{}", std::process::id()));
    let result = File::create(&temporary).and_then(|mut file| {
        write(&mut file)?;
        file.flush()?;
        file.sync_all()
    });
    match result.and_then(|()| std::fs::rename(&temporary, path)) {
        Ok(()) => Ok(()),
        Err(error) => {
            let _ = std::fs::remove_file(&temporary);
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("file.bin");
        let error = write_atomically(&path, |file| {
            file.write_all(b"half")?;
            Err(std::io::Error::other("interrupted"))
        });
        assert!(error.is_err());
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(dir.path().join("sub")).unwrap().count(), 0);
        write_atomically(&path, |file| file.write_all(b"whole")).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"whole");
    }
}
