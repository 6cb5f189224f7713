//! `fineTune` and `search` for JS: fine-tunes a classifier from a labelled file (once, or once per
//! trial of a hyperparameter search) and returns it as an `Encoder`; the callbacks every
//! fine-tuning call shares.

use std::rc::Rc;

use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::{JsEncoder, errors::to_js, options::parse_options, to_value};
use crate::{
    Error,
    data::{Columns, TextColumns},
    device,
    infer::ModelFiles,
    session::{
        SessionData, Task, TrialResult, finetune_classifier,
        recipe::{BaseFiles, encoder_recipe},
        search,
    },
    train::{Checkpoint, Event, Hooks, SearchPlan, TrainOptions},
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
        Setup { device: None, columns: Columns::default(), data_name: "data.csv".into(), validation_name: None, validation_split: None }
    }
}

impl Setup {
    /// The session's data: `data` named `data_name`, `validation` named `validation_name` (else
    /// `validation_default`).
    pub(super) fn data(&self, data: Vec<u8>, validation: Option<Vec<u8>>, validation_default: &str) -> SessionData {
        let validation_name = self.validation_name.clone().unwrap_or_else(|| validation_default.into());
        SessionData::named(data, self.data_name.clone(), validation, validation_name, self.validation_split)
    }
}

/// Fine-tunes `config`/`weights`/`tokenizer` on `data` (bytes of a CSV/TSV/JSONL/JSON file);
/// `onEvent(event)` gets every training event, `onCheckpoint({name: Uint8Array})` every
/// checkpoint, `isCancelled()` is polled between steps; `resume` (the files of a checkpoint, or
/// undefined) continues a run. Resolves to an `Encoder` holding the trained model (the best
/// evaluation's, by default).
#[wasm_bindgen(js_name = fineTune)]
#[allow(clippy::too_many_arguments)]
pub fn fine_tune_js(
    config: Uint8Array,
    weights: Uint8Array,
    tokenizer: Uint8Array,
    data: Uint8Array,
    validation: Option<Uint8Array>,
    setup: JsValue,
    options: JsValue,
    on_event: Function,
    on_checkpoint: Function,
    is_cancelled: Function,
    resume: JsValue,
    augment_model: JsValue,
) -> Promise {
    let files = ModelFiles { config: config.to_vec(), weights: weights.to_vec(), tokenizer: tokenizer.to_vec() };
    let (data, validation) = (data.to_vec(), validation.map(|v| v.to_vec()));
    future_to_promise(async move {
        let augment_model = model_files_in(&augment_model, "augmentModel").map_err(to_js)?;
        let setup: Setup = parse_options("fineTune", setup).map_err(to_js)?;
        let options: TrainOptions = parse_options("fineTune options", options).map_err(to_js)?;
        if options.method == crate::train::options::Method::Setfit {
            return Err(to_js(Error::Options("fineTune trains with method \"finetune\"; SetFit runs are fineTuneSetFit's".into())));
        }
        let data = setup.data(data, validation, "validation.csv");
        let dev = setup_device(setup.device.as_deref()).await.map_err(to_js)?;
        let resume = resume_from(&resume).map_err(to_js)?;
        let mut callbacks = js_callbacks(&on_event, &on_checkpoint, &is_cancelled);
        let tuned = finetune_classifier(&files, augment_model.as_ref(), &dev, &data, &setup.columns, &options, resume.as_ref(), callbacks.hooks())
            .await
            .map_err(to_js)?;
        Ok(JsEncoder::from(Rc::new(tuned.model)).into())
    })
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
        let data = setup.data(data, validation, "validation.csv");
        // without the base's weights a LoRA recipe's adapters start as PEFT draws them (and a
        // LoRA checkpoint cannot be continued)
        let base = BaseFiles { config: &config, tokenizer: &tokenizer, weights: weights.as_deref() };
        let files = encoder_recipe(task, base, &model, &data, &setup.columns, &options, resume.as_ref()).await.map_err(to_js)?;
        super::files_object(files)
    })
}

/// Where an encoder task's data is and what runs it (`fineTuneTagger`, `fineTuneAnswerer`,
/// `fineTuneMaskedLm`, and their models' `evaluate`).
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

/// The arguments of a task's `fineTune…` export, as JS passed them.
pub(super) struct TaskRun {
    pub files: ModelFiles,
    pub data: Vec<u8>,
    pub validation: Option<Vec<u8>>,
    pub setup: JsValue,
    pub options: JsValue,
    pub on_event: Function,
    pub on_checkpoint: Function,
    pub is_cancelled: Function,
    pub resume: JsValue,
}

impl TaskRun {
    /// The arguments in the order every `fineTune…` export takes them.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        config: Uint8Array,
        weights: Uint8Array,
        tokenizer: Uint8Array,
        data: Uint8Array,
        validation: Option<Uint8Array>,
        setup: JsValue,
        options: JsValue,
        on_event: Function,
        on_checkpoint: Function,
        is_cancelled: Function,
        resume: JsValue,
    ) -> Self {
        let files = ModelFiles { config: config.to_vec(), weights: weights.to_vec(), tokenizer: tokenizer.to_vec() };
        TaskRun { files, data: data.to_vec(), validation: validation.map(|v| v.to_vec()), setup, options, on_event, on_checkpoint, is_cancelled, resume }
    }

    /// Reads the setup and options, names the data (`default_name` when the setup gives no name),
    /// picks the device and runs `train` with the JS callbacks; resolves to the trained model.
    pub(super) async fn run<M>(
        self,
        default_name: &str,
        train: impl AsyncFnOnce(&ModelFiles, &crate::ComputeDevice, &SessionData, &TextColumns, &TrainOptions, Option<&Checkpoint>, Hooks<'_>) -> crate::Result<crate::session::Finetuned<M>>,
    ) -> Result<M, JsValue> {
        let setup: TaskSetup = parse_options("fineTune", self.setup).map_err(to_js)?;
        let options: TrainOptions = parse_options("fineTune options", self.options).map_err(to_js)?;
        let name = setup.data_name.clone().unwrap_or_else(|| default_name.into());
        let extension = default_name.rsplit_once('.').map_or("", |(_, e)| e);
        let validation_name = setup.validation_name.clone().unwrap_or_else(|| format!("validation.{extension}"));
        let data = SessionData::named(self.data, name, self.validation, validation_name, setup.validation_split);
        let dev = setup_device(setup.device.as_deref()).await.map_err(to_js)?;
        let resume = resume_from(&self.resume).map_err(to_js)?;
        let mut callbacks = js_callbacks(&self.on_event, &self.on_checkpoint, &self.is_cancelled);
        let tuned = train(&self.files, &dev, &data, &setup.columns, &options, resume.as_ref(), callbacks.hooks()).await.map_err(to_js)?;
        Ok(tuned.model)
    }
}

/// Hyperparameter search (`plan`: `{ space, strategy, trials }`) over `fineTune`'s arguments: one
/// run per trial from the same files, each trial's events with its `trial` index, and a
/// `{ type: "trial", index, settings, metric, value, steps }` event as each ends. Resolves to
/// `{ trials, best, model }`, `model` the best trial's `Encoder`.
#[wasm_bindgen(js_name = search)]
#[allow(clippy::too_many_arguments)]
pub fn search_js(
    config: Uint8Array,
    weights: Uint8Array,
    tokenizer: Uint8Array,
    data: Uint8Array,
    validation: Option<Uint8Array>,
    setup: JsValue,
    options: JsValue,
    plan: JsValue,
    on_event: Function,
    is_cancelled: Function,
) -> Promise {
    let files = ModelFiles { config: config.to_vec(), weights: weights.to_vec(), tokenizer: tokenizer.to_vec() };
    let (data, validation) = (data.to_vec(), validation.map(|v| v.to_vec()));
    future_to_promise(async move {
        let setup: Setup = parse_options("search", setup).map_err(to_js)?;
        let options: TrainOptions = parse_options("search options", options).map_err(to_js)?;
        let plan: SearchPlan = parse_options("search", plan).map_err(to_js)?;
        let data = setup.data(data, validation, "validation.csv");
        let dev = setup_device(setup.device.as_deref()).await.map_err(to_js)?;
        let trial = async |index, options: TrainOptions| {
            let mut callbacks = trial_callbacks(&on_event, &is_cancelled, index);
            finetune_classifier(&files, None, &dev, &data, &setup.columns, &options, None, callbacks.hooks()).await
        };
        let found = search(&plan, Task::TextClassification, &options, trial, trial_sink(&on_event)).await.map_err(to_js)?;
        searched(&found.trials, &found.best, JsEncoder::from(Rc::new(found.model)).into())
    })
}

/// A search trial's JS callbacks as the training loop's [`Hooks`]: its events, each with
/// `trial: index`, and the cancel poll; no checkpoints.
pub(super) struct TrialCallbacks<E, C> {
    emit: E,
    cancelled: C,
}

pub(super) fn trial_callbacks<'a>(
    on_event: &'a Function,
    is_cancelled: &'a Function,
    index: usize,
) -> TrialCallbacks<impl FnMut(Event) + 'a, impl Fn() -> bool + 'a> {
    let emit = move |event| {
        if let Ok(v) = to_value(&event) {
            let _ = Reflect::set(&v, &"trial".into(), &JsValue::from(index as u32));
            let _ = on_event.call1(&JsValue::NULL, &v);
        }
    };
    TrialCallbacks { emit, cancelled: cancel_poll(is_cancelled) }
}

impl<E: FnMut(Event), C: Fn() -> bool> TrialCallbacks<E, C> {
    pub(super) fn hooks(&mut self) -> Hooks<'_> {
        Hooks { on_event: &mut self.emit, on_checkpoint: None, cancelled: &self.cancelled }
    }
}

/// `is_cancelled()` as a poll (a throw counts as "go on").
pub(super) fn cancel_poll(is_cancelled: &Function) -> impl Fn() -> bool + '_ {
    move || is_cancelled.call0(&JsValue::NULL).map(|v| v.is_truthy()).unwrap_or(false)
}

/// Hands each finished trial to `on_event` as `{ type: "trial", … }`.
pub(super) fn trial_sink(on_event: &Function) -> impl FnMut(&TrialResult) + '_ {
    move |trial| {
        if let Ok(v) = to_value(trial) {
            let _ = Reflect::set(&v, &"type".into(), &"trial".into());
            let _ = on_event.call1(&JsValue::NULL, &v);
        }
    }
}

/// A search's outcome for JS: `{ trials, best, model }`.
pub(super) fn searched(trials: &[TrialResult], best: &TrialResult, model: JsValue) -> Result<JsValue, JsValue> {
    let out = Object::new();
    let _ = Reflect::set(&out, &"trials".into(), &to_value(trials)?);
    let _ = Reflect::set(&out, &"best".into(), &to_value(best)?);
    let _ = Reflect::set(&out, &"model".into(), &model);
    Ok(out.into())
}

/// A fine-tuning call's JS callbacks as the training loop's [`Hooks`].
pub(super) struct JsCallbacks<E, K, C> {
    emit: E,
    keep: K,
    cancelled: C,
}

/// `on_event(event)` gets every training event, `on_checkpoint({name: Uint8Array})` every
/// checkpoint (a throw stops the run), `is_cancelled()` is polled between steps.
pub(super) fn js_callbacks<'a>(
    on_event: &'a Function,
    on_checkpoint: &'a Function,
    is_cancelled: &'a Function,
) -> JsCallbacks<impl FnMut(Event) + 'a, impl FnMut(&Checkpoint) -> crate::Result<()> + 'a, impl Fn() -> bool + 'a> {
    JsCallbacks {
        emit: event_sink(on_event),
        keep: checkpoint_sink(on_checkpoint),
        cancelled: cancel_poll(is_cancelled),
    }
}

impl<E: FnMut(Event), K: FnMut(&Checkpoint) -> crate::Result<()>, C: Fn() -> bool> JsCallbacks<E, K, C> {
    pub(super) fn hooks(&mut self) -> Hooks<'_> {
        Hooks { on_event: &mut self.emit, on_checkpoint: Some(&mut self.keep), cancelled: &self.cancelled }
    }
}

/// Checks training options (unknown keys, values out of range) without training: the shim calls
/// it before it reads data or stores a run, so that a typo costs nothing.
#[wasm_bindgen(js_name = checkTrainOptions)]
pub fn check_train_options(options: JsValue) -> Result<(), JsValue> {
    let options: TrainOptions = parse_options("finetune", options).map_err(to_js)?;
    options.validate().map_err(to_js)
}

/// Hands every training event to `on_event`.
pub(super) fn event_sink(on_event: &Function) -> impl FnMut(Event) + '_ {
    move |event| {
        if let Ok(v) = to_value(&event) {
            let _ = on_event.call1(&JsValue::NULL, &v);
        }
    }
}

/// Hands every checkpoint to `on_checkpoint` as `{ name: Uint8Array }`; a throw stops the run.
fn checkpoint_sink(on_checkpoint: &Function) -> impl FnMut(&Checkpoint) -> crate::Result<()> + '_ {
    move |c: &Checkpoint| {
        let files = Object::new();
        for (name, bytes) in c.files()? {
            let _ = Reflect::set(&files, &name.into(), &Uint8Array::from(bytes.as_slice()));
        }
        on_checkpoint
            .call1(&JsValue::NULL, &files)
            .map(|_| ())
            .map_err(|e| Error::Options(format!("onCheckpoint threw: {}", describe(&e))))
    }
}

/// The checkpoint in `resume` (the files an `onCheckpoint` call got), or none.
pub(super) fn resume_from(resume: &JsValue) -> crate::Result<Option<Checkpoint>> {
    if resume.is_undefined() || resume.is_null() {
        return Ok(None);
    }
    let get = |name: &str| {
        Reflect::get(resume, &name.into()).ok().filter(|v| v.is_instance_of::<Uint8Array>()).map(|v| Uint8Array::from(v).to_vec())
    };
    Checkpoint::from_files(get).map(Some)
}

/// A model's files passed as `{ config, weights, tokenizer }` (Uint8Arrays), or none for
/// undefined; `what` names the argument in the error.
fn model_files_in(files: &JsValue, what: &str) -> crate::Result<Option<ModelFiles>> {
    if files.is_undefined() || files.is_null() {
        return Ok(None);
    }
    let get = |name: &str| {
        Reflect::get(files, &name.into())
            .ok()
            .filter(|v| v.is_instance_of::<Uint8Array>())
            .map(|v| Uint8Array::from(v).to_vec())
            .ok_or_else(|| Error::Options(format!("{what}.{name} must be a Uint8Array (a model's files: config, weights, tokenizer)")))
    };
    Ok(Some(ModelFiles { config: get("config")?, weights: get("weights")?, tokenizer: get("tokenizer")? }))
}

/// The device a `setup.device` names, else the one of the last `init()`.
pub(super) async fn setup_device(name: Option<&str>) -> crate::Result<crate::ComputeDevice> {
    match name {
        Some(d) => device::select(d.parse()?).await,
        None => super::current_device().await,
    }
}

/// A thrown JS value as text.
fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).or_else(|| e.as_string()).unwrap_or_else(|| format!("{e:?}"))
}
