//! User data → labelled examples → batches: CSV/TSV/JSONL/JSON readers (from bytes, so the same
//! code serves the browser and the CLI), column mapping, label maps, splits, padding.

pub mod dataset;
pub mod labels;
pub mod table;
pub mod text;

pub use dataset::{Columns, Dataset, Example, LabelledBatch, epoch_order, make_batch, split_off, token_lengths};
pub use labels::LabelMap;
pub use table::{Format, Table};
pub use text::{TextColumns, TextExample, text_examples};

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
    match validation {
        Some(table) => {
            let v = Dataset::with_labels(table, columns, train.labels.clone())?;
            Ok((train, Some(v)))
        }
        None if split == 0.0 => Ok((train, None)),
        None => train.split(split, seed).map(|(t, v)| (t, Some(v))),
    }
}

/// Reads a labelled file: parse, then map columns (the label map comes from this file).
pub fn read_labelled(bytes: &[u8], format: Format, source: &str, columns: &Columns) -> Result<Dataset> {
    Dataset::from_table(&Table::parse(bytes, format, source)?, columns)
}
