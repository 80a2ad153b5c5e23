//! Every file the CLI writes goes through here: a temporary file in the same folder,
//! renamed into place only once it is complete and on disk
//! ([`repalign_fetch::write_atomically`], which `repalign fetch` writes the cache
//! with). A failed or interrupted write never leaves a half-written file and never
//! damages the one that was there.

use std::io::Write;
use std::path::Path;

use repalign_fetch::write_atomically;

use crate::error::CliError;

/// Writes `bytes` to `path` atomically.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    write_atomically(path, |file| file.write_all(bytes)).map_err(|source| CliError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Encodes `image` as PNG and writes it atomically.
pub fn write_png(path: &Path, image: &image::RgbImage) -> Result<(), CliError> {
    let mut encoded = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut encoded), image::ImageFormat::Png)
        .map_err(|e| CliError::Write {
            path: path.to_owned(),
            source: std::io::Error::other(e),
        })?;
    write_file(path, &encoded)
}
