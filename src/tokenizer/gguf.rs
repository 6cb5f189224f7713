//! The tokenizer embedded in a GGUF file (`tokenizer.ggml.*`) as a Hugging Face `tokenizer.json`,
//! so the `tokenizers` crate runs it like any other. Byte-level BPE (`tokenizer.ggml.model` =
//! `"gpt2"`) with the pre-tokenizers of GPT-2, SmolLM and Qwen2 (`tokenizer.ggml.pre`), and Gemma's
//! SentencePiece vocabulary (`"llama"` in a `gemma3` file); control tokens (`<|im_start|>`,
//! `<start_of_turn>`, …) become special added tokens, matched whole in text.

use serde_json::{Value as Json, json};

use crate::{
    Error, Result,
    formats::gguf::{Gguf, Value},
};

/// Qwen2's pre-tokenizer split (its tokenizer.json's `Split` pattern).
const QWEN2_SPLIT: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Llama 3's pre-tokenizer split (digits in runs of up to three).
const LLAMA3_SPLIT: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// `tokenizer.json` text for the GGUF's tokenizer.
pub fn tokenizer_json(gguf: &Gguf<'_>) -> Result<String> {
    let model = gguf.get("tokenizer.ggml.model")?.as_str().unwrap_or_default();
    let arch = gguf.metadata.get("general.architecture").and_then(Value::as_str).unwrap_or_default();
    if model == "llama" && arch == "gemma3" {
        return gemma_tokenizer_json(gguf);
    }
    if model != "gpt2" {
        return Err(Error::Weights(format!(
            "the GGUF's tokenizer is {model:?}; webtune reads byte-level BPE (\"gpt2\") GGUF tokenizers and Gemma's \
             SentencePiece one so far. Use the model's Hugging Face folder (config.json, model.safetensors, tokenizer.json) instead"
        )));
    }
    let pre = gguf.metadata.get("tokenizer.ggml.pre").and_then(Value::as_str).unwrap_or("default");
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    let pre_tokenizer = match pre {
        "default" | "gpt2" => byte_level,
        "smollm" => json!({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, byte_level]}),
        // Qwen2/2.5's tokenizer.json (llama.cpp's LLAMA_VOCAB_PRE_TYPE_QWEN2): one digit at a time,
        // a leading non-letter joined to the word after it, then byte-level without GPT-2's regex
        "qwen2" => split_then_bytes(QWEN2_SPLIT),
        // Llama 3.x (llama.cpp's LLAMA_VOCAB_PRE_TYPE_LLAMA3)
        "llama-bpe" | "llama3" | "llama-v3" => split_then_bytes(LLAMA3_SPLIT),
        other => {
            return Err(Error::Weights(format!(
                "the GGUF's pre-tokenizer {other:?} is not supported yet (supported: \"gpt2\", \"smollm\", \"qwen2\", \"llama-bpe\"); \
                 use the model's Hugging Face folder with its tokenizer.json instead"
            )));
        }
    };
    let tokens = strings(gguf, "tokenizer.ggml.tokens")?;
    let merges = strings(gguf, "tokenizer.ggml.merges")?;
    let parts = Pipeline {
        normalizer: Json::Null,
        pre_tokenizer,
        decoder: json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}),
        unk_token: None,
        byte_fallback: false,
    };
    Ok(bpe_file(parts, added_tokens(gguf, &tokens, &[]), &tokens, merges))
}

/// What differs between the GGUF tokenizers around their BPE model.
struct Pipeline {
    normalizer: Json,
    pre_tokenizer: Json,
    decoder: Json,
    unk_token: Option<String>,
    /// SentencePiece's: an unknown piece is spelled in `<0xNN>` byte tokens (and `unk_token`s fused).
    byte_fallback: bool,
}

/// `tokenizer.json` text of a BPE over `tokens` (ids by position) with `merges`.
fn bpe_file<M: serde::Serialize>(p: Pipeline, added: Vec<Json>, tokens: &[String], merges: M) -> String {
    let vocab: serde_json::Map<String, Json> = tokens.iter().enumerate().map(|(i, t)| (t.clone(), json!(i))).collect();
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": p.normalizer,
        "pre_tokenizer": p.pre_tokenizer,
        "post_processor": null,
        "decoder": p.decoder,
        "model": {"type": "BPE", "dropout": null, "unk_token": p.unk_token, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": p.byte_fallback, "byte_fallback": p.byte_fallback, "ignore_merges": false,
                  "vocab": vocab, "merges": merges},
    })
    .to_string()
}

/// The GGUF's list of strings under `key`.
fn strings(gguf: &Gguf<'_>, key: &str) -> Result<Vec<String>> {
    let list = gguf.get(key)?.as_array().ok_or_else(|| Error::Weights(format!("GGUF metadata {key:?} is not a list")))?;
    Ok(list.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect())
}

/// The tokens matched whole in text, as transformers adds them: llama.cpp's control tokens (type
/// 3) as special, user-defined ones (type 4) as plain, and the ids in `also_special`.
fn added_tokens(gguf: &Gguf<'_>, tokens: &[String], also_special: &[usize]) -> Vec<Json> {
    let types: Vec<u64> = gguf
        .metadata
        .get("tokenizer.ggml.token_type")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.as_u64().unwrap_or(1)).collect())
        .unwrap_or_default();
    // llama.cpp token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
    tokens
        .iter()
        .enumerate()
        .filter(|(i, _)| matches!(types.get(*i), Some(3 | 4)) || also_special.contains(i))
        .map(|(i, t)| {
            json!({"id": i, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": false, "special": types.get(i) != Some(&4)})
        })
        .collect()
}

/// Gemma's SentencePiece vocabulary (`tokenizer.ggml.model` = `"llama"` in a `gemma3` file) as
/// transformers' GGUF loader builds it: a BPE with byte fallback whose merges, which the file does
/// not list, are recovered from the vocabulary — every split of a token into two tokens, ranked by
/// the token's place in the file (not by its score, which does not follow Gemma's merge order);
/// spaces become `▁` before the model sees them.
fn gemma_tokenizer_json(gguf: &Gguf<'_>) -> Result<String> {
    // a token of spaces only is stored as real spaces; the vocabulary spells them `▁`
    let tokens: Vec<String> = strings(gguf, "tokenizer.ggml.tokens")?
        .into_iter()
        .map(|t| if t.contains(' ') && t.trim().is_empty() { "▁".repeat(t.chars().count()) } else { t })
        .collect();
    let merges = recovered_merges(&tokens);
    let token = |key: &str| gguf.metadata.get(key).and_then(Value::as_u64).and_then(|id| usize::try_from(id).ok()).filter(|&id| id < tokens.len());
    let unk = token("tokenizer.ggml.unknown_token_id");
    let mut special: Vec<usize> = ["bos", "eos", "unknown", "padding"].iter().filter_map(|k| token(&format!("tokenizer.ggml.{k}_token_id"))).collect();
    special.extend(tokens.iter().position(|t| t == "<mask>"));
    let parts = Pipeline {
        normalizer: json!({"type": "Replace", "pattern": {"String": " "}, "content": "▁"}),
        pre_tokenizer: json!({"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": false}),
        decoder: json!({"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}]}),
        unk_token: unk.map(|i| tokens[i].clone()),
        byte_fallback: true,
    };
    Ok(bpe_file(parts, added_tokens(gguf, &tokens, &special), &tokens, merges))
}

/// The merges a vocabulary implies (transformers' `generate_merges` with the tokens' places as
/// scores): for each token in file order, each split into two tokens (ordered by their ids);
/// then all of them by the token's place, longer left parts first, then longer right parts.
fn recovered_merges(tokens: &[String]) -> Vec<[&str; 2]> {
    use std::collections::HashMap;
    let mut id: HashMap<&str, usize> = HashMap::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        id.insert(t, i); // a token listed twice: its last place, as a Python dict keeps it
    }
    let mut merges: Vec<(usize, usize, usize, [&str; 2])> = Vec::new(); // (place, left chars, right chars, pair)
    let mut seen = std::collections::HashSet::with_capacity(tokens.len());
    for t in tokens {
        if !seen.insert(t.as_str()) {
            continue; // once per distinct token, at its first place in the order, ranked by its last
        }
        let place = id[t.as_str()];
        let mut local: Vec<(usize, usize, [&str; 2])> = t
            .char_indices()
            .skip(1)
            .filter_map(|(at, _)| {
                let (l, r) = t.split_at(at);
                Some((*id.get(l)?, *id.get(r)?, [l, r]))
            })
            .collect();
        local.sort_by_key(|&(l, r, _)| (l, r));
        merges.extend(local.into_iter().map(|(_, _, [l, r])| (place, l.chars().count(), r.chars().count(), [l, r])));
    }
    // transformers sorts by (−place, left length, right length), descending and stable
    merges.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2)));
    merges.into_iter().map(|(_, _, _, pair)| pair).collect()
}

/// A regex split (isolated pieces), then byte-level without GPT-2's own regex: the pre-tokenizer
/// of Qwen2's and Llama 3's `tokenizer.json`.
fn split_then_bytes(pattern: &str) -> Json {
    json!({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": false},
        {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}
    ]})
}
