#![cfg(not(target_family = "wasm"))]
//! Augmentation: EDA's random swap and deletion draw what the reference draws
//! (tests/reference/make_augment_fixture.py: textaugment's EDA under Python's `random`);
//! contextual substitution and insertion fill what transformers' fill-mask pipeline predicts,
//! draw for draw (make_contextual_augment_fixture.py); a classifier run augments on the fly — the
//! same for a seed, afresh each epoch, the data file untouched — with its options checked by name.

mod common;

use common::cpu_turn;
use pollster::block_on;
use serde_json::Value;
use webtune::{
    data::{
        Columns, InspectOptions, parse_named,
        augment::{AugmentOp, AugmentOptions, random_deletion, random_swap},
        contextual::{ContextualOp, ContextualPlan},
        inspect,
        mersenne::PyRandom,
    },
    device,
    infer::{ModelFiles, fill_mask::MaskedLm},
    session::{DataFile, SessionData, finetune_classifier},
    train::{Event, Hooks, TrainOptions},
};

fn expected() -> Value {
    let path = common::assets::crate_root().join("tests/fixtures/augment/expected.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn swaps_and_deletions_are_textaugments_draw_for_draw() {
    for run in expected()["runs"].as_array().unwrap() {
        let seed = run["seed"].as_u64().unwrap();
        let mut r = PyRandom::new(seed);
        let random: Vec<f64> = (0..3).map(|_| r.random()).collect();
        let want: Vec<f64> = run["draws"]["random"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        // (serde_json may read the last bit of a printed double wrongly: compare to 1e-15)
        assert!(random.iter().zip(&want).all(|(a, b)| (a - b).abs() <= 1e-15) && random.len() == want.len(), "seed {seed}: random.random() {random:?} vs {want:?}");
        let ints: Vec<u64> = (0..5).map(|_| r.randint(0, 9) as u64).collect();
        let want: Vec<u64> = run["draws"]["randint_0_9"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        assert_eq!(ints, want, "seed {seed}: random.randint(0, 9)");
        // one generator for every call, as the reference's module-level `random`
        let mut rng = PyRandom::new(seed);
        for (i, call) in run["calls"].as_array().unwrap().iter().enumerate() {
            let sentence = call["sentence"].as_str().unwrap();
            let words: Vec<&str> = sentence.split_whitespace().collect();
            let ours = match call["op"].as_str().unwrap() {
                "swap" => random_swap(words, call["n"].as_u64().unwrap() as usize, &mut rng),
                _ => random_deletion(&words, call["p"].as_f64().unwrap(), &mut rng),
            };
            assert_eq!(ours.join(" "), call["result"].as_str().unwrap(), "seed {seed}, call {i}: {call}");
        }
    }
}

fn tiny_model() -> ModelFiles {
    let bert = common::assets::crate_root().join("tests/fixtures/bert");
    let read = |p: std::path::PathBuf| std::fs::read(p).unwrap();
    ModelFiles { config: read(bert.join("train-steps/config.json")), weights: read(bert.join("tiny-cls3/model.safetensors")), tokenizer: read(bert.join("tokenizer.json")) }
}

fn data() -> SessionData {
    let rows = std::fs::read(common::assets::crate_root().join("tests/fixtures/recipe/data.jsonl")).unwrap();
    SessionData { train: DataFile { bytes: rows, name: "data.jsonl".into() }, validation: None, validation_split: 0.0 }
}

/// The losses (every step) and the examples per epoch of a 2-epoch run with `augment`.
fn run(augment: Option<AugmentOptions>) -> (Vec<f64>, usize) {
    let options = TrainOptions { epochs: 2, batch_size: 8, learning_rate: 1e-3, log_every: 1, seed: 3, augment, ..TrainOptions::default() };
    let (mut losses, mut examples) = (Vec::new(), 0);
    let mut on_event = |e| match e {
        Event::Step { loss, .. } => losses.push(loss),
        Event::Start { train_examples, .. } => examples = train_examples,
        _ => {}
    };
    block_on(finetune_classifier(&tiny_model(), None, &device::cpu(), &data(), &Columns::default(), &options, None, Hooks::events(&mut on_event))).unwrap();
    (losses, examples)
}

#[test]
fn a_run_augments_on_the_fly_the_same_for_a_seed_and_afresh_each_epoch() {
    let _turn = cpu_turn();
    let before = data().train.bytes;
    let (plain, rows) = run(None);
    let two = AugmentOptions { copies: 2, rate: 0.3, ..AugmentOptions::default() };
    let (augmented, examples) = run(Some(two.clone()));
    assert_eq!(examples, rows * 3, "each row and two augmented copies per epoch");
    assert_eq!(augmented.len(), 2 * examples.div_ceil(8), "the steps of the larger epochs");
    assert_eq!(run(Some(two.clone())).0, augmented, "the same run for the same seed");
    assert_ne!(run(Some(AugmentOptions { seed: Some(9), ..two.clone() })).0, augmented, "another augmentation seed, other copies");
    assert_ne!(plain[0], augmented[0]);
    assert_eq!(data().train.bytes, before);
    // copies differ between epochs: the first augmented copy of row 0 in epoch 0 and epoch 1
    let a = AugmentOptions { ops: vec![AugmentOp::Swap], rate: 0.5, ..AugmentOptions::default() };
    let text = "one two three four five six seven eight";
    let epochs: std::collections::BTreeSet<String> = (0..6).map(|epoch| a.draft(text, 3, epoch, 0, 1).preview("[MASK]")).collect();
    assert!(epochs.len() > 1, "{epochs:?}");
    assert!(epochs.iter().all(|t| { let mut w: Vec<&str> = t.split(' ').collect(); w.sort(); w == { let mut o: Vec<&str> = text.split(' ').collect(); o.sort(); o } }), "a swap keeps the words");
}

#[test]
fn augmentation_is_previewed_and_bad_options_are_named() {
    let table = parse_named(b"text,label\na b c d e f g h,x\none,y\n", "t.csv").unwrap();
    let options = InspectOptions { augment: Some(AugmentOptions { ops: vec![AugmentOp::Delete], rate: 0.5, ..AugmentOptions::default() }), ..InspectOptions::default() };
    let summary = inspect(&table, &options);
    assert_eq!(summary.augmented.len(), 2);
    assert_eq!(summary.augmented[0].original, "a b c d e f g h");
    assert_ne!(summary.augmented[0].augmented, summary.augmented[0].original, "half the words deleted");
    assert_eq!(summary.augmented[1].augmented, "one", "a single word is kept");
    assert_eq!(inspect(&table, &options), summary, "the same preview every time");
    let bad = |a: AugmentOptions| TrainOptions { augment: Some(a), ..TrainOptions::default() }.validate().unwrap_err().to_string();
    assert!(bad(AugmentOptions { rate: 1.5, ..Default::default() }).contains("augment.rate must be between 0 and 1"));
    assert!(bad(AugmentOptions { copies: 0, ..Default::default() }).contains("augment.copies must be between 1 and 32"));
    assert!(bad(AugmentOptions { ops: vec![], ..Default::default() }).contains("augment.ops is empty"));
    let e = serde_json::from_value::<AugmentOptions>(serde_json::json!({"ops": ["synonym"]})).unwrap_err().to_string();
    assert!(e.contains("unknown variant `synonym`"), "{e}");
    let e = TrainOptions { augment: Some(AugmentOptions::default()), ..TrainOptions::default() }.check_for_task("token-classification").unwrap_err().to_string();
    assert!(e.contains("augment is for text-classification models"), "{e}");
}

fn fill_mask_model() -> ModelFiles {
    ModelFiles::from_dir(&common::assets::crate_root().join("tests/fixtures/fill-mask/bert")).unwrap()
}

#[test]
fn contextual_fills_are_the_fill_mask_pipelines_draw_for_draw() {
    let path = common::assets::crate_root().join("tests/fixtures/augment/contextual.json");
    let expected: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mlm = MaskedLm::load(fill_mask_model(), &device::cpu()).unwrap();
    for case in expected["cases"].as_array().unwrap() {
        let op = if case["op"] == "insert" { ContextualOp::Insert } else { ContextualOp::Substitute };
        let (text, rate, seed) = (case["text"].as_str().unwrap(), case["rate"].as_f64().unwrap(), case["seed"].as_u64().unwrap());
        let plan = ContextualPlan::new(op, text, rate, PyRandom::new(seed)).unwrap();
        let masked = plan.masked_texts(&mlm.mask_token());
        let want: Vec<&str> = case["masked"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
        assert_eq!(masked, want, "{case}: the slots");
        let candidates = block_on(mlm.word_candidates(&masked, &plan.replaced())).unwrap();
        let want = case["candidates"].as_array().unwrap();
        assert_eq!(candidates.len(), want.len(), "{text}: one candidate list per slot");
        for (ours, theirs) in candidates.iter().zip(want) {
            let theirs = theirs.as_array().unwrap();
            assert_eq!(ours.len(), theirs.len(), "{text}: {ours:?} vs {theirs:?}");
            for ((word, score), t) in ours.iter().zip(theirs) {
                assert_eq!(word, t["word"].as_str().unwrap(), "{text}");
                let s = t["score"].as_f64().unwrap();
                assert!((f64::from(*score) - s).abs() <= 1e-5 * s.max(1e-3), "{text}: {word} scored {score} vs {s}");
            }
        }
        assert_eq!(plan.finish(&candidates), case["result"].as_str().unwrap(), "{case}");
    }
}

#[test]
fn a_run_fills_contextual_copies_with_a_masked_lm_head_and_names_one_when_the_model_has_none() {
    let _turn = cpu_turn();
    let contextual = AugmentOptions { ops: vec![AugmentOp::Substitute, AugmentOp::Insert], rate: 0.3, ..AugmentOptions::default() };
    let options = TrainOptions { epochs: 2, batch_size: 8, learning_rate: 1e-3, log_every: 1, seed: 3, augment: Some(contextual.clone()), ..TrainOptions::default() };
    let train = |model: &ModelFiles, named: Option<&ModelFiles>, options: &TrainOptions| {
        let mut losses = Vec::new();
        let mut on_event = |e| {
            if let Event::Step { loss, .. } = e {
                losses.push(loss)
            }
        };
        block_on(finetune_classifier(model, named, &device::cpu(), &data(), &Columns::default(), options, None, Hooks::events(&mut on_event))).map(|_| losses)
    };
    // the model's own masked-LM head fills the copies, the same for a seed
    let own = train(&fill_mask_model(), None, &options).unwrap();
    assert_eq!(train(&fill_mask_model(), None, &options).unwrap(), own);
    // a classifier checkpoint has no masked-LM head: the error says what to name
    let e = train(&tiny_model(), None, &options).unwrap_err().to_string();
    assert!(e.contains("the model being fine-tuned has no masked-LM head") && e.contains("augment.model"), "{e}");
    // ... and with augment.model, the named model fills them
    let named = TrainOptions { augment: Some(AugmentOptions { model: Some("fill-mask/bert".into()), ..contextual.clone() }), ..options.clone() };
    let with_named = train(&tiny_model(), Some(&fill_mask_model()), &named).unwrap();
    assert_eq!(with_named.len(), own.len());
    let e = train(&tiny_model(), None, &named).unwrap_err().to_string();
    assert!(e.contains("augment.model \"fill-mask/bert\""), "{e}");
    // a preview shows the slots the model fills
    let table = parse_named(b"text,label\nthe movie was a delight,x\n", "t.csv").unwrap();
    let summary = inspect(&table, &InspectOptions { augment: Some(AugmentOptions { ops: vec![AugmentOp::Substitute], ..contextual }), ..InspectOptions::default() });
    assert_eq!(summary.augmented[0].augmented.matches("[MASK]").count(), 1, "{:?}", summary.augmented);
    let bad = TrainOptions { augment: Some(AugmentOptions { model: Some("bert-base-uncased".into()), ..AugmentOptions::default() }), ..TrainOptions::default() };
    assert!(bad.validate().unwrap_err().to_string().contains("augment.model is the masked language model of \"substitute\" and \"insert\""));
}
