//! Every fuzz target (tests/fuzz/targets.rs) over its seeds — inputs made of the test fixtures —
//! and over the corpus earlier fuzzing runs stored (`$WEBTUNE_FUZZ_HOME/corpus/TARGET`, default
//! `~/.cache/webtune/fuzz`, when there is one): no input may panic. This is CI's fuzz step, in the
//! ordinary test build; coverage-guided fuzzing (`pkg-config/fuzz.sh TARGET SECONDS`) builds the
//! same targets with cargo fuzz and starts from the seeds this test writes
//! (`WEBTUNE_FUZZ_WRITE_SEEDS=DIR`).
#![cfg(not(target_family = "wasm"))]

mod common;
#[path = "fuzz/targets.rs"]
mod targets;

use std::{
    fs,
    panic::{AssertUnwindSafe, catch_unwind},
    path::{Path, PathBuf},
    time::Instant,
};

use common::gguf::GgufSpec;
use pollster::block_on;
use targets::{SEP, TARGETS};
use webtune::{
    data::Columns,
    device,
    infer::ModelFiles,
    options_json,
    session::{SessionData, finetune_classifier},
    train::{Checkpoint, Hooks, TrainOptions},
};

fn read(path: impl AsRef<Path>) -> Vec<u8> {
    let path = common::assets::crate_root().join("tests/fixtures").join(path);
    fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Parts joined as a multi-part input.
fn joined(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.join(SEP)
}

/// A model folder's three files as one input.
fn folder(config: &str, weights: &str, tokenizer: &str) -> Vec<u8> {
    joined(&[read(config), read(weights), read(tokenizer)])
}

/// The seed inputs of `target`, named.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let named = |pairs: Vec<(&str, Vec<u8>)>| pairs.into_iter().map(|(n, b)| (n.to_string(), b)).collect();
    let prefixed = |byte: u8, text: &str| [&[byte][..], text.as_bytes()].concat();
    match target {
        "data" => named(vec![
            ("csv", prefixed(0, "text,label\na fine film,good\n\"quoted, comma\",bad\n")),
            ("tsv", prefixed(1, "text\tlabel\ttext_pair\nfine\tgood\tx\n")),
            ("jsonl", prefixed(2, "{\"text\": \"fine\", \"label\": \"good\"}\n{\"prompt\": \"a\", \"completion\": \"b\", \"text\": \"c\"}\n")),
            ("json", prefixed(3, "[{\"text\": \"fine\", \"label\": 1}, {\"text\": \"bad\", \"label\": 0}]")),
            ("conll", prefixed(5, "-DOCSTART- O\n\nEU NNP B-ORG\nrejects O\n\nPeter B-PER\nBlackburn I-PER\n")),
            ("tagged", prefixed(6, "{\"tokens\": [\"Bonn\", \"is\"], \"ner_tags\": [\"S-LOC\", \"O\"]}\n")),
            ("squad", prefixed(7, "{\"data\": [{\"paragraphs\": [{\"context\": \"Zoe wrote it.\", \"qas\": [{\"id\": \"a\", \"question\": \"Who?\", \"answers\": [{\"text\": \"Zoe\", \"answer_start\": 0}]}]}]}]}")),
        ]),
        "model_folder" => named(vec![
            ("bert", folder("bert/tiny-cls3/config.json", "bert/tiny-cls3/model.safetensors", "bert/tokenizer.json")),
            ("llama", folder("llama/tiny/config.json", "llama/tiny/model.safetensors", "llama/train-steps/tokenizer.json")),
            ("gemma3", folder("llama/tiny-gemma3/config.json", "llama/tiny-gemma3/model.safetensors", "llama/train-steps/tokenizer.json")),
            ("roberta", folder("encoders/roberta/config.json", "encoders/roberta/model.safetensors", "encoders/roberta/tokenizer.json")),
            ("distilbert", folder("encoders/distilbert/config.json", "encoders/distilbert/model.safetensors", "encoders/distilbert/tokenizer.json")),
            ("gpt2", folder("gpt2/tiny/config.json", "gpt2/tiny/model.safetensors", "gpt2/tiny/tokenizer.json")),
        ]),
        "setfit_head" => named(
            ["ids3.pkl", "strings2.pkl", "differentiable3.pkl", "differentiable2.pkl"].iter().map(|n| (*n, read(&format!("setfit/heads/{n}")))).collect(),
        ),
        "gguf" => named(vec![
            ("tiny.gguf", GgufSpec::tiny_llama().bytes()),
            ("tiny-kquant.gguf", read("ggml/tiny-kquant.gguf")),
            ("tiny-qwen2.gguf", read("ggml/tiny-qwen2.gguf")),
        ]),
        "tokenizer" => named(vec![
            ("bert", [&[0x40, 0][..], &read("bert/tokenizer.json")].concat()),
            ("llama", [&[0x08, 0][..], &read("llama/train-steps/tokenizer.json")].concat()),
            ("xlm-roberta", [&[0x40, 0][..], &read("encoders/xlm-roberta/tokenizer.json")].concat()),
        ]),
        "chat_template" => named(vec![
            ("chatml", b"{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}".to_vec()),
            ("filters", b"{{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('no system') }}{% endif %}[{{ m.role | upper }}] {{ m.content | trim }}{{ eos_token }}{% endfor %}".to_vec()),
        ]),
        "checkpoint" => named(vec![("tiny", checkpoint_seed())]),
        other => panic!("no seeds for {other}"),
    }
}

/// trainer_state.json and optimizer.safetensors of a real checkpoint: one step of tiny-cls3.
fn checkpoint_seed() -> Vec<u8> {
    let _turn = common::cpu_turn();
    let files = ModelFiles {
        config: read("bert/tiny-cls3/config.json"),
        weights: read("bert/tiny-cls3/model.safetensors"),
        tokenizer: read("bert/tokenizer.json"),
    };
    let rows = b"text,label\na fine film,good\ndull,bad\nwarm,good\nboring,bad\n".to_vec();
    let data = SessionData::named(rows, "d.csv".into(), None, String::new(), Some(0.0));
    let options: TrainOptions =
        options_json::from_json("finetune", serde_json::json!({"epochs": 1, "batchSize": 2, "checkpointEvery": 1})).unwrap();
    let mut saved: Vec<Checkpoint> = Vec::new();
    let mut keep = |c: &Checkpoint| {
        saved.push(c.clone());
        Ok(())
    };
    let hooks = Hooks { on_event: &mut |_| {}, on_checkpoint: Some(&mut keep), cancelled: &|| false };
    block_on(finetune_classifier(&files, None, &device::cpu(), &data, &Columns::default(), &options, None, hooks)).unwrap();
    let files = saved.first().expect("a checkpoint").files().unwrap();
    let file = |name: &str| files.iter().find(|(n, _)| *n == name).map(|(_, b)| b.clone()).unwrap();
    joined(&[file("trainer_state.json"), file("optimizer.safetensors")])
}

/// Where stored fuzzing runs keep their corpus.
fn fuzz_home() -> PathBuf {
    match std::env::var_os("WEBTUNE_FUZZ_HOME") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/webtune/fuzz"),
    }
}

/// The stored corpus of `target`, if any (sorted, for a stable order).
fn corpus(target: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(fuzz_home().join("corpus").join(target)) else { return Vec::new() };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
    paths.sort();
    paths
}

#[test]
fn every_fuzz_target_survives_its_seeds_and_the_stored_corpus() {
    if let Some(dir) = std::env::var_os("WEBTUNE_FUZZ_WRITE_SEEDS") {
        for (target, _) in TARGETS {
            let dir = Path::new(&dir).join(target);
            fs::create_dir_all(&dir).unwrap();
            for (name, bytes) in seeds(target) {
                fs::write(dir.join(name), bytes).unwrap();
            }
        }
    }
    let mut failures = Vec::new();
    for (target, run) in TARGETS {
        let started = Instant::now();
        let seeds = seeds(target);
        let stored = corpus(target);
        let inputs = seeds.into_iter().map(|(name, bytes)| (format!("seed {name}"), Some(bytes))).chain(stored.iter().map(|p| (p.display().to_string(), None)));
        let mut count = 0;
        for (name, bytes) in inputs {
            let bytes = bytes.unwrap_or_else(|| fs::read(&name).unwrap_or_default());
            count += 1;
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| run(&bytes))) {
                let message = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
                failures.push(format!("{target}: {name}: {message}"));
            }
        }
        eprintln!("fuzz target {target}: {count} inputs ({} stored) in {:.1} s", stored.len(), started.elapsed().as_secs_f64());
    }
    assert!(failures.is_empty(), "inputs that panic (save them as regression cases in tests/hostile.rs):\n{}", failures.join("\n"));
}
