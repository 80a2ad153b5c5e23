//! Strict, consume-once access to the tensors of a safetensors file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};

/// One stored tensor, already converted to f32 (integer tensors such as BatchNorm's
/// `num_batches_tracked` keep only their shape: no teacher reads their values).
#[derive(Debug, Clone)]
struct Stored {
    shape: Vec<usize>,
    values: Option<Vec<f32>>,
    dtype: Dtype,
}

/// The tensors of one weight file, each of which must be taken exactly once.
#[derive(Debug, Clone)]
pub struct WeightStore {
    origin: String,
    tensors: BTreeMap<String, Stored>,
    taken: BTreeSet<String>,
    /// Answers every `take` with zeros and records what was asked (see
    /// [`crate::testing::random_weights`]).
    #[cfg(any(test, feature = "testing"))]
    inventor: Option<crate::testing::Inventor>,
}

impl WeightStore {
    /// Reads a safetensors file. f16, bf16 and f64 are converted to f32.
    ///
    /// # Errors
    /// [`Error::WeightsIo`] when the file cannot be read, [`Error::WeightsFormat`] when
    /// it is not safetensors.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::WeightsIo {
            path: path.to_owned(),
            source,
        })?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    /// Parses safetensors bytes; `origin` names them in errors.
    ///
    /// # Errors
    /// [`Error::WeightsFormat`] when the bytes are not safetensors.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Self> {
        if let Some(key) = super::header::duplicate_key(bytes) {
            return Err(Error::WeightsFormat {
                origin: origin.to_owned(),
                reason: format!("the header lists `{key}` twice"),
            });
        }
        let parsed = SafeTensors::deserialize(bytes).map_err(|e| Error::WeightsFormat {
            origin: origin.to_owned(),
            reason: e.to_string(),
        })?;
        let mut tensors = BTreeMap::new();
        for (key, view) in parsed.tensors() {
            let values = convert_to_f32(view.dtype(), view.data());
            tensors.insert(
                key,
                Stored {
                    shape: view.shape().to_vec(),
                    values,
                    dtype: view.dtype(),
                },
            );
        }
        Ok(WeightStore {
            origin: origin.to_owned(),
            tensors,
            ..WeightStore::empty()
        })
    }

    /// Builds a store from f32 tensors in memory (tests, converters).
    pub fn from_tensors(
        origin: &str,
        tensors: impl IntoIterator<Item = (String, Vec<usize>, Vec<f32>)>,
    ) -> Self {
        let tensors = tensors
            .into_iter()
            .map(|(key, shape, values)| {
                (
                    key,
                    Stored {
                        shape,
                        values: Some(values),
                        dtype: Dtype::F32,
                    },
                )
            })
            .collect();
        WeightStore {
            origin: origin.to_owned(),
            tensors,
            ..WeightStore::empty()
        }
    }

    fn empty() -> Self {
        WeightStore {
            origin: String::new(),
            tensors: BTreeMap::new(),
            taken: BTreeSet::new(),
            #[cfg(any(test, feature = "testing"))]
            inventor: None,
        }
    }

    /// An empty store that answers every `take` with zeros, `inventor` recording each.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn inventing(inventor: crate::testing::Inventor) -> Self {
        WeightStore {
            origin: "invented weights".to_owned(),
            inventor: Some(inventor),
            ..WeightStore::empty()
        }
    }

    /// Where the weights came from, as used in error messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether the file holds `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.tensors.contains_key(key)
    }

    /// The shape stored under `key`.
    pub fn shape(&self, key: &str) -> Option<&[usize]> {
        self.tensors.get(key).map(|t| t.shape.as_slice())
    }

    /// Every key, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Takes `key`, which must have shape `expected`, as a constant tensor on `device`.
    ///
    /// # Errors
    /// Missing key, wrong shape, integer dtype, or NaN/Inf values, each naming the key.
    pub fn take<const D: usize>(
        &mut self,
        key: &str,
        expected: [usize; D],
        device: &Device,
    ) -> Result<Tensor<D>> {
        #[cfg(any(test, feature = "testing"))]
        if let Some(inventor) = &self.inventor {
            inventor.record(key, &expected);
            return Ok(Tensor::zeros(expected, device));
        }
        let stored = self.tensors.get(key).ok_or_else(|| Error::MissingWeight {
            origin: self.origin.clone(),
            key: key.to_owned(),
        })?;
        if stored.shape != expected {
            return Err(Error::WeightShape {
                origin: self.origin.clone(),
                key: key.to_owned(),
                expected: expected.to_vec(),
                actual: stored.shape.clone(),
            });
        }
        let values = stored.values.as_ref().ok_or_else(|| Error::WeightDtype {
            origin: self.origin.clone(),
            key: key.to_owned(),
            dtype: format!("{:?}", stored.dtype),
        })?;
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::WeightNonFinite {
                origin: self.origin.clone(),
                key: key.to_owned(),
            });
        }
        let tensor = Tensor::from_data(TensorData::new(values.clone(), expected), device);
        self.taken.insert(key.to_owned());
        Ok(tensor)
    }

    /// Marks `key` as used without reading it, if present (bookkeeping entries such
    /// as BatchNorm's `num_batches_tracked`).
    pub fn skip(&mut self, key: &str) {
        if self.tensors.contains_key(key) {
            self.taken.insert(key.to_owned());
        }
    }

    /// Succeeds only when every key has been taken.
    ///
    /// # Errors
    /// [`Error::UnexpectedWeight`] naming the first unused key.
    pub fn finish(self) -> Result<()> {
        let mut unused = self.tensors.keys().filter(|k| !self.taken.contains(*k));
        match unused.next() {
            None => Ok(()),
            Some(first) => {
                let rest = unused.count();
                Err(Error::UnexpectedWeight {
                    origin: self.origin.clone(),
                    key: first.clone(),
                    more: if rest > 0 {
                        format!(" and {rest} more")
                    } else {
                        String::new()
                    },
                })
            }
        }
    }
}

/// Little-endian floats to f32; `None` for dtypes that are not floating point.
fn convert_to_f32(dtype: Dtype, data: &[u8]) -> Option<Vec<f32>> {
    let values = match dtype {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
            .collect(),
        _ => return None,
    };
    Some(values)
}

/// IEEE 754 half to single precision, subnormals and specials included.
fn f16_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits >> 15) << 31;
    let exponent = u32::from((bits >> 10) & 0x1f);
    let mantissa = u32::from(bits & 0x3ff);
    let magnitude = match (exponent, mantissa) {
        (0, 0) => 0,
        (0, m) => {
            // Subnormal: value = m * 2^-24, exact in f32.
            let value = m as f32 * 2f32.powi(-24);
            return if sign != 0 { -value } else { value };
        }
        (0x1f, m) => 0xff << 23 | m << 13,
        (e, m) => (e + 112) << 23 | m << 13,
    };
    f32::from_bits(sign | magnitude)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_conversion_covers_normals_subnormals_and_specials() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x8001), -(2f32.powi(-24)));
        assert!(f16_to_f32(0x7c00).is_infinite());
        assert!(f16_to_f32(0x7e00).is_nan());
    }

    #[test]
    fn every_key_must_be_taken_once() {
        let device = Device::flex();
        let mut store = WeightStore::from_tensors(
            "test",
            [
                ("a".to_owned(), vec![2], vec![1.0, 2.0]),
                ("b".to_owned(), vec![1], vec![3.0]),
            ],
        );
        assert!(
            store
                .take::<1>("a", [3], &device)
                .unwrap_err()
                .to_string()
                .contains("`a` has shape [2], expected [3]")
        );
        assert!(
            store
                .take::<1>("c", [1], &device)
                .unwrap_err()
                .to_string()
                .contains("missing weight `c`")
        );
        store.take::<1>("a", [2], &device).unwrap();
        let err = store.finish().unwrap_err().to_string();
        assert!(err.contains("unexpected weight `b`"), "{err}");
    }
}
