//! BERT, RoBERTa, XLM-RoBERTa and DistilBERT against transformers (fixtures from
//! tests/reference/make_encoder_fixtures.py): tokens, hidden states and logits on the CPU
//! (≤ 1e-4) and wgpu (≤ 1e-3); fine-tuning steps against PyTorch; the export written under the
//! family's own names; bad configs.
#![cfg(not(target_family = "wasm"))]

mod common;

use common::{
    attentions::check_attentions,
    parity::{assert_close, floats, ints, read},
    training::{check_peft_files, check_step_events, dataset, fixture_lora, recipe},
};
use pollster::block_on;
use serde_json::Value;
use webtune::{
    ComputeDevice, DevicePreference, device,
    data::batch_tensors,
    infer::{Encoder, ModelFiles},
    models::lora::LoraOptions,
    train::{ClassifierExtras, Event, Hooks, TrainOptions, fine_tune_classifier, fine_tune_classifier_with},
    weights::safetensors::Inventory,
};

const FAMILIES: [&str; 4] = ["bert", "roberta", "xlm-roberta", "distilbert"];

fn path(family: &str, file: &str) -> std::path::PathBuf {
    common::assets::crate_root().join("tests/fixtures/encoders").join(family).join(file)
}

/// The family's files (`config` = config.json, or train-config.json: dropout 0) and expected.json.
fn fixture(family: &str, config: &str) -> (ModelFiles, Value) {
    let read = |f: &str| std::fs::read(path(family, f)).unwrap_or_else(|e| panic!("{family}/{f}: {e}"));
    let files = ModelFiles { config: read(config), weights: read("model.safetensors"), tokenizer: read("tokenizer.json") };
    (files, serde_json::from_slice(&read("expected.json")).unwrap())
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect()
}

async fn logits(enc: &Encoder, texts: &[&str]) -> Vec<f32> {
    let batch = enc.tokenizer.encode(texts, None, 64, false).unwrap();
    let [ids, types, mask] = enc.tensors(&batch);
    read(enc.model.forward(ids, types, mask)).await
}

async fn check_family(family: &str, dev: &ComputeDevice, tol: f32) {
    let (files, exp) = fixture(family, "config.json");
    let enc = Encoder::load(files, dev).unwrap();
    assert!(enc.report.warnings.is_empty(), "{family}: {:?}", enc.report.warnings);
    let texts = strs(&exp["texts"]);
    let batch = enc.tokenizer.encode(&texts, None, 64, false).unwrap();
    assert_eq!(batch.input_ids, ints(&exp["input_ids"]), "{family}: token ids differ from transformers");
    assert_eq!(batch.attention_mask, ints(&exp["attention_mask"]), "{family}: attention mask");
    let pairs: Vec<Vec<&str>> = exp["pair"]["texts"].as_array().unwrap().iter().map(strs).collect();
    let (a, b): (Vec<&str>, Vec<&str>) = pairs.iter().map(|p| (p[0], p[1])).unzip();
    let pair = enc.tokenizer.encode(&a, Some(&b), 64, false).unwrap();
    assert_eq!(pair.input_ids, ints(&exp["pair"]["input_ids"]), "{family}: text-pair ids");

    let hidden = read(enc.hidden_states(&batch)).await;
    assert_close(&format!("{family} last_hidden_state on {}", dev.info()), &hidden, &floats(&exp["last_hidden_state"]), tol);
    assert_close(&format!("{family} logits on {}", dev.info()), &logits(&enc, &texts).await, &floats(&exp["logits"]), tol);

    let all: Value = serde_json::from_slice(&std::fs::read(path("", "attentions.json")).unwrap()).unwrap();
    check_attentions(&enc, family, &all, tol, &dev.info().to_string()).await;
}

#[test]
fn families_match_transformers_on_cpu() {
    for family in FAMILIES {
        block_on(check_family(family, &device::cpu(), 1e-4));
    }
}

#[test]
fn families_match_transformers_on_wgpu() {
    let dev = block_on(device::select(DevicePreference::Gpu)).expect("wgpu adapter required");
    assert_eq!(dev.info().kind, "wgpu");
    for family in FAMILIES {
        block_on(check_family(family, &dev, 1e-3));
    }
}

/// PyTorch's steps (make_train_fixture.py's recipe, dropout 0), then the export: the family's
/// own key names and architecture, and the same logits when loaded back.
#[test]
fn families_fine_tune_like_pytorch_and_export_under_their_own_names() {
    let dev = device::cpu();
    for family in FAMILIES {
        let (files, exp) = fixture(family, "train-config.json");
        let data = dataset(&exp);
        let mut events = Vec::new();
        let mut on_event = |e| events.push(e);
        let trained = block_on(fine_tune_classifier(&files, &dev, &data, None, &recipe(&exp, data.len()), None, Hooks::events(&mut on_event)))
            .unwrap_or_else(|e| panic!("{family}: {e}"));
        check_step_events(&events, exp["steps"].as_array().unwrap(), 1e-4, family);

        let texts: Vec<&str> = data.examples.iter().map(|e| e.text.as_str()).collect();
        let b = trained.tokenizer.encode(&texts, None, 64, true).unwrap();
        let [ids, types, mask] = batch_tensors(&b, trained.device.device());
        let tuned = block_on(read(trained.model.forward(ids, types, mask)));
        let architecture = trained.config.family.classifier_architecture();
        let exported = block_on(trained.into_encoder(&files).export()).unwrap();
        let original = Inventory::read(&files.weights, "original").unwrap();
        let saved = Inventory::read(&exported.weights, "exported").unwrap();
        let names = |inv: &Inventory| inv.tensors.keys().cloned().collect::<Vec<_>>();
        assert_eq!(names(&saved), names(&original), "{family}: the export has the checkpoint's tensor names");
        let config: Value = serde_json::from_slice(&exported.config).unwrap();
        assert_eq!(config["architectures"][0], architecture, "{family}");

        let reloaded = Encoder::load(exported, &dev).unwrap();
        assert_close(&format!("{family}: exported model's logits"), &block_on(logits(&reloaded, &texts)), &tuned, 1e-5);
    }
}

#[test]
fn family_configs_that_cannot_work_are_clear_errors() {
    let dev = device::cpu();
    let load = |family: &str, edit: &dyn Fn(&mut Value)| {
        let (mut files, _) = fixture(family, "config.json");
        let mut config: Value = serde_json::from_slice(&files.config).unwrap();
        edit(&mut config);
        files.config = serde_json::to_vec(&config).unwrap();
        Encoder::load(files, &dev).err().expect("refused").to_string()
    };
    let e = load("roberta", &|c| c["max_position_embeddings"] = 2.into());
    assert!(e.contains("max_position_embeddings 2 leaves no room") && e.contains("pad_token_id + 1 = 2"), "{e}");
    let e = load("distilbert", &|c| c["n_heads"] = 5.into());
    assert!(e.contains("hidden_size 32 must be a multiple of num_attention_heads 5"), "{e}");
    let e = load("distilbert", &|c| c["sinusoidal_pos_embds"] = true.into());
    assert!(e.contains("sinusoidal_pos_embds is not supported"), "{e}");
    let e = load("roberta", &|c| c["model_type"] = "deberta-v2".into());
    assert!(e.contains("\"deberta-v2\" is not supported yet") && e.contains("webtune reads bert, distilbert, roberta, camembert, xlm-roberta"), "{e}");
    let e = load("xlm-roberta", &|c| c["vocab_size"] = 100.into());
    assert!(e.contains("token ids up to 301, but the model has 100 token embeddings"), "{e}");

    // a text longer than RoBERTa's positions (66 rows, from pad_token_id + 1 = 2: 64 tokens) is
    // cut to 64 tokens when truncating, and refused when not
    let (files, _) = fixture("roberta", "config.json");
    let mut enc = Encoder::load(files, &dev).unwrap();
    assert_eq!(enc.config.max_tokens(), 64);
    let long = "a delight from start to finish , the best film of the year ".repeat(20);
    let scores = block_on(enc.classify(&[long.as_str()])).unwrap();
    assert!(scores[0].iter().all(|s| s.score.is_finite()));
    enc.configure(webtune::infer::EncodeOptions { truncate: false, ..Default::default() }).unwrap();
    let e = block_on(enc.classify(&[long.as_str()])).unwrap_err().to_string();
    assert!(e.contains("64"), "{e}");
}

/// LoRA with PEFT's conventions: from PEFT's own freshly initialised adapter, the steps are PEFT's
/// (the base frozen, the head trained in full); the adapter files have PEFT's names and config;
/// the merged export computes what the adapted model does.
#[test]
fn lora_fine_tuning_matches_peft_and_saves_peft_files() {
    let dev = device::cpu();
    for family in FAMILIES {
        let (files, exp) = fixture(family, "train-config.json");
        let data = dataset(&exp);
        let lora = &exp["lora"]["config"];
        let options = TrainOptions { lora: Some(fixture_lora(lora)), ..recipe(&exp, data.len()) };
        let start = std::fs::read(path(family, "lora-init/adapter_model.safetensors")).unwrap();
        let mut events = Vec::new();
        let mut on_event = |e| events.push(e);
        let trained = block_on(fine_tune_classifier_with(&files, ClassifierExtras { adapter: Some(&start), augment_model: None }, &dev, &data, None, &options, None, Hooks::events(&mut on_event)))
            .unwrap_or_else(|e| panic!("{family}: {e}"));
        check_step_events(&events, exp["lora"]["steps"].as_array().unwrap(), 1e-4, family);
        let Some(Event::Start { memory, .. }) = events.first() else { panic!("a start event first") };
        assert!(memory.gradient_bytes * 5 < memory.weight_bytes, "{family}: only adapters and head train: {memory:?}");

        let enc = trained.into_encoder(&files);
        check_peft_files(family, &block_on(enc.export_adapter("base")).unwrap(), &start, lora, "SEQ_CLS");

        let texts: Vec<&str> = data.examples.iter().map(|e| e.text.as_str()).collect();
        let merged = Encoder::load(block_on(enc.export()).unwrap(), &dev).unwrap();
        assert_close(&format!("{family}: merged export"), &block_on(logits(&merged, &texts)), &block_on(logits(&enc, &texts)), 1e-5);
    }
    // a classifier's LoRA names the encoder's projections
    let (files, exp) = fixture("distilbert", "train-config.json");
    let data = dataset(&exp);
    let bad = TrainOptions { lora: Some(LoraOptions { target_modules: Some(vec!["q_proj".into()]), ..LoraOptions::default() }), ..recipe(&exp, data.len()) };
    let e = block_on(fine_tune_classifier(&files, &dev, &data, None, &bad, None, Hooks::events(&mut |_| {}))).err().expect("refused").to_string();
    assert!(e.contains("unknown module \"q_proj\"; valid modules are q_lin, k_lin, v_lin, out_lin, lin1, lin2"), "{e}");
}
