//! Token-classification data: sentences of words, one tag per word.
//!
//! Read from CoNLL files (`word … TAG` per line — the tag is the last column —, a blank line
//! between sentences, `-DOCSTART-` lines skipped), JSON lines `{"tokens": [...], "tags": [...]}`
//! (`ner_tags` is read too, as the Hugging Face datasets name it) or character-span rows
//! `{"text": "...", "entities": [{"start", "end", "label"}]}` (see [`super::entity_spans`]). Tags are `O` or a prefix `B-`,
//! `I-`, `E-`, `S-` and a type, in any of IOB1, IOB2 or BIOES; they are kept as written (no
//! repair): an `I-` tag after `O` begins an entity, as seqeval and transformers' pipeline read it.

use serde::Deserialize;

use super::{
    LabelMap,
    entity_spans::{EntitySpan, words_and_tags},
};
use crate::{Error, Result};

/// One sentence with a tag id per word.
#[derive(Clone, Debug, PartialEq)]
pub struct TaggedSentence {
    pub words: Vec<String>,
    pub tags: Vec<usize>,
    /// Where it came from, for messages: "train.txt:12" (its first line).
    pub origin: String,
}

/// Tagged sentences and their tag set.
#[derive(Clone, Debug)]
pub struct TaggedDataset {
    pub sentences: Vec<TaggedSentence>,
    pub labels: LabelMap,
}

/// A sentence as read, with its tags as text.
struct RawSentence {
    words: Vec<String>,
    tags: Vec<String>,
    origin: String,
}

/// Whether `tag` is one of the schemes' tags: `O`, or `B-`/`I-`/`E-`/`S-` and a non-empty type.
fn valid_tag(tag: &str) -> bool {
    tag == "O" || matches!(tag.split_once('-'), Some(("B" | "I" | "E" | "S", kind)) if !kind.is_empty())
}

fn check_tag(tag: &str, origin: &str) -> Result<()> {
    if valid_tag(tag) {
        return Ok(());
    }
    Err(Error::Data(format!(
        "{origin}: tag {tag:?} is not an entity tag; tags are O or B-, I-, E-, S- and a type (B-PER, I-LOC, …)"
    )))
}

/// Sentences of a CoNLL file.
fn read_conll(text: &str, source: &str) -> Result<Vec<RawSentence>> {
    let mut sentences = Vec::new();
    let mut current: Option<RawSentence> = None;
    for (i, line) in text.lines().enumerate() {
        let origin = format!("{source}:{}", i + 1);
        let line = line.trim();
        if line.is_empty() || line.starts_with("-DOCSTART-") {
            sentences.extend(current.take());
            continue;
        }
        let mut columns = line.split_whitespace();
        let word = columns.next().unwrap_or_default();
        let Some(tag) = columns.next_back() else {
            return Err(Error::Data(format!("{origin}: {line:?} has no tag; CoNLL lines are \"word … TAG\"")));
        };
        check_tag(tag, &origin)?;
        let s = current.get_or_insert_with(|| RawSentence { words: Vec::new(), tags: Vec::new(), origin });
        s.words.push(word.to_string());
        s.tags.push(tag.to_string());
    }
    sentences.extend(current);
    Ok(sentences)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonSentence {
    tokens: Vec<String>,
    #[serde(alias = "ner_tags")]
    tags: Vec<String>,
    #[serde(default, rename = "id")]
    _id: Option<serde_json::Value>,
}

/// A row of character-span annotations (see [`super::entity_spans`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpanRow {
    text: String,
    entities: Vec<EntitySpan>,
    #[serde(default, rename = "id")]
    _id: Option<serde_json::Value>,
}

/// One row as a sentence: `{tokens, tags}` or `{text, entities}`.
fn json_row(v: serde_json::Value, origin: String) -> Result<RawSentence> {
    let not_a_row = |e: String| {
        Error::Data(format!("{origin}: not a {{\"tokens\": [...], \"tags\": [...]}} or {{\"text\": \"...\", \"entities\": [{{\"start\", \"end\", \"label\"}}]}} row: {e}"))
    };
    if v.get("text").is_some() {
        let row: SpanRow = serde_json::from_value(v).map_err(|e| not_a_row(e.to_string()))?;
        let (words, tags) = words_and_tags(&row.text, &row.entities, &origin)?;
        return Ok(RawSentence { words, tags, origin });
    }
    let row: JsonSentence = serde_json::from_value(v).map_err(|e| not_a_row(e.to_string()))?;
    if row.tokens.len() != row.tags.len() {
        return Err(Error::Data(format!("{origin}: {} tokens but {} tags; every token needs one tag", row.tokens.len(), row.tags.len())));
    }
    if row.tokens.is_empty() {
        return Err(Error::Data(format!("{origin}: the sentence has no tokens")));
    }
    for tag in &row.tags {
        check_tag(tag, &origin)?;
    }
    Ok(RawSentence { words: row.tokens, tags: row.tags, origin })
}

/// Sentences of a JSON-lines file, or of a JSON array of rows (the rows of a JS call).
fn read_json_lines(text: &str, source: &str) -> Result<Vec<RawSentence>> {
    let not_json = |origin: &str, e: serde_json::Error| Error::Data(format!("{origin}: not JSON: {e}"));
    if text.trim_start().starts_with('[') {
        let rows: Vec<serde_json::Value> = serde_json::from_str(text).map_err(|e| not_json(source, e))?;
        return rows.into_iter().enumerate().map(|(i, v)| json_row(v, format!("{source} row {}", i + 1))).collect();
    }
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            let origin = format!("{source}:{}", i + 1);
            json_row(serde_json::from_str(line).map_err(|e| not_json(&origin, e))?, origin)
        })
        .collect()
}

/// Reads tagged sentences from a file's bytes: JSON lines when its name ends in `.jsonl`/`.json`,
/// else CoNLL.
fn read_raw(bytes: &[u8], source: &str) -> Result<Vec<RawSentence>> {
    let text = std::str::from_utf8(bytes).map_err(|e| Error::Data(format!("{source}: not UTF-8 text ({e})")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lower = source.to_ascii_lowercase();
    let sentences = if lower.ends_with(".jsonl") || lower.ends_with(".json") { read_json_lines(text, source)? } else { read_conll(text, source)? };
    if sentences.is_empty() {
        return Err(Error::Data(format!(
            "{source}: no sentences; token-classification data is CoNLL (\"word TAG\" lines) or JSON lines {{\"tokens\", \"tags\"}} or {{\"text\", \"entities\"}}"
        )));
    }
    Ok(sentences)
}

impl TaggedDataset {
    /// Training data: the tag set is the file's (sorted as text, so it does not depend on order).
    pub fn read(bytes: &[u8], source: &str) -> Result<Self> {
        let raw = read_raw(bytes, source)?;
        let labels = LabelMap::from_values(raw.iter().flat_map(|s| s.tags.iter().map(String::as_str)), source)?;
        Self::with_ids(raw, labels)
    }

    /// Validation data, with the training data's (or the model's) tag set: a tag outside it is
    /// an error naming its line.
    pub fn read_with_labels(bytes: &[u8], source: &str, labels: LabelMap) -> Result<Self> {
        Self::with_ids(read_raw(bytes, source)?, labels)
    }

    fn with_ids(raw: Vec<RawSentence>, labels: LabelMap) -> Result<Self> {
        let sentences = raw
            .into_iter()
            .map(|s| {
                let tags = s
                    .tags
                    .iter()
                    .map(|t| {
                        labels.names.iter().position(|n| n == t).ok_or_else(|| {
                            Error::Data(format!(
                                "{}: tag {t:?} is not one of the training tags ({}); train and validation data need the same tag set",
                                s.origin,
                                labels.names.join(", ")
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(TaggedSentence { words: s.words, tags, origin: s.origin })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(TaggedDataset { sentences, labels })
    }

    pub fn len(&self) -> usize {
        self.sentences.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sentences.is_empty()
    }

    /// The same sentences with the tags in the order of `names` (a permutation of this dataset's
    /// tags), e.g. to keep the ids of a checkpoint's trained head.
    pub fn reorder_labels(mut self, names: &[String]) -> Result<Self> {
        if !super::labels::same_set(names, &self.labels.names) {
            return Err(Error::Data(format!("tags {:?} are not a reordering of the data's tags {:?}", names, self.labels.names)));
        }
        let map: Vec<usize> = self.labels.names.iter().map(|n| names.iter().position(|m| m == n).unwrap_or(0)).collect();
        for s in &mut self.sentences {
            for t in &mut s.tags {
                *t = map[*t];
            }
        }
        self.labels = LabelMap::from_names(names.to_vec());
        Ok(self)
    }

    /// A sentence's tags as text.
    pub fn tag_names(&self, sentence: &TaggedSentence) -> Vec<String> {
        sentence.tags.iter().map(|&t| self.labels.names[t].clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conll_sentences_split_on_blank_lines_and_skip_docstart() {
        let text = b"-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter B-PER\nBlackburn I-PER\n";
        let d = TaggedDataset::read(text, "train.txt").unwrap();
        assert_eq!(d.labels.names, ["B-ORG", "B-PER", "I-PER", "O"]);
        assert_eq!(d.sentences.len(), 2);
        assert_eq!(d.sentences[0].words, ["EU", "rejects"]);
        assert_eq!(d.tag_names(&d.sentences[1]), ["B-PER", "I-PER"]);
        assert_eq!(d.sentences[1].origin, "train.txt:6");
    }

    #[test]
    fn bad_tags_and_rows_name_their_line() {
        let e = TaggedDataset::read(b"EU B-ORG\nrejects PERSON\n", "t.txt").unwrap_err().to_string();
        assert!(e.contains("t.txt:2") && e.contains("\"PERSON\""), "{e}");
        let e = TaggedDataset::read(b"{\"tokens\": [\"a\"], \"tags\": [\"O\", \"O\"]}\n", "t.jsonl").unwrap_err().to_string();
        assert!(e.contains("t.jsonl:1") && e.contains("1 tokens but 2 tags"), "{e}");
        let train = TaggedDataset::read(b"EU B-ORG\nsaid O\n", "train.txt").unwrap();
        let e = TaggedDataset::read_with_labels(b"Bonn B-LOC\n", "dev.txt", train.labels).unwrap_err().to_string();
        assert!(e.contains("dev.txt:1") && e.contains("\"B-LOC\"") && e.contains("same tag set"), "{e}");
        assert!(TaggedDataset::read(b"\n\n", "empty.txt").unwrap_err().to_string().contains("no sentences"));
    }

    #[test]
    fn json_lines_read_tokens_and_ner_tags() {
        let d = TaggedDataset::read(b"{\"tokens\": [\"Bonn\", \"is\"], \"ner_tags\": [\"S-LOC\", \"O\"]}\n", "t.jsonl").unwrap();
        assert_eq!(d.sentences[0].words, ["Bonn", "is"]);
        assert_eq!(d.labels.names, ["O", "S-LOC"]);
        let rows = TaggedDataset::read(br#"[{"tokens": ["Bonn"], "tags": ["B-LOC"]}, {"tokens": ["is"], "tags": ["O"]}]"#, "data.json").unwrap();
        assert_eq!(rows.sentences.len(), 2);
        let e = TaggedDataset::read(br#"[{"tokens": ["Bonn"]}]"#, "data.json").unwrap_err().to_string();
        assert!(e.contains("data.json row 1") && e.contains("tags"), "{e}");
    }
}
