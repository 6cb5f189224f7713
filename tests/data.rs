//! User data files → labelled examples: formats, column mapping, labels, splits, batching, and
//! the errors a user sees for broken files.
#![cfg(not(target_family = "wasm"))] // native only: the browser suite is tests/browser.rs

mod common;

use common::parity::fixture_path;
use webtune::{
    Error,
    data::{Columns, Dataset, Format, LabelMap, Table, epoch_order, make_batch, read_labelled, token_lengths},
    tokenizer::TextTokenizer,
};

fn cols(text: &str, label: &str) -> Columns {
    Columns { text: text.into(), text_pair: None, label: label.into() }
}

fn data_err(bytes: &str, format: Format, columns: &Columns) -> String {
    match read_labelled(bytes.as_bytes(), format, "f", columns) {
        Err(Error::Data(m)) => m,
        other => panic!("expected a DataError, got {other:?}"),
    }
}

#[test]
fn the_four_formats_give_the_same_examples() {
    let csv = "text,label\n\"Hello, world\",pos\nbad day,neg\n";
    let tsv = "text\tlabel\nHello, world\tpos\nbad day\tneg\n";
    let jsonl = "{\"text\": \"Hello, world\", \"label\": \"pos\"}\n\n{\"text\": \"bad day\", \"label\": \"neg\"}\n";
    let json = r#"[{"text": "Hello, world", "label": "pos"}, {"text": "bad day", "label": "neg"}]"#;
    let c = Columns::default();
    let sets: Vec<Dataset> = [(csv, Format::Csv), (tsv, Format::Tsv), (jsonl, Format::Jsonl), (json, Format::Json)]
        .iter()
        .map(|(s, f)| read_labelled(s.as_bytes(), *f, "f", &c).unwrap())
        .collect();
    for d in &sets {
        assert_eq!(d.labels.names, ["neg", "pos"], "string labels are sorted");
        let got: Vec<(&str, usize)> = d.examples.iter().map(|e| (e.text.as_str(), e.label)).collect();
        assert_eq!(got, [("Hello, world", 1), ("bad day", 0)]);
    }
    assert_eq!(sets[0].examples[1].origin, "f:3", "CSV rows know their line");
    assert_eq!(sets[2].examples[1].origin, "f:3", "JSONL rows know their line (blank lines counted)");
}

#[test]
fn integer_labels_keep_their_values_and_json_numbers_work() {
    let d = read_labelled(br#"[{"t": "a", "y": 1}, {"t": "b", "y": 0}, {"t": "c", "y": 10}]"#, Format::Json, "f", &cols("t", "y")).unwrap();
    assert_eq!(d.labels.names, ["0", "1", "10"], "numeric order, not text order");
    assert_eq!(d.examples.iter().map(|e| e.label).collect::<Vec<_>>(), [1, 0, 2]);
    assert_eq!(d.labels.id2label()["2"], "10");
    // one rule: only plain integers are numbers; +1/-1 and 01 are labels as written
    let d = read_labelled(b"t,y\na,+1\nb,-1\nc,+1\n", Format::Csv, "f", &cols("t", "y")).unwrap();
    assert_eq!(d.labels.names, ["+1", "-1"], "signed labels are text");
    assert_eq!(d.examples.iter().map(|e| e.label).collect::<Vec<_>>(), [0, 1, 0], "and are looked up as text");
    let d = read_labelled(b"t,y\na,01\nb,1\nc,2\n", Format::Csv, "f", &cols("t", "y")).unwrap();
    assert_eq!(d.labels.names, ["01", "1", "2"], "01 is not 1: text order");
    assert_eq!(d.examples.iter().map(|e| e.label).collect::<Vec<_>>(), [0, 1, 2]);
}

#[test]
fn sentence_pairs() {
    let c = Columns { text: "premise".into(), text_pair: Some("hypothesis".into()), label: "label".into() };
    let d = read_labelled(b"premise,hypothesis,label\nA man eats.,Someone eats.,entailment\nA cat.,A dog.,contradiction\n", Format::Csv, "f", &c).unwrap();
    assert_eq!(d.examples[0].pair.as_deref(), Some("Someone eats."));
}

#[test]
fn format_from_file_names_and_names() {
    assert_eq!(Format::from_file_name("train.TSV").unwrap(), Format::Tsv);
    assert_eq!(Format::from_file_name("x.ndjson").unwrap(), Format::Jsonl);
    assert!(Format::from_file_name("data.xlsx").unwrap_err().to_string().contains(".csv, .tsv, .jsonl, .json or .txt"));
    assert_eq!(Format::from_file_name("corpus.txt").unwrap(), Format::Txt);
    // a .txt file: one text per line that is not blank, lines counted for messages
    let t = webtune::data::Table::parse(b"first line\r\n\n  \nsecond line\n", Format::Txt, "c.txt").unwrap();
    assert_eq!((t.columns.as_slice(), t.rows.len(), t.lines.as_slice()), (&["text".to_string()][..], 2, &[1, 4][..]));
    assert_eq!(t.rows[0][0].as_deref(), Some("first line"));
    assert!("parquet".parse::<Format>().unwrap_err().to_string().contains("\"csv\", \"tsv\""));
}

#[test]
fn broken_files_name_the_file_line_and_fix() {
    let c = Columns::default();
    let e = data_err("text,label\nfine,pos\ntoo,many,fields\n", Format::Csv, &c);
    assert!(e.contains("line 3") && e.contains("3 fields but the header has 2"), "{e}");
    let e = data_err("sentence,label\nfine,pos\n", Format::Csv, &c);
    assert!(e.contains("no column \"text\"") && e.contains("\"sentence\", \"label\""), "{e}");
    let e = data_err("text,label\nfine,pos\n,neg\n", Format::Csv, &c);
    assert!(e.contains("f:3") && e.contains("empty"), "{e}");
    let e = data_err("text,label\nfine,pos\nok,\n", Format::Csv, &c);
    assert!(e.contains("f:3") && e.contains("label") && e.contains("empty"), "{e}");
    let e = data_err("text,label\nfine,pos\nok,pos\n", Format::Csv, &c);
    assert!(e.contains("1 class") && e.contains("at least 2"), "{e}");
    let e = data_err("{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\", \"label\": \n", Format::Jsonl, &c);
    assert!(e.contains("line 2") && e.contains("not valid JSON"), "{e}");
    let e = data_err("{\"text\": \"a\"}", Format::Json, &c);
    assert!(e.contains("JSON array"), "{e}");
    let e = data_err("text,label\n", Format::Csv, &c);
    assert!(e.contains("no data rows"), "{e}");
    match read_labelled(&[b't', b',', b'l', b'\n', 0xff, b',', b'1'], Format::Csv, "f", &c) {
        Err(Error::Data(m)) => assert!(m.contains("UTF-8"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn validation_labels_must_be_known() {
    let c = Columns::default();
    let train = read_labelled(b"text,label\na,pos\nb,neg\n", Format::Csv, "train.csv", &c).unwrap();
    let table = Table::parse(b"text,label\nc,pos\nd,meh\n", Format::Csv, "dev.csv").unwrap();
    let e = Dataset::with_labels(&table, &c, train.labels.clone()).unwrap_err().to_string();
    assert!(e.contains("dev.csv:3") && e.contains("unknown label \"meh\"") && e.contains("\"neg\", \"pos\""), "{e}");
    // a model's named classes also accept the ids used by datasets such as SST-2
    let named = LabelMap::from_names(vec!["negative".into(), "positive".into()]);
    let table = Table::parse(b"text,label\nc,1\nd,negative\n", Format::Csv, "dev.csv").unwrap();
    let d = Dataset::with_labels(&table, &c, named).unwrap();
    assert_eq!(d.examples.iter().map(|e| e.label).collect::<Vec<_>>(), [1, 0]);
}

#[test]
fn seeded_splits_and_epoch_orders_are_reproducible() {
    let body: String = (0..100).map(|i| format!("text {i},{}\n", i % 3)).collect();
    let d = read_labelled(format!("text,label\n{body}").as_bytes(), Format::Csv, "f", &Columns::default()).unwrap();
    let (tr, va) = d.clone().split(0.2, 7).unwrap();
    assert_eq!((tr.len(), va.len()), (80, 20));
    let (tr2, _) = d.clone().split(0.2, 7).unwrap();
    assert_eq!(tr.examples, tr2.examples, "same seed, same split");
    let (tr3, _) = d.clone().split(0.2, 8).unwrap();
    assert_ne!(tr.examples, tr3.examples, "another seed, another split");
    assert!(d.clone().split(1.5, 0).is_err());
    let head = d.clone().shuffled_head(0, Some(10));
    assert_eq!(head.len(), 10);
    assert_eq!(head.examples, d.clone().shuffled_head(0, Some(10)).examples, "seeded");
    assert_ne!(head.examples, d.examples[..10], "shuffled before taking the head");

    let lengths: Vec<usize> = (0..100).map(|i| 5 + i % 17).collect();
    let a = epoch_order(&lengths, 8, 1, 0, false);
    assert_eq!(a, epoch_order(&lengths, 8, 1, 0, false));
    assert_ne!(a, epoch_order(&lengths, 8, 1, 1, false), "each epoch reshuffles");
    let mut all: Vec<usize> = a.concat();
    all.sort();
    assert_eq!(all, (0..100).collect::<Vec<_>>(), "every row once per epoch");
    assert_eq!(a.iter().map(Vec::len).max(), Some(8));
    // grouped by length: much less padding than random batches
    let waste = |order: &[Vec<usize>]| -> usize {
        order.iter().map(|b| { let longest = b.iter().map(|&i| lengths[i]).max().unwrap(); b.iter().map(|&i| longest - lengths[i]).sum::<usize>() }).sum()
    };
    let g = epoch_order(&lengths, 8, 1, 0, true);
    assert!(waste(&g) * 3 < waste(&a), "grouped {} vs random {}", waste(&g), waste(&a));
}

#[test]
fn sst2_reads_as_is() {
    let Some(path) = common::assets::require("data/sst2/dev.tsv") else { return };
    let d = read_labelled(&std::fs::read(path).unwrap(), Format::Tsv, "dev.tsv", &cols("sentence", "label")).unwrap();
    assert_eq!(d.len(), 872);
    assert_eq!(d.labels.names, ["0", "1"]);
}

#[test]
fn batches_are_padded_to_their_longest_row_and_keep_labels() {
    let tok = TextTokenizer::from_bytes(&std::fs::read(fixture_path("tokenizer.json")).unwrap()).unwrap();
    let c = Columns { text: "a".into(), text_pair: Some("b".into()), label: "y".into() };
    let d = read_labelled(b"a,b,y\nthe film,was good,1\na dull and very long story,yes,0\n", Format::Csv, "pairs.csv", &c).unwrap();
    let lengths = token_lengths(&d.examples, &tok, 64).unwrap();
    assert!(lengths[1] > lengths[0]);
    assert_eq!(token_lengths(&d.examples, &tok, 4).unwrap(), [4, 4], "capped at max_length");
    let b = make_batch(&d.examples, &[1, 0], &tok, 64).unwrap();
    assert_eq!(b.labels, [0, 1], "labels follow the requested row order");
    assert_eq!((b.tokens.batch, b.tokens.seq), (2, lengths[1]));
    assert_eq!(b.tokens.attention_mask.iter().filter(|&&m| m == 1).count(), lengths[0] + lengths[1], "padding is masked");
    assert!(b.tokens.token_type_ids.contains(&1), "the second text gets token type 1");
    let cut = make_batch(&d.examples, &[1], &tok, 5).unwrap();
    assert_eq!(cut.tokens.seq, 5, "truncated to max_length");
}

#[test]
fn reorder_labels_keeps_each_example_s_class() {
    let d = read_labelled(b"text,label\na,pos\nb,neg\nc,pos\n", Format::Csv, "t.csv", &Columns::default()).unwrap();
    assert_eq!(d.labels.names, ["neg", "pos"]);
    let r = d.reorder_labels(&["pos".into(), "neg".into()]).unwrap();
    assert_eq!(r.examples.iter().map(|e| e.label).collect::<Vec<_>>(), [0, 1, 0]);
    assert!(r.reorder_labels(&["pos".into(), "x".into()]).is_err());
}

/// BLEU and ROUGE-L of generated answers equal sacreBLEU's corpus BLEU (≤ 0.01) and rouge-score's
/// ROUGE-L F (≤ 0.001), and the 13a tokenisation is sacreBLEU's, on pairs with punctuation,
/// numbers, entities, accents and empty answers (tests/reference/make_text_metrics_fixture.py).
#[test]
fn bleu_and_rouge_l_equal_sacrebleu_and_rouge_score() {
    use webtune::infer::text_metrics::{corpus_bleu, mean_rouge_l, tokenize_13a};
    let fx: serde_json::Value = serde_json::from_str(include_str!("fixtures/text-metrics.json")).unwrap();
    let pairs: Vec<(String, String)> = serde_json::from_value(fx["pairs"].clone()).unwrap();
    for ((h, r), want) in pairs.iter().zip(fx["tokenized_13a"].as_array().unwrap()) {
        assert_eq!(tokenize_13a(h), want[0].as_str().unwrap(), "13a of {h:?}");
        assert_eq!(tokenize_13a(r), want[1].as_str().unwrap(), "13a of {r:?}");
    }
    for (name, set) in fx["sets"].as_object().unwrap() {
        let rows: Vec<usize> = serde_json::from_value(set["rows"].clone()).unwrap();
        let hyps: Vec<String> = rows.iter().map(|&i| pairs[i].0.clone()).collect();
        let refs: Vec<String> = rows.iter().map(|&i| pairs[i].1.clone()).collect();
        let (bleu, rouge) = (corpus_bleu(&hyps, &refs), mean_rouge_l(&hyps, &refs));
        let (want_bleu, want_rouge) = (set["bleu"].as_f64().unwrap(), set["rouge_l"].as_f64().unwrap());
        assert!((bleu - want_bleu).abs() <= 0.01, "{name}: BLEU {bleu} vs sacreBLEU {want_bleu}");
        assert!((rouge - want_rouge).abs() <= 0.001, "{name}: ROUGE-L {rouge} vs rouge-score {want_rouge}");
    }
}

/// The studio's look at a file for the other encoder tasks: what the task's reader makes of it.
#[test]
fn task_files_are_summarised_as_their_readers_read_them() {
    use webtune::session::{DataFile, Task, TaskDataSummary, TaskInspectOptions, inspect_task_data};
    let file = |name: &str, text: &str| DataFile { bytes: text.as_bytes().to_vec(), name: name.into() };
    let options = TaskInspectOptions::default();

    let conll = "-DOCSTART- O\n\nAngela B-PER\nMerkel I-PER\nvisited O\nNew B-LOC\nYork I-LOC\n\nBonn B-LOC\nsleeps O\n";
    match inspect_task_data(&file("train.conll", conll), Task::TokenClassification, &options).unwrap() {
        TaskDataSummary::Entities { sentences, words, entity_counts, preview, warnings, .. } => {
            assert_eq!((sentences, words), (2, 7));
            let counts: Vec<(&str, usize)> = entity_counts.iter().map(|c| (c.label.as_str(), c.count)).collect();
            assert_eq!(counts, [("LOC", 2), ("PER", 1)]);
            let spans: Vec<(usize, usize, &str)> = preview[0].entities.iter().map(|e| (e.start, e.end, e.label.as_str())).collect();
            assert_eq!(spans, [(0, 2, "PER"), (3, 5, "LOC")], "word ranges, end exclusive");
            assert!(warnings.iter().any(|w| w.contains("only 2 sentences")), "{warnings:?}");
        }
        other => panic!("{other:?}"),
    }

    // character-span rows (doccano, Label Studio, spaCy) read as words and IOB2 tags
    let spans = "{\"text\": \"Zoë Brandt flew to New York.\", \"entities\": [{\"start\": 0, \"end\": 10, \"label\": \"PER\"}, {\"start\": 19, \"end\": 27, \"label\": \"LOC\"}]}\n";
    match inspect_task_data(&file("spans.jsonl", spans), Task::TokenClassification, &options).unwrap() {
        TaskDataSummary::Entities { tags, preview, .. } => {
            assert_eq!(tags, ["B-LOC", "B-PER", "I-LOC", "I-PER", "O"]);
            assert_eq!(preview[0].words, ["Zoë", "Brandt", "flew", "to", "New", "York", "."]);
            let spans: Vec<(usize, usize, &str)> = preview[0].entities.iter().map(|e| (e.start, e.end, e.label.as_str())).collect();
            assert_eq!(spans, [(0, 2, "PER"), (4, 6, "LOC")]);
        }
        other => panic!("{other:?}"),
    }
    let e = inspect_task_data(&file("spans.jsonl", "{\"text\": \"Bonn\", \"entities\": [{\"start\": 0, \"end\": 9, \"label\": \"LOC\"}]}\n"), Task::TokenClassification, &options);
    assert!(e.unwrap_err().to_string().contains("spans.jsonl:1: entity {start: 0, end: 9"), "the row is named");

    let squad = r#"[{"question": "Who?", "context": "😀 Zoë Brandt wrote it.", "answers": {"text": ["Zoë Brandt"], "answer_start": [2]}},
                    {"question": "When?", "context": "😀 Zoë Brandt wrote it.", "answers": {"text": [], "answer_start": []}}]"#;
    match inspect_task_data(&file("qa.json", squad), Task::QuestionAnswering, &options).unwrap() {
        TaskDataSummary::Questions { questions, contexts, unanswerable, preview, .. } => {
            assert_eq!((questions, contexts, unanswerable), (2, 1, 1));
            let parts: Vec<(&str, bool)> = preview[0].context.iter().map(|p| (p.text.as_str(), p.answer)).collect();
            assert_eq!(parts, [("😀 ", false), ("Zoë Brandt", true), (" wrote it.", false)]);
            assert_eq!(preview[1].context.len(), 1, "an unanswerable question's context is one part");
        }
        other => panic!("{other:?}"),
    }

    match inspect_task_data(&file("domain.txt", "first line\n\nthe second, longer line\n"), Task::FillMask, &options).unwrap() {
        TaskDataSummary::Texts { texts, longest, preview, .. } => assert_eq!((texts, longest, preview[0].as_str()), (2, 23, "first line")),
        other => panic!("{other:?}"),
    }

    let e = inspect_task_data(&file("bad.conll", "Bonn X-LOC\n"), Task::TokenClassification, &options).unwrap_err().to_string();
    assert!(e.contains("bad.conll"), "the reader's error names the file: {e}");
    let e = inspect_task_data(&file("a.csv", "text,label\nx,y\n"), Task::TextClassification, &options).unwrap_err().to_string();
    assert!(e.contains("leave task out"), "{e}");
}
