//! Causal-LM fine-tuning against PyTorch step by step (fixture from
//! tests/reference/make_lm_train_fixture.py), shared by the native and the browser tests. The
//! fixture is compiled in, so the same code runs in wasm.

use serde_json::Value;

pub use super::training::recipe;
use webtune::{
    ComputeDevice,
    data::{Format, Table, TextColumns, TextExample, text_examples},
    infer::{
        Decoder,
        language_model::{LmRowEncoder, encode_all, evaluate},
    },
    models::lora::LoraOptions,
    train::{
        Hooks, Run, TrainOptions,
        causal_lm,
    },
};

macro_rules! fixture_file {
    ($path:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/llama/", $path)).as_slice()
    };
}

/// The tiny Llama with the fixture's character tokenizer, and what PyTorch computed.
pub fn fixture(device: &ComputeDevice) -> (Decoder, Value) {
    let decoder = Decoder::from_hf(
        fixture_file!("tiny/config.json"),
        fixture_file!("tiny/model.safetensors").to_vec(),
        fixture_file!("train-steps/tokenizer.json"),
        None,
        device,
    )
    .expect("the tiny Llama loads");
    (decoder, serde_json::from_slice(fixture_file!("train-steps/expected.json")).unwrap())
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

/// The fixture's LoRA settings (PEFT: r 4, alpha 8, q_proj and v_proj).
pub fn lora_options() -> LoraOptions {
    LoraOptions { rank: 4, alpha: 8.0, target_modules: Some(vec!["q_proj".into(), "v_proj".into()]), ..LoraOptions::default() }
}

/// PEFT's initial adapter of the "lora" run, and the adapter it trained.
pub fn peft_adapters() -> (&'static [u8], &'static [u8]) {
    (fixture_file!("train-steps/lora-init/adapter_model.safetensors"), fixture_file!("train-steps/lora-trained/adapter_model.safetensors"))
}

/// Runs `run` ("pairs", "texts", or "lora": the pairs with PEFT's initial adapter) on `device` and
/// checks every step's loss, gradient norm and learning rate, and the trained model's loss, against
/// PyTorch (`tol`: max absolute difference).
pub async fn check_lm_steps_match_pytorch(device: &ComputeDevice, run: &str, tol: f64) -> (Decoder, Run<webtune::models::llama::LlamaForCausalLM>) {
    let (decoder, expected) = fixture(device);
    let want = &expected["runs"][run];
    let data = examples(&expected, run);
    // the ids webtune builds are the ones PyTorch trained on
    let encoder = LmRowEncoder::new(&decoder, None).unwrap();
    let (rows, warnings) = encode_all(&encoder, &data, 64, "training").unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    for (row, (ids, labels)) in rows.iter().zip(want["ids"].as_array().unwrap().iter().zip(want["labels"].as_array().unwrap())) {
        let ids: Vec<u32> = ids.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).take(row.ids.len()).collect();
        assert_eq!(row.ids, ids, "token ids");
        let first_label = labels.as_array().unwrap().iter().position(|l| l.as_i64() != Some(-100)).unwrap();
        assert_eq!(row.prompt.max(1), first_label, "first learned token");
    }

    let mut events = Vec::new();
    let mut on_event = |e| events.push(e);
    let lora = (run == "lora").then(lora_options);
    let options = TrainOptions { lora: lora.clone(), ..recipe(&expected, data.len()) };
    let start = lora.as_ref().map(|_| peft_adapters().0);
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
