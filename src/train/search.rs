//! Hyperparameter search plans: which trials a search runs — every combination of the lists
//! given (the grid, the last setting varying fastest), or with `strategy: "random"` a seeded
//! sample of them — within a budget. The one plan for the CLI's `webtune search` and the JS
//! `pipeline.search`: the same space and seed give the same trials from both.

use rand::{SeedableRng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::TrainOptions;
use crate::{Error, Result};

/// The most combinations a search space may have (each is a whole fine-tuning run).
pub const MAX_GRID: usize = 10_000;

/// Refuses a list that names a value twice (a search tries different combinations).
fn distinct<T: PartialEq>(values: &[T], name: &str) -> Result<()> {
    if values.iter().enumerate().any(|(i, v)| values[..i].contains(v)) {
        return Err(Error::Options(format!("search: {name} lists a value twice; give each value to try once")));
    }
    Ok(())
}

/// The settings a search may vary: for each, the values to try (empty: the run's own value).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SearchSpace {
    pub learning_rate: Vec<f64>,
    pub epochs: Vec<usize>,
    pub batch_size: Vec<usize>,
    /// LoRA ranks (the run's other `lora` options apply).
    pub lora_rank: Vec<usize>,
}

/// How the trials are chosen from the grid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Every combination in order (the first `trials` of them with a budget).
    #[default]
    Grid,
    /// `trials` different combinations, drawn with the run's seed.
    Random,
}

/// What a search runs: the space, how trials are chosen, and the budget.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SearchPlan {
    pub space: SearchSpace,
    pub strategy: Strategy,
    /// At most this many trials (default: the whole grid).
    pub trials: Option<usize>,
}

/// One trial: what it changes from the run's options (`None`: left as it is).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TrialSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub learning_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub epochs: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub batch_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub lora_rank: Option<usize>,
}

impl TrialSettings {
    /// `base` with this trial's settings, validated.
    pub fn apply(&self, base: &TrainOptions) -> Result<TrainOptions> {
        let mut o = base.clone();
        o.learning_rate = self.learning_rate.unwrap_or(o.learning_rate);
        o.epochs = self.epochs.unwrap_or(o.epochs);
        o.batch_size = self.batch_size.unwrap_or(o.batch_size);
        if let Some(rank) = self.lora_rank {
            // a rank to try makes the trial a LoRA run (the run's other lora options, else the defaults)
            o.lora.get_or_insert_with(Default::default).rank = rank;
        }
        o.validate()?;
        Ok(o)
    }
}

impl SearchPlan {
    /// The trials to run, in order; `seed` draws a random search's sample (the run's seed).
    pub fn trials(&self, seed: u64) -> Result<Vec<TrialSettings>> {
        let s = &self.space;
        if s.learning_rate.is_empty() && s.epochs.is_empty() && s.batch_size.is_empty() && s.lora_rank.is_empty() {
            return Err(Error::Options(
                "search: the space names no values to try; give at least one list of learningRate, epochs, batchSize or loraRank \
                 (CLI: --learning-rates, --epoch-counts, --batch-sizes, --lora-ranks)"
                    .into(),
            ));
        }
        let positive = |ok: bool, name: &str| if ok { Ok(()) } else { Err(Error::Options(format!("search: every {name} to try must be above 0"))) };
        positive(s.learning_rate.iter().all(|&r| r > 0.0 && r.is_finite()), "learningRate")?;
        positive(!s.epochs.contains(&0), "epochs")?;
        positive(!s.batch_size.contains(&0), "batchSize")?;
        positive(!s.lora_rank.contains(&0), "loraRank")?;
        distinct(&s.learning_rate.iter().map(|r| r.to_bits()).collect::<Vec<_>>(), "learningRate")?;
        distinct(&s.epochs, "epochs")?;
        distinct(&s.batch_size, "batchSize")?;
        distinct(&s.lora_rank, "loraRank")?;
        if self.trials == Some(0) {
            return Err(Error::Options("search: trials must be at least 1 (the budget)".into()));
        }
        // the grid is built whole (then sampled): its size is checked first
        [s.learning_rate.len(), s.epochs.len(), s.batch_size.len(), s.lora_rank.len()]
            .into_iter()
            .try_fold(1usize, |n, k| n.checked_mul(k.max(1)))
            .filter(|&n| n <= MAX_GRID)
            .ok_or_else(|| Error::Options(format!("search: the space has more than {MAX_GRID} combinations; give fewer values to try")))?;
        let mut all = self.grid();
        if self.strategy == Strategy::Random {
            all.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        }
        all.truncate(self.trials.unwrap_or(usize::MAX));
        Ok(all)
    }

    /// Every combination (an empty list keeps the run's value), the last setting varying fastest.
    fn grid(&self) -> Vec<TrialSettings> {
        fn or_none<T: Copy>(v: &[T]) -> Vec<Option<T>> {
            if v.is_empty() { vec![None] } else { v.iter().copied().map(Some).collect() }
        }
        let s = &self.space;
        let mut out = Vec::new();
        for learning_rate in or_none(&s.learning_rate) {
            for epochs in or_none(&s.epochs) {
                for batch_size in or_none(&s.batch_size) {
                    for lora_rank in or_none(&s.lora_rank) {
                        out.push(TrialSettings { learning_rate, epochs, batch_size, lora_rank });
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(strategy: Strategy, trials: Option<usize>) -> SearchPlan {
        let space = SearchSpace { learning_rate: vec![1e-4, 5e-5], epochs: vec![1, 2, 3], ..SearchSpace::default() };
        SearchPlan { space, strategy, trials }
    }

    #[test]
    fn the_grid_varies_the_last_setting_fastest_and_random_draws_a_seeded_sample() {
        let grid = plan(Strategy::Grid, None).trials(0).unwrap();
        assert_eq!(grid.len(), 6);
        assert_eq!((grid[0].learning_rate, grid[0].epochs, grid[1].epochs, grid[3].learning_rate), (Some(1e-4), Some(1), Some(2), Some(5e-5)));
        assert_eq!(plan(Strategy::Grid, Some(2)).trials(0).unwrap(), grid[..2]);
        let random = plan(Strategy::Random, Some(4)).trials(7).unwrap();
        assert_eq!(random, plan(Strategy::Random, Some(4)).trials(7).unwrap(), "the same seed, the same trials");
        assert_ne!(random, plan(Strategy::Random, Some(4)).trials(8).unwrap(), "another seed, another sample");
        assert!(random.iter().all(|t| grid.contains(t)) && random.iter().enumerate().all(|(i, t)| !random[..i].contains(t)));
    }

    #[test]
    fn empty_spaces_zero_budgets_and_bad_values_are_refused() {
        let e = |p: SearchPlan| p.trials(0).unwrap_err().to_string();
        assert!(e(SearchPlan::default()).contains("names no values"));
        assert!(e(plan(Strategy::Grid, Some(0))).contains("at least 1"));
        let bad = SearchPlan { space: SearchSpace { batch_size: vec![0], ..SearchSpace::default() }, ..SearchPlan::default() };
        assert!(e(bad).contains("batchSize"));
        let twice = SearchPlan { space: SearchSpace { epochs: vec![2, 3, 2], ..SearchSpace::default() }, ..SearchPlan::default() };
        assert!(e(twice).contains("epochs lists a value twice"));
        let values = |n: usize| (1..=n).collect::<Vec<usize>>();
        let huge = SearchSpace { epochs: values(1000), batch_size: values(1000), lora_rank: values(1000), ..SearchSpace::default() };
        assert!(e(SearchPlan { space: huge, ..SearchPlan::default() }).contains("more than 10000 combinations"));
        let rank = TrialSettings { lora_rank: Some(4), ..TrialSettings::default() };
        assert_eq!(rank.apply(&TrainOptions::default()).unwrap().lora.map(|l| l.rank), Some(4), "a rank to try is a LoRA run");
    }
}
