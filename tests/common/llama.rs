//! Golden Llama fixtures (tests/reference/make_llama_fixtures.py) and the comparison with them,
//! shared by the native tests (files read from disk) and the browser tests (files embedded with
//! `include_bytes!`, see [`embedded_llama!`]).

use burn::tensor::{Int, Tensor, TensorData};
use serde_json::Value;
use webtune::{
    ComputeDevice,
    infer::{Decoder, GenerateOptions, StopReason},
};

use super::parity::{assert_close, read};

/// One tiny Llama: its files and what transformers computed for it.
pub struct LlamaFixture {
    pub name: &'static str,
    pub config: Vec<u8>,
    pub weights: Vec<u8>,
    pub expected: Value,
}

impl LlamaFixture {
    /// Reads `tests/fixtures/llama/{name}/` from disk.
    #[cfg(not(target_family = "wasm"))]
    pub fn read(name: &'static str) -> Self {
        let dir = super::assets::crate_root().join("tests/fixtures/llama").join(name);
        let read = |f: &str| std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{}/{f}: {e}", dir.display()));
        LlamaFixture { name, config: read("config.json"), weights: read("model.safetensors"), expected: serde_json::from_slice(&read("expected.json")).unwrap() }
    }
}

/// `embedded_llama!("tiny")`: a [`LlamaFixture`] compiled into the test binary (for wasm).
#[macro_export]
macro_rules! embedded_llama {
    ($name:literal) => {
        $crate::common::llama::LlamaFixture {
            name: $name,
            config: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/llama/", $name, "/config.json")).to_vec(),
            weights: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/llama/", $name, "/model.safetensors")).to_vec(),
            expected: serde_json::from_str(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/llama/", $name, "/expected.json"))).unwrap(),
        }
    };
}

pub fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

pub fn rows(v: &Value) -> Vec<Vec<i32>> {
    v.as_array().unwrap().iter().map(|r| ids(r).into_iter().map(|x| x as i32).collect()).collect()
}

pub fn flat(v: &Value, out: &mut Vec<f32>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| flat(x, out)),
        x => out.push(x.as_f64().unwrap() as f32),
    }
}

pub fn int2(rows: &[Vec<i32>], dev: &ComputeDevice) -> Tensor<2, Int> {
    let (b, s) = (rows.len(), rows[0].len());
    Tensor::<2, Int>::from_data(TensorData::new(rows.concat(), [b, s]), dev.device())
}

/// Logits of the padded batch (padded positions zeroed, as the fixture has them) within `tol`,
/// and the greedy continuation of the prompt token for token.
pub async fn check_llama(fx: LlamaFixture, dev: &ComputeDevice, tol: f32) {
    let (name, expected) = (fx.name, &fx.expected);
    let decoder = Decoder::load(&fx.config, fx.weights, dev).unwrap();
    assert!(decoder.report.warnings.is_empty(), "{name}: {:?}", decoder.report.warnings);
    let input = rows(&expected["input_ids"]);
    let mask = rows(&expected["attention_mask"]);
    let logits = decoder.model.forward(int2(&input, dev), Some(int2(&mask, dev)), None);
    let [b, s, v] = logits.dims();
    let keep: Vec<f32> = mask.concat().iter().map(|&m| m as f32).collect();
    let keep = Tensor::<3>::from_data(TensorData::new(keep, [b, s, 1]), dev.device());
    let ours = read(logits * keep.expand([b, s, v])).await;
    let mut reference = Vec::new();
    flat(&expected["logits"], &mut reference);
    assert_close(&format!("{name} logits on {}", dev.info().kind), &ours, &reference, tol);

    let options = GenerateOptions { max_new_tokens: 12, stop: Some(vec![]), ..Default::default() };
    let out = decoder.generate(&ids(&expected["prompt"]), &options, |_| true).await.unwrap();
    assert_eq!(out.tokens, ids(&expected["greedy"]), "{name}: greedy tokens on {}", dev.info().kind);
    assert_eq!(out.stop_reason, StopReason::Length);
}
