//! The async fine-tuning loop, shared by every task (classification, causal language modelling):
//! schedule, gradient accumulation, clipping, AdamW, NaN/inf steps cancelled on the device,
//! evaluation, early stopping, keep-best, checkpoints, cancellation and events. The same code runs
//! natively and in the browser.
//!
//! GPU values are read back only where an event needs them: the loss and gradient norm every
//! `logEvery` steps, and whatever evaluation reads. Everything else stays queued on the device.
//! What differs between tasks (the model, its batches and loss, evaluation, export) is a [`Task`].

use burn::{
    module::Module,
    optim::{GradientsAccumulator, GradientsParams},
    tensor::{Bool, Device, Tensor},
};
use web_time::Instant;

use super::{
    Best, Checkpoint, Evaluation, Event, LrSchedule, MemoryPlan, StopReason, TrainOptions, TrainerState,
    checkpoint::{optimizer_from_bytes, optimizer_to_bytes},
    clip::{clip_global_norm, global_norm},
    optimizer::AdamW,
    options::Mode,
    schedule::warmup_steps,
};
use crate::{ComputeDevice, Result, data::epoch_order, weights::LoadReport};

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

/// What a kind of fine-tuning brings to the loop.
#[allow(async_fn_in_trait)] // awaited in place, never sent across threads
pub trait Task {
    type Model: Module;
    /// Training examples.
    fn examples(&self) -> usize;
    /// Validation examples (0: no evaluation).
    fn validation_examples(&self) -> usize;
    /// Class names (classification), else empty.
    fn labels(&self) -> Vec<String>;
    /// Size in tokens of each training example, for length grouping.
    fn lengths(&self) -> Result<Vec<usize>>;
    /// Fingerprint of the training data: a resume on other data is refused.
    fn fingerprint(&self) -> String;
    /// What the run will hold on the device for `batch` examples.
    fn memory(&self, batch: usize) -> MemoryPlan;
    /// Parameters that get no weight decay.
    fn no_decay(path: &str) -> bool;
    /// The model to train, from `weights` (the checkpoint's or a resumed run's), on `device`.
    /// `fresh` is true for the run's starting weights (a new head may be initialised then).
    fn load(&self, weights: Vec<u8>, device: &Device, fresh: bool) -> Result<(Self::Model, LoadReport)>;
    /// Mean loss of the training examples `rows` (one batch) and their real (non-padding) tokens.
    fn loss(&self, model: &Self::Model, rows: &[usize], device: &Device) -> Result<(Tensor<1>, usize)>;
    /// Metrics of `model` (inference mode, on `device`) on the validation data.
    async fn evaluate(&self, model: &Self::Model, device: &ComputeDevice) -> Result<Evaluation>;
    /// `config.json` of the trained model.
    fn config(&self) -> Result<Vec<u8>>;
    /// The weights as safetensors bytes (Hugging Face names).
    async fn export(&self, model: &Self::Model, device: &ComputeDevice) -> Result<Vec<u8>>;
}

/// The result of a run: the trained model on the inference (non-autodiff) device.
pub struct Run<M> {
    pub model: M,
    pub device: ComputeDevice,
    pub stop_reason: StopReason,
    pub steps: usize,
    pub best: Option<Best>,
}

/// Runs `task` from `weights` (or, ignoring them, from `resume`'s, with its optimizer state and position: the
/// result is what an uninterrupted run would have had).
pub async fn run<T: Task>(
    task: &T,
    weights: Vec<u8>,
    device: &ComputeDevice,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
    hooks: Hooks<'_>,
) -> Result<Run<T::Model>> {
    let Hooks { on_event, mut on_checkpoint, cancelled } = hooks;
    options.validate()?;
    let started = Instant::now();
    let train_len = task.examples();
    let validation_len = task.validation_examples();

    // Refused before anything is allocated: a plan the device cannot hold would lose it mid-run.
    let memory = task.memory(options.batch_size.min(train_len));
    super::memory::check(&memory, device.info())?;

    let ad = device.with_autodiff();
    ad.device().seed(options.seed);
    let weights = match resume {
        Some(c) => c.weights.clone(),
        None => weights,
    };
    let (mut model, report) = task.load(weights, ad.device(), resume.is_none())?;

    let lengths = if options.group_by_length { task.lengths()? } else { vec![0; train_len] };
    let batches_per_epoch = train_len.div_ceil(options.batch_size);
    let steps_per_epoch = batches_per_epoch.div_ceil(options.grad_accum);
    let total_steps = steps_per_epoch * options.epochs;
    let schedule = LrSchedule {
        kind: options.schedule,
        peak: options.learning_rate,
        warmup_steps: warmup_steps(options.warmup_steps, options.warmup_ratio, total_steps)?,
        total_steps,
    };
    let mut optim = AdamW::new(options.weight_decay, T::no_decay);
    let eval_device = device.without_autodiff();
    let mut tracker = BestTracker::new(options);
    let (mut step, mut start) = (0, (0, 0));
    if let Some(c) = resume {
        c.check_resumable(options, train_len, &task.fingerprint())?;
        optim.load(optimizer_from_bytes(&c.optimizer)?, ad.device());
        (step, start) = (c.state.step, (c.state.epoch, c.state.window));
        tracker.best = c.state.best.clone();
        tracker.bad_evals = c.state.bad_evals;
        if let Some(b) = &c.best_weights {
            tracker.best_model = Some(task.load(b.clone(), eval_device.device(), false)?.0);
        }
    }

    on_event(Event::Start {
        device: ad.info().clone(),
        labels: task.labels(),
        train_examples: train_len,
        validation_examples: validation_len,
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
    let mut accum = GradientsAccumulator::<T::Model>::new();

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
                let (loss, tokens) = task.loss(&model, rows, ad.device())?;
                log.tokens += tokens;
                let loss = loss.div_scalar(window.len() as f64);
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
            if validation_len > 0 && (at_epoch_end || scheduled) {
                let eval_started = Instant::now();
                let snapshot = model.valid();
                let metrics = task.evaluate(&snapshot, &eval_device).await?;
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
                    train_examples: train_len,
                    data_fingerprint: task.fingerprint(),
                    best: tracker.best.clone(),
                    bad_evals: tracker.bad_evals,
                };
                let checkpoint = Checkpoint {
                    state,
                    config: task.config()?,
                    weights: task.export(&model.valid(), &eval_device).await?,
                    optimizer: optimizer_to_bytes(optim.save(&ad).await?)?,
                    best_weights: match &tracker.best_model {
                        Some(b) => Some(task.export(b, &eval_device).await?),
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
    Ok(Run { model, device: eval_device, stop_reason: stop, steps: step, best: tracker.best })
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
struct BestTracker<M> {
    metric: Option<String>,
    mode: Option<Mode>,
    patience: Option<usize>,
    keep_best: bool,
    best: Option<Best>,
    best_model: Option<M>,
    bad_evals: usize,
}

impl<M> BestTracker<M> {
    fn new(o: &TrainOptions) -> Self {
        BestTracker {
            metric: o.metric.clone(),
            mode: o.mode,
            patience: o.early_stopping_patience,
            keep_best: o.keep_best,
            best: None,
            best_model: None,
            bad_evals: 0,
        }
    }

    /// Records an evaluation; returns whether it is the best so far (then `snapshot` is kept).
    fn observe(&mut self, m: &Evaluation, step: usize, snapshot: impl FnOnce() -> M) -> bool {
        let metric = self.metric.clone().unwrap_or_else(|| m.default_metric().to_string());
        let Some(value) = m.get(&metric) else { return false };
        let mode = self.mode.unwrap_or(Evaluation::natural_mode(&metric));
        let better = match &self.best {
            None => true,
            Some(b) => match mode {
                Mode::Max => value > b.value,
                Mode::Min => value < b.value,
            },
        };
        if better {
            self.best = Some(Best { step, metric, value });
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
