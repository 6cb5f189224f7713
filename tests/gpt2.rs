//! GPT-2 against transformers (fixtures from tests/reference/make_gpt2_fixtures.py and
//! make_gpt2_train_fixture.py): the real GPT-2 tokenizer's ids; a tiny random GPT2LMHeadModel's
//! logits on the CPU (≤ 1e-4) and wgpu (≤ 1e-3), right-padded batches, greedy tokens with and
//! without the KV cache; fine-tuning (all weights, and LoRA against PEFT) step by step; export
//! to transformers' and PEFT's files; bad checkpoints.
#![cfg(not(target_family = "wasm"))]

mod common;

use burn::tensor::{Int, Tensor, TensorData};
use common::{
    lm_training::{Family, check_family_steps_match_pytorch, lora_options_of, peft_adapters_of},
    parity::{assert_close, floats, ints, read},
};
use pollster::block_on;
use serde_json::Value;
use webtune::{
    ComputeDevice, DevicePreference, device,
    models::{gpt2::Gpt2Config, kv_cache::KvCache},
    weights::gpt2::load_lm,
};

fn fixture(file: &str) -> Vec<u8> {
    let path = common::assets::crate_root().join("tests/fixtures/gpt2").join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn expected() -> Value {
    serde_json::from_slice(&fixture("expected.json")).unwrap()
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()
}

fn tensor(ids: &[i64], batch: usize, dev: &ComputeDevice) -> Tensor<2, Int> {
    Tensor::from_data(TensorData::new(ids.to_vec(), [batch, ids.len() / batch]), dev.device())
}

fn argmax(logits: &[f32]) -> i64 {
    logits.iter().enumerate().fold((0, f32::MIN), |best, (i, &x)| if x > best.1 { (i, x) } else { best }).0 as i64
}

#[test]
fn the_real_gpt2_tokenizer_gives_transformers_ids() {
    let exp = &expected()["tokenizer"];
    let Some(path) = common::assets::require("tokenizers/gpt2/tokenizer.json") else { return };
    let tok = tokenizers::Tokenizer::from_file(path).unwrap();
    for (text, want) in exp["texts"].as_array().unwrap().iter().zip(exp["ids"].as_array().unwrap()) {
        let got: Vec<i64> = tok.encode(text.as_str().unwrap(), true).unwrap().get_ids().iter().map(|&i| i as i64).collect();
        assert_eq!(got, ids(want), "{text}");
    }
}

/// Logits, a right-padded batch and greedy tokens against transformers; with `split`, the token
/// embeddings are read in vocabulary chunks of at most that many bytes (as on a GPU that binds
/// less than the whole table).
fn check_parity(dev: &ComputeDevice, tol: f32, split: Option<u64>) {
    let exp = &expected()["tiny"];
    let config = Gpt2Config::from_json(std::str::from_utf8(&fixture("tiny/config.json")).unwrap()).unwrap();
    let (model, report) = load_lm(&config, fixture("tiny/model.safetensors"), dev.device(), split).unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    if split.is_some() {
        assert_eq!(model.transformer.wte_parts.len(), 13, "400 rows of 128 bytes in parts of at most 32");
        assert_eq!(model.transformer.wte.weight.dims(), [0, 32], "no whole table");
    }
    let tok = tokenizers::Tokenizer::from_bytes(fixture("tiny/tokenizer.json")).unwrap();
    let prompt: Vec<i64> = tok.encode(exp["prompt"].as_str().unwrap(), true).unwrap().get_ids().iter().map(|&i| i as i64).collect();
    assert_eq!(prompt, ids(&exp["input_ids"]), "token ids");

    let logits = block_on(read(model.forward(tensor(&prompt, 1, dev), None, None)));
    assert_close(&format!("logits on {}", dev.info()), &logits, &floats(&exp["logits"]), tol);

    // right-padded batch: each row's last real token
    let b = &exp["batch"];
    let (batch_ids, mask) = (ints(&b["input_ids"]), ints(&b["attention_mask"]));
    let rows = b["texts"].as_array().unwrap().len();
    let seq = batch_ids.len() / rows;
    let wide = |v: &[i32]| v.iter().map(|&x| x as i64).collect::<Vec<_>>();
    let all = block_on(read(model.forward(tensor(&wide(&batch_ids), rows, dev), Some(tensor(&wide(&mask), rows, dev)), None)));
    let vocab = config.vocab_size;
    let last: Vec<f32> = (0..rows)
        .flat_map(|r| {
            let t = mask[r * seq..(r + 1) * seq].iter().filter(|&&m| m == 1).count() - 1;
            all[(r * seq + t) * vocab..(r * seq + t + 1) * vocab].to_vec()
        })
        .collect();
    assert_close("right-padded batch", &last, &floats(&b["last_logits"]), tol);

    // greedy, 20 tokens: with the KV cache, and recomputing everything each step
    let want = ids(&exp["greedy"]);
    let mut cache = KvCache::default();
    let mut next = block_on(read(model.forward_last(tensor(&prompt, 1, dev), Some(&mut cache))));
    let mut cached = Vec::new();
    for _ in 0..want.len() {
        let token = argmax(&next);
        cached.push(token);
        next = block_on(read(model.forward_last(tensor(&[token], 1, dev), Some(&mut cache))));
    }
    assert_eq!(cached, want, "greedy tokens with the KV cache vs transformers");
    let mut seq = prompt.clone();
    for _ in 0..want.len() {
        let token = argmax(&block_on(read(model.forward_last(tensor(&seq, 1, dev), None))));
        seq.push(token);
    }
    assert_eq!(seq[prompt.len()..], want[..], "greedy tokens without the cache");
}

#[test]
fn tiny_gpt2_matches_transformers_on_cpu() {
    check_parity(&device::cpu(), 1e-4, None);
    check_parity(&device::cpu(), 1e-4, Some(4096)); // 400 × 32 f32 = 51 kB in 13 chunks of 32 rows
}

/// A table held in parts is refused for saving (and so fine-tuning) with advice; a binding too
/// small for even one row is refused at load.
#[test]
fn embeddings_held_in_parts_are_refused_where_unsupported() {
    let config = Gpt2Config::from_json(std::str::from_utf8(&fixture("tiny/config.json")).unwrap()).unwrap();
    let cpu = device::cpu();
    let e = load_lm(&config, fixture("tiny/model.safetensors"), cpu.device(), Some(100)).err().unwrap();
    assert_eq!(e.js_name(), "OutOfMemoryError");
    let (parted, _) = load_lm(&config, fixture("tiny/model.safetensors"), cpu.device(), Some(4096)).unwrap();
    let e = block_on(webtune::weights::gpt2::export_lm(&parted, &cpu)).unwrap_err();
    assert!(e.to_string().contains("held in parts") && e.to_string().contains("device \"cpu\""), "{e}");
    let (whole, _) = load_lm(&config, fixture("tiny/model.safetensors"), cpu.device(), Some(1 << 20)).unwrap();
    assert!(whole.transformer.wte_parts.is_empty(), "a table that fits stays whole");
}

#[test]
fn tiny_gpt2_matches_transformers_on_wgpu() {
    let dev = block_on(device::select(DevicePreference::Gpu)).expect("wgpu adapter required");
    assert_eq!(dev.info().kind, "wgpu");
    check_parity(&dev, 1e-3, None);
    check_parity(&dev, 1e-3, Some(4096));
}

#[test]
fn bad_gpt2_files_are_clear_errors() {
    let text = String::from_utf8(fixture("tiny/config.json")).unwrap();
    let config = |edit: &dyn Fn(&mut Value)| {
        let mut v: Value = serde_json::from_str(&text).unwrap();
        edit(&mut v);
        Gpt2Config::from_json(&v.to_string()).err().expect("refused").to_string()
    };
    let e = config(&|c| c["n_head"] = 5.into());
    assert!(e.contains("n_embd 32 must be a positive multiple of n_head 5"), "{e}");
    let e = config(&|c| c["tie_word_embeddings"] = false.into());
    assert!(e.contains("tie_word_embeddings false is not supported"), "{e}");
    let e = config(&|c| c["activation_function"] = "swish".into());
    assert!(e.contains("\"swish\" is not supported"), "{e}");
    let e = config(&|c| c["eos_token_id"] = 4_000_000_000u64.into());
    assert!(e.contains("eos_token_id 4000000000 is not a token id"), "{e}");
    let e = config(&|c| c["n_layer"] = 0.into());
    assert!(e.contains("n_layer 0"), "{e}");

    // an untied head: refused rather than dropped
    let good = Gpt2Config::from_json(&text).unwrap();
    let weights = fixture("tiny/model.safetensors");
    let st = safetensors::SafeTensors::deserialize(&weights).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> =
        st.tensors().into_iter().map(|(k, v)| (k, v.shape().to_vec(), v.data().to_vec())).collect();
    let wte = tensors.iter().find(|(k, _, _)| k == "transformer.wte.weight").unwrap().clone();
    let mut head = wte.2.clone();
    head[0] ^= 1;
    tensors.push(("lm_head.weight".into(), wte.1.clone(), head));
    let views: Vec<(String, safetensors::tensor::TensorView)> =
        tensors.iter().map(|(k, s, d)| (k.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d).unwrap())).collect();
    let untied = safetensors::serialize(views, None).unwrap();
    let e = load_lm(&good, untied, device::cpu().device(), None).err().expect("refused").to_string();
    assert!(e.contains("lm_head.weight differs from the token embeddings"), "{e}");
    // a config wider than the file
    let wide = Gpt2Config { n_embd: 64, ..good };
    let e = load_lm(&wide, weights, device::cpu().device(), None).err().expect("refused").to_string();
    assert!(e.contains("does not belong to these weights"), "{e}");
}

/// Through the decoder every pipeline uses: text in, transformers' greedy tokens out (up to
/// `<|endoftext|>`, where generation stops); perplexity on text.
#[test]
fn gpt2_generates_and_evaluates_through_the_decoder() {
    let exp = &expected()["tiny"];
    let dev = device::cpu();
    let decoder = webtune::infer::Decoder::from_hf(&fixture("tiny/config.json"), fixture("tiny/model.safetensors"), &fixture("tiny/tokenizer.json"), None, &dev).unwrap();
    let want = ids(&exp["greedy"]);
    let eos = want.iter().position(|&t| t == 0).expect("the greedy run meets <|endoftext|>");
    let out = block_on(decoder.complete(exp["prompt"].as_str().unwrap(), &webtune::infer::GenerateOptions { max_new_tokens: 20, ..Default::default() }, |_| true)).unwrap();
    assert_eq!(out.tokens.iter().map(|&t| t as i64).collect::<Vec<_>>(), want[..eos], "greedy tokens vs transformers");
    assert_eq!(out.stop_reason, webtune::infer::StopReason::Stop);
    assert!(!out.text.is_empty());

    use webtune::infer::language_model::{LmRowEncoder, encode_all, evaluate};
    let text = |t: &str| webtune::data::TextExample { content: webtune::data::TextContent::Text(t.into()), origin: "test".into() };
    let rows = vec![text("a delight from start to finish"), text("dull and far too long")];
    let (encoded, _) = encode_all(&LmRowEncoder::new(&decoder, None).unwrap(), &rows, 64, false, "evaluation").unwrap();
    let metrics = block_on(evaluate(&decoder.model, &decoder.device, &encoded, 0, 8)).unwrap();
    assert!(metrics.loss.is_finite() && metrics.perplexity > 1.0, "{metrics:?}");
}

#[test]
fn gpt2_fine_tuning_matches_pytorch_on_cpu() {
    let _turn = common::cpu_turn();
    block_on(check_family_steps_match_pytorch(Family::Gpt2, &device::cpu(), "pairs", 1e-4));
    block_on(check_family_steps_match_pytorch(Family::Gpt2, &device::cpu(), "texts", 1e-4));
}

#[test]
fn gpt2_fine_tuning_matches_pytorch_on_wgpu() {
    let dev = block_on(device::select(DevicePreference::Gpu)).expect("wgpu adapter required");
    block_on(check_family_steps_match_pytorch(Family::Gpt2, &dev, "pairs", 1e-3));
}

/// The fine-tuned model saves as transformers' `GPT2LMHeadModel` folder: the checkpoint's own
/// tensor names and `Conv1D` shapes (`[in, out]`), no separate head; loaded back it computes
/// the trained model's logits.
#[test]
fn a_fine_tuned_gpt2_exports_to_the_hugging_face_layout() {
    let _turn = common::cpu_turn();
    let cpu = device::cpu();
    let (decoder, run) = block_on(check_family_steps_match_pytorch(Family::Gpt2, &cpu, "pairs", 1e-4));
    let tuned = decoder.with_model(run.model, run.device, None);
    let files = block_on(tuned.export()).unwrap();
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]);
    let config: Value = serde_json::from_slice(&files[0].1).unwrap();
    assert_eq!((config["architectures"][0].as_str(), config["model_type"].as_str(), config["n_embd"].as_u64()), (Some("GPT2LMHeadModel"), Some("gpt2"), Some(32)));
    let original = fixture("tiny/model.safetensors");
    let (original, ours) = (safetensors::SafeTensors::deserialize(&original).unwrap(), safetensors::SafeTensors::deserialize(&files[1].1).unwrap());
    let mut want: Vec<(String, Vec<usize>)> = original.tensors().into_iter().map(|(n, t)| (n, t.shape().to_vec())).collect();
    let mut got: Vec<(String, Vec<usize>)> = ours.tensors().into_iter().map(|(n, t)| (n, t.shape().to_vec())).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "the checkpoint's names and shapes");
    assert_eq!(ours.tensor("transformer.h.0.mlp.c_fc.weight").unwrap().shape(), [32, 128], "Conv1D keeps [in, out]");

    let reloaded = webtune::infer::Decoder::from_hf(&files[0].1, files[1].1.clone(), &files[2].1, Some(&files[3].1), &cpu).unwrap();
    let input = tensor(&[5, 17, 42, 99, 3], 1, &cpu);
    let a = block_on(read(tuned.model.forward(input.clone(), None, None)));
    let b = block_on(read(reloaded.model.forward(input, None, None)));
    assert_close("reloaded logits", &b, &a, 1e-6);
}

/// LoRA on GPT-2's `Conv1D` projections as PEFT does it (`fan_in_fan_out`; `c_proj` names the
/// attention's and the MLP's): from PEFT's initial adapter every step matches PEFT's; the saved
/// adapter has PEFT's names and trained values and a config PEFT reads as GPT-2's; merged into the
/// weights it generates what the adapted model generates, and only adapted weights changed.
#[test]
fn gpt2_lora_matches_peft_and_saves_its_files() {
    let _turn = common::cpu_turn();
    let cpu = device::cpu();
    let (decoder, run) = block_on(check_family_steps_match_pytorch(Family::Gpt2, &cpu, "lora", 1e-4));
    let tuned = decoder.with_model(run.model, run.device, Some(lora_options_of(Family::Gpt2)));
    let files = block_on(tuned.export_adapter("tiny-gpt2")).unwrap();
    let config: Value = serde_json::from_slice(&files[1].1).unwrap();
    assert_eq!((config["task_type"].as_str(), config["fan_in_fan_out"].as_bool()), (Some("CAUSAL_LM"), Some(true)));
    assert_eq!(config["target_modules"], serde_json::json!(["c_attn", "c_proj", "c_fc"]));
    common::parity::assert_same_safetensors("against PEFT's trained adapter", &files[0].1, peft_adapters_of(Family::Gpt2).1, 1e-4);
    let merged = block_on(tuned.export()).unwrap();
    let reloaded = webtune::infer::Decoder::load(&merged[0].1, merged[1].1.clone(), &cpu).unwrap();
    let opts = webtune::infer::GenerateOptions { max_new_tokens: 8, ..Default::default() };
    let prompt = [5u32, 17, 42];
    assert_eq!(block_on(tuned.generate(&prompt, &opts, |_| true)).unwrap().tokens, block_on(reloaded.generate(&prompt, &opts, |_| true)).unwrap().tokens);
    let base = fixture("tiny/model.safetensors");
    let base = safetensors::SafeTensors::deserialize(&base).unwrap().tensors();
    let merged = safetensors::SafeTensors::deserialize(&merged[1].1).unwrap();
    for (name, t) in base {
        let adapted = ["c_attn.weight", "c_proj.weight", "c_fc.weight"].iter().any(|m| name.ends_with(m));
        assert_eq!(t.data() == merged.tensor(&name).unwrap().data(), !adapted, "{name}");
    }
}
