#![cfg(not(target_family = "wasm"))]
//! SetFit as the `setfit` library runs it (tests/reference/make_setfit_fixture.py): numpy's
//! permutations and setfit's contrastive pairs exactly; the body's steps with webtune's batch
//! order (loss, gradient norm, learning rate ≤ 1e-4), the trained body's embeddings, the
//! logistic-regression head (scikit-learn's optimum); and the folder webtune saves, which setfit
//! loaded and predicted from as webtune does.

mod common;

use std::path::PathBuf;

use common::{cpu_turn, parity::assert_close};
use pollster::block_on;
use serde_json::Value;
use webtune::{
    data::{
        Columns,
        contrastive_pairs::{Sampling, contrastive_pairs},
        mersenne::RandomState,
    },
    device,
    formats::{
        setfit_head::read_head,
        sklearn_pickle::{LogisticHead, logistic_regression, read_logistic_regression},
    },
    infer::{
        ModelFiles,
        encoder::tokenizer_for,
        logistic::LogisticRegression,
        sentence_transformer::SentenceTransformer,
        setfit::{SetFitModel, embed_texts},
    },
    models::bert::BertConfig,
    session::{DataFile, Finetuned, SessionData, finetune_setfit},
    train::{
        Event, Hooks, StopReason, TrainOptions,
        options::{Method, SetFitHeadKind},
        setfit_end_to_end::EndToEnd,
        setfit_head::{DifferentiableHead, HeadRun, train_head},
    },
};

fn fixture(name: &str) -> PathBuf {
    common::assets::crate_root().join("tests/fixtures/setfit").join(name)
}

fn expected() -> Value {
    serde_json::from_slice(&std::fs::read(fixture("expected.json")).unwrap()).unwrap()
}

fn fnv1a64(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{hash:016x}")
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().flat_map(|x| x.as_array().cloned().unwrap_or_else(|| vec![x.clone()])).map(|x| x.as_f64().unwrap()).collect()
}

fn close(what: &str, ours: &[f64], reference: &[f64], tol: f64) {
    assert_eq!(ours.len(), reference.len(), "{what}: length");
    for (i, (a, b)) in ours.iter().zip(reference).enumerate() {
        assert!((a - b).abs() <= tol, "{what}[{i}]: ours {a} vs the reference's {b} (tolerance {tol})");
    }
}

/// The training rows' class ids, as the fixture's `names` order them.
fn labels(e: &Value) -> Vec<usize> {
    let names: Vec<&str> = e["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    let text = std::fs::read_to_string(fixture("data.jsonl")).unwrap();
    text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["label"].as_str().unwrap().to_string()).map(|l| names.iter().position(|n| *n == l).unwrap()).collect()
}

#[test]
fn permutations_and_pairs_are_numpys_and_setfits() {
    let e = expected();
    for (n, want) in e["permutations"].as_object().unwrap() {
        let want: Vec<usize> = want.as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        assert_eq!(RandomState::new(42).permutation(n.parse().unwrap()), want, "RandomState(42).permutation({n})");
    }
    let labels = labels(&e);
    let settings = [
        ("oversampling", Sampling::Oversampling, None, None),
        ("undersampling", Sampling::Undersampling, None, None),
        ("unique", Sampling::Unique, None, None),
        ("iterations-2", Sampling::Oversampling, Some(2), None),
        ("max-pairs-10", Sampling::Oversampling, None, Some(10)),
    ];
    for (name, sampling, iterations, max_pairs) in settings {
        let ours: Vec<(usize, usize, f64)> =
            contrastive_pairs(&labels, sampling, iterations, max_pairs).unwrap().iter().map(|p| (p.first, p.second, f64::from(p.target))).collect();
        let want: Vec<(usize, usize, f64)> = e["pairs"][name]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_u64().unwrap() as usize, p[1].as_u64().unwrap() as usize, p[2].as_f64().unwrap()))
            .collect();
        assert_eq!(ours, want, "{name}");
    }
    let e = contrastive_pairs(&[0, 0, 0], Sampling::Oversampling, None, None).unwrap_err().to_string();
    assert!(e.contains("at least two classes"), "{e}");
}

fn body() -> (ModelFiles, SentenceTransformer) {
    let dir = fixture("body");
    let modules = SentenceTransformer::from_folder(std::fs::read(dir.join("modules.json")).ok().as_deref(), |n| std::fs::read(dir.join(n)).ok()).unwrap();
    (ModelFiles::from_dir(&dir).unwrap(), modules)
}

fn options(e: &Value) -> TrainOptions {
    let run = &e["run"];
    TrainOptions {
        method: Method::Setfit,
        epochs: run["epochs"].as_u64().unwrap() as usize,
        batch_size: run["batch_size"].as_u64().unwrap() as usize,
        learning_rate: run["learning_rate"].as_f64().unwrap(),
        warmup_ratio: run["warmup_ratio"].as_f64(),
        weight_decay: run["weight_decay"].as_f64().unwrap(),
        seed: run["seed"].as_u64().unwrap(),
        max_length: run["max_length"].as_u64().unwrap() as usize,
        log_every: 1,
        ..TrainOptions::default()
    }
}

fn data() -> SessionData {
    SessionData { train: DataFile { bytes: std::fs::read(fixture("data.jsonl")).unwrap(), name: "data.jsonl".into() }, validation: None, validation_split: 0.0 }
}

#[test]
fn a_setfit_run_is_setfits_step_by_step_and_saves_what_setfit_loads() {
    let _turn = cpu_turn();
    let e = expected();
    let (files, modules) = body();
    let mut steps = Vec::new();
    let mut on_event = |ev| {
        if let Event::Step { loss, grad_norm, learning_rate, .. } = ev {
            steps.push([loss, grad_norm.unwrap(), learning_rate]);
        }
    };
    let Finetuned { model, .. } = block_on(finetune_setfit(&files, modules, &device::cpu(), &data(), &Columns::default(), &options(&e), Hooks::events(&mut on_event))).unwrap();
    let want = e["steps"].as_array().unwrap();
    assert_eq!(steps.len(), want.len(), "optimizer steps");
    for (i, (ours, w)) in steps.iter().zip(want).enumerate() {
        let reference = [w["loss"].as_f64().unwrap(), w["grad_norm"].as_f64().unwrap(), w["learning_rate"].as_f64().unwrap()];
        close(&format!("step {} (loss, gradient norm, learning rate)", i + 1), ours, &reference, 1e-4);
    }
    let test: Vec<&str> = e["test"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    let embeddings: Vec<f32> = block_on(model.embed(&test)).unwrap().concat();
    assert_close("the trained body's embeddings", &embeddings, &f64s(&e["embeddings"]).iter().map(|&v| v as f32).collect::<Vec<_>>(), 1e-4);
    // the head: the optimum scikit-learn's solver approaches (its default stops at tol 1e-4)
    close("coef_", &model.head.coef.concat(), &f64s(&e["head_tight"]["coef"]), 1e-4);
    close("intercept_", &model.head.intercept, &f64s(&e["head_tight"]["intercept"]), 1e-4);
    let ours = block_on(model.probabilities(&test)).unwrap().concat();
    close("predict_proba vs setfit's own run", &ours, &f64s(&e["probabilities"]), 1e-3);
    // the folder the CLI wrote, loaded by setfit: the same probabilities as webtune's model
    let saved = &e["saved"];
    close("predict_proba vs setfit on webtune's folder", &ours, &f64s(&saved["probabilities"]), 1e-4);
    let top: Vec<String> = block_on(model.classify(&test)).unwrap().into_iter().map(|s| s[0].label.clone()).collect();
    let predicted: Vec<String> = saved["predictions"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect();
    assert_eq!(top, predicted);
    let written = block_on(model.files()).unwrap();
    let names: Vec<String> = written.iter().map(|(n, _)| n.clone()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let want_names: Vec<String> = saved["files"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()).collect();
    assert_eq!(names, want_names, "the saved folder's files");
    // the pickle of the head setfit loaded is the one written for those values
    let head = &saved["head"];
    let values = |key: &str| -> Vec<f64> {
        let hex = head[key].as_str().unwrap();
        let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect()
    };
    let width = head["shape"][1].as_u64().unwrap() as usize;
    let coef: Vec<Vec<f64>> = values("coef_f64le").chunks(width).map(<[f64]>::to_vec).collect();
    let intercept = values("intercept_f64le");
    let pickle = logistic_regression(&LogisticHead { coef: &coef, intercept: &intercept, classes: 3, iterations: head["n_iter"][0].as_u64().unwrap() as usize, c: 1.0 });
    assert_eq!(fnv1a64(&pickle), saved["head_pickle_fnv"].as_str().unwrap(), "model_head.pkl differs from the one setfit loaded");
    // and the folder loads back into webtune as the model it was written from
    let file = |name: &str| written.iter().find(|(n, _)| n == name).map(|(_, b)| b.clone());
    let folder = ModelFiles { config: file("config.json").unwrap(), weights: file("model.safetensors").unwrap(), tokenizer: file("tokenizer.json").unwrap() };
    let reloaded = SetFitModel::load(folder, file, &device::cpu()).unwrap();
    assert_eq!(reloaded.labels, model.labels);
    assert_eq!(reloaded.modules.pooling, model.modules.pooling);
    assert_eq!(reloaded.modules.normalize, model.modules.normalize);
    close("predict_proba of the reloaded folder", &block_on(reloaded.probabilities(&test)).unwrap().concat(), &ours, 1e-6);
}

/// Heads the setfit library saved (joblib, scikit-learn; tests/reference/make_setfit_head_fixture.py).
fn heads() -> Value {
    serde_json::from_slice(&std::fs::read(fixture("heads/expected.json")).unwrap()).unwrap()
}

#[test]
fn heads_setfit_saved_with_joblib_read_back_as_scikit_learn_fitted_them() {
    let e = heads();
    for (name, want) in e["heads"].as_object().unwrap() {
        let head = read_logistic_regression(&std::fs::read(fixture(&format!("heads/{name}.pkl"))).unwrap()).unwrap();
        // to the last bit but one: serde_json's float parsing is not always correctly rounded
        close(&format!("{name}: coef_"), &head.coef.concat(), &f64s(&want["coef"]), 1e-15);
        close(&format!("{name}: intercept_"), &head.intercept, &f64s(&want["intercept"]), 1e-15);
        let classes: Vec<String> = want["classes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
        assert_eq!(head.classes, classes, "{name}: classes_");
        assert_eq!(head.class_ids, name.starts_with("ids"), "{name}: integer class ids");
        let model = LogisticRegression { coef: head.coef, intercept: head.intercept, classes: classes.len(), iterations: head.iterations };
        let rows = want["test"].as_array().unwrap();
        let ours: Vec<f64> = rows.iter().flat_map(|r| model.probabilities(&f64s(r).iter().map(|&v| v as f32).collect::<Vec<_>>())).collect();
        // scikit-learn computes float32 rows' probabilities in float32
        close(&format!("{name}: predict_proba"), &ours, &f64s(&want["probabilities"]), 1e-6);
    }
}

/// setfit's differentiable head trained by `SetFitModel.fit` (body frozen) from the same start, on
/// the same embeddings, in webtune's order: every step's loss, the trained weights and the
/// probabilities equal webtune's head trainer's.
#[test]
fn the_differentiable_head_trains_as_setfit_trains_it_step_by_step() {
    let e = expected();
    let h = &e["differentiable_head"];
    let rows = |v: &Value| -> Vec<Vec<f64>> { v.as_array().unwrap().iter().map(f64s).collect() };
    let as_f32 = |v: &Value| -> Vec<Vec<f32>> { rows(v).iter().map(|r| r.iter().map(|&x| x as f32).collect()).collect() };
    let run = &h["run"];
    let head_run = HeadRun {
        epochs: run["epochs"].as_u64().unwrap() as usize,
        batch_size: run["batch_size"].as_u64().unwrap() as usize,
        learning_rate: run["learning_rate"].as_f64().unwrap(),
        weight_decay: run["weight_decay"].as_f64().unwrap(),
        seed: run["seed"].as_u64().unwrap(),
    };
    let labels: Vec<usize> = h["labels"].as_array().unwrap().iter().map(|l| l.as_u64().unwrap() as usize).collect();
    let start = DifferentiableHead { weight: rows(&h["start"]["weight"]), bias: f64s(&h["start"]["bias"]) };
    let mut losses = Vec::new();
    let head = train_head(start, &as_f32(&h["embeddings"]), &labels, &head_run, |_, loss| losses.push(loss)).unwrap();
    close("every step's cross-entropy", &losses, &f64s(&h["steps"]), 1e-5);
    close("the trained weight", &head.weight.concat(), &rows(&h["weight"]).concat(), 1e-5);
    close("the trained bias", &head.bias, &f64s(&h["bias"]), 1e-5);
    let model = head.as_logistic();
    let ours: Vec<f64> = as_f32(&h["test_embeddings"]).iter().flat_map(|x| model.probabilities(x)).collect();
    close("predict_proba", &ours, &rows(&h["probabilities"]).concat(), 1e-5);
}

/// setfit's differentiable head trained end to end with the body (`SetFitModel.fit(end_to_end=True)`,
/// the body at its own rate, both halved after 5 epochs) from the same start, in webtune's order:
/// every step's loss, the trained head and the trained model's probabilities equal webtune's.
#[test]
fn the_head_trained_end_to_end_with_the_body_is_setfits_step_by_step() {
    let _turn = cpu_turn();
    let e = expected();
    let h = &e["end_to_end"];
    let run = &h["run"];
    let rows = |v: &Value| -> Vec<Vec<f64>> { v.as_array().unwrap().iter().map(f64s).collect() };
    let (files, modules) = body();
    let config = BertConfig::from_json(std::str::from_utf8(&files.config).unwrap()).unwrap();
    let tokenizer = tokenizer_for(&config, &files.tokenizer).unwrap();
    let (train, _) = data().labelled(&Columns::default(), 7).unwrap();
    let names: Vec<&str> = e["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert_eq!(train.labels.names, names, "class order");
    let phase = EndToEnd {
        config: &config,
        tokenizer: &tokenizer,
        modules: &modules,
        train: &train,
        max_length: e["run"]["max_length"].as_u64().unwrap() as usize,
        start: DifferentiableHead { weight: rows(&h["start"]["weight"]), bias: f64s(&h["start"]["bias"]) },
        run: HeadRun {
            epochs: run["epochs"].as_u64().unwrap() as usize,
            batch_size: run["batch_size"].as_u64().unwrap() as usize,
            learning_rate: run["learning_rate"].as_f64().unwrap(),
            weight_decay: run["weight_decay"].as_f64().unwrap(),
            seed: run["seed"].as_u64().unwrap(),
        },
        body_learning_rate: run["body_learning_rate"].as_f64().unwrap(),
    };
    let mut losses = Vec::new();
    let mut on_event = |ev| {
        if let Event::Step { loss, .. } = ev {
            losses.push(loss);
        }
    };
    let logging = TrainOptions { log_every: 1, ..TrainOptions::default() };
    let device = device::cpu();
    let trained = block_on(phase.train(files.weights.clone(), &device, &logging, Hooks::events(&mut on_event))).unwrap();
    close("every step's cross-entropy", &losses, &f64s(&h["steps"]), 1e-4);
    close("the trained weight", &trained.head.weight.concat(), &rows(&h["weight"]).concat(), 1e-4);
    close("the trained bias", &trained.head.bias, &f64s(&h["bias"]), 1e-4);
    let test: Vec<&str> = e["test"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    let embeddings = block_on(embed_texts(&trained.body, &modules, &tokenizer, &trained.device, &test, 64, 8)).unwrap();
    close("the trained body's embeddings", &embeddings.concat().iter().map(|&x| f64::from(x)).collect::<Vec<_>>(), &rows(&h["test_embeddings"]).concat(), 1e-4);
    let head = trained.head.as_logistic();
    let ours: Vec<f64> = embeddings.iter().flat_map(|x| head.probabilities(x)).collect();
    close("predict_proba", &ours, &rows(&h["probabilities"]).concat(), 1e-4);
}

/// setfit's differentiable heads (`SetFitHead`, torch tensors in the pickle; one stored
/// transposed) read back as the logistic regression they compute: the same probabilities.
#[test]
fn differentiable_heads_setfit_saved_read_back_with_setfits_probabilities() {
    let e = heads();
    for (name, want) in e["differentiable"].as_object().unwrap() {
        let head = read_head(&std::fs::read(fixture(&format!("heads/{name}.pkl"))).unwrap()).unwrap();
        let classes = want["bias"].as_array().unwrap().len();
        assert_eq!(head.classes, (0..classes).map(|c| c.to_string()).collect::<Vec<_>>(), "{name}: class ids");
        assert!(head.class_ids);
        let scale = want["temperature"].as_f64().unwrap() + want["eps"].as_f64().unwrap();
        let weight: Vec<Vec<f64>> = want["weight"].as_array().unwrap().iter().map(f64s).collect();
        if classes > 2 {
            let scaled: Vec<f64> = weight.concat().iter().map(|w| w / scale).collect();
            close(&format!("{name}: weight / (temperature + eps)"), &head.coef.concat(), &scaled, 1e-12);
        }
        let model = LogisticRegression { coef: head.coef, intercept: head.intercept, classes, iterations: 0 };
        let rows = want["test"].as_array().unwrap();
        let ours: Vec<f64> = rows.iter().flat_map(|r| model.probabilities(&f64s(r).iter().map(|&v| v as f32).collect::<Vec<_>>())).collect();
        // torch computes them in float32
        close(&format!("{name}: predict_proba"), &ours, &f64s(&want["probabilities"]), 1e-6);
    }
    // cut anywhere, it is an error; a byte changed anywhere, an error or a value — never a panic
    let bytes = std::fs::read(fixture("heads/differentiable3.pkl")).unwrap();
    for cut in 0..bytes.len() {
        assert!(read_head(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut flipped = bytes.clone();
    for i in 0..flipped.len() {
        flipped[i] ^= 0x5a;
        let _ = read_head(&flipped);
        flipped[i] ^= 0x5a;
    }
}

#[test]
fn predict_and_rank_use_the_head_of_a_folder_setfit_saved() {
    let _turn = cpu_turn();
    // the fixture body with a head joblib wrote, named as setfit names its labels
    let dir = std::env::temp_dir().join(format!("webtune-setfit-folder-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let body = fixture("body");
    for entry in walk(&body) {
        let to = dir.join(entry.strip_prefix(&body).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&entry, to).unwrap();
    }
    std::fs::copy(fixture("heads/ids3.pkl"), dir.as_path().join("model_head.pkl")).unwrap();
    std::fs::write(dir.as_path().join("config_setfit.json"), r#"{"normalize_embeddings": false, "labels": ["billing", "delivery", "returns"]}"#).unwrap();
    // a tensor the body does not use: loading says so (the CLI on stderr, the model in `warnings`)
    let weights = std::fs::read(dir.as_path().join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&weights).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = st.tensors().into_iter().map(|(k, v)| (k, v.shape().to_vec(), v.data().to_vec())).collect();
    tensors.push(("stray.weight".into(), vec![2], vec![0; 8]));
    let views: Vec<(String, safetensors::tensor::TensorView)> =
        tensors.iter().map(|(k, s, d)| (k.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d).unwrap())).collect();
    std::fs::write(dir.as_path().join("model.safetensors"), safetensors::serialize(views, None).unwrap()).unwrap();
    let out = webtune_cli(&["predict", "--model", dir.as_path().to_str().unwrap(), "--device", "cpu", "--text", "where is my parcel", "--text", "refund please"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: ignored 1 checkpoint tensor(s) this model does not use: stray.weight"), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    let model = SetFitModel::load(ModelFiles::from_dir(dir.as_path()).unwrap(), |n| std::fs::read(dir.as_path().join(n)).ok(), &device::cpu()).unwrap();
    assert_eq!(model.warnings, ["ignored 1 checkpoint tensor(s) this model does not use: stray.weight"]);
    let want = block_on(model.classify(&["where is my parcel", "refund please"])).unwrap();
    for (line, want) in lines.iter().zip(want) {
        assert_eq!(line["label"], want[0].label.as_str());
        assert!(["billing", "delivery", "returns"].contains(&line["label"].as_str().unwrap()));
        assert!((line["score"].as_f64().unwrap() - f64::from(want[0].score)).abs() < 1e-6);
        assert_eq!(line["scores"].as_array().unwrap().len(), 3);
    }
    // rank orders the texts by the same head's uncertainty
    let out = webtune_cli(&["rank", "--model", dir.as_path().to_str().unwrap(), "--device", "cpu", "--strategy", "margin", "--text", "where is my parcel", "--text", "refund please"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ranked: Vec<Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let margin = |i: usize| {
        let s = &lines[i]["scores"];
        1.0 - (s[0]["score"].as_f64().unwrap() - s[1]["score"].as_f64().unwrap())
    };
    let want_first = if margin(0) >= margin(1) { 0 } else { 1 };
    assert_eq!(ranked[0]["index"], want_first, "{ranked:?}");
    assert!((ranked[0]["score"].as_f64().unwrap() - margin(want_first)).abs() < 1e-5);
    // a differentiable head (setfit's SetFitHead) classifies the folder's texts too
    std::fs::copy(fixture("heads/differentiable3.pkl"), dir.as_path().join("model_head.pkl")).unwrap();
    let out = webtune_cli(&["predict", "--model", dir.as_path().to_str().unwrap(), "--device", "cpu", "--text", "where is my parcel"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    let model = SetFitModel::load(ModelFiles::from_dir(dir.as_path()).unwrap(), |n| std::fs::read(dir.as_path().join(n)).ok(), &device::cpu()).unwrap();
    let want = &block_on(model.classify(&["where is my parcel"])).unwrap()[0][0];
    assert_eq!(line["label"], want.label.as_str());
    assert!((line["score"].as_f64().unwrap() - f64::from(want.score)).abs() < 1e-6);
    // config_setfit.json's normalize_embeddings: setfit normalises after the modules (here
    // without their Normalize), and a config it cannot read is an error, not other labels
    let modules: Value = serde_json::from_slice(&std::fs::read(dir.as_path().join("modules.json")).unwrap()).unwrap();
    std::fs::write(dir.as_path().join("modules.json"), serde_json::to_vec(&modules.as_array().unwrap()[..2]).unwrap()).unwrap();
    for normalize in [false, true] {
        std::fs::write(dir.as_path().join("config_setfit.json"), format!(r#"{{"normalize_embeddings": {normalize}, "labels": ["billing", "delivery", "returns"]}}"#)).unwrap();
        let model = SetFitModel::load(ModelFiles::from_dir(dir.as_path()).unwrap(), |n| std::fs::read(dir.as_path().join(n)).ok(), &device::cpu()).unwrap();
        let e = &block_on(model.embed(&["refund please"])).unwrap()[0];
        let norm = e.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert_eq!((norm - 1.0).abs() < 1e-5, normalize, "normalize_embeddings {normalize}: norm {norm}");
        // and the folder it saves says so again
        let saved = block_on(model.files()).unwrap();
        let config: Value = serde_json::from_slice(&saved.iter().find(|(n, _)| n == "config_setfit.json").unwrap().1).unwrap();
        assert_eq!(config["normalize_embeddings"], normalize);
    }
    // a SetFit folder that normalises trains again as setfit trains it: the head fitted on the
    // normalised embeddings, and the new folder normalises too
    let modules = SentenceTransformer::from_folder(std::fs::read(dir.as_path().join("modules.json")).ok().as_deref(), |n| std::fs::read(dir.as_path().join(n)).ok()).unwrap();
    assert!(modules.setfit_normalize && !modules.normalize);
    let e = expected();
    let one_epoch = TrainOptions { epochs: 1, ..options(&e) };
    let Finetuned { model, .. } = block_on(finetune_setfit(&ModelFiles::from_dir(dir.as_path()).unwrap(), modules, &device::cpu(), &data(), &Columns::default(), &one_epoch, Hooks::events(&mut |_| {}))).unwrap();
    let texts: Vec<String> = std::fs::read_to_string(fixture("data.jsonl")).unwrap().lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["text"].as_str().unwrap().to_string()).collect();
    let rows = block_on(model.embed(&texts.iter().map(String::as_str).collect::<Vec<_>>())).unwrap();
    assert!(rows.iter().all(|r| (r.iter().map(|v| v * v).sum::<f32>().sqrt() - 1.0).abs() < 1e-5), "normalised embeddings");
    let refit = LogisticRegression::fit(&rows, &labels(&e), 3).unwrap();
    close("the head, fitted on the normalised embeddings", &model.head.coef.concat(), &refit.coef.concat(), 1e-6);
    let saved = block_on(model.files()).unwrap();
    let config: Value = serde_json::from_slice(&saved.iter().find(|(n, _)| n == "config_setfit.json").unwrap().1).unwrap();
    assert_eq!(config["normalize_embeddings"], true);
    std::fs::write(dir.as_path().join("config_setfit.json"), "{labels").unwrap();
    let e = SetFitModel::load(ModelFiles::from_dir(dir.as_path()).unwrap(), |n| std::fs::read(dir.as_path().join(n)).ok(), &device::cpu()).err().unwrap().to_string();
    assert!(e.contains("config_setfit.json is not valid JSON"), "{e}");
    // a head of another width is named as such
    std::fs::write(dir.as_path().join("config_setfit.json"), r#"{"labels": ["a", "b"]}"#).unwrap();
    std::fs::write(dir.as_path().join("model_head.pkl"), logistic_regression(&LogisticHead { coef: &[vec![1.0; 5]], intercept: &[0.0], classes: 2, iterations: 1, c: 1.0 })).unwrap();
    let out = webtune_cli(&["predict", "--model", dir.as_path().to_str().unwrap(), "--device", "cpu", "--text", "x"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("the head takes 5 features but the body's embeddings have 32"), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn webtune_cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_webtune")).args(args).output().expect("run webtune")
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
    }
    out
}

#[test]
fn setfit_refuses_what_it_cannot_do_by_name() {
    let e = expected();
    let (files, modules) = body();
    let refuse = |options: TrainOptions, data: SessionData| {
        block_on(finetune_setfit(&files, modules.clone(), &device::cpu(), &data, &Columns::default(), &options, Hooks::events(&mut |_| {}))).err().unwrap().to_string()
    };
    let lora = TrainOptions { lora: Some(Default::default()), ..options(&e) };
    assert!(refuse(lora, data()).contains("lora is not available with method \"setfit\""));
    let one_class = SessionData { train: DataFile { bytes: b"text,label\na,x\nb,x\n".to_vec(), name: "d.csv".into() }, ..data() };
    let e1 = refuse(options(&e), one_class);
    assert!(e1.contains("classification needs at least 2"), "{e1}");
    // a split that holds out a class's only row (for some seed): named, not a head without the class
    let split_away = |seed| {
        let data = SessionData { train: DataFile { bytes: b"text,label\na,x\nb,x\nc,x\nd,y\n".to_vec(), name: "d.csv".into() }, validation_split: 0.25, ..data() };
        block_on(finetune_setfit(&files, modules.clone(), &device::cpu(), &data, &Columns::default(), &TrainOptions { seed, epochs: 1, ..options(&e) }, Hooks::events(&mut |_| {}))).err().map(|e| e.to_string())
    };
    let e3 = (0..32).find_map(split_away).expect("some seed holds out the lone row");
    assert!(e3.contains("class \"y\" has no training rows (the validation split took them all)"), "{e3}");
    let lonely = SessionData { train: DataFile { bytes: b"text,label\na,x\nb,x\nc,y\n".to_vec(), name: "d.csv".into() }, ..data() };
    let mut warnings = Vec::new();
    let one_epoch = TrainOptions { epochs: 1, ..options(&e) };
    block_on(finetune_setfit(&files, modules.clone(), &device::cpu(), &lonely, &Columns::default(), &one_epoch, Hooks::events(&mut |ev| {
        if let Event::Start { warnings: w, .. } = ev {
            warnings = w;
        }
    })))
    .unwrap();
    assert!(warnings.iter().any(|w| w.contains("class \"y\" has one training row")), "{warnings:?}");
    let pairs = SessionData { train: DataFile { bytes: b"text,text2,label\na,b,x\nc,d,y\n".to_vec(), name: "d.csv".into() }, ..data() };
    let columns = Columns { text_pair: Some("text2".into()), ..Columns::default() };
    let e2 = block_on(finetune_setfit(&files, modules.clone(), &device::cpu(), &pairs, &columns, &options(&e), Hooks::events(&mut |_| {}))).err().unwrap().to_string();
    assert!(e2.contains("SetFit classifies single texts"), "{e2}");
    let stray = TrainOptions { num_iterations: Some(2), ..TrainOptions::default() };
    assert!(stray.validate().unwrap_err().to_string().contains("numIterations, samplingStrategy and head are SetFit's"));
    let stray_head = TrainOptions { method: Method::Setfit, head_epochs: Some(3), ..TrainOptions::default() };
    assert!(stray_head.validate().unwrap_err().to_string().contains("pass head: \"differentiable\""));
    // a run with the differentiable head: its head (read as the logistic regression it computes) classifies
    let differentiable = TrainOptions { head: Some(SetFitHeadKind::Differentiable), head_epochs: Some(2), epochs: 1, ..options(&e) };
    let Finetuned { model, .. } = block_on(finetune_setfit(&files, modules.clone(), &device::cpu(), &data(), &Columns::default(), &differentiable, Hooks::events(&mut |_| {}))).unwrap();
    assert_eq!((model.head.classes, model.head.iterations, model.head.coef.len()), (3, 0, 3));
    let p = block_on(model.probabilities(&["a joy"])).unwrap();
    assert!((p[0].iter().sum::<f64>() - 1.0).abs() < 1e-9 && p[0].iter().all(|&x| x > 0.0), "{p:?}");
    // trained end to end: the head's steps follow the body's, numbered on, in one run's events
    let end_to_end = TrainOptions { end_to_end: true, head_batch_size: Some(8), ..differentiable.clone() };
    let (mut total, mut numbers, mut done) = (0, Vec::new(), 0);
    let Finetuned { steps, .. } = block_on(finetune_setfit(&files, modules.clone(), &device::cpu(), &data(), &Columns::default(), &end_to_end, Hooks::events(&mut |ev| match ev {
        Event::Start { total_steps, .. } => total = total_steps,
        Event::Step { step, total_steps, .. } => numbers.push((step, total_steps)),
        Event::Done { steps, .. } => done = steps,
        _ => {}
    })))
    .unwrap();
    let body_steps = e["pairs"]["oversampling"].as_array().unwrap().len().div_ceil(8); // one epoch of setfit's pairs, batches of 8
    let head_steps = 2 * 20usize.div_ceil(8);
    assert_eq!((total, done, steps), (body_steps + head_steps, body_steps + head_steps, body_steps + head_steps));
    assert_eq!(numbers, (1..=total).map(|s| (s, total)).collect::<Vec<_>>());
    // cancelled before the head's first step: the head is fitted on the trained body (the frozen
    // head's run, not the random start)
    let seen = std::cell::Cell::new(0);
    let mut stopped = None;
    let cancelled_run = block_on(finetune_setfit(&files, modules.clone(), &device::cpu(), &data(), &Columns::default(), &end_to_end, Hooks {
        on_event: &mut |ev| match ev {
            Event::Step { .. } => seen.set(seen.get() + 1),
            Event::Done { stop_reason, steps, .. } => stopped = Some((stop_reason, steps)),
            _ => {}
        },
        on_checkpoint: None,
        cancelled: &|| seen.get() >= body_steps,
    }))
    .unwrap();
    assert_eq!(stopped, Some((StopReason::Cancelled, body_steps)));
    let frozen = block_on(finetune_setfit(&files, modules.clone(), &device::cpu(), &data(), &Columns::default(), &TrainOptions { head_batch_size: Some(8), ..differentiable.clone() }, Hooks::events(&mut |_| {}))).unwrap();
    close("the cancelled run's head", &cancelled_run.model.head.coef.concat(), &frozen.model.head.coef.concat(), 1e-9);
    // diverging in the head's phase: its skipped steps numbered as the run's, the advice naming the head's rates
    let (mut skipped, mut message) = (Vec::new(), None);
    let diverging = TrainOptions { head_learning_rate: Some(1e38), ..end_to_end.clone() };
    block_on(finetune_setfit(&files, modules.clone(), &device::cpu(), &data(), &Columns::default(), &diverging, Hooks::events(&mut |ev| match ev {
        Event::SkippedStep { step, message, .. } => skipped.push((step, message)),
        Event::Done { stop_reason, message: m, steps, .. } => message = Some((stop_reason, m, steps)),
        _ => {}
    })))
    .unwrap();
    assert!(skipped.len() >= 5 && skipped.iter().all(|(step, m)| *step > body_steps && m.contains(&format!("at step {step};"))), "{skipped:?}");
    let (stop, m, steps) = message.unwrap();
    let m = m.unwrap();
    assert_eq!(stop, StopReason::Diverged);
    assert!(m.contains(&format!("up to step {steps})")) && m.contains("Lower headLearningRate (now 100000000000000000000000000000000000000) or headBodyLearningRate"), "{m}");
    for (o, want) in [
        (TrainOptions { end_to_end: true, ..options(&e) }, "endToEnd trains SetFit's differentiable head"),
        (TrainOptions { head_body_learning_rate: Some(1e-5), ..differentiable.clone() }, "pass endToEnd: true"),
        (TrainOptions { head_body_learning_rate: Some(-1.0), ..end_to_end.clone() }, "headBodyLearningRate must be a positive number"),
    ] {
        let err = o.validate().unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
    }
    let defaults = TrainOptions { method: Method::Setfit, ..TrainOptions::default() }.with_method_defaults(|name| name == "epochs");
    assert_eq!((defaults.epochs, defaults.learning_rate, defaults.warmup_ratio), (3, 2e-5, Some(0.1)), "setfit's defaults only where none was given");
}
