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
    /// The command line asks for something that cannot be done (bad flag values or
    /// combinations).
    #[error("{0}")]
    Usage(String),
    /// The input files do not fit together (sizes that reach the teacher differently).
    #[error("{0}")]
    Input(String),
    #[error("cannot list {path}: {source}")]
    ListFolder { path: PathBuf, source: std::io::Error },
    /// A well-formed command that could not finish: something it needs is missing, or
    /// the run went wrong (a diverged loss).
    #[error("{0}")]
    Failed(String),
    /// `repalign fetch`, or the cache folder other commands read; prints as
    /// [`repalign_fetch::FetchError`] does.
    #[error(transparent)]
    Fetch(#[from] repalign_fetch::FetchError),
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
