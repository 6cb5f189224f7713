//! The recipe of a text-classification run: recipe/train_classifier.py on the run's labelled rows.

use serde_json::json;

use super::{ENCODER_ADAPTER, EncoderLoraFiles, Folder, Readme, RecipeFiles, batch_order, json_lines, check_options};
use crate::{
    Error, Result,
    data::{Columns, Dataset, token_lengths},
    infer::{ModelFiles, encoder::tokenizer_for},
    models::{bert::BertConfig, encoder_family::EncoderHead},
    session::{
        SessionData, Task,
        recipe_resume::{LoraResume, resume_files},
    },
    train::{
        Checkpoint, TrainOptions,
        classifier::{label_order, lora_start, new_head},
    },
};

/// The program that runs a classification recipe.
const TRAIN_CLASSIFIER_PY: &str = include_str!("train_classifier.py");

const README: Readme = Readme {
    task: "text classification",
    settings: "labels, max length",
    rows: "`{text, text_pair?, label}`, the label by name",
    notes: "Differences from webtune's run: with `evalEvery`, the Trainer evaluates every N steps only\n\
(webtune also at each epoch's end); a classifier head webtune drew itself (`\"new_head\": true`)\n\
starts from transformers' initialisation instead, unless the run is LoRA with `initial_adapter/`.",
    pipeline: "text-classification",
    adapter: ENCODER_ADAPTER,
};

/// The model files a recipe reads: its `config.json` (family, labels, length), `tokenizer.json`
/// (lengths, for `groupByLength`) and, for a LoRA run, the weights: with them the recipe carries
/// the adapters and head webtune's run starts from (`initial_adapter/`), so that both runs start
/// alike; without them PEFT draws its own.
pub struct BaseFiles<'a> {
    pub config: &'a [u8],
    pub tokenizer: &'a [u8],
    pub weights: Option<&'a [u8]>,
}

impl BaseFiles<'_> {
    /// The base's `config.json`, read as an encoder's.
    pub fn bert_config(&self) -> Result<BertConfig> {
        let text = std::str::from_utf8(self.config).map_err(|_| Error::Weights("config.json is not UTF-8 text".into()))?;
        BertConfig::from_json(text)
    }
}

impl<'a> From<&'a ModelFiles> for BaseFiles<'a> {
    fn from(files: &'a ModelFiles) -> Self {
        BaseFiles { config: &files.config, tokenizer: &files.tokenizer, weights: Some(&files.weights) }
    }
}

/// The files of the recipe of fine-tuning the base `files` (named `model` in the recipe: a hub id
/// or the folder the person will train from) as a text classifier of `data`, as webtune would run it with
/// `options`; with `resume`, a checkpoint of that run, the recipe continues from it.
pub async fn classifier_recipe(
    files: BaseFiles<'_>,
    model: &str,
    data: &SessionData,
    columns: &Columns,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
) -> Result<RecipeFiles> {
    check_options(Task::TextClassification, options, "a classifier")?;
    if options.augment.is_some() {
        return Err(Error::Options(
            "augment has no equivalent in transformers' Trainer, so a recipe cannot run it; leave augment out of the run to export it".into(),
        ));
    }
    if options.method == crate::train::options::Method::Setfit {
        return super::setfit::setfit_recipe(files, model, data, columns, options, resume).await;
    }
    let config = files.bert_config()?;
    let (train, validation) = data.labelled(columns, options.seed)?;
    // the class ids, max length and batch order webtune's run would use
    let labels = label_order(&config, &train.labels.names);
    let train = train.reorder_labels(&labels)?;
    let validation = validation.map(|v| v.reorder_labels(&labels)).transpose()?;
    let mut warnings = Vec::new();
    let max_length = options.max_length_for(config.max_tokens(), &mut warnings);
    let lengths = if options.group_by_length {
        token_lengths(&train.examples, &tokenizer_for(&config, files.tokenizer)?, max_length)?
    } else {
        vec![0; train.len()]
    };
    let order = batch_order(&lengths, options);
    let head = EncoderHead::SequenceClassification;
    let lora = EncoderLoraFiles::new(options, config.family, head, &files, model, async |base| lora_start(base, &config, &labels, options).await).await?;
    let resumed = match resume {
        Some(c) => {
            let lora = lora.as_ref().and_then(|l| l.base.as_ref().map(|base| LoraResume { base, adapter_config: &l.config_bytes }));
            Some(resume_files(c, options, &train, lora).await?)
        }
        None => None,
    };
    let validation = validation.map(|v| rows(&v, columns)).transpose()?;
    let (resume, resume_files) = resumed.unzip();
    let (lora, initial) = lora.map(|l| (l.config, l.initial)).unzip();
    let initial = initial.unwrap_or_default();
    Folder {
        task: Task::TextClassification,
        model,
        data,
        options,
        settings: json!({ "labels": labels, "text_pair": columns.text_pair.is_some(), "max_length": max_length, "new_head": new_head(&config, &labels) }),
        warnings,
        lora,
        initial_adapter: !initial.is_empty(),
        resume,
        train: rows(&train, columns)?,
        validation,
        order: &order,
        program: TRAIN_CLASSIFIER_PY,
        readme: &README,
        extra: initial.into_iter().chain(resume_files.into_iter().flatten()).collect(),
    }
    .files()
}

/// The examples as JSON lines: `text` (and `text_pair`), and the label's name.
fn rows(d: &Dataset, columns: &Columns) -> Result<Vec<u8>> {
    json_lines(d.examples.iter().map(|e| {
        let mut row = json!({ "text": e.text, "label": d.labels.names[e.label] });
        if columns.text_pair.is_some() {
            row["text_pair"] = json!(e.pair);
        }
        row
    }))
}
