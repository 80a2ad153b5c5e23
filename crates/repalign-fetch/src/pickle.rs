//! A small Python pickle reader (protocols 2–5), enough for PyTorch checkpoints and
//! pickled NumPy arrays: it builds a value tree and interprets the few globals those
//! files call (`OrderedDict`, torch's tensor rebuilders, NumPy's array reconstruction).
//! Anything else stays an opaque [`Value::Call`] and is refused where it is used.
//!
//! Nothing is executed: globals are names, not code.

use std::cell::RefCell;
use std::rc::Rc;

/// A pickled value. Containers are shared (`Rc`), as Python objects are, so that
/// mutations through the memo are seen everywhere.
// Every pickle value is represented, though the converters read only some of them.
#[allow(dead_code)]
#[derive(Debug, Clone)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Rc<RefCell<Vec<Value>>>),
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    /// `module.name`, as found by GLOBAL / STACK_GLOBAL.
    Global(String),
    /// A call we do not interpret: `callable(*args)`, then `BUILD` states.
    Call(Box<Value>, Box<Value>),
    /// What a persistent id resolved to (torch storages).
    Persistent(Box<Value>),
    /// A torch tensor view of a storage.
    Tensor(TensorRef),
    /// A NumPy array (after `_reconstruct` + `BUILD`).
    Array(NdArray),
    /// A NumPy dtype such as `f4`, `<u1`.
    Dtype(String),
}

/// A tensor in a torch checkpoint: where its data lives, not the data.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    /// Storage key (legacy: the object id; zip: the `data/KEY` entry).
    pub storage: String,
    /// torch storage class name, e.g. `FloatStorage`.
    pub storage_type: String,
    /// Offset into the storage, in elements.
    pub offset: usize,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
}

/// A NumPy array with its raw little-endian bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct NdArray {
    pub dtype: String,
    pub shape: Vec<usize>,
    pub fortran_order: bool,
    pub data: Vec<u8>,
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_usize(&self) -> Option<usize> {
        match self {
            Value::Int(i) => usize::try_from(*i).ok(),
            _ => None,
        }
    }

    /// Items of a tuple or list.
    pub fn items(&self) -> Option<Vec<Value>> {
        match self {
            Value::Tuple(items) => Some(items.clone()),
            Value::List(items) => Some(items.borrow().clone()),
            _ => None,
        }
    }

    /// Entries of a dict with string keys.
    pub fn entries(&self) -> Option<Vec<(String, Value)>> {
        match self {
            Value::Dict(entries) => entries
                .borrow()
                .iter()
                .map(|(k, v)| k.as_str().map(|k| (k.to_owned(), v.clone())))
                .collect(),
            _ => None,
        }
    }
}

/// What went wrong, with the byte offset.
#[derive(Debug, thiserror::Error)]
#[error("pickle error at byte {offset}: {reason}")]
pub struct PickleError {
    pub offset: usize,
    pub reason: String,
}

/// Reads one pickle from `data` starting at `*position`, leaving `*position` after
/// its STOP. `persistent` resolves BINPERSID ids (torch storages).
pub fn read(
    data: &[u8],
    position: &mut usize,
    persistent: &dyn Fn(Value) -> Result<Value, String>,
) -> Result<Value, PickleError> {
    let mut machine = Machine {
        data,
        pos: *position,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: Vec::new(),
    };
    let value = machine.run(persistent)?;
    *position = machine.pos;
    Ok(value)
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: Vec<Option<Value>>,
}

impl Machine<'_> {
    fn fail<T>(&self, reason: impl Into<String>) -> Result<T, PickleError> {
        Err(PickleError {
            offset: self.pos,
            reason: reason.into(),
        })
    }

    fn take(&mut self, n: usize) -> Result<&[u8], PickleError> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.data.len());
        match end {
            Some(end) => {
                let bytes = &self.data[self.pos..end];
                self.pos = end;
                Ok(bytes)
            }
            None => self.fail(format!("truncated: {n} more bytes needed")),
        }
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn uint(&mut self, n: usize) -> Result<u64, PickleError> {
        let bytes = self.take(n)?;
        Ok(bytes.iter().rev().fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
    }

    fn length(&mut self, n: usize) -> Result<usize, PickleError> {
        let len = self.uint(n)?;
        usize::try_from(len).or_else(|_| self.fail("length does not fit in memory"))
    }

    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.data[self.pos..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(end) => {
                let text = String::from_utf8_lossy(&rest[..end]).into_owned();
                self.pos += end + 1;
                Ok(text)
            }
            None => self.fail("unterminated line"),
        }
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        match self.stack.pop() {
            Some(value) => Ok(value),
            None => self.fail("stack underflow"),
        }
    }

    fn top(&mut self) -> Result<&mut Value, PickleError> {
        if self.stack.is_empty() {
            return self.fail("stack underflow");
        }
        let last = self.stack.len() - 1;
        Ok(&mut self.stack[last])
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        match self.marks.pop() {
            Some(mark) if mark <= self.stack.len() => Ok(self.stack.split_off(mark)),
            _ => self.fail("MARK missing"),
        }
    }

    fn memo_put(&mut self, index: usize) -> Result<(), PickleError> {
        let value = self.top()?.clone();
        if index > 1 << 24 {
            return self.fail("memo index too large");
        }
        if self.memo.len() <= index {
            self.memo.resize(index + 1, None);
        }
        self.memo[index] = Some(value);
        Ok(())
    }

    fn memo_get(&mut self, index: usize) -> Result<(), PickleError> {
        match self.memo.get(index).cloned().flatten() {
            Some(value) => {
                self.stack.push(value);
                Ok(())
            }
            None => self.fail(format!("memo entry {index} missing")),
        }
    }

    fn run(&mut self, persistent: &dyn Fn(Value) -> Result<Value, String>) -> Result<Value, PickleError> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    self.u8()?; // PROTO n
                }
                0x95 => {
                    self.take(8)?; // FRAME
                }
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'J' => {
                    let v = self.uint(4)? as u32 as i32;
                    self.stack.push(Value::Int(i64::from(v)));
                }
                b'K' => {
                    let v = self.uint(1)?;
                    self.stack.push(Value::Int(v as i64));
                }
                b'M' => {
                    let v = self.uint(2)?;
                    self.stack.push(Value::Int(v as i64));
                }
                0x8a => {
                    // LONG1: little-endian two's complement of n bytes.
                    let n = self.length(1)?;
                    let bytes = self.take(n)?.to_vec();
                    if n > 8 {
                        // Only the torch magic number is this long; keep it as bytes.
                        self.stack.push(Value::Bytes(bytes));
                    } else {
                        let mut v: i64 = 0;
                        for (i, &b) in bytes.iter().enumerate() {
                            v |= i64::from(b) << (8 * i);
                        }
                        if n > 0 && n < 8 && bytes[n - 1] & 0x80 != 0 {
                            v -= 1i64 << (8 * n);
                        }
                        self.stack.push(Value::Int(v));
                    }
                }
                b'G' => {
                    let bits = self.take(8)?;
                    let v = f64::from_be_bytes(bits.try_into().unwrap_or([0; 8]));
                    self.stack.push(Value::Float(v));
                }
                b'X' | 0x8c | 0x8d => {
                    let n = match op {
                        b'X' => self.length(4)?,
                        0x8c => self.length(1)?,
                        _ => self.length(8)?,
                    };
                    let text = String::from_utf8_lossy(self.take(n)?).into_owned();
                    self.stack.push(Value::Str(text));
                }
                b'B' | b'C' | 0x8e | 0x96 => {
                    let n = match op {
                        b'B' => self.length(4)?,
                        b'C' => self.length(1)?,
                        _ => self.length(8)?,
                    };
                    let bytes = self.take(n)?.to_vec();
                    self.stack.push(Value::Bytes(bytes));
                }
                b'T' | b'U' => {
                    // Protocol 1 strings (Python 2 `str`): latin-1 text.
                    let n = if op == b'T' {
                        self.length(4)?
                    } else {
                        self.length(1)?
                    };
                    let text = self.take(n)?.iter().map(|&b| char::from(b)).collect();
                    self.stack.push(Value::Str(text));
                }
                b')' => self.stack.push(Value::Tuple(Vec::new())),
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    if self.stack.len() < n {
                        return self.fail("stack underflow");
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(Value::Tuple(items));
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(items));
                }
                b']' => self.stack.push(Value::List(Rc::default())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::List(Rc::new(RefCell::new(items))));
                }
                b'}' => self.stack.push(Value::Dict(Rc::default())),
                b'a' => {
                    let item = self.pop()?;
                    match self.top()? {
                        Value::List(list) => list.borrow_mut().push(item),
                        _ => return self.fail("APPEND to a non-list"),
                    }
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    match self.top()? {
                        Value::List(list) => list.borrow_mut().extend(items),
                        _ => return self.fail("APPENDS to a non-list"),
                    }
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    match self.top()? {
                        Value::Dict(dict) => dict.borrow_mut().push((key, value)),
                        _ => return self.fail("SETITEM on a non-dict"),
                    }
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    if items.len() % 2 != 0 {
                        return self.fail("SETITEMS with an odd number of items");
                    }
                    let mut pairs = Vec::with_capacity(items.len() / 2);
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    match self.top()? {
                        Value::Dict(dict) => dict.borrow_mut().extend(pairs),
                        _ => return self.fail("SETITEMS on a non-dict"),
                    }
                }
                b'q' => {
                    let i = self.length(1)?;
                    self.memo_put(i)?;
                }
                b'r' => {
                    let i = self.length(4)?;
                    self.memo_put(i)?;
                }
                0x94 => {
                    let i = self.memo.len();
                    self.memo_put(i)?;
                }
                b'h' => {
                    let i = self.length(1)?;
                    self.memo_get(i)?;
                }
                b'j' => {
                    let i = self.length(4)?;
                    self.memo_get(i)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.stack.push(Value::Global(format!("{module}.{name}")));
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => self.stack.push(Value::Global(format!("{m}.{n}"))),
                        _ => return self.fail("STACK_GLOBAL needs two strings"),
                    }
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let value = call(callable, args).or_else(|reason| self.fail(reason))?;
                    self.stack.push(value);
                }
                b'b' => {
                    let state = self.pop()?;
                    let object = self.pop()?;
                    let value = build(object, state).or_else(|reason| self.fail(reason))?;
                    self.stack.push(value);
                }
                b'Q' => {
                    let id = self.pop()?;
                    let value = persistent(id).or_else(|reason| self.fail(reason))?;
                    self.stack.push(value);
                }
                b'0' => {
                    self.pop()?;
                }
                b'2' => {
                    let value = self.top()?.clone();
                    self.stack.push(value);
                }
                other => return self.fail(format!("unsupported opcode 0x{other:02x}")),
            }
        }
    }
}

/// Interprets the calls that checkpoints make; keeps others opaque.
fn call(callable: Value, args: Value) -> Result<Value, String> {
    let Value::Global(name) = &callable else {
        return Ok(Value::Call(Box::new(callable), Box::new(args)));
    };
    let items = args.items().unwrap_or_default();
    match name.as_str() {
        // Usually called empty and filled by SETITEMS; Python 2 era files (LPIPS's
        // heads) pass the entries instead, as a list of `[key, value]` pairs.
        "collections.OrderedDict" | "builtins.dict" => {
            let pairs = match items.first() {
                Some(list) => list.items().ok_or("dict from something that is not a list")?,
                None => Vec::new(),
            };
            let entries = pairs
                .iter()
                .map(|pair| match pair.items().as_deref() {
                    Some([key, value]) => Ok((key.clone(), value.clone())),
                    _ => Err("dict entry that is not a pair".to_owned()),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::Dict(Rc::new(RefCell::new(entries))))
        }
        "torch._utils._rebuild_tensor_v2" | "torch._utils._rebuild_tensor" => rebuild_tensor(&items),
        "torch._utils._rebuild_parameter" => items
            .into_iter()
            .next()
            .ok_or_else(|| "empty _rebuild_parameter".into()),
        "numpy.core.multiarray._reconstruct" | "numpy._core.multiarray._reconstruct" => {
            Ok(Value::Array(NdArray {
                dtype: String::new(),
                shape: Vec::new(),
                fortran_order: false,
                data: Vec::new(),
            }))
        }
        "numpy.dtype" => match items.first() {
            Some(Value::Str(code)) => Ok(Value::Dtype(code.clone())),
            _ => Err("numpy.dtype without a type code".into()),
        },
        "_codecs.encode" => match items.first() {
            // Protocol-2 NumPy pickles carry raw bytes as latin-1 text.
            Some(Value::Str(text)) => Ok(Value::Bytes(text.chars().map(|c| c as u32 as u8).collect())),
            _ => Err("_codecs.encode without text".into()),
        },
        _ => Ok(Value::Call(Box::new(callable), Box::new(args))),
    }
}

fn rebuild_tensor(items: &[Value]) -> Result<Value, String> {
    let (storage, storage_type) = match items.first() {
        Some(Value::Persistent(inner)) => match inner.as_ref() {
            Value::Tuple(parts) if parts.len() >= 3 => {
                let kind = match &parts[1] {
                    Value::Global(name) => name.rsplit('.').next().unwrap_or_default().to_owned(),
                    _ => String::new(),
                };
                let key = parts[2]
                    .as_str()
                    .map(str::to_owned)
                    .or_else(|| parts[2].as_usize().map(|k| k.to_string()));
                (key.ok_or("storage key is not a string")?, kind)
            }
            _ => return Err("unexpected storage id".into()),
        },
        _ => return Err("tensor without a storage".into()),
    };
    let usizes = |v: Option<&Value>| -> Result<Vec<usize>, String> {
        v.and_then(Value::items)
            .ok_or("tensor size/stride is not a tuple")?
            .iter()
            .map(|d| d.as_usize().ok_or_else(|| "negative tensor dimension".to_owned()))
            .collect()
    };
    Ok(Value::Tensor(TensorRef {
        storage,
        storage_type,
        offset: items.get(1).and_then(Value::as_usize).ok_or("tensor offset")?,
        shape: usizes(items.get(2))?,
        stride: usizes(items.get(3))?,
    }))
}

/// `BUILD`: NumPy arrays and dtypes take their state here.
fn build(object: Value, state: Value) -> Result<Value, String> {
    match object {
        Value::Array(_) => {
            // (version, shape, dtype, is_fortran, raw data)
            let parts = state.items().ok_or("ndarray state is not a tuple")?;
            let [_, shape, dtype, fortran, data] = parts.as_slice() else {
                return Err(format!("ndarray state has {} fields, expected 5", parts.len()));
            };
            let shape = shape
                .items()
                .ok_or("ndarray shape")?
                .iter()
                .map(|d| d.as_usize().ok_or_else(|| "ndarray dimension".to_owned()))
                .collect::<Result<Vec<_>, _>>()?;
            let Value::Dtype(dtype) = dtype else {
                return Err("ndarray without dtype".into());
            };
            let Value::Bytes(data) = data else {
                return Err("ndarray data is not bytes".into());
            };
            Ok(Value::Array(NdArray {
                dtype: dtype.clone(),
                shape,
                fortran_order: matches!(fortran, Value::Bool(true)),
                data: data.clone(),
            }))
        }
        Value::Dtype(code) => {
            // (version, byte order, ...): keep the byte order with the code.
            let order = state
                .items()
                .and_then(|p| p.get(1).and_then(|v| v.as_str().map(str::to_owned)));
            match order.as_deref() {
                Some(">") => Err(format!("big-endian dtype {code} is not supported")),
                _ => Ok(Value::Dtype(code)),
            }
        }
        // Tensors (e.g. `_rebuild_parameter` results) and dicts ignore their state.
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_persistent(_: Value) -> Result<Value, String> {
        Err("no persistent ids here".into())
    }

    #[test]
    fn reads_a_protocol_2_dict_of_lists() {
        // pickle.dumps({'a': [1, -2, 3.5], 'b': (True, None)}, protocol=2)
        let data = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01J\xfe\xff\xff\xffG@\x0c\x00\x00\x00\x00\x00\x00eX\x01\x00\x00\x00bq\x03\x88N\x86q\x04u.";
        let mut pos = 0;
        let value = read(data, &mut pos, &no_persistent).unwrap();
        assert_eq!(pos, data.len());
        let entries = value.entries().unwrap();
        assert_eq!(entries[0].0, "a");
        let list = entries[0].1.items().unwrap();
        assert!(matches!(list[1], Value::Int(-2)));
        assert!(matches!(list[2], Value::Float(f) if f == 3.5));
        assert!(matches!(entries[1].1.items().unwrap()[0], Value::Bool(true)));
    }

    #[test]
    fn reads_an_ordered_dict_built_from_its_pairs() {
        // Python 2's pickle of OrderedDict([('a', 7), ('b', 8)]), as LPIPS's heads are.
        let data = b"\x80\x02ccollections\nOrderedDict\nq\x00]q\x01(]q\x02(U\x01aK\x07e]q\x03(U\x01bK\x08ee\x85q\x04Rq\x05.";
        let mut pos = 0;
        let entries = read(data, &mut pos, &no_persistent).unwrap().entries().unwrap();
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
        assert!(matches!(entries[1].1, Value::Int(8)));
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let data = b"\x80\x02}q\x00(X\x01\x00\x00";
        for end in 0..data.len() {
            let mut pos = 0;
            assert!(read(&data[..end], &mut pos, &no_persistent).is_err());
        }
    }
}
