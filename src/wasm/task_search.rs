//! `searchTask` for JS: hyperparameter search for the encoder tasks besides classification
//! (token classification, question answering, fill-mask), over `fineTune…`'s arguments. The plan
//! and the loop are the core's (`session::search`), as for `search` and `Decoder.search`.

use std::rc::Rc;

use js_sys::{Function, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::{
    JsMaskedLm, JsQuestionAnswerer, JsTokenClassifier,
    errors::to_js,
    options::parse_options,
    train::{TaskSetup, searched, setup_device, trial_callbacks, trial_sink},
};
use crate::{
    Error,
    infer::ModelFiles,
    session::{SessionData, Task, finetune_answerer, finetune_masked_lm, finetune_token_classifier, search},
    train::{SearchPlan, TrainOptions},
};

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
    let files = ModelFiles { config: config.to_vec(), weights: weights.to_vec(), tokenizer: tokenizer.to_vec() };
    let (data, validation) = (data.to_vec(), validation.map(|v| v.to_vec()));
    future_to_promise(async move {
        let task = Task::parse(&task).map_err(to_js)?;
        let default = match task {
            Task::TokenClassification => "train.conll",
            Task::QuestionAnswering => "train.json",
            Task::FillMask => "train.txt",
            other => return Err(to_js(Error::Options(format!("searchTask does not run {}: use search() or Decoder.search", other.name())))),
        };
        let setup: TaskSetup = parse_options("search", setup).map_err(to_js)?;
        let options: TrainOptions = parse_options("search options", options).map_err(to_js)?;
        let plan: SearchPlan = parse_options("search", plan).map_err(to_js)?;
        let extension = default.rsplit_once('.').map_or("", |(_, e)| e);
        let name = setup.data_name.clone().unwrap_or_else(|| default.into());
        let validation_name = setup.validation_name.clone().unwrap_or_else(|| format!("validation.{extension}"));
        let data = SessionData::named(data, name, validation, validation_name, setup.validation_split);
        let dev = setup_device(setup.device.as_deref()).await.map_err(to_js)?;
        let (files, dev, data, columns) = (&files, &dev, &data, &setup.columns);
        macro_rules! run {
            ($train:expr, $class:ident) => {{
                let trial = async |index, options: TrainOptions| {
                    let mut callbacks = trial_callbacks(&on_event, &is_cancelled, index);
                    $train(options, callbacks.hooks()).await
                };
                let found = search(&plan, task, &options, trial, trial_sink(&on_event)).await.map_err(to_js)?;
                searched(&found.trials, &found.best, $class { inner: Rc::new(found.model) }.into())
            }};
        }
        match task {
            Task::TokenClassification => run!(async |o: TrainOptions, h| finetune_token_classifier(files, dev, data, &o, None, h).await, JsTokenClassifier),
            Task::QuestionAnswering => run!(async |o: TrainOptions, h| finetune_answerer(files, dev, data, &o, None, h).await, JsQuestionAnswerer),
            _ => run!(async |o: TrainOptions, h| finetune_masked_lm(files, dev, data, columns, &o, None, h).await, JsMaskedLm),
        }
    })
}
