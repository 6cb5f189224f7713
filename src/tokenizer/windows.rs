//! A question and a long context as windows, as transformers' question-answering recipes tokenize
//! them: the question first and whole, only the context cut, each window repeating the last
//! `stride` context tokens of the one before, every token with its character span.

use super::{TextTokenizer, Variant};
use crate::{Error, Result};

/// One window of a (question, context) pair.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
    /// Which text each token is from: 0 the question, 1 the context, `None` a special token.
    pub sequence_ids: Vec<Option<usize>>,
    /// Each token's `[start, end)` in its text, in characters.
    pub offsets: Vec<(usize, usize)>,
}

impl TextTokenizer {
    /// The windows of `context` for `question`, each at most `max_length` tokens, overlapping by
    /// `stride` context tokens. A question that leaves no more than `stride` tokens of room for the
    /// context is an error (the tokenizer would panic).
    pub fn encode_windows(&self, question: &str, context: &str, max_length: usize, stride: usize) -> Result<Vec<Window>> {
        let count = |text: &str| self.inner.encode(text, false).map(|e| e.len()).map_err(|e| Error::Data(format!("text could not be tokenized: {e}")));
        let specials = self.inner.get_post_processor().map_or(0, |p| tokenizers::PostProcessor::added_tokens(p, true));
        let (question_len, context_len) = (count(question)?, count(context)?);
        if question_len + context_len + specials > max_length {
            let room = max_length.saturating_sub(specials + question_len);
            if room <= stride {
                return Err(Error::Data(format!(
                    "the question {question:?} has {question_len} tokens: with maxLength {max_length} and docStride {stride} no room is left for the context; shorten the question, raise maxLength or lower docStride"
                )));
            }
        }
        let tok = self.variant(Variant { max_length, stride, only_second: true, words: false })?;
        let enc = tok.encode_char_offsets((question, context), true).map_err(|e| Error::Data(format!("the question and context could not be tokenized: {e}")))?;
        let mut windows = Vec::with_capacity(1 + enc.get_overflowing().len());
        for e in std::iter::once(&enc).chain(enc.get_overflowing()) {
            windows.push(Window {
                ids: e.get_ids().to_vec(),
                type_ids: e.get_type_ids().to_vec(),
                sequence_ids: e.get_sequence_ids(),
                offsets: e.get_offsets().to_vec(),
            });
        }
        Ok(windows)
    }
}
