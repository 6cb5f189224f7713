//! Token classification (NER) on every encoder family against transformers, PyTorch and seqeval
//! (fixtures from tests/reference/make_token_classification_fixtures.py): logits on the CPU
//! (≤ 1e-4) and wgpu (≤ 1e-3), the pipeline's entities with every aggregation strategy,
//! run_ner.py's label alignment, fine-tuning steps, the export, and seqeval's entity metrics.
#![cfg(not(target_family = "wasm"))]

mod common;

use common::{
    parity::{assert_close, floats, ints, read},
    training::{check_peft_files, check_step_events, fixture_lora, recipe},
};
use pollster::block_on;
use serde_json::Value;
use webtune::{
    ComputeDevice, DevicePreference,
    data::{LabelMap, batch_tensors, tagged::TaggedDataset, tagged_batch::tagged_batch},
    device,
    infer::{
        ModelFiles,
        entity_metrics::EntityMetrics,
        token_aggregation::{Aggregation, TokenEntity},
        token_classification::TokenClassifier,
    },
    train::{Hooks, TrainOptions, fine_tune_token_classifier},
    weights::safetensors::Inventory,
};

const FAMILIES: [&str; 4] = ["bert", "distilbert", "roberta", "xlm-roberta"];
const STRATEGIES: [(&str, Aggregation); 5] = [
    ("none", Aggregation::None),
    ("simple", Aggregation::Simple),
    ("first", Aggregation::First),
    ("average", Aggregation::Average),
    ("max", Aggregation::Max),
];

fn root() -> std::path::PathBuf {
    common::assets::crate_root().join("tests/fixtures")
}

/// The family's files (`config` = config.json, or train-config.json: dropout 0) and expected.json.
fn fixture(family: &str, config: &str) -> (ModelFiles, Value) {
    let dir = root().join("token-classification").join(family);
    let read = |p: std::path::PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let files = ModelFiles {
        config: read(dir.join(config)),
        weights: read(dir.join("model.safetensors")),
        tokenizer: read(root().join("encoders").join(family).join("tokenizer.json")),
    };
    (files, serde_json::from_slice(&read(dir.join("expected.json"))).unwrap())
}

fn texts(exp: &Value) -> Vec<&str> {
    exp["texts"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect()
}

/// Logits of the fixture's texts as one padded batch (cut at the model's length), flattened.
async fn logits(tagger: &TokenClassifier, texts: &[&str]) -> (Vec<i32>, Vec<f32>) {
    let b = tagger.tokenizer.encode(texts, None, tagger.max_length, true).unwrap();
    let [ids, types, mask] = batch_tensors(&b, tagger.device.device());
    (b.input_ids.clone(), read(tagger.model.forward(ids, types, mask)).await)
}

/// Our entities against transformers' pipeline output: the same tags, words and offsets, scores
/// within `tol`.
fn check_entities(what: &str, ours: &[TokenEntity], theirs: &Value, tol: f32) {
    let theirs = theirs.as_array().unwrap();
    assert_eq!(ours.len(), theirs.len(), "{what}: {} entities, transformers {}\nours: {ours:?}\ntheirs: {theirs:?}", ours.len(), theirs.len());
    for (i, (o, t)) in ours.iter().zip(theirs).enumerate() {
        let tag = t.get("entity").or(t.get("entity_group")).unwrap().as_str().unwrap();
        assert_eq!(o.entity, tag, "{what} #{i}: tag");
        assert_eq!(o.word, t["word"].as_str().unwrap(), "{what} #{i}: word");
        assert_eq!((o.start, o.end), (t["start"].as_u64().unwrap() as usize, t["end"].as_u64().unwrap() as usize), "{what} #{i}: offsets");
        assert_eq!(o.index, t.get("index").map(|x| x.as_u64().unwrap() as usize), "{what} #{i}: index");
        let score = t["score"].as_f64().unwrap() as f32;
        assert!(o.score.is_finite() && (o.score - score).abs() <= tol, "{what} #{i}: score {} vs {score}", o.score);
    }
}

async fn check_family(family: &str, dev: &ComputeDevice, tol: f32) {
    let (files, exp) = fixture(family, "config.json");
    let tagger = TokenClassifier::load(files, dev).unwrap();
    assert!(tagger.report.warnings.is_empty(), "{family}: {:?}", tagger.report.warnings);
    let texts = texts(&exp);
    let (ids, ours) = logits(&tagger, &texts).await;
    assert_eq!(ids, ints(&exp["input_ids"]), "{family}: token ids differ from transformers");
    assert_close(&format!("{family} token logits on {}", dev.info()), &ours, &floats(&exp["logits"]), tol);
    for (name, strategy) in STRATEGIES {
        let tagged = tagger.tag(&texts, strategy).await.unwrap();
        for (i, entities) in tagged.iter().enumerate() {
            check_entities(&format!("{family} {name} text {i} on {}", dev.info()), entities, &exp["pipeline"][name][i], tol);
        }
    }
}

#[test]
fn families_tag_like_transformers_on_cpu() {
    for family in FAMILIES {
        block_on(check_family(family, &device::cpu(), 1e-4));
    }
}

#[test]
fn families_tag_like_transformers_on_wgpu() {
    let dev = block_on(device::select(DevicePreference::Gpu)).expect("wgpu adapter required");
    assert_eq!(dev.info().kind, "wgpu");
    for family in FAMILIES {
        block_on(check_family(family, &dev, 1e-3));
    }
}

/// The fixture's sentences as CoNLL text.
/// The checkpoint's tags, in its order.
fn tags(files: &ModelFiles) -> LabelMap {
    let config: Value = serde_json::from_slice(&files.config).unwrap();
    LabelMap::from_names((0..9).map(|i| config["id2label"][i.to_string()].as_str().unwrap().to_string()).collect())
}

fn conll(exp: &Value) -> String {
    let mut out = String::new();
    for s in exp["sentences"].as_array().unwrap() {
        for (w, t) in s["words"].as_array().unwrap().iter().zip(s["tags"].as_array().unwrap()) {
            out += &format!("{} {}\n", w.as_str().unwrap(), t.as_str().unwrap());
        }
        out += "\n";
    }
    out
}

/// run_ner.py's labels per token, PyTorch's steps (dropout 0, one batch of all sentences), and the
/// export under the family's own names, which loads back with the same logits.
#[test]
fn families_fine_tune_like_pytorch_and_export() {
    let dev = device::cpu();
    for family in FAMILIES {
        let (files, exp) = fixture(family, "train-config.json");
        let data = TaggedDataset::read_with_labels(conll(&exp).as_bytes(), "train.txt", tags(&files)).unwrap();
        let tagger =
            TokenClassifier::load(ModelFiles { config: files.config.clone(), weights: files.weights.clone(), tokenizer: files.tokenizer.clone() }, &dev)
                .unwrap();
        let rows: Vec<usize> = (0..data.len()).collect();
        for (key, all) in [("labels", false), ("labels_all", true)] {
            let b = tagged_batch(&data, &rows, &tagger.tokenizer, 64, all).unwrap();
            let want: Vec<i64> = exp[key].as_array().unwrap().iter().flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_i64().unwrap())).collect();
            assert_eq!(b.labels, want, "{family}: {key} differ from run_ner.py's alignment");
        }

        let options = TrainOptions { max_length: 64, ..recipe(&exp, data.len()) };
        let mut events = Vec::new();
        let mut on_event = |e| events.push(e);
        let trained = block_on(fine_tune_token_classifier(&files, None, &dev, &data, None, &options, None, Hooks::events(&mut on_event)))
            .unwrap_or_else(|e| panic!("{family}: {e}"));
        check_step_events(&events, exp["steps"].as_array().unwrap(), 1e-4, family);

        let tagger = trained.into_tagger(&files);
        let texts = texts(&exp);
        let (_, tuned) = block_on(logits(&tagger, &texts));
        let exported = block_on(tagger.export()).unwrap();
        let names = |bytes: &[u8]| Inventory::read(bytes, "model").unwrap().tensors.keys().cloned().collect::<Vec<_>>();
        assert_eq!(names(&exported.weights), names(&files.weights), "{family}: the export has the checkpoint's tensor names");
        let saved: Value = serde_json::from_slice(&exported.config).unwrap();
        assert!(saved["architectures"][0].as_str().unwrap().ends_with("ForTokenClassification"), "{family}: {}", saved["architectures"]);
        let reloaded = TokenClassifier::load(exported, &dev).unwrap();
        assert_close(&format!("{family}: exported model's logits"), &block_on(logits(&reloaded, &texts)).1, &tuned, 1e-5);
    }
}

/// LoRA as PEFT's `TOKEN_CLS`: from PEFT's own fresh adapter, PEFT's steps (the base frozen,
/// `classifier` trained in full); PEFT's file names and config; the merged export computes what
/// the adapted model does.
#[test]
fn families_fine_tune_lora_like_peft() {
    let dev = device::cpu();
    for family in FAMILIES {
        let (files, exp) = fixture(family, "train-config.json");
        let data = TaggedDataset::read_with_labels(conll(&exp).as_bytes(), "train.txt", tags(&files)).unwrap();
        let lora = &exp["lora"]["config"];
        let options = TrainOptions { max_length: 64, lora: Some(fixture_lora(lora)), ..recipe(&exp, data.len()) };
        let start = std::fs::read(root().join("token-classification").join(family).join("lora-init/adapter_model.safetensors")).unwrap();
        let mut events = Vec::new();
        let mut on_event = |e| events.push(e);
        let trained = block_on(fine_tune_token_classifier(&files, Some(&start), &dev, &data, None, &options, None, Hooks::events(&mut on_event)))
            .unwrap_or_else(|e| panic!("{family}: {e}"));
        check_step_events(&events, exp["lora"]["steps"].as_array().unwrap(), 1e-4, family);

        let tagger = trained.into_tagger(&files);
        check_peft_files(family, &block_on(tagger.export_adapter("base")).unwrap(), &start, lora, "TOKEN_CLS");
        let texts = texts(&exp);
        let merged = TokenClassifier::load(block_on(tagger.export()).unwrap(), &dev).unwrap();
        assert_close(&format!("{family}: merged export"), &block_on(logits(&merged, &texts)).1, &block_on(logits(&tagger, &texts)).1, 1e-5);
    }
}

/// A new tag set on a token checkpoint gets a fresh head; the run evaluates entity F1 on
/// validation sentences and says so in its events.
#[test]
fn new_tags_get_a_new_head_and_runs_report_entity_f1() {
    let dev = device::cpu();
    let (files, _) = fixture("bert", "train-config.json");
    let train = TaggedDataset::read(b"Bonn B-CITY\nis O\nbig O\n\nParis B-CITY\nsleeps O\n", "train.txt").unwrap();
    let dev_data = TaggedDataset::read_with_labels(b"Paris B-CITY\nis O\n", "dev.txt", train.labels.clone()).unwrap();
    let options = TrainOptions { epochs: 2, batch_size: 2, learning_rate: 1e-3, log_every: 1, ..TrainOptions::default() };
    let mut events = Vec::new();
    let mut on_event = |e| events.push(e);
    let trained = block_on(fine_tune_token_classifier(&files, None, &dev, &train, Some(&dev_data), &options, None, Hooks::events(&mut on_event))).unwrap();
    assert_eq!(trained.config.labels(), ["B-CITY", "O"]);
    let start = format!("{:?}", events.first().unwrap());
    assert!(start.contains("classifier was replaced"), "{start}");
    let evals: Vec<f64> = events
        .iter()
        .filter_map(|e| match e {
            webtune::train::Event::Eval { metrics, .. } => metrics.get("f1"),
            _ => None,
        })
        .collect();
    assert_eq!(evals.len(), 2, "one evaluation per epoch");
    assert!(evals.iter().all(|f| (0.0..=1.0).contains(f)));
}

/// seqeval's entity precision, recall, F1 (micro and per type) and token accuracy, on the cases
/// it reads leniently (IOB1, type changes, BIOES, B- after B-).
#[test]
fn entity_metrics_equal_seqeval() {
    let cases: Value = serde_json::from_slice(&std::fs::read(root().join("token-classification/seqeval.json")).unwrap()).unwrap();
    let seqs = |v: &Value| -> Vec<Vec<String>> {
        v.as_array().unwrap().iter().map(|s| s.as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect()).collect()
    };
    for (i, case) in cases.as_array().unwrap().iter().enumerate() {
        let m = EntityMetrics::compute(&seqs(&case["truth"]), &seqs(&case["predicted"]), None).unwrap();
        let close = |what: &str, ours: f64, theirs: &Value| {
            let theirs = theirs.as_f64().unwrap();
            assert!((ours - theirs).abs() < 1e-12, "case {i} {what}: {ours} vs seqeval {theirs}");
        };
        close("precision", m.precision, &case["precision"]);
        close("recall", m.recall, &case["recall"]);
        close("f1", m.f1, &case["f1"]);
        close("accuracy", m.accuracy, &case["accuracy"]);
        let per_type = case["per_type"].as_object().unwrap();
        assert_eq!(m.per_type.iter().map(|t| t.kind.as_str()).collect::<Vec<_>>(), per_type.keys().map(String::as_str).collect::<Vec<_>>(), "case {i}: types");
        for t in &m.per_type {
            let s = &per_type[&t.kind];
            close(&format!("{} precision", t.kind), t.precision, &s["precision"]);
            close(&format!("{} recall", t.kind), t.recall, &s["recall"]);
            close(&format!("{} f1", t.kind), t.f1, &s["f1-score"]);
            assert_eq!(t.support as u64, s["support"].as_f64().unwrap() as u64, "case {i} {} support", t.kind);
        }
    }
    let short = EntityMetrics::compute(&[vec!["O"]], &[vec!["O", "O"]], None);
    assert!(short.is_err(), "length mismatch is an error");
    // the entity confusion: a PER found, a LOC called ORG, a spurious MISC, a PER cut short
    let truth = vec![vec!["B-PER", "I-PER", "O", "B-LOC"], vec!["B-PER", "I-PER", "O"]];
    let predicted = vec![vec!["B-PER", "I-PER", "O", "B-ORG"], vec!["B-PER", "O", "B-MISC"]];
    let m = EntityMetrics::compute(&truth, &predicted, None).unwrap();
    assert_eq!(m.confusion_labels, ["LOC", "MISC", "ORG", "PER", "O"]);
    assert_eq!(m.confusion, [[0, 0, 1, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 1, 1], [0, 1, 0, 1, 0]]);
}
