//! A first look at a user's file before training: its columns, the first rows, which columns
//! probably hold the text and the label (or the prompt and completion), the label counts, and
//! what looks wrong (a single class, heavy imbalance, missing cells, texts `maxLength` will cut).
//! The studio shows this before anything is loaded on the device.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::table::Table;

/// Column names that say what they hold, most telling first (matched case-insensitively).
const TEXT_NAMES: &[&str] = &["text", "sentence", "review", "content", "message", "comment", "body", "question", "utterance", "tweet", "document"];
const LABEL_NAMES: &[&str] = &["label", "labels", "class", "category", "intent", "sentiment", "target", "topic", "stars", "rating"];
/// Preview cells are cut to this many characters (the page shows them whole elsewhere if needed).
const PREVIEW_CHARS: usize = 300;
/// Classes whose largest count is at least this many times the smallest are "heavily imbalanced".
const IMBALANCE: usize = 10;

/// What [`inspect`] is told.
#[derive(Clone, Debug, Default, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InspectOptions {
    /// The label column, instead of the guess.
    #[ts(optional)]
    pub label: Option<String>,
    /// The text column, instead of the guess.
    #[ts(optional)]
    pub text: Option<String>,
    /// Tokens the model will read per example (default 128): longer texts are reported.
    #[ts(optional)]
    pub max_length: Option<usize>,
    /// Rows in `preview` (default 10, at most 100).
    #[ts(optional)]
    pub preview_rows: Option<usize>,
    /// Augmentation to preview: the first rows' texts, each with an augmented copy made as
    /// training with these `augment` options makes them (training draws afresh per row and
    /// epoch); the words "substitute" and "insert" leave to a masked language model show as
    /// `[MASK]`.
    #[ts(optional)]
    pub augment: Option<super::augment::AugmentOptions>,
    /// The run's seed, for `augment` without a seed of its own (default 42, as training's).
    #[ts(optional)]
    pub seed: Option<u64>,
}

/// What a file holds, as the studio shows it.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DataSummary {
    pub columns: Vec<String>,
    /// Data rows (the header excluded).
    pub rows: usize,
    /// The first rows, a cell per column (`null` where missing; long cells cut, ending in "…").
    pub preview: Vec<Vec<Option<String>>>,
    /// The column that most likely holds the text (`null` when none does).
    pub text: Option<String>,
    /// The column that most likely holds the label (`null` when none looks like one).
    pub label: Option<String>,
    /// `prompt` and `completion` columns, when the file has both (a causal-LM file).
    pub prompt_completion: bool,
    /// Each value of the label column and its rows, most frequent first.
    pub label_counts: Vec<LabelCount>,
    /// The text column's longest cell and its 95th percentile, in characters.
    pub longest_text: usize,
    pub p95_text: usize,
    /// Things to fix or know before training, each a sentence.
    pub warnings: Vec<String>,
    /// With `augment`: the first rows' texts and an augmented copy of each, for a look at what
    /// the options do.
    pub augmented: Vec<Augmented>,
}

/// A text and an augmented copy of it.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
pub struct Augmented {
    pub original: String,
    pub augmented: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, TS)]
pub struct LabelCount {
    pub label: String,
    pub count: usize,
}

/// Looks at `table` (see the module docs).
pub fn inspect(table: &Table, options: &InspectOptions) -> DataSummary {
    let cells = |j: usize| table.rows.iter().map(move |r| r.get(j).cloned().flatten());
    let named = |names: &[&str], skip: Option<usize>| {
        names.iter().find_map(|n| table.columns.iter().position(|c| c.eq_ignore_ascii_case(n)).filter(|&j| Some(j) != skip))
    };
    let given = |c: &Option<String>| c.as_ref().and_then(|c| table.columns.iter().position(|x| x == c));
    let label = given(&options.label).or_else(|| named(LABEL_NAMES, None)).or_else(|| likely_label(table));
    let text = given(&options.text).or_else(|| named(TEXT_NAMES, label)).or_else(|| longest_column(table, label));
    let has = |n: &str| table.columns.iter().any(|c| c == n);
    let mut warnings = Vec::new();

    let mut counts: Vec<LabelCount> = Vec::new();
    if let Some(j) = label {
        let mut by_value: HashMap<String, usize> = HashMap::new();
        let mut missing = 0;
        for cell in cells(j) {
            match cell.map(|c| c.trim().to_string()).filter(|c| !c.is_empty()) {
                Some(v) => *by_value.entry(v).or_default() += 1,
                None => missing += 1,
            }
        }
        counts = by_value.into_iter().map(|(label, count)| LabelCount { label, count }).collect();
        counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.label.cmp(&b.label)));
        let name = &table.columns[j];
        match counts.as_slice() {
            [] => warnings.push(format!("the label column {name:?} is empty in every row")),
            [only] => warnings.push(format!("the label column {name:?} has one class ({:?}): a classifier needs at least two", only.label)),
            [most, .., least] if most.count >= IMBALANCE * least.count => warnings.push(format!(
                "the classes are heavily imbalanced: {:?} has {} rows, {:?} only {}; add rows of the rare classes, or judge the model by macro-F1 rather than accuracy",
                most.label, most.count, least.label, least.count
            )),
            _ => {}
        }
        if counts.len() > 50 {
            warnings.push(format!("the label column {name:?} has {} different values: is it really the label?", counts.len()));
        }
        if missing > 0 {
            warnings.push(format!("{missing} row(s) have no {name:?}: training refuses rows without a label"));
        }
    }

    let (mut longest_text, mut p95_text) = (0, 0);
    if let Some(j) = text {
        let mut lengths: Vec<usize> = cells(j).map(|c| c.map_or(0, |c| c.chars().count())).collect();
        lengths.sort_unstable();
        longest_text = lengths.last().copied().unwrap_or(0);
        p95_text = lengths.get(lengths.len().saturating_sub(1) * 95 / 100).copied().unwrap_or(0);
        let max_length = options.max_length.unwrap_or(128);
        // English averages about 4 characters per token in BERT's and GPT-2's vocabularies
        let cut = lengths.iter().filter(|&&n| n / 4 > max_length).count();
        if cut > 0 {
            warnings.push(format!(
                "about {cut} text(s) are longer than maxLength ({max_length} tokens, ~{} characters) and will be cut; raise maxLength to keep more of them",
                max_length * 4
            ));
        }
        let empty = lengths.iter().filter(|&&n| n == 0).count();
        if empty > 0 {
            warnings.push(format!("{empty} row(s) have an empty {:?}", table.columns[j]));
        }
    }
    if text.is_none() {
        warnings.push("no column looks like text; name the text column".into());
    }

    let preview_rows = options.preview_rows.unwrap_or(10).min(100);
    let seed = options.seed.unwrap_or(42);
    let augmented = match (&options.augment, text) {
        (Some(a), Some(j)) => cells(j)
            .take(preview_rows)
            .enumerate()
            .filter_map(|(i, t)| t.map(|t| Augmented { augmented: shorten(&a.draft(&t, seed, 0, i, 1).preview("[MASK]")), original: shorten(&t) }))
            .collect(),
        _ => Vec::new(),
    };
    let preview = table
        .rows
        .iter()
        .take(preview_rows)
        .map(|row| (0..table.columns.len()).map(|j| row.get(j).cloned().flatten().map(|c| shorten(&c))).collect())
        .collect();
    DataSummary {
        columns: table.columns.clone(),
        rows: table.rows.len(),
        preview,
        text: text.map(|j| table.columns[j].clone()),
        label: label.map(|j| table.columns[j].clone()),
        prompt_completion: has("prompt") && has("completion"),
        label_counts: counts,
        longest_text,
        p95_text,
        warnings,
        augmented,
    }
}

/// The column with the fewest distinct short values, if one looks like a label: 2 to 50 values
/// that repeat (fewer than half the rows), averaging at most 30 characters.
fn likely_label(table: &Table) -> Option<usize> {
    let rows = table.rows.len();
    (0..table.columns.len())
        .filter_map(|j| {
            let values: Vec<&str> = table.rows.iter().filter_map(|r| r.get(j).and_then(|c| c.as_deref())).collect();
            let distinct = values.iter().collect::<std::collections::HashSet<_>>().len();
            let mean = values.iter().map(|v| v.chars().count()).sum::<usize>() / values.len().max(1);
            ((2..=50).contains(&distinct) && distinct * 2 <= rows && mean <= 30).then_some((distinct, j))
        })
        .min()
        .map(|(_, j)| j)
}

/// The column (other than `skip`) with the longest cells on average.
fn longest_column(table: &Table, skip: Option<usize>) -> Option<usize> {
    (0..table.columns.len())
        .filter(|&j| Some(j) != skip)
        .map(|j| (table.rows.iter().map(|r| r.get(j).and_then(|c| c.as_deref()).map_or(0, |c| c.chars().count())).sum::<usize>(), j))
        .filter(|&(chars, _)| chars > 0)
        .max()
        .map(|(_, j)| j)
}

fn shorten(cell: &str) -> String {
    match cell.char_indices().nth(PREVIEW_CHARS) {
        Some((cut, _)) => format!("{}…", &cell[..cut]),
        None => cell.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Format;

    fn table(text: &str, format: Format) -> Table {
        Table::parse(text.as_bytes(), format, "t").unwrap()
    }

    #[test]
    fn guesses_text_and_label_and_counts_the_classes() {
        let csv = "id,review,stars\n1,\"a fine, long film\",good\n2,dull,bad\n3,fun,good\n4,\"great, really\",good\n";
        let s = inspect(&table(csv, Format::Csv), &InspectOptions::default());
        assert_eq!((s.text.as_deref(), s.label.as_deref(), s.rows), (Some("review"), Some("stars"), 4));
        assert_eq!(s.label_counts, vec![LabelCount { label: "good".into(), count: 3 }, LabelCount { label: "bad".into(), count: 1 }]);
        assert_eq!(s.preview[0], vec![Some("1".into()), Some("a fine, long film".into()), Some("good".into())]);
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    }

    /// The demo's sample, as docs/API.md shows it.
    #[test]
    fn the_demo_sample_reads_as_readme_says() {
        let csv = include_str!("../../www/samples/support-tickets.csv");
        let s = inspect(&table(csv, Format::Csv), &InspectOptions { max_length: Some(64), preview_rows: Some(3), ..Default::default() });
        assert_eq!((s.rows, s.text.as_deref(), s.label.as_deref(), s.prompt_completion), (360, Some("text"), Some("label"), false));
        let counts: Vec<(&str, usize)> = s.label_counts.iter().map(|c| (c.label.as_str(), c.count)).collect();
        assert_eq!(counts, [("account", 90), ("billing", 90), ("delivery", 90), ("technical", 90)]);
        assert_eq!((s.longest_text, s.p95_text, s.preview.len()), (119, 87, 3));
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    }

    #[test]
    fn unnamed_columns_are_guessed_from_their_values() {
        let rows: String = (0..40).map(|i| format!("{{\"a\": \"message number {i} about something\", \"b\": \"{}\"}}\n", ["x", "y", "z"][i % 3])).collect();
        let s = inspect(&table(&rows, Format::Jsonl), &InspectOptions::default());
        assert_eq!((s.text.as_deref(), s.label.as_deref()), (Some("a"), Some("b")));
        assert_eq!(s.label_counts.len(), 3);
    }

    #[test]
    fn what_looks_wrong_is_said() {
        let mut csv = String::from("text,label\n");
        for i in 0..30 {
            csv += &format!("row {i},a\n");
        }
        let one = inspect(&table(&csv, Format::Csv), &InspectOptions::default());
        assert!(one.warnings.iter().any(|w| w.contains("one class (\"a\")")), "{:?}", one.warnings);
        csv += &format!("{},b\n", "word ".repeat(200));
        csv += "no label here,\n";
        let s = inspect(&table(&csv, Format::Csv), &InspectOptions { max_length: Some(64), ..Default::default() });
        let all = s.warnings.join(" | ");
        assert!(all.contains("heavily imbalanced: \"a\" has 30 rows, \"b\" only 1"), "{all}");
        assert!(all.contains("about 1 text(s) are longer than maxLength (64 tokens"), "{all}");
        assert!(all.contains("1 row(s) have no \"label\""), "{all}");
        assert_eq!(s.longest_text, 1000);
        assert!(s.preview[0][0].is_some());
    }

    #[test]
    fn long_cells_are_cut_in_the_preview_and_the_options_win() {
        let csv = format!("x,y\n{},1\nshort,2\n", "é".repeat(400));
        let s = inspect(&table(&csv, Format::Csv), &InspectOptions { text: Some("x".into()), label: Some("y".into()), preview_rows: Some(1), ..Default::default() });
        assert_eq!(s.preview.len(), 1);
        assert_eq!(s.preview[0][0].as_ref().unwrap().chars().count(), PREVIEW_CHARS + 1);
        assert_eq!((s.text.as_deref(), s.label.as_deref()), (Some("x"), Some("y")));
    }
}
