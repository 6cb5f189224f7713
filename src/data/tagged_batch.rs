//! Tagged sentences → padded token batches with one label per token, aligned as transformers'
//! `run_ner.py` aligns them: a word's first token carries its tag, special tokens and (unless
//! `label_all_tokens`) a word's other tokens are ignored (-100); with `label_all_tokens` they carry
//! the word's tag, a `B-` turned into its `I-`.

use super::tagged::{TaggedDataset, TaggedSentence};
use crate::{Result, tokenizer::{Batch, TextTokenizer}};

/// The label of tokens the loss ignores (PyTorch's `ignore_index`).
pub const IGNORED: i64 = -100;

/// A batch of sentences ready for the model: token ids, one label per token, and where each
/// word's first token is.
pub struct TaggedBatch {
    pub tokens: Batch,
    /// [batch · seq] labels, [`IGNORED`] where the loss skips the token.
    pub labels: Vec<i64>,
    /// Per sentence, the position of each word's first token (`None`: the word was cut off).
    pub word_starts: Vec<Vec<Option<usize>>>,
}

/// For each tag id, the id of its `I-` form (itself when it has none): `label_all_tokens`'s
/// labels for a word's later tokens.
pub fn inside_tags(names: &[String]) -> Vec<usize> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| match n.strip_prefix("B-") {
            Some(kind) => names.iter().position(|m| *m == format!("I-{kind}")).unwrap_or(i),
            None => i,
        })
        .collect()
}

/// Tokenizes `rows` of `data` into one batch padded to its longest sentence (cut at `max_length`).
pub fn tagged_batch(data: &TaggedDataset, rows: &[usize], tokenizer: &TextTokenizer, max_length: usize, label_all_tokens: bool) -> Result<TaggedBatch> {
    let inside = inside_tags(&data.labels.names);
    let mut encoded = Vec::with_capacity(rows.len());
    for &r in rows {
        let s: &TaggedSentence = &data.sentences[r];
        let enc = tokenizer.encode_words(&s.words, max_length).map_err(|e| crate::Error::Data(format!("{}: {e}", s.origin)))?;
        encoded.push((s, enc));
    }
    let seq = encoded.iter().map(|(_, e)| e.ids.len()).max().unwrap_or(0);
    let pad = tokenizer.pad_id() as i32;
    let mut tokens = Batch { input_ids: vec![], attention_mask: vec![], token_type_ids: vec![], batch: rows.len(), seq };
    let mut labels = Vec::with_capacity(rows.len() * seq);
    let mut word_starts = Vec::with_capacity(rows.len());
    for (s, enc) in encoded {
        let fill = seq - enc.ids.len();
        tokens.input_ids.extend(enc.ids.iter().map(|&x| x as i32).chain(std::iter::repeat_n(pad, fill)));
        tokens.attention_mask.extend(std::iter::repeat_n(1, enc.ids.len()).chain(std::iter::repeat_n(0, fill)));
        tokens.token_type_ids.extend(enc.type_ids.iter().map(|&x| x as i32).chain(std::iter::repeat_n(0, fill)));
        let mut starts = vec![None; s.words.len()];
        let mut previous = None;
        for (position, word) in enc.word_ids.iter().enumerate() {
            let label = match *word {
                None => IGNORED,
                Some(w) if Some(w) != previous => {
                    starts[w] = Some(position);
                    s.tags[w] as i64
                }
                Some(w) if label_all_tokens => inside[s.tags[w]] as i64,
                Some(_) => IGNORED,
            };
            previous = *word;
            labels.push(label);
        }
        labels.extend(std::iter::repeat_n(IGNORED, fill));
        word_starts.push(starts);
    }
    Ok(TaggedBatch { tokens, labels, word_starts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_tags_map_b_to_i() {
        let names: Vec<String> = ["B-LOC", "B-PER", "I-PER", "O"].map(String::from).to_vec();
        assert_eq!(inside_tags(&names), [0, 2, 2, 3]);
    }
}
