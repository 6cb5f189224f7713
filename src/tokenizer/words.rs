//! Tokens ↔ words and characters, for token classification and masked-LM: words already split
//! (training data) tokenized with the word each token came from, raw text tokenized with each
//! token's character span (Unicode scalar values, as Python's `str` indexes them), and the special
//! tokens these tasks use (unknown, mask).

use tokenizers::{ModelWrapper, PreTokenizerWrapper, Tokenizer};

use super::TextTokenizer;
use crate::{Error, Result};

/// One pre-split sentence, tokenized (special tokens added, cut at the maximum length).
#[derive(Clone, Debug, PartialEq)]
pub struct WordTokens {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
    /// The word each token belongs to (`None` for special tokens).
    pub word_ids: Vec<Option<usize>>,
}

/// One text, tokenized with where each token is in it.
#[derive(Clone, Debug, PartialEq)]
pub struct TextTokens {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
    /// The tokenizer's token strings (`##ing`, `Ġworld`, `▁the`).
    pub tokens: Vec<String>,
    /// Whether the tokenizer added the token (`[CLS]`, `</s>`).
    pub special: Vec<bool>,
    /// Each token's `[start, end)` in the text, in characters.
    pub offsets: Vec<(usize, usize)>,
}

/// Byte-level BPE (RoBERTa) must mark every pre-split word as following a space, or a word inside
/// a sentence would be tokenized as a sentence's first — transformers requires
/// `add_prefix_space=True` for the same reason.
pub(super) fn add_prefix_space(tok: &mut Tokenizer) {
    if let Some(PreTokenizerWrapper::ByteLevel(b)) = tok.get_pre_tokenizer()
        && !b.add_prefix_space
    {
        let mut b = b.clone();
        b.add_prefix_space = true;
        tok.with_pre_tokenizer(Some(PreTokenizerWrapper::ByteLevel(b)));
    }
}

impl TextTokenizer {
    /// Tokenizes a sentence already split into `words` (as `is_split_into_words=True`), cut at
    /// `max_length` tokens.
    pub fn encode_words(&self, words: &[String], max_length: usize) -> Result<WordTokens> {
        if words.is_empty() {
            return Err(Error::Data("a sentence has no words".into()));
        }
        let tok = self.variant(super::Variant { max_length, stride: 0, only_second: false, words: true })?;
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let enc = tok.encode(&words[..], true).map_err(|e| Error::Data(format!("words could not be tokenized: {e}")))?;
        Ok(WordTokens {
            ids: enc.get_ids().to_vec(),
            type_ids: enc.get_type_ids().to_vec(),
            word_ids: enc.get_word_ids().iter().map(|w| w.map(|w| w as usize)).collect(),
        })
    }

    /// Tokenizes `text` with each token's character span, cut at `max_length` tokens.
    pub fn encode_offsets(&self, text: &str, max_length: usize) -> Result<TextTokens> {
        if text.trim().is_empty() {
            return Err(Error::Data("the text is empty: give it some words".into()));
        }
        let tok = self.truncating_at(max_length)?;
        let enc = tok.encode_char_offsets(text, true).map_err(|e| Error::Data(format!("text could not be tokenized: {e}")))?;
        Ok(TextTokens {
            ids: enc.get_ids().to_vec(),
            type_ids: enc.get_type_ids().to_vec(),
            tokens: enc.get_tokens().to_vec(),
            special: enc.get_special_tokens_mask().iter().map(|&m| m != 0).collect(),
            offsets: enc.get_offsets().to_vec(),
        })
    }

    /// Whether the model marks word-inner pieces (WordPiece's `##`): then a piece's text and its
    /// token differ in length exactly when it continues a word.
    pub fn has_subword_prefix(&self) -> bool {
        match self.inner.get_model() {
            ModelWrapper::WordPiece(w) => !w.continuing_subword_prefix.is_empty(),
            ModelWrapper::BPE(b) => b.continuing_subword_prefix.as_deref().is_some_and(|p| !p.is_empty()),
            _ => false,
        }
    }

    /// Whether token `id` begins a word: not a WordPiece `##` continuation, and — for the
    /// byte-level BPE and SentencePiece vocabularies that mark word starts (`Ġ`, `▁`) — marked.
    pub fn starts_word(&self, id: u32) -> bool {
        let Some(token) = self.inner.id_to_token(id) else { return false };
        match self.inner.get_model() {
            ModelWrapper::WordPiece(w) => w.continuing_subword_prefix.is_empty() || !token.starts_with(&w.continuing_subword_prefix),
            ModelWrapper::BPE(b) if b.continuing_subword_prefix.as_deref().is_some_and(|p| !p.is_empty()) => {
                !b.continuing_subword_prefix.as_deref().is_some_and(|p| token.starts_with(p))
            }
            ModelWrapper::BPE(_) | ModelWrapper::Unigram(_) => token.starts_with('Ġ') || token.starts_with('▁'),
            ModelWrapper::WordLevel(_) => true,
        }
    }

    /// The id of the model's unknown token, if it has one.
    pub fn unk_id(&self) -> Option<u32> {
        let unk = match self.inner.get_model() {
            ModelWrapper::WordPiece(w) => Some(w.unk_token.clone()),
            ModelWrapper::BPE(b) => b.unk_token.clone(),
            ModelWrapper::WordLevel(w) => Some(w.unk_token.clone()),
            // Unigram keeps its unknown token as an id, readable only through its serialization
            ModelWrapper::Unigram(u) => {
                let id = serde_json::to_value(u).ok()?.get("unk_id")?.as_u64()?;
                return u32::try_from(id).ok();
            }
        };
        unk.and_then(|t| self.inner.token_to_id(&t))
    }

    /// The id of the mask token masked-LM models predict: the special token whose text names a
    /// mask, else a `[MASK]` or `<mask>` of the vocabulary.
    pub fn mask_id(&self) -> Option<u32> {
        let decoder = self.inner.get_added_tokens_decoder();
        let mut masks: Vec<(&u32, &tokenizers::AddedToken)> =
            decoder.iter().filter(|(_, t)| t.special && t.content.to_ascii_lowercase().contains("mask")).collect();
        masks.sort_by_key(|(id, _)| **id);
        masks.first().map(|(id, _)| **id).or_else(|| ["[MASK]", "<mask>"].iter().find_map(|m| self.inner.token_to_id(m)))
    }

    /// The text of `ids`; with `skip_special`, special tokens left out.
    pub fn decode_with(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        self.inner.decode(ids, skip_special).map_err(|e| Error::Data(format!("tokens could not be decoded: {e}")))
    }

    /// How many ids the tokenizer knows, added tokens included (`len(tokenizer)` in transformers).
    pub fn vocab_len(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Tokens joined into text as the tokenizer's decoder joins them (transformers'
    /// `convert_tokens_to_string`; tokens joined by spaces when it has no decoder).
    pub fn tokens_to_string(&self, tokens: &[String]) -> Result<String> {
        use tokenizers::Decoder;
        match self.inner.get_decoder() {
            Some(d) => d.decode(tokens.to_vec()).map_err(|e| Error::Data(format!("tokens could not be joined: {e}"))),
            None => Ok(tokens.join(" ")),
        }
    }
}
