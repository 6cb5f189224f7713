//! A trained model of any task as the JS class that wraps it, and one hyperparameter search for
//! every task: the bindings' side of `session::Task::finetune`.

use std::rc::Rc;

use js_sys::Function;
use wasm_bindgen::JsValue;

use super::{
    JsDecoder, JsEncoder, JsMaskedLm, JsQuestionAnswerer, JsTokenClassifier,
    errors::to_js,
    setfit::JsSetFit,
    callbacks::{searched, trial_callbacks, trial_sink},
};
use crate::{
    session::{Base, Inputs, Task, Trained, search},
    train::{SearchPlan, TrainOptions},
};

/// The JS object of a trained model: `Encoder`, `SetFitModel`, `TokenClassifier`,
/// `QuestionAnswerer`, `MaskedLm` or `Decoder`.
pub(super) fn trained_js(model: Trained) -> JsValue {
    match model {
        Trained::Classifier(m) => JsEncoder::from(Rc::new(m)).into(),
        Trained::SetFit(m) => JsSetFit { inner: Rc::new(m) }.into(),
        Trained::TokenClassifier(m) => JsTokenClassifier { inner: Rc::new(m) }.into(),
        Trained::QuestionAnswerer(m) => JsQuestionAnswerer { inner: Rc::new(m) }.into(),
        Trained::MaskedLm(m) => JsMaskedLm { inner: Rc::new(m) }.into(),
        Trained::Decoder(m) => JsDecoder { inner: Rc::new(m) }.into(),
    }
}

/// A hyperparameter search (`plan`) of `task` from `base`: each trial's events go to `on_event`
/// with its `trial` index, then a `{ type: "trial", … }` event; resolves to `{ trials, best,
/// model }`, `model` the best trial's.
#[allow(clippy::too_many_arguments)]
pub(super) async fn search_js(
    task: Task,
    base: Base<'_>,
    inputs: Inputs<'_>,
    options: &TrainOptions,
    plan: &SearchPlan,
    on_event: &Function,
    is_cancelled: &Function,
) -> Result<JsValue, JsValue> {
    let trial = async |index, options: TrainOptions| {
        let mut callbacks = trial_callbacks(on_event, is_cancelled, index);
        task.finetune(base, inputs, &options, None, callbacks.hooks()).await
    };
    let found = search(plan, task, options, trial, trial_sink(on_event)).await.map_err(to_js)?;
    searched(&found.trials, &found.best, trained_js(found.model))
}
