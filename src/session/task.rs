//! The tasks webtune runs, each named once: which kind of model it needs, and what fine-tuning it
//! reports and judges runs by. The CLI's `--task`, the JS `pipeline(task)`
//! and hyperparameter search read these instead of comparing task strings of their own.

use serde::Serialize;

pub use crate::models::family::ModelKind;
use crate::{
    Error, Result,
    infer::{
        entity_metrics::ENTITY_METRICS,
        squad_metrics::SQUAD_METRICS,
        metrics::{CLASSIFICATION_METRICS, LANGUAGE_METRICS},
    },
};

/// A task, by its Hugging Face pipeline name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// Sentence embeddings from an encoder (`embed`; fine-tuning trains a classifier head on it).
    FeatureExtraction,
    /// Labels for texts or text pairs, from an encoder with a classification head.
    TextClassification,
    /// A tag for every word (named entities), from an encoder with a token-classification head.
    TokenClassification,
    /// Answers to questions, as spans of a context, from an encoder with a question-answering head.
    QuestionAnswering,
    /// The likeliest tokens for masks, from an encoder with its masked-LM head; training continues
    /// its masked-LM pretraining on one's own text (domain adaptation).
    FillMask,
    /// Text from a decoder (`generate`, `chat`), fine-tuned as a causal language model.
    TextGeneration,
}

impl Task {
    /// Every task, in the order errors list them.
    pub const ALL: [Task; 6] =
        [Task::FeatureExtraction, Task::TextClassification, Task::TokenClassification, Task::QuestionAnswering, Task::FillMask, Task::TextGeneration];

    /// Its pipeline name (`"text-classification"`).
    pub fn name(self) -> &'static str {
        match self {
            Task::FeatureExtraction => "feature-extraction",
            Task::TextClassification => "text-classification",
            Task::TokenClassification => "token-classification",
            Task::QuestionAnswering => "question-answering",
            Task::FillMask => "fill-mask",
            Task::TextGeneration => "text-generation",
        }
    }

    /// Other names transformers gives a task.
    pub const ALIASES: [(&'static str, Task); 2] = [("sentiment-analysis", Task::TextClassification), ("ner", Task::TokenClassification)];

    /// The task a pipeline name (or one of transformers' aliases) names, or an error listing them.
    pub fn parse(name: &str) -> Result<Task> {
        let alias = Task::ALIASES.iter().find(|(a, _)| *a == name).map(|(_, t)| *t);
        alias.or_else(|| Task::ALL.into_iter().find(|t| t.name() == name)).ok_or_else(|| {
            Error::Options(format!(
                "unknown task {name:?}; valid tasks are {}",
                Task::ALL.map(Task::name).join(", ")
            ))
        })
    }

    /// The kind of model it loads.
    pub fn model_kind(self) -> ModelKind {
        match self {
            Task::FeatureExtraction | Task::TextClassification | Task::TokenClassification | Task::QuestionAnswering | Task::FillMask => {
                ModelKind::Encoder
            }
            Task::TextGeneration => ModelKind::Decoder,
        }
    }

    /// The metrics its evaluations report (what `metric` may name).
    pub fn metrics(self) -> &'static [&'static str] {
        match self {
            Task::FeatureExtraction | Task::TextClassification => CLASSIFICATION_METRICS,
            Task::TokenClassification => ENTITY_METRICS,
            Task::QuestionAnswering => SQUAD_METRICS,
            Task::FillMask | Task::TextGeneration => LANGUAGE_METRICS,
        }
    }

    /// The metric a run is judged by when the options name none (early stopping, keep-best,
    /// hyperparameter search).
    pub fn default_metric(self) -> &'static str {
        self.metrics()[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_list_the_tasks() {
        for t in Task::ALL {
            assert_eq!(Task::parse(t.name()).unwrap(), t);
            assert_eq!(serde_json::to_value(t).unwrap(), t.name());
        }
        assert_eq!(Task::parse("sentiment-analysis").unwrap(), Task::TextClassification);
        assert_eq!(Task::parse("ner").unwrap(), Task::TokenClassification);
        let e = Task::parse("summarization").unwrap_err().to_string();
        assert!(e.contains("unknown task \"summarization\"") && e.contains("feature-extraction, text-classification, token-classification, question-answering, fill-mask, text-generation"), "{e}");
        assert_eq!(Task::TokenClassification.default_metric(), "f1");
        assert_eq!(Task::FillMask.default_metric(), "loss");
        assert_eq!(Task::TextGeneration.default_metric(), "loss");
        assert_eq!(Task::TextClassification.default_metric(), "accuracy");
    }
}
