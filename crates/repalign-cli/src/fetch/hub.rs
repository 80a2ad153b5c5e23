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

use super::cache;
use super::catalog::Conversion;
use super::{convert, download};
use crate::error::CliError;
use crate::output;

/// torchvision's ImageNet weights (`IMAGENET1K_V1`) for our teachers, by teacher name.
pub const TORCHVISION: &[(&str, &str)] = &[
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

/// One weight file to bring into the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// `http(s)://…`, `file://…` or a local path.
    pub url: String,
    /// Teacher name the file is stored under (`weights/NAME.safetensors`).
    pub name: String,
    /// Lowercase hex: the whole sha256, or a prefix of at least 8 digits.
    pub sha256: String,
}

impl Source {
    /// From the flags: `url` may be `torchvision:NAME`; `name` defaults to that NAME;
    /// `sha256` defaults to the hash prefix in a torchvision-style file name
    /// (`vgg16-397923af.pth`).
    pub fn new(url: &str, name: Option<&str>, sha256: Option<&str>) -> Result<Source, CliError> {
        let (url, default_name) = match url.strip_prefix("torchvision:") {
            Some(teacher) => {
                let (_, url) = TORCHVISION.iter().find(|(n, _)| *n == teacher).ok_or_else(|| {
                    let known: Vec<&str> = TORCHVISION.iter().map(|(n, _)| *n).collect();
                    CliError::Usage(format!(
                        "torchvision has no `{teacher}` (known: {})",
                        known.join(", ")
                    ))
                })?;
                ((*url).to_owned(), Some(teacher))
            }
            None => (url.to_owned(), None),
        };
        let name = name.or(default_name).ok_or_else(|| {
            CliError::Usage("--url needs --as NAME: the teacher name to store the weights under".into())
        })?;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(CliError::Usage(format!(
                "--as `{name}`: use a teacher name such as vgg16"
            )));
        }
        let sha256 = match sha256 {
            Some(hex) => hex.to_ascii_lowercase(),
            None => filename_hash(&url).ok_or_else(|| {
                CliError::Usage(format!(
                    "{url}: pin it with --sha256 HEX (its file name carries no torchvision hash prefix)"
                ))
            })?,
        };
        if !(8..=64).contains(&sha256.len()) || !sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(CliError::Usage(format!(
                "--sha256 `{sha256}`: expected 8 to 64 hex digits"
            )));
        }
        Ok(Source {
            url,
            name: name.to_owned(),
            sha256,
        })
    }
}

/// torchvision's `-<hex>.pth` hash prefix, as `torch.hub.download_url_to_file` reads it.
fn filename_hash(url: &str) -> Option<String> {
    let file = url.rsplit('/').next()?;
    let stem = file.rsplit_once('.')?.0;
    let hash = stem.rsplit_once('-')?.1;
    (hash.len() >= 8 && hash.chars().all(|c| c.is_ascii_hexdigit())).then(|| hash.to_ascii_lowercase())
}

/// Brings `source` into `cache` unless it is there; returns the stored file.
pub fn fetch(source: &Source, cache: &Path) -> Result<PathBuf, CliError> {
    let path = cache::weights_path(cache, &source.name);
    if path.exists() {
        eprintln!("repalign: {} already fetched ({})", source.name, path.display());
        return Ok(path);
    }
    let failed = |reason: String| CliError::Fetch(format!("{} ({}): {reason}", source.name, source.url));
    let bytes = read(&source.url).map_err(&failed)?;
    let digest = download::hex(&Sha256::digest(&bytes));
    if !digest.starts_with(&source.sha256) {
        return Err(failed(format!(
            "sha256 mismatch: got {digest}, expected {}",
            source.sha256
        )));
    }
    // A safetensors file is stored as it is (its keys must be in our layout, which the
    // teacher checks on load); anything else must be a torch checkpoint.
    let output = match repalign::WeightStore::from_bytes(&bytes, &source.url) {
        Ok(_) => bytes,
        Err(_) => convert::to_safetensors(&bytes, Conversion::TorchStateDict)
            .map_err(|e| failed(format!("neither safetensors nor a torch checkpoint: {e}")))?,
    };
    output::write_file(&path, &output)?;
    eprintln!("repalign: {} -> {}", source.name, path.display());
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
