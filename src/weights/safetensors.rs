//! Reading a safetensors file's table of contents before loading it, so that broken files give a
//! clear error and the key table can pick a layout (with/without `bert.` prefix, pooler, head).

use std::collections::BTreeMap;

use ::safetensors::{Dtype, SafeTensors};
use half::{bf16, f16};
use burn::{
    module::Module,
    store::{ApplyError, ApplyResult, FloatCastAdapter, ModuleAdapter, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore, burn_pack::Tensor as PackTensor},
    tensor::DType,
};

use super::LoadReport;
use crate::{Error, Result};

/// One tensor's entry in the header.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorEntry {
    /// Element type as written in the file (`"F32"`, `"F16"`, `"BF16"`, …).
    pub dtype: String,
    pub shape: Vec<usize>,
}

/// The tensors of a safetensors file, by name.
#[derive(Clone, Debug)]
pub struct Inventory {
    pub tensors: BTreeMap<String, TensorEntry>,
    /// Size of the whole file.
    pub file_bytes: u64,
}

impl Inventory {
    /// Parses and validates the file (header, offsets, sizes). `what` names the file in errors.
    pub fn read(bytes: &[u8], what: &str) -> Result<Self> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| {
            Error::Weights(format!(
                "{what} is not a valid safetensors file ({e}); re-download it or re-save the model with \
                 `model.save_pretrained(dir, safe_serialization=True)`"
            ))
        })?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            if let Some((i, value)) = first_non_finite(view.dtype(), view.data()) {
                return Err(Error::Weights(format!(
                    "{what}: tensor {name} holds {value} at index {i}: the weights are broken (a diverged fine-tune or a bad conversion); use an earlier checkpoint or re-export the model"
                )));
            }
            tensors.insert(name, TensorEntry { dtype: format!("{:?}", view.dtype()), shape: view.shape().to_vec() });
        }
        Ok(Inventory { tensors, file_bytes: bytes.len() as u64 })
    }

    /// Number of values in all tensors (the file was validated, so each fits in memory).
    pub fn values(&self) -> u64 {
        self.tensors.values().map(|t| t.shape.iter().map(|&d| d as u64).fold(1u64, u64::saturating_mul)).fold(0, u64::saturating_add)
    }

    /// Whether any tensor name starts with `prefix`.
    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.tensors.keys().any(|k| k.starts_with(prefix))
    }

    /// The distinct floating-point dtypes that are not F32.
    pub fn non_f32_floats(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .tensors
            .values()
            .map(|t| t.dtype.clone())
            .filter(|d| matches!(d.as_str(), "F16" | "BF16" | "F64"))
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// The first NaN or ±inf among little-endian floats of `dtype` (integers are never flagged).
fn first_non_finite(dtype: Dtype, data: &[u8]) -> Option<(usize, f64)> {
    float_values(dtype, data)?.enumerate().find(|(_, v)| !v.is_finite())
}

/// Little-endian floats of `dtype` (F32, F16, BF16, F64) as f64; `None` for other dtypes.
pub fn float_values(dtype: Dtype, data: &[u8]) -> Option<Box<dyn Iterator<Item = f64> + '_>> {
    Some(match dtype {
        Dtype::F32 => Box::new(data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)),
        Dtype::F16 => Box::new(data.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f64())),
        Dtype::BF16 => Box::new(data.chunks_exact(2).map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f64())),
        Dtype::F64 => Box::new(data.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap_or_default()))),
        _ => return None,
    })
}

/// How one model family's checkpoint keys map onto its module.
pub struct KeyTable<'a> {
    /// What the checkpoint should be, for errors ("a BERT-family checkpoint").
    pub family: &'a str,
    /// Regex renames, checkpoint key → module path (applied in order).
    pub remaps: &'a [(&'a str, &'a str)],
    /// Checkpoint keys (substrings) that are buffers or unused heads: never loaded, never warned about.
    pub ignored: &'a [&'a str],
    /// Module path prefixes allowed to keep their fresh initialisation.
    pub may_be_missing: &'a [&'a str],
}

impl KeyTable<'_> {
    /// Loads checkpoint `bytes` (whose table of contents is `inv`) into `model`: `nn.Linear`
    /// weights transposed and norm `weight/bias` renamed by Burn's `PyTorchToBurnAdapter`,
    /// f16/bf16/f64 upcast to f32. Missing or mis-shaped tensors are an error listing them;
    /// unused ones a warning.
    pub fn apply<M: Module>(&self, model: &mut M, bytes: Vec<u8>, inv: &Inventory) -> Result<LoadReport> {
        self.load(model, bytes, inv, PyTorchToBurnAdapter.chain(FloatCastAdapter::to(DType::F32)))
    }

    /// [`KeyTable::apply`] for a checkpoint already in Burn's layout (GPT-2's `Conv1D` keeps
    /// `[in, out]` weights; norms are renamed by `remaps`): only the upcast to f32.
    pub fn apply_as_is<M: Module>(&self, model: &mut M, bytes: Vec<u8>, inv: &Inventory) -> Result<LoadReport> {
        self.load(model, bytes, inv, FloatCastAdapter::to(DType::F32))
    }

    fn load<M: Module>(&self, model: &mut M, bytes: Vec<u8>, inv: &Inventory, adapter: impl ModuleAdapter + 'static) -> Result<LoadReport> {
        let mut report = LoadReport::default();
        let casts = inv.non_f32_floats();
        if !casts.is_empty() {
            report.warnings.push(format!("checkpoint stores {} tensors; upcast to F32", casts.join("/")));
        }
        let mut store = SafetensorsStore::from_bytes(Some(bytes)).with_from_adapter(adapter).allow_partial(true).validate(false); // errors are reported below, in our words
        for (from, to) in self.remaps {
            store = store.with_key_remapping(*from, *to);
        }
        let result = model
            .load_from(&mut store)
            .map_err(|e| Error::Weights(format!("model.safetensors could not be read: {e:?}")))?;
        let names: Vec<String> = inv.tensors.keys().take(3).cloned().collect();
        self.check(result, "model.safetensors", inv.tensors.len(), &names, report)
    }

    /// Loads tensors that are made when loading reaches them (Hugging Face names and layout, f32)
    /// into `model`, with the same adapter and checks as [`KeyTable::apply`]; `file` names their
    /// source in errors. Loading holds one of them at a time besides the model.
    pub fn apply_deferred<M: Module>(&self, model: &mut M, tensors: Vec<PackTensor>, file: &str) -> Result<LoadReport> {
        if !self.remaps.is_empty() {
            return Err(Error::Backend("deferred loading does not rename keys; give the tensors the module's names".into()));
        }
        let names: Vec<String> = tensors.iter().take(3).map(|t| t.name.clone()).collect();
        let count = tensors.len();
        let result = model.apply(tensors, None, Some(Box::new(PyTorchToBurnAdapter)), false);
        self.check(result, file, count, &names, LoadReport::default())
    }

    /// Turns what loading applied into errors (mismatched or missing tensors) and warnings (unused).
    fn check(&self, result: ApplyResult, file: &str, count: usize, examples: &[String], mut report: LoadReport) -> Result<LoadReport> {
        if !result.errors.is_empty() {
            let list: Vec<String> = result.errors.iter().map(describe).collect();
            return Err(Error::Weights(format!(
                "{file} does not match config.json: {}. Check that config.json belongs to these weights",
                list.join("; ")
            )));
        }
        let missing: Vec<&str> = result
            .missing
            .iter()
            .map(|(path, _)| path.as_str())
            .filter(|p| !self.may_be_missing.iter().any(|m| p.starts_with(m)))
            .collect();
        if !missing.is_empty() {
            return Err(Error::Weights(format!(
                "{file} is missing {} tensor(s) the model needs: {}. Is this {} \
                 matching config.json? (file has {count} tensors, e.g. {})",
                missing.len(),
                missing.join(", "),
                self.family,
                examples.join(", ")
            )));
        }
        let unused: Vec<&String> =
            result.unused.iter().filter(|k| !self.ignored.iter().any(|i| k.contains(i))).collect();
        if !unused.is_empty() {
            report.warnings.push(format!(
                "ignored {} checkpoint tensor(s) this model does not use: {}",
                unused.len(),
                unused.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
        report.loaded = result.applied.len();
        Ok(report)
    }
}

fn describe(e: &ApplyError) -> String {
    match e {
        ApplyError::ShapeMismatch { path, expected, found } => {
            format!("{path} has shape {found:?} in the file but the config implies {expected:?}")
        }
        ApplyError::DTypeMismatch { path, expected, found } => {
            format!("{path} has dtype {found:?}, expected {expected:?}")
        }
        other => format!("{other:?}"),
    }
}
