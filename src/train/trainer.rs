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
    optimizer::{AdamW, LrGroup},
    options::Mode,
    schedule::{StepDecay, warmup_steps},
};
use crate::{ComputeDevice, Error, Result, data::epoch_order, weights::LoadReport};

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
    /// Parameter groups that learn at rates of their own (none by default).
    fn lr_groups(&self) -> Vec<LrGroup> {
        Vec::new()
    }
    /// A step decay on top of the schedule, for a run of `steps_per_epoch` optimizer steps per
    /// epoch (none by default).
    fn lr_decay(&self, _steps_per_epoch: usize) -> Option<StepDecay> {
        None
    }
    /// What a diverged run tells the user to change, its learning rate being `learning_rate`.
    fn divergence_advice(&self, learning_rate: f64) -> String {
        format!("Lower learningRate (now {learning_rate}), keep maxGradNorm on, or check the data")
    }
    /// The model to train, from `weights`, on `device`.
    fn load(&self, weights: Vec<u8>, device: &Device, origin: WeightsOrigin) -> Result<(Self::Model, LoadReport)>;
    /// Called as each epoch starts (before its first `loss`): tasks that make examples afresh per
    /// epoch (augmentation) start drawing for it.
    async fn begin_epoch(&self, _epoch: usize) -> Result<()> {
        Ok(())
    }
    /// Mean loss of the training examples `rows` (one batch) and their real (non-padding) tokens.
    fn loss(&self, model: &Self::Model, rows: &[usize], device: &Device) -> Result<(Tensor<1>, usize)>;
    /// Metrics of `model` (inference mode, on `device`) on the validation data.
    async fn evaluate(&self, model: &Self::Model, device: &ComputeDevice) -> Result<Evaluation>;
    /// `config.json` of the trained model.
    fn config(&self) -> Result<Vec<u8>>;
    /// The weights as safetensors bytes (Hugging Face names).
    async fn export(&self, model: &Self::Model, device: &ComputeDevice) -> Result<Vec<u8>>;
}

/// Where the weights a [`Task`] loads come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightsOrigin {
    /// The run's starting weights (the checkpoint fine-tuning starts from): a new classification
    /// head, or fresh LoRA adapters, may be initialised on them.
    Start,
    /// Weights the run itself saved (a checkpoint's, or the best evaluation's): loaded as they are.
    Saved,
}

/// The result of a run: the trained model on the inference (non-autodiff) device.
pub struct Run<M> {
    pub model: M,
    pub device: ComputeDevice,
    pub stop_reason: StopReason,
    pub steps: usize,
    pub best: Option<Best>,
}

/// Runs `task` from `weights` (or, ignoring them, from `resume`'s, with its optimizer state and
/// position: the result is what an uninterrupted run would have had).
pub async fn run<T: Task>(
    task: &T,
    weights: Vec<u8>,
    device: &ComputeDevice,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
    hooks: Hooks<'_>,
) -> Result<Run<T::Model>> {
    let (mut run, mut model) = Loop::start(task, weights, device, options, resume, hooks)?;
    let (stop, message) = 'epochs: {
        for epoch in run.position.0..options.epochs {
            task.begin_epoch(epoch).await?;
            let order = epoch_order(&run.lengths, options.batch_size, options.seed, epoch, options.group_by_length);
            let windows: Vec<&[Vec<usize>]> = order.chunks(options.grad_accum).collect();
            let skip = if epoch == run.position.0 { run.position.1 } else { 0 };
            for (w, window) in windows.iter().enumerate().skip(skip) {
                crate::device::yield_now().await; // the page stays responsive, and an abort gets through
                if (run.hooks.cancelled)() {
                    break 'epochs (StopReason::Cancelled, None);
                }
                let norm;
                (model, norm) = run.optimisation_step(model, window).await?;
                if let Some(message) = run.log_point(norm).await? {
                    break 'epochs (StopReason::Diverged, Some(message));
                }
                if run.evaluation_due() && run.evaluate(&model).await? {
                    break 'epochs (StopReason::EarlyStopped, None);
                }
                if run.checkpoint_due() {
                    let next = if w + 1 == windows.len() { (epoch + 1, 0) } else { (epoch, w + 1) };
                    run.checkpoint(&model, next).await?;
                }
            }
        }
        (StopReason::Finished, None)
    };
    let done = run.finish(model, stop, message).await?;
    // The run's gradients, optimizer moments and activations are gone: hand their memory back
    // (GPU memory pools keep freed pages until asked), so that runs after runs do not pile it up.
    done.device.device().memory_cleanup();
    Ok(done)
}

/// One run's state between steps.
struct Loop<'a, 'h, T: Task> {
    task: &'a T,
    options: &'a TrainOptions,
    hooks: Hooks<'h>,
    started: Instant,
    /// The training device (autodiff) and the one evaluations and exports run on.
    train_device: ComputeDevice,
    eval_device: ComputeDevice,
    lengths: Vec<usize>,
    steps_per_epoch: usize,
    total_steps: usize,
    schedule: LrSchedule,
    optim: AdamW,
    accum: GradientsAccumulator<T::Model>,
    tracker: BestTracker<T::Model>,
    log: LogWindow,
    streak: BadStreak,
    /// Optimizer steps done, and where the next one starts: (epoch, window of that epoch).
    step: usize,
    position: (usize, usize),
}

impl<'a, 'h, T: Task> Loop<'a, 'h, T> {
    /// Checks the memory plan, loads the model (a resumed run's weights, optimizer state and
    /// position), and sends the `start` event.
    fn start(
        task: &'a T,
        weights: Vec<u8>,
        device: &ComputeDevice,
        options: &'a TrainOptions,
        resume: Option<&Checkpoint>,
        hooks: Hooks<'h>,
    ) -> Result<(Self, T::Model)> {
        options.validate()?;
        let started = Instant::now();
        let train_len = task.examples();
        // Refused before anything is allocated: a plan the device cannot hold would lose it mid-run.
        let memory = task.memory(options.batch_size.min(train_len));
        super::memory::check(&memory, device.info())?;

        let train_device = match options.gradient_checkpointing {
            true => device.with_gradient_checkpointing(),
            false => device.with_autodiff(),
        };
        train_device.device().seed(options.seed);
        let weights = match resume {
            Some(c) => c.weights.clone(),
            None => weights,
        };
        let origin = if resume.is_none() { WeightsOrigin::Start } else { WeightsOrigin::Saved };
        let (model, mut report) = task.load(weights, train_device.device(), origin)?;

        let lengths = if options.group_by_length { task.lengths()? } else { vec![0; train_len] };
        let steps_per_epoch = train_len.div_ceil(options.batch_size).div_ceil(options.grad_accum);
        let total_steps = steps_per_epoch * options.epochs;
        let schedule = LrSchedule { decay: task.lr_decay(steps_per_epoch), ..schedule(options, total_steps, &mut report.warnings)? };
        let mut run = Loop {
            task,
            options,
            hooks,
            started,
            eval_device: device.without_autodiff(),
            train_device,
            lengths,
            steps_per_epoch,
            total_steps,
            schedule,
            optim: AdamW::new(options.weight_decay, T::no_decay).with_groups(task.lr_groups()),
            accum: GradientsAccumulator::new(),
            tracker: BestTracker::new(options),
            log: LogWindow::new(),
            streak: BadStreak::default(),
            step: 0,
            position: (0, 0),
        };
        if let Some(c) = resume {
            run.resume(c, &model)?;
        }
        (run.hooks.on_event)(Event::Start {
            device: run.train_device.info().clone(),
            labels: task.labels(),
            train_examples: train_len,
            validation_examples: task.validation_examples(),
            epochs: options.epochs,
            steps_per_epoch,
            total_steps,
            warmup_steps: run.schedule.warmup_steps,
            warnings: report.warnings,
            memory,
        });
        Ok((run, model))
    }

    /// Takes over a checkpoint's optimizer state, position and best-so-far.
    fn resume(&mut self, c: &Checkpoint, model: &T::Model) -> Result<()> {
        c.check_resumable(self.options, self.task.examples(), &self.task.fingerprint())?;
        let (step, epoch, window) = (c.state.step, c.state.epoch, c.state.window);
        // Each optimizer step is one window of an epoch, so a position of this run has
        // step = epoch × steps per epoch + window, within the run.
        let consistent = epoch.checked_mul(self.steps_per_epoch).and_then(|s| s.checked_add(window)) == Some(step);
        if !consistent || step > self.total_steps || window >= self.steps_per_epoch {
            return Err(Error::Data(format!(
                "cannot resume: the checkpoint's position (step {step}, epoch {epoch}, window {window}) is not one of this run's \
                 {} optimizer steps ({} per epoch); its trainer_state.json is damaged: resume from another checkpoint or start again",
                self.total_steps, self.steps_per_epoch
            )));
        }
        let saved = optimizer_from_bytes(&c.optimizer)?;
        saved.check(model, step)?;
        self.optim.load(saved, self.train_device.device());
        (self.step, self.position) = (c.state.step, (c.state.epoch, c.state.window));
        self.tracker.best = c.state.best.clone();
        self.tracker.bad_evals = c.state.bad_evals;
        if let Some(b) = &c.best_weights {
            self.tracker.best_model = Some(self.task.load(b.clone(), self.eval_device.device(), WeightsOrigin::Saved)?.0);
        }
        Ok(())
    }

    fn epoch_of(&self, step: usize) -> f64 {
        step as f64 / self.steps_per_epoch as f64
    }

    /// Whether the loss is read back and reported once `done` steps are done.
    fn logs_after(&self, done: usize) -> bool {
        done % self.options.log_every == 0 || done == self.total_steps
    }

    /// One optimizer step over a window of batches (gradient accumulation): forward, backward,
    /// clipping, and an AdamW update that a NaN/infinite loss or gradient cancels on the device.
    /// Returns the updated model and the gradient norm (when clipped or logged).
    async fn optimisation_step(&mut self, model: T::Model, window: &[Vec<usize>]) -> Result<(T::Model, Option<Tensor<1>>)> {
        let device = self.train_device.device();
        // Dropout draws depend on the step only, so a resumed run draws what it would have.
        device.seed(self.options.seed ^ (self.step as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut grads = GradientsParams::new();
        let mut window_loss: Option<Tensor<1>> = None;
        for (i, rows) in window.iter().enumerate() {
            let (loss, tokens) = self.task.loss(&model, rows, device)?;
            self.log.tokens += tokens;
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
                self.accum.accumulate(&model, g);
                if i + 1 == window.len() {
                    grads = self.accum.grads();
                }
            }
        }
        let norm = match self.options.clip_norm() {
            Some(max) => clip_global_norm(&model, &mut grads, max),
            None if self.logs_after(self.step + 1) => global_norm(&model, &grads), // only reported, so only when logged
            None => None,
        };
        // A NaN/infinite loss or gradient must not reach the weights: the update is cancelled
        // on the device, with no read here (it is reported at the next log point).
        let window_loss = window_loss.expect("a window has batches");
        let applied = match &norm {
            Some(n) => (window_loss.clone() + n.clone()).is_finite(),
            None => window_loss.clone().is_finite(),
        };
        // On the CPU a read costs nothing (there is no GPU queue to wait for), and a step known
        // to be finite skips the masked copies of every parameter.
        let known_finite = !self.train_device.info().is_gpu() && self.train_device.read(applied.clone()).await?.iter::<bool>().all(|a| a);
        let mask = if known_finite { None } else { Some(applied.clone()) };
        let model = self.optim.step(self.schedule.lr(self.step), model, grads, mask);
        self.step += 1;
        self.log.push(self.step, window_loss, applied);
        Ok((model, norm))
    }

    /// At a log point: reads the window's losses back, sends the `step` event and reports skipped
    /// steps. Returns the divergence message once too many steps in a row were skipped.
    async fn log_point(&mut self, norm: Option<Tensor<1>>) -> Result<Option<String>> {
        if !self.logs_after(self.step) {
            return Ok(None);
        }
        let read = self.log.read(&self.train_device, norm).await?;
        let lr = self.schedule.lr(self.step - 1);
        if let Some(event) = read.step_event(self.total_steps, self.epoch_of(self.step), lr) {
            (self.hooks.on_event)(event);
        }
        Ok(self.streak.report(&read, self.hooks.on_event, &self.task.divergence_advice(self.options.learning_rate)))
    }

    /// Evaluations run at each epoch's end and every `evalEvery` steps, when there is validation data.
    fn evaluation_due(&self) -> bool {
        let at_epoch_end = self.step % self.steps_per_epoch == 0;
        let scheduled = self.options.eval_every.is_some_and(|n| self.step % n == 0);
        self.task.validation_examples() > 0 && (at_epoch_end || scheduled)
    }

    /// Evaluates the model, keeps it if it is the best so far, sends the `eval` event. Returns
    /// whether early stopping's patience is exhausted.
    async fn evaluate(&mut self, model: &T::Model) -> Result<bool> {
        let eval_started = Instant::now();
        let snapshot = model.valid();
        let metrics = self.task.evaluate(&snapshot, &self.eval_device).await?;
        self.log.since += eval_started.elapsed(); // step timings exclude evaluation
        let is_best = self.tracker.observe(&metrics, self.step, || snapshot.clone());
        let (step, epoch) = (self.step, self.epoch_of(self.step));
        (self.hooks.on_event)(Event::Eval { step, epoch, metrics, is_best });
        Ok(self.tracker.patience_exhausted())
    }

    fn checkpoint_due(&self) -> bool {
        self.hooks.on_checkpoint.is_some() && self.options.checkpoint_every.is_some_and(|n| self.step % n == 0)
    }

    /// Hands a checkpoint (weights, optimizer state, best-so-far, and `next`: the epoch and window
    /// the run continues at) to the caller and sends the `checkpoint` event.
    async fn checkpoint(&mut self, model: &T::Model, next: (usize, usize)) -> Result<()> {
        let state = TrainerState {
            format: super::checkpoint::FORMAT,
            step: self.step,
            epoch: next.0,
            window: next.1,
            options: self.options.clone(),
            train_examples: self.task.examples(),
            data_fingerprint: self.task.fingerprint(),
            best: self.tracker.best.clone(),
            bad_evals: self.tracker.bad_evals,
        };
        let checkpoint = Checkpoint {
            state,
            config: self.task.config()?,
            weights: self.task.export(&model.valid(), &self.eval_device).await?,
            optimizer: optimizer_to_bytes(self.optim.save(&self.train_device).await?)?,
            best_weights: match &self.tracker.best_model {
                Some(b) => Some(self.task.export(b, &self.eval_device).await?),
                None => None,
            },
        };
        if let Some(on_checkpoint) = self.hooks.on_checkpoint.as_deref_mut() {
            on_checkpoint(&checkpoint)?;
        }
        let (step, epoch) = (self.step, self.epoch_of(self.step));
        (self.hooks.on_event)(Event::Checkpoint { step, epoch });
        Ok(())
    }

    /// Reports the steps since the last log point, picks the model to return (the best one with
    /// keep-best) and sends the `done` event.
    async fn finish(mut self, model: T::Model, stop: StopReason, message: Option<String>) -> Result<Run<T::Model>> {
        if !self.log.steps.is_empty() {
            // stopped between log points: the steps since the last one may still have been skipped
            let read = self.log.read(&self.train_device, None).await?;
            self.streak.report(&read, self.hooks.on_event, &self.task.divergence_advice(self.options.learning_rate));
        }
        let (model, restored_best) = match self.tracker.best_model.take() {
            Some(best) if self.options.keep_best => (best, true),
            _ => (model.valid(), false),
        };
        (self.hooks.on_event)(Event::Done {
            steps: self.step,
            stop_reason: stop,
            best: self.tracker.best.clone(),
            restored_best,
            seconds: self.started.elapsed().as_secs_f64(),
            message,
        });
        Ok(Run { model, device: self.eval_device, stop_reason: stop, steps: self.step, best: self.tracker.best })
    }
}

/// The run's learning-rate schedule; a warmup as long as the run is allowed, with a warning.
fn schedule(options: &TrainOptions, total_steps: usize, warnings: &mut Vec<String>) -> Result<LrSchedule> {
    let warmup = warmup_steps(options.warmup_steps, options.warmup_ratio, total_steps)?;
    if warmup >= total_steps {
        warnings.push(format!(
            "the warmup ({warmup} steps) is as long as the whole run ({total_steps} optimizer steps): the learning rate never \
             reaches learningRate; lower warmupSteps / warmupRatio or train longer"
        ));
    }
    Ok(LrSchedule { kind: options.schedule, peak: options.learning_rate, warmup_steps: warmup, total_steps, decay: None })
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

/// What a skipped step's event says (`loss_finite`: the gradient norm was the culprit).
pub(crate) fn skipped_message(loss_finite: bool, step: usize) -> String {
    let what = if loss_finite { "the gradient norm" } else { "the loss" };
    format!("{what} was not finite at step {step}; the update was skipped")
}

/// What a diverged run's `done` says: [`MAX_BAD_STEPS`] skipped steps in a row up to `step`, and
/// what to change.
pub(crate) fn diverged_message(step: usize, advice: &str) -> String {
    format!(
        "training diverged: the loss or gradients were NaN/infinite on {MAX_BAD_STEPS} steps in a row (up to step {step}); \
         none of their updates reached the weights. {advice}"
    )
}

impl BadStreak {
    /// Reports the window's skipped steps; returns the divergence message once a streak of
    /// [`MAX_BAD_STEPS`] happened.
    fn report(&mut self, read: &WindowRead, on_event: &mut dyn FnMut(Event), advice: &str) -> Option<String> {
        let mut diverged = None;
        for &(step, loss, applied) in &read.steps {
            if applied {
                self.0 = 0;
                continue;
            }
            self.0 += 1;
            on_event(Event::SkippedStep { step, loss: loss.is_finite().then_some(loss), message: skipped_message(loss.is_finite(), step) });
            if self.0 >= MAX_BAD_STEPS && diverged.is_none() {
                diverged = Some(diverged_message(step, advice));
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
        let mode = self.mode.unwrap_or(Mode::natural_for(&metric));
        let better = self.best.as_ref().is_none_or(|b| mode.improves(value, b.value));
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
