//! Fine-tuning and hyperparameter search from JS, for every task: the `fineTune…` exports,
//! `search`, `searchTask` and `Decoder.fineTune`/`Decoder.search` convert their JS arguments and
//! pass them to `session::Task::finetune`, which chooses the trainer.

use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::{
    JsDecoder,
    callbacks::{cancel_poll, event_sink, js_callbacks, resume_from, setup_device},
    decoder::TrainSetup,
    errors::to_js,
    options::parse_options,
    train::{Setup, TaskSetup},
    trained::{search_js, trained_js},
};
use crate::{
    Error,
    data::{Columns, TextColumns},
    infer::{ModelFiles, sentence_transformer::SentenceTransformer},
    session::{Base, EncoderBase, Inputs, Task},
    train::{Hooks, SearchPlan, TrainOptions, options::Method},
};

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
    let (files, data, validation) = owned(&config, &weights, &tokenizer, &data, validation);
    future_to_promise(async move {
        let augment_model = model_files_in(&augment_model, "augmentModel").map_err(to_js)?;
        let setup: Setup = parse_options("fineTune", setup).map_err(to_js)?;
        let options: TrainOptions = parse_options("fineTune options", options).map_err(to_js)?;
        if options.method == Method::Setfit {
            return Err(to_js(Error::Options("fineTune trains with method \"finetune\"; SetFit runs are fineTuneSetFit's".into())));
        }
        let data = setup.data(data, validation);
        let dev = setup_device(setup.device.as_deref()).await.map_err(to_js)?;
        let base = Base::Encoder(EncoderBase { files: &files, sentence: None, augment_model: augment_model.as_ref() });
        let inputs = Inputs { device: &dev, data: &data, columns: &setup.columns, text_columns: &TextColumns::default() };
        finetune_for_js(Task::TextClassification, base, inputs, &options, &resume, [&on_event, &on_checkpoint, &is_cancelled]).await
    })
}

/// Hyperparameter search (`plan`: `{ space, strategy, trials }`) over `fineTune`'s arguments: one
/// run per trial from the same files, each trial's events with its `trial` index, and a
/// `{ type: "trial", index, settings, metric, value, steps }` event as each ends. Resolves to
/// `{ trials, best, model }`, `model` the best trial's `Encoder`.
#[wasm_bindgen(js_name = search)]
#[allow(clippy::too_many_arguments)]
pub fn search_classifier_js(
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
    let (files, data, validation) = owned(&config, &weights, &tokenizer, &data, validation);
    future_to_promise(async move {
        let setup: Setup = parse_options("search", setup).map_err(to_js)?;
        let options: TrainOptions = parse_options("search options", options).map_err(to_js)?;
        let plan: SearchPlan = parse_options("search", plan).map_err(to_js)?;
        let data = setup.data(data, validation);
        let dev = setup_device(setup.device.as_deref()).await.map_err(to_js)?;
        let inputs = Inputs { device: &dev, data: &data, columns: &setup.columns, text_columns: &TextColumns::default() };
        search_js(Task::TextClassification, Base::files(&files), inputs, &options, &plan, &on_event, &is_cancelled).await
    })
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

/// Fine-tunes `config`/`weights`/`tokenizer` for `task` — "token-classification" (tags the words
/// of CoNLL or JSON-lines sentences), "question-answering" (SQuAD data) or "fill-mask" (continued
/// masked-LM pretraining on plain texts) — with the callbacks and `resume` of `fineTune`.
/// Resolves to the task's model: a `TokenClassifier`, `QuestionAnswerer` or `MaskedLm`.
#[wasm_bindgen(js_name = fineTuneTask)]
#[allow(clippy::too_many_arguments)]
pub fn fine_tune_task(
    task: String,
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
) -> Promise {
    let (files, data, validation) = owned(&config, &weights, &tokenizer, &data, validation);
    future_to_promise(async move {
        let task = other_encoder_task(&task, "fineTuneTask", "fineTune, fineTuneSetFit or Decoder.fineTune").map_err(to_js)?;
        let setup: TaskSetup = parse_options("fineTune", setup).map_err(to_js)?;
        let options: TrainOptions = parse_options("fineTune options", options).map_err(to_js)?;
        let data = setup.data(task, data, validation);
        let dev = setup_device(setup.device.as_deref()).await.map_err(to_js)?;
        let inputs = Inputs { device: &dev, data: &data, columns: &Columns::default(), text_columns: &setup.columns };
        finetune_for_js(task, Base::files(&files), inputs, &options, &resume, [&on_event, &on_checkpoint, &is_cancelled]).await
    })
}

/// Trains a SetFit model: `config`/`weights`/`tokenizer` are the body, `modules` the rest of its
/// sentence-transformers folder by name (`{ "modules.json": Uint8Array, "1_Pooling/config.json",
/// … }`, and a saved SetFit folder's `config_setfit.json`; empty for a plain Hugging Face folder:
/// mean pooling). `setup` and `options` as
/// `fineTune` takes them (setfit's defaults for the options not given). Resolves to a
/// `SetFitModel`; an abort resolves to the model as trained so far (the `done` event says so).
#[wasm_bindgen(js_name = fineTuneSetFit)]
#[allow(clippy::too_many_arguments)]
pub fn fine_tune_setfit_js(
    config: Uint8Array,
    weights: Uint8Array,
    tokenizer: Uint8Array,
    modules: JsValue,
    data: Uint8Array,
    validation: Option<Uint8Array>,
    setup: JsValue,
    options: JsValue,
    on_event: Function,
    is_cancelled: Function,
) -> Promise {
    let (files, data, validation) = owned(&config, &weights, &tokenizer, &data, validation);
    let given: Vec<String> = if options.is_object() { Object::keys(options.unchecked_ref::<Object>()).iter().filter_map(|k| k.as_string()).collect() } else { Vec::new() };
    let module_files = super::named_bytes(&modules);
    future_to_promise(async move {
        let setup: Setup = parse_options("finetune", setup).map_err(to_js)?;
        let options: TrainOptions = parse_options("finetune options", options).map_err(to_js)?;
        let options = TrainOptions { method: Method::Setfit, ..options }.with_method_defaults(|name| given.iter().any(|g| g == name));
        let modules = SentenceTransformer::from_folder(module_files.iter().find(|(n, _)| n == "modules.json").map(|(_, b)| b.as_slice()), |name| {
            module_files.iter().find(|(n, _)| n == name).map(|(_, b)| b.clone())
        })
        .map_err(to_js)?;
        let data = setup.data(data, validation);
        let dev = setup_device(setup.device.as_deref()).await.map_err(to_js)?;
        let (mut emit, cancelled) = (event_sink(&on_event), cancel_poll(&is_cancelled));
        let hooks = Hooks { on_event: &mut emit, on_checkpoint: None, cancelled: &cancelled };
        let base = Base::Encoder(EncoderBase { files: &files, sentence: Some(&modules), augment_model: None });
        let inputs = Inputs { device: &dev, data: &data, columns: &setup.columns, text_columns: &TextColumns::default() };
        let tuned = Task::TextClassification.finetune(base, inputs, &options, None, hooks).await.map_err(to_js)?;
        Ok(trained_js(tuned.model))
    })
}

#[wasm_bindgen(js_class = Decoder)]
impl JsDecoder {
    /// Fine-tunes all weights (or LoRA adapters, with the `lora` option) on `data` (bytes of a
    /// CSV/TSV/JSONL/JSON file with a `text` column, `prompt` and `completion` columns, or a
    /// `messages` column of conversations; or a `.txt` corpus, packed):
    /// resolves to a new `Decoder` with the trained weights (the best evaluation's, by default);
    /// this one is unchanged. Callbacks as `fineTune`.
    #[wasm_bindgen(js_name = fineTune)]
    #[allow(clippy::too_many_arguments)]
    pub fn fine_tune(
        &self,
        data: Uint8Array,
        validation: Option<Uint8Array>,
        setup: JsValue,
        options: JsValue,
        on_event: Function,
        on_checkpoint: Function,
        is_cancelled: Function,
        resume: JsValue,
    ) -> Promise {
        let decoder = self.inner.clone();
        let (data, validation) = (data.to_vec(), validation.map(|v| v.to_vec()));
        future_to_promise(async move {
            let setup: TrainSetup = parse_options("finetune", setup).map_err(to_js)?;
            let options: TrainOptions = parse_options("finetune options", options).map_err(to_js)?;
            let (data, device) = setup.session(&decoder, data, validation).await.map_err(to_js)?;
            let inputs = Inputs { device: &device, data: &data, columns: &Columns::default(), text_columns: &setup.columns };
            finetune_for_js(Task::TextGeneration, Base::Decoder(&decoder), inputs, &options, &resume, [&on_event, &on_checkpoint, &is_cancelled]).await
        })
    }

    /// Hyperparameter search (`plan`: `{ space, strategy, trials }`) over `fineTune`'s arguments,
    /// each trial from this decoder: events and result as the classifier's `search` (`model`: the
    /// best trial's `Decoder`); this one is unchanged.
    #[allow(clippy::too_many_arguments)]
    pub fn search(
        &self,
        data: Uint8Array,
        validation: Option<Uint8Array>,
        setup: JsValue,
        options: JsValue,
        plan: JsValue,
        on_event: Function,
        is_cancelled: Function,
    ) -> Promise {
        let decoder = self.inner.clone();
        let (data, validation) = (data.to_vec(), validation.map(|v| v.to_vec()));
        future_to_promise(async move {
            let setup: TrainSetup = parse_options("search", setup).map_err(to_js)?;
            let options: TrainOptions = parse_options("search options", options).map_err(to_js)?;
            let plan: SearchPlan = parse_options("search", plan).map_err(to_js)?;
            let (data, device) = setup.session(&decoder, data, validation).await.map_err(to_js)?;
            let inputs = Inputs { device: &device, data: &data, columns: &Columns::default(), text_columns: &setup.columns };
            search_js(Task::TextGeneration, Base::Decoder(&decoder), inputs, &options, &plan, &on_event, &is_cancelled).await
        })
    }
}

/// Hyperparameter search for `task` ("token-classification", "question-answering", "fill-mask"):
/// one run per trial from the same files, each trial's events with its `trial` index and a
/// `{ type: "trial", … }` event as each ends. Resolves to `{ trials, best, model }`.
#[wasm_bindgen(js_name = searchTask)]
#[allow(clippy::too_many_arguments)]
pub fn search_task(
    task: String,
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
    let (files, data, validation) = owned(&config, &weights, &tokenizer, &data, validation);
    future_to_promise(async move {
        let task = other_encoder_task(&task, "searchTask", "search or Decoder.search").map_err(to_js)?;
        let setup: TaskSetup = parse_options("search", setup).map_err(to_js)?;
        let options: TrainOptions = parse_options("search options", options).map_err(to_js)?;
        let plan: SearchPlan = parse_options("search", plan).map_err(to_js)?;
        let data = setup.data(task, data, validation);
        let dev = setup_device(setup.device.as_deref()).await.map_err(to_js)?;
        let inputs = Inputs { device: &dev, data: &data, columns: &Columns::default(), text_columns: &setup.columns };
        search_js(task, Base::files(&files), inputs, &options, &plan, &on_event, &is_cancelled).await
    })
}

/// The arguments every encoder export copies out of JS: the model's files and the data.
fn owned(config: &Uint8Array, weights: &Uint8Array, tokenizer: &Uint8Array, data: &Uint8Array, validation: Option<Uint8Array>) -> (ModelFiles, Vec<u8>, Option<Vec<u8>>) {
    (ModelFiles { config: config.to_vec(), weights: weights.to_vec(), tokenizer: tokenizer.to_vec() }, data.to_vec(), validation.map(|v| v.to_vec()))
}

/// The shared end of the `fineTune…` exports with checkpoints: `task`'s run from `base` with the
/// JS callbacks (`[onEvent, onCheckpoint, isCancelled]`), continued from `resume` (a checkpoint's
/// files, or undefined); resolves to the trained model's JS object.
async fn finetune_for_js(task: Task, base: Base<'_>, inputs: Inputs<'_>, options: &TrainOptions, resume: &JsValue, [on_event, on_checkpoint, is_cancelled]: [&Function; 3]) -> Result<JsValue, JsValue> {
    let resume = resume_from(resume).map_err(to_js)?;
    let mut callbacks = js_callbacks(on_event, on_checkpoint, is_cancelled);
    let tuned = task.finetune(base, inputs, options, resume.as_ref(), callbacks.hooks()).await.map_err(to_js)?;
    Ok(trained_js(tuned.model))
}

/// The task `name` names, when it is one `call` runs (token classification, question answering,
/// fill-mask); else an error pointing at `instead`.
fn other_encoder_task(name: &str, call: &str, instead: &str) -> crate::Result<Task> {
    let task = Task::parse(name)?;
    match task {
        Task::TokenClassification | Task::QuestionAnswering | Task::FillMask => Ok(task),
        Task::FeatureExtraction | Task::TextClassification | Task::TextGeneration => {
            Err(Error::Options(format!("{call} does not run {}: use {instead}", task.name())))
        }
    }
}
