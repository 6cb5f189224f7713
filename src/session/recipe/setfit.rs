//! The recipe of a SetFit run (`method: "setfit"`): recipe/train_setfit.py runs it with the
//! `setfit` library's Trainer — the body's contrastive phase on sentence-transformers' Trainer,
//! then scikit-learn's `LogisticRegression` head — on the run's labelled rows. setfit draws the
//! same pairs as webtune from the same rows and settings, so the recipe carries webtune's batch
//! order over those pairs (`--webtune-order`: webtune's steps, tests/recipe.rs).

use serde_json::json;

use super::{BaseFiles, Folder, Readme, RecipeFiles, batch_order, json_lines};
use crate::{
    Error, Result,
    data::{Columns, Dataset, contrastive_pairs::contrastive_pairs},
    infer::encoder::tokenizer_for,
    session::{SessionData, Task},
    train::{
        Checkpoint, TrainOptions,
        setfit::pair_lengths,
        setfit_end_to_end::DEFAULT_BODY_LEARNING_RATE,
        setfit_head::{DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, DEFAULT_LEARNING_RATE},
    },
};

/// The program that runs a SetFit recipe.
const TRAIN_SETFIT_PY: &str = include_str!("train_setfit.py");

/// What a SetFit recipe needs beyond every recipe's requirements.
const SETFIT_REQUIREMENTS: &str = "setfit==1.2.0\nsentence-transformers==6.3.0\nscikit-learn==1.9.1\ndatasets==5.2.0\n";

const README: Readme = Readme {
    task: "few-shot text classification with SetFit (the `setfit` library's Trainer: the body's contrastive\nphase on sentence-transformers, then a logistic-regression head)",
    settings: "labels, max length, pair sampling",
    rows: "`{text, label}`, the label by name",
    notes: "Differences from webtune's run: the logistic head is scikit-learn's `LogisticRegression()`\n\
with its default tolerance (webtune solves the same problem to a tighter one, so probabilities\n\
differ slightly); a differentiable head (`\"head\": \"differentiable\"`) trains in setfit's own\n\
order of the rows, on embeddings of the frozen body with its dropout on (webtune's: dropout off,\n\
computed once); trained end to end (`\"end_to_end\": true`), both sides run the body with its\n\
dropout on, each drawing its own masks. The recipe is checked on one device (the `accelerate` configs are the other\n\
recipes'). `out/final/` is the folder setfit saves (`model_head.pkl` beside the body).",
    pipeline: "text-classification",
    adapter: "SetFit trains no adapters.",
};

/// The files of the recipe of the SetFit run of the sentence-transformer `files` (named `model`
/// in the recipe) on `data`, as webtune would run it with `options`.
pub async fn setfit_recipe(
    files: BaseFiles<'_>,
    model: &str,
    data: &SessionData,
    columns: &Columns,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
) -> Result<RecipeFiles> {
    // (classifier_recipe checked the options every classifier takes)
    crate::train::setfit::check_options(options)?;
    if resume.is_some() {
        return Err(Error::Options("a SetFit run is not checkpointed, so its recipe starts from the base; leave the checkpoint out".into()));
    }
    if columns.text_pair.is_some() {
        return Err(Error::Data("SetFit classifies single texts; leave out the text pair column".into()));
    }
    let config = files.bert_config()?;
    let (train, validation) = data.labelled(columns, options.seed)?;
    let mut warnings = Vec::new();
    let max_length = options.max_length_for(config.max_tokens(), &mut warnings);
    let labels: Vec<usize> = train.examples.iter().map(|e| e.label).collect();
    let sampling = options.sampling_strategy.unwrap_or_default();
    let pairs = contrastive_pairs(&labels, sampling, options.num_iterations, None)?;
    let lengths = if options.group_by_length {
        pair_lengths(&tokenizer_for(&config, files.tokenizer)?, &train, &pairs, max_length)?
    } else {
        vec![0; pairs.len()]
    };
    let order = batch_order(&lengths, options);
    let validation = validation.filter(|v| !v.is_empty()).map(|v| rows(&v)).transpose()?;
    let mut out = Folder {
        task: Task::TextClassification,
        model,
        data,
        options,
        settings: json!({
            "method": "setfit",
            "labels": train.labels.names,
            "max_length": max_length,
            "sampling_strategy": sampling,
            "num_iterations": options.num_iterations,
            "pairs": pairs.len(),
            // the head: setfit's LogisticRegression, or its differentiable SetFitHead and how it trains
            "head": options.head.unwrap_or_default(),
            "head_epochs": options.head_epochs.unwrap_or(DEFAULT_EPOCHS),
            "head_batch_size": options.head_batch_size.unwrap_or(DEFAULT_BATCH_SIZE),
            "head_learning_rate": options.head_learning_rate.unwrap_or(DEFAULT_LEARNING_RATE),
            "end_to_end": options.end_to_end,
            "head_body_learning_rate": options.end_to_end.then(|| options.head_body_learning_rate.unwrap_or(DEFAULT_BODY_LEARNING_RATE)),
        }),
        warnings,
        lora: None,
        initial_adapter: false,
        resume: None,
        train: rows(&train)?,
        validation,
        order: &order,
        program: TRAIN_SETFIT_PY,
        readme: &README,
        extra: Vec::new(),
    }
    .files()?;
    if let Some((_, requirements)) = out.iter_mut().find(|(name, _)| name == "requirements.txt") {
        requirements.extend_from_slice(SETFIT_REQUIREMENTS.as_bytes());
    }
    Ok(out)
}

/// The examples as JSON lines: `text` and the label's name.
fn rows(d: &Dataset) -> Result<Vec<u8>> {
    json_lines(d.examples.iter().map(|e| json!({ "text": e.text, "label": d.labels.names[e.label] })))
}
