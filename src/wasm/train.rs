//! What an encoder's training call reads besides its options — where the data is, which columns
//! hold what, the device (`Setup` for classifiers, `TaskSetup` for the other encoder tasks) —,
//! the options check that runs before any data is read, and a run's Hugging Face recipe.

use js_sys::{Promise, Uint8Array};
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::{callbacks::resume_from, errors::to_js, options::parse_options};
use crate::{
    data::{Columns, TextColumns},
    session::{
        SessionData, Task,
        recipe::{BaseFiles, encoder_recipe},
    },
    train::TrainOptions,
};

/// Where the data is and what runs it (the training options travel separately).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Setup {
    /// "auto" | "webgpu" | "gpu" | "cpu"; default: the device of the last `init()`.
    pub(super) device: Option<String>,
    /// Which columns hold text, second text and label (default `text`, `label`).
    #[serde(default)]
    pub(super) columns: Columns,
    /// File name of the training data (its extension gives the format: .csv, .tsv, .jsonl, .json).
    data_name: String,
    /// File name of the validation data, when there is some.
    validation_name: Option<String>,
    /// Without validation data: the fraction of the training data held out (default 0.1; 0 = none).
    validation_split: Option<f64>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup { device: None, columns: Columns::default(), data_name: Task::TextClassification.default_data_name().into(), validation_name: None, validation_split: None }
    }
}

impl Setup {
    /// The session's data: `data` named `data_name`, `validation` named `validation_name` (else
    /// `validation.csv`).
    pub(super) fn data(&self, data: Vec<u8>, validation: Option<Vec<u8>>) -> SessionData {
        let validation_name = self.validation_name.clone().unwrap_or_else(|| "validation.csv".into());
        SessionData::named(data, self.data_name.clone(), validation, validation_name, self.validation_split)
    }
}

/// A fine-tuning run as a Hugging Face recipe (`webtune recipe`): the base's `config`,
/// `tokenizer` and, if kept, `weights` (named `model` in the recipe), the data, setup and options as `fineTune` takes
/// them; returns `{ "train.py": Uint8Array, "recipe.json", … }`. `task`: a pipeline task name.
/// `resume` (a checkpoint's files, or undefined): the recipe continues the run from it.
#[wasm_bindgen(js_name = writeRecipe)]
#[allow(clippy::too_many_arguments)]
pub fn write_recipe_js(
    task: String,
    config: Uint8Array,
    tokenizer: Uint8Array,
    weights: Option<Uint8Array>,
    model: String,
    data: Uint8Array,
    validation: Option<Uint8Array>,
    setup: JsValue,
    options: JsValue,
    resume: JsValue,
) -> Promise {
    let (config, tokenizer, data, validation) = (config.to_vec(), tokenizer.to_vec(), data.to_vec(), validation.map(|v| v.to_vec()));
    let weights = weights.map(|w| w.to_vec());
    future_to_promise(async move {
        let resume = resume_from(&resume).map_err(to_js)?;
        let task = Task::parse(&task).map_err(to_js)?;
        let setup: Setup = parse_options("save (recipe)", setup).map_err(to_js)?;
        let options: TrainOptions = parse_options("save (recipe) options", options).map_err(to_js)?;
        let data = setup.data(data, validation);
        // without the base's weights a LoRA recipe's adapters start as PEFT draws them (and a
        // LoRA checkpoint cannot be continued)
        let base = BaseFiles { config: &config, tokenizer: &tokenizer, weights: weights.as_deref() };
        let files = encoder_recipe(task, base, &model, &data, &setup.columns, &options, resume.as_ref()).await.map_err(to_js)?;
        super::files_object(files)
    })
}

/// Where an encoder task's data is and what runs it (`fineTuneTask`, `searchTask`, and the task
/// models' `evaluate`).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct TaskSetup {
    /// "auto" | "webgpu" | "gpu" | "cpu"; default: the device of the last `init()`.
    pub device: Option<String>,
    /// File name of the data (its extension gives the format).
    pub data_name: Option<String>,
    /// File name of the validation data, when there is some.
    pub validation_name: Option<String>,
    /// Without validation data: the fraction of the training data held out (default 0.1).
    pub validation_split: Option<f64>,
    /// A table's text column (fill-mask; default `text`).
    #[serde(default)]
    pub columns: TextColumns,
}

impl TaskSetup {
    /// The session's data: `data` named `dataName` (else the task's usual name), `validation`
    /// named `validationName` (else `validation.` with the same extension).
    pub(super) fn data(&self, task: Task, data: Vec<u8>, validation: Option<Vec<u8>>) -> SessionData {
        let default_name = task.default_data_name();
        let name = self.data_name.clone().unwrap_or_else(|| default_name.into());
        let extension = default_name.rsplit_once('.').map_or("", |(_, e)| e);
        let validation_name = self.validation_name.clone().unwrap_or_else(|| format!("validation.{extension}"));
        SessionData::named(data, name, validation, validation_name, self.validation_split)
    }
}





/// Checks training options (unknown keys, values out of range) without training: the shim calls
/// it before it reads data or stores a run, so that a typo costs nothing.
#[wasm_bindgen(js_name = checkTrainOptions)]
pub fn check_train_options(options: JsValue) -> Result<(), JsValue> {
    let options: TrainOptions = parse_options("finetune", options).map_err(to_js)?;
    options.validate().map_err(to_js)
}



