//! Tensors out of PyTorch checkpoints (legacy and zip `torch.save` formats) and
//! pickled NumPy dicts, as flat `name -> tensor` lists.

use std::collections::HashMap;
use std::io::Read;

use crate::pickle::{self, NdArray, TensorRef, Value};

/// Element values of a checkpoint tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// Floating point (`float64` is narrowed to it).
    F32(Vec<f32>),
    /// Integers (`int32` is widened to it), such as batch-norm counters.
    I64(Vec<i64>),
    /// Bytes and booleans, such as quantisation codes.
    U8(Vec<u8>),
}

/// One tensor of a checkpoint, C-ordered.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// The state-dict key (nested NumPy dicts joined with `/`).
    pub name: String,
    /// The dimensions, outermost first.
    pub shape: Vec<usize>,
    /// The values, `shape`'s product of them.
    pub data: Data,
}

impl NamedTensor {
    /// The values as f32 (integers converted).
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            Data::F32(v) => v.clone(),
            Data::I64(v) => v.iter().map(|&x| x as f32).collect(),
            Data::U8(v) => v.iter().map(|&x| f32::from(x)).collect(),
        }
    }
}

/// Why a checkpoint could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Pickle(#[from] pickle::PickleError),
    #[error("{0}")]
    Format(String),
}

fn format_error<T>(reason: impl Into<String>) -> Result<T, CheckpointError> {
    Err(CheckpointError::Format(reason.into()))
}

/// Reads a `torch.save` file of either format.
pub fn read_torch(bytes: &[u8]) -> Result<Vec<NamedTensor>, CheckpointError> {
    if bytes.starts_with(b"PK\x03\x04") {
        read_torch_zip(bytes)
    } else {
        read_torch_legacy(bytes)
    }
}

/// Keeps the persistent id as it is; storages are looked up when tensors are read.
fn keep_id(id: Value) -> Result<Value, String> {
    Ok(Value::Persistent(Box::new(id)))
}

/// Legacy format: five pickles (magic, protocol, sys info, the object, storage keys),
/// then each storage as a little-endian u64 element count and its raw bytes.
fn read_torch_legacy(bytes: &[u8]) -> Result<Vec<NamedTensor>, CheckpointError> {
    let mut pos = 0;
    let magic = pickle::read(bytes, &mut pos, &keep_id)?;
    if !matches!(&magic, Value::Bytes(b) if b.as_slice() == [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19])
    {
        return format_error("not a PyTorch checkpoint (magic number missing)");
    }
    pickle::read(bytes, &mut pos, &keep_id)?; // protocol version
    pickle::read(bytes, &mut pos, &keep_id)?; // sys info
    let object = pickle::read(bytes, &mut pos, &keep_id)?;
    let keys = pickle::read(bytes, &mut pos, &keep_id)?
        .items()
        .ok_or_else(|| CheckpointError::Format("storage key list missing".into()))?;
    let mut tensors = Vec::new();
    collect_tensors(&object, String::new(), &mut tensors);
    let element_sizes: HashMap<&str, usize> = tensors
        .iter()
        .map(|(_, t)| (t.storage.as_str(), element_size(&t.storage_type).unwrap_or(1)))
        .collect();
    let mut storages = HashMap::new();
    for key in keys {
        let key = key
            .as_str()
            .ok_or_else(|| CheckpointError::Format("storage key is not a string".into()))?;
        let count = bytes
            .get(pos..pos + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            .ok_or_else(|| CheckpointError::Format(format!("storage {key}: truncated")))?;
        pos += 8;
        let size = element_sizes.get(key).copied().unwrap_or(1);
        let len = usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(size))
            .filter(|len| pos.checked_add(*len).is_some_and(|end| end <= bytes.len()))
            .ok_or_else(|| CheckpointError::Format(format!("storage {key}: truncated")))?;
        storages.insert(key.to_owned(), &bytes[pos..pos + len]);
        pos += len;
    }
    tensors
        .into_iter()
        .map(|(name, tensor)| {
            let storage = storages.get(&tensor.storage).ok_or_else(|| {
                CheckpointError::Format(format!("{name}: storage {} missing", tensor.storage))
            })?;
            materialize(name, &tensor, storage)
        })
        .collect()
}

/// Zip format: `*/data.pkl` holds the object, `*/data/KEY` each storage.
fn read_torch_zip(bytes: &[u8]) -> Result<Vec<NamedTensor>, CheckpointError> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| CheckpointError::Format(format!("zip: {e}")))?;
    let names: Vec<String> = archive
        .file_names()
        .map(|name| name.map(|n| n.into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|e| CheckpointError::Format(format!("zip: {e}")))?;
    let pickle_name = names
        .iter()
        .find(|n| n.ends_with("data.pkl"))
        .ok_or_else(|| CheckpointError::Format("zip checkpoint without data.pkl".into()))?
        .clone();
    let prefix = pickle_name.trim_end_matches("data.pkl").to_owned();
    let read_entry = |archive: &mut zip::ZipArchive<_>, name: &str| -> Result<Vec<u8>, CheckpointError> {
        let mut entry = archive
            .by_name(name)
            .map_err(|e| CheckpointError::Format(format!("{name}: {e}")))?;
        let mut out = Vec::new();
        entry
            .read_to_end(&mut out)
            .map_err(|e| CheckpointError::Format(format!("{name}: {e}")))?;
        Ok(out)
    };
    let data = read_entry(&mut archive, &pickle_name)?;
    let mut pos = 0;
    let object = pickle::read(&data, &mut pos, &keep_id)?;
    let mut tensors = Vec::new();
    collect_tensors(&object, String::new(), &mut tensors);
    let mut out = Vec::new();
    for (name, tensor) in tensors {
        let storage = read_entry(&mut archive, &format!("{prefix}data/{}", tensor.storage))?;
        out.push(materialize(name, &tensor, &storage)?);
    }
    Ok(out)
}

/// Reads a plain pickle whose leaves are NumPy arrays (nested dicts allowed; names
/// are joined with `/`).
pub fn read_numpy_pickle(bytes: &[u8]) -> Result<Vec<NamedTensor>, CheckpointError> {
    let mut pos = 0;
    let object = pickle::read(bytes, &mut pos, &|_| Err("unexpected persistent id".into()))?;
    let mut arrays = Vec::new();
    collect_arrays(&object, String::new(), &mut arrays);
    arrays
        .into_iter()
        .map(|(name, array)| ndarray_tensor(name, &array))
        .collect()
}

fn join(prefix: &str, key: &str, separator: char) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}{separator}{key}")
    }
}

fn collect_tensors(value: &Value, prefix: String, out: &mut Vec<(String, TensorRef)>) {
    match value {
        Value::Tensor(tensor) => out.push((prefix, tensor.clone())),
        Value::Dict(_) => {
            for (key, child) in value.entries().unwrap_or_default() {
                collect_tensors(&child, join(&prefix, &key, '.'), out);
            }
        }
        _ => {}
    }
}

fn collect_arrays(value: &Value, prefix: String, out: &mut Vec<(String, NdArray)>) {
    match value {
        Value::Array(array) => out.push((prefix, array.clone())),
        Value::Dict(_) => {
            for (key, child) in value.entries().unwrap_or_default() {
                collect_arrays(&child, join(&prefix, &key, '/'), out);
            }
        }
        _ => {}
    }
}

fn element_size(storage_type: &str) -> Option<usize> {
    Some(match storage_type {
        "FloatStorage" | "IntStorage" => 4,
        "DoubleStorage" | "LongStorage" => 8,
        "HalfStorage" | "BFloat16Storage" => 2,
        "ByteStorage" | "CharStorage" | "BoolStorage" => 1,
        _ => return None,
    })
}

/// Gathers a strided view of a storage into C order.
fn materialize(name: String, tensor: &TensorRef, storage: &[u8]) -> Result<NamedTensor, CheckpointError> {
    let size = element_size(&tensor.storage_type).ok_or_else(|| {
        CheckpointError::Format(format!("{name}: unsupported storage {}", tensor.storage_type))
    })?;
    if tensor.shape.len() != tensor.stride.len() {
        return format_error(format!("{name}: shape and stride differ in rank"));
    }
    // Every element must lie in the storage; a view that repeats elements (a zero
    // stride) may be larger than its storage, up to a sane bound.
    let stored = storage.len() / size;
    let limit = if tensor.stride.contains(&0) {
        stored.max(1 << 26)
    } else {
        stored
    };
    let count = tensor
        .shape
        .iter()
        .try_fold(1usize, |count, &dim| count.checked_mul(dim))
        .filter(|&count| count <= limit)
        .ok_or_else(|| {
            CheckpointError::Format(format!(
                "{name}: shape {:?} does not fit its storage",
                tensor.shape
            ))
        })?;
    let mut indices = Vec::with_capacity(count);
    let mut index = vec![0usize; tensor.shape.len()];
    for _ in 0..count {
        let element = index
            .iter()
            .zip(&tensor.stride)
            .try_fold(tensor.offset, |at, (&i, &stride)| {
                i.checked_mul(stride).and_then(|step| at.checked_add(step))
            })
            .filter(|&element| element < stored)
            .ok_or_else(|| CheckpointError::Format(format!("{name}: view reaches past its storage")))?;
        indices.push(element);
        for dim in (0..index.len()).rev() {
            index[dim] += 1;
            if index[dim] < tensor.shape[dim] {
                break;
            }
            index[dim] = 0;
        }
    }
    let bytes = |i: usize| &storage[i * size..(i + 1) * size];
    let data = match tensor.storage_type.as_str() {
        "FloatStorage" => Data::F32(
            indices
                .iter()
                .map(|&i| f32::from_le_bytes(bytes(i).try_into().unwrap_or([0; 4])))
                .collect(),
        ),
        "DoubleStorage" => Data::F32(
            indices
                .iter()
                .map(|&i| f64::from_le_bytes(bytes(i).try_into().unwrap_or([0; 8])) as f32)
                .collect(),
        ),
        "LongStorage" => Data::I64(
            indices
                .iter()
                .map(|&i| i64::from_le_bytes(bytes(i).try_into().unwrap_or([0; 8])))
                .collect(),
        ),
        "IntStorage" => Data::I64(
            indices
                .iter()
                .map(|&i| i64::from(i32::from_le_bytes(bytes(i).try_into().unwrap_or([0; 4]))))
                .collect(),
        ),
        "ByteStorage" | "BoolStorage" => Data::U8(indices.iter().map(|&i| storage[i]).collect()),
        other => return format_error(format!("{name}: storage type {other} is not supported")),
    };
    Ok(NamedTensor {
        name,
        shape: tensor.shape.clone(),
        data,
    })
}

fn ndarray_tensor(name: String, array: &NdArray) -> Result<NamedTensor, CheckpointError> {
    if array.fortran_order {
        return format_error(format!("{name}: Fortran-ordered arrays are not supported"));
    }
    let count = array
        .shape
        .iter()
        .try_fold(1usize, |count, &dim| count.checked_mul(dim))
        .ok_or_else(|| CheckpointError::Format(format!("{name}: shape {:?} overflows", array.shape)))?;
    let code = array.dtype.trim_start_matches(['<', '=', '|']);
    let expect = |size: usize| -> Result<(), CheckpointError> {
        if count.checked_mul(size) == Some(array.data.len()) {
            Ok(())
        } else {
            format_error(format!(
                "{name}: {} bytes for {count} elements of {code}",
                array.data.len()
            ))
        }
    };
    let data = match code {
        "f4" => {
            expect(4)?;
            Data::F32(
                array
                    .data
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            )
        }
        "f8" => {
            expect(8)?;
            Data::F32(
                array
                    .data
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32)
                    .collect(),
            )
        }
        "u1" => {
            expect(1)?;
            Data::U8(array.data.clone())
        }
        other => return format_error(format!("{name}: dtype {other} is not supported")),
    };
    Ok(NamedTensor {
        name,
        shape: array.shape.clone(),
        data,
    })
}
