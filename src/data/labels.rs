//! Class labels ↔ ids, stable across runs and written into the exported config (id2label).
//!
//! One rule: labels are the strings written in the file (trimmed), sorted as text — except a
//! column whose every label is a plain integer (digits only, no sign, no leading zero: `0`, `1`,
//! `12`), which is sorted by value so that `0..n` keep their values as ids. `+1`, `-1` and `01`
//! are text: `01` and `1` are two classes.

use std::collections::BTreeMap;

use crate::{Error, Result};

/// The classes of a dataset, in id order.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LabelMap {
    pub names: Vec<String>,
}

impl LabelMap {
    /// From the label cells of the training data, sorted so the map does not depend on row
    /// order (see the module's rule).
    pub fn from_values<'a>(values: impl IntoIterator<Item = &'a str>, source: &str) -> Result<Self> {
        let distinct: std::collections::BTreeSet<&str> = values.into_iter().map(str::trim).collect();
        let mut names: Vec<String> = distinct.into_iter().map(String::from).collect();
        if names.iter().all(|n| plain_integer(n).is_some()) {
            names.sort_by_key(|n| plain_integer(n));
        }
        if names.len() < 2 {
            return Err(Error::Data(format!(
                "{source}: the label column has {} class{} ({}); classification needs at least 2",
                names.len(),
                if names.len() == 1 { "" } else { "es" },
                names.join(", ")
            )));
        }
        Ok(LabelMap { names })
    }

    /// From a model's `id2label`, e.g. to evaluate a trained model on new data.
    pub fn from_names(names: Vec<String>) -> Self {
        LabelMap { names }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The id of a label cell: its class, or, for classes that are not plain integers, a plain
    /// integer cell taken as the id itself ("0"/"1" for named classes).
    pub fn id(&self, value: &str) -> Option<usize> {
        let v = value.trim();
        self.names.iter().position(|n| n == v).or_else(|| {
            let numeric_classes = self.names.iter().any(|n| plain_integer(n).is_some());
            let id = usize::try_from(plain_integer(v)?).ok()?;
            (!numeric_classes && id < self.names.len()).then_some(id)
        })
    }

    /// `{"0": "negative", …}` as in Hugging Face config.json.
    pub fn id2label(&self) -> BTreeMap<String, String> {
        self.names.iter().enumerate().map(|(i, n)| (i.to_string(), n.clone())).collect()
    }

    /// `{"negative": 0, …}`.
    pub fn label2id(&self) -> BTreeMap<String, usize> {
        self.names.iter().enumerate().map(|(i, n)| (n.clone(), i)).collect()
    }
}

/// A label written as a plain integer (`0`, `7`, `12`; not `+1`, `-1`, `01` or `1.0`), its value.
fn plain_integer(s: &str) -> Option<u64> {
    let plain = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if plain { s.parse().ok() } else { None }
}

/// Whether two label lists name the same classes, in any order.
pub fn same_set(a: &[String], b: &[String]) -> bool {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort();
    b.sort();
    a == b
}
