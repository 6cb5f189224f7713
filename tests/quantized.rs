//! GGUF weights kept quantized (fixtures from tests/reference/make_ggml_fixture.py): every block
//! type webtune reads dequantizes as the `gguf` package's numpy reference; a Llama whose matrices
//! are all eight types matches transformers — dense (≤ 1e-4) and packed, computed on the blocks
//! with 16-bit integer activations (≤ 1e-3; the same greedy tokens); the packed SmolLM2 holds its
//! file's size, not f32's, and answers as transformers does (logits ≤ 1e-2 of values near 16, the
//! same top 10); on a GPU (wgpu here, WebGPU in tests/browser.rs, which also trains LoRA on a base
//! kept quantized there) the matrices stay quantized in the kernels' layout and match transformers
//! as closely as dense f32 weights.
#![cfg(not(target_family = "wasm"))]

mod common;

use common::{
    assets,
    gguf::{GgufSpec, TensorSpec},
    llama::{flat, ids, int2},
    lm_training,
    parity::{assert_close, read},
    quantized::{TINY_GEMMA3, TINY_LLAMA3, TINY_QWEN2, TINY_QWEN3, check_qlora_trains_as_dequantized, check_tiny_gemma3, check_tiny_kquant, check_tiny_llama3, check_tiny_qwen2, check_tiny_qwen3, tiny_kquant},
};
use pollster::block_on;
use serde_json::Value;
use burn::tensor::{Tensor, TensorData};
use webtune::{
    DevicePreference, device,
    kernels::{gpu_quantized::GpuQMatrix, quantized::QMatrix},
    infer::{Decoder, GenerateOptions},
    tokenizer::chat::Message,
    train::{Event, Hooks, TrainOptions, causal_lm},
    models::decoder::DecoderModel,
};

fn fixture(name: &str) -> std::path::PathBuf {
    assets::crate_root().join("tests/fixtures/ggml").join(name)
}

fn json(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixture(name)).unwrap()).unwrap()
}

#[test]
fn every_block_type_dequantizes_as_the_gguf_reference() {
    let bytes = std::fs::read(fixture("blocks.gguf")).unwrap();
    let file = webtune::formats::gguf::Gguf::parse(&bytes).unwrap();
    let expected = json("blocks.json");
    assert_eq!(file.tensors.len(), 8);
    for info in &file.tensors {
        let mut reference = Vec::new();
        flat(&expected[&info.name], &mut reference);
        assert_close(&info.name, &file.dequantize(info).unwrap(), &reference, 1e-6);
    }
}

#[test]
fn the_gpu_kernels_multiply_and_look_up_every_block_type_as_the_gguf_reference() {
    // each fixture tensor as 3 rows (not a whole cube of outputs), times 2 × 2 input rows
    let gpu = block_on(device::select(DevicePreference::Gpu)).expect("wgpu adapter required");
    let dev = gpu.without_autodiff();
    let bytes = std::fs::read(fixture("blocks.gguf")).unwrap();
    let file = webtune::formats::gguf::Gguf::parse(&bytes).unwrap();
    let expected = json("blocks.json");
    for info in &file.tensors {
        let (kind, raw) = file.raw(info).unwrap();
        let mut w = Vec::new();
        flat(&expected[&info.name], &mut w);
        let (rows, cols) = (3, w.len() / 3);
        let m = QMatrix::new(kind, rows, cols, std::sync::Arc::new(raw.to_vec()), 0, &info.name).unwrap();
        let g = GpuQMatrix::upload(&m, None, dev.device()).expect("a quantized type");
        let x: Vec<f32> = (0..4 * cols).map(|i| (i * 7919 % 1000) as f32 / 500.0 - 1.0).collect();
        let want: Vec<f32> = (0..4 * rows)
            .map(|o| {
                let (i, r) = (o / rows, o % rows);
                (0..cols).map(|c| x[i * cols + c] as f64 * w[r * cols + c] as f64).sum::<f64>() as f32
            })
            .collect();
        let input = Tensor::<3>::from_data(TensorData::new(x, [2, 2, cols]), dev.device());
        let product = g.matmul(input);
        assert_eq!(product.dims(), [2, 2, rows]);
        assert_close(&format!("{} product", info.name), &block_on(read(product)), &want, 1e-4);
        // rows 2, 0 and one past the end (zeros)
        let looked_up = block_on(read(g.rows(int2(&[vec![2, 0, 3]], &dev))));
        let want: Vec<f32> = [&w[2 * cols..], &w[..cols]].iter().flat_map(|r| r[..cols].to_vec()).chain(vec![0.0; cols]).collect();
        assert_close(&format!("{} rows", info.name), &looked_up, &want, 1e-6);
        if info.name == "Q4_0" {
            // more input rows than WebGPU's 65,535 workgroups per dimension: the grid folds them
            let m = 70_000;
            let x: Vec<f32> = (0..m * cols).map(|i| (i % 17) as f32 / 8.0 - 1.0).collect();
            let product = block_on(read(g.matmul(Tensor::<2>::from_data(TensorData::new(x.clone(), [m, cols]), dev.device()))));
            let want: Vec<f32> = (0..m * rows).map(|o| (0..cols).map(|c| x[o / rows * cols + c] * w[o % rows * cols + c]).sum()).collect();
            assert_close("Q4_0 product of 70,000 rows", &product, &want, 1e-4);
        }
    }
}

#[test]
fn a_llama_of_every_block_type_matches_transformers_dense_and_packed() {
    block_on(check_tiny_kquant(&tiny_kquant(false, &device::cpu()), 1e-4));
    block_on(check_tiny_kquant(&tiny_kquant(true, &device::cpu()), 1e-3));
}

#[test]
fn quantized_weights_stay_quantized_on_the_gpu_and_match_transformers() {
    let gpu = block_on(device::select(DevicePreference::Gpu)).expect("wgpu adapter required");
    let decoder = tiny_kquant(true, &gpu);
    assert!(matches!(decoder.model, DecoderModel::GpuPacked(_)), "a GPU keeps GGUF weights quantized");
    block_on(check_tiny_kquant(&decoder, 1e-4));
    let nothing = decoder.model.forward(int2(&[vec![]], &decoder.device), None, None);
    assert_eq!(nothing.dims(), [1, 0, 96], "an empty input launches nothing and reads as no logits");
    // what fine-tuning and export start from: the matrices looked up whole on the GPU (no file)
    let dense = decoder.dequantized().unwrap();
    assert!(matches!(dense.model, DecoderModel::Llama(_)));
    block_on(check_tiny_kquant(&dense, 1e-4));
}

#[test]
fn a_gguf_kept_quantized_on_the_gpu_fine_tunes_as_its_dequantized_file() {
    // fine-tuning starts from the matrices the GPU kernels look up (the file is not kept): the
    // same losses, step by step, as the model dequantized from the file
    let gpu = block_on(device::select(DevicePreference::Gpu)).expect("wgpu adapter required");
    let (lm, expected) = lm_training::fixture(&device::cpu()); // the tiny tokenizer (74 ids < 96) and rows
    let data = lm_training::examples(&expected, "pairs");
    let options = TrainOptions { epochs: 3, batch_size: data.len(), learning_rate: 1e-2, log_every: 1, ..TrainOptions::default() };
    let losses = |packed: bool| {
        let decoder = Decoder { text: lm.text.clone(), ..tiny_kquant(packed, &gpu) };
        let mut losses = Vec::new();
        let on_event = &mut |e: Event| {
            if let Event::Step { loss, .. } = e {
                losses.push(loss);
            }
        };
        block_on(causal_lm::fine_tune(&decoder, &decoder.device, None, &data, None, &options, None, Hooks::events(on_event))).unwrap();
        losses
    };
    let (kept, from_file) = (losses(true), losses(false));
    assert_eq!(kept.len(), 3);
    assert!(kept[2] < kept[0], "the loss falls: {kept:?}");
    let as_f32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
    assert_close("losses, kept quantized vs dequantized from the file", &as_f32(&kept), &as_f32(&from_file), 1e-4);
}

/// On a GPU, the same run is tests/browser.rs's, on WebGPU (the frozen matrices in the kernels'
/// layout, their backward passes on the GPU).
#[test]
fn lora_on_a_gguf_kept_quantized_on_the_cpu_trains_as_its_dequantized_file() {
    block_on(check_qlora_trains_as_dequantized(&device::cpu(), 1e-4));
}


#[test]
fn q_and_k_biases_follow_their_rows_on_every_path() {
    // llama.cpp permutes q/k biases with their rows: the packed model keeps the file's order, the
    // dense and GPU models put both back in Hugging Face's — all three must give the same logits
    let bias = |name: &str, len: u64, seed: u64| TensorSpec {
        name: name.into(),
        dims: vec![len],
        kind: 0,
        data: (0..len).map(|i| ((i * 37 + seed) % 11) as f32 / 10.0 - 0.5).flat_map(f32::to_le_bytes).collect(),
    };
    let mut spec = GgufSpec::tiny_llama();
    spec.tensors.extend([bias("blk.0.attn_q.bias", 8, 1), bias("blk.0.attn_k.bias", 4, 2), bias("blk.0.attn_v.bias", 4, 3), bias("blk.0.attn_output.bias", 8, 4)]);
    let bytes = spec.bytes();
    let logits = |decoder: &Decoder| block_on(read(decoder.model.forward(int2(&[vec![5, 9, 77, 3, 200]], &decoder.device), None, None)));
    let packed = Decoder::from_gguf(&bytes, &device::cpu()).unwrap();
    assert!(matches!(packed.model, DecoderModel::Packed(_)));
    let want = logits(&packed);
    let dense = packed.dequantized().unwrap();
    assert_close("dense (from the file) vs packed", &logits(&dense), &want, 1e-5);
    let gpu = Decoder::from_gguf(&bytes, &block_on(device::select(DevicePreference::Gpu)).expect("wgpu adapter required")).unwrap();
    assert_close("GPU vs packed", &logits(&gpu), &want, 1e-5);
    assert_close("GPU's dequantized model vs packed", &logits(&gpu.dequantized().unwrap()), &want, 1e-5);
}

/// A Qwen2 GGUF (tests/reference/make_qwen2_gguf_fixture.py: q/k rows as stored, rotate-half,
/// q/k/v biases, Q8_0 matrices, the "qwen2" pre-tokenizer, ChatML) reads as transformers' GGUF
/// loader reads it: logits packed on the CPU (its integer products: ≤ 1e-3) and on wgpu, and
/// dequantized (≤ 1e-4), the same greedy tokens; the tokenizer's ids of a text whose digits,
/// "'s" and spaces split apart from GPT-2's way, and the chat prompt's.
#[test]
fn a_qwen2_gguf_reads_as_transformers_reads_it() {
    let expected = json("tiny-qwen2.json");
    let check = |decoder: &Decoder, tolerance: f32| block_on(check_tiny_qwen2(decoder, tolerance));
    let packed = Decoder::from_gguf(TINY_QWEN2, &device::cpu()).unwrap();
    assert!(matches!(packed.model, DecoderModel::Packed(_)));
    assert_eq!(packed.model.llama_config().unwrap().model_type.as_deref(), Some("qwen2"));
    check(&packed, 1e-3);
    let side = packed.text.as_ref().unwrap();
    assert_eq!(side.tokenizer.ids(expected["text"].as_str().unwrap(), true).unwrap(), ids(&expected["text_ids"]), "the text's tokens");
    let chat = side.chat.as_ref().expect("the file's chat template").render(&[Message { role: "user".into(), content: "hi there".into() }], true).unwrap();
    assert_eq!(side.tokenizer.ids(&chat, false).unwrap(), ids(&expected["chat_ids"]), "the chat prompt's tokens");
    check(&packed.dequantized().unwrap(), 1e-4);
    let gpu = Decoder::from_gguf(TINY_QWEN2, &block_on(device::select(DevicePreference::Gpu)).expect("wgpu adapter required")).unwrap();
    assert!(matches!(gpu.model, DecoderModel::GpuPacked(_)));
    check(&gpu, 1e-4); // tests/browser.rs: on WebGPU
    // what fine-tuning starts from on a GPU: Qwen2's parameters only (no output bias)
    let dense = gpu.dequantized().unwrap();
    let layer = &dense.model.as_llama().expect("a dense Llama-family model").model.layers[0].self_attn;
    assert!(layer.q_proj.bias.is_some() && layer.o_proj.bias.is_none(), "Qwen2 has q/k/v biases and no output bias");
    check(&dense, 1e-4);
}

/// A Qwen3 GGUF (tests/reference/make_qwen2_gguf_fixture.py): q/k norms read from the file, on
/// every path; its tokenizer and chat template as the Qwen2 file's.
#[test]
fn a_qwen3_gguf_reads_as_transformers_reads_it() {
    let expected = json("tiny-qwen3.json");
    let check = |decoder: &Decoder, tolerance: f32| block_on(check_tiny_qwen3(decoder, tolerance));
    let packed = Decoder::from_gguf(TINY_QWEN3, &device::cpu()).unwrap();
    assert_eq!(packed.model.llama_config().unwrap().model_type.as_deref(), Some("qwen3"));
    check(&packed, 1e-3);
    let side = packed.text.as_ref().unwrap();
    let chat = side.chat.as_ref().expect("the file's chat template").render(&[Message { role: "user".into(), content: "hi there".into() }], true).unwrap();
    assert_eq!(side.tokenizer.ids(&chat, false).unwrap(), ids(&expected["chat_ids"]), "the chat prompt's tokens");
    check(&packed.dequantized().unwrap(), 1e-4);
    let gpu = Decoder::from_gguf(TINY_QWEN3, &block_on(device::select(DevicePreference::Gpu)).expect("wgpu adapter required")).unwrap();
    check(&gpu, 1e-4);
    check(&gpu.dequantized().unwrap(), 1e-4);
}

/// A Llama 3.1-style GGUF (tests/reference/make_llama3_gguf_fixture.py: tiny-llama3's F32 weights,
/// its llama3 RoPE scaling stored as llama.cpp does, a `rope_freqs` factor per frequency) computes
/// what the Hugging Face folder computes, on every path; Llama 3's split tokenizes as transformers
/// does; and the model exports as a folder whose config (`longrope`, the same factors) reloads to
/// the same logits.
#[test]
fn a_llama_3_gguf_with_rope_factors_computes_its_folders_model() {
    let bytes = TINY_LLAMA3;
    let check = |decoder: &Decoder, tolerance: f32| block_on(check_tiny_llama3(decoder, tolerance));
    let packed = Decoder::from_gguf(bytes, &device::cpu()).unwrap();
    check(&packed, 1e-4);
    let expected = json("tiny-llama3.json");
    let side = packed.text.as_ref().unwrap();
    assert_eq!(side.tokenizer.ids(expected["text"].as_str().unwrap(), false).unwrap(), ids(&expected["text_ids"]), "Llama 3's split");
    let dense = packed.dequantized().unwrap();
    check(&dense, 1e-4);
    let gpu = Decoder::from_gguf(bytes, &block_on(device::select(DevicePreference::Gpu)).expect("wgpu adapter required")).unwrap();
    check(&gpu, 1e-4);
    let files = block_on(dense.export()).unwrap();
    let file = |name: &str| files.iter().find(|(n, _)| *n == name).map(|(_, b)| b.clone()).unwrap();
    let config: Value = serde_json::from_slice(&file("config.json")).unwrap();
    assert_eq!(config["rope_scaling"]["rope_type"], "longrope", "{config}");
    let reloaded = Decoder::from_hf(&file("config.json"), file("model.safetensors"), &file("tokenizer.json"), None, &device::cpu()).unwrap();
    check(&reloaded, 1e-4);
}

/// A Gemma 3 GGUF (tests/reference/make_gemma3_gguf_fixture.py): its config completed as
/// transformers completes it, norms read back from llama.cpp's 1 + w, sliding and global layers,
/// and its SentencePiece vocabulary (merges recovered from the token order, byte fallback).
#[test]
fn a_gemma3_gguf_reads_as_transformers_reads_it() {
    let expected = json("tiny-gemma3.json");
    let check = |decoder: &Decoder, tolerance: f32| block_on(check_tiny_gemma3(decoder, tolerance));
    let packed = Decoder::from_gguf(TINY_GEMMA3, &device::cpu()).unwrap();
    assert!(matches!(packed.model, DecoderModel::Packed(_)));
    let config = packed.model.llama_config().unwrap();
    assert_eq!(config.model_type.as_deref(), Some("gemma3_text"));
    assert_eq!(config.gemma.layer_types.as_ref().unwrap()[4..], ["sliding_attention", "full_attention"]);
    check(&packed, 1e-3);
    let side = packed.text.as_ref().unwrap();
    let text = expected["text"].as_str().unwrap();
    let text_ids = ids(&expected["text_ids"]);
    assert!(side.add_bos && text_ids[0] == 2, "BOS goes first (tokenizer.ggml.add_bos_token)");
    assert_eq!(side.tokenizer.ids(text, false).unwrap(), text_ids[1..], "the text's tokens");
    assert_eq!(side.tokenizer.decode(&text_ids).unwrap(), text.replace("<start_of_turn>", ""), "decoded back, special tokens left out");
    let chat = side.chat.as_ref().expect("Gemma's template, the file having none").render(&[Message { role: "user".into(), content: "hi".into() }], true).unwrap();
    assert_eq!(chat, "<bos><start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n");
    check(&packed.dequantized().unwrap(), 1e-4);
    let gpu = Decoder::from_gguf(TINY_GEMMA3, &block_on(device::select(DevicePreference::Gpu)).expect("wgpu adapter required")).unwrap();
    assert!(matches!(gpu.model, DecoderModel::GpuPacked(_)));
    check(&gpu, 1e-4); // tests/browser.rs: on WebGPU
    check(&gpu.dequantized().unwrap(), 1e-4);
}

/// A Gemma 3 file whose window or head counts cannot be a model is refused before any tensor
/// work, naming the field.
#[test]
fn a_gemma3_gguf_with_an_impossible_shape_is_a_clear_error() {
    // the tiny file with one u32 metadata value replaced (key, type 4 = u32, value)
    let patched = |key: &str, value: u32| {
        let mut bytes = TINY_GEMMA3.to_vec();
        let at = bytes.windows(key.len()).position(|w| w == key.as_bytes()).unwrap() + key.len();
        assert_eq!(bytes[at..at + 4], 4u32.to_le_bytes(), "{key} is a u32");
        bytes[at + 4..at + 8].copy_from_slice(&value.to_le_bytes());
        bytes
    };
    let error = |bytes: Vec<u8>| Decoder::from_gguf(&bytes, &device::cpu()).err().expect("refused").to_string();
    let e = error(patched("gemma3.attention.sliding_window", 0));
    assert!(e.contains("sliding_window of at least 1"), "{e}");
    let e = error(patched("gemma3.attention.sliding_window", 65));
    assert!(e.contains("the GGUF's metadata: sliding_window 65 is larger than the context (max_position_embeddings 64)"), "{e}");
    let e = error(patched("gemma3.attention.head_count_kv", 3));
    assert!(e.contains("num_attention_heads 2 must be a positive multiple of num_key_value_heads 3"), "{e}");
}

/// Google's Gemma 3 270M Q4_K_M (Q5_0, Q8_0, Q4_K, Q6_K; a 262,144-token vocabulary) against
/// transformers' reading of it (tests/reference/make_gemma3_real_fixture.py), kept quantized on
/// the CPU: held at about the file's size, the tokenizer's ids on a multilingual sample, the same
/// top 10 next tokens after each prompt, and the same 24 greedy tokens.
#[test]
fn the_real_gemma_3_gguf_stays_quantized_and_answers_as_transformers() {
    check_real_gemma(&device::cpu(), true);
}

/// The same on a GPU (wgpu here; tests/browser.rs has no room for a 253 MB file): the
/// 262,144 × 640 embedding is larger than one buffer binding (128 MiB) and goes up in parts. No
/// greedy run: lavapipe takes a second per token.
#[test]
fn the_real_gemma_3_gguf_stays_quantized_on_the_gpu_and_answers_as_transformers() {
    check_real_gemma(&block_on(device::select(DevicePreference::Gpu)).expect("wgpu adapter required"), false);
}

fn check_real_gemma(device: &webtune::ComputeDevice, greedy: bool) {
    let Some(path) = assets::require_model("gemma-3-270m", "gemma-3-270m-q4_k_m.gguf") else { return };
    let bytes = std::fs::read(path).unwrap();
    let file_size = bytes.len();
    let decoder = Decoder::from_gguf_owned(bytes, device).unwrap();
    assert!(matches!(decoder.model, DecoderModel::Packed(_) | DecoderModel::GpuPacked(_)));
    let held = decoder.weight_bytes();
    assert!((held as f64) <= 1.3 * file_size as f64, "weights take {held} bytes for a {file_size}-byte file");
    let expected: Value = serde_json::from_slice(&std::fs::read(assets::crate_root().join("tests/fixtures/llama/gemma-3-270m.json")).unwrap()).unwrap();
    let side = decoder.text.as_ref().unwrap();
    let sample_ids = ids(&expected["sample_ids"]);
    assert_eq!(side.tokenizer.ids(expected["sample"].as_str().unwrap(), false).unwrap(), sample_ids[1..], "the multilingual sample's tokens");
    for prompt in expected["prompts"].as_array().unwrap() {
        let prompt_ids = ids(&prompt["ids"]);
        assert_eq!(side.tokenizer.ids(prompt["text"].as_str().unwrap(), false).unwrap(), prompt_ids[1..], "the prompt's tokens");
        let input = int2(&[prompt_ids.iter().map(|&t| t as i32).collect()], &decoder.device);
        let logits = block_on(read(decoder.model.forward_last(input, None)));
        let mut order: Vec<u32> = (0..logits.len() as u32).collect();
        order.sort_by(|&a, &b| logits[b as usize].total_cmp(&logits[a as usize]));
        let top10 = ids(&prompt["top10"]);
        assert_eq!(order[..10], top10, "top 10 after {:?}", prompt["text"]);
        let mut reference = Vec::new();
        flat(&prompt["top10_logits"], &mut reference);
        let ours: Vec<f32> = top10.iter().map(|&t| logits[t as usize]).collect();
        assert_close(&format!("top-10 logits after {:?}", prompt["text"]), &ours, &reference, 0.02);
    }
    if !greedy {
        return;
    }
    let first = ids(&expected["prompts"][0]["ids"]);
    let options = GenerateOptions { max_new_tokens: 24, stop: Some(vec![]), ..Default::default() };
    let out = block_on(decoder.generate(&first, &options, |_| true)).unwrap();
    assert_eq!(out.tokens, ids(&expected["greedy"]["ids"]), "24 greedy tokens");
}

/// SmolLM2 Q4_1 kept quantized on the CPU: weights held at about the file's size (reported through
/// the API), last-position logits within 1e-2 of transformers' (the blocks' integer products), the
/// same top 10 and the same chat reply. On a GPU the same Q4_1 kernels are checked at every block
/// type (the tiny files above), at real sizes by the real Gemma 3 below, and on WebGPU by
/// tests/js/generate.test.mjs (SmolLM2 continuing a prompt with the CPU path's tokens).
#[test]
fn smollm2_stays_quantized_and_answers_as_transformers() {
    let Some(path) = assets::require("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf") else { return };
    let bytes = std::fs::read(path).unwrap();
    let file_size = bytes.len();
    let decoder = Decoder::from_gguf_owned(bytes, &device::cpu()).unwrap();
    let DecoderModel::Packed(packed) = &decoder.model else { panic!("GGUF weights are kept quantized") };
    assert_eq!(packed.weights.types(), ["Q4_1", "Q8_0"]);
    assert_eq!(decoder.weight_format(), "Q4_1, Q8_0");
    let held = decoder.weight_bytes();
    assert!((0.9 * file_size as f64..=1.3 * file_size as f64).contains(&(held as f64)), "weights take {held} bytes for a {file_size}-byte file");

    let expected: Value = serde_json::from_slice(&std::fs::read(assets::crate_root().join("tests/fixtures/llama/smollm2.json")).unwrap()).unwrap();
    let messages: Vec<webtune::tokenizer::chat::Message> = serde_json::from_value(expected["messages"].clone()).unwrap();
    let prompt = ids(&expected["prompt_ids"]);
    let input = int2(&[prompt.iter().map(|&t| t as i32).collect()], &decoder.device);
    let all = block_on(read(decoder.model.forward_last(input, None)));
    let mut reference = Vec::new();
    flat(&expected["last_logits_first512"], &mut reference);
    assert_close("SmolLM2 last-position logits, kept quantized", &all[..512], &reference, 1e-2);
    let mut order: Vec<u32> = (0..all.len() as u32).collect();
    order.sort_by(|&a, &b| all[b as usize].total_cmp(&all[a as usize]));
    assert_eq!(order[..10], ids(&expected["top10"]));
    let out = block_on(decoder.chat(&messages, &GenerateOptions { max_new_tokens: 12, ..Default::default() }, |_| true)).unwrap();
    assert_eq!(out.text, expected["reply"].as_str().unwrap().trim_end());
}
