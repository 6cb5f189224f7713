//! The official SQuAD metrics: exact match and F1 of the normalised answer (lower case, no
//! punctuation, no articles, single spaces), the best over each question's reference answers, in
//! percent (v1.1's `evaluate-v1.1.py`); with unanswerable questions, v2.0's rules (an empty answer
//! matches an unanswerable question) and the answerable / unanswerable breakdown.

use std::collections::HashMap;

use serde::Serialize;

use crate::data::squad::QaExample;

/// Exact match and F1 (percent) over questions, and per kind when some are unanswerable.
#[derive(Clone, Debug, PartialEq, Serialize, ts_rs::TS)]
pub struct SquadMetrics {
    /// Mean of the start and end cross-entropies over the features (when logits were available).
    pub loss: Option<f64>,
    pub exact_match: f64,
    pub f1: f64,
    /// Questions evaluated.
    pub examples: usize,
    /// SQuAD 2.0: the same over answerable questions (`HasAns_…`), and their number.
    #[ts(optional)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_answer: Option<SquadSubset>,
    /// SQuAD 2.0: the same over unanswerable questions (`NoAns_…`).
    #[ts(optional)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_answer: Option<SquadSubset>,
}

/// Exact match and F1 over a subset of the questions.
#[derive(Clone, Debug, PartialEq, Serialize, ts_rs::TS)]
pub struct SquadSubset {
    pub exact_match: f64,
    pub f1: f64,
    pub total: usize,
}

/// Metrics a question-answering evaluation reports (what `metric` may name).
pub const SQUAD_METRICS: &[&str] = &["f1", "exact_match", "loss"];

/// SQuAD's answer normalisation.
pub fn normalize(s: &str) -> String {
    let lower = s.to_lowercase();
    let no_punct: String = lower.chars().filter(|c| !(c.is_ascii_punctuation())).collect();
    no_punct.split_whitespace().filter(|w| !matches!(*w, "a" | "an" | "the")).collect::<Vec<_>>().join(" ")
}

/// Token-overlap F1 of two normalised answers; `empty_matches_empty`: v2.0's rule that two empty
/// answers agree (v1.1 scores them 0).
fn f1(prediction: &str, truth: &str, empty_matches_empty: bool) -> f64 {
    let (p, t) = (normalize(prediction), normalize(truth));
    let (p, t): (Vec<&str>, Vec<&str>) = (p.split_whitespace().collect(), t.split_whitespace().collect());
    if empty_matches_empty && (p.is_empty() || t.is_empty()) {
        return f64::from(u8::from(p == t));
    }
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for w in &t {
        *counts.entry(w).or_default() += 1;
    }
    let mut same = 0;
    for w in &p {
        if let Some(c) = counts.get_mut(w)
            && *c > 0
        {
            *c -= 1;
            same += 1;
        }
    }
    if same == 0 {
        return 0.0;
    }
    let (precision, recall) = (same as f64 / p.len() as f64, same as f64 / t.len() as f64);
    2.0 * precision * recall / (precision + recall)
}

impl SquadMetrics {
    /// Metrics of `predictions` (one answer per example, "" for "no answer") against the
    /// examples' references: v2.0's rules when `v2` (or when some question is unanswerable).
    pub fn compute(examples: &[QaExample], predictions: &[String], loss: Option<f64>, v2: bool) -> crate::Result<SquadMetrics> {
        if examples.len() != predictions.len() || examples.is_empty() {
            return Err(crate::Error::Data(format!("SQuAD metrics: {} questions but {} predictions", examples.len(), predictions.len())));
        }
        let v2 = v2 || examples.iter().any(|e| e.answers.is_empty());
        let scores: Vec<(f64, f64, bool)> = examples
            .iter()
            .zip(predictions)
            .map(|(e, p)| {
                let mut truths: Vec<&str> = e.answers.iter().map(|a| a.text.as_str()).filter(|t| !v2 || !normalize(t).is_empty()).collect();
                if truths.is_empty() {
                    truths.push("");
                }
                let exact = truths.iter().map(|t| f64::from(u8::from(normalize(t) == normalize(p)))).fold(0.0, f64::max);
                let f = truths.iter().map(|t| f1(p, t, v2)).fold(0.0, f64::max);
                (exact, f, !e.answers.is_empty())
            })
            .collect();
        let mean = |pick: &dyn Fn(&(f64, f64, bool)) -> bool| -> Option<SquadSubset> {
            let chosen: Vec<&(f64, f64, bool)> = scores.iter().filter(|s| pick(s)).collect();
            (!chosen.is_empty()).then(|| SquadSubset {
                exact_match: 100.0 * chosen.iter().map(|s| s.0).sum::<f64>() / chosen.len() as f64,
                f1: 100.0 * chosen.iter().map(|s| s.1).sum::<f64>() / chosen.len() as f64,
                total: chosen.len(),
            })
        };
        let all = mean(&|_| true).expect("at least one question");
        Ok(SquadMetrics {
            loss,
            exact_match: all.exact_match,
            f1: all.f1,
            examples: examples.len(),
            has_answer: if v2 { mean(&|s| s.2) } else { None },
            no_answer: if v2 { mean(&|s| !s.2) } else { None },
        })
    }

    /// A metric by name (see [`SQUAD_METRICS`]).
    pub fn get(&self, name: &str) -> Option<f64> {
        match name {
            "f1" => Some(self.f1),
            "exact_match" => Some(self.exact_match),
            "loss" => self.loss,
            _ => None,
        }
    }
}
