//! Character-span annotations (`{text, entities: [{start, end, label}]}`, as annotation tools such
//! as doccano, Label Studio and spaCy export them) → words and IOB2 tags, so they train like CoNLL
//! sentences. Offsets count characters (Unicode code points, as Python's `str` indices), `end`
//! exclusive. Words are runs of letters and digits; every other character except whitespace is a
//! word of its own (what BERT's basic tokenizer splits). A word belongs to the entity it overlaps:
//! its first word is tagged `B-label`, the rest `I-label`.

use serde::Deserialize;

use crate::{Error, Result};

/// One annotated entity: characters `start..end` of the text, and its type.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EntitySpan {
    pub start: usize,
    pub end: usize,
    pub label: String,
}

/// The words of `text` with their character ranges.
fn words(text: &str) -> Vec<(String, usize, usize)> {
    let mut out: Vec<(String, usize, usize)> = Vec::new();
    let mut current: Option<(String, usize)> = None;
    let mut count = 0;
    for (i, c) in text.chars().enumerate() {
        count = i + 1;
        if c.is_alphanumeric() {
            current.get_or_insert_with(|| (String::new(), i)).0.push(c);
            continue;
        }
        if let Some((w, start)) = current.take() {
            out.push((w, start, i));
        }
        if !c.is_whitespace() {
            out.push((c.to_string(), i, i + 1));
        }
    }
    if let Some((w, start)) = current {
        out.push((w, start, count));
    }
    out
}

/// The words and IOB2 tags of `text` with `entities`; `origin` names the row in errors.
pub fn words_and_tags(text: &str, entities: &[EntitySpan], origin: &str) -> Result<(Vec<String>, Vec<String>)> {
    let chars = text.chars().count();
    let mut sorted: Vec<&EntitySpan> = entities.iter().collect();
    sorted.sort_by_key(|e| (e.start, e.end));
    for (i, e) in sorted.iter().enumerate() {
        let bad = |m: String| Err(Error::Data(format!("{origin}: entity {{start: {}, end: {}, label: {:?}}} {m}", e.start, e.end, e.label)));
        if e.label.trim().is_empty() || e.label.chars().any(char::is_whitespace) {
            return bad("needs a label without spaces (PER, LOC, …)".into());
        }
        if e.start >= e.end || e.end > chars {
            return bad(format!("is not a span of the text: start must be below end, and end at most its {chars} characters (offsets count characters, end exclusive)"));
        }
        if let Some(next) = sorted.get(i + 1)
            && next.start < e.end
        {
            return bad(format!("overlaps the entity at {}..{}: entities must not overlap", next.start, next.end));
        }
    }
    let words = words(text);
    if words.is_empty() {
        return Err(Error::Data(format!("{origin}: the text has no words")));
    }
    let mut tags = Vec::with_capacity(words.len());
    let mut covered = vec![false; sorted.len()];
    for (_, start, end) in &words {
        let mut inside = sorted.iter().enumerate().filter(|(_, e)| *start < e.end && e.start < *end);
        let tag = match (inside.next(), inside.next()) {
            (None, _) => "O".to_string(),
            (Some((i, e)), None) => {
                let first = !covered[i];
                covered[i] = true;
                format!("{}-{}", if first { "B" } else { "I" }, e.label)
            }
            (Some((_, a)), Some((_, b))) => {
                let word: String = text.chars().skip(*start).take(end - start).collect();
                return Err(Error::Data(format!(
                    "{origin}: entities {}..{} ({}) and {}..{} ({}) share the word {word:?}: entity bounds must fall between words",
                    a.start, a.end, a.label, b.start, b.end, b.label
                )));
            }
        };
        tags.push(tag);
    }
    if let Some(i) = covered.iter().position(|c| !c) {
        let e = sorted[i];
        return Err(Error::Data(format!("{origin}: entity {}..{} ({}) covers no word (only spaces)", e.start, e.end, e.label)));
    }
    Ok((words.into_iter().map(|(w, _, _)| w).collect(), tags))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: usize, end: usize, label: &str) -> EntitySpan {
        EntitySpan { start, end, label: label.into() }
    }

    #[test]
    fn spans_become_iob2_tags_of_words() {
        let text = "Zoë Brandt flew to New York, then Bonn.";
        let (words, tags) = words_and_tags(text, &[span(19, 27, "LOC"), span(0, 10, "PER"), span(34, 38, "LOC")], "r").unwrap();
        assert_eq!(words, ["Zoë", "Brandt", "flew", "to", "New", "York", ",", "then", "Bonn", "."]);
        assert_eq!(tags, ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O", "O", "B-LOC", "O"]);
        // a span cut inside a word takes the whole word
        assert_eq!(words_and_tags("in Paris!", &[span(4, 6, "LOC")], "r").unwrap().1, ["O", "B-LOC", "O"]);
    }

    #[test]
    fn bad_spans_are_clear_errors() {
        let e = |text: &str, spans: &[EntitySpan]| words_and_tags(text, spans, "f.jsonl:3").unwrap_err().to_string();
        assert!(e("Bonn", &[span(0, 9, "LOC")]).contains("end at most its 4 characters"));
        assert!(e("New York", &[span(0, 5, "LOC"), span(4, 8, "LOC")]).contains("overlaps the entity at 4..8"));
        assert!(e("NewYork", &[span(0, 3, "A"), span(3, 7, "B")]).contains("share the word \"NewYork\""));
        assert!(e("a  b", &[span(1, 3, "X")]).contains("covers no word"));
        assert!(e("Bonn", &[span(0, 4, "")]).contains("f.jsonl:3: entity"));
        assert!(e("  ", &[]).contains("no words"));
    }
}
