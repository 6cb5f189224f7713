//! The `webtune` binary: `predict` and `embed` on the golden tiny fixtures, JSON on stdout,
//! errors on stderr with a non-zero exit.

mod common;

use std::process::{Command, Output};

use common::parity::{Fixture, LABELS, fixture_path, floats};
use serde_json::Value;

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
