//! LoRA adapters as llama.cpp's adapter GGUF (src/weights/gguf_lora.rs) equal what llama.cpp's own
//! `convert_lora_to_gguf.py` writes from the same PEFT files (tests/reference/make_gguf_lora_fixture.py):
//! the same metadata, tensor names, shapes and values — on a Llama (q/k rows permuted, every
//! projection) and a Qwen2 (rows as stored).
#![cfg(not(target_family = "wasm"))]

mod common;

use common::assets;
use serde_json::Value;
use webtune::{
    formats::gguf::Gguf,
    models::{llama::LlamaConfig, lora::LoraOptions},
    weights::gguf_lora,
};

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(assets::crate_root().join("tests/fixtures").join(rel)).unwrap()
}

/// Our conversion of the PEFT folder `adapter` (for the model whose config is `base`) against
/// llama.cpp's `reference`.
fn check(adapter: &str, base: &str, reference: &str) {
    let settings: Value = serde_json::from_slice(&fixture(&format!("{adapter}/adapter_config.json"))).unwrap();
    let lora = LoraOptions {
        rank: settings["r"].as_u64().unwrap() as usize,
        alpha: settings["lora_alpha"].as_f64().unwrap(),
        rslora: settings["use_rslora"].as_bool().unwrap_or(false),
        ..LoraOptions::default()
    };
    let config = LlamaConfig::from_json(std::str::from_utf8(&fixture(&format!("{base}/config.json"))).unwrap()).unwrap();
    let ours = gguf_lora::from_peft(&fixture(&format!("{adapter}/adapter_model.safetensors")), &lora, &config).unwrap();
    let reference = fixture(reference);
    let (ours, theirs) = (Gguf::parse(&ours).unwrap(), Gguf::parse(&reference).unwrap());
    for key in ["general.architecture", "general.type", "adapter.type", "adapter.lora.alpha"] {
        assert_eq!(ours.metadata.get(key), theirs.metadata.get(key), "{key}");
    }
    let mut names: Vec<&str> = ours.tensors.iter().map(|t| t.name.as_str()).collect();
    let mut want: Vec<&str> = theirs.tensors.iter().map(|t| t.name.as_str()).collect();
    names.sort();
    want.sort();
    assert_eq!(names, want, "tensor names");
    for t in &theirs.tensors {
        let o = ours.tensors.iter().find(|o| o.name == t.name).unwrap();
        assert_eq!(o.dims, t.dims, "{} dims", t.name);
        assert_eq!(ours.dequantize(o).unwrap(), theirs.dequantize(t).unwrap(), "{} values", t.name);
    }
}

#[test]
fn a_llama_adapter_on_every_projection_is_llama_cpps() {
    check("ggml/lora-all", "llama/tiny", "ggml/lora-all.gguf");
}

#[test]
fn a_qwen2_adapter_is_llama_cpps() {
    check("llama/train-steps-qwen2/lora-trained", "llama/tiny-qwen2", "ggml/lora-qwen2.gguf");
}

#[test]
fn a_file_that_is_not_a_lora_adapter_is_a_clear_error() {
    let config = LlamaConfig::from_json(std::str::from_utf8(&fixture("llama/tiny/config.json")).unwrap()).unwrap();
    let e = gguf_lora::from_peft(b"not safetensors", &LoraOptions::default(), &config).unwrap_err().to_string();
    assert!(e.contains("not safetensors"), "{e}");
    // a full model's weights are not factors
    let e = gguf_lora::from_peft(&fixture("llama/tiny/model.safetensors"), &LoraOptions::default(), &config).unwrap_err().to_string();
    assert!(e.contains("has no place in a llama.cpp adapter"), "{e}");
}
