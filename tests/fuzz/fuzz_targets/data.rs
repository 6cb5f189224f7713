//! Data files: CSV/TSV/JSONL/JSON/TXT (the first byte picks the format) → table → labelled
//! examples (with and without a text-pair column) and language-model rows (texts, pairs, Alpaca,
//! `messages` and ShareGPT conversations); tagged sentences (CoNLL, `{tokens, tags}` lines) and
//! question-answering examples (SQuAD JSON, rows).
#![no_main]
use libfuzzer_sys::fuzz_target;
use webtune::data::{Columns, Dataset, TextColumns, parse_named, squad::read_squad, tagged::TaggedDataset, text_examples};

fuzz_target!(|bytes: &[u8]| {
    let Some((&which, file)) = bytes.split_first() else { return };
    match which % 8 {
        5 => drop(TaggedDataset::read(file, "d.conll")),
        6 => drop(TaggedDataset::read(file, "d.jsonl")),
        7 => drop(read_squad(file, "d.json")),
        n => {
            let name = ["d.csv", "d.tsv", "d.jsonl", "d.json", "d.txt"][n as usize];
            if let Ok(table) = parse_named(file, name) {
                let _ = Dataset::from_table(&table, &Columns::default());
                let _ = Dataset::from_table(&table, &Columns { text_pair: Some("text_pair".into()), ..Columns::default() });
                let _ = text_examples(&table, &TextColumns::default());
            }
        }
    }
});
