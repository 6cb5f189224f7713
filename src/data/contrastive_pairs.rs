//! SetFit's contrastive pairs (setfit's `ContrastiveDataset`): every pair of labelled rows,
//! itself included, in the order numpy's `RandomState(42).permutation` gives; a pair of one class
//! is positive (target 1), of two classes negative (0); then as many of each kind as the sampling
//! strategy asks, cycling through the shorter list, positives and negatives alternating.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::mersenne::RandomState;
use crate::{Error, Result};

/// How many pairs of each kind a SetFit run trains on (setfit's `sampling_strategy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(not(target_family = "wasm"), derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Sampling {
    /// As many of each kind as the more common kind has (setfit's default).
    #[default]
    Oversampling,
    /// As many of each kind as the rarer kind has.
    Undersampling,
    /// Every pair once.
    Unique,
}

/// Two rows (indices into the training rows) and the cosine similarity they should have.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pair {
    pub first: usize,
    pub second: usize,
    pub target: f32,
}

/// The pairs setfit trains on for rows labelled `labels`: `num_iterations` (when given) pairs of
/// each kind per row, else as `sampling` says; `max_pairs` stops drawing once half of them are of
/// each kind (setfit sets it to maxSteps × batch size).
pub fn contrastive_pairs(labels: &[usize], sampling: Sampling, num_iterations: Option<usize>, max_pairs: Option<usize>) -> Result<Vec<Pair>> {
    let n = labels.len();
    let classes = labels.iter().collect::<std::collections::BTreeSet<_>>().len();
    if classes < 2 {
        return Err(Error::Data(format!(
            "SetFit learns from pairs of rows of different classes, and the training rows have {classes} class{}; label rows of at least two classes",
            if classes == 1 { "" } else { "es" }
        )));
    }
    let all = n.checked_mul(n + 1).map(|p| p / 2).filter(|&p| p <= 50_000_000).ok_or_else(|| {
        Error::Data(format!("{n} rows make too many SetFit pairs to enumerate; SetFit is for a few labelled rows per class (use method \"finetune\")"))
    })?;
    // np.triu_indices(n, 0): (i, j) with j ≥ i, row by row
    let starts: Vec<usize> = (0..n).scan(0, |s, i| { let start = *s; *s += n - i; Some(start) }).collect();
    let pair_at = |k: usize| {
        let i = starts.partition_point(|&s| s <= k) - 1;
        (i, i + (k - starts[i]))
    };
    let cap = max_pairs.map(|m| m / 2);
    let (mut positive, mut negative) = (Vec::new(), Vec::new());
    for k in RandomState::new(42).permutation(all) {
        let (first, second) = pair_at(k);
        let full = |v: &Vec<Pair>| cap.is_some_and(|c| v.len() >= c);
        let (positive_full, negative_full) = (full(&positive), full(&negative));
        if labels[first] == labels[second] {
            if !positive_full {
                positive.push(Pair { first, second, target: 1.0 });
            }
        } else if !negative_full {
            negative.push(Pair { first, second, target: 0.0 });
        }
        if positive_full && negative_full {
            break;
        }
    }
    let (p, q) = (positive.len(), negative.len());
    let (n_positive, n_negative) = match (num_iterations.filter(|&i| i > 0), sampling) {
        (Some(i), _) => (i * n, i * n),
        (None, Sampling::Unique) => (p, q),
        (None, Sampling::Undersampling) => (p.min(q), p.min(q)),
        (None, Sampling::Oversampling) => (p.max(q), p.max(q)),
    };
    if (n_positive > 0 && p == 0) || (n_negative > 0 && q == 0) {
        return Err(Error::Data("too few rows for SetFit's pairs: maxSteps × batchSize leaves no pair of one kind; raise maxSteps".into()));
    }
    let cycle = |v: &[Pair], count: usize| -> Vec<Pair> { (0..count).map(|i| v[i % v.len()]).collect() };
    let (positive, negative) = (cycle(&positive, n_positive), cycle(&negative, n_negative));
    let mut out = Vec::with_capacity(n_positive + n_negative);
    for i in 0..n_positive.max(n_negative) {
        out.extend(positive.get(i));
        out.extend(negative.get(i));
    }
    Ok(out)
}

/// Classes with a single row: their only positive pair is that row with itself.
pub fn single_row_classes(labels: &[usize]) -> Vec<usize> {
    let mut counts = std::collections::BTreeMap::new();
    for &l in labels {
        *counts.entry(l).or_insert(0usize) += 1;
    }
    counts.into_iter().filter(|&(_, c)| c == 1).map(|(l, _)| l).collect()
}
