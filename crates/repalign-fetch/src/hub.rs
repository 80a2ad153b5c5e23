//! The hub path: weights straight from a URL — torchvision's download server, a
//! HuggingFace file, a mirror, or a local file — pinned by sha256, converted and cached
//! like the package assets (`repalign fetch --url URL --as NAME --sha256 HEX`).
//!
//! torchvision publishes only the first 8+ hex digits of each file's sha256 (in its
//! file name, which is what `torch.hub` checks); for those files the prefix is the pin.
//! Anything else needs `--sha256`.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::atomic::write_file;
use crate::catalog::Conversion;
use crate::{Event, FetchError, cache, convert, download};

/// torchvision's ImageNet weights (`IMAGENET1K_V1`) for our teachers, by teacher name.
pub(crate) const TORCHVISION: &[(&str, &str)] = &[
    ("vgg11", "https://download.pytorch.org/models/vgg11-8a719046.pth"),
    (
        "vgg11_bn",
        "https://download.pytorch.org/models/vgg11_bn-6002323d.pth",
    ),
    ("vgg13", "https://download.pytorch.org/models/vgg13-19584684.pth"),
    (
        "vgg13_bn",
        "https://download.pytorch.org/models/vgg13_bn-abd245e5.pth",
    ),
    ("vgg16", "https://download.pytorch.org/models/vgg16-397923af.pth"),
    (
        "vgg16_bn",
        "https://download.pytorch.org/models/vgg16_bn-6c64b313.pth",
    ),
    ("vgg19", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"),
    (
        "vgg19_bn",
        "https://download.pytorch.org/models/vgg19_bn-c79401a0.pth",
    ),
    (
        "resnet18",
        "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    ),
    (
        "resnet34",
        "https://download.pytorch.org/models/resnet34-b627a593.pth",
    ),
    (
        "resnet50",
        "https://download.pytorch.org/models/resnet50-0676ba61.pth",
    ),
    (
        "resnet101",
        "https://download.pytorch.org/models/resnet101-63fe2227.pth",
    ),
    (
        "resnet152",
        "https://download.pytorch.org/models/resnet152-394f9c45.pth",
    ),
    (
        "alexnet",
        "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    ),
    (
        "squeezenet1_0",
        "https://download.pytorch.org/models/squeezenet1_0-b66bff10.pth",
    ),
    (
        "squeezenet1_1",
        "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth",
    ),
    (
        "mobilenet_v2",
        "https://download.pytorch.org/models/mobilenet_v2-b0353104.pth",
    ),
    (
        "efficientnet_b0",
        "https://download.pytorch.org/models/efficientnet_b0_rwightman-7f5810bc.pth",
    ),
    (
        "efficientnet_b1",
        "https://download.pytorch.org/models/efficientnet_b1_rwightman-bac287d4.pth",
    ),
    (
        "efficientnet_b2",
        "https://download.pytorch.org/models/efficientnet_b2_rwightman-c35c1473.pth",
    ),
    (
        "efficientnet_b3",
        "https://download.pytorch.org/models/efficientnet_b3_rwightman-b3899882.pth",
    ),
    (
        "efficientnet_b4",
        "https://download.pytorch.org/models/efficientnet_b4_rwightman-23ab8bcd.pth",
    ),
    (
        "efficientnet_b5",
        "https://download.pytorch.org/models/efficientnet_b5_lukemelas-1a07897c.pth",
    ),
    (
        "efficientnet_b6",
        "https://download.pytorch.org/models/efficientnet_b6_lukemelas-24a108a5.pth",
    ),
    (
        "efficientnet_b7",
        "https://download.pytorch.org/models/efficientnet_b7_lukemelas-c5b4e57e.pth",
    ),
];

/// One weight file to bring into the cache with [`fetch_url`], pinned by sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// `http(s)://…`, `file://…` or a local path.
    pub(crate) url: String,
    /// Teacher name the file is stored under (`weights/NAME.safetensors`).
    pub(crate) name: String,
    /// Lowercase hex: the whole sha256, or a prefix of at least 8 digits.
    pub(crate) sha256: String,
}

impl Source {
    /// From the CLI's flags: `url` (`--url`) may be `torchvision:NAME` for torchvision's
    /// ImageNet weights of a teacher; `name` (`--as`) defaults to that NAME; `sha256`
    /// (`--sha256`) defaults to the hash prefix in a torchvision-style file name
    /// (`vgg16-397923af.pth`).
    ///
    /// # Errors
    ///
    /// A usage error ([`FetchError::is_usage`]): an unknown torchvision teacher, no
    /// name, a name that is not a plain identifier, no pin, or a pin that is not 8 to
    /// 64 hex digits.
    pub fn new(url: &str, name: Option<&str>, sha256: Option<&str>) -> Result<Source, FetchError> {
        let (url, default_name) = match url.strip_prefix("torchvision:") {
            Some(teacher) => {
                let (_, url) = TORCHVISION.iter().find(|(n, _)| *n == teacher).ok_or_else(|| {
                    FetchError::UnknownTorchvision {
                        name: teacher.to_owned(),
                    }
                })?;
                ((*url).to_owned(), Some(teacher))
            }
            None => (url.to_owned(), None),
        };
        let name = name.or(default_name).ok_or(FetchError::MissingName)?;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(FetchError::BadName {
                name: name.to_owned(),
            });
        }
        let sha256 = match sha256 {
            Some(hex) => hex.to_ascii_lowercase(),
            None => filename_hash(&url).ok_or_else(|| FetchError::Unpinned { url: url.clone() })?,
        };
        if !(8..=64).contains(&sha256.len()) || !sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(FetchError::BadSha256 { sha256 });
        }
        Ok(Source {
            url,
            name: name.to_owned(),
            sha256,
        })
    }

    /// Where the file comes from (`torchvision:NAME` resolved to its URL).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The teacher name it is stored under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pin: lowercase hex, the whole sha256 or a prefix of at least 8 digits.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }
}

/// torchvision's `-<hex>.pth` hash prefix, as `torch.hub.download_url_to_file` reads it.
fn filename_hash(url: &str) -> Option<String> {
    let file = url.rsplit('/').next()?;
    let stem = file.rsplit_once('.')?.0;
    let hash = stem.rsplit_once('-')?.1;
    (hash.len() >= 8 && hash.chars().all(|c| c.is_ascii_hexdigit())).then(|| hash.to_ascii_lowercase())
}

/// Brings `source` into `cache` as `weights/NAME.safetensors` unless that file is there
/// already; returns the stored file. The bytes are checked against the pin, then
/// stored as they are if they are safetensors, else converted from a torch checkpoint.
/// `on_event` hears [`Event::AlreadyFetched`] or [`Event::Stored`].
///
/// # Errors
///
/// [`FetchError::Failed`] when the bytes cannot be read, do not match the pin or are
/// neither safetensors nor a torch checkpoint; [`FetchError::Write`] when the cache
/// cannot be written. Nothing is left in the cache then.
pub fn fetch_url(
    source: &Source,
    cache: &Path,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<PathBuf, FetchError> {
    let path = cache::weights_path(cache, &source.name);
    if path.exists() {
        on_event(Event::AlreadyFetched {
            name: &source.name,
            path: Some(&path),
        });
        return Ok(path);
    }
    let failed = |reason: String| FetchError::Failed {
        item: source.name.clone(),
        origin: source.url.clone(),
        reason,
    };
    let bytes = read(&source.url).map_err(&failed)?;
    let digest = download::hex(&Sha256::digest(&bytes));
    if !digest.starts_with(&source.sha256) {
        return Err(failed(format!(
            "sha256 mismatch: got {digest}, expected {}",
            source.sha256
        )));
    }
    // A safetensors file is stored as it is (its keys must be in our layout, and its
    // header must list each key once, which the teacher checks on load); anything else
    // must be a torch checkpoint.
    let output = match safetensors::SafeTensors::deserialize(&bytes) {
        Ok(_) => bytes,
        Err(_) => convert::to_safetensors(&bytes, Conversion::TorchStateDict)
            .map_err(|e| failed(format!("neither safetensors nor a torch checkpoint: {e}")))?,
    };
    write_file(&path, &output)?;
    on_event(Event::Stored {
        name: &source.name,
        path: &path,
    });
    Ok(path)
}

/// The bytes at `url`: over HTTP(S), or from a local file (`file://` or a path).
fn read(url: &str) -> Result<Vec<u8>, String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        let mut response = download::agent().get(url).call().map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        response
            .body_mut()
            .as_reader()
            .read_to_end(&mut bytes)
            .map_err(|e| e.to_string())?;
        return Ok(bytes);
    }
    let path = url.strip_prefix("file://").unwrap_or(url);
    std::fs::read(path).map_err(|e| e.to_string())
}
