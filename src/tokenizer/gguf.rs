//! The tokenizer embedded in a GGUF file (`tokenizer.ggml.*`) as a Hugging Face `tokenizer.json`,
//! so the `tokenizers` crate runs it like any other. Byte-level BPE (`tokenizer.ggml.model` =
//! `"gpt2"`) with the pre-tokenizers of GPT-2, SmolLM and Qwen2 (`tokenizer.ggml.pre`); control tokens
//! (`<|im_start|>`, …) become special added tokens, matched whole in text.

use serde_json::{Value as Json, json};

use crate::{
    Error, Result,
    formats::gguf::{Gguf, Value},
};

/// Qwen2's pre-tokenizer split (its tokenizer.json's `Split` pattern).
const QWEN2_SPLIT: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// `tokenizer.json` text for the GGUF's tokenizer.
pub fn tokenizer_json(gguf: &Gguf<'_>) -> Result<String> {
    let model = gguf.get("tokenizer.ggml.model")?.as_str().unwrap_or_default();
    if model != "gpt2" {
        return Err(Error::Weights(format!(
            "the GGUF's tokenizer is {model:?}; webtune reads byte-level BPE (\"gpt2\") GGUF tokenizers so far. \
             Use the model's Hugging Face folder (config.json, model.safetensors, tokenizer.json) instead"
        )));
    }
    let pre = gguf.metadata.get("tokenizer.ggml.pre").and_then(Value::as_str).unwrap_or("default");
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    let pre_tokenizer = match pre {
        "default" | "gpt2" => byte_level,
        "smollm" => json!({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, byte_level]}),
        // Qwen2/2.5's tokenizer.json (llama.cpp's LLAMA_VOCAB_PRE_TYPE_QWEN2): one digit at a time,
        // a leading non-letter joined to the word after it, then byte-level without GPT-2's regex
        "qwen2" => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_SPLIT}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}
        ]}),
        other => {
            return Err(Error::Weights(format!(
                "the GGUF's pre-tokenizer {other:?} is not supported yet (supported: \"gpt2\", \"smollm\", \"qwen2\"); \
                 use the model's Hugging Face folder with its tokenizer.json instead"
            )));
        }
    };
    let strings = |key: &str| -> Result<Vec<String>> {
        let list = gguf.get(key)?.as_array().ok_or_else(|| Error::Weights(format!("GGUF metadata {key:?} is not a list")))?;
        Ok(list.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect())
    };
    let tokens = strings("tokenizer.ggml.tokens")?;
    let merges = strings("tokenizer.ggml.merges")?;
    let types: Vec<u64> = gguf
        .metadata
        .get("tokenizer.ggml.token_type")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.as_u64().unwrap_or(1)).collect())
        .unwrap_or_default();
    // llama.cpp token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
    let added: Vec<Json> = tokens
        .iter()
        .enumerate()
        .filter(|(i, _)| matches!(types.get(*i), Some(3 | 4)))
        .map(|(i, t)| {
            json!({"id": i, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": false, "special": types[i] == 3})
        })
        .collect();
    let vocab: serde_json::Map<String, Json> = tokens.iter().enumerate().map(|(i, t)| (t.clone(), json!(i))).collect();
    let file = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": merges},
    });
    Ok(file.to_string())
}
