//! Question-answering examples → model features, as transformers' `run_qa.py` prepares them: one
//! feature per window of the context (the question stripped of leading spaces, first and whole),
//! the answer's start and end tokens in each window that holds the whole answer, the first token
//! (`[CLS]`/`<s>`) for windows without it and for unanswerable questions; the offsets of context
//! tokens kept for reading answers back out of the logits.

use super::squad::QaExample;
use crate::{Result, tokenizer::TextTokenizer};

/// One window of one example.
#[derive(Clone, Debug, PartialEq)]
pub struct QaFeature {
    /// The example it is a window of.
    pub example: usize,
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
    /// Each token's `[start, end)` in the context (characters); `None` outside the context.
    pub offsets: Vec<Option<(usize, usize)>>,
    /// The answer's first and last token (both the first token when this window has no answer).
    pub start: usize,
    pub end: usize,
}

/// Question-answering settings of the feature preparation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Windowing {
    /// Longest feature in tokens (run_qa's `max_seq_length`, 384).
    pub max_length: usize,
    /// Context tokens each window repeats from the one before (run_qa's `doc_stride`, 128).
    pub stride: usize,
}

/// The features of `examples`, in example order.
pub fn qa_features(examples: &[QaExample], tokenizer: &TextTokenizer, windowing: Windowing) -> Result<Vec<QaFeature>> {
    let mut out = Vec::new();
    for (e, ex) in examples.iter().enumerate() {
        let windows = tokenizer
            .encode_windows(ex.question.trim_start(), &ex.context, windowing.max_length, windowing.stride)
            .map_err(|err| crate::Error::Data(format!("{}: {err}", ex.origin)))?;
        for w in windows {
            let in_context = |i: usize| w.sequence_ids[i] == Some(1);
            let offsets: Vec<Option<(usize, usize)>> = (0..w.ids.len()).map(|i| in_context(i).then_some(w.offsets[i])).collect();
            let (start, end) = answer_tokens(ex, &w.offsets, &in_context).unwrap_or((0, 0));
            out.push(QaFeature { example: e, ids: w.ids, type_ids: w.type_ids, offsets, start, end });
        }
    }
    Ok(out)
}

/// The first and last token of the example's first answer in this window, when the window holds
/// all of it (run_qa's labelling; else the caller points at the first token).
fn answer_tokens(ex: &QaExample, offsets: &[(usize, usize)], in_context: &dyn Fn(usize) -> bool) -> Option<(usize, usize)> {
    let answer = ex.answers.first()?;
    let (start_char, end_char) = (answer.start, answer.start + answer.text.chars().count());
    let first = (0..offsets.len()).find(|&i| in_context(i))?;
    let last = (0..offsets.len()).rev().find(|&i| in_context(i))?;
    if !(offsets[first].0 <= start_char && offsets[last].1 >= end_char) {
        return None;
    }
    // run_qa walks on past the context when the answer starts in its last token (into the
    // special tokens' (0, 0) offsets); the walk stops at the context's end here
    let mut s = first;
    while s <= last && offsets[s].0 <= start_char {
        s += 1;
    }
    let mut e = last;
    while offsets[e].1 >= end_char {
        if e == 0 {
            break;
        }
        e -= 1;
    }
    Some((s - 1, e + 1))
}
