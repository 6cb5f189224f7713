//! What a training run reports while it runs. Serialized with a `type` tag and camelCase fields:
//! these are the objects the JS `onEvent` callback gets and the CLI prints with `--json`.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{Evaluation, memory::MemoryPlan};
use crate::DeviceInfo;

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// All epochs ran.
    Finished,
    /// `earlyStoppingPatience` evaluations in a row did not improve the metric.
    EarlyStopped,
    /// The caller cancelled between two steps; the model is usable as trained so far.
    Cancelled,
    /// The loss or the gradients were NaN/infinite on several steps in a row. Those updates were
    /// skipped, so none of them reached the weights.
    Diverged,
}

/// The best evaluation so far.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Best {
    pub step: usize,
    pub metric: String,
    pub value: f64,
}

/// One event of a run.
#[derive(Clone, Debug, Serialize, TS)]
#[serde(tag = "type", rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum Event {
    /// Before the first step: the plan.
    Start {
        device: DeviceInfo,
        labels: Vec<String>,
        train_examples: usize,
        validation_examples: usize,
        epochs: usize,
        steps_per_epoch: usize,
        total_steps: usize,
        warmup_steps: usize,
        /// What loading the checkpoint reported (e.g. a freshly initialised classifier).
        warnings: Vec<String>,
        /// The pre-flight estimate of what the run holds on the device.
        memory: MemoryPlan,
    },
    /// Every `logEvery` optimizer steps (and the last one).
    Step {
        step: usize,
        total_steps: usize,
        /// Fractional epoch (1.5 = half way through the second epoch).
        epoch: f64,
        /// Mean training loss over the steps since the previous `step` event.
        loss: f64,
        learning_rate: f64,
        /// Global gradient norm of the latest step, before clipping.
        grad_norm: Option<f64>,
        /// Real (non-padding) tokens per second since the previous `step` event.
        tokens_per_second: f64,
        /// Mean wall time per optimizer step since the previous `step` event.
        step_ms: f64,
    },
    /// After each evaluation on the validation data.
    Eval { step: usize, epoch: f64, metrics: Evaluation, is_best: bool },
    /// A step whose loss or gradient norm was NaN/infinite: its update was not applied.
    SkippedStep { step: usize, loss: Option<f64>, message: String },
    /// A checkpoint was handed to the caller (every `checkpointEvery` steps).
    Checkpoint { step: usize, epoch: f64 },
    /// The run is over.
    Done {
        steps: usize,
        stop_reason: StopReason,
        best: Option<Best>,
        /// Whether the returned model is the best evaluation's rather than the last step's.
        restored_best: bool,
        seconds: f64,
        /// Why the run failed, when it did (`stopReason` "diverged").
        message: Option<String>,
    },
}
