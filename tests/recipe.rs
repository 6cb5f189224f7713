#![cfg(not(target_family = "wasm"))]
//! A run written as a Hugging Face recipe (`webtune recipe`) is the same run: the recipe webtune
//! writes today is the one tests/reference/make_recipe_fixture.py ran with transformers' Trainer
//! (byte for byte), and webtune's own run of those options gives the Trainer's steps — for
//! classifiers (full, LoRA, continued from a checkpoint) and causal language models
//! (conversations with assistant-only loss through both kinds of chat template, LoRA,
//! prompt/completion rows, packed text).

mod common;

use std::path::PathBuf;

use common::cpu_turn;
use pollster::block_on;
use serde_json::Value;
use webtune::{
    data::{Columns, TextColumns},
    device,
    infer::{Decoder, ModelFiles, sentence_transformer::SentenceTransformer},
    session::{
        DataFile, SessionData, Task, finetune_answerer, finetune_classifier, finetune_decoder, finetune_masked_lm, finetune_setfit, finetune_token_classifier,
        recipe::{encoder_recipe, language_model_recipe, masked_lm_recipe, question_answering_recipe, token_classifier_recipe},
    },
    train::{Checkpoint, Evaluation, Event, Hooks, TrainOptions},
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
    run_on(name, "data.jsonl")
}

/// Run `name`'s options, on the fixture's data file `file`.
fn run_on(name: &str, file: &str) -> (TrainOptions, SessionData) {
    let expected = expected(name);
    let options: TrainOptions = serde_json::from_value(expected["webtune_options"].clone()).unwrap();
    let split = expected["validation_split"].as_f64().unwrap();
    let data = SessionData { train: DataFile { bytes: read(fixtures().join("recipe").join(file)), name: file.into() }, validation: None, validation_split: split };
    (options, data)
}

/// The question-answering runs.
const ANSWERING_RUNS: [&str; 2] = ["qa-full", "qa-lora"];

/// The tiny BertForQuestionAnswering with its dropout-0 config (the script's `qa-model` folder).
fn answerer() -> ModelFiles {
    let fixture = fixtures().join("question-answering/bert");
    ModelFiles { config: read(fixture.join("train-config.json")), weights: read(fixture.join("model.safetensors")), tokenizer: read(fixtures().join("fill-mask/bert/tokenizer.json")) }
}

/// The masked-LM runs.
const MASKED_LM_RUNS: [&str; 2] = ["mlm-full", "mlm-whole-words"];

/// The tiny BertForMaskedLM with its dropout-0 config (the script's `mlm-model` folder).
fn masked_lm() -> ModelFiles {
    let fixture = fixtures().join("fill-mask/bert");
    ModelFiles { config: read(fixture.join("train-config.json")), weights: read(fixture.join("model.safetensors")), tokenizer: read(fixture.join("tokenizer.json")) }
}

/// The text-generation runs: name, the model folder (its tokenizer_config.json is
/// recipe/FOLDER.json) and the data file.
const LANGUAGE_MODEL_RUNS: [(&str, &str, &str); 6] = [
    ("lm-chat", "lm-model", "chat.jsonl"),
    ("lm-chat-lora", "lm-marked", "chat.jsonl"),
    ("lm-gpt2-lora", "lm-gpt2", "pairs.jsonl"),
    ("lm-qwen2-lora", "lm-qwen2", "pairs.jsonl"),
    ("lm-pairs", "lm-model", "pairs.jsonl"),
    ("lm-packed", "lm-model", "corpus.txt"),
];

/// The token-classification runs and the family of their tiny tagger.
const TAGGER_RUNS: [(&str, &str); 3] = [("ner-full", "bert"), ("ner-lora", "bert"), ("ner-roberta", "roberta")];

/// The tiny tagger of `family` with its dropout-0 config (the script's `ner-FAMILY` folder).
fn tagger(family: &str) -> ModelFiles {
    let fixture = fixtures().join("token-classification").join(family);
    ModelFiles {
        config: read(fixture.join("train-config.json")),
        weights: read(fixture.join("model.safetensors")),
        tokenizer: read(fixtures().join(format!("encoders/{family}/tokenizer.json"))),
    }
}

/// Model folder `folder` of the script: the tiny GPT-2 (`lm-gpt2`), the tiny Qwen 2 (`lm-qwen2`)
/// or the tiny Llama with the character tokenizer; its tokenizer_config.json (the chat template)
/// is recipe/FOLDER.json.
fn decoder(folder: &str) -> Decoder {
    let tokenizer_config = read(fixtures().join("recipe").join(format!("{folder}.json")));
    let (config, weights, tokenizer) = match folder {
        "lm-gpt2" => ("gpt2/train-steps/config.json", "gpt2/tiny/model.safetensors", "gpt2/tiny/tokenizer.json"),
        "lm-qwen2" => ("llama/tiny-qwen2/config.json", "llama/tiny-qwen2/model.safetensors", "llama/train-steps/tokenizer.json"),
        _ => ("llama/tiny/config.json", "llama/tiny/model.safetensors", "llama/train-steps/tokenizer.json"),
    };
    let fixture = |path: &str| read(fixtures().join(path));
    Decoder::from_hf(&fixture(config), fixture(weights), &fixture(tokenizer), Some(&tokenizer_config), &device::cpu()).unwrap()
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
        let files = block_on(encoder_recipe(Task::TextClassification, (&model()).into(), "model", &data, &Columns::default(), &options, None)).unwrap();
        readable_readme(name, &files);
        let ours: serde_json::Map<String, Value> = files.iter().map(|(file, bytes)| (file.clone(), Value::from(fnv1a64(bytes)))).collect();
        assert_eq!(Value::Object(ours), expected(name)["recipe_files"], "{name}: the recipe differs from the one make_recipe_fixture.py ran; run it again");
    }
    for (name, family) in FAMILY_RUNS {
        let (options, data) = run(name);
        let files = block_on(encoder_recipe(Task::TextClassification, (&family_classifier(family)).into(), &format!("cls-{family}"), &data, &Columns::default(), &options, None)).unwrap();
        readable_readme(name, &files);
        let ours: serde_json::Map<String, Value> = files.iter().map(|(file, bytes)| (file.clone(), Value::from(fnv1a64(bytes)))).collect();
        assert_eq!(Value::Object(ours), expected(name)["recipe_files"], "{name}: the recipe differs from the one make_recipe_fixture.py ran; run it again");
    }
    for (name, family) in TAGGER_RUNS {
        let (options, data) = run_on(name, "ner.txt");
        let files = block_on(token_classifier_recipe((&tagger(family)).into(), &format!("ner-{family}"), &data, &options, None)).unwrap();
        readable_readme(name, &files);
        let ours: serde_json::Map<String, Value> = files.iter().map(|(file, bytes)| (file.clone(), Value::from(fnv1a64(bytes)))).collect();
        assert_eq!(Value::Object(ours), expected(name)["recipe_files"], "{name}: the recipe differs from the one make_recipe_fixture.py ran; run it again");
    }
    for name in ANSWERING_RUNS {
        let (options, data) = run_on(name, "qa.jsonl");
        let files = block_on(question_answering_recipe((&answerer()).into(), "qa-model", &data, &options, None)).unwrap();
        readable_readme(name, &files);
        let ours: serde_json::Map<String, Value> = files.iter().map(|(file, bytes)| (file.clone(), Value::from(fnv1a64(bytes)))).collect();
        assert_eq!(Value::Object(ours), expected(name)["recipe_files"], "{name}: the recipe differs from the one make_recipe_fixture.py ran; run it again");
    }
    for name in MASKED_LM_RUNS {
        let (options, data) = run_on(name, "mlm.txt");
        let files = block_on(masked_lm_recipe((&masked_lm()).into(), "mlm-model", &data, &TextColumns::default(), &options, None)).unwrap();
        readable_readme(name, &files);
        let ours: serde_json::Map<String, Value> = files.iter().map(|(file, bytes)| (file.clone(), Value::from(fnv1a64(bytes)))).collect();
        assert_eq!(Value::Object(ours), expected(name)["recipe_files"], "{name}: the recipe differs from the one make_recipe_fixture.py ran; run it again");
    }
    for (name, folder, file) in LANGUAGE_MODEL_RUNS {
        let (options, data) = run_on(name, file);
        let files = block_on(language_model_recipe(&decoder(folder), folder, &data, &TextColumns::default(), &options, None)).unwrap();
        readable_readme(name, &files);
        let ours: serde_json::Map<String, Value> = files.iter().map(|(file, bytes)| (file.clone(), Value::from(fnv1a64(bytes)))).collect();
        assert_eq!(Value::Object(ours), expected(name)["recipe_files"], "{name}: the recipe differs from the one make_recipe_fixture.py ran; run it again");
    }
}

/// webtune's token-classification runs report, step by step, what the Trainer logged running
/// their recipes (sub-words labelled by the recipe's own program), their best evaluation is the
/// Trainer's final one (seqeval's scores and the loss, as webtune computes them), and they end at
/// the Trainer's weights and PEFT's adapter.
#[test]
fn webtunes_token_classification_runs_give_the_recipes_trainer_steps() {
    let _turn = cpu_turn();
    for (name, family) in TAGGER_RUNS {
        let (options, data) = run_on(name, "ner.txt");
        let expected = expected(name);
        let (mut steps, mut best) = (Vec::new(), None);
        let mut on_event = |e| match e {
            Event::Step { loss, grad_norm, learning_rate, .. } => steps.push((loss, grad_norm.unwrap(), learning_rate)),
            Event::Eval { metrics: Evaluation::Entities(m), is_best: true, .. } => best = Some(m),
            _ => {}
        };
        let hooks = Hooks { on_event: &mut on_event, on_checkpoint: None, cancelled: &|| false };
        let tuned = block_on(finetune_token_classifier(&tagger(family), &device::cpu(), &data, &options, None, hooks)).unwrap();
        trainer_steps(name, &steps, &expected);
        let ours = match options.lora {
            Some(_) => block_on(tuned.model.export_adapter(&format!("ner-{family}"))).unwrap().into_iter().find(|(f, _)| f.ends_with(".safetensors")).unwrap().1,
            None => block_on(tuned.model.export()).unwrap().weights,
        };
        let trained = fixtures().join(format!("recipe/{name}-trained.safetensors"));
        if trained.exists() {
            same_tensors(name, &ours, &read(trained), &[]);
        }
        let best = best.expect("an evaluation");
        let evaluation = &expected["evaluation"];
        close_to(name, best.loss.unwrap(), &evaluation["eval_loss"], "best evaluation's loss");
        for (ours, key) in [(best.f1, "eval_f1"), (best.precision, "eval_precision"), (best.recall, "eval_recall"), (best.accuracy, "eval_accuracy")] {
            close_to(name, ours, &evaluation[key], key);
        }
    }
}

/// webtune's question-answering runs report, step by step, what the Trainer logged running their
/// recipes (windows cut by the recipe's own program), their best evaluation is the Trainer's final
/// one (the loss over windows; exact match and F1 of run_qa's post-processing), and they end at the
/// Trainer's weights and PEFT's adapter.
#[test]
fn webtunes_question_answering_runs_give_the_recipes_trainer_steps() {
    let _turn = cpu_turn();
    for name in ANSWERING_RUNS {
        let (options, data) = run_on(name, "qa.jsonl");
        let expected = expected(name);
        let (mut steps, mut best) = (Vec::new(), None);
        let mut on_event = |e| match e {
            Event::Step { loss, grad_norm, learning_rate, .. } => steps.push((loss, grad_norm.unwrap(), learning_rate)),
            Event::Eval { metrics: Evaluation::Answers(m), is_best: true, .. } => best = Some(m),
            _ => {}
        };
        let hooks = Hooks { on_event: &mut on_event, on_checkpoint: None, cancelled: &|| false };
        let tuned = block_on(finetune_answerer(&answerer(), &device::cpu(), &data, &options, None, hooks)).unwrap();
        trainer_steps(name, &steps, &expected);
        let ours = match options.lora {
            Some(_) => block_on(tuned.model.export_adapter("qa-model")).unwrap().into_iter().find(|(f, _)| f.ends_with(".safetensors")).unwrap().1,
            None => block_on(tuned.model.export()).unwrap().weights,
        };
        // the head's bias and what the last layer adds to every position move every position's start
        // and end score alike
        let shift_only = ["qa_outputs.bias", "encoder.layer.1.output.LayerNorm.bias"];
        same_tensors(name, &ours, &read(fixtures().join(format!("recipe/{name}-trained.safetensors"))), &shift_only);
        let best = best.expect("an evaluation");
        let evaluation = &expected["evaluation"];
        close_to(name, best.loss.unwrap(), &evaluation["eval_loss"], "best evaluation's loss");
        close_to(name, best.exact_match, &evaluation["eval_exact_match"], "exact match");
        close_to(name, best.f1, &evaluation["eval_f1"], "F1");
    }
}

/// webtune's masked-LM runs report, step by step, what the Trainer logged running their recipes
/// with webtune's masks (a batch's masks drawn from the seed and its rows), their best evaluation
/// (on the fixed validation masks) is the Trainer's final one, and the full run ends at the
/// Trainer's weights.
#[test]
fn webtunes_masked_lm_runs_give_the_recipes_trainer_steps() {
    let _turn = cpu_turn();
    for name in MASKED_LM_RUNS {
        let (options, data) = run_on(name, "mlm.txt");
        let expected = expected(name);
        let (mut steps, mut best) = (Vec::new(), None);
        let mut on_event = |e| match e {
            Event::Step { loss, grad_norm, learning_rate, .. } => steps.push((loss, grad_norm.unwrap(), learning_rate)),
            Event::Eval { metrics: Evaluation::Language(m), is_best: true, .. } => best = Some(m.loss),
            _ => {}
        };
        let hooks = Hooks { on_event: &mut on_event, on_checkpoint: None, cancelled: &|| false };
        let tuned = block_on(finetune_masked_lm(&masked_lm(), &device::cpu(), &data, &TextColumns::default(), &options, None, hooks)).unwrap();
        let trained = fixtures().join(format!("recipe/{name}-trained.safetensors"));
        if trained.exists() {
            same_tensors(name, &block_on(tuned.model.export()).unwrap().weights, &read(trained), &[]);
        }
        trainer_steps(name, &steps, &expected);
        close_to(name, best.expect("an evaluation"), &expected["evaluation"]["eval_loss"], "best validation loss");
    }
}

/// The recipe's README reads as prose: every placeholder filled, no escape left in its text.
fn readable_readme(name: &str, files: &[(String, Vec<u8>)]) {
    let readme = std::str::from_utf8(&files.iter().find(|(f, _)| f == "README.md").expect("a README").1).unwrap();
    assert!(!readme.contains("{{") && !readme.contains('\\'), "{name}: README.md holds a placeholder or an escape:\n{readme}");
}

/// `ours` is the Trainer's value `theirs` within 1e-4 (relative above 1).
fn close_to(name: &str, ours: f64, theirs: &Value, what: &str) {
    let theirs = theirs.as_f64().unwrap();
    assert!(ours.is_finite() && (ours - theirs).abs() <= 1e-4 * theirs.abs().max(1.0), "{name}: {what} {ours} vs the Trainer's {theirs}");
}

/// webtune's steps (loss, gradient norm, learning rate) are the ones the Trainer logged for run `name`.
fn trainer_steps(name: &str, steps: &[(f64, f64, f64)], expected: &Value) {
    let want = expected["steps"].as_array().unwrap();
    assert_eq!(steps.len(), want.len(), "{name}: optimizer steps");
    for (i, ((loss, norm, lr), w)) in steps.iter().zip(want).enumerate() {
        close_to(name, *loss, &w["loss"], &format!("step {} loss", i + 1));
        close_to(name, *norm, &w["grad_norm"], &format!("step {} gradient norm", i + 1));
        close_to(name, *lr, &w["learning_rate"], &format!("step {} learning rate", i + 1));
    }
}

/// Every tensor of `theirs` (the Trainer's file) is in `ours` with its values (≤ 1e-4), but for
/// attention's key biases and those named in `shift_only` (parameters that shift every score a
/// softmax compares alike).
fn same_tensors(name: &str, ours: &[u8], theirs: &[u8], shift_only: &[&str]) {
    let (ours, theirs) = (safetensors::SafeTensors::deserialize(ours).unwrap(), safetensors::SafeTensors::deserialize(theirs).unwrap());
    let floats = |t: safetensors::tensor::TensorView| -> Vec<f32> { t.data().chunks(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect() };
    assert!(!theirs.names().is_empty());
    for key in theirs.names() {
        let want = floats(theirs.tensor(key).unwrap());
        let got = floats(ours.tensor(key).unwrap_or_else(|_| panic!("{name}: webtune's file has no {key}")));
        assert_eq!(got.len(), want.len(), "{name}: {key}'s size");
        if key.ends_with("attention.self.key.bias") || shift_only.iter().any(|s| key.ends_with(s)) {
            // their gradient is zero but for rounding (a softmax ignores what they add to every key,
            // or to every position's score, alike), and AdamW turns that noise into steps of the
            // learning rate's size: no two engines agree on them
            continue;
        }
        let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, |m, d| if d.is_nan() { f32::NAN } else { m.max(d) });
        assert!(worst <= 1e-4, "{name}: {key} differs from the Trainer's by up to {worst}");
    }
}

/// webtune's causal-LM runs report, step by step, what the Trainer logged running their recipes
/// (its data read by the recipe's own program: chat template, assistant turns, packing), and
/// their best evaluation is the Trainer's final one (load_best_model_at_end); the full run ends at
/// the Trainer's weights and the LoRA run at PEFT's adapter.
#[test]
fn webtunes_language_model_runs_give_the_recipes_trainer_steps() {
    let _turn = cpu_turn();
    for (name, folder, file) in LANGUAGE_MODEL_RUNS {
        let (options, data) = run_on(name, file);
        let expected = expected(name);
        let (mut steps, mut losses) = (Vec::new(), Vec::new());
        let mut on_event = |e| match e {
            Event::Step { loss, grad_norm, learning_rate, .. } => steps.push((loss, grad_norm.unwrap(), learning_rate)),
            Event::Eval { metrics: Evaluation::Language(m), .. } => losses.push(m.loss),
            _ => {}
        };
        let hooks = Hooks { on_event: &mut on_event, on_checkpoint: None, cancelled: &|| false };
        let tuned = block_on(finetune_decoder(&decoder(folder), &device::cpu(), &data, &TextColumns::default(), &options, None, hooks)).unwrap();
        let trained = fixtures().join(format!("recipe/{name}-trained.safetensors"));
        if trained.exists() {
            let files = match options.lora {
                Some(_) => block_on(tuned.model.export_adapter(folder)),
                None => block_on(tuned.model.export()),
            };
            let files = files.unwrap();
            let ours = &files.iter().find(|(file, _)| file.ends_with(".safetensors")).unwrap().1;
            same_tensors(name, ours, &read(trained), &[]);
        }
        trainer_steps(name, &steps, &expected);
        let best = losses.iter().copied().fold(f64::INFINITY, f64::min);
        close_to(name, best, &expected["evaluation"]["eval_loss"], "best validation loss");
    }
}

/// The SetFit run's recipe, written today, is the one setfit's Trainer ran; webtune's run takes
/// the steps that Trainer took over the same pairs in webtune's order, and its head scores the
/// validation rows as the head setfit fitted (scikit-learn's default tolerance against webtune's
/// tighter solve: 1e-3 on the log loss).
#[test]
fn webtunes_setfit_run_gives_the_steps_and_evaluation_of_the_recipes_setfit_trainer() {
    let _turn = cpu_turn();
    let (options, data) = run("setfit");
    let expected = expected("setfit");
    let body = fixtures().join("setfit/body");
    let files = ModelFiles::from_dir(&body).unwrap();
    let written = block_on(encoder_recipe(Task::TextClassification, (&files).into(), "setfit-body", &data, &Columns::default(), &options, None)).unwrap();
    readable_readme("setfit", &written);
    let ours: serde_json::Map<String, Value> = written.iter().map(|(file, bytes)| (file.clone(), Value::from(fnv1a64(bytes)))).collect();
    assert_eq!(Value::Object(ours), expected["recipe_files"], "setfit: the recipe differs from the one make_recipe_fixture.py ran; run it again");
    let modules = SentenceTransformer::from_folder(std::fs::read(body.join("modules.json")).ok().as_deref(), |n| std::fs::read(body.join(n)).ok()).unwrap();
    let (mut steps, mut evaluation) = (Vec::new(), None);
    let mut on_event = |e| match e {
        Event::Step { loss, grad_norm, learning_rate, .. } => steps.push((loss, grad_norm.unwrap(), learning_rate)),
        Event::Eval { metrics: Evaluation::Classification(m), .. } => evaluation = Some(m),
        _ => {}
    };
    block_on(finetune_setfit(&files, modules, &device::cpu(), &data, &Columns::default(), &options, Hooks::events(&mut on_event))).unwrap();
    trainer_steps("setfit", &steps, &expected);
    let (ours, theirs) = (evaluation.expect("an evaluation of the validation rows"), &expected["evaluation"]);
    assert!((ours.loss.unwrap() - theirs["eval_loss"].as_f64().unwrap()).abs() <= 1e-3, "log loss {:?} vs setfit's {}", ours.loss, theirs["eval_loss"]);
    for (value, key) in [(ours.accuracy, "eval_accuracy"), (ours.macro_precision, "eval_macro_precision"), (ours.macro_recall, "eval_macro_recall"), (ours.macro_f1, "eval_macro_f1")] {
        close_to("setfit", value, &theirs[key], key);
    }
}

#[test]
fn webtunes_run_gives_the_recipes_trainer_steps() {
    check_steps("full", &model());
}

#[test]
fn webtunes_lora_run_gives_the_steps_of_the_recipes_trainer_and_peft_from_its_initial_adapter() {
    check_steps("lora", &model());
    for (name, family) in FAMILY_RUNS {
        check_steps(name, &family_classifier(family));
    }
}

/// The LoRA run on other encoder families, and the family.
const FAMILY_RUNS: [(&str, &str); 2] = [("lora-distilbert", "distilbert"), ("lora-xlm-roberta", "xlm-roberta")];

/// The tiny classifier of encoder `family` with its dropout-0 config (the script's `cls-FAMILY`).
fn family_classifier(family: &str) -> ModelFiles {
    let fixture = fixtures().join("encoders").join(family);
    ModelFiles { config: read(fixture.join("train-config.json")), weights: read(fixture.join("model.safetensors")), tokenizer: read(fixture.join("tokenizer.json")) }
}

/// webtune's run `name` reports, step by step, what the Trainer logged running its recipe.
fn check_steps(name: &str, files: &ModelFiles) {
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
    block_on(finetune_classifier(files, None, &device::cpu(), &data, &Columns::default(), &options, None, hooks)).unwrap();
    trainer_steps(name, &steps, &expected);
}

#[test]
fn a_recipe_from_a_checkpoint_continues_the_run_with_the_steps_webtunes_resume_takes() {
    check_resumed("resumed", ("model.safetensors", "classifier.weight"));
}

#[test]
fn a_recipe_from_a_lora_checkpoint_continues_its_adapters_with_the_steps_webtunes_resume_takes() {
    check_resumed("resumed-lora", ("adapter_model.safetensors", "base_model.model.classifier.weight"));
}

/// Run `name`, checkpointed at step 7 as the browser stores it, written as a recipe from that
/// checkpoint: the files make_recipe_fixture.py ran, the moments of every trained weight (`file`
/// holds them; `head`: the head's name there), and webtune's own resume takes the steps the
/// Trainer took from the recipe.
fn check_resumed(name: &str, (file, head): (&str, &str)) {
    let _turn = cpu_turn();
    let (options, data) = run(name);
    let expected = expected(name);
    let mut stored = None;
    let mut on_checkpoint = |c: &Checkpoint| {
        stored = Some(c.clone());
        Ok(())
    };
    let hooks = Hooks { on_event: &mut |_| {}, on_checkpoint: Some(&mut on_checkpoint), cancelled: &|| false };
    block_on(finetune_classifier(&model(), None, &device::cpu(), &data, &Columns::default(), &options, None, hooks)).unwrap();
    let checkpoint = stored.expect("a checkpoint at step 7");
    assert_eq!(checkpoint.state.step, 7);
    // its recipe: the files make_recipe_fixture.py ran (the moments compared by value below)
    let files = block_on(encoder_recipe(Task::TextClassification, (&model()).into(), "model", &data, &Columns::default(), &options, Some(&checkpoint))).unwrap();
    let want = expected["recipe_files"].as_object().unwrap();
    assert_eq!(files.len(), want.len(), "{:?}", files.iter().map(|(f, _)| f).collect::<Vec<_>>());
    for (file, bytes) in &files {
        if !file.ends_with(".safetensors") {
            assert_eq!(Value::from(fnv1a64(bytes)), want[file], "{file} differs from the recipe the Trainer continued");
        }
    }
    let by_name = |name: &str| &files.iter().find(|(f, _)| f == name).unwrap_or_else(|| panic!("the recipe has no {name}")).1;
    let moments = safetensors::SafeTensors::deserialize(by_name("resume/exp_avg_sq.safetensors")).unwrap();
    let weights = safetensors::SafeTensors::deserialize(by_name(&format!("resume/{file}"))).unwrap();
    let (mut ours, mut theirs) = (moments.names(), weights.names());
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs, "a second moment for every trained weight, under its name in {file}");
    let v = moments.tensor(head).unwrap();
    assert_eq!(v.shape(), weights.tensor(head).unwrap().shape(), "in PyTorch's layout");
    assert!(v.data().chunks(4).any(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) > 0.0), "moments, not zeros");
    // webtune's own resume takes the steps the Trainer took from the recipe
    let mut steps = Vec::new();
    let mut on_event = |e| {
        if let Event::Step { step, loss, grad_norm, learning_rate, .. } = e {
            steps.push((step, loss, grad_norm.unwrap(), learning_rate));
        }
    };
    let hooks = Hooks { on_event: &mut on_event, on_checkpoint: Some(&mut |_: &Checkpoint| Ok(())), cancelled: &|| false };
    block_on(finetune_classifier(&model(), None, &device::cpu(), &data, &Columns::default(), &options, Some(&checkpoint), hooks)).unwrap();
    let want = expected["steps"].as_array().unwrap();
    assert_eq!(steps.len(), want.len(), "{name}: the steps after the checkpoint");
    for ((step, loss, norm, lr), w) in steps.iter().zip(want) {
        assert_eq!(*step as u64, w["step"].as_u64().unwrap());
        for (ours, theirs, what) in [(*loss, &w["loss"], "loss"), (*norm, &w["grad_norm"], "gradient norm"), (*lr, &w["learning_rate"], "learning rate")] {
            let theirs = theirs.as_f64().unwrap();
            assert!((ours - theirs).abs() <= 1e-4 * theirs.abs().max(1.0), "{name}, step {step}: {what} {ours} vs the resumed Trainer's {theirs}");
        }
    }
    // without the base's weights, a LoRA checkpoint cannot be continued (the adapters' frame)
    if options.lora.is_some() {
        let config_only = webtune::session::recipe::BaseFiles { config: &model().config, tokenizer: &model().tokenizer, weights: None };
        let e = block_on(encoder_recipe(Task::TextClassification, config_only, "model", &data, &Columns::default(), &options, Some(&checkpoint))).unwrap_err();
        assert!(e.to_string().contains("needs the base model's weights"), "{e}");
    }
}

#[test]
fn options_a_recipe_cannot_run_and_a_judge_without_validation_are_clear_errors() {
    let (options, data) = run("full");
    // a SetFit recipe refuses what setfit's Trainer cannot run, as the run does
    let setfit = TrainOptions { method: webtune::train::options::Method::Setfit, lora: run("lora").0.lora, ..options.clone() };
    let e = block_on(encoder_recipe(Task::TextClassification, (&model()).into(), "model", &data, &Columns::default(), &setfit, None)).unwrap_err().to_string();
    assert!(e.contains("lora is not available with method \"setfit\""), "{e}");
    let adapters = TrainOptions { lora: run("lora").0.lora, ..Default::default() };
    let e = block_on(masked_lm_recipe((&masked_lm()).into(), "mlm-model", &data, &TextColumns::default(), &adapters, None)).unwrap_err().to_string();
    assert!(e.contains("LoRA is not available for masked-LM training"), "{e}");
    let (lm_options, lm_data) = run_on("lm-pairs", "pairs.jsonl");
    let judged = TrainOptions { metric: Some("accuracy".into()), ..lm_options.clone() };
    let e = block_on(language_model_recipe(&decoder("lm-model"), "lm-model", &lm_data, &TextColumns::default(), &judged, None)).unwrap_err().to_string();
    assert!(e.contains("unknown metric \"accuracy\" for a language model"), "{e}");
    let templated = TrainOptions { chat_template: Some(true), ..lm_options };
    let e = block_on(encoder_recipe(Task::TextClassification, (&model()).into(), "model", &data, &Columns::default(), &templated, None)).unwrap_err().to_string();
    assert!(e.contains("chatTemplate is for text-generation models"), "{e}");
    let no_validation = SessionData { validation_split: 0.0, ..data };
    let judged = TrainOptions { early_stopping_patience: Some(2), ..options };
    let e = block_on(encoder_recipe(Task::TextClassification, (&model()).into(), "model", &no_validation, &Columns::default(), &judged, None)).unwrap_err().to_string();
    assert!(e.contains("earlyStoppingPatience and metric judge evaluations; this run has no validation data"), "{e}");
    let augmented = TrainOptions { augment: Some(Default::default()), ..TrainOptions::default() };
    let e = block_on(encoder_recipe(Task::TextClassification, (&model()).into(), "model", &no_validation, &Columns::default(), &augmented, None)).unwrap_err().to_string();
    assert!(e.contains("augment has no equivalent in transformers' Trainer"), "{e}");
}
