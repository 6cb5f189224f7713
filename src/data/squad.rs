//! Extractive question-answering data: SQuAD v1.1 / v2.0 JSON (`data[].paragraphs[].context`,
//! `qas[].{id, question, answers[{text, answer_start}], is_impossible}`), or rows — a JSON array or
//! JSON lines — as the Hugging Face `squad` datasets hold them: `{id, question, context, answers:
//! {text: [...], answer_start: [...]}}`. Offsets are characters (Unicode scalar values), as in
//! SQuAD's files.
//!
//! An `answer_start` that does not point at its text is repaired to the text's occurrence in the
//! context nearest to it (SQuAD has a few off by some characters); an answer whose text is not in
//! the context at all is an error naming the question.

use serde::Deserialize;

use crate::{Error, Result};

/// One reference answer: its text and where it starts in the context (characters).
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub text: String,
    pub start: usize,
}

/// One question about one context, with its reference answers (none: unanswerable, SQuAD 2.0).
#[derive(Clone, Debug, PartialEq)]
pub struct QaExample {
    pub id: String,
    pub question: String,
    pub context: String,
    pub answers: Vec<Answer>,
    /// Where it came from, for messages: "train.json question 5733be28…".
    pub origin: String,
}

#[derive(Deserialize)]
struct SquadFile {
    data: Vec<Article>,
}

#[derive(Deserialize)]
struct Article {
    paragraphs: Vec<Paragraph>,
}

#[derive(Deserialize)]
struct Paragraph {
    context: String,
    qas: Vec<SquadQuestion>,
}

#[derive(Deserialize)]
struct SquadQuestion {
    #[serde(default)]
    id: Option<String>,
    question: String,
    #[serde(default)]
    answers: Vec<SquadAnswer>,
    #[serde(default)]
    is_impossible: bool,
}

#[derive(Deserialize)]
struct SquadAnswer {
    text: String,
    answer_start: usize,
}

#[derive(Deserialize)]
struct Row {
    #[serde(default)]
    id: Option<serde_json::Value>,
    question: String,
    context: String,
    #[serde(default)]
    answers: Option<RowAnswers>,
}

#[derive(Deserialize)]
struct RowAnswers {
    text: Vec<String>,
    answer_start: Vec<usize>,
}

/// The answer's start, checked against the context (characters): as given when the text is
/// there, else its nearest occurrence.
fn place(context: &[char], text: &str, start: usize, origin: &str) -> Result<usize> {
    let needle: Vec<char> = text.chars().collect();
    if needle.is_empty() {
        return Err(Error::Data(format!("{origin}: an answer's text is empty")));
    }
    let at = |s: usize| context.get(s..s + needle.len()) == Some(&needle[..]);
    if at(start) {
        return Ok(start);
    }
    (0..=context.len().saturating_sub(needle.len()))
        .filter(|&s| at(s))
        .min_by_key(|&s| s.abs_diff(start))
        .ok_or_else(|| Error::Data(format!("{origin}: the answer {text:?} is not in the context; fix its text or its context")))
}

fn example(id: String, question: String, context: String, answers: Vec<(String, usize)>, origin: String) -> Result<QaExample> {
    if question.trim().is_empty() || context.trim().is_empty() {
        return Err(Error::Data(format!("{origin}: the question or the context is empty")));
    }
    let chars: Vec<char> = context.chars().collect();
    let answers = answers
        .into_iter()
        .map(|(text, start)| Ok(Answer { start: place(&chars, &text, start, &origin)?, text }))
        .collect::<Result<Vec<_>>>()?;
    Ok(QaExample { id, question, context, answers, origin })
}

fn from_squad(file: SquadFile, source: &str) -> Result<Vec<QaExample>> {
    let mut out = Vec::new();
    for article in file.data {
        for p in article.paragraphs {
            for q in p.qas {
                let id = q.id.unwrap_or_else(|| format!("{}", out.len()));
                let origin = format!("{source} question {id}");
                let answers = if q.is_impossible { Vec::new() } else { q.answers.into_iter().map(|a| (a.text, a.answer_start)).collect() };
                out.push(example(id, q.question, p.context.clone(), answers, origin)?);
            }
        }
    }
    Ok(out)
}

fn from_row(row: Row, index: usize, origin: String) -> Result<QaExample> {
    let id = match row.id {
        Some(serde_json::Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => index.to_string(),
    };
    let answers = match row.answers {
        None => Vec::new(),
        Some(a) if a.text.len() != a.answer_start.len() => {
            return Err(Error::Data(format!("{origin}: answers has {} texts but {} answer_start values", a.text.len(), a.answer_start.len())));
        }
        Some(a) => a.text.into_iter().zip(a.answer_start).collect(),
    };
    example(id, row.question, row.context, answers, origin)
}

/// Reads question-answering examples from a file's bytes (SQuAD JSON, a JSON array of rows, or
/// JSON lines).
pub fn read_squad(bytes: &[u8], source: &str) -> Result<Vec<QaExample>> {
    let text = std::str::from_utf8(bytes).map_err(|e| Error::Data(format!("{source}: not UTF-8 text ({e})")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text).trim_start();
    let shape = "SQuAD JSON ({\"data\": [{\"paragraphs\": …}]}) or rows {question, context, answers: {text, answer_start}}";
    let examples = if text.starts_with('{') && serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| v.get("data").is_some()) {
        let file: SquadFile = serde_json::from_str(text).map_err(|e| Error::Data(format!("{source}: not {shape}: {e}")))?;
        from_squad(file, source)?
    } else if text.starts_with('[') {
        let rows: Vec<serde_json::Value> = serde_json::from_str(text).map_err(|e| Error::Data(format!("{source}: not {shape}: {e}")))?;
        rows.into_iter()
            .enumerate()
            .map(|(i, v)| {
                let origin = format!("{source} row {}", i + 1);
                let row: Row = serde_json::from_value(v).map_err(|e| Error::Data(format!("{origin}: not a {{question, context, answers}} row: {e}")))?;
                from_row(row, i, origin)
            })
            .collect::<Result<_>>()?
    } else {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, line)| {
                let origin = format!("{source}:{}", i + 1);
                let row: Row = serde_json::from_str(line).map_err(|e| Error::Data(format!("{origin}: not a {{question, context, answers}} row: {e}")))?;
                from_row(row, i, origin)
            })
            .collect::<Result<_>>()?
    };
    if examples.is_empty() {
        return Err(Error::Data(format!("{source}: no questions; question-answering data is {shape}")));
    }
    Ok(examples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squad_files_and_rows_read_the_same_examples() {
        let squad = r#"{"version": "2.0", "data": [{"paragraphs": [{"context": "Zoë wrote it in Bonn.", "qas": [
            {"id": "q1", "question": "Who?", "answers": [{"text": "Zoë", "answer_start": 0}]},
            {"id": "q2", "question": "When?", "answers": [], "is_impossible": true}]}]}]}"#.as_bytes();
        let a = read_squad(squad, "dev.json").unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].answers, [Answer { text: "Zoë".into(), start: 0 }]);
        assert!(a[1].answers.is_empty());
        let rows = r#"{"id": "q1", "question": "Where?", "context": "Zoë wrote it in Bonn.", "answers": {"text": ["Bonn"], "answer_start": [14]}}"#.as_bytes();
        let r = read_squad(rows, "rows.jsonl").unwrap();
        assert_eq!(r[0].answers[0].start, 16, "an answer_start off by two is moved to its text");
    }

    #[test]
    fn an_answer_outside_its_context_names_the_question() {
        let rows = r#"[{"id": 7, "question": "Where?", "context": "Zoë wrote it.", "answers": {"text": ["Bonn"], "answer_start": [3]}}]"#.as_bytes();
        let e = read_squad(rows, "rows.json").unwrap_err().to_string();
        assert!(e.contains("rows.json row 1") && e.contains("\"Bonn\" is not in the context"), "{e}");
        assert!(read_squad(b"", "empty.jsonl").unwrap_err().to_string().contains("no questions"));
    }
}
