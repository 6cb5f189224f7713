//! `webtune search`: hyperparameter search from the command line, as `pipeline.search` in JS —
//! one fine-tuning run per combination of the given lists (the grid, or with `--strategy random`
//! a seeded sample of `--trials` of them), each from the same model, judged by its best validation
//! metric; one JSON line per trial on stdout, the best trial's model written to `--out`.

use rand::{SeedableRng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::json;
use webtune::{
    ComputeDevice, Error, Result,
    infer::{Decoder, Encoder, ModelFiles},
    session::{SessionData, finetune_classifier, finetune_decoder},
    train::{Best, Hooks, TrainOptions, options::Mode},
};

use crate::{
    cli::print,
    finetune::{TrainArgs, decoder_files, describe, encoder_files, prepare_out},
};

#[derive(clap::Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub train: TrainArgs,
    /// Learning rates to try, comma-separated (else --learning-rate).
    #[arg(long, value_delimiter = ',')]
    pub learning_rates: Vec<f64>,
    /// Epoch counts to try, comma-separated (else --epochs).
    #[arg(long, value_delimiter = ',')]
    pub epoch_counts: Vec<usize>,
    /// Batch sizes to try, comma-separated (else --batch-size).
    #[arg(long, value_delimiter = ',')]
    pub batch_sizes: Vec<usize>,
    /// LoRA ranks to try, comma-separated (with --lora-rank, whose other --lora-* flags apply).
    #[arg(long, value_delimiter = ',', requires = "lora_rank")]
    pub lora_ranks: Vec<usize>,
    /// grid (every combination, the last list varying fastest; the first --trials of them) |
    /// random (--trials different combinations, drawn with --seed).
    #[arg(long, default_value = "grid")]
    pub strategy: String,
    /// The budget: at most this many trials.
    #[arg(long)]
    pub trials: Option<usize>,
}

/// One trial's settings (what it changes from the training flags).
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Settings {
    #[serde(skip_serializing_if = "Option::is_none")]
    learning_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    epochs: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    batch_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lora_rank: Option<usize>,
}

impl Settings {
    fn apply(&self, base: &TrainOptions) -> Result<TrainOptions> {
        let mut o = base.clone();
        o.learning_rate = self.learning_rate.unwrap_or(o.learning_rate);
        o.epochs = self.epochs.unwrap_or(o.epochs);
        o.batch_size = self.batch_size.unwrap_or(o.batch_size);
        if let (Some(rank), Some(lora)) = (self.lora_rank, o.lora.as_mut()) {
            lora.rank = rank;
        }
        o.validate()?;
        Ok(o)
    }
}

/// Every combination of the lists (an empty list keeps the flag's value), the last varying fastest.
fn grid(a: &SearchArgs) -> Vec<Settings> {
    fn or_none<T: Copy>(v: &[T]) -> Vec<Option<T>> {
        if v.is_empty() { vec![None] } else { v.iter().copied().map(Some).collect() }
    }
    let mut out = Vec::new();
    for learning_rate in or_none(&a.learning_rates) {
        for epochs in or_none(&a.epoch_counts) {
            for batch_size in or_none(&a.batch_sizes) {
                for lora_rank in or_none(&a.lora_ranks) {
                    out.push(Settings { learning_rate, epochs, batch_size, lora_rank });
                }
            }
        }
    }
    out
}

/// The trials to run, in order.
fn trials(a: &SearchArgs, seed: u64) -> Result<Vec<Settings>> {
    if a.learning_rates.is_empty() && a.epoch_counts.is_empty() && a.batch_sizes.is_empty() && a.lora_ranks.is_empty() {
        return Err(Error::Options(
            "search: give at least one list to try: --learning-rates, --epoch-counts, --batch-sizes or --lora-ranks (comma-separated)".into(),
        ));
    }
    if a.trials == Some(0) {
        return Err(Error::Options("search: --trials must be at least 1 (the budget)".into()));
    }
    let mut all = grid(a);
    match a.strategy.as_str() {
        "grid" => {}
        "random" => all.shuffle(&mut ChaCha8Rng::seed_from_u64(seed)),
        s => return Err(Error::Options(format!("search: unknown --strategy {s:?}; valid strategies are grid, random"))),
    }
    all.truncate(a.trials.unwrap_or(usize::MAX));
    Ok(all)
}

/// What every trial starts from.
enum Start {
    Classifier(ModelFiles),
    Decoder(Box<Decoder>),
}

impl Start {
    /// Trains one trial with `options`: its best evaluation, its steps, and its files for --out.
    async fn trial(&self, t: &TrainArgs, dev: &ComputeDevice, data: &SessionData, options: &TrainOptions, index: usize) -> Result<Trial> {
        let mut on_event = |e| eprintln!("trial {index}: {}", describe(&e));
        let hooks = Hooks { on_event: &mut on_event, on_checkpoint: None, cancelled: &|| false };
        Ok(match self {
            Start::Classifier(files) => {
                let tuned = finetune_classifier(files, dev, data, &t.columns.columns(), options, None, hooks).await?;
                Trial { best: tuned.best, steps: tuned.steps, model: Tuned::Encoder(tuned.model) }
            }
            Start::Decoder(decoder) => {
                let tuned = finetune_decoder(decoder, dev, data, &t.columns.text_columns(&t.text), options, None, hooks).await?;
                Trial { best: tuned.best, steps: tuned.steps, model: Tuned::Decoder(Box::new(tuned.model)) }
            }
        })
    }
}

/// A finished trial.
struct Trial {
    best: Option<Best>,
    steps: usize,
    model: Tuned,
}

/// A trial's trained model, exported only when it is the best so far.
enum Tuned {
    Encoder(Encoder),
    Decoder(Box<Decoder>),
}

impl Tuned {
    async fn files(&self, t: &TrainArgs) -> Result<Vec<(&'static str, Vec<u8>)>> {
        match self {
            Tuned::Encoder(m) => encoder_files(m, t).await,
            Tuned::Decoder(m) => decoder_files(m, t).await,
        }
    }
}

pub async fn search(a: &SearchArgs) -> Result<()> {
    let t = &a.train;
    let base = t.options()?;
    let plan = trials(a, base.seed)?;
    if !matches!(t.task.as_str(), "text-classification" | "text-generation") {
        return Err(Error::Options(format!("unknown --task {:?}; valid tasks are text-classification, text-generation", t.task)));
    }
    prepare_out(&t.out, t.overwrite)?;
    let dev = crate::cli::select_device(&t.device).await?;
    let data = t.data()?;
    let start = match t.task.as_str() {
        "text-classification" => Start::Classifier(ModelFiles::from_dir(&t.model)?),
        _ => Start::Decoder(Box::new(crate::generate::load_decoder(&t.model, &dev)?)),
    };
    let mut best: Option<(serde_json::Value, f64, Vec<(&str, Vec<u8>)>)> = None;
    for (index, settings) in plan.iter().enumerate() {
        let trial = start.trial(t, &dev, &data, &settings.apply(&base)?, index).await?;
        let Some(judged) = trial.best else {
            return Err(Error::Options(
                "search: a trial ended without an evaluation to compare; give validation data (--validation, or --validation-split above 0)".into(),
            ));
        };
        let mode = base.mode.unwrap_or_else(|| Mode::natural_for(&judged.metric));
        let line = json!({ "trial": index, "settings": settings, "metric": judged.metric, "value": judged.value, "steps": trial.steps });
        print(&line)?;
        if best.as_ref().is_none_or(|(_, v, _)| mode.improves(judged.value, *v)) {
            best = Some((line, judged.value, trial.model.files(t).await?));
        }
    }
    // `trials` never plans an empty search
    let Some((line, _, files)) = best else { return Err(Error::Options("search: no trial ran".into())) };
    for (name, bytes) in files {
        let path = t.out.join(name);
        std::fs::write(&path, bytes).map_err(|e| Error::Options(format!("cannot write {}: {e}", path.display())))?;
    }
    print(&json!({ "best": line, "out": t.out.display().to_string() }))
}
