//! Fine-tuning a classifier: step-by-step parity with PyTorch (CPU and wgpu), learning, export to
//! the Hugging Face layout, early stopping, cancellation, checkpoint + resume, divergence and bad
//! options.
#![cfg(not(target_family = "wasm"))] // native only: the browser suite is tests/browser.rs

mod common;

use std::cell::{Cell, RefCell};

use common::{cpu_turn, training::{check_steps_match_pytorch, check_steps_match_pytorch_with, dataset, fixture, recipe}};
use pollster::block_on;
use webtune::{
    DevicePreference, Error, device,
    infer::{Encoder, ModelFiles},
    infer::evaluation::evaluate_classifier as evaluate,
    train::{Checkpoint, Event, Hooks, StopReason, TrainOptions, fine_tune_classifier},
};


#[test]
fn fine_tuning_matches_pytorch_step_by_step_on_cpu() {
    let _turn = cpu_turn();
    block_on(check_steps_match_pytorch(&device::cpu(), 1e-4));
}

#[test]
fn fine_tuning_with_gradient_checkpointing_still_matches_pytorch_step_by_step() {
    // activations recomputed in the backward pass give the same steps (the fixture has no dropout)
    let _turn = cpu_turn();
    block_on(check_steps_match_pytorch_with(&device::cpu(), 1e-4, true));
}

#[test]
fn fine_tuning_matches_pytorch_step_by_step_on_wgpu() {
    let dev = block_on(device::select(DevicePreference::Gpu)).expect("wgpu adapter required");
    assert_eq!(dev.info().kind, "wgpu");
    block_on(check_steps_match_pytorch(&dev, 1e-3));
}

/// Trains on the fixture rows (also used as validation) and returns the events and the export.
fn train(options: TrainOptions, cancel_after: Option<usize>) -> (Vec<Event>, webtune::train::Trained) {
    let (files, expected) = fixture();
    let data = dataset(&expected);
    let steps = Cell::new(0);
    let mut events = Vec::new();
    let mut on_event = |e| {
        if matches!(e, Event::Step { .. }) {
            steps.set(steps.get() + 1);
        }
        events.push(e)
    };
    let cancelled = || cancel_after.is_some_and(|n| steps.get() >= n);
    let hooks = Hooks { on_event: &mut on_event, on_checkpoint: None, cancelled: &cancelled };
    let trained = block_on(fine_tune_classifier(&files, &device::cpu(), &data, Some(&data), &options, None, hooks)).unwrap();
    (events, trained)
}

fn losses(events: &[Event]) -> Vec<f64> {
    events.iter().filter_map(|e| if let Event::Step { loss, .. } = e { Some(*loss) } else { None }).collect()
}

#[test]
fn training_learns_and_the_export_loads_back_with_the_same_outputs() {
    let _turn = cpu_turn();
    let (files, expected) = fixture();
    let options = TrainOptions { epochs: 15, batch_size: 4, learning_rate: 2e-3, log_every: 3, warmup_ratio: Some(0.1), ..TrainOptions::default() };
    let (events, trained) = train(options, None);
    let l = losses(&events);
    assert!(l.last().unwrap() < &(l[0] * 0.5), "training loss must halve: {l:?}");
    let evals: Vec<f64> = events.iter().filter_map(|e| if let Event::Eval { metrics, .. } = e { metrics.get("accuracy") } else { None }).collect();
    assert_eq!(evals.len(), 15, "one evaluation per epoch");
    assert!(evals.iter().cloned().fold(0.0, f64::max) >= 0.9, "accuracy on the training rows: {evals:?}");
    let Some(Event::Done { restored_best: true, best: Some(best), .. }) = events.last() else { panic!("{:?}", events.last()) };
    assert_eq!(best.metric, "accuracy");

    let data = dataset(&expected);
    let before = block_on(evaluate(&trained.model, &trained.device, &trained.tokenizer, &data, 64, 5)).unwrap();
    let out: ModelFiles = block_on(trained.into_encoder(&files).export()).unwrap();
    let st = safetensors::SafeTensors::deserialize(&out.weights).unwrap();
    for (key, shape) in [
        ("bert.encoder.layer.0.attention.self.query.weight", vec![32, 32]),
        ("bert.encoder.layer.1.output.LayerNorm.weight", vec![32]),
        ("bert.embeddings.word_embeddings.weight", vec![600, 32]),
        ("bert.encoder.layer.0.intermediate.dense.weight", vec![37, 32]),
        ("bert.pooler.dense.bias", vec![32]),
        ("classifier.weight", vec![3, 32]),
    ] {
        assert_eq!(st.tensor(key).unwrap_or_else(|e| panic!("{key}: {e}")).shape(), shape.as_slice(), "{key}");
    }
    let config: serde_json::Value = serde_json::from_slice(&out.config).unwrap();
    assert_eq!(config["id2label"]["2"], "positive");
    assert_eq!(config["architectures"][0], "BertForSequenceClassification");
    assert_eq!(config["hidden_size"], 32, "other fields are kept");

    // the exported folder, loaded like any checkpoint, evaluates exactly like the trained model
    let enc = Encoder::load(out, &device::cpu()).unwrap();
    assert!(enc.report.warnings.is_empty(), "{:?}", enc.report.warnings);
    let after = block_on(evaluate(&enc.model, &enc.device, &enc.tokenizer, &data, 64, 5)).unwrap();
    assert_eq!(before.confusion_matrix, after.confusion_matrix);
    assert!((before.loss.unwrap() - after.loss.unwrap()).abs() < 1e-6, "{before:?} vs {after:?}");
    // the examples it gets wrong: as many as the confusion matrix's off-diagonal counts, each
    // naming its row, true label and the (more likely) predicted one
    let wrong: usize = (0..3).flat_map(|t| (0..3).filter(move |&p| p != t).map(move |p| (t, p))).map(|(t, p)| after.confusion_matrix[t][p]).sum();
    assert_eq!(after.mistakes.len(), wrong.min(webtune::infer::metrics::MAX_MISTAKES));
    for m in &after.mistakes {
        let row = data.examples.iter().find(|e| e.origin == m.origin).expect("a mistake names its row");
        assert_eq!((m.text.as_str(), m.label.as_str()), (row.text.as_str(), data.labels.names[row.label].as_str()));
        assert!(m.predicted != m.label && m.score > 1.0 / 3.0 - 1e-6, "{m:?}");
    }
}

#[test]
fn early_stopping_and_cancellation() {
    let _turn = cpu_turn();
    // a learning rate too small to change any prediction: accuracy never improves after the first eval
    let options = TrainOptions { epochs: 10, batch_size: 4, learning_rate: 1e-12, eval_every: Some(1), early_stopping_patience: Some(2), ..TrainOptions::default() };
    let (events, trained) = train(options, None);
    assert_eq!(trained.stop_reason, StopReason::EarlyStopped);
    assert_eq!(trained.steps, 3, "best at step 1, then 2 evaluations without improvement");
    assert!(
        matches!(events.last(), Some(Event::Done { stop_reason: StopReason::EarlyStopped, restored_best: true, best: Some(b), .. }) if b.step == 1),
        "{:?}",
        events.last()
    );

    let (events2, trained) = train(TrainOptions { epochs: 10, batch_size: 4, log_every: 1, ..TrainOptions::default() }, Some(2));
    assert_eq!(trained.stop_reason, StopReason::Cancelled);
    assert_eq!(trained.steps, 2, "cancellation is checked between steps");
    assert!(matches!(events2.last(), Some(Event::Done { stop_reason: StopReason::Cancelled, .. })));
}

#[test]
fn bad_options_are_clear_errors() {
    let _turn = cpu_turn();
    let (files, expected) = fixture();
    let data = dataset(&expected);
    let run = |o: TrainOptions| block_on(fine_tune_classifier(&files, &device::cpu(), &data, None, &o, None, Hooks::events(&mut |_| {})));
    match run(TrainOptions { metric: Some("f1".into()), ..recipe(&expected, 4) }) {
        Err(Error::Options(m)) => assert!(m.contains("macro_f1"), "{m}"),
        other => panic!("{:?}", other.err()),
    }
    match run(TrainOptions { batch_size: 0, ..TrainOptions::default() }) {
        Err(Error::Options(m)) => assert!(m.contains("batchSize"), "{m}"),
        other => panic!("{:?}", other.err()),
    }
    match run(TrainOptions { max_grad_norm: Some(-1.0), ..TrainOptions::default() }) {
        Err(Error::Options(m)) => assert!(m.contains("maxGradNorm") && m.contains("0 or null: no clipping"), "{m}"),
        other => panic!("{:?}", other.err()),
    }
    // a warmup as long as the run is allowed, with a warning in the start event
    let mut warnings = Vec::new();
    let o = TrainOptions { epochs: 1, warmup_steps: Some(1000), ..recipe(&expected, 4) };
    block_on(fine_tune_classifier(&files, &device::cpu(), &data, None, &o, None, Hooks::events(&mut |e| {
        if let Event::Start { warnings: w, .. } = e {
            warnings = w;
        }
    })))
    .unwrap();
    assert!(warnings.iter().any(|w| w.contains("warmup (1000 steps) is as long as the whole run")), "{warnings:?}");
}

/// tiny-cls3 as published (dropout 0.1), so that the resumed run must also redraw the same dropout.
fn files_with_dropout() -> ModelFiles {
    let (mut files, _) = fixture();
    files.config = std::fs::read(common::parity::fixture_path("tiny-cls3/config.json")).unwrap();
    files
}

/// Runs to the end on the CPU, keeping every checkpoint; returns them with the final weights (exported).
fn run_with_checkpoints(
    files: &ModelFiles,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
    cancel_at_step: Option<usize>,
) -> (Vec<Checkpoint>, Vec<u8>, Vec<Event>) {
    run_on_with_checkpoints(&device::cpu(), files, options, resume, cancel_at_step)
}

/// [`run_with_checkpoints`] on `device`.
fn run_on_with_checkpoints(
    device: &webtune::ComputeDevice,
    files: &ModelFiles,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
    cancel_at_step: Option<usize>,
) -> (Vec<Checkpoint>, Vec<u8>, Vec<Event>) {
    let (_, expected) = fixture();
    let data = dataset(&expected);
    let kept = RefCell::new(Vec::new());
    let mut events = Vec::new();
    let last_step = Cell::new(0);
    let mut on_event = |e: Event| {
        if let Event::Checkpoint { step, .. } = e {
            last_step.set(step);
        }
        events.push(e)
    };
    let mut on_checkpoint = |c: &Checkpoint| {
        kept.borrow_mut().push(c.clone());
        Ok(())
    };
    let cancelled = || cancel_at_step.is_some_and(|n| last_step.get() >= n);
    let hooks = Hooks { on_event: &mut on_event, on_checkpoint: Some(&mut on_checkpoint), cancelled: &cancelled };
    let trained = block_on(fine_tune_classifier(files, device, &data, Some(&data), options, resume, hooks)).unwrap();
    let out = block_on(trained.into_encoder(files).export()).unwrap();
    (kept.into_inner(), out.weights, events)
}

#[test]
fn a_checkpoint_written_on_the_gpu_resumes_on_the_cpu_and_ends_like_the_gpu_run() {
    // the fixture's dropout-0 config, so that both devices compute the same steps
    let (files, _) = fixture();
    let gpu = block_on(device::select(DevicePreference::Gpu)).expect("wgpu adapter required");
    assert_eq!(gpu.info().kind, "wgpu");
    let options = TrainOptions { epochs: 3, batch_size: 4, learning_rate: 2e-3, warmup_ratio: Some(0.2), checkpoint_every: Some(3), log_every: 1, ..TrainOptions::default() };
    let (checkpoints, _, on_gpu) = run_on_with_checkpoints(&gpu, &files, &options, None, None);
    assert_eq!(checkpoints.iter().map(|c| c.state.step).collect::<Vec<_>>(), [3, 6, 9]);
    let saved = checkpoints[0].files().unwrap();
    let loaded = Checkpoint::from_files(|name| saved.iter().find(|(n, _)| *n == name).map(|(_, b)| b.clone())).unwrap();
    let _turn = cpu_turn();
    let (_, _, resumed) = run_on_with_checkpoints(&device::cpu(), &files, &options, Some(&loaded), None);
    let after = |events: &[Event]| -> Vec<(usize, f64)> {
        events.iter().filter_map(|e| if let Event::Step { step, loss, .. } = e { (*step > 3).then_some((*step, *loss)) } else { None }).collect()
    };
    let (want, got) = (after(&on_gpu), after(&resumed));
    assert_eq!(got.iter().map(|s| s.0).collect::<Vec<_>>(), (4..=9).collect::<Vec<_>>(), "the resumed run continues after step 3");
    for ((step, g), (_, c)) in want.iter().zip(&got) {
        assert!(c.is_finite() && (g - c).abs() <= 5e-3 * g.abs().max(1.0), "step {step}: wgpu {g}, resumed on the CPU {c}");
    }
}

#[test]
fn a_run_resumed_from_a_checkpoint_ends_exactly_like_an_uninterrupted_one() {
    let _turn = cpu_turn();
    let files = files_with_dropout();
    // 3 epochs of 3 steps, checkpoints every 2 steps: step 4 is mid-epoch, after an evaluation.
    let options = TrainOptions {
        epochs: 3,
        batch_size: 4,
        learning_rate: 2e-3,
        warmup_ratio: Some(0.2),
        eval_every: Some(2),
        checkpoint_every: Some(2),
        log_every: 1,
        ..TrainOptions::default()
    };
    let (checkpoints, straight, _) = run_with_checkpoints(&files, &options, None, None);
    assert_eq!(checkpoints.iter().map(|c| c.state.step).collect::<Vec<_>>(), [2, 4, 6, 8]);

    // a crash after step 4: the files of its checkpoint are all a later session has
    let (_, _, stopped) = run_with_checkpoints(&files, &options, None, Some(4));
    assert!(matches!(stopped.last(), Some(Event::Done { stop_reason: StopReason::Cancelled, steps: 4, .. })));
    let saved: Vec<(&str, Vec<u8>)> = checkpoints[1].files().unwrap();
    let names: Vec<&str> = saved.iter().map(|(n, _)| *n).collect();
    for n in ["config.json", "model.safetensors", "optimizer.safetensors", "trainer_state.json"] {
        assert!(names.contains(&n), "{names:?}");
    }
    let loaded = Checkpoint::from_files(|name| saved.iter().find(|(n, _)| *n == name).map(|(_, b)| b.clone())).unwrap();
    assert_eq!((loaded.state.epoch, loaded.state.window), (1, 1), "step 4 = epoch 1, second step");

    // a damaged position (a step this run never reaches) is refused before any step
    let mut damaged = loaded.clone();
    damaged.state.step = 1_000_000_000_000_000;
    let (_, expected) = fixture();
    let refused = block_on(fine_tune_classifier(&files, &device::cpu(), &dataset(&expected), None, &options, Some(&damaged), Hooks::events(&mut |_| {})));
    match refused {
        Err(Error::Data(m)) => assert!(m.contains("not one of this run's 9 optimizer steps") && m.contains("damaged"), "{m}"),
        other => panic!("expected a data error, got {:?}", other.err()),
    }
    // damaged optimizer state: a NaN moment, a moment of the wrong size, moments without the step
    // counts in the metadata (which named them: none is read)
    use webtune::train::checkpoint::{optimizer_from_bytes, optimizer_to_bytes};
    let damaged_state = |damage: fn(&mut webtune::train::optimizer::SavedState)| {
        let mut state = optimizer_from_bytes(&loaded.optimizer).unwrap();
        damage(&mut state);
        optimizer_to_bytes(state).unwrap()
    };
    let no_steps = webtune::weights::export::f32_safetensors(vec![("classifier.weight.exp_avg".into(), vec![1], vec![0.0])], Default::default()).unwrap();
    let damages = [
        (damaged_state(|s| s.0.values_mut().next().unwrap().1[0] = f32::NAN), "hold NaN"),
        (damaged_state(|s| { s.0.values_mut().next().unwrap().2.pop(); }), "but the parameter has"),
        (no_steps, "holds no moments, but the run is at step 4"),
    ];
    for (optimizer, needle) in damages {
        let damaged = Checkpoint { optimizer, ..loaded.clone() };
        match block_on(fine_tune_classifier(&files, &device::cpu(), &dataset(&expected), None, &options, Some(&damaged), Hooks::events(&mut |_| {}))) {
            Err(Error::Weights(m)) => assert!(m.contains("optimizer.safetensors") && m.contains(needle), "{m}"),
            other => panic!("expected a weights error for {needle:?}, got {:?}", other.err()),
        }
    }

    let (_, resumed, events) = run_with_checkpoints(&files, &options, Some(&loaded), None);
    let first_step = events.iter().find_map(|e| if let Event::Step { step, .. } = e { Some(*step) } else { None });
    assert_eq!(first_step, Some(5), "the resumed run continues at step 5");
    let (a, b) = (safetensors::SafeTensors::deserialize(&straight).unwrap(), safetensors::SafeTensors::deserialize(&resumed).unwrap());
    for (name, t) in a.tensors() {
        let what = format!("resumed run's {name} against the uninterrupted run's");
        common::parity::assert_close(&what, &common::parity::f32s(b.tensor(&name).unwrap().data()), &common::parity::f32s(t.data()), 1e-6);
    }

    // the checkpoint's model.safetensors is a Hugging Face checkpoint webtune (and transformers) loads
    let enc = Encoder::load(ModelFiles { config: loaded.config.clone(), weights: loaded.weights.clone(), tokenizer: files.tokenizer.clone() }, &device::cpu()).unwrap();
    assert!(enc.report.warnings.is_empty(), "{:?}", enc.report.warnings);

    // other options or other data are refused, naming what differs
    let other = TrainOptions { learning_rate: 1e-3, ..options.clone() };
    let (_, expected) = fixture();
    let data = dataset(&expected);
    match block_on(fine_tune_classifier(&files, &device::cpu(), &data, None, &other, Some(&loaded), Hooks::events(&mut |_| {}))) {
        Err(Error::Options(m)) => assert!(m.contains("learningRate"), "{m}"),
        r => panic!("{:?}", r.err()),
    }
    let mut fewer = data.clone();
    fewer.examples.pop();
    match block_on(fine_tune_classifier(&files, &device::cpu(), &fewer, None, &options, Some(&loaded), Hooks::events(&mut |_| {}))) {
        Err(Error::Data(m)) => assert!(m.contains("training data differs"), "{m}"),
        r => panic!("{:?}", r.err()),
    }
    assert!(matches!(Checkpoint::from_files(|n| (n != "optimizer.safetensors").then(|| saved.iter().find(|(m, _)| *m == n).map(|(_, b)| b.clone())).flatten()), Err(Error::Weights(m)) if m.contains("optimizer.safetensors")));
}

#[test]
fn nan_losses_skip_their_updates_and_then_stop_the_run_with_the_weights_intact() {
    let _turn = cpu_turn();
    // a classifier row of the largest finite f32 (NaN itself is refused at load) overflows every
    // logit to ±inf, so every loss is NaN
    let (mut files, expected) = fixture();
    let original = files.weights.clone();
    let st = safetensors::SafeTensors::deserialize(&original).unwrap();
    let mut tensors: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> =
        st.tensors().into_iter().map(|(n, t)| (n, t.dtype(), t.shape().to_vec(), t.data().to_vec())).collect();
    let head = tensors.iter_mut().find(|t| t.0 == "classifier.weight").unwrap();
    let row = head.2[1] * 4;
    for value in head.3[..row].chunks_exact_mut(4) {
        value.copy_from_slice(&f32::MAX.to_le_bytes());
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    files.weights = safetensors::serialize(views, None).unwrap();
    let data = dataset(&expected);
    let mut events = Vec::new();
    // bad steps are cancelled on the device and noticed at log points: one every 5 steps here
    let options = TrainOptions { epochs: 10, batch_size: 4, log_every: 5, ..TrainOptions::default() };
    let trained = block_on(fine_tune_classifier(&files, &device::cpu(), &data, None, &options, None, Hooks::events(&mut |e| events.push(e)))).unwrap();
    assert_eq!(trained.stop_reason, StopReason::Diverged);
    let skipped: Vec<usize> = events.iter().filter_map(|e| if let Event::SkippedStep { step, .. } = e { Some(*step) } else { None }).collect();
    assert_eq!(skipped, [1, 2, 3, 4, 5], "every bad step is reported, and the run stops after 5 in a row");
    let Some(Event::Done { stop_reason: StopReason::Diverged, message: Some(m), .. }) = events.last() else { panic!("{:?}", events.last()) };
    assert!(m.contains("learningRate"), "{m}");
    // no update reached the weights: the encoder is still the checkpoint's
    let out = block_on(trained.into_encoder(&files).export()).unwrap();
    let (a, b) = (st.tensor("bert.encoder.layer.0.attention.self.query.weight").unwrap(), safetensors::SafeTensors::deserialize(&out.weights).unwrap());
    assert_eq!(a.data(), b.tensor("bert.encoder.layer.0.attention.self.query.weight").unwrap().data());
}
