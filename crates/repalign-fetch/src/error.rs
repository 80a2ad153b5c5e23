//! The crate's one error type: each variant prints as one line naming its cause.

use std::path::PathBuf;

use crate::catalog::ASSETS;
use crate::hub::TORCHVISION;

/// Why a fetch (or a checkpoint read) failed.
///
/// [`is_usage`](FetchError::is_usage) tells the caller's mistakes (an unknown name, an
/// unpinned URL, no cache folder) from failures on the way (network, sha256,
/// conversion, disk).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// A name that is not in the catalog (see [`assets`](crate::assets)).
    #[error("nothing to fetch called `{name}` (known: {})", known_assets())]
    UnknownAsset {
        /// The name asked for.
        name: String,
    },
    /// `torchvision:NAME` for a teacher torchvision has no weights of ours for.
    #[error("torchvision has no `{name}` (known: {})", known_torchvision())]
    UnknownTorchvision {
        /// The teacher name after `torchvision:`.
        name: String,
    },
    /// A URL with no teacher name to store its weights under.
    #[error("--url needs --as NAME: the teacher name to store the weights under")]
    MissingName,
    /// A teacher name that is not a plain identifier (it names a file in the cache).
    #[error("--as `{name}`: use a teacher name such as vgg16")]
    BadName {
        /// The name given.
        name: String,
    },
    /// A URL with no sha256 given and none in its file name.
    #[error("{url}: pin it with --sha256 HEX (its file name carries no torchvision hash prefix)")]
    Unpinned {
        /// The URL.
        url: String,
    },
    /// A sha256 pin that is not 8 to 64 hex digits.
    #[error("--sha256 `{sha256}`: expected 8 to 64 hex digits")]
    BadSha256 {
        /// The pin given (lowercased).
        sha256: String,
    },
    /// No cache folder given and none in the environment.
    #[error("no cache folder: set REPALIGN_CACHE or HOME, or pass --dir")]
    NoCacheDir,
    /// Downloading, checking or converting `item` failed.
    #[error("fetch failed: {item} ({origin}): {reason}")]
    Failed {
        /// The package (`project version`), the catalog asset or the teacher name.
        item: String,
        /// Where it came from: the URL, or the member's path in its archive.
        origin: String,
        /// What went wrong.
        reason: String,
    },
    /// A file or folder in the cache could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Bytes that are not a checkpoint this crate reads.
    #[error("cannot read the checkpoint: {0}")]
    Checkpoint(String),
}

impl FetchError {
    /// Whether the caller asked for something that cannot be (an unknown name, a
    /// badly formed or missing pin or name, no cache folder), as opposed to a failure
    /// on the way.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            FetchError::UnknownAsset { .. }
                | FetchError::UnknownTorchvision { .. }
                | FetchError::MissingName
                | FetchError::BadName { .. }
                | FetchError::Unpinned { .. }
                | FetchError::BadSha256 { .. }
                | FetchError::NoCacheDir
        )
    }
}

fn known_assets() -> String {
    let known: Vec<&str> = ASSETS.iter().map(|a| a.name).collect();
    known.join(", ")
}

fn known_torchvision() -> String {
    let known: Vec<&str> = TORCHVISION.iter().map(|(n, _)| *n).collect();
    known.join(", ")
}
