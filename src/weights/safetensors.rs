//! Reading a safetensors file's table of contents before loading it, so that broken files give a
//! clear error and the key table can pick a layout (with/without `bert.` prefix, pooler, head).

use std::collections::BTreeMap;

use ::safetensors::SafeTensors;

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
        let tensors = st
            .tensors()
            .into_iter()
            .map(|(name, view)| {
                (name, TensorEntry { dtype: format!("{:?}", view.dtype()), shape: view.shape().to_vec() })
            })
            .collect();
        Ok(Inventory { tensors })
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
