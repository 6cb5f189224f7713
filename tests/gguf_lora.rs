//! LoRA adapters as llama.cpp's adapter GGUF (src/weights/gguf_lora.rs) equal what llama.cpp's own
//! `convert_lora_to_gguf.py` writes from the same PEFT files (tests/reference/make_gguf_lora_fixture.py):
//! the same metadata, tensor names, shapes and values — on a Llama (q/k rows permuted, every
//! projection) and a Qwen2 (rows as stored).
#![cfg(not(target_family = "wasm"))]

mod common;

use common::{
    assets,
    llama::int2,
    parity::{assert_close, read},
};
use pollster::block_on;
use serde_json::Value;
use webtune::{
    device,
    formats::{
        gguf::Gguf,
        gguf_writer::{F32Tensor, Meta, write},
    },
    infer::{AdapterFile, Decoder},
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

/// The tiny Llama (tests/fixtures/llama/tiny) on the CPU.
fn tiny_llama() -> Decoder {
    Decoder::load(&fixture("llama/tiny/config.json"), fixture("llama/tiny/model.safetensors"), &device::cpu()).unwrap()
}

fn logits(decoder: &Decoder) -> Vec<f32> {
    block_on(read(decoder.model.forward(int2(&[vec![1, 7, 30, 4, 12]], &decoder.device), None, None)))
}

#[test]
fn a_peft_adapter_and_llama_cpps_gguf_of_it_attach_alike() {
    // llama.cpp's own conversion of the PEFT folder (q/k rows permuted, A/B in its layout) reads
    // back as the PEFT folder: the same model, which the adapter changes
    let base = tiny_llama();
    let peft = base
        .with_adapter(AdapterFile::Peft { weights: &fixture("ggml/lora-all/adapter_model.safetensors"), config: &fixture("ggml/lora-all/adapter_config.json") }, "lora-all")
        .unwrap();
    let gguf = base.with_adapter(AdapterFile::Gguf(&fixture("ggml/lora-all.gguf")), "lora-all.gguf").unwrap();
    let lora = gguf.lora.clone().unwrap();
    let every = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"].map(String::from).to_vec();
    assert_eq!((lora.rank, lora.alpha, lora.target_modules), (4, 8.0, Some(every)), "the file's settings, its modules in the model's order");
    let (plain, with_peft, with_gguf) = (logits(&base), logits(&peft), logits(&gguf));
    assert_close("GGUF adapter vs PEFT adapter", &with_gguf, &with_peft, 1e-5);
    let moved = plain.iter().zip(&with_peft).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(moved > 1e-3, "the adapter changes the logits: {moved}");
}

#[test]
fn an_adapters_scale_at_run_time_is_its_alpha_scaled() {
    // scale 0 computes the base; 0.5 what the same factors with half the alpha compute
    let base = tiny_llama();
    let weights = fixture("ggml/lora-all/adapter_model.safetensors");
    let config = String::from_utf8(fixture("ggml/lora-all/adapter_config.json")).unwrap();
    let adapted = base.with_adapter(AdapterFile::Peft { weights: &weights, config: config.as_bytes() }, "lora-all").unwrap();
    let halved = config.replace("\"lora_alpha\": 8", "\"lora_alpha\": 4");
    assert_ne!(halved, config, "the fixture's alpha is 8");
    let half_alpha = base.with_adapter(AdapterFile::Peft { weights: &weights, config: halved.as_bytes() }, "half").unwrap();
    assert_close("scale 0.5 vs alpha / 2", &logits(&adapted.with_adapter_scale(0.5).unwrap()), &logits(&half_alpha), 1e-5);
    assert_close("scale 0 vs the base", &logits(&adapted.with_adapter_scale(0.0).unwrap()), &logits(&base), 1e-5);
    assert_close("scale 1 vs the adapter", &logits(&adapted.with_adapter_scale(1.0).unwrap()), &logits(&adapted), 0.0);
    let e = adapted.with_adapter_scale(f64::NAN).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("adapterScale must be a finite number"), "{e}");
    let e = base.with_adapter_scale(0.5).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("carries no LoRA adapter"), "{e}");
}

#[test]
fn an_adapter_for_another_base_or_an_incomplete_one_is_a_clear_error_and_the_base_keeps_working() {
    let base = tiny_llama();
    let before = logits(&base);
    let llama_cpps = fixture("ggml/lora-all.gguf");
    let file = Gguf::parse(&llama_cpps).unwrap();
    // the file rewritten with `keep` tensors (reshaped by `change`) and `alpha`
    let rewrite = |keep: &dyn Fn(&str) -> bool, alpha: f32, change: &dyn Fn(&mut F32Tensor)| {
        let tensors: Vec<F32Tensor> = file
            .tensors
            .iter()
            .filter(|t| keep(&t.name))
            .map(|t| {
                let mut t = F32Tensor { name: t.name.clone(), dims: t.dims.clone(), values: file.dequantize(t).unwrap() };
                change(&mut t);
                t
            })
            .collect();
        let meta = [
            ("general.architecture", Meta::Str("llama".into())),
            ("general.type", Meta::Str("adapter".into())),
            ("adapter.type", Meta::Str("lora".into())),
            ("adapter.lora.alpha", Meta::F32(alpha)),
        ];
        write(&meta, &tensors)
    };
    let attach = |bytes: &[u8]| base.with_adapter(AdapterFile::Gguf(bytes), "adapter.gguf").map(|_| ()).unwrap_err().to_string();
    let e = attach(&rewrite(&|n| n != "blk.1.attn_v.weight.lora_b", 8.0, &|_| {}));
    assert!(e.contains("adapter.gguf") && e.contains("blk.1.attn_v.weight.lora_b is missing"), "{e}");
    let e = attach(&rewrite(&|_| true, 0.0, &|_| {}));
    assert!(e.contains("adapter.lora.alpha is 0"), "{e}");
    // a rank of 40 on a 32-wide layer
    let e = attach(&rewrite(&|n| n.starts_with("blk.0.attn_q."), 8.0, &|t| {
        let (i, o) = (t.dims[0], t.dims[1]);
        *t = if t.name.ends_with("lora_a") {
            F32Tensor { name: t.name.clone(), dims: vec![i, 40], values: vec![0.01; i as usize * 40] }
        } else {
            F32Tensor { name: t.name.clone(), dims: vec![40, o], values: vec![0.01; o as usize * 40] }
        };
    }));
    assert!(e.contains("rank 40, larger than its layer"), "{e}");
    // another model's shapes, and another architecture
    let e = attach(&rewrite(&|_| true, 8.0, &|t| {
        if t.name == "blk.0.attn_output.weight.lora_a" {
            t.dims[0] = 16;
            t.values.truncate(16 * t.dims[1] as usize);
        }
    }));
    assert!(e.contains("blk.0.attn_output.weight.lora_a") && e.contains("another model"), "{e}");
    let e = attach(&fixture("ggml/lora-qwen2.gguf"));
    assert!(e.contains("an adapter for \"qwen2\" models, but the base is \"llama\""), "{e}");
    let e = attach(&fixture("llama/tiny/model.safetensors"));
    assert!(e.contains("adapter.gguf"), "{e}");
    let e = base
        .with_adapter(AdapterFile::Peft { weights: &fixture("ggml/lora-all/adapter_model.safetensors"), config: b"{\"r\": 4, \"lora_alpha\": 0}" }, "adapter_config.json")
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("lora_alpha 0 must be positive"), "{e}");
    assert_eq!(logits(&base), before, "the base is untouched");
}
