//! User data → labelled examples → batches: CSV/TSV/JSONL/JSON readers (from bytes, so the same
//! code serves the browser and the CLI), column mapping, label maps, splits, padding.

pub mod dataset;
pub mod labels;
pub mod table;

pub use dataset::{Columns, Dataset, Example, LabelledBatch, epoch_order, make_batch, token_lengths};
pub use labels::LabelMap;
pub use table::{Format, Table};

use crate::Result;

/// Reads a labelled file: parse, then map columns (the label map comes from this file).
pub fn read_labelled(bytes: &[u8], format: Format, source: &str, columns: &Columns) -> Result<Dataset> {
    Dataset::from_table(&Table::parse(bytes, format, source)?, columns)
}
