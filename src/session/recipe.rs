//! A fine-tuning run as a Hugging Face recipe: a folder that runs the same run with transformers'
//! `Trainer` (and PEFT for LoRA) on any number of GPUs (`accelerate launch`, DeepSpeed ZeRO-2),
//! for when a run outgrows the browser.
//!
//! The folder holds the run as data — `recipe.json` (the base model, the Trainer's arguments
//! derived from webtune's options, the task's data settings, PEFT's LoRA config), the rows as
//! webtune split them (`train.jsonl`, `validation.jsonl`) and webtune's batch order for every
//! epoch (`webtune_order.json`) — beside a fixed program per task, `train.py`
//! (`recipe/train_classifier.py`, `recipe/train_token_classifier.py`,
//! `recipe/train_question_answering.py`, `recipe/train_masked_lm.py`, `recipe/train_causal_lm.py`,
//! all on `recipe/webtune_recipe.py`; a SetFit run's, `recipe/train_setfit.py`, on setfit's Trainer), the pinned `requirements.txt`, the `accelerate` configs and a
//! README. With `--webtune-order` the program feeds the batches in webtune's order, which makes its
//! steps webtune's steps (tests/recipe.rs); without it, the Trainer shuffles as it does for any run.

mod classifier;
mod language_model;
mod masked_lm;
mod question_answering;
mod setfit;
mod token_classifier;

use serde_json::{Value, json};

pub use classifier::{BaseFiles, classifier_recipe};
pub use language_model::language_model_recipe;
pub use masked_lm::masked_lm_recipe;
pub use question_answering::question_answering_recipe;
pub use token_classifier::token_classifier_recipe;

use crate::{
    Error, Result,
    data::{Columns, TextColumns, epoch_order},
    infer::ModelFiles,
    models::{encoder_family::{EncoderFamily, EncoderHead}, lora::LoraBase},
    session::{SessionData, Task},
    train::{Checkpoint, Schedule, TrainOptions, options::Mode},
    weights::peft::adapter_config,
};

/// The recipe of fine-tuning the encoder `files` (named `model` in the recipe) for `task` on
/// `data`, as webtune would run it with `options` (from checkpoint `resume`, if given). (A
/// text-generation recipe is written from the loaded decoder: [`language_model_recipe`].)
pub async fn encoder_recipe(
    task: Task,
    files: BaseFiles<'_>,
    model: &str,
    data: &SessionData,
    columns: &Columns,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
) -> Result<RecipeFiles> {
    match task {
        Task::TextClassification | Task::FeatureExtraction => classifier_recipe(files, model, data, columns, options, resume).await,
        Task::TokenClassification => token_classifier_recipe(files, model, data, options, resume).await,
        Task::TextGeneration => Err(Error::Options(
            "a text-generation run's recipe is written from the loaded model: save({ format: \"recipe\" }) after finetune(), or webtune recipe --task text-generation; continuing a text-generation run from a checkpoint is not exported yet".into(),
        )),
        Task::FillMask => masked_lm_recipe(files, model, data, &TextColumns { text: columns.text.clone(), ..TextColumns::default() }, options, resume).await,
        Task::QuestionAnswering => question_answering_recipe(files, model, data, options, resume).await,
    }
}

/// A recipe's files, by name.
pub type RecipeFiles = Vec<(String, Vec<u8>)>;

/// What every train.py imports.
const COMMON_PY: &str = include_str!("recipe/webtune_recipe.py");
const REQUIREMENTS: &str = include_str!("recipe/requirements.txt");
const ACCELERATE_DDP: &str = include_str!("recipe/accelerate_multi_gpu.yaml");
const ACCELERATE_DEEPSPEED: &str = include_str!("recipe/accelerate_deepspeed.yaml");
const DEEPSPEED_ZERO2: &str = include_str!("recipe/ds_zero2.json");
const README: &str = include_str!("recipe/README.md");

/// How a task's README differs: what the run trains, its settings and rows, its notes, and how
/// the result loads back.
struct Readme<'a> {
    task: &'a str,
    settings: &'a str,
    rows: &'a str,
    notes: &'a str,
    pipeline: &'a str,
    adapter: &'a str,
}

/// How an encoder task's LoRA adapter comes back (the README's last words).
const ENCODER_ADAPTER: &str =
    "a LoRA run's\nadapter loads with `PeftModel.from_pretrained`, or merge it (`merge_and_unload()`) and save the\nfolder for webtune.";

/// The files every recipe has beside the run's own: the task's `program` as train.py, the shared
/// module, the pinned requirements, the launch configs and the README for base `model`.
fn fixed_files(program: &str, model: &str, readme: &Readme) -> RecipeFiles {
    let text = [
        ("{{model}}", model),
        ("{{task}}", readme.task),
        ("{{settings}}", readme.settings),
        ("{{rows}}", readme.rows),
        ("{{notes}}", readme.notes),
        ("{{pipeline}}", readme.pipeline),
        ("{{adapter}}", readme.adapter),
    ]
    .iter()
    .fold(README.to_string(), |text, (key, value)| text.replace(key, value));
    [
        ("train.py", program),
        ("webtune_recipe.py", COMMON_PY),
        ("requirements.txt", REQUIREMENTS),
        ("accelerate_multi_gpu.yaml", ACCELERATE_DDP),
        ("accelerate_deepspeed.yaml", ACCELERATE_DEEPSPEED),
        ("ds_zero2.json", DEEPSPEED_ZERO2),
        ("README.md", &text),
    ]
    .into_iter()
    .map(|(name, text)| (name.to_string(), text.as_bytes().to_vec()))
    .collect()
}

/// A recipe folder as every task writes it: recipe.json (the run's common entries and the task's
/// own `settings`), the rows, webtune's batch order, the fixed files, and the task's `extra` files.
struct Folder<'a> {
    task: Task,
    model: &'a str,
    data: &'a SessionData,
    options: &'a TrainOptions,
    /// The task's own entries of recipe.json (an object).
    settings: Value,
    warnings: Vec<String>,
    /// PEFT's LoRA config of a LoRA run.
    lora: Option<Value>,
    /// Whether `extra` holds the adapters (and head) webtune's run starts from, `initial_adapter/`.
    initial_adapter: bool,
    /// The checkpoint the recipe continues from (its files in `extra`, under resume/).
    resume: Option<Value>,
    /// The training and validation rows as JSON lines.
    train: Vec<u8>,
    validation: Option<Vec<u8>>,
    order: &'a [Vec<Vec<usize>>],
    program: &'a str,
    readme: &'a Readme<'a>,
    extra: RecipeFiles,
}

impl Folder<'_> {
    fn files(self) -> Result<RecipeFiles> {
        let mut recipe = json!({
            "webtune_recipe": 1,
            "task": self.task.name(),
            "model": self.model,
            // how webtune held validation rows out of the data (null: a validation file was given)
            "validation_split": self.data.validation.is_none().then_some(self.data.validation_split),
            "training_arguments": training_arguments(self.task, self.options, self.validation.is_some())?,
            "early_stopping_patience": self.options.early_stopping_patience,
            "lora": self.lora,
            // the adapters and head webtune's run starts from (PEFT's files), when the recipe has them
            "initial_adapter": self.initial_adapter.then_some("initial_adapter"),
            // the checkpoint the recipe continues from (its files in resume/), or null: from the start
            "resume": self.resume,
            "webtune_options": self.options,
            "warnings": self.warnings,
        });
        if let (Value::Object(entries), Value::Object(settings)) = (&mut recipe, self.settings) {
            entries.extend(settings);
        }
        let mut out = vec![
            ("recipe.json".to_string(), pretty(&recipe)?),
            ("train.jsonl".to_string(), self.train),
            ("webtune_order.json".to_string(), pretty(&json!({ "epochs": self.order }))?),
        ];
        out.extend(self.validation.map(|v| ("validation.jsonl".to_string(), v)));
        out.extend(fixed_files(self.program, self.model, self.readme));
        out.extend(self.extra);
        Ok(out)
    }
}

/// webtune's batches of every epoch of a run with `options` on examples of `lengths` tokens.
fn batch_order(lengths: &[usize], options: &TrainOptions) -> Vec<Vec<Vec<usize>>> {
    (0..options.epochs).map(|e| epoch_order(lengths, options.batch_size, options.seed, e, options.group_by_length)).collect()
}

/// What an encoder's LoRA run puts in its recipe: PEFT's config (`config`, also as the file's
/// bytes) and, when the base's weights are at hand (`base`), the adapters and head the run starts
/// from as `initial_adapter/` files.
struct EncoderLoraFiles {
    config: Value,
    config_bytes: Vec<u8>,
    initial: RecipeFiles,
    base: Option<ModelFiles>,
}

impl EncoderLoraFiles {
    /// Those of a run with `options` (`None` without LoRA) of the encoder `files` with `head`;
    /// `start` draws the starting adapters from the base.
    async fn new(
        options: &TrainOptions,
        family: EncoderFamily,
        head: EncoderHead,
        files: &BaseFiles<'_>,
        model: &str,
        start: impl AsyncFnOnce(&ModelFiles) -> Result<Vec<u8>>,
    ) -> Result<Option<Self>> {
        let Some(lora) = &options.lora else { return Ok(None) };
        let frame = LoraBase::Encoder(family, head);
        lora.validate(frame)?;
        let config_bytes = adapter_config(lora, frame, model)?;
        let config = serde_json::from_slice::<Value>(&config_bytes).map_err(|e| Error::Backend(format!("adapter config: {e}")))?;
        let base = files.weights.map(|weights| ModelFiles { config: files.config.to_vec(), weights: weights.to_vec(), tokenizer: files.tokenizer.to_vec() });
        let initial = match &base {
            Some(base) => vec![
                ("initial_adapter/adapter_model.safetensors".to_string(), start(base).await?),
                ("initial_adapter/adapter_config.json".to_string(), config_bytes.clone()),
            ],
            None => Vec::new(),
        };
        Ok(Some(EncoderLoraFiles { config, config_bytes, initial, base }))
    }
}

/// What every recipe checks of its options first: they are valid, the task's own, and any metric
/// they name is one the task reports (`model`: what is trained, in prose, for the error).
fn check_options(task: Task, options: &TrainOptions, model: &str) -> Result<()> {
    options.validate()?;
    options.check_for_task(task.name())?;
    options.check_metric(task.metrics(), model)
}

/// Refuses to continue a `task` run from a checkpoint (a recipe continues classifiers' so far).
fn from_start(task: Task, resume: Option<&Checkpoint>) -> Result<()> {
    match resume {
        Some(_) => Err(Error::Options(format!(
            "a recipe continues text-classification runs from a checkpoint so far; write this {} recipe without the checkpoint (it trains from the start)",
            task.name()
        ))),
        None => Ok(()),
    }
}

/// JSON lines of `rows`.
fn json_lines(rows: impl IntoIterator<Item = Value>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for row in rows {
        out.extend(serde_json::to_vec(&row).map_err(|e| Error::Backend(format!("recipe rows: {e}")))?);
        out.push(b'\n');
    }
    Ok(out)
}

/// transformers' `TrainingArguments` for a `task` run with `options` (`validation`: whether there is validation
/// data to evaluate on). Evaluation every N steps is the Trainer's `eval_steps` alone: webtune
/// also evaluates at each epoch's end.
fn training_arguments(task: Task, options: &TrainOptions, validation: bool) -> Result<Value> {
    let metric = options.metric.clone().unwrap_or_else(|| task.default_metric().to_string());
    let mode = options.mode.unwrap_or(Mode::natural_for(&metric));
    let evaluate = if !validation {
        "no"
    } else if options.eval_every.is_some() {
        "steps"
    } else {
        "epoch"
    };
    if !validation && (options.early_stopping_patience.is_some() || options.metric.is_some()) {
        return Err(Error::Options("earlyStoppingPatience and metric judge evaluations; this run has no validation data (validationSplit 0, no validation file)".into()));
    }
    let mut args = json!({
        "num_train_epochs": options.epochs,
        "per_device_train_batch_size": options.batch_size,
        "per_device_eval_batch_size": options.batch_size,
        "gradient_accumulation_steps": options.grad_accum,
        "learning_rate": options.learning_rate,
        "weight_decay": options.weight_decay,
        "adam_beta1": 0.9,
        "adam_beta2": 0.999,
        "adam_epsilon": 1e-8,
        "optim": "adamw_torch",
        "lr_scheduler_type": match options.schedule {
            Schedule::Constant => "constant_with_warmup",
            Schedule::Linear => "linear",
            Schedule::Cosine => "cosine",
        },
        // an integer: steps; a fraction below 1: of all optimizer steps (transformers 5)
        "warmup_steps": match (options.warmup_steps, options.warmup_ratio) {
            (Some(s), _) => json!(s),
            (None, Some(r)) => json!(r),
            (None, None) => json!(0),
        },
        "max_grad_norm": options.max_grad_norm.unwrap_or(0.0),
        "seed": options.seed,
        "data_seed": options.seed,
        "train_sampling_strategy": if options.group_by_length { "group_by_length" } else { "random" },
        "gradient_checkpointing": options.gradient_checkpointing,
        "logging_steps": options.log_every,
        "eval_strategy": evaluate,
        "save_strategy": if options.keep_best && validation { evaluate } else { "no" },
        "load_best_model_at_end": options.keep_best && validation,
        "metric_for_best_model": metric,
        "greater_is_better": mode == Mode::Max,
        "save_total_limit": 2,
        "report_to": "none",
    });
    if let Some(n) = options.eval_every.filter(|_| validation) {
        args["eval_steps"] = json!(n);
        args["save_steps"] = json!(n);
    }
    Ok(args)
}

fn pretty(v: &Value) -> Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(v).map_err(|e| Error::Backend(format!("recipe.json: {e}")))?;
    bytes.push(b'\n');
    Ok(bytes)
}
