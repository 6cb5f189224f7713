//! `webtune train` and `webtune eval`: fine-tuning a classifier, or a decoder as a language model
//! (all weights or LoRA), from data files.

use std::path::{Path, PathBuf};

use webtune::{
    Error, Result,
    data::{Columns, Dataset, Table, TextColumns, hold_out, parse_named, text_examples, train_and_validation},
    device,
    infer::{EncodeOptions, Encoder, ModelFiles},
    train::{
        Checkpoint, Evaluation, Event, Hooks, Schedule, StopReason, TrainOptions, causal_lm, fine_tune, lora::LoraOptions,
        options::Mode,
    },
};

use crate::cli::print;

/// Which columns of the data files hold the texts and labels.
#[derive(clap::Args)]
pub struct ColumnArgs {
    /// Column with the text.
    #[arg(long, default_value = "text")]
    pub text_column: String,
    /// Column with the second text of a pair (NLI, paraphrase), if any.
    #[arg(long)]
    pub text_pair_column: Option<String>,
    /// Column with the label (names or integer ids).
    #[arg(long, default_value = "label")]
    pub label_column: String,
}

impl ColumnArgs {
    fn columns(&self) -> Columns {
        Columns { text: self.text_column.clone(), text_pair: self.text_pair_column.clone(), label: self.label_column.clone() }
    }
}

#[derive(clap::Args)]
pub struct TrainArgs {
    /// text-classification (a BERT-family folder) | text-generation (a Llama-family folder or
    /// .gguf file, trained as a causal language model).
    #[arg(long, default_value = "text-classification")]
    task: String,
    /// Hugging Face model folder to start from: config.json, model.safetensors, tokenizer.json
    /// (text-generation: also a .gguf file).
    #[arg(long)]
    model: PathBuf,
    /// Training data: .csv, .tsv, .jsonl or .json (an array of objects).
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    columns: ColumnArgs,
    /// text-generation: the prompt column; with --completion-column, only completions are learned
    /// (rows without both columns: the --text-column is learned in full).
    #[arg(long, default_value = "prompt")]
    prompt_column: String,
    #[arg(long, default_value = "completion")]
    completion_column: String,
    /// text-generation: prompt/completion rows through the model's chat template (true | false;
    /// default: when the model has one).
    #[arg(long)]
    chat_template: Option<bool>,
    /// text-generation: train LoRA adapters of this rank (the base frozen) instead of all weights.
    #[arg(long)]
    lora_rank: Option<usize>,
    #[arg(long, default_value_t = 16.0, requires = "lora_rank")]
    lora_alpha: f64,
    /// Projections that get adapters.
    #[arg(long, default_value = "q_proj,v_proj", requires = "lora_rank")]
    lora_targets: String,
    /// With --lora-rank: write only the adapters to --out, as PEFT files (adapter_model.safetensors,
    /// adapter_config.json); without it the adapters are merged into a full model folder.
    #[arg(long, requires = "lora_rank")]
    peft: bool,
    /// Validation data (same columns). Without it, --validation-split of the data is held out.
    #[arg(long)]
    validation: Option<PathBuf>,
    /// Fraction of --data held out for validation when there is no --validation file (0 = none).
    #[arg(long, default_value_t = 0.1)]
    validation_split: f64,
    /// Where to write the fine-tuned model (a Hugging Face folder).
    #[arg(long)]
    out: PathBuf,
    /// Replace the model files already in --out.
    #[arg(long)]
    overwrite: bool,
    /// auto | gpu | cpu
    #[arg(long, default_value = "auto")]
    device: String,
    /// One JSON line per event (start, step, eval, done) instead of text.
    #[arg(long)]
    json: bool,
    #[arg(long, default_value_t = defaults().epochs)]
    epochs: usize,
    #[arg(long, default_value_t = defaults().batch_size)]
    batch_size: usize,
    #[arg(long, default_value_t = defaults().learning_rate)]
    learning_rate: f64,
    /// AdamW weight decay (not applied to biases and LayerNorm weights).
    #[arg(long, default_value_t = defaults().weight_decay)]
    weight_decay: f64,
    /// Warmup as a fraction of the optimizer steps.
    #[arg(long, conflicts_with = "warmup_steps")]
    warmup_ratio: Option<f64>,
    /// Warmup as a number of optimizer steps.
    #[arg(long)]
    warmup_steps: Option<usize>,
    /// constant | linear | cosine
    #[arg(long, default_value = "linear")]
    schedule: String,
    /// Longest input in tokens (longer texts are truncated).
    #[arg(long, default_value_t = defaults().max_length)]
    max_length: usize,
    /// Seeds initialisation, dropout, data order and the validation split.
    #[arg(long, default_value_t = defaults().seed)]
    seed: u64,
    /// Batches per optimizer step.
    #[arg(long, default_value_t = defaults().grad_accum)]
    grad_accum: usize,
    /// Clip the global gradient norm (0 = no clipping).
    #[arg(long, default_value_t = defaults().max_grad_norm.unwrap_or(0.0))]
    max_grad_norm: f64,
    /// Evaluate every N optimizer steps (besides each epoch end).
    #[arg(long)]
    eval_every: Option<usize>,
    /// Stop after N evaluations without improvement.
    #[arg(long)]
    early_stopping_patience: Option<usize>,
    /// accuracy | macro_f1 | macro_precision | macro_recall | loss (default accuracy);
    /// text-generation: loss | perplexity (default loss)
    #[arg(long)]
    metric: Option<String>,
    /// max | min (default: min for loss, else max)
    #[arg(long)]
    mode: Option<String>,
    /// Keep the last weights instead of going back to the best evaluation's.
    #[arg(long)]
    no_keep_best: bool,
    /// Batch texts of similar length together.
    #[arg(long)]
    group_by_length: bool,
    /// Report training loss every N optimizer steps.
    #[arg(long, default_value_t = defaults().log_every)]
    log_every: usize,
    /// Write a checkpoint to OUT/checkpoint every N optimizer steps (replacing the previous one).
    #[arg(long)]
    checkpoint_every: Option<usize>,
    /// Continue the run whose checkpoint folder this is (same data and options).
    #[arg(long)]
    resume: Option<PathBuf>,
}

/// The CLI's defaults are the library's.
fn defaults() -> TrainOptions {
    TrainOptions::default()
}

impl TrainArgs {
    fn options(&self) -> Result<TrainOptions> {
        let mode = match self.mode.as_deref() {
            None => None,
            Some("max") => Some(Mode::Max),
            Some("min") => Some(Mode::Min),
            Some(o) => return Err(Error::Options(format!("unknown --mode {o:?}; valid values are max, min"))),
        };
        let o = TrainOptions {
            epochs: self.epochs,
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            weight_decay: self.weight_decay,
            warmup_steps: self.warmup_steps,
            warmup_ratio: self.warmup_ratio,
            schedule: self.schedule.parse::<Schedule>()?,
            max_length: self.max_length,
            seed: self.seed,
            grad_accum: self.grad_accum,
            max_grad_norm: (self.max_grad_norm > 0.0).then_some(self.max_grad_norm),
            eval_every: self.eval_every,
            early_stopping_patience: self.early_stopping_patience,
            metric: self.metric.clone(),
            mode,
            keep_best: !self.no_keep_best,
            group_by_length: self.group_by_length,
            log_every: self.log_every,
            checkpoint_every: self.checkpoint_every,
            chat_template: self.chat_template,
            lora: self.lora_rank.map(|rank| LoraOptions {
                rank,
                alpha: self.lora_alpha,
                target_modules: self.lora_targets.split(',').map(|t| t.trim().to_string()).collect(),
            }),
        };
        o.validate()?;
        Ok(o)
    }
}

fn read_table(path: &Path) -> Result<Table> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| Error::Data(format!("cannot read {name}: {e}")))?;
    parse_named(&bytes, &name)
}

/// Fails before training when the output folder would lose files or cannot be written.
fn prepare_out(out: &Path, overwrite: bool) -> Result<()> {
    let existing: Vec<&str> = ["config.json", "model.safetensors", "tokenizer.json", "adapter_model.safetensors"]
        .into_iter()
        .filter(|f| out.join(f).exists())
        .collect();
    if !existing.is_empty() && !overwrite {
        return Err(Error::Options(format!(
            "{} already has {}; choose another --out or pass --overwrite",
            out.display(),
            existing.join(", ")
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::Options(format!("cannot create --out {}: {e}", out.display())))
}

pub async fn train(a: &TrainArgs) -> Result<()> {
    let options = a.options()?;
    match a.task.as_str() {
        "text-classification" => {}
        "text-generation" => return train_lm(a, &options).await,
        t => return Err(Error::Options(format!("unknown --task {t:?}; valid tasks are text-classification, text-generation"))),
    }
    prepare_out(&a.out, a.overwrite)?;
    let files = ModelFiles::from_dir(&a.model)?;
    let columns = a.columns.columns();
    let data = Dataset::from_table(&read_table(&a.data)?, &columns)?;
    let validation = a.validation.as_deref().map(read_table).transpose()?;
    let (train, validation) = train_and_validation(data, validation.as_ref(), &columns, a.validation_split, a.seed)?;
    let dev = device::select(a.device.parse()?).await?;
    let mut on_event = printer(a.json);
    let resume = a.resume.as_deref().map(read_checkpoint).transpose()?;
    let checkpoint_dir = a.out.join("checkpoint");
    let mut on_checkpoint = |c: &Checkpoint| write_checkpoint(&checkpoint_dir, c);
    let hooks = Hooks { on_event: &mut on_event, on_checkpoint: Some(&mut on_checkpoint), cancelled: &|| false };
    let trained = fine_tune(&files, &dev, &train, validation.as_ref(), &options, resume.as_ref(), hooks).await?;
    let diverged = trained.stop_reason == StopReason::Diverged;
    let out = Encoder::from_trained(trained, &files).export().await?;
    let files = [("config.json", out.config), ("model.safetensors", out.weights), ("tokenizer.json", out.tokenizer)];
    finish(a, files.into(), diverged, "webtune predict")
}

/// `--task text-generation`: a decoder trained as a causal language model (all weights, or LoRA
/// adapters with --lora-rank), written as a Hugging Face folder or, with --peft, PEFT adapter files.
async fn train_lm(a: &TrainArgs, options: &TrainOptions) -> Result<()> {
    prepare_out(&a.out, a.overwrite)?;
    let dev = device::select(a.device.parse()?).await?;
    let decoder = crate::generate::load_decoder(&a.model, &dev)?;
    let columns = TextColumns {
        text: a.columns.text_column.clone(),
        prompt: a.prompt_column.clone(),
        completion: a.completion_column.clone(),
    };
    let data = text_examples(&read_table(&a.data)?, &columns)?;
    let validation = a.validation.as_deref().map(|v| text_examples(&read_table(v)?, &columns)).transpose()?;
    let (train, validation) = hold_out(data, validation, a.validation_split, a.seed)?;
    let mut on_event = printer(a.json);
    let resume = a.resume.as_deref().map(read_checkpoint).transpose()?;
    let checkpoint_dir = a.out.join("checkpoint");
    let mut on_checkpoint = |c: &Checkpoint| write_checkpoint(&checkpoint_dir, c);
    let hooks = Hooks { on_event: &mut on_event, on_checkpoint: Some(&mut on_checkpoint), cancelled: &|| false };
    let run = causal_lm::fine_tune(&decoder, &dev, None, &train, validation.as_deref(), options, resume.as_ref(), hooks).await?;
    let diverged = run.stop_reason == StopReason::Diverged;
    let tuned = decoder.with_model(run.model, run.device, options.lora.clone());
    let files = match a.peft {
        true => tuned.export_adapter(&a.model.display().to_string()).await?,
        false => tuned.export().await?,
    };
    finish(a, files, diverged, "webtune generate")
}

/// Prints each event: a JSON line with --json, else a line of text on stderr.
fn printer(json: bool) -> impl FnMut(Event) {
    move |e: Event| {
        if json {
            let _ = print(&e);
        } else {
            eprintln!("{}", describe(&e));
        }
    }
}

/// Writes the trained model's files to --out; a diverged run is an error after that.
fn finish(a: &TrainArgs, files: Vec<(&str, Vec<u8>)>, diverged: bool, command: &str) -> Result<()> {
    for (name, bytes) in files {
        let path = a.out.join(name);
        std::fs::write(&path, bytes).map_err(|e| Error::Options(format!("cannot write {}: {e}", path.display())))?;
    }
    if diverged {
        return Err(Error::Training(format!(
            "training diverged (see the done event); {} holds the weights without the skipped updates",
            a.out.display()
        )));
    }
    if !a.json {
        let hint = if a.peft { "(PEFT adapter files)".to_string() } else { format!("(load it with `{command} --model {}`)", a.out.display()) };
        eprintln!("wrote {} {hint}", a.out.display());
    }
    Ok(())
}

/// Writes the checkpoint next to the previous one, then swaps them, so that a crash never leaves
/// a half-written checkpoint behind.
fn write_checkpoint(dir: &Path, c: &Checkpoint) -> Result<()> {
    let fail = |what: &str, e: std::io::Error| Error::Options(format!("cannot {what} checkpoint {}: {e}", dir.display()));
    let tmp = dir.with_extension("partial");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| fail("create", e))?;
    for (name, bytes) in c.files()? {
        std::fs::write(tmp.join(name), bytes).map_err(|e| fail("write", e))?;
    }
    let old = dir.with_extension("old");
    let _ = std::fs::remove_dir_all(&old);
    if dir.exists() {
        std::fs::rename(dir, &old).map_err(|e| fail("replace", e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| fail("replace", e))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

fn read_checkpoint(dir: &Path) -> Result<Checkpoint> {
    if !dir.is_dir() {
        return Err(Error::Options(format!("--resume {}: not a folder; pass OUT/checkpoint of the earlier run", dir.display())));
    }
    Checkpoint::from_files(|name| std::fs::read(dir.join(name)).ok())
}

/// One human-readable line per event.
fn describe(e: &Event) -> String {
    match e {
        Event::Start { device, train_examples, validation_examples, total_steps, warmup_steps, labels, warnings, memory, .. } => {
            let mut s = format!(
                "training on {device}: {train_examples} examples ({validation_examples} for validation), labels {labels:?}, {total_steps} steps ({warmup_steps} warmup), about {:.0} MB of tensors",
                memory.total_bytes as f64 / 1e6
            );
            for w in warnings {
                s += &format!("\nwarning: {w}");
            }
            s
        }
        Event::Step { step, total_steps, loss, learning_rate, grad_norm, tokens_per_second, step_ms, .. } => format!(
            "step {step}/{total_steps}  loss {loss:.4}  lr {learning_rate:.2e}  grad norm {}  {tokens_per_second:.0} tokens/s  {step_ms:.0} ms/step",
            grad_norm.map_or("-".into(), |n| format!("{n:.3}"))
        ),
        Event::Eval { step, epoch, metrics, is_best } => {
            let m = |name: &str| metrics.get(name).unwrap_or(f64::NAN);
            let values = match metrics {
                Evaluation::Classification(_) => {
                    format!("accuracy {:.4}  macro F1 {:.4}  loss {:.4}", m("accuracy"), m("macro_f1"), m("loss"))
                }
                Evaluation::Language(_) => format!("loss {:.4}  perplexity {:.2}", m("loss"), m("perplexity")),
            };
            format!("eval at step {step} (epoch {epoch:.2}): {values}{}", if *is_best { "  (best)" } else { "" })
        }
        Event::Done { steps, stop_reason, best, restored_best, seconds, message } => format!(
            "done after {steps} steps in {seconds:.1} s ({stop_reason:?}){}{}",
            match best {
                Some(b) if *restored_best => format!("; kept the best weights: {} {:.4} at step {}", b.metric, b.value, b.step),
                _ => String::new(),
            },
            message.as_deref().map_or(String::new(), |m| format!("\n{m}"))
        ),
        Event::SkippedStep { message, .. } => format!("warning: {message}"),
        Event::Checkpoint { step, .. } => format!("checkpoint at step {step}"),
    }
}

#[derive(clap::Args)]
pub struct EvalArgs {
    /// A fine-tuned classifier folder (config.json with id2label, model.safetensors, tokenizer.json).
    #[arg(long)]
    model: PathBuf,
    /// Labelled data: .csv, .tsv, .jsonl or .json.
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    columns: ColumnArgs,
    /// auto | gpu | cpu
    #[arg(long, default_value = "auto")]
    device: String,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Longest input in tokens (default 128, capped at the model's limit).
    #[arg(long, default_value_t = 128)]
    max_length: usize,
}

/// One JSON line: accuracy, macro_f1, loss, per_class, confusion_matrix, …
pub async fn eval(a: &EvalArgs) -> Result<()> {
    let dev = device::select(a.device.parse()?).await?;
    let mut enc = Encoder::load(ModelFiles::from_dir(&a.model)?, &dev)?;
    for w in &enc.report.warnings {
        eprintln!("warning: {w}");
    }
    let max_length = a.max_length.min(enc.config.max_position_embeddings);
    enc.configure(EncodeOptions { max_length: Some(max_length), truncate: true, batch_size: a.batch_size })?;
    print(&enc.evaluate(&read_table(&a.data)?, &a.columns.columns()).await?)
}
