//! "Label these next": unlabelled texts ordered by how unsure a classifier is of them (active
//! learning's uncertainty sampling, as modAL scores it), so that a person labels the rows that
//! teach the model most.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::encoder::LabelScore;
use crate::{Error, Result};

/// How unsure a prediction is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(not(target_family = "wasm"), derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Uncertainty {
    /// The entropy of the class probabilities, −Σ p·ln p (default).
    #[default]
    Entropy,
    /// How close the two likeliest classes are: 1 − (p₁ − p₂).
    Margin,
    /// How unlikely the likeliest class is: 1 − p₁.
    LeastConfident,
}

/// One text's place in the ranking.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
pub struct Ranked {
    /// Its position in the texts given.
    pub index: usize,
    /// The uncertainty (higher: label it sooner).
    pub score: f64,
    /// The class the model predicts, and its probability.
    pub label: String,
    pub probability: f32,
}

impl Uncertainty {
    /// The uncertainty of one prediction (`scores`: every class with its probability, any order).
    pub fn score(self, scores: &[LabelScore]) -> f64 {
        let mut p: Vec<f64> = scores.iter().map(|s| f64::from(s.score)).collect();
        p.sort_by(|a, b| b.total_cmp(a));
        let first = p.first().copied().unwrap_or(0.0);
        match self {
            Uncertainty::Entropy => -p.iter().filter(|&&x| x > 0.0).map(|x| x * x.ln()).sum::<f64>(),
            Uncertainty::Margin => 1.0 - (first - p.get(1).copied().unwrap_or(0.0)),
            Uncertainty::LeastConfident => 1.0 - first,
        }
    }
}

/// `predictions` (one per text, every class with its probability) ranked most uncertain first;
/// ties keep the texts' order.
pub fn rank(predictions: &[Vec<LabelScore>], strategy: Uncertainty) -> Result<Vec<Ranked>> {
    if let Some(i) = predictions.iter().position(|p| p.len() < 2) {
        return Err(Error::Options(format!(
            "rank: text {i} has {} class probabilities; ranking needs a classifier of at least two classes (fine-tune one first)",
            predictions[i].len()
        )));
    }
    let mut ranked: Vec<Ranked> = predictions
        .iter()
        .enumerate()
        .map(|(index, scores)| {
            let top = scores.iter().max_by(|a, b| a.score.total_cmp(&b.score)).expect("two classes or more, checked above");
            Ranked { index, score: strategy.score(scores), label: top.label.clone(), probability: top.score }
        })
        .collect();
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
    Ok(ranked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(values: &[f32]) -> Vec<LabelScore> {
        values.iter().enumerate().map(|(i, &score)| LabelScore { label: format!("c{i}"), score }).collect()
    }

    #[test]
    fn each_strategy_puts_the_unsure_first() {
        let predictions = vec![p(&[0.9, 0.05, 0.05]), p(&[0.4, 0.35, 0.25]), p(&[0.5, 0.5, 0.0]), p(&[0.34, 0.33, 0.33])];
        let order = |s| rank(&predictions, s).unwrap().iter().map(|r| r.index).collect::<Vec<_>>();
        assert_eq!(order(Uncertainty::Entropy), vec![3, 1, 2, 0]);
        assert_eq!(order(Uncertainty::Margin), vec![2, 3, 1, 0], "a tie of the two likeliest first");
        assert_eq!(order(Uncertainty::LeastConfident), vec![3, 1, 2, 0]);
        let top = &rank(&predictions, Uncertainty::Entropy).unwrap()[0];
        assert!((top.score - (-(0.34f64.ln() * 0.34) - 2.0 * 0.33 * 0.33f64.ln())).abs() < 1e-6, "{top:?}");
        assert_eq!((top.label.as_str(), top.probability), ("c0", 0.34));
        assert!(rank(&[p(&[1.0])], Uncertainty::Entropy).unwrap_err().to_string().contains("at least two classes"));
    }
}
