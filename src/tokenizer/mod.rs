//! Text ↔ token ids through Hugging Face `tokenizers` (`tokenizer.json`).
//!
//! Padding and truncation are decided here, not by the file: files often fix them (MiniLM's pads
//! every sequence to 128). We pad to the longest sequence in the batch and truncate to
//! `max_length` when asked to, else report over-long text as an error.

mod charsmap;
pub mod chat;
pub mod decoder;
pub mod gguf;
pub mod llama2c;
pub mod windows;
pub mod words;

use std::sync::{Arc, Mutex};

use tokenizers::{PostProcessor, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::{Error, Result};

/// Refuses, with an error, the `tokenizer.json` files that `tokenizers` 0.22 would panic on while
/// reading (found by fuzzing, tests/fuzz): JSON that is not well-formed where a decoder is read
/// (it unwraps that parse error), and a `Precompiled` normalizer whose charsmap does not parse (it
/// unwraps that too) or points outside itself (it indexes it unchecked when encoding).
fn check_readable(bytes: &[u8]) -> Result<()> {
    let json: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        Error::Weights(format!("tokenizer.json could not be parsed (it is not valid JSON: {e}); use the tokenizer.json saved with the model"))
    })?;
    check_components(&json)
}

/// Every object of `json` whose `type` is `"Precompiled"` must read as one, and every
/// `"TemplateProcessing"` must name only special tokens it defines and, in its single-text
/// template, only the first sequence (tokenizers indexes both without checking, when encoding).
fn check_components(json: &serde_json::Value) -> Result<()> {
    use serde_json::Value;
    let broken = |what: String| Error::Weights(format!("tokenizer.json could not be parsed ({what}); use the tokenizer.json saved with the model"));
    match json {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("Precompiled") {
                // from text: its charsmap is read as a borrowed string, which a `Value` cannot lend
                serde_json::from_str::<tokenizers::normalizers::precompiled::Precompiled>(&json.to_string())
                    .map_err(|e| broken(format!("its Precompiled normalizer is broken: {e}")))?;
                let charsmap = map.get("precompiled_charsmap").and_then(Value::as_str).unwrap_or_default();
                charsmap::check(charsmap).map_err(|e| broken(format!("its Precompiled normalizer is broken: {e}")))?;
            }
            // a template processor, also without its "type" (tokenizers reads those untagged)
            if map.contains_key("single") || map.contains_key("pair") {
                    let defined = map.get("special_tokens").and_then(Value::as_object);
                    for (template, pieces) in ["single", "pair"].iter().filter_map(|t| Some((*t, map.get(*t)?.as_array()?))) {
                        for piece in pieces {
                            if let Some(id) = piece.pointer("/SpecialToken/id").and_then(Value::as_str)
                                && !defined.is_some_and(|d| d.contains_key(id))
                            {
                                return Err(broken(format!("its post-processor's {template} template uses the special token {id:?}, which it does not define")));
                            }
                            if template == "single" && piece.pointer("/Sequence/id").and_then(Value::as_str) == Some("B") {
                                return Err(broken("its post-processor's single template uses a second sequence".into()));
                            }
                        }
                    }
            }
            map.values().try_for_each(check_components)
        }
        Value::Array(items) => items.iter().try_for_each(check_components),
        _ => Ok(()),
    }
}

/// A tokenizer with webtune's padding/truncation policy.
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    pad_id: u32,
    /// `inner` set up for the last few [`Variant`]s asked for, kept so that an `encode` does not
    /// copy the whole tokenizer (its vocabulary included) to set truncation.
    variants: Arc<Mutex<Vec<(Variant, Arc<Tokenizer>)>>>,
}

/// How a tokenizer is set up for one kind of input (see [`TextTokenizer::variant`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Variant {
    max_length: usize,
    /// Tokens each window repeats from the one before (question answering's document stride).
    stride: usize,
    /// Cut only the second text of a pair (the context), never the first (the question).
    only_second: bool,
    /// Pre-split words (token classification).
    words: bool,
}

/// Token ids of a batch, padded to the longest row. All arrays are row-major [batch, seq].
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub input_ids: Vec<i32>,
    pub attention_mask: Vec<i32>,
    pub token_type_ids: Vec<i32>,
    pub batch: usize,
    pub seq: usize,
}

impl TextTokenizer {
    /// Parses `tokenizer.json` bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        check_readable(bytes)?;
        let mut inner = Tokenizer::from_bytes(bytes).map_err(|e| {
            Error::Weights(format!("tokenizer.json could not be parsed ({e}); use the tokenizer.json saved with the model"))
        })?;
        let pad_id = inner
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| inner.token_to_id("[PAD]"))
            .or_else(|| inner.token_to_id("<pad>"))
            .unwrap_or(0);
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| Error::Weights(format!("tokenizer.json: {e}")))?;
        Ok(TextTokenizer { inner, pad_id, variants: Arc::default() })
    }

    /// Parses `tokenizer.json` for a model with `embedding_rows` token embeddings (`vocab_size`):
    /// every id the tokenizer can produce, padding included, must have a row — a larger id would
    /// index past the embedding table (an error on the CPU, a silently wrong number on a GPU).
    pub fn for_model(bytes: &[u8], embedding_rows: usize) -> Result<Self> {
        let tokenizer = Self::from_bytes(bytes)?;
        let largest = tokenizer.inner.get_vocab(true).into_values().chain([tokenizer.pad_id]).max().unwrap_or(0);
        if largest as usize >= embedding_rows {
            return Err(Error::Weights(format!(
                "tokenizer.json has token ids up to {largest}, but the model has {embedding_rows} token embeddings (vocab_size in config.json): use the tokenizer.json saved with this model"
            )));
        }
        Ok(tokenizer)
    }

    /// Checks that the token type ids the tokenizer gives (its post-processor's template fixes
    /// them, whatever the text) have rows among the model's `type_rows` token type embeddings.
    pub fn check_type_ids(&self, type_rows: usize) -> Result<()> {
        let cannot = |e| Error::Weights(format!("tokenizer.json cannot encode a short text: {e}"));
        let single = self.inner.encode("a", true).map_err(cannot)?;
        let pair = self.inner.encode(("a", "b"), true).map_err(cannot)?;
        if let Some(&t) = single.get_type_ids().iter().chain(pair.get_type_ids()).max()
            && t as usize >= type_rows
        {
            return Err(Error::Weights(format!(
                "tokenizer.json gives token type id {t}, but the model has {type_rows} token types (type_vocab_size in config.json): use the tokenizer.json saved with this model"
            )));
        }
        Ok(())
    }

    /// The tokenizer as `tokenizer.json` text.
    pub fn to_json(&self) -> Result<String> {
        self.inner.to_string(false).map_err(|e| Error::Backend(format!("writing tokenizer.json: {e}")))
    }

    /// The id used for padding.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// The ids of one text, not truncated; `special`: add the file's special tokens (BOS, …).
    pub fn ids(&self, text: &str, special: bool) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, special).map_err(|e| Error::Data(format!("text could not be tokenized: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// The ids of `text` (no special tokens added) and which of them fall in `spans` (character
    /// ranges, Unicode scalar values): as transformers' assistant mask, every token from the one
    /// holding a span's first character to the one holding its last (to the end when that has none).
    pub fn ids_with_mask(&self, text: &str, spans: &[std::ops::Range<usize>]) -> Result<(Vec<u32>, Vec<bool>)> {
        let enc = self.inner.encode_char_offsets(text, false).map_err(|e| Error::Data(format!("text could not be tokenized: {e}")))?;
        let mut mask = vec![false; enc.len()];
        for span in spans.iter().filter(|s| !s.is_empty()) {
            let Some(start) = enc.char_to_token(span.start, 0) else { break }; // as transformers: past the end
            let end = enc.char_to_token(span.end - 1, 0).map_or(mask.len(), |t| t + 1);
            mask.iter_mut().take(end).skip(start).for_each(|m| *m = true);
        }
        Ok((enc.get_ids().to_vec(), mask))
    }

    /// The text of `ids`, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, true).map_err(|e| Error::Data(format!("tokens could not be decoded: {e}")))
    }

    /// The token with this id (for templates that refer to `bos_token`/`eos_token`).
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The id of a token, if the vocabulary has it.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Number of tokens of one text (or pair), special tokens included, without truncation.
    pub fn count(&self, text: &str, pair: Option<&str>) -> Result<usize> {
        let enc = match pair {
            Some(p) => self.inner.encode((text, p), true),
            None => self.inner.encode(text, true),
        };
        enc.map(|e| e.len()).map_err(|e| Error::Data(format!("text could not be tokenized: {e}")))
    }

    /// The tokenizer, truncating at `max_length` (kept for the next call with the same length).
    fn truncating_at(&self, max_length: usize) -> Result<Arc<Tokenizer>> {
        self.variant(Variant { max_length, stride: 0, only_second: false, words: false })
    }

    /// The tokenizer set up as `v` asks: truncation (with a stride and the side it cuts) and, for
    /// pre-split words, byte-level BPE's prefix space (see [`words`]). The last few are kept.
    fn variant(&self, v: Variant) -> Result<Arc<Tokenizer>> {
        let mut kept = self.variants.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, tok)) = kept.iter().find(|(k, _)| *k == v) {
            return Ok(tok.clone());
        }
        let mut tok = self.inner.clone();
        tok.with_truncation(Some(TruncationParams {
            max_length: v.max_length,
            strategy: if v.only_second { TruncationStrategy::OnlySecond } else { TruncationStrategy::LongestFirst },
            direction: TruncationDirection::Right,
            stride: v.stride,
        }))
        .map_err(|e| Error::Options(format!("maxLength {} is too small: {e}", v.max_length)))?;
        if v.words {
            words::add_prefix_space(&mut tok);
        }
        let tok = Arc::new(tok);
        if kept.len() >= 4 {
            kept.remove(0);
        }
        kept.push((v, tok.clone()));
        Ok(tok)
    }

    /// Encodes texts (or `(text, pair)` when `pairs` is given) into one padded batch. Sequences
    /// longer than `max_length` tokens (special tokens included) are cut when `truncate`, else they
    /// are an error naming the row.
    pub fn encode(&self, texts: &[&str], pairs: Option<&[&str]>, max_length: usize, truncate: bool) -> Result<Batch> {
        if texts.is_empty() {
            return Err(Error::Data("no texts given: pass at least one string".into()));
        }
        if let Some(p) = pairs
            && p.len() != texts.len()
        {
            return Err(Error::Data(format!("{} texts but {} second texts: give one pair per text", texts.len(), p.len())));
        }
        if truncate {
            let special = self.inner.get_post_processor().map_or(0, |p| p.added_tokens(pairs.is_some()));
            if max_length <= special {
                let what = if pairs.is_some() { "text pair" } else { "text" };
                return Err(Error::Options(format!(
                    "maxLength {max_length} leaves no room for text: the tokenizer adds {special} special tokens to each {what}; use a maxLength above {special}"
                )));
            }
        }
        let truncating = if truncate { Some(self.truncating_at(max_length)?) } else { None };
        let tok = truncating.as_deref().unwrap_or(&self.inner);
        let mut rows = Vec::with_capacity(texts.len());
        for (i, text) in texts.iter().enumerate() {
            if text.trim().is_empty() {
                return Err(Error::Data(format!("text #{i} is empty: remove it or give it some words")));
            }
            let enc = match pairs {
                Some(p) => tok.encode((text.to_string(), p[i].to_string()), true),
                None => tok.encode(text.to_string(), true),
            }
            .map_err(|e| Error::Data(format!("text #{i} could not be tokenized: {e}")))?;
            if enc.len() > max_length {
                return Err(Error::Data(format!(
                    "text #{i} has {} tokens, more than the maximum of {max_length}: shorten it or enable truncation",
                    enc.len()
                )));
            }
            rows.push(enc);
        }
        let seq = rows.iter().map(|e| e.len()).max().unwrap_or(0);
        let mut b = Batch { input_ids: vec![], attention_mask: vec![], token_type_ids: vec![], batch: rows.len(), seq };
        for enc in rows {
            let pad = seq - enc.len();
            b.input_ids.extend(enc.get_ids().iter().map(|&x| x as i32).chain(std::iter::repeat_n(self.pad_id as i32, pad)));
            b.attention_mask.extend(std::iter::repeat_n(1, enc.len()).chain(std::iter::repeat_n(0, pad)));
            b.token_type_ids.extend(enc.get_type_ids().iter().map(|&x| x as i32).chain(std::iter::repeat_n(0, pad)));
        }
        Ok(b)
    }
}
