//! Tensors inside a plain Python pickle of torch objects — `pickle.dump` or `joblib.dump` of an
//! `nn.Module`, as setfit saves its differentiable head. torch pickles a parameter as
//! `_rebuild_parameter(_rebuild_tensor_v2(storage, offset, size, stride, …), …)` and the storage
//! as `_load_from_bytes(b)`, where `b` is `torch.save`'s legacy format of that storage: five
//! pickles (magic number, protocol version, system info, the storage's persistent id, the list of
//! storage keys) and then the storage's length and raw items. Read without running anything;
//! every offset and length is checked.

use super::pickle::{PERSISTENT_ID, Py, read_prefix};
use crate::{Error, Result};

/// The most items one tensor may hold (a head is a few thousand).
const MAX_ITEMS: usize = 1 << 26;

/// The pickle `torch.save` writes first in its legacy format: the magic number
/// 0x1950a86a20f9469cfc6c as a protocol-2 LONG1.
const LEGACY_MAGIC: &[u8] = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19\x2e";

/// The protocol version torch's legacy format writes after the magic number.
const LEGACY_PROTOCOL: i64 = 1001;

/// A tensor's shape and its values in C order.
#[derive(Clone, Debug, PartialEq)]
pub struct TorchTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

fn bad(message: String) -> Error {
    Error::Weights(format!("torch pickle: {message}"))
}

/// The tensor a pickled parameter or tensor holds.
pub fn tensor(v: &Py) -> Result<TorchTensor> {
    let Py::Object { class: (module, name), args, .. } = v else { return Err(bad(format!("{} is not a tensor", kind(v)))) };
    match (module.as_str(), name.as_str(), args.as_slice()) {
        ("torch._utils", "_rebuild_parameter", [data, ..]) => tensor(data),
        ("torch._utils", "_rebuild_tensor_v2", [storage, offset, size, stride, ..]) => {
            let values = storage_values(storage)?;
            strided(&values, count(offset)?, &counts(size)?, &counts(stride)?)
        }
        _ => Err(bad(format!("{module}.{name} is not a tensor webtune reads (a CPU float32 or float64 tensor)"))),
    }
}

fn kind(v: &Py) -> String {
    match v {
        Py::Object { class: (m, n), .. } => format!("a {m}.{n}"),
        other => format!("{other:?}").chars().take(40).collect(),
    }
}

fn count(v: &Py) -> Result<usize> {
    match v {
        Py::Int(n) => usize::try_from(*n).map_err(|_| bad(format!("{n} where a size or offset was expected"))),
        other => Err(bad(format!("{} where a size or offset was expected", kind(other)))),
    }
}

fn counts(v: &Py) -> Result<Vec<usize>> {
    match v {
        Py::Tuple(items) => items.iter().map(count).collect(),
        other => Err(bad(format!("{} where a tuple of sizes was expected", kind(other)))),
    }
}

/// The items of `_load_from_bytes(b)`: a storage in torch.save's legacy format.
fn storage_values(storage: &Py) -> Result<Vec<f64>> {
    let Py::Object { class: (module, name), args, .. } = storage else { return Err(bad(format!("a tensor's storage is {}", kind(storage)))) };
    let [Py::Bytes(bytes)] = args.as_slice() else { return Err(bad(format!("{module}.{name} is not a storage webtune reads"))) };
    if module != "torch.storage" || name != "_load_from_bytes" {
        return Err(bad(format!("a tensor's storage comes from {module}.{name}, not torch.storage._load_from_bytes")));
    }
    legacy_storage(bytes)
}

fn legacy_storage(bytes: &[u8]) -> Result<Vec<f64>> {
    let rest = bytes.strip_prefix(LEGACY_MAGIC).ok_or_else(|| bad("a storage without torch.save's legacy magic number".into()))?;
    let mut at = bytes.len() - rest.len();
    let mut next = |what: &str| -> Result<Py> {
        let (value, used) = read_prefix(&bytes[at..]).map_err(|e| bad(format!("the storage's {what}: {e}")))?;
        at += used;
        Ok(value)
    };
    if next("protocol version")? != Py::Int(LEGACY_PROTOCOL) {
        return Err(bad(format!("a storage of another torch.save protocol than {LEGACY_PROTOCOL}")));
    }
    let info = next("system information")?;
    if info.get("little_endian") != Some(&Py::Bool(true)) {
        return Err(bad("a storage written on a big-endian machine".into()));
    }
    let id = next("persistent id")?;
    let Py::Object { class: (module, name), args, .. } = &id else { return Err(bad("the storage pickle holds no persistent id".into())) };
    let [Py::Tuple(id)] = args.as_slice() else { return Err(bad("the storage's persistent id is not a tuple".into())) };
    if !module.is_empty() || name != PERSISTENT_ID {
        return Err(bad("the storage pickle holds no persistent id".into()));
    }
    let [Py::Str(tag), Py::Global(_, storage_type), Py::Str(key), _location, numel, rest @ ..] = id.as_slice() else {
        return Err(bad("the storage's persistent id is not (\"storage\", type, key, location, size, …)".into()));
    };
    if rest.iter().any(|v| *v != Py::None) {
        return Err(bad("a view into another storage (torch before 1.0 saved those); save the head again with a newer torch".into()));
    }
    let size = match storage_type.as_str() {
        "FloatStorage" => 4,
        "DoubleStorage" => 8,
        other => return Err(bad(format!("a {other}; webtune reads float32 and float64 tensors (save the head in float32)"))),
    };
    let keys = next("storage keys")?;
    if tag != "storage" || keys != Py::List(vec![Py::Str(key.clone())]) {
        return Err(bad("the storage file does not hold exactly the storage its id names".into()));
    }
    let numel = count(numel)?;
    let raw = &bytes[at..];
    let stored = raw.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes).ok_or_else(|| bad("the storage ends before its length".into()))?;
    if usize::try_from(stored).ok() != Some(numel) {
        return Err(bad(format!("the storage holds {stored} items where its id says {numel}")));
    }
    if numel > MAX_ITEMS {
        return Err(bad(format!("a storage of {numel} items; webtune reads at most {MAX_ITEMS} (a head holds a few thousand)")));
    }
    let data = numel.checked_mul(size).and_then(|n| raw.get(8..8 + n)).ok_or_else(|| bad(format!("the storage ends before its {numel} items")))?;
    Ok(match size {
        4 => data.chunks_exact(4).map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect(),
        _ => data.chunks_exact(8).map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).collect(),
    })
}

/// The items of a view of `values`: `size` in C order, item `i` at `offset + Σ iₖ·strideₖ`.
fn strided(values: &[f64], offset: usize, size: &[usize], stride: &[usize]) -> Result<TorchTensor> {
    if size.len() != stride.len() {
        return Err(bad(format!("a tensor of size {size:?} with strides {stride:?}")));
    }
    let n = size.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).filter(|&n| n <= MAX_ITEMS).ok_or_else(|| bad(format!("a tensor of size {size:?} is too large")))?;
    // the last item's position bounds every other one
    let last = size.iter().zip(stride).try_fold(offset, |at, (&d, &s)| d.saturating_sub(1).checked_mul(s).and_then(|x| at.checked_add(x)));
    if n > 0 && last.is_none_or(|l| l >= values.len()) {
        return Err(bad(format!("a view of size {size:?}, strides {stride:?} at offset {offset} reaches past its storage of {} items", values.len())));
    }
    let mut out = Vec::with_capacity(n);
    let mut index = vec![0usize; size.len()];
    for _ in 0..n {
        out.push(values[offset + index.iter().zip(stride).map(|(i, s)| i * s).sum::<usize>()]);
        for k in (0..size.len()).rev() {
            index[k] += 1;
            if index[k] < size[k] {
                break;
            }
            index[k] = 0;
        }
    }
    Ok(TorchTensor { shape: size.to_vec(), values: out })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_read_their_items_and_stay_inside_their_storage() {
        let values: Vec<f64> = (0..6).map(f64::from).collect();
        // a 2×3 tensor stored column by column
        assert_eq!(strided(&values, 0, &[2, 3], &[1, 2]).unwrap().values, [0.0, 2.0, 4.0, 1.0, 3.0, 5.0]);
        assert_eq!(strided(&values, 1, &[2], &[3]).unwrap().values, [1.0, 4.0]);
        assert!(strided(&values, 1, &[2, 3], &[3, 1]).is_err(), "one past the end");
        assert!(strided(&values, 0, &[usize::MAX, 2], &[1, 1]).is_err());
        assert!(strided(&values, usize::MAX, &[1], &[1]).is_err());
        assert_eq!(strided(&values, 9, &[0, 3], &[3, 1]).unwrap().values, Vec::<f64>::new());
    }

    #[test]
    fn a_storage_cut_anywhere_is_an_error() {
        // torch.save(torch.tensor([1.5, -2.0]).storage(), f, _use_new_zipfile_serialization=False)
        let mut file = LEGACY_MAGIC.to_vec();
        file.extend_from_slice(b"\x80\x02M\xe9\x03.");
        file.extend_from_slice(b"\x80\x02}q\x00X\r\x00\x00\x00little_endianq\x01\x88s.");
        file.extend_from_slice(b"\x80\x02(X\x07\x00\x00\x00storageq\x00ctorch\nFloatStorage\nq\x01X\x01\x00\x00\x00kq\x02X\x03\x00\x00\x00cpuq\x03K\x02Ntq\x04Q.");
        file.extend_from_slice(b"\x80\x02]q\x00X\x01\x00\x00\x00kq\x01a.");
        file.extend_from_slice(&2u64.to_le_bytes());
        file.extend_from_slice(&1.5f32.to_le_bytes());
        file.extend_from_slice(&(-2.0f32).to_le_bytes());
        assert_eq!(legacy_storage(&file).unwrap(), [1.5, -2.0]);
        for cut in 0..file.len() {
            assert!(legacy_storage(&file[..cut]).is_err(), "cut at {cut}");
        }
    }
}
