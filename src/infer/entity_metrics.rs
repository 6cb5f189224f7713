//! Entity-level metrics for token classification, as seqeval computes them in its default
//! (conlleval-compatible, lenient) mode: tags are read as `B-`/`I-`/`E-`/`S-` prefixes plus a type,
//! spans are extracted with conlleval's chunk rules (so `I-PER` after `O` starts an entity, as
//! IOB1 data needs), and an entity counts only when its type and both ends match. Sentences are
//! joined with an `O` between them, as seqeval does with nested lists.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// One entity: its type and its first and last tag positions (inclusive).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub kind: String,
    pub start: usize,
    pub end: usize,
}

/// A tag split as seqeval splits it: the first character, and the type after the first `-`
/// (`_` when there is none, as for `O`).
fn split(tag: &str) -> (char, &str) {
    let mut chars = tag.chars();
    let prefix = chars.next().unwrap_or('O');
    let rest = chars.as_str();
    let kind = rest.split_once('-').map_or(rest, |(_, k)| k);
    (prefix, if kind.is_empty() { "_" } else { kind })
}

fn end_of_chunk(prev: char, tag: char, prev_kind: &str, kind: &str) -> bool {
    matches!(prev, 'E' | 'S')
        || (matches!(prev, 'B' | 'I') && matches!(tag, 'B' | 'S' | 'O'))
        || (prev != 'O' && prev != '.' && prev_kind != kind)
}

fn start_of_chunk(prev: char, tag: char, prev_kind: &str, kind: &str) -> bool {
    matches!(tag, 'B' | 'S')
        || (matches!(prev, 'E' | 'S' | 'O') && matches!(tag, 'E' | 'I'))
        || (tag != 'O' && tag != '.' && prev_kind != kind)
}

/// The entities in a sequence of tags (seqeval's `get_entities`).
pub fn entities<S: AsRef<str>>(tags: &[S]) -> Vec<Span> {
    let mut spans = Vec::new();
    let (mut prev, mut prev_kind, mut begin) = ('O', "", 0);
    for (i, tag) in tags.iter().map(AsRef::as_ref).chain(std::iter::once("O")).enumerate() {
        let (t, kind) = split(tag);
        if end_of_chunk(prev, t, prev_kind, kind) {
            spans.push(Span { kind: prev_kind.to_string(), start: begin, end: i - 1 });
        }
        if start_of_chunk(prev, t, prev_kind, kind) {
            begin = i;
        }
        (prev, prev_kind) = (t, kind);
    }
    spans
}

/// Precision, recall, F1 and the number of true entities of one type.
#[derive(Clone, Debug, PartialEq, Serialize, ts_rs::TS)]
pub struct EntityTypeMetrics {
    pub kind: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Entities of this type in the true tags.
    pub support: usize,
}

/// Entity-level precision, recall and F1 (micro over all types, and per type), and token accuracy.
#[derive(Clone, Debug, PartialEq, Serialize, ts_rs::TS)]
pub struct EntityMetrics {
    /// Mean token cross-entropy over the labelled tokens (when logits were available).
    pub loss: Option<f64>,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Tags right, over all tags (including `O`).
    pub accuracy: f64,
    /// Per entity type, sorted by type.
    pub per_type: Vec<EntityTypeMetrics>,
    /// Which type each entity was given: the entity types (sorted) and `"O"` (no entity with
    /// these exact words); `confusion[i][j]` counts entities of true type `labels[i]` predicted as
    /// `labels[j]` over the same words — a true entity missed or cut otherwise counts in the `O`
    /// column, a predicted one with no true entity on its words in the `O` row.
    pub confusion_labels: Vec<String>,
    pub confusion: Vec<Vec<usize>>,
    /// Sentences evaluated.
    pub examples: usize,
}

/// Metrics a token-classification evaluation reports (what `metric` may name).
pub const ENTITY_METRICS: &[&str] = &["f1", "precision", "recall", "accuracy", "loss"];

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
}

/// The entity confusion of [`EntityMetrics::confusion`]: labels (types, then `"O"`) and counts.
fn confusion(truth: &[Span], predicted: &[Span]) -> (Vec<String>, Vec<Vec<usize>>) {
    let mut labels: Vec<String> = truth.iter().chain(predicted).map(|s| s.kind.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    labels.push("O".into());
    let index = |kind: &str| labels.iter().position(|l| l == kind).unwrap_or(labels.len() - 1);
    fn at(spans: &[Span]) -> BTreeMap<(usize, usize), &str> {
        spans.iter().map(|s| ((s.start, s.end), s.kind.as_str())).collect()
    }
    let (true_at, pred_at) = (at(truth), at(predicted));
    let none = labels.len() - 1;
    let mut counts = vec![vec![0; labels.len()]; labels.len()];
    for (words, kind) in &true_at {
        counts[index(kind)][pred_at.get(words).map_or(none, |k| index(k))] += 1;
    }
    for (words, kind) in &pred_at {
        if !true_at.contains_key(words) {
            counts[none][index(kind)] += 1;
        }
    }
    (labels, counts)
}

impl EntityMetrics {
    /// From the true and predicted tags of each sentence (the same lengths; sentences whose
    /// lengths differ are an error of the caller, reported as `Err`).
    pub fn compute<S: AsRef<str>>(truth: &[Vec<S>], predicted: &[Vec<S>], loss: Option<f64>) -> crate::Result<EntityMetrics> {
        if truth.len() != predicted.len() || truth.iter().zip(predicted).any(|(t, p)| t.len() != p.len()) {
            return Err(crate::Error::Data("entity metrics: the true and predicted tags differ in length".into()));
        }
        let joined = |seqs: &[Vec<S>]| -> Vec<String> {
            seqs.iter().flat_map(|s| s.iter().map(|t| t.as_ref().to_string()).chain(std::iter::once("O".to_string()))).collect()
        };
        let (t, p) = (joined(truth), joined(predicted));
        let by_type = |spans: Vec<Span>| {
            let mut m: BTreeMap<String, BTreeSet<(usize, usize)>> = BTreeMap::new();
            for s in spans {
                m.entry(s.kind).or_default().insert((s.start, s.end));
            }
            m
        };
        let (true_list, pred_list) = (entities(&t), entities(&p));
        let (confusion_labels, confusion) = confusion(&true_list, &pred_list);
        let (true_spans, pred_spans) = (by_type(true_list), by_type(pred_list));
        let kinds: BTreeSet<&String> = true_spans.keys().chain(pred_spans.keys()).collect();
        let empty = BTreeSet::new();
        let (mut tp_all, mut pred_all, mut true_all) = (0, 0, 0);
        let per_type = kinds
            .into_iter()
            .map(|kind| {
                let (ts, ps) = (true_spans.get(kind).unwrap_or(&empty), pred_spans.get(kind).unwrap_or(&empty));
                let tp = ts.intersection(ps).count();
                (tp_all, pred_all, true_all) = (tp_all + tp, pred_all + ps.len(), true_all + ts.len());
                let (precision, recall) = (ratio(tp, ps.len()), ratio(tp, ts.len()));
                EntityTypeMetrics { kind: kind.clone(), precision, recall, f1: f1(precision, recall), support: ts.len() }
            })
            .collect();
        let tags = truth.iter().map(Vec::len).sum::<usize>();
        let right = truth.iter().zip(predicted).flat_map(|(t, p)| t.iter().zip(p)).filter(|(a, b)| a.as_ref() == b.as_ref()).count();
        let (precision, recall) = (ratio(tp_all, pred_all), ratio(tp_all, true_all));
        Ok(EntityMetrics {
            loss,
            precision,
            recall,
            f1: f1(precision, recall),
            accuracy: ratio(right, tags),
            per_type,
            confusion_labels,
            confusion,
            examples: truth.len(),
        })
    }

    /// A metric by name (see [`ENTITY_METRICS`]).
    pub fn get(&self, name: &str) -> Option<f64> {
        match name {
            "f1" => Some(self.f1),
            "precision" => Some(self.precision),
            "recall" => Some(self.recall),
            "accuracy" => Some(self.accuracy),
            "loss" => self.loss,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(tags: &str) -> Vec<(String, usize, usize)> {
        let tags: Vec<&str> = tags.split_whitespace().collect();
        entities(&tags).into_iter().map(|s| (s.kind, s.start, s.end)).collect()
    }

    #[test]
    fn chunks_follow_conlleval() {
        let s = |k: &str, a, b| (k.to_string(), a, b);
        assert_eq!(spans("B-PER I-PER O B-LOC"), vec![s("PER", 0, 1), s("LOC", 3, 3)]);
        // IOB1: I- after O starts an entity; a type change ends one
        assert_eq!(spans("I-PER I-PER I-LOC O"), vec![s("PER", 0, 1), s("LOC", 2, 2)]);
        assert_eq!(spans("S-PER B-LOC E-LOC"), vec![s("PER", 0, 0), s("LOC", 1, 2)]);
        assert_eq!(spans("B-PER B-PER"), vec![s("PER", 0, 0), s("PER", 1, 1)]);
        assert_eq!(spans("O O"), vec![]);
    }
}
