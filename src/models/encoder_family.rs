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
//! DistilBERT's `config.json` names its fields differently (`dim`, `n_layers`, …); it is read
//! into [`BertConfig`] here.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::bert::BertConfig;
use crate::{Error, Result};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EncoderFamily {
    #[default]
    Bert,
    Roberta,
    XlmRoberta,
    DistilBert,
}

/// Every `model_type` webtune reads, for errors.
pub const SUPPORTED: &str = "bert, distilbert, roberta, xlm-roberta (encoders), llama, gpt2 (decoders)";

impl EncoderFamily {
    /// The family of a `config.json` `model_type` (BERT when it has none).
    pub fn of(model_type: Option<&str>) -> Result<Self> {
        match model_type {
            None | Some("bert") => Ok(EncoderFamily::Bert),
            Some("roberta" | "camembert") => Ok(EncoderFamily::Roberta),
            Some("xlm-roberta") => Ok(EncoderFamily::XlmRoberta),
            Some("distilbert") => Ok(EncoderFamily::DistilBert),
            Some(decoder @ ("llama" | "mistral" | "qwen2" | "gpt2")) => Err(Error::Weights(format!(
                "config.json: model_type {decoder:?} is a decoder (text generation), not an encoder; load it with the text-generation pipeline"
            ))),
            Some(other) => Err(unsupported(other)),
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
        match self {
            EncoderFamily::Bert => "BERT",
            EncoderFamily::Roberta => "RoBERTa",
            EncoderFamily::XlmRoberta => "XLM-RoBERTa",
            EncoderFamily::DistilBert => "DistilBERT",
        }
    }

    /// `config.json`'s `architectures` entry for a fine-tuned classifier of this family.
    pub fn classifier_architecture(self) -> &'static str {
        match self {
            EncoderFamily::Bert => "BertForSequenceClassification",
            EncoderFamily::Roberta => "RobertaForSequenceClassification",
            EncoderFamily::XlmRoberta => "XLMRobertaForSequenceClassification",
            EncoderFamily::DistilBert => "DistilBertForSequenceClassification",
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

/// A `config.json`'s `model_type`, read before the config itself (it says which config it is).
pub fn model_type(text: &str) -> Result<Option<String>> {
    #[derive(Deserialize)]
    struct ModelType {
        model_type: Option<String>,
    }
    let parsed: ModelType = serde_json::from_str(text).map_err(|e| Error::Weights(format!("config.json is not a valid model config: {e}")))?;
    Ok(parsed.model_type)
}

/// The error for a `model_type` webtune does not read, naming the nearest one it does.
pub fn unsupported(model_type: &str) -> Error {
    let known = ["bert", "distilbert", "roberta", "xlm-roberta", "llama", "gpt2"];
    let nearest = known.iter().min_by_key(|k| edit_distance(k, &model_type.to_ascii_lowercase())).expect("not empty");
    Error::Weights(format!(
        "config.json: model_type {model_type:?} is not supported yet; webtune reads {SUPPORTED} (nearest: {nearest:?})"
    ))
}

/// Levenshtein distance, for suggesting the nearest name.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
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

/// A DistilBERT `config.json` as the shared encoder config (not yet validated).
pub fn distilbert_config(text: &str) -> Result<BertConfig> {
    let c: DistilBertConfig = serde_json::from_str(text)
        .map_err(|e| Error::Weights(format!("config.json is not a valid DistilBERT config: {e}")))?;
    if c.sinusoidal_pos_embds {
        return Err(Error::Weights(
            "config.json: sinusoidal_pos_embds is not supported (DistilBERT checkpoints with learned positions, as distilbert-base-*, are)".into(),
        ));
    }
    Ok(BertConfig {
        vocab_size: c.vocab_size,
        hidden_size: c.dim,
        num_hidden_layers: c.n_layers,
        num_attention_heads: c.n_heads,
        intermediate_size: c.hidden_dim,
        hidden_act: c.activation,
        layer_norm_eps: 1e-12,
        max_position_embeddings: c.max_position_embeddings,
        type_vocab_size: 0,
        hidden_dropout_prob: c.dropout,
        attention_probs_dropout_prob: c.attention_dropout,
        classifier_dropout: Some(c.seq_classif_dropout),
        pad_token_id: c.pad_token_id,
        position_embedding_type: "absolute".into(),
        id2label: c.id2label,
        label2id: c.label2id,
        problem_type: c.problem_type,
        num_labels: c.num_labels,
        model_type: Some("distilbert".into()),
        initializer_range: c.initializer_range,
        family: EncoderFamily::DistilBert,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_model_types_name_the_nearest_supported_one() {
        let e = EncoderFamily::of(Some("deberta-v2")).unwrap_err().to_string();
        assert!(e.contains("\"deberta-v2\" is not supported yet") && e.contains("webtune reads bert, distilbert"), "{e}");
        let e = EncoderFamily::of(Some("xlm_roberta")).unwrap_err().to_string();
        assert!(e.contains("nearest: \"xlm-roberta\""), "{e}");
        let e = EncoderFamily::of(Some("llama")).unwrap_err().to_string();
        assert!(e.contains("is a decoder") && e.contains("text-generation"), "{e}");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
