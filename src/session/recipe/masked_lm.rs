//! The recipe of continued masked-LM pretraining (domain adaptation): recipe/train_masked_lm.py on
//! the run's texts, one example per text as run_mlm.py's `line_by_line`, masked as
//! `DataCollatorForLanguageModeling` masks. Beside webtune's batch order the recipe carries
//! webtune's masks — of every training batch (`webtune_masks.json`, for runs of up to
//! [`MASKED_EXAMPLES_WRITTEN`] examples × epochs) and the fixed ones of the validation texts
//! (`validation_masks.json`) — so that `--webtune-order` gives webtune's steps and both engines
//! evaluate on the same masks.

use serde_json::{Value, json};

use super::{BaseFiles, Folder, Readme, RecipeFiles, batch_order, from_start, json_lines, check_options};
use crate::{
    Error, Result,
    data::{TextColumns, masking::Masking},
    infer::{
        encoder::tokenizer_for,
        fill_mask::{MaskedBatch, evaluation_masks, masked_batch},
    },
    session::{SessionData, Task},
    train::{Checkpoint, TrainOptions, masked_lm::batch_masks},
};

/// The program that runs a masked-LM recipe.
const TRAIN_MASKED_LM_PY: &str = include_str!("train_masked_lm.py");

/// The largest run (training texts × epochs) whose every mask the recipe carries; a larger one's
/// recipe orders webtune's batches but lets the collator draw their masks.
pub const MASKED_EXAMPLES_WRITTEN: usize = 100_000;

const README: Readme = Readme {
    task: "masked-LM domain adaptation (continued pretraining)",
    settings: "max length, masking (probability, whole words)",
    rows: "`{text}`",
    notes: "Each text is one example, cut at `max_length`, masked as `DataCollatorForLanguageModeling`\n\
masks (15 % of tokens chosen; 80 % of those become the mask token, 10 % a random token, 10 % stay).\n\
`webtune_masks.json` holds webtune's own masks of every training batch (written for runs of up to\n\
100,000 texts × epochs): with `--webtune-order` the batches are webtune's and so are their masks.\n\
`validation_masks.json` fixes the validation texts' masks, as webtune does, so that evaluations\n\
compare: `eval_loss` over every masked token, and `eval_perplexity`. Differences from webtune's\n\
run: with `evalEvery`, the Trainer evaluates every N steps only (webtune also at each epoch's end).",
    pipeline: "fill-mask",
    adapter: "then fine-tune it for classification,\nNER or question answering (a new head is drawn).",
};

/// The files of the recipe of continuing the masked-LM pretraining of the base `files` (named
/// `model` in the recipe) on the texts of `data`, as webtune would run it with `options`.
pub async fn masked_lm_recipe(
    files: BaseFiles<'_>,
    model: &str,
    data: &SessionData,
    columns: &TextColumns,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
) -> Result<RecipeFiles> {
    from_start(Task::FillMask, resume)?;
    check_options(Task::FillMask, options, "a masked language model")?;
    if options.lora.is_some() {
        return Err(Error::Options("LoRA is not available for masked-LM training (domain adaptation trains every weight): leave lora out".into()));
    }
    let masking = Masking { probability: options.mlm_probability.unwrap_or(Masking::default().probability), whole_word: options.whole_word_mask };
    let config = files.bert_config()?;
    let tokenizer = tokenizer_for(&config, files.tokenizer)?;
    let mask_id = tokenizer
        .mask_id()
        .ok_or_else(|| Error::Weights("tokenizer.json has no mask token ([MASK] or <mask>): masked-LM training needs the tokenizer of a masked language model".into()))?;
    let (train, validation) = data.plain_texts(columns, options.seed)?;
    if train.is_empty() {
        return Err(Error::Data("the training data has no texts".into()));
    }
    let mut warnings = Vec::new();
    let max_length = options.max_length_for(config.max_tokens(), &mut warnings);
    let lengths = train.iter().map(|t| tokenizer.count(t, None).map(|n| n.min(max_length))).collect::<Result<Vec<_>>>()?;
    let order = batch_order(&lengths, options);
    let mask = |texts: &[&str], rng: &mut _| masked_batch(&tokenizer, texts, max_length, mask_id, masking, rng).map(|b| row_masks(&b));
    // webtune's masks: of every training batch (as its loss draws them), and of the validation
    // texts (as its evaluation draws them)
    let written = train.len().saturating_mul(options.epochs) <= MASKED_EXAMPLES_WRITTEN;
    let mut training_masks = Vec::new();
    for batches in order.iter().filter(|_| written) {
        let mut epoch = Vec::with_capacity(batches.len());
        for rows in batches {
            let texts: Vec<&str> = rows.iter().map(|&r| train[r].as_str()).collect();
            epoch.push(mask(&texts, &mut batch_masks(options.seed, rows))?);
        }
        training_masks.push(epoch);
    }
    if !written {
        warnings.push(format!(
            "the run is larger than {MASKED_EXAMPLES_WRITTEN} texts × epochs, so the recipe does not carry webtune's masks: with --webtune-order the batches are webtune's but the collator draws their masks"
        ));
    }
    let validation_masks = match &validation {
        Some(v) => {
            let mut rows = Vec::with_capacity(v.len());
            for (chunk, texts) in v.chunks(options.batch_size.max(1)).enumerate() {
                let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
                rows.extend(mask(&texts, &mut evaluation_masks(options.seed, chunk))?);
            }
            Some(rows)
        }
        None => None,
    };
    let texts = |t: &[String]| json_lines(t.iter().map(|text| json!({ "text": text })));
    let mut extra = Vec::new();
    if written {
        extra.push(("webtune_masks.json".to_string(), compact(&json!({ "epochs": training_masks }))?));
    }
    if let Some(masks) = &validation_masks {
        extra.push(("validation_masks.json".to_string(), compact(&json!({ "rows": masks }))?));
    }
    Folder {
        task: Task::FillMask,
        model,
        data,
        options,
        settings: json!({ "max_length": max_length, "mlm_probability": masking.probability, "whole_word_mask": masking.whole_word }),
        warnings,
        lora: None,
        initial_adapter: false,
        resume: None,
        train: texts(&train)?,
        validation: validation.as_deref().map(texts).transpose()?,
        order: &order,
        program: TRAIN_MASKED_LM_PY,
        readme: &README,
        extra,
    }
    .files()
}

/// Per row of a masked batch, its masked tokens: `[position, label (the original id), input (the
/// id the model reads there: the mask, a random token, or the original)]`.
fn row_masks(b: &MaskedBatch) -> Vec<Vec<[i64; 3]>> {
    let seq = b.tokens.seq.max(1);
    let mut rows = vec![Vec::new(); b.tokens.batch];
    for (&p, &label) in b.positions.iter().zip(&b.labels) {
        let p = p as usize;
        if let Some(row) = rows.get_mut(p / seq) {
            row.push([(p % seq) as i64, i64::from(label), i64::from(b.tokens.input_ids[p])]);
        }
    }
    rows
}

/// JSON without indentation (masks are many small lists).
fn compact(v: &Value) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::Backend(format!("recipe masks: {e}")))
}
