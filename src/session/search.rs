//! Hyperparameter search, the one loop for the CLI and the JS API: each trial of a
//! [`SearchPlan`] is one fine-tuning run from the same start with the trial's settings, judged by
//! its best evaluation of one metric; the best trial's model is kept, the others dropped as they end.

use serde::Serialize;
use ts_rs::TS;

use super::{Finetuned, Task};
use crate::{
    Error, Result,
    train::{SearchPlan, StopReason, TrainOptions, TrialSettings, options::Mode},
};

/// A finished trial.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TrialResult {
    /// Its place in the plan, from 0.
    pub index: usize,
    /// What it changed from the run's options.
    pub settings: TrialSettings,
    /// The metric every trial is judged by.
    pub metric: String,
    /// The trial's best value of `metric` on the validation data.
    pub value: f64,
    /// Optimizer steps it ran.
    pub steps: usize,
}

/// A search's outcome: every trial, the best one and its model.
pub struct Searched<M> {
    pub trials: Vec<TrialResult>,
    pub best: TrialResult,
    pub model: M,
}

/// The metric a search of `task` judges trials by: the options', else the task's default.
fn search_metric(task: Task, options: &TrainOptions) -> String {
    options.metric.clone().unwrap_or_else(|| task.default_metric().into())
}

/// Runs `plan`'s trials one after another: `trial(index, options)` fine-tunes from the start with
/// one trial's options (the run's `base`, the trial's settings, and the search's metric), and
/// `on_trial` hears of each as it ends. The first trial with the best value wins (`base.mode`, else
/// the metric's natural direction). Fails when a trial has no evaluation to compare or diverged
/// (a `TrainingError` naming it), and with [`Error::Aborted`] when one was cancelled (its model
/// is dropped; so are the others).
pub async fn search<M>(
    plan: &SearchPlan,
    task: Task,
    base: &TrainOptions,
    mut trial: impl AsyncFnMut(usize, TrainOptions) -> Result<Finetuned<M>>,
    mut on_trial: impl FnMut(&TrialResult),
) -> Result<Searched<M>> {
    base.check_metric(task.metrics(), task.name())?;
    let metric = search_metric(task, base);
    let mode = base.mode.unwrap_or_else(|| Mode::natural_for(&metric));
    let base = TrainOptions { metric: Some(metric.clone()), ..base.clone() };
    let planned = plan.trials(base.seed)?;
    // every trial's options are checked before the first one trains
    let options = planned.iter().map(|s| s.apply(&base)).collect::<Result<Vec<_>>>()?;
    let mut trials = Vec::with_capacity(planned.len());
    let mut best: Option<(TrialResult, M)> = None;
    for (index, (settings, options)) in planned.into_iter().zip(options).enumerate() {
        let tuned = trial(index, options).await?;
        match tuned.stop_reason {
            StopReason::Cancelled => return Err(Error::Aborted),
            StopReason::Diverged => {
                return Err(Error::Training(format!(
                    "search: trial {index} diverged (its loss became NaN or infinite); lower its learningRate, or leave that value out of the space"
                )));
            }
            _ => {}
        }
        let Some(judged) = tuned.best else {
            return Err(Error::Options(
                "search: a trial ended without an evaluation to compare; give validation data (validation or validationSplit above 0; \
                 CLI: --validation or --validation-split)"
                    .into(),
            ));
        };
        let result = TrialResult { index, settings, metric: metric.clone(), value: judged.value, steps: tuned.steps };
        on_trial(&result);
        if best.as_ref().is_none_or(|(b, _)| mode.improves(result.value, b.value)) {
            best = Some((result.clone(), tuned.model));
        }
        trials.push(result);
    }
    let (best, model) = best.ok_or_else(|| Error::Options("search: the plan has no trials".into()))?;
    Ok(Searched { trials, best, model })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::{Best, SearchSpace, Strategy};

    /// The result of a future that never waits (the stand-in runs below).
    fn now<T>(f: impl std::future::Future<Output = T>) -> T {
        futures_util::FutureExt::now_or_never(std::pin::pin!(f)).expect("no run waits")
    }

    /// A stand-in run whose best value is the learning rate × epochs (lower is better for loss).
    fn fake(options: &TrainOptions, evaluated: bool) -> Finetuned<f64> {
        let value = options.learning_rate * options.epochs as f64;
        let best = evaluated.then(|| Best { step: 1, metric: options.metric.clone().unwrap(), value });
        Finetuned { model: value, stop_reason: StopReason::Finished, steps: options.epochs, best }
    }

    #[test]
    fn a_cancelled_or_diverged_trial_ends_the_search() {
        let plan = SearchPlan { space: SearchSpace { epochs: vec![1, 2], ..SearchSpace::default() }, ..SearchPlan::default() };
        let base = TrainOptions::default();
        let ending = |stop_reason: StopReason| now(search(&plan, Task::TextGeneration, &base, async |_, o| Ok(Finetuned { stop_reason, ..fake(&o, true) }), |_| {}));
        assert!(matches!(ending(StopReason::Cancelled).err(), Some(Error::Aborted)));
        let e = ending(StopReason::Diverged).err().unwrap();
        assert!(matches!(e, Error::Training(_)) && e.to_string().contains("trial 0 diverged"), "{e}");
    }

    #[test]
    fn keeps_the_first_best_trial_in_the_metrics_direction() {
        let plan = SearchPlan {
            space: SearchSpace { learning_rate: vec![2.0, 1.0], epochs: vec![1, 2], ..SearchSpace::default() },
            strategy: Strategy::Grid,
            trials: None,
        };
        let mut heard = Vec::new();
        let base = TrainOptions::default();
        let found = now(search(&plan, Task::TextGeneration, &base, async |_, o| Ok(fake(&o, true)), |t| heard.push(t.index))).unwrap();
        assert_eq!(heard, [0, 1, 2, 3]);
        assert_eq!(found.trials.iter().map(|t| t.value).collect::<Vec<_>>(), [2.0, 4.0, 1.0, 2.0]);
        assert_eq!((found.best.index, found.model, found.best.metric.as_str()), (2, 1.0, "loss"), "loss: lower is better");
        let max = TrainOptions { mode: Some(Mode::Max), ..base.clone() };
        let found = now(search(&plan, Task::TextGeneration, &max, async |_, o| Ok(fake(&o, true)), |_| {})).unwrap();
        assert_eq!(found.best.index, 1);
        let e = now(search(&plan, Task::TextGeneration, &base, async |_, o| Ok(fake(&o, false)), |_| {})).err().unwrap();
        assert!(e.to_string().contains("without an evaluation"), "{e}");
        let wrong = TrainOptions { metric: Some("accuracy".into()), ..base };
        assert!(now(search(&plan, Task::TextGeneration, &wrong, async |_, o| Ok(fake(&o, true)), |_| {})).is_err());
    }
}
