//! Extractive question answering on every encoder family against transformers' run_qa recipe
//! (fixtures from tests/reference/make_question_answering_fixtures.py): windows, offsets and
//! labels; logits on the CPU (≤ 1e-4) and wgpu (≤ 1e-3); utils_qa's post-processing (SQuAD v1 and
//! v2) on the reference's logits; PyTorch's training steps; the official SQuAD metrics; the export.
#![cfg(not(target_family = "wasm"))]

mod common;

use common::{
    parity::assert_close,
    training::{check_peft_files, check_step_events, fixture_lora, recipe},
};
use pollster::block_on;
use serde_json::Value;
use webtune::{
    ComputeDevice, DevicePreference,
    data::{
        batch_tensors,
        qa_features::{Windowing, qa_features},
        squad::{Answer, QaExample, read_squad},
    },
    device,
    infer::{
        ModelFiles,
        qa_answers::{AnswerSettings, answers},
        question_answering::{QuestionAnswerer, feature_batch},
        squad_metrics::SquadMetrics,
    },
    train::{Hooks, TrainOptions, fine_tune_answerer},
    weights::safetensors::Inventory,
};

const FAMILIES: [&str; 4] = ["bert", "distilbert", "roberta", "xlm-roberta"];

fn root() -> std::path::PathBuf {
    common::assets::crate_root().join("tests/fixtures")
}

fn fixture(family: &str, config: &str) -> (ModelFiles, Value) {
    let dir = root().join("question-answering").join(family);
    let read = |p: std::path::PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let files = ModelFiles {
        config: read(dir.join(config)),
        weights: read(dir.join("model.safetensors")),
        tokenizer: read(root().join("fill-mask").join(family).join("tokenizer.json")),
    };
    (files, serde_json::from_slice(&read(dir.join("expected.json"))).unwrap())
}

/// The fixture's examples, read as rows.
fn examples(exp: &Value) -> Vec<QaExample> {
    let rows = serde_json::to_vec(&exp["examples"]).unwrap();
    read_squad(&rows, "examples.json").unwrap()
}

fn windowing(exp: &Value) -> Windowing {
    Windowing { max_length: exp["settings"]["max_length"].as_u64().unwrap() as usize, stride: exp["settings"]["doc_stride"].as_u64().unwrap() as usize }
}

fn rows(v: &Value) -> Vec<Vec<f32>> {
    v.as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()).collect()
}

async fn check_family(family: &str, dev: &ComputeDevice, tol: f32) {
    let (files, exp) = fixture(family, "config.json");
    let qa = QuestionAnswerer::load(files, dev).unwrap();
    assert!(qa.report.warnings.is_empty(), "{family}: {:?}", qa.report.warnings);
    let exs = examples(&exp);
    let features = qa_features(&exs, &qa.tokenizer, windowing(&exp)).unwrap();
    let want = exp["features"].as_array().unwrap();
    assert_eq!(features.len(), want.len(), "{family}: windows");
    for (i, (f, w)) in features.iter().zip(want).enumerate() {
        assert_eq!(f.example as u64, w["example"].as_u64().unwrap(), "{family} feature {i}: example");
        assert_eq!(f.ids.iter().map(|&x| x as u64).collect::<Vec<_>>(), w["input_ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect::<Vec<_>>(), "{family} feature {i}: ids");
        let offsets: Vec<Option<(u64, u64)>> = w["offsets"].as_array().unwrap().iter().map(|o| o.as_array().map(|o| (o[0].as_u64().unwrap(), o[1].as_u64().unwrap()))).collect();
        assert_eq!(f.offsets.iter().map(|o| o.map(|(a, b)| (a as u64, b as u64))).collect::<Vec<_>>(), offsets, "{family} feature {i}: offsets");
        assert_eq!((f.start as u64, f.end as u64), (w["start"].as_u64().unwrap(), w["end"].as_u64().unwrap()), "{family} feature {i}: answer tokens");
    }
    // logits, feature by feature (unpadded, as the fixture keeps them)
    let (starts, ends) = (rows(&exp["start_logits"]), rows(&exp["end_logits"]));
    for (i, f) in features.iter().enumerate().step_by(5) {
        let b = feature_batch(&[f], qa.tokenizer.pad_id());
        let [ids, types, mask] = batch_tensors(&b, qa.device.device());
        let (s, e) = qa.model.forward(ids, types, mask);
        assert_close(&format!("{family} feature {i} start logits on {}", dev.info()), &common::parity::read(s).await, &starts[i], tol);
        assert_close(&format!("{family} feature {i} end logits on {}", dev.info()), &common::parity::read(e).await, &ends[i], tol);
    }
}

#[test]
fn families_window_and_score_like_transformers_on_cpu() {
    for family in FAMILIES {
        block_on(check_family(family, &device::cpu(), 1e-4));
    }
}

#[test]
fn families_window_and_score_like_transformers_on_wgpu() {
    let dev = block_on(device::select(DevicePreference::Gpu)).expect("wgpu adapter required");
    assert_eq!(dev.info().kind, "wgpu");
    for family in FAMILIES {
        block_on(check_family(family, &dev, 1e-3));
    }
}

/// utils_qa's post-processing of the reference's own logits: the same answers, offsets and n-best
/// probabilities (v1), and the same null answers (v2).
#[test]
fn answers_are_read_from_logits_as_utils_qa_reads_them() {
    for family in FAMILIES {
        let (files, exp) = fixture(family, "config.json");
        let qa = QuestionAnswerer::load(files, &device::cpu()).unwrap();
        let exs = examples(&exp);
        let features = qa_features(&exs, &qa.tokenizer, windowing(&exp)).unwrap();
        let (starts, ends) = (rows(&exp["start_logits"]), rows(&exp["end_logits"]));
        let v1 = answers(&exs, &features, &starts, &ends, AnswerSettings::default());
        for (e, a) in exs.iter().zip(&v1) {
            let want = &exp["v1"][&e.id];
            assert_eq!((a.answer.text.as_str(), a.answer.start as u64, a.answer.end as u64), (want["text"].as_str().unwrap(), want["start"].as_u64().unwrap(), want["end"].as_u64().unwrap()), "{family} {}", e.id);
            let nbest = want["nbest"].as_array().unwrap();
            assert_eq!(a.candidates.len(), nbest.len(), "{family} {}: n-best", e.id);
            for (c, w) in a.candidates.iter().zip(nbest) {
                assert_eq!(c.text, w["text"].as_str().unwrap(), "{family} {}", e.id);
                assert!((c.score as f64 - w["probability"].as_f64().unwrap()).abs() < 1e-5, "{family} {}: probability {} vs {}", e.id, c.score, w["probability"]);
            }
        }
        let v2 = answers(&exs, &features, &starts, &ends, AnswerSettings { allow_no_answer: true, ..AnswerSettings::default() });
        for (e, a) in exs.iter().zip(&v2) {
            assert_eq!(a.answer.text, exp["v2"][&e.id].as_str().unwrap(), "{family} {} (v2)", e.id);
        }
    }
}

/// The official scripts' exact match and F1, v1.1 and v2.0 (HasAns / NoAns).
#[test]
fn squad_metrics_equal_the_official_scripts() {
    let all: Value = serde_json::from_slice(&std::fs::read(root().join("question-answering/metrics.json")).unwrap()).unwrap();
    for version in ["v1", "v2"] {
        let case = &all[version];
        let refs: Vec<QaExample> = case["references"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| QaExample {
                id: r["id"].as_str().unwrap().into(),
                question: "q".into(),
                context: "c".into(),
                answers: r["answers"]["text"].as_array().unwrap().iter().map(|t| Answer { text: t.as_str().unwrap().into(), start: 0 }).collect(),
                origin: String::new(),
            })
            .collect();
        let predictions: Vec<String> = refs.iter().map(|r| case["predictions"][&r.id].as_str().unwrap().to_string()).collect();
        let m = SquadMetrics::compute(&refs, &predictions, None, version == "v2").unwrap();
        let want = &case["metrics"];
        let close = |what: &str, ours: f64, theirs: &Value| assert!((ours - theirs.as_f64().unwrap()).abs() < 1e-9, "{version} {what}: {ours} vs {theirs}");
        close("exact", m.exact_match, want.get("exact_match").unwrap_or(&want["exact"]));
        close("f1", m.f1, &want["f1"]);
        if version == "v2" {
            let (has, no) = (m.has_answer.unwrap(), m.no_answer.unwrap());
            close("HasAns_exact", has.exact_match, &want["HasAns_exact"]);
            close("HasAns_f1", has.f1, &want["HasAns_f1"]);
            close("NoAns_exact", no.exact_match, &want["NoAns_exact"]);
            close("NoAns_f1", no.f1, &want["NoAns_f1"]);
            assert_eq!((has.total, no.total), (4, 2));
        }
    }
}

/// PyTorch's steps on every window (dropout 0, one batch), then the export under the family's
/// names, which loads back with the same answers.
#[test]
fn families_fine_tune_like_pytorch_and_export() {
    let dev = device::cpu();
    for family in FAMILIES {
        let (files, exp) = fixture(family, "train-config.json");
        let exs = examples(&exp);
        let options = qa_recipe(&exp);
        let mut events = Vec::new();
        let mut on_event = |e| events.push(e);
        let trained = block_on(fine_tune_answerer(&files, None, &dev, &exs, None, &options, None, Hooks::events(&mut on_event)))
            .unwrap_or_else(|e| panic!("{family}: {e}"));
        // every window's logits take part in the loss, padding too: the padding token's embedding
        // must get no gradient (PyTorch's padding_idx) for these steps to agree
        check_step_events(&events, exp["steps"].as_array().unwrap(), 1e-4, family);
        let qa = trained.into_answerer(&files);
        let before = block_on(qa.answer_examples(&exs)).unwrap();
        let exported = block_on(qa.export()).unwrap();
        let names = |bytes: &[u8]| Inventory::read(bytes, "model").unwrap().tensors.keys().cloned().collect::<Vec<_>>();
        assert_eq!(names(&exported.weights), names(&files.weights), "{family}: the export has the checkpoint's tensor names");
        let config: Value = serde_json::from_slice(&exported.config).unwrap();
        assert!(config["architectures"][0].as_str().unwrap().ends_with("ForQuestionAnswering"), "{family}");
        let mut again = QuestionAnswerer::load(exported, &dev).unwrap();
        again.windowing = windowing(&exp);
        let after = block_on(again.answer_examples(&exs)).unwrap();
        assert_eq!(after.iter().map(|a| &a.answer.text).collect::<Vec<_>>(), before.iter().map(|a| &a.answer.text).collect::<Vec<_>>(), "{family}");
    }
}

/// LoRA as PEFT's `QUESTION_ANS`: from PEFT's own fresh adapter, PEFT's steps (the base frozen,
/// `qa_outputs` trained in full); PEFT's file names and config; the merged export computes what
/// the adapted model does.
#[test]
fn families_fine_tune_lora_like_peft() {
    let dev = device::cpu();
    for family in FAMILIES {
        let (files, exp) = fixture(family, "train-config.json");
        let exs = examples(&exp);
        let lora = &exp["lora"]["config"];
        let options = TrainOptions { lora: Some(fixture_lora(lora)), ..qa_recipe(&exp) };
        let start = std::fs::read(root().join("question-answering").join(family).join("lora-init/adapter_model.safetensors")).unwrap();
        let mut events = Vec::new();
        let mut on_event = |e| events.push(e);
        let trained = block_on(fine_tune_answerer(&files, Some(&start), &dev, &exs, None, &options, None, Hooks::events(&mut on_event)))
            .unwrap_or_else(|e| panic!("{family}: {e}"));
        check_step_events(&events, exp["lora"]["steps"].as_array().unwrap(), 1e-4, family);

        let qa = trained.into_answerer(&files);
        check_peft_files(family, &block_on(qa.export_adapter("base")).unwrap(), &start, lora, "QUESTION_ANS");
        let mut merged = QuestionAnswerer::load(block_on(qa.export()).unwrap(), &dev).unwrap();
        merged.windowing = qa.windowing;
        let features = qa_features(&exs, &qa.tokenizer, qa.windowing).unwrap();
        for f in features.iter().step_by(7) {
            let b = feature_batch(&[f], qa.tokenizer.pad_id());
            let logits = |m: &QuestionAnswerer| {
                let [ids, types, mask] = batch_tensors(&b, m.device.device());
                let (s, e) = m.model.forward(ids, types, mask);
                [block_on(common::parity::read(s)), block_on(common::parity::read(e))].concat()
            };
            assert_close(&format!("{family}: merged export"), &logits(&merged), &logits(&qa), 1e-5);
        }
    }
}

/// The fixture's recipe: one batch of every window per step, the fixture's windowing.
fn qa_recipe(exp: &Value) -> TrainOptions {
    let w = windowing(exp);
    TrainOptions { max_length: w.max_length, doc_stride: Some(w.stride), ..recipe(exp, exp["features"].as_array().unwrap().len()) }
}

/// A question too long for its windows, and a context without the answer, are clear errors; an
/// answer returned by `answer` is the context's text at its offsets.
#[test]
fn bad_input_is_a_clear_error_and_answers_point_into_the_context() {
    let (files, _) = fixture("bert", "config.json");
    let mut qa = QuestionAnswerer::load(files, &device::cpu()).unwrap();
    qa.set_windowing(Some(32), Some(8)).unwrap();
    let context = "Zoë Brandt wrote the café review in Bonn, and it ran for three weeks in the spring of 1999.";
    let answers = block_on(qa.answer("Who wrote it?", context, 3)).unwrap();
    assert_eq!(answers.len(), 3);
    for a in &answers {
        assert_eq!(a.text, context.chars().skip(a.start).take(a.end - a.start).collect::<String>());
    }
    let long = "why ".repeat(40);
    let e = block_on(qa.answer(&long, context, 1)).unwrap_err().to_string();
    assert!(e.contains("no room is left for the context"), "{e}");
    assert!(qa.set_windowing(Some(32), Some(20)).unwrap_err().to_string().contains("docStride"));
}
