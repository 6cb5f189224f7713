//! Fine-tuning a classifier: step-by-step parity with PyTorch (CPU and wgpu), learning, export to
//! the Hugging Face layout, early stopping, cancellation and bad options.

mod common;

use std::cell::Cell;

use common::training::{check_steps_match_pytorch, dataset, fixture, recipe};
use pollster::block_on;
use webtune::{
    DevicePreference, Error, device,
    infer::{Encoder, ModelFiles},
    train::{Event, StopReason, TrainOptions, evaluate, fine_tune},
};

#[test]
fn fine_tuning_matches_pytorch_step_by_step_on_cpu() {
    block_on(check_steps_match_pytorch(&device::cpu(), 1e-4));
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
    let trained = block_on(fine_tune(
        &files,
        &device::cpu(),
        &data,
        Some(&data),
        &options,
        &mut |e| {
            if matches!(e, Event::Step { .. }) {
                steps.set(steps.get() + 1);
            }
            events.push(e)
        },
        &|| cancel_after.is_some_and(|n| steps.get() >= n),
    ))
    .unwrap();
    (events, trained)
}

fn losses(events: &[Event]) -> Vec<f64> {
    events.iter().filter_map(|e| if let Event::Step { loss, .. } = e { Some(*loss) } else { None }).collect()
}

#[test]
fn training_learns_and_the_export_loads_back_with_the_same_outputs() {
    let (files, expected) = fixture();
    let options = TrainOptions { epochs: 15, batch_size: 4, learning_rate: 2e-3, log_every: 3, warmup_ratio: Some(0.1), ..TrainOptions::default() };
    let (events, trained) = train(options, None);
    let l = losses(&events);
    assert!(l.last().unwrap() < &(l[0] * 0.5), "training loss must halve: {l:?}");
    let evals: Vec<f64> = events.iter().filter_map(|e| if let Event::Eval { metrics, .. } = e { Some(metrics.accuracy) } else { None }).collect();
    assert_eq!(evals.len(), 15, "one evaluation per epoch");
    assert!(evals.iter().cloned().fold(0.0, f64::max) >= 0.9, "accuracy on the training rows: {evals:?}");
    let Some(Event::Done { restored_best: true, best: Some(best), .. }) = events.last() else { panic!("{:?}", events.last()) };
    assert_eq!(best.metric, "accuracy");

    let data = dataset(&expected);
    let before = block_on(evaluate(&trained.model, &trained.device, &trained.tokenizer, &data, 64, 5)).unwrap();
    let out: ModelFiles = block_on(Encoder::from_trained(trained, &files).export()).unwrap();
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
}

#[test]
fn early_stopping_and_cancellation() {
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
    let (files, expected) = fixture();
    let data = dataset(&expected);
    let run = |o: TrainOptions| block_on(fine_tune(&files, &device::cpu(), &data, None, &o, &mut |_| {}, &|| false));
    match run(TrainOptions { metric: "f1".into(), ..recipe(&expected, 4) }) {
        Err(Error::Options(m)) => assert!(m.contains("macro_f1"), "{m}"),
        other => panic!("{:?}", other.err()),
    }
    match run(TrainOptions { batch_size: 0, ..TrainOptions::default() }) {
        Err(Error::Options(m)) => assert!(m.contains("batchSize"), "{m}"),
        other => panic!("{:?}", other.err()),
    }
}
