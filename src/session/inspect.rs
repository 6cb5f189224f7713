//! A first look at a file for the encoder tasks other than classification (classification's is
//! [`crate::data::inspect()`]): what the task's reader makes of it — sentences and their entities,
//! questions and their answers in context, or plain texts — with counts and what looks thin. The
//! studio shows it before anything is loaded on the device; a file the reader refuses is the
//! reader's error, naming the line.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{DataFile, Task};
use crate::{
    Error, Result,
    data::{TextColumns, inspect::LabelCount, squad::read_squad, tagged::TaggedDataset},
    infer::entity_metrics::entities,
};

/// Examples below which a task's data is called thin.
const FEW_EXAMPLES: usize = 50;
/// Entity types with fewer examples than this are reported.
const FEW_ENTITIES: usize = 10;

/// What [`inspect_task_data`] is told.
#[derive(Clone, Debug, Default, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskInspectOptions {
    /// Examples in `preview` (default 5, at most 50).
    #[ts(optional)]
    pub preview_rows: Option<usize>,
    /// fill-mask: the column of a table's texts (default `"text"`; a `.txt` file is read line by line).
    #[ts(optional)]
    pub text: Option<String>,
}

/// One entity of a preview sentence: its words `start..end` (end exclusive) and its type.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
pub struct EntitySpan {
    pub start: usize,
    pub end: usize,
    pub label: String,
}

/// A preview sentence: its words and entities.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
pub struct TaggedPreview {
    pub words: Vec<String>,
    pub entities: Vec<EntitySpan>,
}

/// A piece of a preview context: text, and whether it is the (first) reference answer.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
pub struct ContextPart {
    pub text: String,
    pub answer: bool,
}

/// A preview question: its context cut into parts around the first answer (one part, not an
/// answer, for an unanswerable question), and every reference answer's text.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
pub struct QuestionPreview {
    pub question: String,
    pub context: Vec<ContextPart>,
    pub answers: Vec<String>,
}

/// What a file holds for `task`, as the studio shows it.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum TaskDataSummary {
    /// token-classification: sentences, their tags, entities per type (most frequent first).
    Entities { sentences: usize, words: usize, tags: Vec<String>, entity_counts: Vec<LabelCount>, preview: Vec<TaggedPreview>, warnings: Vec<String> },
    /// question-answering: questions, distinct contexts, unanswerable questions (SQuAD 2.0).
    Questions { questions: usize, contexts: usize, unanswerable: usize, preview: Vec<QuestionPreview>, warnings: Vec<String> },
    /// fill-mask: texts and their longest, in characters.
    Texts { texts: usize, longest: usize, preview: Vec<String>, warnings: Vec<String> },
}

/// Reads `file` as `task` reads its training data and summarises it (see the module docs).
pub fn inspect_task_data(file: &DataFile, task: Task, options: &TaskInspectOptions) -> Result<TaskDataSummary> {
    let preview = options.preview_rows.unwrap_or(5).min(50);
    match task {
        Task::TokenClassification => Ok(entities_summary(&TaggedDataset::read(&file.bytes, &file.name)?, preview)),
        Task::QuestionAnswering => Ok(questions_summary(&read_squad(&file.bytes, &file.name)?, preview)),
        Task::FillMask => {
            let columns = TextColumns { text: options.text.clone().unwrap_or_else(|| "text".into()), ..TextColumns::default() };
            let texts = super::SessionData { train: file.clone(), validation: None, validation_split: 0.0 }.plain_texts(&columns, 0)?.0;
            Ok(texts_summary(&texts, preview))
        }
        other => Err(Error::Options(format!(
            "inspectData: task {:?} has its own summary (leave task out for text-classification files); tasks with one here are token-classification, question-answering, fill-mask",
            other.name()
        ))),
    }
}

fn thin(n: usize, what: &str) -> Option<String> {
    (n < FEW_EXAMPLES).then(|| format!("only {n} {what}: fine-tuning learns little from so few; a few hundred are a good start"))
}

fn entities_summary(data: &TaggedDataset, preview: usize) -> TaskDataSummary {
    let mut counts: Vec<LabelCount> = Vec::new();
    let mut shown = Vec::new();
    for (i, sentence) in data.sentences.iter().enumerate() {
        let spans = entities(&data.tag_names(sentence));
        for s in &spans {
            match counts.iter_mut().find(|c| c.label == s.kind) {
                Some(c) => c.count += 1,
                None => counts.push(LabelCount { label: s.kind.clone(), count: 1 }),
            }
        }
        if i < preview {
            let entities = spans.into_iter().map(|s| EntitySpan { start: s.start, end: s.end + 1, label: s.kind }).collect();
            shown.push(TaggedPreview { words: sentence.words.clone(), entities });
        }
    }
    counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.label.cmp(&b.label)));
    let mut warnings: Vec<String> = thin(data.len(), "sentences").into_iter().collect();
    if counts.is_empty() {
        warnings.push("no sentence has an entity (every tag is O): there is nothing to learn".into());
    }
    for c in counts.iter().filter(|c| c.count < FEW_ENTITIES) {
        warnings.push(format!("only {} {} entities: the model will rarely find this type", c.count, c.label));
    }
    TaskDataSummary::Entities {
        sentences: data.len(),
        words: data.sentences.iter().map(|s| s.words.len()).sum(),
        tags: data.labels.names.clone(),
        entity_counts: counts,
        preview: shown,
        warnings,
    }
}

fn questions_summary(examples: &[crate::data::squad::QaExample], preview: usize) -> TaskDataSummary {
    let mut contexts: Vec<&str> = examples.iter().map(|e| e.context.as_str()).collect();
    contexts.sort_unstable();
    contexts.dedup();
    let unanswerable = examples.iter().filter(|e| e.answers.is_empty()).count();
    let shown = examples
        .iter()
        .take(preview)
        .map(|e| {
            let context = match e.answers.first() {
                // `start` counts characters; the reader checked that the answer is there
                Some(a) => {
                    let chars: Vec<char> = e.context.chars().collect();
                    let end = (a.start + a.text.chars().count()).min(chars.len());
                    let start = a.start.min(end);
                    let part = |r: std::ops::Range<usize>, answer| ContextPart { text: chars[r].iter().collect(), answer };
                    vec![part(0..start, false), part(start..end, true), part(end..chars.len(), false)]
                }
                None => vec![ContextPart { text: e.context.clone(), answer: false }],
            };
            QuestionPreview { question: e.question.clone(), context, answers: e.answers.iter().map(|a| a.text.clone()).collect() }
        })
        .collect();
    let mut warnings: Vec<String> = thin(examples.len(), "questions").into_iter().collect();
    if unanswerable == examples.len() {
        warnings.push("no question has an answer: the model can only learn to answer nothing".into());
    }
    TaskDataSummary::Questions { questions: examples.len(), contexts: contexts.len(), unanswerable, preview: shown, warnings }
}

fn texts_summary(texts: &[String], preview: usize) -> TaskDataSummary {
    TaskDataSummary::Texts {
        texts: texts.len(),
        longest: texts.iter().map(|t| t.chars().count()).max().unwrap_or(0),
        preview: texts.iter().take(preview).cloned().collect(),
        warnings: thin(texts.len(), "texts").into_iter().collect(),
    }
}
