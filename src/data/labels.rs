//! Class labels ↔ ids, stable across runs and written into the exported config (id2label).

use std::collections::BTreeMap;

use crate::{Error, Result};

/// The classes of a dataset, in id order.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LabelMap {
    pub names: Vec<String>,
}

impl LabelMap {
    /// From the label cells of the training data, sorted so the map does not depend on row
    /// order: numerically when every label is an integer (so `0..n` keep their values as ids),
    /// else as text.
    pub fn from_values<'a>(values: impl IntoIterator<Item = &'a str>, source: &str) -> Result<Self> {
        let distinct: std::collections::BTreeSet<&str> = values.into_iter().map(str::trim).collect();
        let mut names: Vec<String> = distinct.into_iter().map(String::from).collect();
        let ints: Option<Vec<i64>> = names.iter().map(|n| n.parse().ok()).collect();
        if let Some(mut ints) = ints {
            ints.sort();
            names = ints.iter().map(i64::to_string).collect();
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

    /// The id of a label cell (also accepts the id itself, as in "0"/"1" for named classes).
    pub fn id(&self, value: &str) -> Option<usize> {
        let v = value.trim();
        self.names.iter().position(|n| n == v).or_else(|| v.parse::<usize>().ok().filter(|&i| i < self.names.len() && self.names.iter().all(|n| n.parse::<i64>().is_err())))
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

/// Whether two label lists name the same classes, in any order.
pub fn same_set(a: &[String], b: &[String]) -> bool {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort();
    b.sort();
    a == b
}
