//! Fine-tuning a BERT-family sequence classifier: the async training loop (the same code natively
//! and in the browser) and evaluation.
//!
//! GPU values are read back only where an event needs them: the loss and gradient norm every
//! `logEvery` steps, predictions at evaluation. Everything else stays queued on the device.

use burn::{
    module::Module,
    nn::loss::CrossEntropyLossConfig,
    optim::{GradientsAccumulator, GradientsParams},
    tensor::{Bool, Int, Tensor, TensorData},
};
use web_time::Instant;

use super::{
    Best, Checkpoint, Event, LrSchedule, Metrics, StopReason, TrainOptions, TrainerState,
    checkpoint::{fingerprint, optimizer_from_bytes, optimizer_to_bytes},
    clip::{clip_global_norm, global_norm},
    optimizer::AdamW,
    options::Mode,
    schedule::warmup_steps,
};
use crate::{
    ComputeDevice, Error, Result,
    data::{Dataset, epoch_order, labels::same_set, make_batch, token_lengths},
    infer::{ModelFiles, batch_tensors},
    models::{bert::BertConfig, heads::BertForSequenceClassification},
    tokenizer::TextTokenizer,
    weights::bert,
};

/// Parameters without weight decay (HF: biases and LayerNorm weights).
fn no_decay(path: &str) -> bool {
    path.ends_with(".bias") || path.contains("layer_norm.")
}

/// Steps in a row with a NaN/infinite loss or gradient after which a run stops ("diverged"). Such
/// steps are cancelled on the device as they happen; they are noticed at the next log point.
const MAX_BAD_STEPS: usize = 5;

/// What a run tells its caller while it runs, and how the caller stops it.
pub struct Hooks<'a> {
    /// Every [`Event`].
    pub on_event: &'a mut dyn FnMut(Event),
    /// Every `checkpointEvery` steps: a checkpoint to keep (an error stops the run). Without
    /// it, no checkpoint is made.
    pub on_checkpoint: Option<&'a mut dyn FnMut(&Checkpoint) -> Result<()>>,
    /// Polled between steps.
    pub cancelled: &'a dyn Fn() -> bool,
}

impl Hooks<'_> {
    /// For runs that do not checkpoint and are not cancelled.
    pub fn events(on_event: &mut dyn FnMut(Event)) -> Hooks<'_> {
        Hooks { on_event, on_checkpoint: None, cancelled: &|| false }
    }
}

/// A fine-tuned classifier, on the inference (non-autodiff) device.
pub struct Trained {
    pub model: BertForSequenceClassification,
    pub device: ComputeDevice,
    pub config: BertConfig,
    pub tokenizer: TextTokenizer,
    /// The `done` event's content.
    pub stop_reason: StopReason,
    pub steps: usize,
    pub best: Option<Best>,
}

/// Fine-tunes the checkpoint in `files` on `train`, evaluating on `validation` (if any) every
/// `eval_every` steps and at each epoch end. With `resume`, continues a run from its checkpoint
/// (same options and data required) with the result an uninterrupted run would have had.
pub async fn fine_tune(
    files: &ModelFiles,
    device: &ComputeDevice,
    train: &Dataset,
    validation: Option<&Dataset>,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
    hooks: Hooks<'_>,
) -> Result<Trained> {
    let Hooks { on_event, mut on_checkpoint, cancelled } = hooks;
    options.validate()?;
    let started = Instant::now();
    // A resumed run starts from the checkpoint's weights (its config holds the run's labels).
    let (config_bytes, weights) = match resume {
        Some(c) => (&c.config, &c.weights),
        None => (&files.config, &files.weights),
    };
    let text = std::str::from_utf8(config_bytes).map_err(|_| Error::Weights("config.json is not UTF-8 text".into()))?;
    let config = BertConfig::from_json(text)?;
    // A checkpoint whose classifier already knows these classes keeps its ids for them.
    let model_labels = config.labels();
    let keeps_head = same_set(&model_labels, &train.labels.names);
    let order = if keeps_head { &model_labels } else { &train.labels.names };
    let train = &train.clone().reorder_labels(order)?;
    let validation = validation.map(|v| v.clone().reorder_labels(order)).transpose()?;
    let validation = validation.as_ref();
    let labels = train.labels.names.clone();
    let new_head = !keeps_head && !default_head_for(&model_labels, labels.len());
    let config = config.with_labels(&labels);
    let max_length = options.max_length.min(config.max_position_embeddings);
    let tokenizer = TextTokenizer::from_bytes(&files.tokenizer)?;
    if let Some(v) = validation
        && v.labels.names != labels
    {
        return Err(Error::Data("the validation data must use the training data's labels".into()));
    }

    // Refused before anything is allocated: a plan the device cannot hold would lose it mid-run.
    let memory = super::memory::plan_training(&config, labels.len(), options.batch_size.min(train.len()), max_length);
    super::memory::check(&memory, device.info())?;

    let ad = device.with_autodiff();
    ad.device().seed(options.seed);
    let (mut model, report) = bert::load_classifier_with(&config, weights.clone(), ad.device(), new_head)?;
    let ce = CrossEntropyLossConfig::new().init(ad.device());

    let lengths = if options.group_by_length {
        token_lengths(&train.examples, &tokenizer, max_length)?
    } else {
        vec![0; train.len()]
    };
    let batches_per_epoch = train.len().div_ceil(options.batch_size);
    let steps_per_epoch = batches_per_epoch.div_ceil(options.grad_accum);
    let total_steps = steps_per_epoch * options.epochs;
    let schedule = LrSchedule {
        kind: options.schedule,
        peak: options.learning_rate,
        warmup_steps: warmup_steps(options.warmup_steps, options.warmup_ratio, total_steps)?,
        total_steps,
    };
    let mut optim = AdamW::new(options.weight_decay, no_decay);
    let eval_device = device.without_autodiff();
    let mut tracker = BestTracker::new(options);
    let (mut step, mut start) = (0, (0, 0));
    if let Some(c) = resume {
        c.check_resumable(options, train)?;
        optim.load(optimizer_from_bytes(&c.optimizer)?, ad.device());
        (step, start) = (c.state.step, (c.state.epoch, c.state.window));
        tracker.best = c.state.best.clone();
        tracker.bad_evals = c.state.bad_evals;
        if let Some(b) = &c.best_weights {
            tracker.best_model = Some(bert::load_classifier_with(&config, b.clone(), eval_device.device(), false)?.0);
        }
    }

    on_event(Event::Start {
        device: ad.info().clone(),
        labels: labels.clone(),
        train_examples: train.len(),
        validation_examples: validation.map_or(0, Dataset::len),
        epochs: options.epochs,
        steps_per_epoch,
        total_steps,
        warmup_steps: schedule.warmup_steps,
        warnings: report.warnings,
        memory,
    });

    let epoch_of = |step: usize| step as f64 / steps_per_epoch as f64;
    let mut stop = StopReason::Finished;
    let mut message = None;
    let mut streak = BadStreak::default();
    let mut log = LogWindow::new();
    let mut accum = GradientsAccumulator::<BertForSequenceClassification>::new();

    'epochs: for epoch in start.0..options.epochs {
        let order = epoch_order(&lengths, options.batch_size, options.seed, epoch, options.group_by_length);
        let windows: Vec<&[Vec<usize>]> = order.chunks(options.grad_accum).collect();
        let skip = if epoch == start.0 { start.1 } else { 0 };
        for (w, window) in windows.iter().enumerate().skip(skip) {
            crate::device::yield_now().await; // the page stays responsive, and an abort gets through
            if cancelled() {
                stop = StopReason::Cancelled;
                break 'epochs;
            }
            // Dropout draws depend on the step only, so a resumed run draws what it would have.
            ad.device().seed(options.seed ^ (step as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let mut grads = GradientsParams::new();
            let mut window_loss: Option<Tensor<1>> = None;
            for (i, rows) in window.iter().enumerate() {
                let b = make_batch(&train.examples, rows, &tokenizer, max_length)?;
                log.tokens += b.tokens.attention_mask.iter().filter(|&&m| m != 0).count();
                let [ids, types, mask] = batch_tensors(&b.tokens, ad.device());
                let y = Tensor::<1, Int>::from_data(TensorData::new(b.labels, [rows.len()]), ad.device());
                let loss = ce.forward(model.forward(ids, types, mask), y).div_scalar(window.len() as f64);
                let detached = loss.clone().detach();
                window_loss = Some(match window_loss.take() {
                    Some(l) => l + detached,
                    None => detached,
                });
                let g = GradientsParams::from_grads(loss.backward(), &model);
                if window.len() == 1 {
                    grads = g;
                } else {
                    accum.accumulate(&model, g);
                    if i + 1 == window.len() {
                        grads = accum.grads();
                    }
                }
            }
            let logs = (step + 1) % options.log_every == 0 || step + 1 == total_steps;
            let norm = match options.max_grad_norm {
                Some(max) => clip_global_norm(&model, &mut grads, max),
                None if logs => global_norm(&model, &grads), // only reported, so only when logged
                None => None,
            };
            let lr = schedule.lr(step);
            // A NaN/infinite loss or gradient must not reach the weights: the update is cancelled
            // on the device, with no read here (it is reported at the next log point).
            let window_loss = window_loss.expect("a window has batches");
            let applied = match &norm {
                Some(n) => (window_loss.clone() + n.clone()).is_finite(),
                None => window_loss.clone().is_finite(),
            };
            // On the CPU a read costs nothing (there is no GPU queue to wait for), and a step known
            // to be finite skips the masked copies of every parameter (~140 ms of a MiniLM step).
            let known_finite = !ad.info().is_gpu() && ad.read(applied.clone()).await?.iter::<bool>().all(|a| a);
            let mask = if known_finite { None } else { Some(applied.clone()) };
            model = optim.step(lr, model, grads, mask);
            step += 1;
            log.push(step, window_loss, applied);

            if logs {
                let read = log.read(&ad, norm).await?;
                if let Some(event) = read.step_event(total_steps, epoch_of(step), lr) {
                    on_event(event);
                }
                if let Some(m) = streak.report(&read, on_event, options.learning_rate) {
                    (stop, message) = (StopReason::Diverged, Some(m));
                    break 'epochs;
                }
            }
            let at_epoch_end = step % steps_per_epoch == 0;
            let scheduled = options.eval_every.is_some_and(|n| step % n == 0);
            if let Some(v) = validation
                && (at_epoch_end || scheduled)
            {
                let eval_started = Instant::now();
                let snapshot = model.valid();
                let metrics = evaluate(&snapshot, &eval_device, &tokenizer, v, max_length, options.batch_size).await?;
                log.since += eval_started.elapsed(); // step timings exclude evaluation
                let is_best = tracker.observe(&metrics, step, || snapshot.clone());
                on_event(Event::Eval { step, epoch: epoch_of(step), metrics, is_best });
                if tracker.patience_exhausted() {
                    stop = StopReason::EarlyStopped;
                    break 'epochs;
                }
            }
            if let Some(on_checkpoint) = on_checkpoint.as_deref_mut()
                && options.checkpoint_every.is_some_and(|n| step % n == 0)
            {
                let (epoch, window) = if w + 1 == windows.len() { (epoch + 1, 0) } else { (epoch, w + 1) };
                let state = TrainerState {
                    format: super::checkpoint::FORMAT,
                    step,
                    epoch,
                    window,
                    options: options.clone(),
                    train_examples: train.len(),
                    data_fingerprint: fingerprint(train),
                    best: tracker.best.clone(),
                    bad_evals: tracker.bad_evals,
                };
                let checkpoint = Checkpoint {
                    state,
                    config: bert::export_config(config_bytes, &labels)?,
                    weights: bert::export_classifier(&model.valid(), &eval_device).await?,
                    optimizer: optimizer_to_bytes(optim.save(&ad).await?)?,
                    best_weights: match &tracker.best_model {
                        Some(b) => Some(bert::export_classifier(b, &eval_device).await?),
                        None => None,
                    },
                };
                on_checkpoint(&checkpoint)?;
                on_event(Event::Checkpoint { step, epoch: epoch_of(step) });
            }
        }
    }

    if !log.steps.is_empty() {
        // stopped between log points: the steps since the last one may still have been skipped
        let read = log.read(&ad, None).await?;
        streak.report(&read, on_event, options.learning_rate);
    }
    let (model, restored_best) = match tracker.best_model.take() {
        Some(best) if options.keep_best => (best, true),
        _ => (model.valid(), false),
    };
    on_event(Event::Done {
        steps: step,
        stop_reason: stop,
        best: tracker.best.clone(),
        restored_best,
        seconds: started.elapsed().as_secs_f64(),
        message,
    });
    Ok(Trained { model, device: eval_device, config, tokenizer, stop_reason: stop, steps: step, best: tracker.best })
}

/// Whether a checkpoint's classes are only the default names (`LABEL_0`, …) for `n` classes: a
/// head trained with bare ids, which keeps serving data with `n` classes.
fn default_head_for(model: &[String], n: usize) -> bool {
    model.len() == n && model.iter().enumerate().all(|(i, l)| *l == format!("LABEL_{i}"))
}

/// Loss, accuracy, per-class metrics and the confusion matrix of `model` on `data` (dropout off).
pub async fn evaluate(
    model: &BertForSequenceClassification,
    device: &ComputeDevice,
    tokenizer: &TextTokenizer,
    data: &Dataset,
    max_length: usize,
    batch_size: usize,
) -> Result<Metrics> {
    if data.is_empty() {
        return Err(Error::Data("the evaluation data has no rows".into()));
    }
    let ce = CrossEntropyLossConfig::new().init(device.device());
    let rows: Vec<usize> = (0..data.len()).collect();
    let mut predictions = Vec::new();
    let mut loss_sum: Option<Tensor<1>> = None;
    for chunk in rows.chunks(batch_size.max(1)) {
        let b = make_batch(&data.examples, chunk, tokenizer, max_length)?;
        let [ids, types, mask] = batch_tensors(&b.tokens, device.device());
        let y = Tensor::<1, Int>::from_data(TensorData::new(b.labels, [chunk.len()]), device.device());
        let logits = model.forward(ids, types, mask);
        predictions.push(logits.clone().argmax(1).reshape([chunk.len()]));
        let loss = ce.forward(logits, y).mul_scalar(chunk.len() as f64);
        loss_sum = Some(match loss_sum {
            Some(s) => s + loss,
            None => loss,
        });
    }
    let predicted = device.read(Tensor::cat(predictions, 0)).await?;
    let predicted: Vec<usize> = predicted
        .convert::<i64>()
        .try_to_vec::<i64>()
        .map_err(|e| Error::Backend(format!("{e:?}")))?
        .into_iter()
        .map(|p| p as usize)
        .collect();
    let loss = device.read_scalar(loss_sum.expect("at least one batch")).await? / data.len() as f64;
    let truth: Vec<usize> = data.examples.iter().map(|e| e.label).collect();
    Ok(Metrics::compute(&truth, &predicted, &data.labels.names, Some(loss)))
}

/// The steps since the last log point: each one's loss and whether its update was applied, still
/// on the device until [`LogWindow::read`] reads them all at once.
struct LogWindow {
    steps: Vec<(usize, Tensor<1>, Tensor<1, Bool>)>,
    tokens: usize,
    since: Instant,
}

/// A [`LogWindow`] read back: (step, loss, applied) per step, and the latest gradient norm.
struct WindowRead {
    steps: Vec<(usize, f64, bool)>,
    norm: Option<f64>,
    tokens: usize,
    seconds: f64,
}

impl LogWindow {
    fn new() -> Self {
        LogWindow { steps: Vec::new(), tokens: 0, since: Instant::now() }
    }

    fn push(&mut self, step: usize, loss: Tensor<1>, applied: Tensor<1, Bool>) {
        self.steps.push((step, loss, applied));
    }

    /// Reads the window (and `norm`) back in one round trip and starts a new window.
    async fn read(&mut self, device: &ComputeDevice, norm: Option<Tensor<1>>) -> Result<WindowRead> {
        let has_norm = norm.is_some();
        let mut tensors: Vec<Tensor<1>> =
            self.steps.iter().flat_map(|(_, loss, applied)| [loss.clone(), applied.clone().float()]).collect();
        tensors.extend(norm);
        let values: Vec<f64> = device.read_all(tensors).await?.into_iter().map(|v| v[0] as f64).collect();
        let steps = self.steps.iter().zip(values.chunks(2)).map(|((step, _, _), v)| (*step, v[0], v[1] != 0.0)).collect();
        let read = WindowRead {
            steps,
            norm: has_norm.then(|| values[values.len() - 1]),
            tokens: self.tokens,
            seconds: self.since.elapsed().as_secs_f64().max(1e-9),
        };
        *self = LogWindow::new();
        Ok(read)
    }
}

impl WindowRead {
    /// The `step` event: mean loss over the applied steps (none if every step was skipped).
    fn step_event(&self, total_steps: usize, epoch: f64, lr: f64) -> Option<Event> {
        let losses: Vec<f64> = self.steps.iter().filter(|s| s.2).map(|s| s.1).collect();
        let &(step, _, _) = self.steps.last()?;
        (!losses.is_empty()).then(|| Event::Step {
            step,
            total_steps,
            epoch,
            loss: losses.iter().sum::<f64>() / losses.len() as f64,
            learning_rate: lr,
            grad_norm: self.norm,
            tokens_per_second: self.tokens as f64 / self.seconds,
            step_ms: self.seconds * 1e3 / self.steps.len() as f64,
        })
    }
}

/// Skipped steps in a row, across log windows.
#[derive(Default)]
struct BadStreak(usize);

impl BadStreak {
    /// Reports the window's skipped steps; returns the divergence message once a streak of
    /// [`MAX_BAD_STEPS`] happened.
    fn report(&mut self, read: &WindowRead, on_event: &mut dyn FnMut(Event), lr: f64) -> Option<String> {
        let mut diverged = None;
        for &(step, loss, applied) in &read.steps {
            if applied {
                self.0 = 0;
                continue;
            }
            self.0 += 1;
            let what = if loss.is_finite() { "the gradient norm" } else { "the loss" };
            on_event(Event::SkippedStep {
                step,
                loss: loss.is_finite().then_some(loss),
                message: format!("{what} was not finite at step {step}; the update was skipped"),
            });
            if self.0 >= MAX_BAD_STEPS && diverged.is_none() {
                diverged = Some(format!(
                    "training diverged: the loss or gradients were NaN/infinite on {} steps in a row (up to step \
                     {step}); none of their updates reached the weights. Lower learningRate (now {lr}), keep \
                     maxGradNorm on, or check the data",
                    self.0
                ));
            }
        }
        diverged
    }
}

/// Early stopping and keep-best bookkeeping.
struct BestTracker {
    metric: String,
    mode: Mode,
    patience: Option<usize>,
    keep_best: bool,
    best: Option<Best>,
    best_model: Option<BertForSequenceClassification>,
    bad_evals: usize,
}

impl BestTracker {
    fn new(o: &TrainOptions) -> Self {
        BestTracker {
            metric: o.metric.clone(),
            mode: o.mode(),
            patience: o.early_stopping_patience,
            keep_best: o.keep_best,
            best: None,
            best_model: None,
            bad_evals: 0,
        }
    }

    /// Records an evaluation; returns whether it is the best so far (then `snapshot` is kept).
    fn observe(&mut self, m: &Metrics, step: usize, snapshot: impl FnOnce() -> BertForSequenceClassification) -> bool {
        let Some(value) = m.get(&self.metric) else { return false };
        let better = match &self.best {
            None => true,
            Some(b) => match self.mode {
                Mode::Max => value > b.value,
                Mode::Min => value < b.value,
            },
        };
        if better {
            self.best = Some(Best { step, metric: self.metric.clone(), value });
            if self.keep_best {
                self.best_model = Some(snapshot());
            }
            self.bad_evals = 0;
        } else {
            self.bad_evals += 1;
        }
        better
    }

    fn patience_exhausted(&self) -> bool {
        self.patience.is_some_and(|p| self.bad_evals >= p)
    }
}
