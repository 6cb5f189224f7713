//! Data augmentation for text classification, applied on the fly while training (the user's
//! data is never rewritten): EDA's random swap and random deletion (Wei & Zou 2019), with the
//! draws of the reference implementation (textaugment's `EDA`, Python's `random` seeded per
//! augmented row), on the text's whitespace-separated words; and contextual substitution and
//! insertion (Kobayashi 2018), whose words a masked language model predicts (planned in
//! [`super::contextual`], filled by `infer::contextual_augment`).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{
    contextual::{ContextualOp, ContextualPlan},
    mersenne::PyRandom,
};
use crate::{Error, Result};

/// One augmentation operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum AugmentOp {
    /// Swap two random words, max(1, ⌊rate · words⌋) times (EDA's random swap).
    Swap,
    /// Drop each word with probability `rate`, keeping one when all would go (EDA's random deletion).
    Delete,
    /// Replace max(1, ⌊rate · words⌋) words by what a masked language model predicts in their
    /// place (contextual augmentation).
    Substitute,
    /// Insert max(1, ⌊rate · words⌋) words a masked language model predicts for random gaps.
    Insert,
}

impl AugmentOp {
    /// Whether the operation needs a masked language model.
    pub fn contextual(self) -> bool {
        matches!(self, AugmentOp::Substitute | AugmentOp::Insert)
    }
}

/// The operations' names, for messages.
const OPS: &str = "\"swap\", \"delete\", \"substitute\", \"insert\"";

impl std::str::FromStr for AugmentOp {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "swap" => Ok(AugmentOp::Swap),
            "delete" => Ok(AugmentOp::Delete),
            "substitute" => Ok(AugmentOp::Substitute),
            "insert" => Ok(AugmentOp::Insert),
            other => Err(Error::Options(format!("unknown augmentation {other:?}; valid operations are {OPS}"))),
        }
    }
}

/// How training rows are augmented: each row gets `copies` augmented copies per epoch, each
/// made by one of `ops` (chosen at random), drawn afresh every epoch from `seed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
#[ts(optional_fields = nullable)]
pub struct AugmentOptions {
    /// The operations (default both: "swap", "delete").
    pub ops: Vec<AugmentOp>,
    /// EDA's α: the share of words swapped, or each word's chance to be deleted (default 0.1).
    pub rate: f64,
    /// Augmented copies of each training row per epoch (default 1).
    pub copies: usize,
    /// Seeds the draws (default: the run's seed).
    pub seed: Option<u64>,
    /// The masked language model that fills "substitute" and "insert" (a hub id or URL in the
    /// browser, a folder in the CLI); default: the model being fine-tuned, which then needs its
    /// masked-LM head (BERT's `cls.predictions`, RoBERTa's `lm_head`, …).
    pub model: Option<String>,
}

impl Default for AugmentOptions {
    fn default() -> Self {
        AugmentOptions { ops: vec![AugmentOp::Swap, AugmentOp::Delete], rate: 0.1, copies: 1, seed: None, model: None }
    }
}

/// The most copies per row a run may ask for (each is a training example per epoch).
pub const MAX_COPIES: usize = 32;

impl AugmentOptions {
    /// Checks the values; the messages name the option and its range.
    pub fn check(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.rate) {
            return Err(Error::Options(format!("augment.rate must be between 0 and 1 (EDA uses 0.1), got {}", self.rate)));
        }
        if self.copies == 0 || self.copies > MAX_COPIES {
            return Err(Error::Options(format!("augment.copies must be between 1 and {MAX_COPIES}, got {}", self.copies)));
        }
        if self.ops.is_empty() {
            return Err(Error::Options(format!("augment.ops is empty; give at least one of {OPS}")));
        }
        if self.model.is_some() && !self.contextual() {
            return Err(Error::Options("augment.model is the masked language model of \"substitute\" and \"insert\"; add one of them to augment.ops or leave model out".into()));
        }
        Ok(())
    }

    /// Whether any operation needs a masked language model.
    pub fn contextual(&self) -> bool {
        self.ops.iter().any(|op| op.contextual())
    }

    /// Copy `copy` (1-based) of training row `row` in epoch `epoch`, from `text`; `run_seed` when
    /// the options give no seed: the text, or the plan a masked language model fills.
    pub fn draft(&self, text: &str, run_seed: u64, epoch: usize, row: usize, copy: usize) -> Draft {
        let seed = self.seed.unwrap_or(run_seed);
        // one Python seed per (seed, epoch, row, copy): SplitMix64's finaliser over the four
        let mut h = seed ^ 0x9E37_79B9_7F4A_7C15;
        for v in [epoch as u64, row as u64, copy as u64] {
            h = (h ^ v).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            h ^= h >> 31;
        }
        let mut rng = PyRandom::new(h >> 1);
        let op = self.ops[rng.below(self.ops.len())];
        if op.contextual() {
            let fill = if op == AugmentOp::Insert { ContextualOp::Insert } else { ContextualOp::Substitute };
            return ContextualPlan::new(fill, text, self.rate, rng).map_or_else(|| Draft::Text(text.to_string()), Draft::Contextual);
        }
        Draft::Text(apply(op, text, self.rate, &mut rng))
    }
}

/// An augmented copy, or the plan of one for a masked language model to fill.
pub enum Draft {
    Text(String),
    Contextual(ContextualPlan),
}

impl Draft {
    /// The text as a preview shows it before any model: a plan's slots as `mask`.
    pub fn preview(&self, mask: &str) -> String {
        match self {
            Draft::Text(t) => t.clone(),
            Draft::Contextual(plan) => plan.preview(mask),
        }
    }
}

/// EDA's `op` on `text`'s words with EDA's `rate`, drawing from `rng` as textaugment's `EDA` does
/// (a contextual operation leaves the words as they are).
pub fn apply(op: AugmentOp, text: &str, rate: f64, rng: &mut PyRandom) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return String::new();
    }
    match op {
        AugmentOp::Swap => {
            let n = ((rate * words.len() as f64) as usize).max(1);
            random_swap(words, n, rng).join(" ")
        }
        AugmentOp::Delete => random_deletion(&words, rate, rng).join(" "),
        // a model fills these: AugmentOptions::draft plans them
        AugmentOp::Substitute | AugmentOp::Insert => words.join(" "),
    }
}

/// EDA's random swap: `n` times, two random positions trade words. A second position is drawn
/// until it differs from the first; the fourth draw ends the whole swap, whatever it gave (as the
/// reference's `swap_word` returns there).
pub fn random_swap<'a>(mut words: Vec<&'a str>, n: usize, rng: &mut PyRandom) -> Vec<&'a str> {
    for _ in 0..n {
        let first = rng.randint(0, words.len() - 1);
        let mut draws = 0;
        let second = loop {
            let second = rng.randint(0, words.len() - 1);
            draws += 1;
            if draws > 3 {
                break None;
            }
            if second != first {
                break Some(second);
            }
        };
        if let Some(second) = second {
            words.swap(first, second);
        }
    }
    words
}

/// EDA's random deletion: each word goes with probability `p`; one word is always left.
pub fn random_deletion<'a>(words: &[&'a str], p: f64, rng: &mut PyRandom) -> Vec<&'a str> {
    if words.len() == 1 {
        return words.to_vec();
    }
    let kept: Vec<&str> = words.iter().copied().filter(|_| rng.uniform(0.0, 1.0) > p).collect();
    if kept.is_empty() { vec![words[rng.below(words.len())]] } else { kept }
}
