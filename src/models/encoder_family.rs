//! The encoder families webtune reads, and what sets them apart. They share one architecture
//! (`super::bert`: post-LayerNorm blocks, learned positions) and differ in small, named ways:
//!
//! | family | positions start at | token types | classification head on the first token |
//! |---|---|---|---|
//! | BERT | 0 | yes | `pooler.dense` → tanh → `classifier` |
//! | RoBERTa, XLM-RoBERTa | `pad_token_id + 1` (padding keeps `pad_token_id`) | one type | `classifier.dense` → tanh → `classifier.out_proj` |
//! | DistilBERT | 0 | none | `pre_classifier` → ReLU → `classifier` |
//!
//! DistilBERT also has no dropout after its attention projection (`out_lin`).
//!
//! DistilBERT's `config.json` names its fields differently (`dim`, `n_layers`, …); it is rewritten
//! here with BERT's names, which [`super::bert::BertConfig`] reads.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::family::{ModelKind, not_a};
use crate::{Error, Result};

/// The task head on an encoder, as transformers names its classes (`…ForTokenClassification`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncoderHead {
    /// One label per text, from the first token (`classifier`; BERT's through its pooler).
    SequenceClassification,
    /// One tag per token (`classifier` on every token's vector).
    TokenClassification,
    /// A vocabulary distribution per token (the pretraining head, tied to the word embeddings).
    MaskedLm,
    /// An answer's start and end token in a context (`qa_outputs`, two scores per token).
    QuestionAnswering,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EncoderFamily {
    #[default]
    Bert,
    Roberta,
    XlmRoberta,
    DistilBert,
}

impl EncoderFamily {
    /// The family of a `config.json` `model_type` (BERT when it has none).
    pub fn of(model_type: Option<&str>) -> Result<Self> {
        match model_type {
            None | Some("bert") => Ok(EncoderFamily::Bert),
            Some("roberta" | "camembert") => Ok(EncoderFamily::Roberta),
            Some("xlm-roberta") => Ok(EncoderFamily::XlmRoberta),
            Some("distilbert") => Ok(EncoderFamily::DistilBert),
            Some(other) => Err(not_a(ModelKind::Encoder, other)),
        }
    }

    /// Its `model_type`.
    pub fn name(self) -> &'static str {
        match self {
            EncoderFamily::Bert => "bert",
            EncoderFamily::Roberta => "roberta",
            EncoderFamily::XlmRoberta => "xlm-roberta",
            EncoderFamily::DistilBert => "distilbert",
        }
    }

    /// Its name as written in prose.
    pub fn title(self) -> &'static str {
        super::family::family_of(self.name()).map_or("BERT", |f| f.title)
    }

    /// `config.json`'s `architectures` entry for a fine-tuned classifier of this family.
    pub fn classifier_architecture(self) -> &'static str {
        self.architecture(EncoderHead::SequenceClassification)
    }

    /// The transformers class of this family with `head` (`RobertaForTokenClassification`).
    pub fn architecture(self, head: EncoderHead) -> &'static str {
        use EncoderHead::*;
        match (self, head) {
            (EncoderFamily::Bert, SequenceClassification) => "BertForSequenceClassification",
            (EncoderFamily::Roberta, SequenceClassification) => "RobertaForSequenceClassification",
            (EncoderFamily::XlmRoberta, SequenceClassification) => "XLMRobertaForSequenceClassification",
            (EncoderFamily::DistilBert, SequenceClassification) => "DistilBertForSequenceClassification",
            (EncoderFamily::Bert, TokenClassification) => "BertForTokenClassification",
            (EncoderFamily::Roberta, TokenClassification) => "RobertaForTokenClassification",
            (EncoderFamily::XlmRoberta, TokenClassification) => "XLMRobertaForTokenClassification",
            (EncoderFamily::DistilBert, TokenClassification) => "DistilBertForTokenClassification",
            (EncoderFamily::Bert, MaskedLm) => "BertForMaskedLM",
            (EncoderFamily::Roberta, MaskedLm) => "RobertaForMaskedLM",
            (EncoderFamily::XlmRoberta, MaskedLm) => "XLMRobertaForMaskedLM",
            (EncoderFamily::DistilBert, MaskedLm) => "DistilBertForMaskedLM",
            (EncoderFamily::Bert, QuestionAnswering) => "BertForQuestionAnswering",
            (EncoderFamily::Roberta, QuestionAnswering) => "RobertaForQuestionAnswering",
            (EncoderFamily::XlmRoberta, QuestionAnswering) => "XLMRobertaForQuestionAnswering",
            (EncoderFamily::DistilBert, QuestionAnswering) => "DistilBertForQuestionAnswering",
        }
    }

    /// Whether token type ids have embeddings (DistilBERT has none).
    pub fn has_token_types(self) -> bool {
        self != EncoderFamily::DistilBert
    }

    /// Whether positions count from `pad_token_id + 1` (fairseq's convention, kept by RoBERTa).
    pub fn positions_after_padding(self) -> bool {
        matches!(self, EncoderFamily::Roberta | EncoderFamily::XlmRoberta)
    }
}

/// Hugging Face `DistilBertConfig` (defaults as transformers').
#[derive(Deserialize)]
struct DistilBertConfig {
    #[serde(default = "defaults::vocab_size")]
    vocab_size: usize,
    #[serde(default = "defaults::max_position_embeddings")]
    max_position_embeddings: usize,
    #[serde(default)]
    sinusoidal_pos_embds: bool,
    #[serde(default = "defaults::n_layers")]
    n_layers: usize,
    #[serde(default = "defaults::n_heads")]
    n_heads: usize,
    #[serde(default = "defaults::dim")]
    dim: usize,
    #[serde(default = "defaults::hidden_dim")]
    hidden_dim: usize,
    #[serde(default = "defaults::dropout")]
    dropout: f64,
    #[serde(default = "defaults::dropout")]
    attention_dropout: f64,
    #[serde(default = "defaults::activation")]
    activation: String,
    #[serde(default = "defaults::initializer_range")]
    initializer_range: f64,
    #[serde(default = "defaults::seq_classif_dropout")]
    seq_classif_dropout: f64,
    #[serde(default = "defaults::dropout")]
    qa_dropout: f64,
    #[serde(default)]
    pad_token_id: Option<i64>,
    #[serde(default)]
    id2label: Option<BTreeMap<String, String>>,
    #[serde(default)]
    label2id: Option<BTreeMap<String, i64>>,
    #[serde(default)]
    num_labels: Option<usize>,
    #[serde(default)]
    problem_type: Option<String>,
}

#[rustfmt::skip]
mod defaults {
    pub fn vocab_size() -> usize { 30522 }
    pub fn max_position_embeddings() -> usize { 512 }
    pub fn n_layers() -> usize { 6 }
    pub fn n_heads() -> usize { 12 }
    pub fn dim() -> usize { 768 }
    pub fn hidden_dim() -> usize { 3072 }
    pub fn dropout() -> f64 { 0.1 }
    pub fn activation() -> String { "gelu".into() }
    pub fn initializer_range() -> f64 { 0.02 }
    pub fn seq_classif_dropout() -> f64 { 0.2 }
}

/// A DistilBERT `config.json` with BERT's field names (the shared encoder config reads it).
pub fn distilbert_as_bert(text: &str) -> Result<serde_json::Value> {
    let c: DistilBertConfig = serde_json::from_str(text)
        .map_err(|e| Error::Weights(format!("config.json is not a valid DistilBERT config: {e}")))?;
    if c.sinusoidal_pos_embds {
        return Err(Error::Weights(
            "config.json: sinusoidal_pos_embds is not supported (DistilBERT checkpoints with learned positions, as distilbert-base-*, are)".into(),
        ));
    }
    Ok(serde_json::json!({
        "vocab_size": c.vocab_size,
        "hidden_size": c.dim,
        "num_hidden_layers": c.n_layers,
        "num_attention_heads": c.n_heads,
        "intermediate_size": c.hidden_dim,
        "hidden_act": c.activation,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": c.max_position_embeddings,
        "type_vocab_size": 0,
        "hidden_dropout_prob": c.dropout,
        "attention_probs_dropout_prob": c.attention_dropout,
        "classifier_dropout": c.seq_classif_dropout,
        "qa_dropout": c.qa_dropout,
        "pad_token_id": c.pad_token_id,
        "position_embedding_type": "absolute",
        "id2label": c.id2label,
        "label2id": c.label2id,
        "problem_type": c.problem_type,
        "num_labels": c.num_labels,
        "model_type": "distilbert",
        "initializer_range": c.initializer_range,
    }))
}
