#![cfg(not(target_family = "wasm"))]
//! A run written as a Hugging Face recipe (`webtune recipe`) is the same run: the recipe webtune
//! writes today is the one tests/reference/make_recipe_fixture.py ran with transformers' Trainer
//! (byte for byte), and webtune's own run of those options gives the Trainer's steps.

mod common;

use std::path::PathBuf;

use common::cpu_turn;
use pollster::block_on;
use serde_json::Value;
use webtune::{
    data::Columns,
    device,
    infer::ModelFiles,
    session::{DataFile, SessionData, Task, finetune_classifier, recipe::recipe},
    train::{Event, Hooks, TrainOptions},
};

fn fixtures() -> PathBuf {
    common::assets::crate_root().join("tests/fixtures")
}

fn read(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fixture's model: tiny-cls3's weights with the dropout-0 config (as the script's `model` folder).
fn model() -> ModelFiles {
    let bert = fixtures().join("bert");
    ModelFiles { config: read(bert.join("train-steps/config.json")), weights: read(bert.join("tiny-cls3/model.safetensors")), tokenizer: read(bert.join("tokenizer.json")) }
}

/// What make_recipe_fixture.py recorded for run `name` ("full", "lora"): the recipe's options,
/// split, file hashes and the Trainer's steps.
fn expected(name: &str) -> Value {
    let all: Value = serde_json::from_slice(&read(fixtures().join("recipe/expected.json"))).unwrap();
    all[name].clone()
}

/// Run `name`'s options and data, as the fixture records them.
fn run(name: &str) -> (TrainOptions, SessionData) {
    let expected = expected(name);
    let options: TrainOptions = serde_json::from_value(expected["webtune_options"].clone()).unwrap();
    let split = expected["validation_split"].as_f64().unwrap();
    let data = SessionData { train: DataFile { bytes: read(fixtures().join("recipe/data.jsonl")), name: "data.jsonl".into() }, validation: None, validation_split: split };
    (options, data)
}

/// FNV-1a, 64 bits (the script's `fnv1a64`).
fn fnv1a64(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{hash:016x}")
}

#[test]
fn the_recipes_written_today_are_the_ones_the_trainer_ran() {
    for name in ["full", "lora"] {
        let (options, data) = run(name);
        let files = block_on(recipe(Task::TextClassification, (&model()).into(), "model", &data, &Columns::default(), &options)).unwrap();
        let ours: serde_json::Map<String, Value> = files.iter().map(|(file, bytes)| (file.clone(), Value::from(fnv1a64(bytes)))).collect();
        assert_eq!(Value::Object(ours), expected(name)["recipe_files"], "{name}: the recipe differs from the one make_recipe_fixture.py ran; run it again");
    }
}

#[test]
fn webtunes_run_gives_the_recipes_trainer_steps() {
    check_steps("full");
}

#[test]
fn webtunes_lora_run_gives_the_steps_of_the_recipes_trainer_and_peft_from_its_initial_adapter() {
    check_steps("lora");
}

/// webtune's run `name` reports, step by step, what the Trainer logged running its recipe.
fn check_steps(name: &str) {
    let _turn = cpu_turn();
    let (options, data) = run(name);
    let expected = expected(name);
    let mut steps = Vec::new();
    let mut on_event = |e| {
        if let Event::Step { loss, grad_norm, learning_rate, .. } = e {
            steps.push((loss, grad_norm.unwrap(), learning_rate));
        }
    };
    let hooks = Hooks { on_event: &mut on_event, on_checkpoint: None, cancelled: &|| false };
    block_on(finetune_classifier(&model(), None, &device::cpu(), &data, &Columns::default(), &options, None, hooks)).unwrap();
    let want = expected["steps"].as_array().unwrap();
    assert_eq!(steps.len(), want.len(), "optimizer steps");
    for (i, ((loss, norm, lr), w)) in steps.iter().zip(want).enumerate() {
        let close = |a: f64, b: &Value, what: &str| {
            let b = b.as_f64().unwrap();
            assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "{name}, step {}: {what} {a} vs the Trainer's {b}", i + 1);
        };
        close(*loss, &w["loss"], "loss");
        close(*norm, &w["grad_norm"], "gradient norm");
        close(*lr, &w["learning_rate"], "learning rate");
    }
}

#[test]
fn a_task_without_a_recipe_yet_and_a_judge_without_validation_are_clear_errors() {
    let (options, data) = run("full");
    let e = block_on(recipe(Task::TokenClassification, (&model()).into(), "model", &data, &Columns::default(), &options)).unwrap_err().to_string();
    assert!(e.contains("token-classification runs are not exported yet"), "{e}");
    let no_validation = SessionData { validation_split: 0.0, ..data };
    let judged = TrainOptions { early_stopping_patience: Some(2), ..options };
    let e = block_on(recipe(Task::TextClassification, (&model()).into(), "model", &no_validation, &Columns::default(), &judged)).unwrap_err().to_string();
    assert!(e.contains("earlyStoppingPatience and metric judge evaluations; this run has no validation data"), "{e}");
    let augmented = TrainOptions { augment: Some(Default::default()), ..TrainOptions::default() };
    let e = block_on(recipe(Task::TextClassification, (&model()).into(), "model", &no_validation, &Columns::default(), &augmented)).unwrap_err().to_string();
    assert!(e.contains("augment has no equivalent in transformers' Trainer"), "{e}");
}
