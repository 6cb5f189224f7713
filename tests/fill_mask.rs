//! Masked language modelling on every encoder family against transformers and PyTorch (fixtures
//! from tests/reference/make_fill_mask_fixtures.py): the fill-mask pipeline (top 5, targets, two
//! masks) on the CPU (≤ 1e-4) and wgpu (≤ 1e-3), training steps on the collator's masked batch,
//! the collator's word groups and masking statistics, the export, and "adapt, then fine-tune".
#![cfg(not(target_family = "wasm"))]

mod common;

use common::training::check_step_events;
use pollster::block_on;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use webtune::{
    ComputeDevice, DevicePreference, Result,
    data::masking::{Masking, mask_sequence, word_groups},
    device,
    infer::{
        ModelFiles,
        fill_mask::{MaskFill, MaskedBatch, MaskedLm, masked_lm_loss},
        token_classification::TokenClassifier,
    },
    models::masked_lm::BertForMaskedLM,
    tokenizer::Batch,
    train::{
        Evaluation, Hooks, MemoryPlan, TrainOptions, fine_tune_masked_lm,
        trainer::{self, Task, WeightsOrigin},
    },
    weights::{LoadReport, masked_lm::load_masked_lm, safetensors::Inventory},
};

const FAMILIES: [&str; 4] = ["bert", "distilbert", "roberta", "xlm-roberta"];

fn root() -> std::path::PathBuf {
    common::assets::crate_root().join("tests/fixtures")
}

fn fixture(family: &str, config: &str) -> (ModelFiles, Value) {
    let dir = root().join("fill-mask").join(family);
    let read = |p: std::path::PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let files = ModelFiles {
        config: read(dir.join(config)),
        weights: read(dir.join("model.safetensors")),
        tokenizer: read(dir.join("tokenizer.json")),
    };
    (files, serde_json::from_slice(&read(dir.join("expected.json"))).unwrap())
}

fn check_fills(what: &str, ours: &[MaskFill], theirs: &Value, tol: f32) {
    let theirs = theirs.as_array().unwrap();
    assert_eq!(ours.len(), theirs.len(), "{what}: candidates");
    for (i, (o, t)) in ours.iter().zip(theirs).enumerate() {
        assert_eq!(o.token as u64, t["token"].as_u64().unwrap(), "{what} #{i}: token ({o:?} vs {t})");
        assert_eq!(o.token_str, t["token_str"].as_str().unwrap(), "{what} #{i}: token_str");
        assert_eq!(o.sequence, t["sequence"].as_str().unwrap(), "{what} #{i}: sequence");
        let score = t["score"].as_f64().unwrap() as f32;
        assert!(o.score.is_finite() && (o.score - score).abs() <= tol, "{what} #{i}: score {} vs {score}", o.score);
    }
}

async fn check_family(family: &str, dev: &ComputeDevice, tol: f32) {
    let (files, exp) = fixture(family, "config.json");
    let lm = MaskedLm::load(files, dev).unwrap();
    assert!(lm.report.warnings.is_empty(), "{family}: {:?}", lm.report.warnings);
    assert_eq!(lm.mask_token(), exp["mask"].as_str().unwrap());
    let texts: Vec<&str> = exp["texts"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    let mut notes = Vec::new();
    let filled = lm.fill(&texts, 5, None, &mut notes).await.unwrap();
    for (t, per_text) in filled.iter().enumerate() {
        let want = &exp["pipeline"][t];
        if per_text.len() == 1 {
            check_fills(&format!("{family} text {t} on {}", dev.info()), &per_text[0], want, tol);
        } else {
            for (m, fills) in per_text.iter().enumerate() {
                check_fills(&format!("{family} text {t} mask {m} on {}", dev.info()), fills, &want[m], tol);
            }
        }
    }
    let targets: Vec<String> = exp["targets"]["targets"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
    let text = exp["targets"]["text"].as_str().unwrap();
    let targeted = lm.fill(&[text], 3, Some(&targets), &mut notes).await.unwrap();
    check_fills(&format!("{family} targets on {}", dev.info()), &targeted[0][0], &exp["targets"]["result"], tol);
    assert!(notes.iter().any(|n| n.contains("\"zzzq\"")), "{family}: a target outside the vocabulary is said: {notes:?}");
}

#[test]
fn families_fill_masks_like_transformers_on_cpu() {
    for family in FAMILIES {
        block_on(check_family(family, &device::cpu(), 1e-4));
    }
}

#[test]
fn families_fill_masks_like_transformers_on_wgpu() {
    let dev = block_on(device::select(DevicePreference::Gpu)).expect("wgpu adapter required");
    assert_eq!(dev.info().kind, "wgpu");
    for family in FAMILIES {
        block_on(check_family(family, &dev, 1e-3));
    }
}

/// The fixture's one batch, masked by the collator, as a task: PyTorch's steps on it.
struct FixedBatch {
    config: webtune::models::bert::BertConfig,
    batch: MaskedBatch,
}

impl Task for FixedBatch {
    type Model = BertForMaskedLM;
    fn examples(&self) -> usize {
        self.batch.tokens.batch
    }
    fn validation_examples(&self) -> usize {
        0
    }
    fn labels(&self) -> Vec<String> {
        Vec::new()
    }
    fn lengths(&self) -> Result<Vec<usize>> {
        Ok(vec![self.batch.tokens.seq; self.batch.tokens.batch])
    }
    fn fingerprint(&self) -> String {
        String::new()
    }
    fn memory(&self, batch: usize) -> MemoryPlan {
        webtune::train::memory::plan_training(&self.config, 0, batch, self.batch.tokens.seq, None)
    }
    fn no_decay(path: &str) -> bool {
        path.ends_with(".bias") || path.contains("layer_norm.")
    }
    fn load(&self, weights: Vec<u8>, device: &burn::tensor::Device, _: WeightsOrigin) -> Result<(Self::Model, LoadReport)> {
        load_masked_lm(&self.config, weights, device)
    }
    fn loss(&self, model: &Self::Model, _: &[usize], device: &burn::tensor::Device) -> Result<(burn::tensor::Tensor<1>, usize)> {
        Ok(masked_lm_loss(model, &self.batch, device))
    }
    async fn evaluate(&self, _: &Self::Model, _: &ComputeDevice) -> Result<Evaluation> {
        unreachable!("no validation data")
    }
    fn config(&self) -> Result<Vec<u8>> {
        Ok(Vec::new())
    }
    async fn export(&self, _: &Self::Model, _: &ComputeDevice) -> Result<Vec<u8>> {
        Ok(Vec::new())
    }
}

fn rows(v: &Value) -> Vec<Vec<i64>> {
    v.as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()).collect()
}

/// The collator's batch (its masks, as PyTorch drew them) trains as in PyTorch, step by step; the
/// collator's whole-word groups are ours.
#[test]
fn families_train_on_the_collators_batch_like_pytorch() {
    let dev = device::cpu();
    for family in FAMILIES {
        let (files, exp) = fixture(family, "train-config.json");
        let config = webtune::models::bert::BertConfig::from_json(std::str::from_utf8(&files.config).unwrap()).unwrap();
        let b = &exp["batch"];
        let (ids, mask, labels) = (rows(&b["input_ids"]), rows(&b["attention_mask"]), rows(&b["labels"]));
        let seq = ids[0].len();
        let mut batch = MaskedBatch {
            tokens: Batch { input_ids: ids.concat().iter().map(|&x| x as i32).collect(), attention_mask: mask.concat().iter().map(|&x| x as i32).collect(), token_type_ids: vec![0; ids.len() * seq], batch: ids.len(), seq },
            positions: Vec::new(),
            labels: Vec::new(),
        };
        for (i, &l) in labels.concat().iter().enumerate() {
            if l >= 0 {
                batch.positions.push(i as i32);
                batch.labels.push(l as i32);
            }
        }
        let r = &exp["recipe"];
        let options = TrainOptions {
            epochs: r["steps"].as_u64().unwrap() as usize,
            batch_size: ids.len(),
            learning_rate: r["learning_rate"].as_f64().unwrap(),
            weight_decay: r["weight_decay"].as_f64().unwrap(),
            warmup_steps: Some(r["warmup_steps"].as_u64().unwrap() as usize),
            max_grad_norm: Some(r["max_grad_norm"].as_f64().unwrap()),
            log_every: 1,
            ..TrainOptions::default()
        };
        let mut events = Vec::new();
        let mut on_event = |e| events.push(e);
        block_on(trainer::run(&FixedBatch { config, batch }, files.weights.clone(), &dev, &options, None, Hooks::events(&mut on_event)))
            .unwrap_or_else(|e| panic!("{family}: {e}"));
        check_step_events(&events, exp["steps"].as_array().unwrap(), 1e-4, family);

        // whole-word groups of the unpadded texts, against the collator's
        let lm = MaskedLm::load(fixture(family, "config.json").0, &dev).unwrap();
        for (t, text) in b["texts"].as_array().unwrap().iter().enumerate() {
            let enc = lm.tokenizer.encode_offsets(text.as_str().unwrap(), 64).unwrap();
            let ours: Vec<i64> = word_groups(&enc.offsets, &enc.special).iter().map(|w| w.map_or(-1, |w| w as i64 + 1)).collect();
            assert_eq!(ours, exp["word_ids"][t].as_array().unwrap()[..ours.len()].iter().map(|x| x.as_i64().unwrap()).collect::<Vec<_>>(), "{family} text {t}: word groups");
            let original: Vec<i64> = b["original_ids"][t].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect();
            assert_eq!(enc.ids.iter().map(|&x| x as i64).collect::<Vec<_>>(), original[..enc.ids.len()].to_vec(), "{family} text {t}: ids");
        }
    }
}

/// Over many tokens, ours chooses and replaces at the collator's rates (within four standard
/// errors of its parameters, as the collator's own counts in the fixture are), never a special token.
#[test]
fn masking_statistics_match_the_collator() {
    let stats: Value = serde_json::from_slice(&std::fs::read(root().join("fill-mask/statistics.json")).unwrap()).unwrap();
    let (files, exp) = fixture("bert", "config.json");
    let lm = MaskedLm::load(files, &device::cpu()).unwrap();
    let mask_id = lm.tokenizer.token_to_id(exp["mask"].as_str().unwrap()).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (mut eligible, mut chosen, mut masked, mut kept, mut special_chosen) = (0usize, 0usize, 0usize, 0usize, 0usize);
    for _ in 0..200 {
        for text in exp["batch"]["texts"].as_array().unwrap() {
            let enc = lm.tokenizer.encode_offsets(text.as_str().unwrap(), 64).unwrap();
            let m = mask_sequence(&enc.ids, &enc.special, None, mask_id, 600, Masking::default(), &mut rng);
            for i in 0..enc.ids.len() {
                eligible += usize::from(!enc.special[i]);
                if m.labels[i] >= 0 {
                    chosen += 1;
                    special_chosen += usize::from(enc.special[i]);
                    masked += usize::from(m.inputs[i] == mask_id);
                    kept += usize::from(m.inputs[i] == enc.ids[i]);
                }
            }
        }
    }
    assert_eq!(special_chosen, 0);
    assert_eq!(stats["special_chosen"], 0);
    let within = |what: &str, got: f64, p: f64, n: usize, reference: &Value| {
        let se = (p * (1.0 - p) / n as f64).sqrt();
        assert!((got - p).abs() <= 4.0 * se, "{what}: ours {got}, parameter {p}");
        let theirs = reference.as_f64().unwrap();
        let their_se = (p * (1.0 - p) / stats["chosen"].as_f64().unwrap()).sqrt();
        assert!((theirs - p).abs() <= 4.0 * their_se.max(se), "{what}: the collator's {theirs}");
    };
    within("chosen", chosen as f64 / eligible as f64, 0.15, eligible, &stats["chosen_fraction"]);
    within("masked", masked as f64 / chosen as f64, 0.8, chosen, &stats["mask_fraction"]);
    // a random replacement can draw the original token (1 in 600): kept ≈ 0.1 + 0.1/600
    within("kept", kept as f64 / chosen as f64, 0.1, chosen, &stats["kept_fraction"]);
}

/// Adapt, then fine-tune: masked-LM training on texts lowers the held-out masked-LM loss; the
/// adapted model saves as *ForMaskedLM (the checkpoint's names), and that folder loads as a token
/// classifier with a new head (and fills masks as the trained model did).
#[test]
fn adapt_then_fine_tune() {
    let dev = device::cpu();
    let (files, exp) = fixture("bert", "train-config.json");
    let texts: Vec<String> = exp["batch"]["texts"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
    let train: Vec<String> = texts.iter().cycle().take(32).cloned().collect();
    let options = TrainOptions { epochs: 4, batch_size: 8, learning_rate: 2e-3, log_every: 1, ..TrainOptions::default() };
    let mut events = Vec::new();
    let mut on_event = |e| events.push(e);
    let trained = block_on(fine_tune_masked_lm(&files, &dev, &train, Some(&texts), Masking::default(), &options, None, Hooks::events(&mut on_event))).unwrap();
    let losses: Vec<f64> = events
        .iter()
        .filter_map(|e| match e {
            webtune::train::Event::Eval { metrics, .. } => metrics.get("loss"),
            _ => None,
        })
        .collect();
    assert_eq!(losses.len(), 4);
    assert!(losses.windows(2).all(|w| w[1] < w[0]) && losses[3] < losses[0] - 0.2, "held-out masked-LM loss falls: {losses:?}");
    let lm = trained.into_masked_lm(&files).unwrap();
    let mut notes = Vec::new();
    let before = block_on(lm.fill(&[exp["texts"][0].as_str().unwrap()], 3, None, &mut notes)).unwrap();
    let exported = block_on(lm.export()).unwrap();
    let names = |bytes: &[u8]| Inventory::read(bytes, "model").unwrap().tensors.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&exported.weights), names(&files.weights), "the export has the checkpoint's tensor names");
    let config: Value = serde_json::from_slice(&exported.config).unwrap();
    assert_eq!(config["architectures"][0], "BertForMaskedLM");
    let again = MaskedLm::load(ModelFiles { config: exported.config.clone(), weights: exported.weights.clone(), tokenizer: exported.tokenizer.clone() }, &dev).unwrap();
    let after = block_on(again.fill(&[exp["texts"][0].as_str().unwrap()], 3, None, &mut notes)).unwrap();
    assert_eq!(after[0][0].iter().map(|f| f.token).collect::<Vec<_>>(), before[0][0].iter().map(|f| f.token).collect::<Vec<_>>());
    let tagger = TokenClassifier::load(exported, &dev).unwrap();
    assert!(tagger.report.warnings.iter().any(|w| w.contains("classifier is not in the checkpoint")), "{:?}", tagger.report.warnings);
    assert!(!tagger.report.warnings.iter().any(|w| w.contains("ignored")), "the masked-LM head is known, not an unknown tensor: {:?}", tagger.report.warnings);
}
