//! Llama parity with Hugging Face transformers (fixtures from tests/reference/make_llama_fixtures.py):
//! logits with grouped-query attention, padding, tied and untied heads, natively on the CPU
//! (≤ 1e-4) and on wgpu (≤ 1e-3); greedy generation through the KV cache token for token; the real
//! stories260K against transformers and against llama2.c's own expected text; SmolLM2-135M-Instruct
//! from its Q4_1 GGUF against transformers' GGUF loader (tokens, logits, chat reply); bad input.
#![cfg(not(target_family = "wasm"))] // native only: the browser suite is tests/browser.rs

mod common;

use common::{
    assets,
    llama::{LlamaFixture, check_llama, flat, ids, int2},
    parity::{assert_close, read},
};
use pollster::block_on;
use serde_json::Value;
use webtune::{
    DevicePreference, Error, device,
    infer::{
        Decoder, GenerateOptions, StopReason,
        sampling::{Processors, process},
    },
    tokenizer::{
        chat::{ChatTemplate, Message},
        llama2c::Llama2cVocab,
    },
};

/// Llama 2 (separate and tied heads), Llama 3's scaled RoPE, Qwen2's q/k/v biases, Qwen3's
/// per-head q/k norms, Gemma 3 (sandwich norms, sliding-window and full layers, greedy tokens
/// past the window).
const TINY: [&str; 6] = ["tiny", "tiny-tied", "tiny-llama3", "tiny-qwen2", "tiny-qwen3", "tiny-gemma3"];

#[test]
fn tiny_llamas_match_transformers_on_cpu() {
    for name in TINY {
        block_on(check_llama(LlamaFixture::read(name), &device::cpu(), 1e-4));
    }
}

/// A Qwen config may list sliding layers and a window while `use_sliding_window` is false:
/// transformers then drops the window (every layer attends fully), and so must webtune.
#[test]
fn qwen_layer_types_without_use_sliding_window_attend_fully() {
    let mut fx = LlamaFixture::read("tiny-qwen3");
    let text = String::from_utf8(fx.config).unwrap();
    let patched = text
        .replace("\"full_attention\",\n    \"full_attention\"", "\"sliding_attention\",\n    \"sliding_attention\"")
        .replace("\"sliding_window\": null", "\"sliding_window\": 2");
    assert!(patched.contains("\"sliding_window\": 2") && patched.contains("sliding_attention"), "the fixture's config changed shape");
    fx.config = patched.into_bytes();
    block_on(check_llama(fx, &device::cpu(), 1e-4));
}

#[test]
fn tiny_llamas_match_transformers_on_wgpu() {
    let dev = block_on(device::select(DevicePreference::Gpu)).expect("wgpu adapter required");
    assert_eq!(dev.info().kind, "wgpu");
    for name in TINY {
        block_on(check_llama(LlamaFixture::read(name), &dev, 1e-3));
    }
}

#[test]
fn generation_streams_tokens_and_stops_where_asked() {
    let LlamaFixture { config, weights, expected, .. } = LlamaFixture::read("tiny");
    let decoder = Decoder::load(&config, weights, &device::cpu()).unwrap();
    let prompt = ids(&expected["prompt"]);
    let greedy = ids(&expected["greedy"]);
    let mut seen = Vec::new();
    let options = GenerateOptions { max_new_tokens: 12, stop: Some(vec![]), ..Default::default() };
    let out = block_on(decoder.generate(&prompt, &options, |t| {
        seen.push(t);
        seen.len() < 5
    }))
    .unwrap();
    assert_eq!((out.tokens.as_slice(), out.stop_reason), (&greedy[..5], StopReason::Cancelled));
    assert_eq!(seen, greedy[..5]);
    // a stop token ends generation before it is emitted
    let options = GenerateOptions { max_new_tokens: 12, stop: Some(vec![greedy[3]]), ..Default::default() };
    let out = block_on(decoder.generate(&prompt, &options, |_| true)).unwrap();
    assert_eq!((out.tokens.as_slice(), out.stop_reason), (&greedy[..3], StopReason::Stop));
    // sampling is seeded
    let sampled = |seed| {
        let o = GenerateOptions { max_new_tokens: 8, temperature: 0.9, top_p: Some(0.95), seed, stop: Some(vec![]), ..Default::default() };
        block_on(decoder.generate(&prompt, &o, |_| true)).unwrap().tokens
    };
    assert_eq!(sampled(7), sampled(7));
    // the context is capped by max_position_embeddings (64)
    let o = GenerateOptions { max_new_tokens: 1000, stop: Some(vec![]), ..Default::default() };
    assert_eq!(block_on(decoder.generate(&prompt, &o, |_| true)).unwrap().tokens.len(), 64 - prompt.len());
    let e = block_on(decoder.generate(&[1; 64], &o, |_| true)).unwrap_err();
    assert!(matches!(e, Error::Data(_)) && e.to_string().contains("at most 64 positions"), "{e}");
    let e = block_on(decoder.generate(&[], &o, |_| true)).unwrap_err();
    assert!(e.to_string().contains("prompt is empty"), "{e}");
}

/// Generation options against transformers (tests/reference/make_sampling_fixture.py): each
/// logits processor's scores (≤ 1e-5, the same tokens removed), and greedy decoding with a
/// repetition penalty token for token.
#[test]
fn generation_options_match_transformers_processors() {
    let fixture: Value = serde_json::from_str(include_str!("fixtures/llama/sampling.json")).unwrap();
    for case in fixture["processors"].as_array().unwrap() {
        let o = &case["options"];
        let f = |k: &str| o[k].as_f64().map(|x| x as f32);
        let p = Processors {
            repetition_penalty: f("repetition_penalty").unwrap_or(1.0),
            temperature: f("temperature").unwrap_or(0.0),
            top_k: o["top_k"].as_u64().map(|k| k as usize),
            top_p: f("top_p"),
            min_p: f("min_p"),
        };
        let mut scores = Vec::new();
        flat(&case["logits"], &mut scores);
        process(&mut scores, &ids(&case["context"]), &p);
        let want = case["scores"].as_array().unwrap();
        assert_eq!(scores.len(), want.len(), "{o}");
        for (i, (got, want)) in scores.iter().zip(want).enumerate() {
            match want.as_f64() {
                None => assert_eq!(*got, f32::NEG_INFINITY, "{o}: token {i} should be removed"),
                Some(w) => assert!((*got as f64 - w).abs() <= 1e-5, "{o}: token {i}: {got} vs transformers {w}"),
            }
        }
    }
    let LlamaFixture { config, weights, .. } = LlamaFixture::read("tiny");
    let decoder = Decoder::load(&config, weights, &device::cpu()).unwrap();
    let g = &fixture["greedy"];
    let options = GenerateOptions { max_new_tokens: 16, repetition_penalty: 1.3, stop: Some(vec![]), ..Default::default() };
    let out = block_on(decoder.generate(&ids(&g["prompt"]), &options, |_| true)).unwrap();
    assert_eq!(out.tokens, ids(&g["tokens"]), "greedy with repetition_penalty 1.3 vs transformers");
    let plain = GenerateOptions { repetition_penalty: 1.0, ..options };
    assert_eq!(block_on(decoder.generate(&ids(&g["prompt"]), &plain, |_| true)).unwrap().tokens, ids(&g["without_penalty"]));
}

#[test]
fn stories260k_matches_transformers_and_llama2c() {
    let Some(dir) = assets::require("models/stories260K/hf/model.safetensors").map(|p| p.parent().unwrap().to_path_buf())
    else {
        return;
    };
    let expected: Value =
        serde_json::from_slice(&std::fs::read(assets::crate_root().join("tests/fixtures/llama/stories260K.json")).unwrap()).unwrap();
    let dev = device::cpu();
    let decoder = Decoder::load(&std::fs::read(dir.join("config.json")).unwrap(), std::fs::read(dir.join("model.safetensors")).unwrap(), &dev).unwrap();
    let prompt = ids(&expected["prompt"]);
    let logits = decoder.model.forward(int2(&[prompt.iter().map(|&t| t as i32).collect()], &dev), None, None);
    let [_, _, v] = logits.dims();
    let first3 = block_on(read(logits.slice([0..1, 0..3, 0..v])));
    let mut reference = Vec::new();
    flat(&expected["logits_first3"], &mut reference);
    assert_close("stories260K logits", &first3, &reference, 1e-4);

    // llama2.c's test: greedy from BOS for 199 tokens (it stops only at BOS), decoded by tok512.bin
    let Some(tok) = assets::require("models/stories260K/tok512.bin") else { return };
    let Some(text) = assets::require("models/stories260K/greedy_199_tokens_reference_output.txt") else { return };
    let options = GenerateOptions { max_new_tokens: 199, stop: Some(vec![1]), ..Default::default() };
    let out = block_on(decoder.generate(&[1], &options, |_| true)).unwrap();
    assert_eq!(out.tokens[..40], ids(&expected["greedy_from_bos"])[..], "greedy tokens vs transformers");
    let vocab = Llama2cVocab::from_bytes(&std::fs::read(tok).unwrap(), 512).unwrap();
    assert_eq!(vocab.decode(&out.tokens).trim_end(), std::fs::read_to_string(text).unwrap().trim_end());
}

#[test]
fn bad_llama_files_are_clear_errors() {
    let LlamaFixture { config, weights, .. } = LlamaFixture::read("tiny");
    let cpu = device::cpu();
    let err = |config: &[u8], weights: Vec<u8>| Decoder::load(config, weights, &cpu).err().expect("loading must fail").to_string();
    let text = String::from_utf8(config.clone()).unwrap();
    let e = err(text.replace("\"llama\"", "\"bert\"").as_bytes(), weights.clone());
    assert!(e.contains("\"bert\" is an encoder") && e.contains("text-classification"), "{e}");
    let e = err(text.replace("\"llama\"", "\"mamba\"").as_bytes(), weights.clone());
    assert!(e.contains("\"mamba\" is not supported yet; webtune reads bert, distilbert, roberta, camembert, xlm-roberta (encoders), llama, qwen2, qwen3, gemma3_text, gpt2 (decoders)"), "{e}");
    let e = err(text.replace("\"rope_type\": \"default\"", "\"rope_type\": \"yarn\"").as_bytes(), weights.clone());
    assert!(e.contains("RoPE type \"yarn\" is not supported yet (\"default\", \"linear\", \"llama3\" and \"longrope\" are)"), "{e}");
    let longrope = |extra: &str| text.replace("\"rope_type\": \"default\"", &format!("\"rope_type\": \"longrope\", {extra}"));
    let e = err(longrope("\"short_factor\": [1, 2], \"long_factor\": [1, 3], \"attention_factor\": 1").as_bytes(), weights.clone());
    assert!(e.contains("different short_factor and long_factor is not supported"), "{e}");
    let e = err(longrope("\"short_factor\": [1, 2], \"long_factor\": [1, 2], \"attention_factor\": 1").as_bytes(), weights.clone());
    assert!(e.contains("rope_scaling lists 2 factors; head_dim 8 has 4 rotary frequencies"), "{e}");
    let e = err(text.replace("\"rope_type\": \"default\"", "\"rope_type\": \"llama3\"").as_bytes(), weights.clone());
    assert!(e.contains("rope_scaling of type \"llama3\" needs a positive factor"), "{e}");
    let llama3 = String::from_utf8(LlamaFixture::read("tiny-llama3").config).unwrap();
    let e = err(llama3.replace("\"high_freq_factor\": 4.0", "\"high_freq_factor\": 1.0").as_bytes(), weights.clone());
    assert!(e.contains("high_freq_factor 1 must be above low_freq_factor 1"), "{e}");
    let qwen = String::from_utf8(LlamaFixture::read("tiny-qwen3").config).unwrap();
    let e = err(qwen.replace("\"use_sliding_window\": false", "\"use_sliding_window\": true").as_bytes(), weights.clone());
    assert!(e.contains("use_sliding_window true is not supported yet"), "{e}");
    let gemma = String::from_utf8(LlamaFixture::read("tiny-gemma3").config).unwrap();
    let e = err(gemma.replace("\"gemma3_text\"", "\"gemma3\"").as_bytes(), weights.clone());
    assert!(e.contains("Gemma 3's image-and-text model") && e.contains("gemma3_text"), "{e}");
    let e = err(gemma.replace("\"final_logit_softcapping\": null", "\"final_logit_softcapping\": 30.0").as_bytes(), weights.clone());
    assert!(e.contains("final_logit_softcapping are not supported"), "{e}");
    let e = err(gemma.replace("\"sliding_window\": 4", "\"sliding_window\": 0").as_bytes(), weights.clone());
    assert!(e.contains("sliding_attention layers need a sliding_window of at least 1"), "{e}");
    let e = err(gemma.replace("\"full_attention\"\n  ]", "\"chunked_attention\"\n  ]").as_bytes(), weights.clone());
    assert!(e.contains("layer type \"chunked_attention\" is not supported"), "{e}");
    let e = err(gemma.replace("\"factor\": 2.0", "\"factor\": 0.0").as_bytes(), weights.clone());
    assert!(e.contains("rope_scaling of type \"linear\" needs a positive factor"), "{e}");
    let e = err(text.replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3").as_bytes(), weights.clone());
    assert!(e.contains("multiple of num_key_value_heads 3"), "{e}");
    let e = err(text.replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 0").as_bytes(), weights.clone());
    assert!(e.contains("num_hidden_layers 0 and vocab_size"), "{e}");
    // the untied model's config on the tied model's weights: lm_head.weight is missing
    let tied_weights = LlamaFixture::read("tiny-tied").weights;
    let e = err(&config, tied_weights);
    assert!(e.contains("lm_head.weight") || e.contains("shape"), "{e}");
    let e = err(&config, weights[..weights.len() / 2].to_vec());
    assert!(e.contains("not a valid safetensors"), "{e}");
}

#[test]
fn smollm2_gguf_matches_transformers_and_answers() {
    let Some(path) = assets::require("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf") else { return };
    let expected: Value =
        serde_json::from_slice(&std::fs::read(assets::crate_root().join("tests/fixtures/llama/smollm2.json")).unwrap()).unwrap();
    let dev = device::cpu();
    let decoder = Decoder::from_gguf(&std::fs::read(path).unwrap(), &dev).unwrap().dequantized().unwrap();
    assert_eq!(decoder.config().layers(), 30);
    assert!(decoder.model.llama_config().unwrap().tie_word_embeddings);
    let side = decoder.text.as_ref().unwrap();
    let messages: Vec<Message> = serde_json::from_value(expected["messages"].clone()).unwrap();
    let prompt = side.chat.as_ref().expect("a chat template").render(&messages, true).unwrap();
    let ids_ = side.tokenizer.ids(&prompt, false).unwrap();
    assert_eq!(ids_, ids(&expected["prompt_ids"]), "the chat prompt's tokens, vs transformers' GGUF tokenizer");

    let input = int2(&[ids_.iter().map(|&t| t as i32).collect()], &dev);
    let logits = decoder.model.forward_last(input, None);
    let all = block_on(read(logits));
    let mut reference = Vec::new();
    flat(&expected["last_logits_first512"], &mut reference);
    assert_close("SmolLM2 last-position logits", &all[..512], &reference, 1e-4);
    let mut order: Vec<usize> = (0..all.len()).collect();
    order.sort_by(|&a, &b| all[b].total_cmp(&all[a]));
    let top10: Vec<u32> = order[..10].iter().map(|&i| i as u32).collect();
    assert_eq!(top10, ids(&expected["top10"]));

    let options = GenerateOptions { max_new_tokens: 12, ..Default::default() };
    let mut streamed = String::new();
    let out = block_on(decoder.chat(&messages, &options, |piece| {
        streamed.push_str(piece);
        true
    }))
    .unwrap();
    let reply = ids(&expected["reply_ids"]);
    assert_eq!(out.tokens, reply[..out.tokens.len()], "greedy reply tokens vs transformers");
    assert_eq!(out.text, expected["reply"].as_str().unwrap().trim_end());
    assert!(out.text.starts_with("The capital of France is Paris."), "{}", out.text);
    assert_eq!(streamed, out.text, "the streamed pieces add up to the reply");
}

/// Qwen2.5's, Gemma 3's and Llama 3's chat templates (tests/reference/make_chat_template_fixture.py)
/// render the prompts transformers' jinja2 renders: a system turn folded into the first user
/// turn, `trim`, `messages[1:]`, `is string`, role renames; Gemma's refuses turns that do not
/// alternate, with its own message.
#[test]
fn the_families_chat_templates_render_as_transformers_renders_them() {
    let fixture: Value = serde_json::from_slice(&std::fs::read(assets::crate_root().join("tests/fixtures/chat-templates.json")).unwrap()).unwrap();
    let conversations: Vec<Vec<Message>> = serde_json::from_value(fixture["conversations"].clone()).unwrap();
    let templates = fixture["templates"].as_object().unwrap();
    assert_eq!(templates.len(), 3);
    let template = |t: &Value| ChatTemplate::new(t["source"].as_str().unwrap(), t["bos_token"].as_str().unwrap(), t["eos_token"].as_str().unwrap()).unwrap();
    for (name, t) in templates {
        for (i, conversation) in conversations.iter().enumerate() {
            let want = fixture["rendered"][name][i].as_str().unwrap();
            assert_eq!(template(t).render(conversation, true).unwrap(), want, "{name}, conversation {i}");
        }
    }
    let user = |text: &str| Message { role: "user".into(), content: text.into() };
    let e = template(&templates["gemma3"]).render(&[user("a"), user("b")], true).unwrap_err().to_string();
    assert!(e.contains("Conversation roles must alternate"), "{e}");
    // the one webtune gives Gemma GGUF files without a template of their own
    assert_eq!(webtune::tokenizer::chat::GEMMA3_CHAT_TEMPLATE, templates["gemma3"]["source"].as_str().unwrap());
}

#[test]
fn bad_gguf_files_are_clear_errors() {
    let cpu = device::cpu();
    let e = Decoder::from_gguf(b"<html>not found</html>", &cpu).err().unwrap().to_string();
    assert!(e.contains("not a GGUF file"), "{e}");
    let e = Decoder::from_gguf(b"GGUF\x03\x00\x00\x00\x05", &cpu).err().unwrap().to_string();
    assert!(e.contains("truncated or corrupt"), "{e}");
    let Some(path) = assets::require("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf") else { return };
    let bytes = std::fs::read(path).unwrap();
    let e = Decoder::from_gguf(&bytes[..bytes.len() / 2], &cpu).err().unwrap().to_string();
    assert!(e.contains("truncated or corrupt") && e.contains("past the end"), "{e}");
}
