//! Causal-LM fine-tuning against PyTorch step by step (fixtures from
//! tests/reference/make_lm_train_fixture.py and make_gpt2_train_fixture.py), shared by the native
//! and the browser tests. The fixtures are compiled in, so the same code runs in wasm.

use serde_json::Value;

pub use super::training::recipe;
use webtune::{
    ComputeDevice,
    data::{Format, Table, TextColumns, TextExample, text_examples},
    infer::{
        Decoder,
        language_model::{LmRowEncoder, encode_all, evaluate},
    },
    models::{decoder::DecoderModel, lora::LoraOptions},
    train::{
        Hooks, Run, TrainOptions,
        causal_lm,
    },
};

macro_rules! fixture_file {
    ($path:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/", $path)).as_slice()
    };
}

/// The decoder families with causal-LM training fixtures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// tests/reference/make_lm_train_fixture.py: the tiny Llama, a character tokenizer.
    Llama,
    /// tests/reference/make_gpt2_train_fixture.py: the tiny GPT-2 (dropout 0), its byte-level BPE.
    Gpt2,
    /// make_lm_train_fixture.py: the tiny Qwen2 (q/k/v biases) and Qwen3 (per-head q/k norms),
    /// the Llama's character tokenizer.
    Qwen2,
    Qwen3,
    /// make_lm_train_fixture.py: the tiny Gemma 3 (sandwich norms, a sliding-window layer).
    Gemma3,
}

/// A family's fixture files: config, weights, tokenizer, PyTorch's runs, PEFT's initial and
/// trained adapters.
struct Files {
    config: &'static [u8],
    weights: &'static [u8],
    tokenizer: &'static [u8],
    expected: &'static [u8],
    lora_init: &'static [u8],
    lora_trained: &'static [u8],
}

fn files(family: Family) -> Files {
    match family {
        Family::Llama => Files {
            config: fixture_file!("llama/tiny/config.json"),
            weights: fixture_file!("llama/tiny/model.safetensors"),
            tokenizer: fixture_file!("llama/train-steps/tokenizer.json"),
            expected: fixture_file!("llama/train-steps/expected.json"),
            lora_init: fixture_file!("llama/train-steps/lora-init/adapter_model.safetensors"),
            lora_trained: fixture_file!("llama/train-steps/lora-trained/adapter_model.safetensors"),
        },
        Family::Qwen2 => Files {
            config: fixture_file!("llama/tiny-qwen2/config.json"),
            weights: fixture_file!("llama/tiny-qwen2/model.safetensors"),
            tokenizer: fixture_file!("llama/train-steps/tokenizer.json"),
            expected: fixture_file!("llama/train-steps-qwen2/expected.json"),
            lora_init: fixture_file!("llama/train-steps-qwen2/lora-init/adapter_model.safetensors"),
            lora_trained: fixture_file!("llama/train-steps-qwen2/lora-trained/adapter_model.safetensors"),
        },
        Family::Qwen3 => Files {
            config: fixture_file!("llama/tiny-qwen3/config.json"),
            weights: fixture_file!("llama/tiny-qwen3/model.safetensors"),
            tokenizer: fixture_file!("llama/train-steps/tokenizer.json"),
            expected: fixture_file!("llama/train-steps-qwen3/expected.json"),
            lora_init: fixture_file!("llama/train-steps-qwen3/lora-init/adapter_model.safetensors"),
            lora_trained: fixture_file!("llama/train-steps-qwen3/lora-trained/adapter_model.safetensors"),
        },
        Family::Gemma3 => Files {
            config: fixture_file!("llama/tiny-gemma3/config.json"),
            weights: fixture_file!("llama/tiny-gemma3/model.safetensors"),
            tokenizer: fixture_file!("llama/train-steps/tokenizer.json"),
            expected: fixture_file!("llama/train-steps-gemma3/expected.json"),
            lora_init: fixture_file!("llama/train-steps-gemma3/lora-init/adapter_model.safetensors"),
            lora_trained: fixture_file!("llama/train-steps-gemma3/lora-trained/adapter_model.safetensors"),
        },
        Family::Gpt2 => Files {
            config: fixture_file!("gpt2/train-steps/config.json"),
            weights: fixture_file!("gpt2/tiny/model.safetensors"),
            tokenizer: fixture_file!("gpt2/tiny/tokenizer.json"),
            expected: fixture_file!("gpt2/train-steps/expected.json"),
            lora_init: fixture_file!("gpt2/train-steps/lora-init/adapter_model.safetensors"),
            lora_trained: fixture_file!("gpt2/train-steps/lora-trained/adapter_model.safetensors"),
        },
    }
}

/// The tiny Llama with the fixture's character tokenizer, and what PyTorch computed.
pub fn fixture(device: &ComputeDevice) -> (Decoder, Value) {
    fixture_of(Family::Llama, device)
}

/// A family's tiny model with its tokenizer, and what PyTorch computed.
pub fn fixture_of(family: Family, device: &ComputeDevice) -> (Decoder, Value) {
    let f = files(family);
    let decoder = Decoder::from_hf(f.config, f.weights.to_vec(), f.tokenizer, None, device).expect("the tiny model loads");
    (decoder, serde_json::from_slice(f.expected).unwrap())
}

/// The fixture's rows of one run ("pairs" and "lora": prompt/completion; "texts") through the
/// JSONL reader, as a user's file.
pub fn examples(expected: &Value, run: &str) -> Vec<TextExample> {
    let lines: Vec<String> = match run {
        "texts" => expected["texts"].as_array().unwrap().iter().map(|t| serde_json::json!({ "text": t }).to_string()).collect(),
        _ => expected["pairs"].as_array().unwrap().iter().map(|r| r.to_string()).collect(),
    };
    let table = Table::parse(lines.join("\n").as_bytes(), Format::Jsonl, "rows.jsonl").unwrap();
    text_examples(&table, &TextColumns::default()).unwrap()
}

/// The Llama fixture's LoRA settings (PEFT: r 4, alpha 8, q_proj and v_proj).
pub fn lora_options() -> LoraOptions {
    lora_options_of(Family::Llama)
}

/// A family fixture's LoRA settings (GPT-2's: r 4, alpha 8, c_attn, c_proj and c_fc).
pub fn lora_options_of(family: Family) -> LoraOptions {
    let targets: &[&str] = match family {
        Family::Llama | Family::Qwen2 | Family::Qwen3 | Family::Gemma3 => &["q_proj", "v_proj"],
        Family::Gpt2 => &["c_attn", "c_proj", "c_fc"],
    };
    LoraOptions { rank: 4, alpha: 8.0, target_modules: Some(targets.iter().map(|t| t.to_string()).collect()), ..LoraOptions::default() }
}

/// PEFT's initial adapter of the Llama's "lora" run, and the adapter it trained.
pub fn peft_adapters() -> (&'static [u8], &'static [u8]) {
    peft_adapters_of(Family::Llama)
}

/// [`peft_adapters`] of a family.
pub fn peft_adapters_of(family: Family) -> (&'static [u8], &'static [u8]) {
    let f = files(family);
    (f.lora_init, f.lora_trained)
}

/// Runs the Llama's `run` ("pairs", "texts", or "lora": the pairs with PEFT's initial adapter)
/// on `device` and checks every step's loss, gradient norm and learning rate, and the trained
/// model's loss, against PyTorch (`tol`: max absolute difference).
pub async fn check_lm_steps_match_pytorch(device: &ComputeDevice, run: &str, tol: f64) -> (Decoder, Run<DecoderModel>) {
    check_family_steps_match_pytorch(Family::Llama, device, run, tol).await
}

/// [`check_lm_steps_match_pytorch`] for a family.
pub async fn check_family_steps_match_pytorch(family: Family, device: &ComputeDevice, run: &str, tol: f64) -> (Decoder, Run<DecoderModel>) {
    let (decoder, expected) = fixture_of(family, device);
    let want = &expected["runs"][run];
    let data = examples(&expected, run);
    // the ids webtune builds are the ones PyTorch trained on
    let encoder = LmRowEncoder::new(&decoder, None).unwrap();
    let (rows, warnings) = encode_all(&encoder, &data, 64, false, "training").unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    for (row, (ids, labels)) in rows.iter().zip(want["ids"].as_array().unwrap().iter().zip(want["labels"].as_array().unwrap())) {
        let ids: Vec<u32> = ids.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).take(row.ids.len()).collect();
        assert_eq!(row.ids, ids, "token ids");
        let labelled: Vec<bool> = labels.as_array().unwrap().iter().map(|l| l.as_i64() != Some(-100)).collect();
        // the first token is never predicted (nothing comes before it), whatever its label says
        let learned: Vec<bool> = (1..row.ids.len()).map(|j| row.learns(j)).collect();
        assert_eq!(learned, labelled[1..row.ids.len()], "learned tokens");
    }

    let mut events = Vec::new();
    let mut on_event = |e| events.push(e);
    let lora = (run == "lora").then(|| lora_options_of(family));
    let options = TrainOptions { lora: lora.clone(), ..recipe(&expected, data.len()) };
    let start = lora.as_ref().map(|_| peft_adapters_of(family).0);
    let trained = causal_lm::fine_tune(&decoder, device, start, &data, None, &options, None, Hooks::events(&mut on_event))
        .await
        .expect("training runs");
    super::training::check_step_events(&events, want["steps"].as_array().unwrap(), tol, run);

    let pad = decoder.text.as_ref().unwrap().tokenizer.pad_id();
    let metrics = evaluate(&trained.model, &trained.device, &rows, pad, 8).await.unwrap();
    let wf = want["final_loss"].as_f64().unwrap();
    assert!((metrics.loss - wf).abs() <= tol * 10.0, "{run} trained loss: ours {}, PyTorch {wf}", metrics.loss);
    (decoder, trained)
}
