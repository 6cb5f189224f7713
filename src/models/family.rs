//! The model families webtune reads, listed once: each one's `config.json` `model_type`s, its
//! name in prose and the kind of model it is. Error messages, the docs' list of what loads, and
//! the "is this an encoder or a decoder" answers are derived from this table; a family's
//! architecture lives in its own file (`bert.rs` with `encoder_family.rs`, `llama.rs` — Qwen and Gemma 3 too —, `gpt2.rs`).

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// What a model family is: an encoder (embeddings, classification) or a decoder (generation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum ModelKind {
    /// A BERT-family encoder folder (config.json, model.safetensors, tokenizer.json).
    Encoder,
    /// A decoder: a Llama-family or GPT-2 folder, or a Llama-family GGUF file.
    Decoder,
}

/// One family of checkpoints.
#[derive(Clone, Copy, Debug)]
pub struct Family {
    /// The `model_type`s of its `config.json` (the first is its own).
    pub model_types: &'static [&'static str],
    /// Its name in prose.
    pub title: &'static str,
    pub kind: ModelKind,
}

/// Every family webtune reads, encoders first.
pub const FAMILIES: &[Family] = &[
    Family { model_types: &["bert"], title: "BERT", kind: ModelKind::Encoder },
    Family { model_types: &["distilbert"], title: "DistilBERT", kind: ModelKind::Encoder },
    Family { model_types: &["roberta", "camembert"], title: "RoBERTa", kind: ModelKind::Encoder },
    Family { model_types: &["xlm-roberta"], title: "XLM-RoBERTa", kind: ModelKind::Encoder },
    Family { model_types: &["llama"], title: "Llama", kind: ModelKind::Decoder },
    Family { model_types: &["qwen2"], title: "Qwen2", kind: ModelKind::Decoder },
    Family { model_types: &["qwen3"], title: "Qwen3", kind: ModelKind::Decoder },
    Family { model_types: &["gemma3_text"], title: "Gemma 3", kind: ModelKind::Decoder },
    Family { model_types: &["gpt2"], title: "GPT-2", kind: ModelKind::Decoder },
];

/// The family of a `model_type`, if webtune reads it.
pub fn family_of(model_type: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.model_types.contains(&model_type))
}

/// Every `model_type` webtune reads, by kind: "bert, roberta, … (encoders), llama, gpt2 (decoders)".
pub fn supported() -> String {
    let of = |kind| FAMILIES.iter().filter(|f| f.kind == kind).flat_map(|f| f.model_types.iter().copied()).collect::<Vec<_>>().join(", ");
    format!("{} (encoders), {} (decoders)", of(ModelKind::Encoder), of(ModelKind::Decoder))
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

/// The error for a `model_type` of the other kind than the pipeline loads (`wanted`), or one
/// webtune does not read (naming the nearest one it does).
pub fn not_a(wanted: ModelKind, model_type: &str) -> Error {
    match family_of(model_type) {
        Some(f) if f.kind != wanted => Error::Weights(match f.kind {
            ModelKind::Decoder => format!(
                "config.json: model_type {model_type:?} is a decoder (text generation), not an encoder; load it with the text-generation pipeline"
            ),
            ModelKind::Encoder => format!(
                "config.json: model_type {model_type:?} is an encoder, not a decoder; load it with the text-classification or feature-extraction pipeline"
            ),
        }),
        _ => unsupported(model_type),
    }
}

/// The error for a `model_type` webtune does not read, naming the nearest one it does.
pub fn unsupported(model_type: &str) -> Error {
    let lower = model_type.to_ascii_lowercase();
    let nearest = FAMILIES.iter().flat_map(|f| f.model_types.iter()).min_by_key(|k| edit_distance(k, &lower)).copied().unwrap_or("bert");
    Error::Weights(format!(
        "config.json: model_type {model_type:?} is not supported yet; webtune reads {} (nearest: {nearest:?})",
        supported()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_supported_list_and_errors_come_from_the_table() {
        assert_eq!(supported(), "bert, distilbert, roberta, camembert, xlm-roberta (encoders), llama, qwen2, qwen3, gemma3_text, gpt2 (decoders)");
        let e = not_a(ModelKind::Encoder, "deberta-v2").to_string();
        assert!(e.contains("\"deberta-v2\" is not supported yet") && e.contains("webtune reads bert, distilbert"), "{e}");
        assert!(unsupported("xlm_roberta").to_string().contains("nearest: \"xlm-roberta\""));
        let e = not_a(ModelKind::Encoder, "llama").to_string();
        assert!(e.contains("is a decoder") && e.contains("text-generation"), "{e}");
        let e = not_a(ModelKind::Decoder, "bert").to_string();
        assert!(e.contains("is an encoder"), "{e}");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
