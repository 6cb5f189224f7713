//! Golden BERT fixtures (tests/reference/make_bert_fixtures.py) and the comparison with them,
//! shared by the native tests (files read from disk) and the browser tests (files embedded with
//! `include_bytes!`, see [`embedded_fixture!`]).

use serde_json::Value;
use webtune::{ComputeDevice, infer::{Encoder, ModelFiles}};

/// The tiny random-weight models the reference script wrote.
pub const TINY: [&str; 4] = ["tiny-base", "tiny-mlm", "tiny-cls3", "tiny-cls3-f16"];
/// The labels of the `tiny-cls3*` classifiers, in id order.
pub const LABELS: [&str; 3] = ["negative", "neutral", "positive"];

/// One fixture model: its files and what transformers computed for it.
pub struct Fixture {
    pub name: &'static str,
    pub files: ModelFiles,
    pub expected: Value,
}

impl Fixture {
    pub fn new(name: &'static str, config: &[u8], weights: &[u8], tokenizer: &[u8], expected: &str) -> Self {
        let files = ModelFiles { config: config.to_vec(), weights: weights.to_vec(), tokenizer: tokenizer.to_vec() };
        Fixture { name, files, expected: serde_json::from_str(expected).expect("expected.json parses") }
    }

    /// Reads `tests/fixtures/bert/{name}/` from disk.
    #[cfg(not(target_family = "wasm"))]
    pub fn read(name: &'static str) -> Self {
        let read = |p: std::path::PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let m = fixture_path(name);
        let expected = String::from_utf8(read(m.join("expected.json"))).unwrap();
        Fixture::new(name, &read(m.join("config.json")), &read(m.join("model.safetensors")), &read(fixture_path("tokenizer.json")), &expected)
    }

    pub fn texts(&self) -> Vec<&str> {
        self.expected["texts"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect()
    }
}

/// `tests/fixtures/bert/{rel}`.
pub fn fixture_path(rel: &str) -> std::path::PathBuf {
    super::assets::crate_root().join("tests/fixtures/bert").join(rel)
}

/// `embedded_fixture!("tiny-base")`: a [`Fixture`] compiled into the test binary (for wasm).
#[macro_export]
macro_rules! embedded_fixture {
    ($name:literal) => {
        $crate::common::parity::Fixture::new(
            $name,
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bert/", $name, "/config.json")),
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bert/", $name, "/model.safetensors")),
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bert/tokenizer.json")),
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bert/", $name, "/expected.json")),
        )
    };
}

pub fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

pub fn ints(v: &Value) -> Vec<i32> {
    v.as_array().unwrap().iter().flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_i64().unwrap() as i32)).collect()
}

/// The largest |ours − reference| and where it is. A NaN or infinite value on either side is the
/// worst difference there is (NaN), so no comparison can pass over it; lengths must agree.
pub fn max_abs_diff(what: &str, ours: &[f32], reference: &[f32]) -> (usize, f32) {
    assert_eq!(ours.len(), reference.len(), "{what}: length");
    let mut worst = (0, 0.0f32);
    for (i, (a, b)) in ours.iter().zip(reference).enumerate() {
        if !a.is_finite() || !b.is_finite() {
            return (i, f32::NAN);
        }
        let d = (a - b).abs();
        if d > worst.1 {
            worst = (i, d);
        }
    }
    worst
}

/// f32 values of little-endian bytes (a safetensors tensor's data).
pub fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

/// Panics with `ours=… reference=…` at the worst element when any |difference| exceeds `tol`, or
/// when either side holds a NaN or an infinity, or the lengths differ.
pub fn assert_close(what: &str, ours: &[f32], reference: &[f32], tol: f32) {
    let (i, diff) = max_abs_diff(what, ours, reference);
    assert!(diff <= tol, "{what}: max |diff| = {diff:e} > {tol:e} at {i}: ours={} reference={}", ours.get(i).copied().unwrap_or(f32::NAN), reference.get(i).copied().unwrap_or(f32::NAN));
}

/// Two f32 safetensors files hold the same tensor names and shapes, and values within `tol`.
pub fn assert_same_safetensors(what: &str, ours: &[u8], reference: &[u8], tol: f32) {
    let (ours, reference) = (safetensors::SafeTensors::deserialize(ours).unwrap(), safetensors::SafeTensors::deserialize(reference).unwrap());
    let mut names: Vec<String> = ours.names().into_iter().map(str::to_string).collect();
    let mut want: Vec<String> = reference.names().into_iter().map(str::to_string).collect();
    names.sort();
    want.sort();
    assert_eq!(names, want, "{what}: tensor names");
    for name in &names {
        let (a, b) = (ours.tensor(name).unwrap(), reference.tensor(name).unwrap());
        assert_eq!(a.shape(), b.shape(), "{what}: {name}");
        assert_close(&format!("{what}: {name}"), &f32s(a.data()), &f32s(b.data()), tol);
    }
}

/// Reads any float tensor back (async, so it also works in the browser).
pub async fn read<const D: usize>(t: burn::tensor::Tensor<D>) -> Vec<f32> {
    t.into_data_async().await.unwrap().try_to_vec::<f32>().unwrap()
}

/// Loads the fixture on `dev` and compares token ids, last_hidden_state, pooler output and the
/// classifier's probabilities with the reference, within `tol`.
pub async fn check_model(fx: Fixture, dev: &ComputeDevice, tol: f32) {
    let texts: Vec<String> = fx.texts().into_iter().map(String::from).collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let Fixture { name: model, files, expected: exp } = fx;
    let enc = Encoder::load(files, dev).unwrap();
    let batch = enc.tokenizer.encode(&texts, None, 64, false).unwrap();
    assert_eq!(batch.input_ids, ints(&exp["input_ids"]), "{model}: token ids differ from transformers");
    assert_eq!(batch.attention_mask, ints(&exp["attention_mask"]), "{model}: attention mask");
    let hidden = read(enc.hidden_states(&batch)).await;
    assert_close(&format!("{model} last_hidden_state on {}", dev.info()), &hidden, &floats(&exp["last_hidden_state"]), tol);
    if let Some(p) = exp.get("pooler_output") {
        let [ids, types, mask] = enc.tensors(&batch);
        let pooled = read(enc.bert().forward(ids, types, mask).pooler_output.unwrap()).await;
        assert_close(&format!("{model} pooler_output"), &pooled, &floats(p), tol);
    }
    if let Some(l) = exp.get("logits") {
        // logits first, so a failure says whether the head or the softmax went wrong
        let [ids, types, mask] = enc.tensors(&batch);
        let logits = read(enc.model.forward(ids, types, mask)).await;
        assert_close(&format!("{model} logits on {}", dev.info()), &logits, &floats(l), tol);
        let probs = enc.classify(&texts).await.unwrap();
        let reference = floats(l);
        for (row, scores) in probs.iter().enumerate() {
            let logits = &reference[row * 3..row * 3 + 3];
            let z: f32 = logits.iter().map(|x| x.exp()).sum();
            for s in scores {
                let idx = LABELS.iter().position(|l| *l == s.label).unwrap();
                let want = logits[idx].exp() / z;
                assert!((s.score - want).abs() <= tol, "{model} row {row} {}: ours={} reference={want}", s.label, s.score);
            }
        }
    }
}
