//! The fine-tuning loop against PyTorch step by step (fixture from
//! tests/reference/make_train_fixture.py), shared by the native and the browser tests. The
//! fixture is compiled in, so the same code runs in wasm.

use serde_json::Value;
use webtune::{
    ComputeDevice,
    data::{Columns, Dataset, Table},
    data::batch_tensors,
    infer::ModelFiles,
    models::lora::LoraOptions,
    train::{Event, Hooks, StopReason, TrainOptions, Trained, fine_tune_classifier},
};

/// tiny-cls3 with dropout 0, and what PyTorch computed.
pub fn fixture() -> (ModelFiles, Value) {
    let files = ModelFiles {
        config: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bert/train-steps/config.json")).to_vec(),
        weights: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bert/tiny-cls3/model.safetensors")).to_vec(),
        tokenizer: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bert/tokenizer.json")).to_vec(),
    };
    let expected = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bert/train-steps/expected.json"));
    (files, serde_json::from_str(expected).unwrap())
}

/// The fixture's rows as a dataset (through the CSV reader, as a user's file would go).
pub fn dataset(expected: &Value) -> Dataset {
    let mut csv = String::from("text,label\n");
    for r in expected["rows"].as_array().unwrap() {
        csv += &format!("\"{}\",{}\n", r["text"].as_str().unwrap(), r["label"].as_str().unwrap());
    }
    let table = Table::parse(csv.as_bytes(), webtune::data::Format::Csv, "rows.csv").unwrap();
    Dataset::from_table(&table, &Columns::default()).unwrap()
}

/// The fixture's recipe: one batch of all rows per step, one step per epoch.
pub fn recipe(expected: &Value, rows: usize) -> TrainOptions {
    let r = &expected["recipe"];
    TrainOptions {
        epochs: r["steps"].as_u64().unwrap() as usize,
        batch_size: rows,
        learning_rate: r["learning_rate"].as_f64().unwrap(),
        weight_decay: r["weight_decay"].as_f64().unwrap(),
        warmup_steps: Some(r["warmup_steps"].as_u64().unwrap() as usize),
        max_grad_norm: Some(r["max_grad_norm"].as_f64().unwrap()),
        log_every: 1,
        ..TrainOptions::default()
    }
}

/// Runs the recipe on `device` and checks loss, gradient norm and learning rate of every step
/// and the trained model's logits against PyTorch (`tol`: max absolute difference).
pub async fn check_steps_match_pytorch(device: &ComputeDevice, tol: f64) -> Trained {
    check_steps_match_pytorch_with(device, tol, false).await
}

/// [`check_steps_match_pytorch`], with `gradient_checkpointing` on or off (it changes memory,
/// never the numbers).
pub async fn check_steps_match_pytorch_with(device: &ComputeDevice, tol: f64, gradient_checkpointing: bool) -> Trained {
    let (files, expected) = fixture();
    let data = dataset(&expected);
    let mut events = Vec::new();
    let mut on_event = |e| events.push(e);
    let options = TrainOptions { gradient_checkpointing, ..recipe(&expected, data.len()) };
    let trained = fine_tune_classifier(&files, device, &data, None, &options, None, Hooks::events(&mut on_event))
        .await
        .expect("training runs");
    check_step_events(&events, expected["steps"].as_array().unwrap(), tol, "");

    // logits of the trained model on the same rows, in the fixture's row order
    let texts: Vec<&str> = data.examples.iter().map(|e| e.text.as_str()).collect();
    let b = trained.tokenizer.encode(&texts, None, 64, true).unwrap();
    let [ids, types, mask] = batch_tensors(&b, trained.device.device());
    let logits = trained.device.read(trained.model.forward(ids, types, mask)).await.unwrap().try_to_vec::<f32>().unwrap();
    let want: Vec<f32> = expected["logits"].as_array().unwrap().iter().flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32)).collect();
    super::parity::assert_close("trained logits", &logits, &want, (tol * 10.0) as f32);
    trained
}

/// Every step event's loss (≤ `tol`), gradient norm (≤ 10 `tol`) and learning rate against
/// PyTorch's `want` steps, and a finished run.
pub fn check_step_events(events: &[Event], want: &[Value], tol: f64, run: &str) {
    let steps: Vec<(f64, Option<f64>, f64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Step { loss, grad_norm, learning_rate, .. } => Some((*loss, *grad_norm, *learning_rate)),
            _ => None,
        })
        .collect();
    assert_eq!(steps.len(), want.len(), "one step event per step");
    for (i, ((loss, norm, lr), w)) in steps.iter().zip(want).enumerate() {
        let (wl, wn, wlr) = (w["loss"].as_f64().unwrap(), w["grad_norm"].as_f64().unwrap(), w["learning_rate"].as_f64().unwrap());
        assert!((loss - wl).abs() <= tol, "{run} step {i} loss: ours {loss}, PyTorch {wl}");
        let norm = norm.expect("grad norm reported");
        assert!((norm - wn).abs() <= tol * 10.0, "{run} step {i} grad norm: ours {norm}, PyTorch {wn}");
        assert!((lr - wlr).abs() <= 1e-12, "{run} step {i} lr: ours {lr}, PyTorch {wlr}");
    }
    assert!(matches!(events.last(), Some(Event::Done { stop_reason: StopReason::Finished, .. })));
}

/// The LoRA settings of a fixture's `lora.config` (`rank`, `alpha`, `target_modules`).
pub fn fixture_lora(config: &Value) -> LoraOptions {
    LoraOptions {
        rank: config["rank"].as_u64().unwrap() as usize,
        alpha: config["alpha"].as_f64().unwrap(),
        target_modules: Some(strings(&config["target_modules"])),
        ..LoraOptions::default()
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect()
}

/// Adapter files a LoRA run saved (`adapter_model.safetensors`, `adapter_config.json`) against
/// PEFT's: the tensor names of PEFT's own adapter file `peft`, and `config`'s (a fixture's
/// `lora.config`) targets and modules to save under PEFT's `task_type`.
pub fn check_peft_files(what: &str, files: &[(&str, Vec<u8>)], peft: &[u8], config: &Value, task_type: &str) {
    use webtune::weights::safetensors::Inventory;
    let file = |name: &str| &files.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("{what}: no {name}")).1;
    let keys = |inv: Inventory| inv.tensors.into_keys().collect::<Vec<_>>();
    let ours = keys(Inventory::read(file("adapter_model.safetensors"), "ours").unwrap());
    assert_eq!(ours, keys(Inventory::read(peft, "PEFT's").unwrap()), "{what}: PEFT's tensor names");
    let saved: Value = serde_json::from_slice(file("adapter_config.json")).unwrap();
    assert_eq!(saved["task_type"], task_type, "{what}");
    assert_eq!(strings(&saved["target_modules"]), strings(&config["target_modules"]), "{what}: target_modules");
    assert_eq!(strings(&saved["modules_to_save"]), strings(&config["modules_to_save"]), "{what}: modules_to_save");
}
