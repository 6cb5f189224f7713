//! The tiny Llama whose matrices are every quantized type (tests/reference/make_ggml_fixture.py),
//! embedded so the native and the browser tests run the same check.

use std::sync::Arc;

use serde_json::Value;
use webtune::{
    ComputeDevice,
    infer::{AdapterFile, Decoder, GenerateOptions},
    models::{decoder::DecoderModel, lora::LoraOptions},
    train::{Event, Hooks, TrainOptions, causal_lm},
    weights::{
        LoadReport,
        decoder::{export_adapter, export_folder},
        gguf,
    },
};

use super::{
    llama::{flat, ids, int2},
    lm_training,
    parity::{assert_close, assert_same_safetensors, read},
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

/// QLoRA on `device` (the CPU natively or in the browser: the file's blocks; a GPU: the kernels'
/// layout): LoRA on every projection of the tiny file kept quantized (all eight types, q/k rows
/// permuted) through forward and backward gives every step (loss, gradient norm), the trained
/// adapter, the merged export and the trained model's logits of the run on the model dequantized
/// from the file (which matches transformers) within `tolerance`, with the plan counting the
/// base at its quantized size.
pub async fn check_qlora_trains_as_dequantized(device: &ComputeDevice, tolerance: f32) {
    let (lm, expected) = lm_training::fixture(device);
    let data = lm_training::examples(&expected, "pairs");
    let every = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
    let lora = LoraOptions { target_modules: Some(every.iter().map(|t| t.to_string()).collect()), dropout: 0.0, ..lm_training::lora_options() };
    let options = TrainOptions { epochs: 2, batch_size: 2, learning_rate: 1e-2, log_every: 1, lora: Some(lora.clone()), ..TrainOptions::default() };
    let prompt = || int2(&[vec![1, 5, 9, 2]], device);
    let mut results = Vec::new();
    // kept quantized; dequantized from the file; kept quantized with gradient checkpointing
    for (packed, gradient_checkpointing) in [(true, false), (false, false), (true, true)] {
        let decoder = Decoder { text: lm.text.clone(), ..tiny_kquant(packed, device) };
        assert_eq!(matches!(decoder.model, DecoderModel::Packed(_) | DecoderModel::GpuPacked(_)), packed);
        let (mut steps, mut weight_bytes) = (Vec::new(), 0);
        let on_event = &mut |e: Event| match e {
            Event::Step { loss, grad_norm, .. } => steps.extend([loss as f32, grad_norm.unwrap() as f32]),
            Event::Start { memory, .. } => weight_bytes = memory.weight_bytes,
            _ => {}
        };
        let options = TrainOptions { gradient_checkpointing, ..options.clone() };
        let run = causal_lm::fine_tune(&decoder, device, None, &data, None, &options, None, Hooks::events(on_event)).await.unwrap();
        let adapter = export_adapter(&run.model, device).await.unwrap().0;
        let (_, merged) = export_folder(&run.model, device).await.unwrap();
        let logits = read(run.model.forward(prompt(), None, None)).await;
        if packed && !gradient_checkpointing {
            // its adapter as llama.cpp's GGUF, attached to the file's model as loaded: the trained model
            let trained = Decoder { model: run.model, lora: Some(lora.clone()), ..decoder };
            let gguf = trained.export_gguf_adapter().await.unwrap();
            let attached = tiny_kquant(true, device).with_adapter(AdapterFile::Gguf(&gguf), "adapter.gguf").unwrap();
            assert_close("trained model vs its GGUF adapter on the file's model", &read(attached.model.forward(prompt(), None, None)).await, &logits, tolerance);
        }
        results.push((steps, adapter, merged, logits, weight_bytes));
    }
    let (kept, dense, recomputed) = (&results[0], &results[1], &results[2]);
    assert!(kept.0.len() >= 4 && kept.0[kept.0.len() - 2] < kept.0[0], "the loss falls: {:?}", kept.0);
    assert_close("losses and gradient norms, kept quantized vs dequantized", &kept.0, &dense.0, tolerance);
    assert_same_safetensors("trained adapter", &kept.1, &dense.1, tolerance);
    assert_same_safetensors("merged model", &kept.2, &dense.2, tolerance);
    assert_close("trained model's logits", &kept.3, &dense.3, 10.0 * tolerance);
    assert!(kept.4 * 3 < dense.4, "the plan counts the base at its quantized size: {} vs {} bytes as f32", kept.4, dense.4);
    assert_close("losses and gradient norms with gradient checkpointing", &recomputed.0, &kept.0, tolerance);
    assert_same_safetensors("trained adapter with gradient checkpointing", &recomputed.1, &kept.1, tolerance);
}
