//! The `webtune` binary: `predict`, `embed`, `train` and `eval` on the golden tiny fixtures, JSON on stdout,
//! errors on stderr with a non-zero exit.
#![cfg(not(target_family = "wasm"))] // native only: the browser suite is tests/browser.rs

mod common;

use std::process::{Command, Output};

use common::parity::{Fixture, LABELS, fixture_path, floats};
use pollster::block_on;
use serde_json::Value;
use webtune::train::Checkpoint;

fn webtune(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_webtune")).args(args).output().expect("run webtune")
}

/// The fixture folders keep one shared tokenizer.json; the CLI wants a complete model folder.
fn model_folder(name: &str, tag: &str) -> tempdir::TempFolder {
    let dir = tempdir::TempFolder::new(tag);
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture_path(name).join(f), dir.path.join(f)).unwrap();
    }
    std::fs::copy(fixture_path("tokenizer.json"), dir.path.join("tokenizer.json")).unwrap();
    dir
}

mod tempdir {
    /// A folder under the system temp dir, removed on drop.
    pub struct TempFolder {
        pub path: std::path::PathBuf,
    }
    impl TempFolder {
        pub fn new(tag: &str) -> Self {
            let path = std::env::temp_dir().join(format!("webtune-cli-{tag}-{}", std::process::id()));
            std::fs::create_dir_all(&path).unwrap();
            TempFolder { path }
        }
        pub fn arg(&self) -> &str {
            self.path.to_str().unwrap()
        }
    }
    impl Drop for TempFolder {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// `rows.tsv` in `work`: six short reviews (`review`, `verdict` good/bad), `times` over.
fn review_rows(work: &tempdir::TempFolder, times: usize) -> std::path::PathBuf {
    let data = work.path.join("rows.tsv");
    let rows = ["a delight from start to finish\tgood", "the best film of the year\tgood", "warm , funny and wise\tgood", "dull\tbad", "a tedious , pointless mess\tbad", "boring and far too long\tbad"];
    std::fs::write(&data, format!("review\tverdict\n{}\n", rows.repeat(times).join("\n"))).unwrap();
    data
}

fn stdout_lines(out: &Output) -> Vec<Value> {
    assert!(out.status.success(), "webtune failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn predict_prints_the_reference_probabilities() {
    let fx = Fixture::read("tiny-cls3");
    let dir = model_folder("tiny-cls3", "predict");
    let mut args = vec!["predict", "--model", dir.arg(), "--device", "cpu"];
    let texts = fx.texts();
    for t in &texts {
        args.extend(["--text", t]);
    }
    let lines = stdout_lines(&webtune(&args));
    assert_eq!(lines.len(), texts.len());
    let logits = floats(&fx.expected["logits"]);
    for (row, line) in lines.iter().enumerate() {
        assert_eq!(line["text"], texts[row]);
        let l = &logits[row * 3..row * 3 + 3];
        let z: f32 = l.iter().map(|x| x.exp()).sum();
        let best = (0..3).max_by(|&a, &b| l[a].total_cmp(&l[b])).unwrap();
        assert_eq!(line["label"], LABELS[best]);
        let score = line["score"].as_f64().unwrap() as f32;
        assert!((score - l[best].exp() / z).abs() < 1e-4, "ours={score} reference={}", l[best].exp() / z);
        assert_eq!(line["scores"].as_array().unwrap().len(), 3);
    }
}

#[test]
fn predict_reads_an_input_file() {
    let dir = model_folder("tiny-cls3", "input");
    let input = dir.path.join("texts.txt");
    std::fs::write(&input, "the film was good\n\n  a dull story  \n").unwrap();
    let lines = stdout_lines(&webtune(&["predict", "--model", dir.arg(), "--device", "cpu", "--input", input.to_str().unwrap()]));
    assert_eq!(lines.len(), 2, "blank lines are skipped");
    assert_eq!(lines[1]["text"], "a dull story");
}

#[test]
fn embed_prints_vectors_and_pairwise_cosines() {
    let dir = model_folder("tiny-base", "embed");
    let out = stdout_lines(&webtune(&[
        "embed", "--model", dir.arg(), "--device", "cpu", "--text", "the film was good", "--text", "a dull story", "--normalize",
    ]));
    let o = &out[0];
    assert_eq!(o["dim"], 32);
    assert_eq!(o["pooling"], "mean");
    let v = o["vectors"].as_array().unwrap();
    assert_eq!(v.len(), 2);
    let norm: f64 = v[0].as_array().unwrap().iter().map(|x| x.as_f64().unwrap().powi(2)).sum();
    assert!((norm - 1.0).abs() < 1e-4);
    let c = &o["cosine"];
    assert!((c[0][0].as_f64().unwrap() - 1.0).abs() < 1e-4);
    assert_eq!(c[0][1], c[1][0]);
}

#[test]
fn bad_input_exits_with_a_clear_message() {
    let dir = model_folder("tiny-cls3", "bad");
    let fail = |args: &[&str], needle: &str| {
        let out = webtune(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(err.contains(needle), "{args:?}: stderr {err:?} lacks {needle:?}");
    };
    fail(&["predict", "--model", dir.arg(), "--device", "cpu"], "no input: pass --text");
    fail(&["predict", "--model", "/nonexistent", "--text", "x"], "needs config.json, model.safetensors and tokenizer.json");
    fail(&["embed", "--model", dir.arg(), "--device", "cpu", "--text", "x", "--pooling", "max"], "valid values are \"mean\", \"cls\"");
    fail(&["predict", "--model", dir.arg(), "--device", "tpu", "--text", "x"], "unknown device");
    fail(&["predict", "--model", dir.arg(), "--device", "cpu", "--text", " "], "is empty");
}

#[test]
fn train_then_eval_then_predict_round_trip() {
    let model = model_folder("tiny-cls3", "train-model");
    let work = tempdir::TempFolder::new("train-work");
    let data = review_rows(&work, 2);
    let out = work.path.join("out");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let cols = ["--text-column", "review", "--label-column", "verdict"];
    let mut args = vec!["train", "--model", model.arg(), "--data", d, "--out", o, "--device", "cpu", "--json"];
    args.extend(cols);
    args.extend(["--epochs", "2", "--batch-size", "4", "--validation-split", "0.25", "--log-every", "1"]);
    let r = webtune(&args);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let events: Vec<Value> = String::from_utf8(r.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"start"));
    assert_eq!(types.last(), Some(&"done"));
    assert!(types.contains(&"step") && types.contains(&"eval"), "{types:?}");
    assert_eq!(events[0]["labels"], serde_json::json!(["bad", "good"]), "a new head with the data's labels");
    assert!(events[0]["warnings"].to_string().contains("classifier is for other classes, so classifier was replaced"), "{}", events[0]);
    assert!(events.iter().any(|e| e["type"] == "step" && e["gradNorm"].is_number() && e["tokensPerSecond"].is_number()));

    let mut args = vec!["eval", "--model", o, "--data", d, "--device", "cpu"];
    args.extend(cols);
    let r = webtune(&args);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let m: Value = serde_json::from_slice(&r.stdout).unwrap();
    for k in ["accuracy", "macro_f1", "loss", "confusion_matrix", "per_class"] {
        assert!(!m[k].is_null(), "eval prints {k}: {m}");
    }
    assert_eq!(m["examples"], 12);

    let r = webtune(&["predict", "--model", o, "--text", "dull", "--device", "cpu"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let p: Value = serde_json::from_slice(&r.stdout).unwrap();
    assert!(p["label"] == "good" || p["label"] == "bad", "{p}");

    // a second run must not silently replace the trained model
    let mut args = vec!["train", "--model", model.arg(), "--data", d, "--out", o, "--device", "cpu"];
    args.extend(cols);
    let r = webtune(&args);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("--overwrite"));
}

/// `--task ner`: a BERT checkpoint fine-tuned on CoNLL lines with new tags, evaluated with
/// entity metrics, and `predict` on the folder tags entities (its config names a token head).
#[test]
fn train_eval_predict_token_classification() {
    let model = model_folder("tiny-cls3", "ner-model");
    let work = tempdir::TempFolder::new("ner-work");
    let data = work.path.join("train.txt");
    std::fs::write(&data, "-DOCSTART- O\n\nAngela B-PER\nMerkel I-PER\nvisited O\nParis B-LOC\n\nthe O\nmovie O\nwas O\ndull O\n\n".repeat(3)).unwrap();
    let out = work.path.join("out");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let args = ["train", "--task", "ner", "--model", model.arg(), "--data", d, "--validation", d, "--out", o, "--device", "cpu", "--json", "--epochs", "1", "--batch-size", "3"];
    let events = stdout_lines(&webtune(&args));
    assert_eq!(events[0]["labels"], serde_json::json!(["B-LOC", "B-PER", "I-PER", "O"]));
    let eval = events.iter().find(|e| e["type"] == "eval").expect("an evaluation");
    assert!(eval["metrics"]["f1"].is_number() && eval["metrics"]["per_type"].is_array(), "{eval}");
    let config: Value = serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["architectures"][0], "BertForTokenClassification");

    let m = &stdout_lines(&webtune(&["eval", "--task", "token-classification", "--model", o, "--data", d, "--device", "cpu"]))[0];
    assert_eq!(m["examples"], 6);
    assert!(m["f1"].is_number() && m["precision"].is_number() && m["per_type"].is_array(), "{m}");

    let p = &stdout_lines(&webtune(&["predict", "--model", o, "--text", "Angela Merkel visited Paris", "--aggregation", "first", "--device", "cpu"]))[0];
    assert_eq!(p["text"], "Angela Merkel visited Paris");
    for e in p["entities"].as_array().expect("entities") {
        let (start, end) = (e["start"].as_u64().unwrap() as usize, e["end"].as_u64().unwrap() as usize);
        assert!(start < end && end <= 27 && ["PER", "LOC"].contains(&e["entity"].as_str().unwrap()), "{e}");
    }
    let r = webtune(&["predict", "--model", o, "--text", "x", "--aggregation", "longest"]);
    assert!(String::from_utf8_lossy(&r.stderr).contains("unknown aggregation \"longest\""), "{}", String::from_utf8_lossy(&r.stderr));
}

/// `--task fill-mask`: continued masked-LM pretraining on a .txt file writes a *ForMaskedLM folder;
/// `eval` prints its masked-LM loss; `predict` on the folder fills masks (its config names the head).
#[test]
fn train_eval_predict_fill_mask() {
    let model = fixture_path("../fill-mask/bert");
    let work = tempdir::TempFolder::new("mlm-work");
    let data = work.path.join("domain.txt");
    std::fs::write(&data, "the movie was a delight from start to finish\ndull and far too long\nwarm, funny and wise\na tedious mess\n".repeat(3)).unwrap();
    let out = work.path.join("out");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let args = ["train", "--task", "fill-mask", "--model", model.to_str().unwrap(), "--data", d, "--validation", d, "--out", o, "--device", "cpu", "--json", "--epochs", "1", "--batch-size", "4", "--whole-word-mask"];
    let events = stdout_lines(&webtune(&args));
    let eval = events.iter().find(|e| e["type"] == "eval").expect("an evaluation");
    assert!(eval["metrics"]["perplexity"].is_number(), "{eval}");
    let config: Value = serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["architectures"][0], "BertForMaskedLM");

    let m = &stdout_lines(&webtune(&["eval", "--task", "fill-mask", "--model", o, "--data", d, "--device", "cpu"]))[0];
    assert!(m["loss"].as_f64().unwrap() > 0.0 && m["examples"] == 12, "{m}");

    let p = &stdout_lines(&webtune(&["predict", "--model", o, "--text", "the movie was a [MASK]", "--top-k", "2", "--targets", "dull,[UNK]", "--device", "cpu"]))[0];
    let candidates = p["masks"][0].as_array().expect("one mask");
    assert_eq!(candidates.len(), 2);
    assert!(candidates.iter().all(|c| c["sequence"].as_str().unwrap().starts_with("the movie was a")), "{p}");
    assert!(candidates.iter().any(|c| c["token_str"] == "d"), "the target outside the vocabulary stands for its first token: {p}");
    let r = webtune(&["predict", "--model", o, "--text", "no mask here", "--device", "cpu"]);
    assert!(String::from_utf8_lossy(&r.stderr).contains("has no mask token: write [MASK]"), "{}", String::from_utf8_lossy(&r.stderr));
    let r = webtune(&["train", "--task", "text-classification", "--model", model.to_str().unwrap(), "--data", d, "--out", o, "--overwrite", "--whole-word-mask"]);
    assert!(String::from_utf8_lossy(&r.stderr).contains("wholeWordMask is for fill-mask models"), "{}", String::from_utf8_lossy(&r.stderr));
}

/// `--task question-answering`: fine-tuned on SQuAD rows, evaluated with the SQuAD metrics (v2.0's
/// breakdown: one question is unanswerable); `predict --question` answers from each --text with
/// character offsets into it.
#[test]
fn train_eval_predict_question_answering() {
    let model = tempdir::TempFolder::new("qa-model");
    let qa = fixture_path("../question-answering/bert");
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(qa.join(f), model.path.join(f)).unwrap();
    }
    std::fs::copy(fixture_path("../fill-mask/bert/tokenizer.json"), model.path.join("tokenizer.json")).unwrap();
    let expected: Value = serde_json::from_slice(&std::fs::read(qa.join("expected.json")).unwrap()).unwrap();
    let work = tempdir::TempFolder::new("qa-work");
    let data = work.path.join("squad.json");
    std::fs::write(&data, serde_json::to_vec(&expected["examples"]).unwrap()).unwrap();
    let out = work.path.join("out");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let args = ["train", "--task", "question-answering", "--model", model.arg(), "--data", d, "--validation", d, "--out", o, "--device", "cpu", "--json", "--epochs", "1", "--batch-size", "16", "--max-length", "64", "--doc-stride", "8"];
    let events = stdout_lines(&webtune(&args));
    let eval = events.iter().find(|e| e["type"] == "eval").expect("an evaluation");
    assert!(eval["metrics"]["f1"].is_number() && eval["metrics"]["no_answer"]["total"] == 1, "{eval}");
    let config: Value = serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["architectures"][0], "BertForQuestionAnswering");

    let m = &stdout_lines(&webtune(&["eval", "--task", "question-answering", "--model", o, "--data", d, "--device", "cpu", "--max-length", "64"]))[0];
    assert!(m["exact_match"].is_number() && m["examples"] == 5, "{m}");

    let context = "Zoë Brandt wrote the café review in Bonn.";
    let p = &stdout_lines(&webtune(&["predict", "--model", o, "--question", "Who wrote it?", "--text", context, "--answers", "2", "--device", "cpu"]))[0];
    let answers = p["answers"].as_array().unwrap();
    assert_eq!(answers.len(), 2);
    for a in answers {
        let (start, end) = (a["start"].as_u64().unwrap() as usize, a["end"].as_u64().unwrap() as usize);
        assert_eq!(a["text"], context.chars().skip(start).take(end - start).collect::<String>(), "{a}");
    }
    let r = webtune(&["predict", "--model", o, "--text", context]);
    assert!(String::from_utf8_lossy(&r.stderr).contains("pass --question"), "{}", String::from_utf8_lossy(&r.stderr));

    // LoRA: only PEFT's files (QUESTION_ANS, qa_outputs trained in full)
    let peft = work.path.join("peft");
    let p = peft.to_str().unwrap();
    let mut lora: Vec<&str> = args.iter().map(|a| if *a == o { p } else { a }).collect();
    lora.extend(["--lora-rank", "4", "--peft"]);
    assert!(webtune(&lora).status.success());
    let config: Value = serde_json::from_slice(&std::fs::read(peft.join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!((&config["task_type"], &config["modules_to_save"]), (&serde_json::json!("QUESTION_ANS"), &serde_json::json!(["qa_outputs"])));
    assert!(peft.join("adapter_model.safetensors").exists() && !peft.join("model.safetensors").exists());
}

/// `webtune search`: a 4-trial grid prints one JSON line per trial and the best, and writes the
/// best trial's model, which equals a plain `webtune train` with its settings (≤ 1e-6).
#[test]
fn search_runs_a_grid_and_keeps_the_best_trial() {
    let model = model_folder("tiny-cls3", "search-model");
    let work = tempdir::TempFolder::new("search-work");
    let data = review_rows(&work, 3);
    let (searched, plain) = (work.path.join("searched"), work.path.join("plain"));
    let common = ["--model", model.arg(), "--data", data.to_str().unwrap(), "--device", "cpu", "--text-column", "review", "--label-column", "verdict", "--batch-size", "6", "--validation-split", "0.34", "--metric", "macro_f1"];
    let mut args = vec!["search", "--out", searched.to_str().unwrap(), "--learning-rates", "1e-3,5e-3", "--epoch-counts", "1,2"];
    args.extend(common);
    let r = webtune(&args);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let lines = stdout_lines(&r);
    assert_eq!(lines.len(), 5, "four trials and the best: {lines:?}");
    let settings: Vec<&Value> = lines[..4].iter().map(|l| &l["settings"]).collect();
    assert_eq!(settings[1], &serde_json::json!({ "learningRate": 0.001, "epochs": 2 }), "the grid, the last list fastest");
    let values: Vec<f64> = lines[..4].iter().map(|l| l["value"].as_f64().unwrap()).collect();
    let best = &lines[4]["best"];
    let top = values.iter().copied().fold(f64::MIN, f64::max);
    assert_eq!((best["value"].as_f64().unwrap(), best["index"].as_u64().unwrap() as usize), (top, values.iter().position(|&v| v == top).unwrap()));
    // the kept model is a plain run with the best settings
    let (lr, epochs) = (best["settings"]["learningRate"].to_string(), best["settings"]["epochs"].to_string());
    let mut args = vec!["train", "--out", plain.to_str().unwrap(), "--learning-rate", &lr, "--epochs", &epochs];
    args.extend(common);
    let r = webtune(&args);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let read = |dir: &std::path::Path| std::fs::read(dir.join("model.safetensors")).unwrap();
    common::parity::assert_same_safetensors("the searched model vs a plain run with its settings", &read(&searched), &read(&plain), 1e-6);
    let r = webtune(&["search", "--model", model.arg(), "--data", data.to_str().unwrap(), "--out", work.path.join("none").to_str().unwrap(), "--device", "cpu"]);
    assert!(!r.status.success() && String::from_utf8_lossy(&r.stderr).contains("--learning-rates"), "{}", String::from_utf8_lossy(&r.stderr));
}

/// `webtune train --task text-generation`: the tiny Llama on prompt/completion rows, all weights
/// (a Hugging Face folder that `webtune generate` loads) and LoRA (PEFT adapter files).
#[test]
fn train_text_generation_writes_a_model_folder_or_peft_adapters() {
    let llama = crate::common::assets::crate_root().join("tests/fixtures/llama");
    let model = tempdir::TempFolder::new("lm-model");
    for (from, to) in [("tiny/config.json", "config.json"), ("tiny/model.safetensors", "model.safetensors"), ("train-steps/tokenizer.json", "tokenizer.json")] {
        std::fs::copy(llama.join(from), model.path.join(to)).unwrap();
    }
    let expected: Value = serde_json::from_slice(&std::fs::read(llama.join("train-steps/expected.json")).unwrap()).unwrap();
    let work = tempdir::TempFolder::new("lm-work");
    let data = work.path.join("pairs.jsonl");
    let lines: Vec<String> = expected["pairs"].as_array().unwrap().iter().map(Value::to_string).collect();
    std::fs::write(&data, lines.join("\n")).unwrap();
    let (full, peft) = (work.path.join("full"), work.path.join("peft"));
    let train = |out: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["train", "--task", "text-generation", "--model", model.arg(), "--data", data.to_str().unwrap(),
            "--validation-split", "0", "--epochs", "2", "--batch-size", "3", "--learning-rate", "1e-2", "--device", "cpu", "--json",
            "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        webtune(&args)
    };
    let out = train(&full, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.last().unwrap()["stopReason"], "finished");
    let generated = webtune(&["generate", "--model", full.to_str().unwrap(), "--prompt", "Say hi:", "--max-new-tokens", "4", "--device", "cpu"]);
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    // --top-logits: the likeliest next tokens, best first, after the prompt's ids
    let top = webtune(&["generate", "--model", full.to_str().unwrap(), "--prompt", "Say hi:", "--top-logits", "3", "--device", "cpu"]);
    assert!(top.status.success(), "{}", String::from_utf8_lossy(&top.stderr));
    let top = stdout_lines(&top).pop().unwrap();
    let logits: Vec<f64> = top["topLogits"].as_array().unwrap().iter().map(|t| t["logit"].as_f64().unwrap()).collect();
    assert!(logits.len() == 3 && logits.windows(2).all(|w| w[0] >= w[1]), "{top}");
    assert_eq!(top["promptIds"].as_array().map(Vec::len), Some(1 + "Say hi:".len()), "BOS, then the character tokenizer's one id per character");

    // a maxLength the model cannot read is said, not silently changed
    let out = train(&peft, &["--lora-rank", "4", "--lora-alpha", "8", "--peft", "--gguf-lora", "--max-length", "100000"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let start: Value = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|e| e["type"] == "start").unwrap();
    let warned = start["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().starts_with("maxLength 100000 is longer than this model reads"));
    assert!(warned, "{start}");
    let config: Value = serde_json::from_slice(&std::fs::read(peft.join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!((config["peft_type"].as_str(), config["r"].as_u64()), (Some("LORA"), Some(4)));
    assert!(peft.join("adapter_model.safetensors").exists() && !peft.join("model.safetensors").exists());
    // --gguf-lora: llama.cpp's adapter too (its conversion is tests/gguf_lora.rs's)
    let gguf_adapter = |out: &std::path::Path| {
        let bytes = std::fs::read(out.join("adapter.gguf")).unwrap();
        let file = webtune::formats::gguf::Gguf::parse(&bytes).unwrap();
        let alpha = file.metadata.get("adapter.lora.alpha").and_then(|v| v.as_f64()).unwrap();
        (file.metadata.get("general.type").and_then(|v| v.as_str().map(String::from)), alpha, file.tensors.len())
    };
    assert_eq!(gguf_adapter(&peft), (Some("adapter".into()), 8.0, 8), "2 layers × q, v × A, B");
    let tuned = work.path.join("tuned");
    let out = train(&tuned, &["--lora-rank", "4", "--lora-dropout", "0.1", "--lora-rslora", "--lora-init", "gaussian", "--peft", "--gguf-lora"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(gguf_adapter(&tuned).1, 32.0, "rsLoRA's alpha / √rank as llama.cpp's alpha / rank: 16 · √4");
    let config: Value = serde_json::from_slice(&std::fs::read(tuned.join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!((config["lora_dropout"].as_f64(), config["use_rslora"].as_bool()), (Some(0.1), Some(true)));
    assert_eq!(config["init_lora_weights"], "gaussian");

    // eval --task text-generation: loss and perplexity of the trained folder on the rows
    let eval = webtune(&["eval", "--task", "text-generation", "--model", full.to_str().unwrap(), "--data", data.to_str().unwrap(), "--device", "cpu"]);
    assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
    let m: Value = serde_json::from_slice(&eval.stdout).unwrap();
    let loss = m["loss"].as_f64().unwrap();
    assert!(loss.is_finite() && (m["perplexity"].as_f64().unwrap() - loss.exp()).abs() < 1e-6 * loss.exp(), "{m}");
    assert_eq!(m["examples"].as_u64(), Some(lines.len() as u64));

    let bad = train(&work.path.join("bad"), &["--lora-rank", "4", "--lora-targets", "c_attn"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown module \"c_attn\""), "{}", String::from_utf8_lossy(&bad.stderr));
    let bad = webtune(&["train", "--task", "summarization", "--model", model.arg(), "--data", data.to_str().unwrap(), "--out", work.path.join("x").to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown task \"summarization\"; valid tasks are feature-extraction, text-classification, token-classification, question-answering, fill-mask, text-generation"));
}

/// `--checkpoint-every`: a run killed (SIGKILL) at any moment leaves a complete checkpoint that
/// `--resume` reads (`OUT/checkpoints`, kept as the browser's stored runs keep theirs); killed while
/// a later checkpoint's files are half written (its folder there, `latest.json` still naming the
/// previous), `--resume OUT/checkpoints` continues from the previous one, and the half folder goes.
#[test]
fn a_killed_run_leaves_a_checkpoint_to_resume() {
    use std::io::{BufRead, BufReader};
    let model = model_folder("tiny-cls3", "kill-model");
    let work = tempdir::TempFolder::new("kill-work");
    let data = work.path.join("rows.csv");
    let rows = ["a delight,good", "the best film,good", "warm and wise,good", "dull,bad", "a tedious mess,bad", "far too long,bad"];
    std::fs::write(&data, format!("text,label\n{}\n", rows.join("\n"))).unwrap();
    let out = work.path.join("out");
    let checkpoints = out.join("checkpoints");
    let latest = |dir: &std::path::Path| -> webtune::Result<Checkpoint> {
        let store = webtune::session::runs::FolderStorage { root: dir.to_path_buf() };
        let (_, files) = block_on(webtune::session::runs::latest_checkpoint(&store, &[]))?.ok_or(webtune::Error::Aborted)?;
        Checkpoint::from_files(|name| files.iter().find(|(f, _)| f == name).map(|(_, b)| b.clone()))
    };
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let args = |epochs: &str| -> Vec<String> {
        ["train", "--model", model.arg(), "--data", d, "--out", o, "--device", "cpu", "--json", "--overwrite", "--validation-split", "0", "--batch-size", "2", "--checkpoint-every", "1", "--log-every", "1", "--epochs", epochs]
            .map(String::from)
            .to_vec()
    };
    // kill -9 at a different moment after the first checkpoint each time
    for kill_after_ms in [0u64, 3, 7, 15, 30, 60] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_webtune"))
            .args(args("50"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        for line in lines {
            if line.unwrap().contains("\"checkpoint\"") {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(kill_after_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        let saved = latest(&checkpoints).unwrap_or_else(|e| panic!("killed {kill_after_ms} ms after a checkpoint: {e}"));
        assert!(saved.state.step >= 1);
    }
    // the worst moment: a later checkpoint's files half written, latest.json not yet switched
    let step = latest(&checkpoints).unwrap().state.step;
    let half = checkpoints.join("checkpoint-999999");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::write(half.join("model.safetensors"), b"half").unwrap();
    std::fs::write(half.join("trainer_state.json"), b"{\"st").unwrap();
    let mut resume = args("50");
    resume.extend(["--resume".into(), checkpoints.to_str().unwrap().into()]);
    let r = Command::new(env!("CARGO_BIN_EXE_webtune")).args(&resume).output().unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let events: Vec<Value> = String::from_utf8(r.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let first = events.iter().find(|e| e["type"] == "step").expect("steps after resuming");
    assert_eq!(first["step"], step + 1, "continues after the checkpoint that survived");
    assert!(latest(&checkpoints).unwrap().state.step > step && !half.exists(), "a new checkpoint, and the half one removed");
}
