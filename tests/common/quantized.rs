//! The tiny Llama whose matrices are every quantized type (tests/reference/make_ggml_fixture.py),
//! embedded so the native and the browser tests run the same check.

use std::sync::Arc;

use serde_json::Value;
use webtune::{
    ComputeDevice,
    infer::{Decoder, GenerateOptions},
    models::decoder::DecoderModel,
    weights::{LoadReport, gguf},
};

use super::{
    llama::{flat, ids, int2},
    parity::{assert_close, read},
};

pub const TINY_KQUANT: &[u8] = include_bytes!("../fixtures/ggml/tiny-kquant.gguf");
const EXPECTED: &str = include_str!("../fixtures/ggml/tiny-kquant.json");

/// The tiny model on `device`: `packed` keeps the blocks quantized (on the CPU read in place, on a
/// GPU in the kernels' layout), else dequantized to f32.
pub fn tiny_kquant(packed: bool, device: &ComputeDevice) -> Decoder {
    let bytes = Arc::new(TINY_KQUANT.to_vec());
    let file = webtune::formats::gguf::Gguf::parse(&bytes).unwrap();
    let config = file.llama_config().unwrap();
    let dev = device.without_autodiff();
    let model = match packed {
        true => gguf::load_quantized(&file, &config, &bytes, &dev).unwrap(),
        false => DecoderModel::Llama(gguf::load_causal_lm(&file, &config, &bytes, dev.device()).unwrap().0),
    };
    Decoder { model, device: dev, report: LoadReport::default(), text: None, lora: None }
}

/// The tiny model's (`decoder`'s) logits for the fixture's prompt within `tolerance` of
/// transformers', and the same 10 greedy tokens.
pub async fn check_tiny_kquant(decoder: &Decoder, tolerance: f32) {
    check_against(decoder, EXPECTED, "tiny K-quant Llama", tolerance).await;
}

pub const TINY_QWEN2: &[u8] = include_bytes!("../fixtures/ggml/tiny-qwen2.gguf");
const TINY_QWEN2_EXPECTED: &str = include_str!("../fixtures/ggml/tiny-qwen2.json");

/// The Qwen2 GGUF's (tests/reference/make_qwen2_gguf_fixture.py) logits for its prompt within
/// `tolerance` of transformers' (its GGUF loader), and the same 10 greedy tokens.
pub async fn check_tiny_qwen2(decoder: &Decoder, tolerance: f32) {
    check_against(decoder, TINY_QWEN2_EXPECTED, "Qwen2 GGUF", tolerance).await;
}

pub const TINY_QWEN3: &[u8] = include_bytes!("../fixtures/ggml/tiny-qwen3.gguf");
const TINY_QWEN3_EXPECTED: &str = include_str!("../fixtures/ggml/tiny-qwen3.json");

/// The Qwen3 GGUF's (make_qwen2_gguf_fixture.py: q/k norms, untied head) logits within
/// `tolerance` of transformers', and the same 10 greedy tokens.
pub async fn check_tiny_qwen3(decoder: &Decoder, tolerance: f32) {
    check_against(decoder, TINY_QWEN3_EXPECTED, "Qwen3 GGUF", tolerance).await;
}

pub const TINY_LLAMA3: &[u8] = include_bytes!("../fixtures/ggml/tiny-llama3.gguf");
const TINY_LLAMA3_FOLDER_EXPECTED: &str = include_str!("../fixtures/llama/tiny-llama3/expected.json");

/// The Llama 3.1-style GGUF's (make_llama3_gguf_fixture.py: `rope_freqs` factors, F32 weights)
/// logits for the first prompt of its Hugging Face folder's expected.json, within `tolerance`.
pub async fn check_tiny_llama3(decoder: &Decoder, tolerance: f32) {
    let folder: Value = serde_json::from_str(TINY_LLAMA3_FOLDER_EXPECTED).unwrap();
    let prompt = ids(&folder["input_ids"][0]);
    let mut reference = Vec::new();
    flat(&folder["logits"][0], &mut reference);
    let input = int2(&[prompt.iter().map(|&t| t as i32).collect()], &decoder.device);
    let what = format!("Llama 3.1 GGUF logits on {}", decoder.device.info().kind);
    assert_close(&what, &read(decoder.model.forward(input, None, None)).await, &reference, tolerance);
}

pub const TINY_GEMMA3: &[u8] = include_bytes!("../fixtures/ggml/tiny-gemma3.gguf");
const TINY_GEMMA3_EXPECTED: &str = include_str!("../fixtures/ggml/tiny-gemma3.json");

/// The Gemma 3 GGUF's (tests/reference/make_gemma3_gguf_fixture.py: sliding and global layers,
/// norms stored as 1 + w) logits for a prompt longer than its window within `tolerance` of
/// transformers', and the same 10 greedy tokens (through the KV cache).
pub async fn check_tiny_gemma3(decoder: &Decoder, tolerance: f32) {
    check_against(decoder, TINY_GEMMA3_EXPECTED, "Gemma 3 GGUF", tolerance).await;
}

/// `decoder`'s logits for a fixture's prompt (`expected`: {ids, logits, greedy}) within
/// `tolerance` of the reference's, and its 10 greedy tokens.
async fn check_against(decoder: &Decoder, expected: &str, name: &str, tolerance: f32) {
    let expected: Value = serde_json::from_str(expected).unwrap();
    let what = format!("{name}, {} weights on {}", decoder.weight_format(), decoder.device.info().kind);
    let prompt = ids(&expected["ids"]);
    let mut reference = Vec::new();
    flat(&expected["logits"], &mut reference);
    let input = int2(&[prompt.iter().map(|&t| t as i32).collect()], &decoder.device);
    assert_close(&format!("logits ({what})"), &read(decoder.model.forward(input, None, None)).await, &reference, tolerance);
    let options = GenerateOptions { max_new_tokens: 10, stop: Some(vec![]), ..Default::default() };
    let out = decoder.generate(&prompt, &options, |_| true).await.unwrap();
    assert_eq!(out.tokens, ids(&expected["greedy"]), "greedy tokens ({what})");
}
