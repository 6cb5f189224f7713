//! `webtune search`: hyperparameter search from the command line, as `pipeline.search` in JS —
//! one fine-tuning run per combination of the given lists (the grid, or with `--strategy random`
//! a seeded sample of `--trials` of them), each from the same model, judged by its best validation
//! metric; one JSON line per trial on stdout, the best trial's model written to `--out`. The plan
//! and the loop are the library's (`train::SearchPlan`, `session::search`), as in the browser.

use serde_json::json;
use webtune::{
    Error, Result,
    session::{Inputs, Task, TrialResult},
    train::{Hooks, SearchPlan, SearchSpace, Strategy, TrainOptions},
};

use crate::{
    cli::print,
    finetune::{TrainArgs, describe, out_files, prepare_out, write_files},
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
    /// Print the trials the search would run (one JSON line each) without training.
    #[arg(long)]
    pub dry_run: bool,
}

impl SearchArgs {
    /// The lists as a search plan.
    fn plan(&self) -> Result<SearchPlan> {
        let strategy = match self.strategy.as_str() {
            "grid" => Strategy::Grid,
            "random" => Strategy::Random,
            s => return Err(Error::Options(format!("search: unknown --strategy {s:?}; valid strategies are grid, random"))),
        };
        let space = SearchSpace {
            learning_rate: self.learning_rates.clone(),
            epochs: self.epoch_counts.clone(),
            batch_size: self.batch_sizes.clone(),
            lora_rank: self.lora_ranks.clone(),
        };
        Ok(SearchPlan { space, strategy, trials: self.trials })
    }
}

pub async fn search(a: &SearchArgs) -> Result<()> {
    let t = &a.train;
    let base = t.options()?;
    let plan = a.plan()?;
    let task = Task::parse(&t.task)?;
    if a.dry_run {
        for (index, settings) in plan.trials(base.seed)?.iter().enumerate() {
            print(&json!({ "index": index, "settings": settings }))?;
        }
        return Ok(());
    }
    prepare_out(&t.out, t.overwrite)?;
    let dev = crate::cli::select_device(&t.device).await?;
    let loaded = t.load_base(task, &base, &dev)?;
    let data = t.data()?;
    let (columns, text_columns) = (t.columns.columns(), t.columns.text_columns(&t.text));
    let inputs = Inputs { device: &dev, data: &data, columns: &columns, text_columns: &text_columns };
    let trial = async |index, options: TrainOptions| {
        let mut on_event = |e| eprintln!("trial {index}: {}", describe(&e));
        let hooks = Hooks { on_event: &mut on_event, on_checkpoint: None, cancelled: &|| false };
        task.finetune(loaded.base(), inputs, &options, None, hooks).await
    };
    let found = webtune::session::search(&plan, task, &base, trial, printed).await?;
    print(&json!({ "best": found.best, "out": t.out.display().to_string() }))?;
    write_files(&t.out, out_files(&found.model, t).await?)
}

/// One JSON line per finished trial.
fn printed(trial: &TrialResult) {
    let _ = print(trial);
}
