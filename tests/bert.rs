//! BERT parity with Hugging Face transformers (fixtures from tests/reference/make_bert_fixtures.py)
//! natively on the CPU (≤ 1e-4) and on wgpu (≤ 1e-3), the real all-MiniLM-L6-v2, and bad input.
#![cfg(not(target_family = "wasm"))] // native only: the browser suite is tests/browser.rs

mod common;

use common::parity::{Fixture, TINY, assert_close, check_model, fixture_path, floats, ints, read};
use pollster::block_on;
use serde_json::Value;
use webtune::{
    DevicePreference, Error, device,
    infer::{EncodeOptions, Encoder, ModelFiles, encoder::cosine},
    models::heads::Pooling,
};

fn files(model: &'static str) -> ModelFiles {
    Fixture::read(model).files
}

#[test]
fn tiny_models_match_transformers_on_cpu() {
    for m in TINY {
        block_on(check_model(Fixture::read(m), &device::cpu(), 1e-4));
    }
}

#[test]
fn tiny_models_match_transformers_on_wgpu() {
    let dev = block_on(device::select(DevicePreference::Gpu)).expect("wgpu adapter required");
    assert_eq!(dev.info().kind, "wgpu");
    for m in TINY {
        block_on(check_model(Fixture::read(m), &dev, 1e-3));
    }
}

#[test]
fn loading_reports_fresh_heads_and_ignored_keys() {
    let enc = Encoder::load(files("tiny-mlm"), &device::cpu()).unwrap();
    let w = enc.report.warnings.join("\n");
    assert!(w.contains("classifier") && w.contains("newly initialised"), "{w}");
    assert!(w.contains("pooler"), "{w}");
    let enc = Encoder::load(files("tiny-cls3"), &device::cpu()).unwrap();
    assert!(enc.report.warnings.is_empty(), "{:?}", enc.report.warnings);
    let enc = Encoder::load(files("tiny-cls3-f16"), &device::cpu()).unwrap();
    assert!(enc.report.warnings.iter().any(|w| w.contains("F16")), "{:?}", enc.report.warnings);
}

fn load_err(f: ModelFiles) -> Error {
    Encoder::load(f, &device::cpu()).err().expect("loading must fail")
}

#[test]
fn broken_files_are_clear_errors() {
    let mut f = files("tiny-base");
    f.weights.truncate(f.weights.len() / 2);
    let e = load_err(f);
    assert!(matches!(e, Error::Weights(_)) && e.to_string().contains("not a valid safetensors"), "{e}");

    let mut f = files("tiny-base");
    f.weights = b"<html>404 not found</html>".to_vec();
    assert!(load_err(f).to_string().contains("not a valid safetensors"));

    let mut f = files("tiny-base");
    f.config = String::from_utf8(f.config).unwrap().replace("\"hidden_size\": 32", "\"hidden_size\": 64").into_bytes();
    let e = load_err(f).to_string();
    assert!(e.contains("describes a model of 90508 weights but model.safetensors holds 36010") && e.contains("does not belong"), "{e}");

    // values Burn's modules would assert on, refused at config time with the field named
    for (from, to, needle) in [
        ("\"hidden_dropout_prob\": 0.1", "\"hidden_dropout_prob\": 1.0", "hidden_dropout_prob 1 must be in [0, 1)"),
        ("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 0", "num_hidden_layers 0 and vocab_size"),
    ] {
        let mut f = files("tiny-base");
        let text = String::from_utf8(f.config).unwrap();
        assert!(text.contains(from), "fixture config has {from}");
        f.config = text.replace(from, to).into_bytes();
        let e = load_err(f).to_string();
        assert!(e.contains(needle), "{e}");
    }

    let mut f = files("tiny-base");
    f.config = br#"{"hidden_size": 32}"#.to_vec();
    let e = load_err(f).to_string();
    assert!(e.contains("config.json") && e.contains("missing field"), "{e}");

    let mut f = files("tiny-base");
    f.tokenizer = b"{ not json".to_vec();
    assert!(load_err(f).to_string().contains("tokenizer.json could not be parsed"));
}

#[test]
fn empty_and_overlong_text_are_clear_errors() {
    let mut enc = Encoder::load(files("tiny-cls3"), &device::cpu()).unwrap();
    let e = block_on(enc.classify(&["fine", "  "])).unwrap_err();
    assert!(matches!(e, Error::Data(_)) && e.to_string().contains("text #1 is empty"), "{e}");
    let long = "good ".repeat(100);
    enc.configure(EncodeOptions { truncate: false, ..EncodeOptions::default() }).unwrap();
    let e = block_on(enc.classify(&[&long])).unwrap_err().to_string();
    assert!(e.contains("more than the maximum of 64"), "{e}");
    let e = enc.configure(EncodeOptions { max_length: Some(1), ..EncodeOptions::default() }).unwrap_err();
    assert!(matches!(e, Error::Options(_)) && e.to_string().contains("at least 2"), "{e}");
    enc.configure(EncodeOptions { max_length: Some(10_000), ..EncodeOptions::default() }).unwrap();
    assert_eq!(enc.max_length(), 64, "capped at max_position_embeddings");
    assert_eq!(block_on(enc.classify(&[&long])).unwrap().len(), 1);
}

#[test]
fn minilm_matches_transformers_and_the_published_cosine() {
    let Some(dir) = common::assets::require("models/all-MiniLM-L6-v2/model.safetensors") else { return };
    let dir = dir.parent().unwrap();
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(fixture_path("minilm.json")).unwrap()).unwrap();
    let enc = Encoder::load(ModelFiles::from_dir(dir).unwrap(), &device::cpu()).unwrap();
    let texts: Vec<&str> = fx["texts"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    let batch = enc.tokenizer.encode(&texts, None, 512, false).unwrap();
    assert_eq!(batch.input_ids, ints(&fx["input_ids"]), "MiniLM token ids");
    let hidden = block_on(read(enc.hidden_states(&batch)));
    let (seq, h) = (batch.seq, 384);
    for (key, want) in fx["slices"].as_object().unwrap() {
        let (b, t): (usize, usize) = key.split_once(',').map(|(a, c)| (a.parse().unwrap(), c.parse().unwrap())).unwrap();
        let start = (b * seq + t) * h;
        assert_close(&format!("MiniLM hidden[{key}, :8]"), &hidden[start..start + 8], &floats(want), 1e-4);
    }
    let sum: f64 = hidden.iter().map(|&x| x as f64).sum();
    assert!((sum - fx["sum"].as_f64().unwrap()).abs() < 1e-2, "sum ours={sum} reference={}", fx["sum"]);
    let emb = block_on(enc.embed(&texts, Pooling::Mean, false)).unwrap();
    let c = cosine(&emb[0], &emb[1]);
    assert!((c - 0.7553).abs() <= 5e-4, "cosine ours={c} reference=0.7553");
    assert!((c as f64 - fx["cosine"].as_f64().unwrap()).abs() < 1e-4);
}
