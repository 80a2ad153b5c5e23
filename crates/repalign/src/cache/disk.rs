//! The target cache's on-disk store: one safetensors file per sample, named by a hash
//! of the sample id, with the id, the loss fingerprint and the tap list in its metadata.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};
use crate::features::Features;
use crate::taps::{LayerKind, Tap, TapInfo};

const ID_KEY: &str = "repalign.sample_id";
const FINGERPRINT_KEY: &str = "repalign.fingerprint";
const TAPS_KEY: &str = "repalign.taps";

/// A directory of cached target features.
#[derive(Debug)]
pub(crate) struct DiskStore {
    dir: PathBuf,
    fingerprint: String,
}

impl DiskStore {
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| cache_error(dir, e))?;
        Ok(DiskStore {
            dir: dir.to_owned(),
            fingerprint: String::new(),
        })
    }

    pub(crate) fn set_fingerprint(&mut self, fingerprint: &str) {
        fingerprint.clone_into(&mut self.fingerprint);
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir
            .join(format!("{:016x}.safetensors", fnv1a(id.as_bytes())))
    }

    /// The features stored for `id`, or `None` when there is no file for it, or its file
    /// was made for another id or loss configuration, or cannot be parsed (a cache entry
    /// is never worth failing a training run over: it is recomputed and rewritten).
    pub(crate) fn read(&self, id: &str, device: &Device) -> Result<Option<Features>> {
        let path = self.path(id);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(cache_error(&path, e)),
        };
        Ok(self.decode(&bytes, id, device))
    }

    fn decode(&self, bytes: &[u8], id: &str, device: &Device) -> Option<Features> {
        let (_, metadata) = SafeTensors::read_metadata(bytes).ok()?;
        let info = metadata.metadata().as_ref()?;
        if info.get(ID_KEY)? != id || *info.get(FINGERPRINT_KEY)? != self.fingerprint {
            return None;
        }
        let parsed = SafeTensors::deserialize(bytes).ok()?;
        let mut taps = Vec::new();
        let mut batch = 0;
        for (index, line) in info.get(TAPS_KEY)?.lines().enumerate() {
            let info = parse_tap_line(line)?;
            let view = parsed.tensor(&format!("{index:04}")).ok()?;
            if view.dtype() != Dtype::F32 || view.shape().len() != 3 {
                return None;
            }
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let shape = [view.shape()[0], view.shape()[1], view.shape()[2]];
            batch = shape[0];
            let value = Tensor::<3>::from_data(TensorData::new(values, shape), device);
            taps.push(Tap { info, value });
        }
        (!taps.is_empty()).then(|| Features::new(taps, batch))
    }

    /// Writes `features` for `id` (to a temporary file, then renamed, so a crash never
    /// leaves a half-written entry); returns the bytes written.
    pub(crate) fn write(&self, id: &str, features: &Features) -> Result<u64> {
        let path = self.path(id);
        let mut values = Vec::with_capacity(features.len());
        let mut lines = Vec::with_capacity(features.len());
        for tap in features.taps() {
            let data = tap.value.to_data();
            let floats = data
                .try_to_vec::<f32>()
                .map_err(|e| Error::Backend(format!("{e:?}")))?;
            let bytes: Vec<u8> = floats.iter().flat_map(|v| v.to_le_bytes()).collect();
            values.push((data.shape().to_vec(), bytes));
            let shape: Vec<String> = tap.info.shape.iter().map(usize::to_string).collect();
            lines.push(format!(
                "{}\t{}\t{}",
                tap.info.name,
                tap.info.kind,
                shape.join(",")
            ));
        }
        let views = values
            .iter()
            .enumerate()
            .map(|(index, (shape, bytes))| {
                TensorView::new(Dtype::F32, shape.clone(), bytes).map(|view| (format!("{index:04}"), view))
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| cache_error(&path, e))?;
        let metadata = HashMap::from([
            (ID_KEY.to_owned(), id.to_owned()),
            (FINGERPRINT_KEY.to_owned(), self.fingerprint.clone()),
            (TAPS_KEY.to_owned(), lines.join("\n")),
        ]);
        let encoded = safetensors::serialize(views, Some(metadata)).map_err(|e| cache_error(&path, e))?;
        let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
        let written = std::fs::write(&temporary, &encoded).and_then(|()| std::fs::rename(&temporary, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(cache_error(&path, e));
        }
        Ok(encoded.len() as u64)
    }
}

fn parse_tap_line(line: &str) -> Option<TapInfo> {
    let mut fields = line.split('\t');
    let name = fields.next()?.to_owned();
    let kind = LayerKind::parse(fields.next()?)?;
    let shape = fields
        .next()?
        .split(',')
        .map(|d| d.parse().ok())
        .collect::<Option<Vec<usize>>>()?;
    Some(TapInfo { name, kind, shape })
}

fn cache_error(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Cache {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// FNV-1a, 64 bit: a stable file name for any id (ids may hold `/` or be very long).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
