//! The recipe of a token-classification (NER) run: recipe/train_token_classifier.py on the run's
//! tagged sentences, aligned to sub-words as run_ner.py (and webtune) align them.

use serde_json::json;

use super::{ENCODER_ADAPTER, BaseFiles, EncoderLoraFiles, Folder, Readme, RecipeFiles, batch_order, from_start, json_lines, check_options};
use crate::{
    Result,
    data::tagged::TaggedDataset,
    infer::encoder::tokenizer_for,
    models::encoder_family::EncoderHead,
    session::{SessionData, Task},
    train::{
        Checkpoint, TrainOptions,
        token_classifier::{lora_start, tag_order},
    },
};

/// The program that runs a token-classification recipe.
const TRAIN_TOKEN_CLASSIFIER_PY: &str = include_str!("train_token_classifier.py");

const README: Readme = Readme {
    task: "token classification (named entities)",
    settings: "tags, max length, how sub-words are labelled",
    rows: "`{tokens: [words], tags: [one tag per word]}`",
    notes: "Words are labelled as webtune labels them: a word's first sub-word learns its tag (with\n\
`\"label_all_tokens\"`, its other sub-words too, `B-` turned into `I-`). Evaluation reports\n\
seqeval's entity-level `eval_precision`, `eval_recall`, `eval_f1` (micro), the tag\n\
`eval_accuracy` over every word (a word cut off by `max_length` counts as predicted `O`) and\n\
`eval_loss`, as webtune does. Differences from webtune's run: with `evalEvery`, the Trainer\n\
evaluates every N steps only (webtune also at each epoch's end); a head webtune drew itself\n\
(`\"new_head\": true`) starts from transformers' initialisation instead, unless the run is LoRA\n\
with `initial_adapter/`.",
    pipeline: "token-classification",
    adapter: ENCODER_ADAPTER,
};

/// The files of the recipe of fine-tuning the base `files` (named `model` in the recipe) to tag
/// the words of `data`, as webtune would run it with `options`.
pub async fn token_classifier_recipe(
    files: BaseFiles<'_>,
    model: &str,
    data: &SessionData,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
) -> Result<RecipeFiles> {
    from_start(Task::TokenClassification, resume)?;
    check_options(Task::TokenClassification, options, "a token classifier")?;
    let config = files.bert_config()?;
    let (train, validation) = data.tagged(options.seed)?;
    // the tags, their order, the lengths and the batches webtune's run would use
    let (labels, keeps_head) = tag_order(&config, &train.labels.names);
    let train = train.reorder_labels(&labels)?;
    let validation = validation.map(|v| v.reorder_labels(&labels)).transpose()?;
    let mut warnings = Vec::new();
    let max_length = options.max_length_for(config.max_tokens(), &mut warnings);
    let lengths = if options.group_by_length {
        let tokenizer = tokenizer_for(&config, files.tokenizer)?;
        train.sentences.iter().map(|s| tokenizer.encode_words(&s.words, max_length).map(|e| e.ids.len())).collect::<Result<Vec<_>>>()?
    } else {
        vec![0; train.len()]
    };
    let order = batch_order(&lengths, options);
    let head = EncoderHead::TokenClassification;
    let lora = EncoderLoraFiles::new(options, config.family, head, &files, model, async |base| lora_start(base, &config, &labels, !keeps_head, options).await).await?;
    let (lora, initial) = lora.map(|l| (l.config, l.initial)).unzip();
    let initial = initial.unwrap_or_default();
    Folder {
        task: Task::TokenClassification,
        model,
        data,
        options,
        settings: json!({ "labels": labels, "max_length": max_length, "label_all_tokens": options.label_all_tokens, "new_head": !keeps_head }),
        warnings,
        lora,
        initial_adapter: !initial.is_empty(),
        resume: None,
        train: sentences(&train)?,
        validation: validation.as_ref().map(sentences).transpose()?,
        order: &order,
        program: TRAIN_TOKEN_CLASSIFIER_PY,
        readme: &README,
        extra: initial,
    }
    .files()
}

/// The sentences as JSON lines: `{tokens, tags}`, the tags by name.
fn sentences(d: &TaggedDataset) -> Result<Vec<u8>> {
    json_lines(d.sentences.iter().map(|s| json!({ "tokens": s.words, "tags": d.tag_names(s) })))
}
