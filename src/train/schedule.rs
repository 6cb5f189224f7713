//! Learning-rate schedules with warmup, as in Hugging Face `transformers.get_scheduler`
//! (`get_constant_schedule_with_warmup`, `get_linear_schedule_with_warmup`,
//! `get_cosine_schedule_with_warmup`): the rate for optimizer step `step` (0-based).

use crate::{Error, Result};

/// The shape of the learning rate over training.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[cfg_attr(not(target_family = "wasm"), derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    Constant,
    #[default]
    Linear,
    Cosine,
}

impl std::str::FromStr for Schedule {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "constant" => Ok(Schedule::Constant),
            "linear" => Ok(Schedule::Linear),
            "cosine" => Ok(Schedule::Cosine),
            o => Err(Error::Options(format!("unknown schedule {o:?}; valid values are \"constant\", \"linear\", \"cosine\""))),
        }
    }
}

/// A schedule bound to a run: peak rate, warmup and total optimizer steps, and a step decay on
/// top (none for the schedules users choose).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LrSchedule {
    pub kind: Schedule,
    pub peak: f64,
    pub warmup_steps: usize,
    pub total_steps: usize,
    pub decay: Option<StepDecay>,
}

/// PyTorch's `StepLR`: the rate times `gamma` after every `every` optimizer steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepDecay {
    pub every: usize,
    pub gamma: f64,
}

impl LrSchedule {
    /// The learning rate used for optimizer step `step` (0-based), as the HF LambdaLR gives it.
    pub fn lr(&self, step: usize) -> f64 {
        let (s, w, t) = (step as f64, self.warmup_steps as f64, self.total_steps as f64);
        if step < self.warmup_steps {
            return self.peak * s / w.max(1.0);
        }
        let factor = match self.kind {
            Schedule::Constant => 1.0,
            Schedule::Linear => ((t - s) / (t - w).max(1.0)).max(0.0),
            Schedule::Cosine => {
                let progress = (s - w) / (t - w).max(1.0);
                (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0)
            }
        };
        let decayed = match self.decay {
            Some(StepDecay { every, gamma }) => gamma.powi(i32::try_from(step / every.max(1)).unwrap_or(i32::MAX)),
            None => 1.0,
        };
        self.peak * factor * decayed
    }
}

/// Warmup steps from either a count or a ratio of the total (HF: `ceil(ratio * total)`).
pub fn warmup_steps(steps: Option<usize>, ratio: Option<f64>, total: usize) -> Result<usize> {
    match (steps, ratio) {
        (Some(_), Some(_)) => Err(Error::Options("give warmupSteps or warmupRatio, not both".into())),
        (Some(s), None) => Ok(s),
        (None, Some(r)) if (0.0..=1.0).contains(&r) => Ok((r * total as f64).ceil() as usize),
        (None, Some(r)) => Err(Error::Options(format!("warmupRatio must be between 0 and 1, got {r}"))),
        (None, None) => Ok(0),
    }
}
