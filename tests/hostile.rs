//! The hostile-input suite: files and options as a careless or malicious user would give them —
//! model folders, GGUF files, tokenizers, data files, hyperparameters, checkpoints. Every case
//! must end in an error of the stated kind (its JS `name`) whose message names the problem and
//! what to do, never a panic, a hang or a silently accepted value; and a model loaded before keeps
//! working. RELIABILITY.md counts the cases; tests/js/hostile.test.mjs runs a share of them
//! through the JS API in Chromium.
#![cfg(not(target_family = "wasm"))] // native only: the browser suite is tests/browser.rs

mod common;
// the fuzz targets (their input splitter, for the regression cases they found)
#[path = "fuzz/targets.rs"]
mod fuzz_targets;

use base64::Engine;
use common::{
    gguf::{GgufSpec, Meta},
    parity::fixture_path,
};
use pollster::block_on;
use serde_json::{Value, json};
use webtune::{
    Result,
    data::{Columns, TextColumns},
    device,
    infer::{Decoder, Encoder, GenerateOptions, ModelFiles},
    session::{SessionData, finetune_classifier},
    train::{Checkpoint, Hooks, TrainOptions},
};

/// Checks one case: an error of kind `name` whose message contains every one of `needles`.
/// Failures are collected so that one run reports them all.
struct Cases {
    failures: Vec<String>,
    count: usize,
}

impl Cases {
    fn new() -> Self {
        Cases { failures: vec![], count: 0 }
    }

    fn expect<T>(&mut self, case: &str, result: Result<T>, name: &str, needles: &[&str]) {
        self.count += 1;
        match result {
            Ok(_) => self.failures.push(format!("{case}: accepted, expected {name}")),
            Err(e) => {
                let message = e.to_string();
                if e.js_name() != name {
                    self.failures.push(format!("{case}: {} ({message}), expected {name}", e.js_name()));
                } else if let Some(n) = needles.iter().find(|n| !message.contains(*n)) {
                    self.failures.push(format!("{case}: message lacks {n:?}: {message}"));
                }
            }
        }
    }

    /// Asserts that every case passed and returns how many there were.
    fn finish(self, suite: &str) -> usize {
        assert!(self.failures.is_empty(), "{suite}: {} of {} cases failed:\n{}", self.failures.len(), self.count, self.failures.join("\n"));
        self.count
    }
}

fn read(path: std::path::PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// tiny-cls3 (3 classes, BERT) with the shared fixture tokenizer.
fn bert_files() -> ModelFiles {
    ModelFiles {
        config: read(fixture_path("tiny-cls3").join("config.json")),
        weights: read(fixture_path("tiny-cls3").join("model.safetensors")),
        tokenizer: read(fixture_path("tokenizer.json")),
    }
}

fn patched(bytes: &[u8], patch: Value) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(bytes).unwrap();
    for (k, x) in patch.as_object().unwrap() {
        v[k] = x.clone();
    }
    serde_json::to_vec(&v).unwrap()
}

/// A safetensors file of `tensors` (name, dtype, shape, bytes), written by hand so it can break rules.
fn safetensors(header: &str, data: &[u8]) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend(header.as_bytes());
    b.extend(data);
    b
}

/// The tiny-cls3 weights with the first value of `tensor` set to `value`.
fn weights_with(files: &ModelFiles, tensor: &str, value: f32) -> Vec<u8> {
    let st = safetensors::SafeTensors::deserialize(&files.weights).unwrap();
    let views: Vec<(String, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let mut bytes = view.data().to_vec();
            if name == tensor {
                bytes[..4].copy_from_slice(&value.to_le_bytes());
            }
            (name, view.shape().to_vec(), bytes)
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = views
        .iter()
        .map(|(n, shape, bytes)| (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes).unwrap()))
        .collect();
    safetensors::serialize(views, None).unwrap()
}

async fn still_classifies(encoder: &Encoder) {
    let scores = encoder.classify(&["a fine film"]).await.expect("the model loaded before still works");
    assert_eq!(scores[0].len(), 3);
    assert!(scores[0].iter().all(|s| s.score.is_finite()));
}

#[test]
fn hostile_model_folders() {
    let dev = device::cpu();
    let good = bert_files();
    let loaded = Encoder::load(bert_files(), &dev).unwrap();
    let mut c = Cases::new();
    let load = |config: Vec<u8>, weights: Vec<u8>, tokenizer: Vec<u8>| Encoder::load(ModelFiles { config, weights, tokenizer }, &dev);
    let config = |patch: Value| load(patched(&good.config, patch), good.weights.clone(), good.tokenizer.clone());
    let fix = "config.json";

    // config.json values the model code cannot honour
    c.expect("hidden_dropout_prob 1.0", config(json!({"hidden_dropout_prob": 1.0})), "WeightsError", &[fix, "hidden_dropout_prob 1", "[0, 1)"]);
    c.expect("classifier_dropout 1.5", config(json!({"classifier_dropout": 1.5})), "WeightsError", &["classifier_dropout 1.5", "[0, 1)"]);
    c.expect("attention dropout -0.1", config(json!({"attention_probs_dropout_prob": -0.1})), "WeightsError", &["attention_probs_dropout_prob"]);
    c.expect("0 layers", config(json!({"num_hidden_layers": 0})), "WeightsError", &["num_hidden_layers 0", "at least 1"]);
    c.expect("vocab_size 0", config(json!({"vocab_size": 0})), "WeightsError", &["vocab_size 0"]);
    c.expect("0 heads", config(json!({"num_attention_heads": 0})), "WeightsError", &["num_attention_heads 0"]);
    c.expect("heads do not divide hidden", config(json!({"num_attention_heads": 5})), "WeightsError", &["multiple of num_attention_heads 5"]);
    c.expect("intermediate_size 0", config(json!({"intermediate_size": 0})), "WeightsError", &["intermediate_size 0"]);
    c.expect("max_position_embeddings 0", config(json!({"max_position_embeddings": 0})), "WeightsError", &["max_position_embeddings 0"]);
    c.expect("layer_norm_eps -1", config(json!({"layer_norm_eps": -1.0})), "WeightsError", &["layer_norm_eps -1", "1e-12"]);
    c.expect("pad_token_id past the vocabulary", config(json!({"pad_token_id": 100000})), "WeightsError", &["pad_token_id 100000", "vocab_size 600"]);
    c.expect("num_labels 0", config(json!({"num_labels": 0, "id2label": null})), "WeightsError", &["0 labels", "between 1 and"]);
    c.expect("num_labels 10^12", config(json!({"num_labels": 1_000_000_000_000u64, "id2label": null})), "WeightsError", &["labels", "between 1 and"]);
    c.expect("unknown activation", config(json!({"hidden_act": "swish2"})), "WeightsError", &["swish2"]);
    c.expect("relative positions", config(json!({"position_embedding_type": "relative_key"})), "WeightsError", &["relative_key", "absolute"]);
    c.expect("another family", config(json!({"model_type": "t5"})), "WeightsError", &["\"t5\" is not supported yet", "webtune reads bert, distilbert"]);
    c.expect("hidden_size a string", config(json!({"hidden_size": "32"})), "WeightsError", &["config.json is not a valid BERT config"]);
    c.expect("huge vocabulary for a small file", config(json!({"vocab_size": 1u64 << 40})), "WeightsError", &["holds", "does not belong to these weights"]);
    c.expect("wider than the file", config(json!({"hidden_size": 64, "intermediate_size": 128})), "WeightsError", &["does not belong to these weights"]);
    c.expect("narrower than the file", config(json!({"hidden_size": 16, "num_attention_heads": 4})), "WeightsError", &["does not match config.json", "shape"]);
    c.expect("config not JSON", load(b"{ hidden_size: 32".to_vec(), good.weights.clone(), good.tokenizer.clone()), "WeightsError", &["config.json"]);
    c.expect("config not UTF-8", load(vec![0xff, 0xfe, 0x00], good.weights.clone(), good.tokenizer.clone()), "WeightsError", &["config.json is not UTF-8"]);
    c.expect("config an array", load(b"[1, 2]".to_vec(), good.weights.clone(), good.tokenizer.clone()), "WeightsError", &["config.json"]);

    // model.safetensors
    let weights = |w: Vec<u8>| load(good.config.clone(), w, good.tokenizer.clone());
    c.expect("empty weights", weights(vec![]), "WeightsError", &["not a valid safetensors file", "re-download"]);
    c.expect("truncated weights", weights(good.weights[..good.weights.len() / 2].to_vec()), "WeightsError", &["not a valid safetensors file"]);
    c.expect("header length 2^63", weights(u64::MAX.to_le_bytes().to_vec()), "WeightsError", &["not a valid safetensors file"]);
    c.expect("header not JSON", weights(safetensors("{\"a\": [", &[])), "WeightsError", &["not a valid safetensors file"]);
    c.expect("offsets past the end", weights(safetensors(r#"{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,1600]}}"#, &[0; 16])), "WeightsError", &["not a valid safetensors file"]);
    c.expect("shape product overflows", weights(safetensors(r#"{"x":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,16]}}"#, &[0; 16])), "WeightsError", &["not a valid safetensors file"]);
    c.expect("a NaN weight", weights(weights_with(&good, "bert.embeddings.word_embeddings.weight", f32::NAN)), "WeightsError", &["bert.embeddings.word_embeddings.weight", "NaN", "broken"]);
    c.expect("an infinite weight", weights(weights_with(&good, "classifier.weight", f32::INFINITY)), "WeightsError", &["classifier.weight", "inf"]);
    c.expect("weights of another model", weights(read(common::assets::crate_root().join("tests/fixtures/llama/tiny/model.safetensors"))), "WeightsError", &["does not belong to these weights"]);

    // tokenizer.json
    let tokenizer = |t: Vec<u8>| load(good.config.clone(), good.weights.clone(), t);
    c.expect("tokenizer not JSON", tokenizer(b"not json".to_vec()), "WeightsError", &["tokenizer.json could not be parsed", "saved with the model"]);
    c.expect("empty tokenizer", tokenizer(vec![]), "WeightsError", &["tokenizer.json could not be parsed"]);
    let mut beyond: Value = serde_json::from_slice(&good.tokenizer).unwrap();
    beyond["added_tokens"].as_array_mut().unwrap().push(json!({"id": 5000, "content": "[BIG]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}));
    c.expect("tokenizer ids beyond the embeddings", tokenizer(serde_json::to_vec(&beyond).unwrap()), "WeightsError", &["token ids up to 600", "600 token embeddings", "use the tokenizer.json saved with this model"]);
    // found by fuzzing (tests/fuzz, target tokenizer): tokenizers unwraps a JSON syntax error
    // where it reads the decoder, and a Precompiled normalizer that does not parse
    let found = read(common::assets::crate_root().join("tests/fixtures/fuzz/tokenizer-decoder-syntax"));
    c.expect("fuzz: broken JSON at the decoder", tokenizer(found[2..].to_vec()), "WeightsError", &["tokenizer.json could not be parsed", "not valid JSON"]);
    let found = read(common::assets::crate_root().join("tests/fixtures/fuzz/tokenizer-template-special-token"));
    c.expect("fuzz: template naming an undefined special token", tokenizer(found[2..].to_vec()), "WeightsError", &["does not define"]);
    let mut single_b: Value = serde_json::from_slice(&good.tokenizer).unwrap();
    single_b["post_processor"]["single"] = json!([{"Sequence": {"id": "B", "type_id": 0}}]);
    c.expect("single template with a second sequence", tokenizer(serde_json::to_vec(&single_b).unwrap()), "WeightsError", &["single template uses a second sequence"]);
    let mut precompiled: Value = serde_json::from_slice(&good.tokenizer).unwrap();
    precompiled["normalizer"] = json!({"type": "Precompiled", "precompiled_charsmap": "AAAA"});
    c.expect("broken Precompiled normalizer", tokenizer(serde_json::to_vec(&precompiled).unwrap()), "WeightsError", &["Precompiled normalizer is broken"]);
    // a charsmap that parses but whose trie points outside itself: tokenizers would index it
    // unchecked at the first text (4-byte trie of one unit, the root, with offset 4096)
    precompiled["normalizer"] = json!({"type": "Precompiled", "precompiled_charsmap": "BAAAAAAAQAA="});
    c.expect("Precompiled trie pointing outside itself", tokenizer(serde_json::to_vec(&precompiled).unwrap()), "WeightsError", &["Precompiled normalizer is broken", "points to unit 4097 of 1"]);
    // and one that is sound (512 units that map nothing, no strings) loads
    let sound: Vec<u8> = [2048u32, 256 << 10].iter().flat_map(|u| u.to_le_bytes()).chain(std::iter::repeat_n(0, 2044)).collect();
    precompiled["normalizer"] = json!({"type": "Precompiled", "precompiled_charsmap": base64::engine::general_purpose::STANDARD.encode(sound)});
    tokenizer(serde_json::to_vec(&precompiled).unwrap()).expect("a sound Precompiled normalizer loads");
    let found = read(common::assets::crate_root().join("tests/fixtures/fuzz/model-folder-type-ids"));
    let parts = fuzz_targets::parts(&found);
    c.expect("fuzz: token type ids beyond type_vocab_size", load(parts[0].to_vec(), parts[1].to_vec(), parts[2].to_vec()), "WeightsError", &["token type id", "type_vocab_size"]);
    c.expect("deeply nested tokenizer JSON", tokenizer(format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes()), "WeightsError", &["tokenizer.json could not be parsed"]);

    // what the encoder is asked to do
    let mut enc = Encoder::load(bert_files(), &dev).unwrap();
    c.expect("maxLength 1", enc.configure(webtune::infer::EncodeOptions { max_length: Some(1), ..Default::default() }), "OptionsError", &["maxLength"]);
    c.expect("batchSize 0", enc.configure(webtune::infer::EncodeOptions { batch_size: 0, ..Default::default() }), "OptionsError", &["batchSize"]);
    c.expect("empty text", block_on(loaded.classify(&["  "])), "DataError", &["empty"]);

    let n = c.finish("model folders");
    block_on(still_classifies(&loaded));
    assert!(n >= 35, "{n} cases");
}

#[test]
fn hostile_gguf_files() {
    let dev = device::cpu();
    let loaded = Decoder::from_gguf(&GgufSpec::tiny_llama().bytes(), &dev).expect("the tiny GGUF loads");
    let mut c = Cases::new();
    let load = |spec: GgufSpec| Decoder::from_gguf(&spec.bytes(), &dev);
    let tiny = GgufSpec::tiny_llama;
    let good = tiny().bytes();
    let redownload = "download it again";

    c.expect("not GGUF", Decoder::from_gguf(b"PK\x03\x04 a zip file", &dev), "WeightsError", &["not a GGUF file", "pass a .gguf file"]);
    c.expect("empty file", Decoder::from_gguf(b"", &dev), "WeightsError", &["not a GGUF file"]);
    let found = read(common::assets::crate_root().join("tests/fixtures/fuzz/gguf-values-overflow"));
    c.expect("fuzz: tensor sizes whose sum overflows", Decoder::from_gguf(&found, &dev), "WeightsError", &[]);
    c.expect("version 9", load(GgufSpec { version: 9, ..tiny() }), "WeightsError", &["GGUF version 9", "only 2 and 3"]);
    c.expect("truncated in the header", Decoder::from_gguf(&good[..200], &dev), "WeightsError", &["truncated or corrupt", redownload]);
    c.expect("truncated in the data", Decoder::from_gguf(&good[..good.len() - 100], &dev), "WeightsError", &["past the end of the file", redownload]);
    let mut many = good.clone();
    many[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    c.expect("2^64 tensors", Decoder::from_gguf(&many, &dev), "WeightsError", &["truncated or corrupt"]);
    let mut deep = Vec::new();
    for _ in 0..100_000 {
        deep.extend(9u32.to_le_bytes());
        deep.extend(1u64.to_le_bytes());
    }
    c.expect("arrays nested 100000 deep", load(tiny().set("x.deep", Meta::Raw(9, deep))), "WeightsError", &["nested more than 4 deep"]);
    let mut long = 4u32.to_le_bytes().to_vec();
    long.extend((u64::MAX / 2).to_le_bytes());
    c.expect("array longer than the file", load(tiny().set("x.long", Meta::Raw(9, long))), "WeightsError", &["longer than the rest of the file"]);
    c.expect("unknown metadata type", load(tiny().set("x.odd", Meta::Raw(77, vec![0; 8]))), "WeightsError", &["unknown metadata type 77"]);
    c.expect("string length 2^63", load(tiny().set("x.s", Meta::Raw(8, u64::MAX.to_le_bytes().to_vec()))), "WeightsError", &["truncated or corrupt"]);
    c.expect("alignment 0", load(tiny().set("general.alignment", Meta::U32(0))), "WeightsError", &["general.alignment", "power of two"]);
    c.expect("alignment 3", load(tiny().set("general.alignment", Meta::U32(3))), "WeightsError", &["general.alignment", "power of two"]);
    c.expect("alignment 2^62", load(tiny().set("general.alignment", Meta::U64(1 << 62))), "WeightsError", &["truncated or corrupt"]);
    c.expect("5-D tensor", load(tiny().tensor("output_norm.weight", |t| t.dims = vec![1, 1, 1, 1, 8])), "WeightsError", &["5 dimensions"]);
    c.expect("dims overflow", load(tiny().tensor("output_norm.weight", |t| t.dims = vec![u64::MAX / 2, 4])), "WeightsError", &["too large for memory"]);
    c.expect("offset past the end", load(tiny().tensor("output_norm.weight", |t| t.dims = vec![1 << 40])), "WeightsError", &["output_norm.weight"]);
    c.expect("Q3_K tensor", load(tiny().tensor("blk.0.ffn_up.weight", |t| t.kind = 11)), "WeightsError", &["ggml type 11 (Q3_K)", "supported: F32", "Q4_K, Q5_K, Q6_K"]);
    c.expect("Q4_K blocks not the shape", load(tiny().tensor("blk.0.ffn_up.weight", |t| t.kind = 12)), "WeightsError", &["blk.0.ffn_up.weight", "not a whole number of Q4_K blocks of 256"]);
    c.expect("NaN in a tensor", load(tiny().tensor("blk.0.attn_k.weight", |t| t.data[4..8].copy_from_slice(&f32::NAN.to_le_bytes()))), "WeightsError", &["blk.0.attn_k.weight", "NaN", "use another file"]);
    c.expect("0 blocks", load(tiny().set("llama.block_count", Meta::U32(0))), "WeightsError", &["num_hidden_layers 0"]);
    c.expect("block_count missing", load(tiny().without("llama.block_count")), "WeightsError", &["llama.block_count"]);
    c.expect("block_count a string", load(tiny().set("llama.block_count", Meta::Str("one".into()))), "WeightsError", &["llama.block_count", "not a non-negative integer"]);
    c.expect("more blocks than tensors", load(tiny().set("llama.block_count", Meta::U32(4))), "WeightsError", &["does not belong to these weights"]);
    c.expect("1-D attn_q", load(tiny().tensor("blk.0.attn_q.weight", |t| t.dims = vec![64])), "WeightsError", &["blk.0.attn_q.weight", "metadata implies"]);
    c.expect("zero-row attn_q", load(tiny().tensor("blk.0.attn_q.weight", |t| { t.dims = vec![8, 0]; t.data.clear(); })), "WeightsError", &["does not belong to these weights"]);
    c.expect("attn_k rows not heads × head_dim", load(tiny().tensor("blk.0.attn_k.weight", |t| { t.dims = vec![4, 8]; })), "WeightsError", &["blk.0.attn_k.weight", "metadata implies"]);
    c.expect("0 heads", load(tiny().set("llama.attention.head_count", Meta::U32(0))), "WeightsError", &["num_attention_heads 0"]);
    c.expect("kv heads do not divide heads", load(tiny().set("llama.attention.head_count_kv", Meta::U32(3))), "WeightsError", &["multiple of num_key_value_heads 3"]);
    c.expect("odd head width", load(tiny().set("llama.attention.head_count", Meta::U32(8)).set("llama.attention.head_count_kv", Meta::U32(8))), "WeightsError", &["head_dim 1", "even"]);
    c.expect("bos_token_id 4e9", load(tiny().set("tokenizer.ggml.bos_token_id", Meta::U64(4_000_000_000))), "WeightsError", &["special token id 4000000000", "not below vocab_size 256"]);
    c.expect("bos_token_id 5e9", load(tiny().set("tokenizer.ggml.bos_token_id", Meta::U64(5_000_000_000))), "WeightsError", &["tokenizer.ggml.bos_token_id", "not a token id"]);
    c.expect("eos_token_id past the vocabulary", load(tiny().set("tokenizer.ggml.eos_token_id", Meta::U32(1000))), "WeightsError", &["special token id 1000", "vocab_size 256"]);
    c.expect("rope base 0", load(tiny().set("llama.rope.freq_base", Meta::F32(0.0))), "WeightsError", &["rope_theta 0"]);
    c.expect("rope base NaN", load(tiny().set("llama.rope.freq_base", Meta::F32(f32::NAN))), "WeightsError", &["rope_theta NaN"]);
    c.expect("negative norm epsilon", load(tiny().set("llama.attention.layer_norm_rms_epsilon", Meta::F32(-1.0))), "WeightsError", &["rms_norm_eps -1"]);
    c.expect("not a Llama", load(tiny().set("general.architecture", Meta::Str("gpt2".into()))), "WeightsError", &["\"gpt2\" model", "Llama-family"]);
    c.expect("an unknown architecture", load(tiny().set("general.architecture", Meta::Str("phi3".into()))), "WeightsError", &["\"phi3\" model", "\"qwen2\", \"qwen3\", \"gemma3\""]);
    c.expect("a Gemma 3 GGUF without its metadata", load(tiny().set("general.architecture", Meta::Str("gemma3".into()))), "WeightsError", &["no \"gemma3.attention.head_count\""]);
    c.expect("Llama 3.1 rope factors that cannot be", load(tiny().tensor("output_norm.weight", |t| t.name = "rope_freqs.weight".into())), "WeightsError", &["\"longrope\"", "positive factors"]);
    c.expect("a tensor with no place", load(tiny().tensor("output_norm.weight", |t| t.name = "blk.0.attn_q_norm.weight".into())), "WeightsError", &["\"blk.0.attn_q_norm.weight\"", "no place for it"]);
    c.expect("SentencePiece tokenizer", load(tiny().set("tokenizer.ggml.model", Meta::Str("llama".into()))), "WeightsError", &["\"llama\"", "Hugging Face folder"]);
    c.expect("tokens beyond the embeddings", load(tiny().set("llama.vocab_size", Meta::U32(100)).tensor("token_embd.weight", |t| { t.dims = vec![8, 100]; t.data.truncate(3200); })), "WeightsError", &["token ids up to 255", "100 token embeddings"]);
    c.expect("endless chat template", block_on(
        load(tiny().set("tokenizer.chat_template", Meta::Str("{% for a in range(100000) %}{% for b in range(100000) %}{{ a }}{% endfor %}{% endfor %}".into())))
            .unwrap()
            .chat(&[webtune::tokenizer::chat::Message { role: "user".into(), content: "hi".into() }], &GenerateOptions::default(), |_| true),
    ), "WeightsError", &["chat template", "loops too long", "fix or replace chat_template"]);
    c.expect("chat template that does not parse", load(tiny().set("tokenizer.chat_template", Meta::Str("{% for %}".into()))), "WeightsError", &["chat template does not parse"]);

    // what the decoder is asked to do
    let generate = |ids: &[u32], options: GenerateOptions| block_on(loaded.generate(ids, &options, |_| true));
    c.expect("prompt id past the vocabulary", generate(&[0, 300], GenerateOptions::default()), "DataError", &["prompt token id 300", "vocab_size 256"]);
    c.expect("empty prompt", generate(&[], GenerateOptions::default()), "DataError", &["prompt is empty"]);
    c.expect("prompt longer than the context", generate(&[5; 64], GenerateOptions::default()), "DataError", &["64 positions", "shorten"]);
    c.expect("temperature NaN", generate(&[5], GenerateOptions { temperature: f32::NAN, ..Default::default() }), "OptionsError", &["temperature"]);
    c.expect("unknown chat role", block_on(loaded.chat(&[webtune::tokenizer::chat::Message { role: "robot".into(), content: "x".into() }], &GenerateOptions::default(), |_| true)), "DataError", &["unknown role \"robot\""]);

    let n = c.finish("GGUF files");
    let out = block_on(loaded.complete("hello", &GenerateOptions { max_new_tokens: 3, ..Default::default() }, |_| true)).expect("the decoder loaded before still works");
    assert_eq!(out.tokens.len(), 3);
    assert!(n >= 40, "{n} cases");
}

fn data(rows: &str, name: &str) -> SessionData {
    SessionData::named(rows.as_bytes().to_vec(), name.into(), None, String::new(), Some(0.0))
}

fn options(patch: Value) -> Result<TrainOptions> {
    let mut base = json!({"epochs": 1, "batchSize": 2, "learningRate": 1e-3});
    for (k, v) in patch.as_object().unwrap() {
        base[k] = v.clone();
    }
    let options: TrainOptions = webtune::options_json::from_json("finetune", base)?;
    options.validate()?;
    Ok(options)
}

/// A short fine-tuning run of tiny-cls3 on `data`; returns the checkpoints it made.
fn finetune(files: &ModelFiles, data: &SessionData, columns: &Columns, options: &TrainOptions, resume: Option<&Checkpoint>) -> Result<Vec<Checkpoint>> {
    let mut saved = Vec::new();
    let mut on_checkpoint = |c: &Checkpoint| {
        saved.push(c.clone());
        Ok(())
    };
    let hooks = Hooks { on_event: &mut |_| {}, on_checkpoint: Some(&mut on_checkpoint), cancelled: &|| false };
    block_on(finetune_classifier(files, None, &device::cpu(), data, columns, options, resume, hooks))?;
    Ok(saved)
}

const ROWS: &str = "text,label\na fine film,good\na dull film,bad\nwarm and funny,good\nboring,bad\n";

#[test]
fn hostile_data_options_and_checkpoints() {
    let _turn = common::cpu_turn();
    let files = bert_files();
    let mut c = Cases::new();
    let cols = Columns::default();
    let quick = options(json!({})).unwrap();
    let train = |d: SessionData| finetune(&files, &d, &cols, &quick, None);

    // data files
    c.expect("empty CSV", train(data("", "d.csv")), "DataError", &["d.csv"]);
    c.expect("header only", train(data("text,label\n", "d.csv")), "DataError", &["d.csv: no data rows"]);
    c.expect("no label column", train(data("text,verdict\nfine,good\n", "d.csv")), "DataError", &["label", "verdict"]);
    c.expect("unclosed quote", train(data("text,label\n\"fine,good\nbad,bad\n", "d.csv")), "DataError", &["d.csv"]);
    c.expect("ragged row", train(data("text,label\nfine,good,extra\n", "d.csv")), "DataError", &["d.csv", "line 2"]);
    c.expect("invalid UTF-8", finetune(&files, &SessionData::named(b"text,label\n\xff\xfe,good\n".to_vec(), "d.csv".into(), None, String::new(), Some(0.0)), &cols, &quick, None), "DataError", &["UTF-8"]);
    c.expect("broken JSONL line", train(data("{\"text\": \"fine\", \"label\": \"good\"}\n{\"text\": \n", "d.jsonl")), "DataError", &["d.jsonl", "line 2"]);
    c.expect("JSON not an array", train(data("{\"text\": \"fine\"}", "d.json")), "DataError", &["d.json"]);
    c.expect("unknown extension", train(data(ROWS, "d.xlsx")), "DataError", &["d.xlsx", ".csv"]);
    c.expect("one class only", train(data("text,label\nfine,good\nnice,good\n", "d.csv")), "DataError", &["label"]);
    c.expect("empty text", train(data("text,label\n,good\nbad one,bad\n", "d.csv")), "DataError", &["empty"]);
    c.expect("deeply nested JSON", train(data(&format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)), "d.json")), "DataError", &["d.json"]);
    let pairs = Columns { text_pair: Some("hypothesis".into()), ..Columns::default() };
    let pair_rows = data("text,hypothesis,label\na man sleeps,a person rests,yes\na dog runs,a cat sleeps,no\n", "d.csv");
    c.expect("text pairs with maxLength 2", finetune(&files, &pair_rows, &pairs, &options(json!({"maxLength": 2})).unwrap(), None), "OptionsError", &["maxLength 2 leaves no room", "3 special tokens", "text pair"]);
    c.expect("missing pair column", finetune(&files, &data(ROWS, "d.csv"), &pairs, &quick, None), "DataError", &["hypothesis"]);
    c.expect("validationSplit 1", finetune(&files, &SessionData::named(ROWS.as_bytes().to_vec(), "d.csv".into(), None, String::new(), Some(1.0)), &cols, &quick, None), "OptionsError", &["validation split", "between 0 and 1"]);
    c.expect("validation labels differ", finetune(&files, &SessionData::named(ROWS.as_bytes().to_vec(), "d.csv".into(), Some(b"text,label\nfine,great\n".to_vec()), "v.csv".into(), None), &cols, &quick, None), "DataError", &["label"]);
    let lm = SessionData::named(b"prompt,answer\nhi,there\n".to_vec(), "d.csv".into(), None, String::new(), Some(0.0));
    c.expect("LM data without text columns", lm.texts(&TextColumns::default(), 0), "DataError", &["text", "prompt"]);

    // hyperparameters
    let bad = |patch: Value| options(patch);
    c.expect("learningRate 0", bad(json!({"learningRate": 0.0})), "OptionsError", &["learningRate", "positive"]);
    c.expect("learningRate -1", bad(json!({"learningRate": -1.0})), "OptionsError", &["learningRate"]);
    c.expect("epochs 0", bad(json!({"epochs": 0})), "OptionsError", &["epochs must be at least 1"]);
    c.expect("batchSize 0", bad(json!({"batchSize": 0})), "OptionsError", &["batchSize"]);
    c.expect("gradAccum 0", bad(json!({"gradAccum": 0})), "OptionsError", &["gradAccum"]);
    c.expect("maxLength 1", bad(json!({"maxLength": 1})), "OptionsError", &["maxLength must be at least 2"]);
    c.expect("maxGradNorm -1", bad(json!({"maxGradNorm": -1.0})), "OptionsError", &["maxGradNorm", "0 or null: no clipping"]);
    c.expect("weightDecay -0.1", bad(json!({"weightDecay": -0.1})), "OptionsError", &["weightDecay"]);
    c.expect("warmupRatio 2", bad(json!({"warmupRatio": 2.0})), "OptionsError", &["warmupRatio"]);
    c.expect("checkpointEvery 0", bad(json!({"checkpointEvery": 0})), "OptionsError", &["checkpointEvery"]);
    c.expect("epochs -1", bad(json!({"epochs": -1})), "OptionsError", &["finetune: epochs:", "a whole number"]);
    c.expect("unknown option", bad(json!({"learning_rate": 0.1})), "OptionsError", &["learning_rate"]);
    c.expect("LoRA rank 0", bad(json!({"lora": {"rank": 0}})), "OptionsError", &["rank"]);
    c.expect("LoRA dropout 1", bad(json!({"lora": {"rank": 4, "dropout": 1.0}})), "OptionsError", &["dropout"]);
    c.expect("LoRA unknown module", bad(json!({"lora": {"rank": 4, "targetModules": ["q_prj"]}})), "OptionsError", &["q_prj"]);

    // checkpoints to resume from
    let saved = finetune(&files, &data(ROWS, "d.csv"), &cols, &options(json!({"epochs": 2, "checkpointEvery": 1})).unwrap(), None).expect("a clean run");
    let last = saved.last().expect("checkpoints").clone();
    let resume = |c: Checkpoint| finetune(&files, &data(ROWS, "d.csv"), &cols, &options(json!({"epochs": 2, "checkpointEvery": 1})).unwrap(), Some(&c));
    let from = |patch: &dyn Fn(&mut Vec<(&'static str, Vec<u8>)>)| {
        let mut f = last.files().unwrap();
        patch(&mut f);
        Checkpoint::from_files(|name| f.iter().find(|(n, _)| *n == name).map(|(_, b)| b.clone()))
    };
    c.expect("checkpoint without trainer_state.json", from(&|f| f.retain(|(n, _)| *n != "trainer_state.json")), "WeightsError", &["no trainer_state.json", "pass the folder a run wrote"]);
    c.expect("trainer_state.json not JSON", from(&|f| f.iter_mut().find(|(n, _)| *n == "trainer_state.json").unwrap().1 = b"{".to_vec()), "WeightsError", &["trainer_state.json is not a webtune trainer state"]);
    c.expect("checkpoint without optimizer state", from(&|f| f.retain(|(n, _)| *n != "optimizer.safetensors")), "WeightsError", &["optimizer.safetensors"]);
    let mut far = last.clone();
    far.state.step = 1_000_000_000_000_000;
    c.expect("step 10^15", resume(far), "DataError", &["damaged"]);
    let nan_weights = Checkpoint { weights: weights_with(&ModelFiles { weights: last.weights.clone(), ..bert_files() }, "classifier.weight", f32::NAN), ..last.clone() };
    c.expect("NaN in the checkpoint's weights", resume(nan_weights), "WeightsError", &["classifier.weight", "NaN"]);
    c.expect("optimizer state garbage", resume(Checkpoint { optimizer: b"garbage".to_vec(), ..last.clone() }), "WeightsError", &["optimizer.safetensors"]);

    let n = c.finish("data, options and checkpoints");
    assert!(resume(last).is_ok(), "the intact checkpoint still resumes");
    assert!(n >= 35, "{n} cases");
}
