//! Data files: CSV/TSV/JSONL/JSON/TXT (the first byte picks the format) → table → labelled
//! examples (with and without a text-pair column) and language-model rows (texts, pairs, Alpaca,
//! `messages` and ShareGPT conversations).
#![no_main]
use libfuzzer_sys::fuzz_target;
use webtune::data::{Columns, Dataset, TextColumns, parse_named, text_examples};

fuzz_target!(|bytes: &[u8]| {
    let Some((&which, file)) = bytes.split_first() else { return };
    let name = ["d.csv", "d.tsv", "d.jsonl", "d.json", "d.txt"][which as usize % 5];
    if let Ok(table) = parse_named(file, name) {
        let _ = Dataset::from_table(&table, &Columns::default());
        let _ = Dataset::from_table(&table, &Columns { text_pair: Some("text_pair".into()), ..Columns::default() });
        let _ = text_examples(&table, &TextColumns::default());
    }
});
