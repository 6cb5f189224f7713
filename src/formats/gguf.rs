//! GGUF, llama.cpp's single-file format: the container (header, metadata, tensor table, data
//! section), read from bytes with every size checked, and llama.cpp's q/k row order. What the
//! tensors mean to a model is [`crate::weights::gguf`]'s. Spec:
//! <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>.

use std::collections::BTreeMap;

use super::ggml::{self, GgmlType};
use crate::{Error, Result};

/// A metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Array(Vec<Value>),
}

impl Value {
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Int(i) => u64::try_from(*i).ok(),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// One tensor's entry: name, shape in ggml order (`dims[0]` varies fastest), type, data offset.
#[derive(Clone, Debug)]
pub struct TensorInfo {
    pub name: String,
    pub dims: Vec<u64>,
    pub kind: u32,
    /// Where its data starts, from the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// Number of values, or an error when the dimensions overflow.
    pub fn len(&self) -> Result<usize> {
        self.dims
            .iter()
            .try_fold(1usize, |n, &d| usize::try_from(d).ok().and_then(|d| n.checked_mul(d)))
            .ok_or_else(|| corrupt(&format!("tensor {} has dimensions {:?}, too large for memory", self.name, self.dims)))
    }
}

/// A parsed GGUF file (borrowing the bytes).
pub struct Gguf<'a> {
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
    data: &'a [u8],
    /// Where the data section starts in the file.
    pub data_start: usize,
}

/// Nesting allowed for metadata arrays (real files use flat arrays; llama.cpp reads no deeper).
const MAX_ARRAY_DEPTH: usize = 4;

/// The error for a file that breaks the format (`what`: how).
pub fn corrupt(what: &str) -> Error {
    Error::Weights(format!("the GGUF file is truncated or corrupt ({what}); download it again"))
}

/// A bounds-checked little-endian reader.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| corrupt("it ends inside the header"))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn len(&mut self) -> Result<usize> {
        usize::try_from(self.u64()?).map_err(|_| corrupt("a length does not fit in memory"))
    }
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }
    fn string(&mut self) -> Result<String> {
        let n = self.len()?;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
    /// One value of type `kind`; `depth` counts the arrays it is nested in (bounded, so that a
    /// file of nested arrays cannot exhaust the stack).
    fn value(&mut self, kind: u32, depth: usize) -> Result<Value> {
        let mut int = |n: usize, signed: bool| -> Result<Value> {
            let b = self.take(n)?;
            let mut buf = [0u8; 8];
            buf[..n].copy_from_slice(b);
            let u = u64::from_le_bytes(buf);
            let shift = 64 - 8 * n as u32;
            Ok(Value::Int(if signed { ((u << shift) as i64) >> shift } else { u as i64 }))
        };
        Ok(match kind {
            0 => int(1, false)?,
            1 => int(1, true)?,
            2 => int(2, false)?,
            3 => int(2, true)?,
            4 => int(4, false)?,
            5 => int(4, true)?,
            6 => Value::Float(f32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")) as f64),
            7 => Value::Bool(self.take(1)?[0] != 0),
            8 => Value::Str(self.string()?),
            9 => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(corrupt(&format!("metadata arrays nested more than {MAX_ARRAY_DEPTH} deep")));
                }
                let item = self.u32()?;
                let n = self.len()?;
                // every item takes at least one byte of the file (arrays and strings at least 8)
                let least = if matches!(item, 8 | 9) { 8 } else { 1 };
                if n > self.remaining() / least {
                    return Err(corrupt("an array is longer than the rest of the file"));
                }
                Value::Array((0..n).map(|_| self.value(item, depth + 1)).collect::<Result<_>>()?)
            }
            10 => int(8, false)?,
            11 => int(8, true)?,
            12 => Value::Float(f64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes"))),
            other => return Err(corrupt(&format!("unknown metadata type {other}"))),
        })
    }
}

impl<'a> Gguf<'a> {
    /// Parses the header, metadata and tensor table (tensor data is read on demand).
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        if bytes.get(..4) != Some(b"GGUF") {
            return Err(Error::Weights(
                "not a GGUF file (it does not start with \"GGUF\"); pass a .gguf file, or a Hugging Face folder with config.json + model.safetensors".into(),
            ));
        }
        let mut r = Reader { bytes, at: 4 };
        let version = r.u32()?;
        if !(2..=3).contains(&version) {
            return Err(Error::Weights(format!("GGUF version {version} is not supported (only 2 and 3)")));
        }
        let (n_tensors, n_meta) = (r.len()?, r.len()?);
        let mut metadata = BTreeMap::new();
        for _ in 0..n_meta {
            let key = r.string()?;
            let kind = r.u32()?;
            metadata.insert(key, r.value(kind, 0)?);
        }
        let mut tensors = Vec::new();
        for _ in 0..n_tensors {
            let name = r.string()?;
            let n_dims = r.u32()? as usize;
            if n_dims > 4 {
                return Err(corrupt(&format!("tensor {name} has {n_dims} dimensions")));
            }
            let dims = (0..n_dims).map(|_| r.u64()).collect::<Result<Vec<_>>>()?;
            let kind = r.u32()?;
            let info = TensorInfo { name, dims, kind, offset: r.u64()? };
            info.len()?;
            tensors.push(info);
        }
        let align = match metadata.get("general.alignment") {
            None => 32,
            Some(v) => v
                .as_u64()
                .and_then(|a| usize::try_from(a).ok())
                .filter(|a| a.is_power_of_two())
                .ok_or_else(|| corrupt(&format!("general.alignment is {v:?}; it must be a power of two (usually 32)")))?,
        };
        let start = r.at.div_ceil(align).checked_mul(align).ok_or_else(|| corrupt("general.alignment is too large"))?;
        let data = bytes.get(start..).ok_or_else(|| corrupt("no tensor data"))?;
        Ok(Gguf { metadata, tensors, data, data_start: start })
    }

    /// Size of the whole file in bytes.
    pub fn file_bytes(&self) -> usize {
        self.data_start + self.data.len()
    }

    /// A metadata value, or an error naming the missing key.
    pub fn get(&self, key: &str) -> Result<&Value> {
        self.metadata.get(key).ok_or_else(|| Error::Weights(format!("the GGUF file has no {key:?} metadata")))
    }

    /// A metadata value that must be a size.
    pub fn usize(&self, key: &str) -> Result<usize> {
        self.get(key)?
            .as_u64()
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| Error::Weights(format!("GGUF metadata {key:?} is not a non-negative integer that fits in memory")))
    }

    /// A token id from the metadata (`None` when absent; an error when it is no valid id).
    pub fn token_id(&self, key: &str) -> Result<Option<u32>> {
        match self.metadata.get(key) {
            None => Ok(None),
            Some(v) => v.as_u64().and_then(|id| u32::try_from(id).ok()).map(Some).ok_or_else(|| {
                Error::Weights(format!("GGUF metadata {key:?} is {v:?}, not a token id; the file is corrupt or was written by a broken converter"))
            }),
        }
    }

    /// Tensor `info`'s type and bytes, checked to lie inside the file.
    pub fn raw(&self, info: &TensorInfo) -> Result<(GgmlType, &[u8])> {
        raw(self.data, info)
    }

    /// Tensor `info` as f32 values (row-major, `dims[0]` fastest).
    pub fn dequantize(&self, info: &TensorInfo) -> Result<Vec<f32>> {
        dequantize(self.data, info)
    }

}

/// The type and bytes of tensor `info` in the data section `data`, after checking that webtune
/// reads its type and that it lies inside the file.
pub fn raw<'d>(data: &'d [u8], info: &TensorInfo) -> Result<(GgmlType, &'d [u8])> {
    let n = info.len()?;
    let kind = GgmlType::from_id(info.kind, &info.name)?;
    let size = kind.bytes_for(n).ok_or_else(|| {
        corrupt(&format!("tensor {} has {n} values, not a whole number of {} blocks of {}", info.name, kind.name(), kind.block_values()))
    })?;
    let past_end = || corrupt(&format!("tensor {} lies past the end of the file", info.name));
    let start = usize::try_from(info.offset).map_err(|_| past_end())?;
    let bytes = start.checked_add(size).and_then(|end| data.get(start..end)).ok_or_else(past_end)?;
    Ok((kind, bytes))
}

/// Tensor `info` of the data section `data` as f32 values (row-major, `dims[0]` fastest); NaN
/// or infinite values are an error naming the tensor.
pub fn dequantize(data: &[u8], info: &TensorInfo) -> Result<Vec<f32>> {
    let (kind, raw) = raw(data, info)?;
    let mut out = Vec::with_capacity(info.len()?);
    ggml::dequantize(kind, raw, &mut out);
    if let Some(i) = out.iter().position(|v| !v.is_finite()) {
        return Err(Error::Weights(format!(
            "GGUF tensor {} holds {} at index {i}: the weights are broken (a diverged fine-tune or a bad conversion); use another file",
            info.name, out[i]
        )));
    }
    Ok(out)
}

/// llama.cpp's `permute` of a q/k weight undone, as a row order: within each of `heads` heads of
/// `head_dim` rows, Hugging Face row `j · head_dim/2 + i` is GGUF row `2i + j`; entry `r` of the
/// result is the GGUF row that becomes row `r`.
pub fn hf_row_order(heads: usize, head_dim: usize) -> Vec<usize> {
    let half = head_dim / 2;
    (0..heads * head_dim)
        .map(|r| {
            let (h, within) = (r / head_dim, r % head_dim);
            let (j, i) = (within / half.max(1), within % half.max(1));
            h * head_dim + 2 * i + j
        })
        .collect()
}

/// Undoes llama.cpp's `permute` of a q/k weight ([heads · head_dim, cols] rows; see [`hf_row_order`]).
pub fn unpermute(values: &[f32], heads: usize, cols: usize) -> Vec<f32> {
    let rows = values.len() / cols;
    let mut out = Vec::with_capacity(values.len());
    for from in hf_row_order(heads, rows / heads) {
        out.extend_from_slice(&values[from * cols..(from + 1) * cols]);
    }
    out
}

/// llama.cpp's `permute` of a q/k weight ([heads · head_dim, cols] rows): the inverse of [`unpermute`].
pub fn permute(values: &[f32], heads: usize, cols: usize) -> Vec<f32> {
    let rows = values.len() / cols.max(1);
    let mut out = vec![0.0; values.len()];
    for (hf, file) in hf_row_order(heads, rows / heads.max(1)).into_iter().enumerate() {
        out[file * cols..(file + 1) * cols].copy_from_slice(&values[hf * cols..(hf + 1) * cols]);
    }
    out
}
