//! The CLI's errors: each prints as one line naming its cause.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Library(#[from] repalign::Error),
    #[error("cannot read image {path}: {reason}")]
    Image { path: PathBuf, reason: String },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Usage(String),
    #[error("fetch failed: {0}")]
    Fetch(String),
    /// Folder mode: some files were skipped (each already reported).
    #[error("{0}")]
    SomeFailed(String),
    #[error("output closed")]
    BrokenPipe,
}

impl CliError {
    /// Writing to stdout: a closed pipe is a quiet exit, anything else an error.
    pub fn stdout(error: std::io::Error) -> CliError {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            CliError::BrokenPipe
        } else {
            CliError::Write {
                path: PathBuf::from("<stdout>"),
                source: error,
            }
        }
    }
}
