//! Atomic writes: a temporary file in the same folder, renamed into place only once it
//! is complete and on disk. A failed or interrupted write never leaves a half-written
//! file and never damages the one that was there.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::FetchError;

/// Writes `path` through a temporary file in the same folder (created if missing),
/// renamed into place only when `write` succeeded and the data is on disk.
///
/// # Errors
///
/// Any error of `write`, or of creating, syncing or renaming the file; then the
/// temporary file is removed and `path` is untouched.
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

/// Writes `bytes` to `path` atomically.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), FetchError> {
    write_atomically(path, |file| file.write_all(bytes)).map_err(|source| FetchError::Write {
        path: path.to_owned(),
        source,
    })
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
