//! User data → labelled examples → batches: CSV/TSV/JSONL/JSON readers (from bytes, so the same
//! code serves the browser and the CLI), column mapping, label maps, splits, padding.

pub mod contrastive_pairs;
pub mod augment;
pub mod contextual;
pub mod conversation;
pub mod dataset;
pub mod entity_spans;
pub mod inspect;
pub mod labels;
pub mod masking;
pub mod mersenne;
pub mod qa_features;
pub mod squad;
pub mod table;
pub mod tagged;
pub mod tagged_batch;
pub mod text;

pub use dataset::{Columns, Dataset, Example, LabelledBatch, batch_tensors, epoch_order, make_batch, split_off, token_lengths};
pub use inspect::{DataSummary, InspectOptions, inspect};
pub use labels::LabelMap;
pub use table::{Format, Table};
pub use text::{TextColumns, TextContent, TextExample, text_examples};

use crate::Result;

/// Parses a file whose name (`train.csv`, `dev.tsv`, …) gives the format.
pub fn parse_named(bytes: &[u8], name: &str) -> Result<Table> {
    Table::parse(bytes, Format::from_file_name(name)?, name)
}

/// Training and validation data: the validation table when given (with the training labels),
/// else `split` of the training rows held out (seeded), else none when `split` is 0.
pub fn train_and_validation(
    train: Dataset,
    validation: Option<&Table>,
    columns: &Columns,
    split: f64,
    seed: u64,
) -> Result<(Dataset, Option<Dataset>)> {
    let validation = validation.map(|t| Dataset::with_labels(t, columns, train.labels.clone())).transpose()?;
    let labels = train.labels;
    let (examples, held) = hold_out(train.examples, validation.map(|v| v.examples), split, seed)?;
    let validation = held.map(|examples| Dataset { examples, labels: labels.clone() });
    Ok((Dataset { examples, labels }, validation))
}

/// Training and validation rows: `validation` when given, else `split` of `train` held out
/// (seeded), else none when `split` is 0.
pub fn hold_out<T>(train: Vec<T>, validation: Option<Vec<T>>, split: f64, seed: u64) -> Result<(Vec<T>, Option<Vec<T>>)> {
    match validation {
        Some(v) => Ok((train, Some(v))),
        None if split == 0.0 => Ok((train, None)),
        None => split_off(train, split, seed).map(|(t, v)| (t, Some(v))),
    }
}

/// Reads a labelled file: parse, then map columns (the label map comes from this file).
pub fn read_labelled(bytes: &[u8], format: Format, source: &str, columns: &Columns) -> Result<Dataset> {
    Dataset::from_table(&Table::parse(bytes, format, source)?, columns)
}
