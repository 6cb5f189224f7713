//! A fine-tuning run as a Hugging Face recipe: a folder that runs the same run with transformers'
//! `Trainer` (and PEFT for LoRA) on any number of GPUs (`accelerate launch`, DeepSpeed ZeRO-2),
//! for when a run outgrows the browser.
//!
//! The folder holds the run as data — `recipe.json` (the base model, the Trainer's arguments
//! derived from webtune's options, the labels, PEFT's LoRA config), the rows as webtune split
//! them (`train.jsonl`, `validation.jsonl`) and webtune's batch order for every epoch
//! (`webtune_order.json`) — beside a fixed program, `train.py` (`recipe/train_classifier.py`),
//! the pinned `requirements.txt`, the `accelerate` configs and a README. With `--webtune-order`
//! the program feeds the batches in webtune's order, which makes its steps webtune's steps
//! (tests/recipe.rs); without it, the Trainer shuffles as it does for any run.

use serde_json::{Value, json};

use crate::{
    Error, Result,
    data::{Columns, Dataset, epoch_order, token_lengths},
    infer::{ModelFiles, encoder::tokenizer_for},
    models::{
        bert::BertConfig,
        encoder_family::EncoderHead,
        lora::LoraBase,
    },
    session::{SessionData, Task, recipe_resume::resume_files},
    train::{
        Checkpoint, Schedule, TrainOptions,
        classifier::{label_order, lora_start, new_head},
        options::Mode,
    },
    weights::peft::adapter_config,
};

/// The program that runs a classification recipe.
const TRAIN_CLASSIFIER_PY: &str = include_str!("recipe/train_classifier.py");
const REQUIREMENTS: &str = include_str!("recipe/requirements.txt");
const ACCELERATE_DDP: &str = include_str!("recipe/accelerate_multi_gpu.yaml");
const ACCELERATE_DEEPSPEED: &str = include_str!("recipe/accelerate_deepspeed.yaml");
const DEEPSPEED_ZERO2: &str = include_str!("recipe/ds_zero2.json");
const README: &str = include_str!("recipe/README.md");

/// The model files a recipe reads: its `config.json` (family, labels, length), `tokenizer.json`
/// (lengths, for `groupByLength`) and, for a LoRA run, the weights: with them the recipe carries
/// the adapters and head webtune's run starts from (`initial_adapter/`), so that both runs start
/// alike; without them PEFT draws its own.
pub struct BaseFiles<'a> {
    pub config: &'a [u8],
    pub tokenizer: &'a [u8],
    pub weights: Option<&'a [u8]>,
}

impl<'a> From<&'a ModelFiles> for BaseFiles<'a> {
    fn from(files: &'a ModelFiles) -> Self {
        BaseFiles { config: &files.config, tokenizer: &files.tokenizer, weights: Some(&files.weights) }
    }
}

/// The files of the recipe of fine-tuning the base `files` (named `model` in the recipe: a hub id
/// or the folder the person will train from) for `task` on `data`, as webtune would run it with
/// `options`; with `resume`, a checkpoint of that run, the recipe continues from it.
pub async fn recipe(
    task: Task,
    files: BaseFiles<'_>,
    model: &str,
    data: &SessionData,
    columns: &Columns,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
) -> Result<Vec<(String, Vec<u8>)>> {
    if !matches!(task, Task::TextClassification | Task::FeatureExtraction) {
        return Err(Error::Options(format!(
            "a recipe is written for text-classification runs so far; {} runs are not exported yet (train them here, or write the Trainer script by hand)",
            task.name()
        )));
    }
    options.validate()?;
    options.check_for_task("text-classification")?;
    options.check_metric(crate::infer::metrics::CLASSIFICATION_METRICS, "a classifier")?;
    if options.augment.is_some() {
        return Err(Error::Options(
            "augment has no equivalent in transformers' Trainer, so a recipe cannot run it; leave augment out of the run to export it".into(),
        ));
    }
    if options.method == crate::train::options::Method::Setfit {
        return Err(Error::Options(
            "a SetFit run is not exported as a recipe yet (setfit's own Trainer runs it: SetFitModel.from_pretrained on the base, TrainingArguments with the run's options)".into(),
        ));
    }
    let text = std::str::from_utf8(files.config).map_err(|_| Error::Weights("config.json is not UTF-8 text".into()))?;
    let config = BertConfig::from_json(text)?;
    let (train, validation) = data.labelled(columns, options.seed)?;
    // the class ids, max length and batch order webtune's run would use
    let labels = label_order(&config, &train.labels.names);
    let train = train.reorder_labels(&labels)?;
    let validation = validation.map(|v| v.reorder_labels(&labels)).transpose()?;
    let resumed = match resume {
        Some(c) => Some(resume_files(c, options, &train).await?),
        None => None,
    };
    let mut warnings = Vec::new();
    let max_length = options.max_length_for(config.max_tokens(), &mut warnings);
    let lengths = if options.group_by_length {
        token_lengths(&train.examples, &tokenizer_for(&config, files.tokenizer)?, max_length)?
    } else {
        vec![0; train.len()]
    };
    let order: Vec<Vec<Vec<usize>>> = (0..options.epochs).map(|e| epoch_order(&lengths, options.batch_size, options.seed, e, options.group_by_length)).collect();
    let mut initial = None;
    let lora = match &options.lora {
        Some(l) => {
            let base = LoraBase::Encoder(config.family, EncoderHead::SequenceClassification);
            l.validate(base)?;
            let adapter_config = adapter_config(l, base, model)?;
            if let Some(weights) = files.weights {
                let base = ModelFiles { config: files.config.to_vec(), weights: weights.to_vec(), tokenizer: files.tokenizer.to_vec() };
                let adapter = lora_start(&base, &config, &labels, options).await?;
                initial = Some([("initial_adapter/adapter_model.safetensors", adapter), ("initial_adapter/adapter_config.json", adapter_config.clone())]);
            }
            Some(serde_json::from_slice::<Value>(&adapter_config).map_err(|e| Error::Backend(format!("adapter config: {e}")))?)
        }
        None => None,
    };
    let recipe = json!({
        "webtune_recipe": 1,
        "task": "text-classification",
        "model": model,
        "labels": labels,
        "text_pair": columns.text_pair.is_some(),
        "max_length": max_length,
        // how webtune held validation rows out of the data (null: a validation file was given)
        "validation_split": data.validation.is_none().then_some(data.validation_split),
        "new_head": new_head(&config, &labels),
        "training_arguments": training_arguments(options, validation.is_some())?,
        "early_stopping_patience": options.early_stopping_patience,
        "lora": lora,
        // the adapters and head webtune's run starts from (PEFT's files), when the recipe has them
        "initial_adapter": initial.as_ref().map(|_| "initial_adapter"),
        // the checkpoint the recipe continues from (its files in resume/), or null: from the start
        "resume": resumed.as_ref().map(|(entry, _)| entry),
        "webtune_options": options,
        "warnings": warnings,
    });
    let mut out = vec![
        ("recipe.json".to_string(), pretty(&recipe)?),
        ("train.jsonl".to_string(), rows(&train, columns)?),
        ("webtune_order.json".to_string(), pretty(&json!({ "epochs": order }))?),
        ("train.py".to_string(), TRAIN_CLASSIFIER_PY.as_bytes().to_vec()),
        ("requirements.txt".to_string(), REQUIREMENTS.as_bytes().to_vec()),
        ("accelerate_multi_gpu.yaml".to_string(), ACCELERATE_DDP.as_bytes().to_vec()),
        ("accelerate_deepspeed.yaml".to_string(), ACCELERATE_DEEPSPEED.as_bytes().to_vec()),
        ("ds_zero2.json".to_string(), DEEPSPEED_ZERO2.as_bytes().to_vec()),
        ("README.md".to_string(), README.replace("{{model}}", model).into_bytes()),
    ];
    if let Some(v) = &validation {
        out.insert(2, ("validation.jsonl".to_string(), rows(v, columns)?));
    }
    out.extend(initial.into_iter().flatten().map(|(name, bytes)| (name.to_string(), bytes)));
    out.extend(resumed.into_iter().flat_map(|(_, files)| files));
    Ok(out)
}

/// transformers' `TrainingArguments` for `options` (`validation`: whether there is validation
/// data to evaluate on). Evaluation every N steps is the Trainer's `eval_steps` alone: webtune
/// also evaluates at each epoch's end.
fn training_arguments(options: &TrainOptions, validation: bool) -> Result<Value> {
    let metric = options.metric.clone().unwrap_or_else(|| Task::TextClassification.default_metric().to_string());
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

/// The examples as JSON lines: `text` (and `text_pair`), and the label's name.
fn rows(d: &Dataset, columns: &Columns) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for e in &d.examples {
        let mut row = json!({ "text": e.text, "label": d.labels.names[e.label] });
        if columns.text_pair.is_some() {
            row["text_pair"] = json!(e.pair);
        }
        out.extend(serde_json::to_vec(&row).map_err(|e| Error::Backend(format!("recipe rows: {e}")))?);
        out.push(b'\n');
    }
    Ok(out)
}

fn pretty(v: &Value) -> Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(v).map_err(|e| Error::Backend(format!("recipe.json: {e}")))?;
    bytes.push(b'\n');
    Ok(bytes)
}
