//! Classification metrics: accuracy, per-class precision / recall / F1, macro averages, the
//! confusion matrix (rows = true class, columns = predicted), as scikit-learn computes them
//! (`zero_division=0`); for language models the mean token loss and perplexity.

use serde::Serialize;

/// Precision, recall, F1 and support of one class.
#[derive(Clone, Debug, PartialEq, Serialize, ts_rs::TS)]
pub struct ClassMetrics {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// A validation example the model gets wrong.
#[derive(Clone, Debug, PartialEq, Serialize, ts_rs::TS)]
pub struct Mistake {
    pub text: String,
    /// The second text of a pair, if the data has one.
    #[ts(optional)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pair: Option<String>,
    /// The true label.
    pub label: String,
    /// What the model said, and its probability.
    pub predicted: String,
    pub score: f32,
    /// Where the row is: "data.csv:12".
    pub origin: String,
}

/// How many mistakes an evaluation lists (the counts are in the confusion matrix).
pub const MAX_MISTAKES: usize = 50;

/// Everything an evaluation reports.
#[derive(Clone, Debug, PartialEq, Serialize, ts_rs::TS)]
pub struct Metrics {
    /// Mean cross-entropy over the examples (when logits were available).
    pub loss: Option<f64>,
    pub accuracy: f64,
    pub macro_precision: f64,
    pub macro_recall: f64,
    pub macro_f1: f64,
    pub per_class: Vec<ClassMetrics>,
    pub confusion_matrix: Vec<Vec<usize>>,
    pub examples: usize,
    /// The first examples the model gets wrong (at most [`MAX_MISTAKES`], in data order; empty
    /// when the evaluation did not see the texts).
    pub mistakes: Vec<Mistake>,
}

impl Metrics {
    /// From true and predicted class ids; `labels` names the classes in id order.
    pub fn compute(truth: &[usize], predicted: &[usize], labels: &[String], loss: Option<f64>) -> Metrics {
        let n = labels.len();
        let mut cm = vec![vec![0usize; n]; n];
        for (&t, &p) in truth.iter().zip(predicted) {
            cm[t][p] += 1;
        }
        let correct: usize = (0..n).map(|i| cm[i][i]).sum();
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let per_class: Vec<ClassMetrics> = (0..n)
            .map(|c| {
                let tp = cm[c][c];
                let predicted_c: usize = (0..n).map(|r| cm[r][c]).sum();
                let support: usize = cm[c].iter().sum();
                let precision = ratio(tp, predicted_c);
                let recall = ratio(tp, support);
                let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
                ClassMetrics { label: labels[c].clone(), precision, recall, f1, support }
            })
            .collect();
        let mean = |f: fn(&ClassMetrics) -> f64| if n == 0 { 0.0 } else { per_class.iter().map(f).sum::<f64>() / n as f64 };
        Metrics {
            loss,
            accuracy: ratio(correct, truth.len()),
            macro_precision: mean(|c| c.precision),
            macro_recall: mean(|c| c.recall),
            macro_f1: mean(|c| c.f1),
            per_class,
            confusion_matrix: cm,
            examples: truth.len(),
            mistakes: Vec::new(),
        }
    }

    /// A metric by name ("accuracy", "macro_f1", "loss", …), for early stopping and keep-best.
    pub fn get(&self, name: &str) -> Option<f64> {
        match name {
            "accuracy" => Some(self.accuracy),
            "macro_f1" | "f1" => Some(self.macro_f1),
            "macro_precision" => Some(self.macro_precision),
            "macro_recall" => Some(self.macro_recall),
            "loss" => self.loss,
            _ => None,
        }
    }
}

/// What evaluating a language model reports.
#[derive(Clone, Debug, PartialEq, Serialize, ts_rs::TS)]
pub struct LmMetrics {
    /// Mean cross-entropy per predicted token (tokens the loss covers: not prompts or padding).
    pub loss: f64,
    /// `exp(loss)`.
    pub perplexity: f64,
    /// Predicted tokens.
    pub tokens: usize,
    pub examples: usize,
    /// With `generate: true`: corpus BLEU (sacreBLEU's defaults, 0–100) of the greedy answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub bleu: Option<f64>,
    /// With `generate: true`: mean ROUGE-L F (rouge-score's, 0–1) of the greedy answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub rouge_l: Option<f64>,
    /// With `generate: true`: the greedy answers, in row order.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub answers: Option<Vec<String>>,
}

/// An evaluation's metrics: classification, entities or language modelling (serialized as the
/// inner object, so JS sees `metrics.accuracy`, `metrics.f1` or `metrics.perplexity`).
#[derive(Clone, Debug, PartialEq, Serialize, ts_rs::TS)]
#[serde(untagged)]
pub enum Evaluation {
    Classification(Metrics),
    Language(LmMetrics),
    Entities(super::entity_metrics::EntityMetrics),
    Answers(super::squad_metrics::SquadMetrics),
}

/// Metrics `metric` may name, per kind of model.
pub const CLASSIFICATION_METRICS: &[&str] = &["accuracy", "macro_f1", "macro_precision", "macro_recall", "loss"];
pub const LANGUAGE_METRICS: &[&str] = &["loss", "perplexity"];

impl Evaluation {
    /// A metric by name, for early stopping and keep-best.
    pub fn get(&self, name: &str) -> Option<f64> {
        match self {
            Evaluation::Classification(m) => m.get(name),
            Evaluation::Entities(m) => m.get(name),
            Evaluation::Answers(m) => m.get(name),
            Evaluation::Language(m) => match name {
                "loss" => Some(m.loss),
                "perplexity" => Some(m.perplexity),
                _ => None,
            },
        }
    }

    /// The metric used when the options name none: accuracy, or a language model's loss.
    pub fn default_metric(&self) -> &'static str {
        match self {
            Evaluation::Classification(_) => "accuracy",
            Evaluation::Entities(_) | Evaluation::Answers(_) => "f1",
            Evaluation::Language(_) => "loss",
        }
    }
}
