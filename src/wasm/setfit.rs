//! `fineTuneSetFit` and the `SetFitModel` class for JS: a SetFit run (the sentence-transformer
//! body trained on pairs of rows, a logistic-regression head on its embeddings) and its result,
//! which classifies, embeds and exports as setfit saves a model.

use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::{
    errors::to_js,
    options::parse_options,
    to_value,
    train::{Setup, cancel_poll, event_sink, setup_device},
};
use super::encoder::EvalSetup;
use crate::{
    data::{Dataset, LabelMap, parse_named},
    train::setfit::evaluate,
    infer::{ModelFiles, sentence_transformer::SentenceTransformer, setfit::SetFitModel},
    session::finetune_setfit,
    train::{Hooks, TrainOptions},
};

/// Trains a SetFit model: `config`/`weights`/`tokenizer` are the body, `modules` the rest of its
/// sentence-transformers folder by name (`{ "modules.json": Uint8Array, "1_Pooling/config.json",
/// … }`; empty for a plain Hugging Face folder: mean pooling). `setup` and `options` as
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
    let files = ModelFiles { config: config.to_vec(), weights: weights.to_vec(), tokenizer: tokenizer.to_vec() };
    let (data, validation) = (data.to_vec(), validation.map(|v| v.to_vec()));
    let given: Vec<String> = if options.is_object() { Object::keys(options.unchecked_ref::<Object>()).iter().filter_map(|k| k.as_string()).collect() } else { Vec::new() };
    let module_files = named_bytes(&modules);
    future_to_promise(async move {
        let setup: Setup = parse_options("finetune", setup).map_err(to_js)?;
        let options: TrainOptions = parse_options("finetune options", options).map_err(to_js)?;
        let options = options.with_method_defaults(|name| given.iter().any(|g| g == name));
        let modules = SentenceTransformer::from_folder(module_files.iter().find(|(n, _)| n == "modules.json").map(|(_, b)| b.as_slice()), |name| {
            module_files.iter().find(|(n, _)| n == name).map(|(_, b)| b.clone())
        })
        .map_err(to_js)?;
        let data = setup.data(data, validation, "validation.csv");
        let dev = setup_device(setup.device.as_deref()).await.map_err(to_js)?;
        let (mut emit, cancelled) = (event_sink(&on_event), cancel_poll(&is_cancelled));
        let tuned = finetune_setfit(&files, modules, &dev, &data, &setup.columns, &options, Hooks { on_event: &mut emit, on_checkpoint: None, cancelled: &cancelled })
            .await
            .map_err(to_js)?;
        Ok(JsSetFit { inner: std::rc::Rc::new(tuned.model) }.into())
    })
}

/// `{ name: Uint8Array }` → (name, bytes); other values are skipped.
fn named_bytes(value: &JsValue) -> Vec<(String, Vec<u8>)> {
    if !value.is_object() {
        return Vec::new();
    }
    Object::keys(value.unchecked_ref::<Object>())
        .iter()
        .filter_map(|k| {
            let name = k.as_string()?;
            let bytes = Reflect::get(value, &k).ok()?.dyn_into::<Uint8Array>().ok()?;
            Some((name, bytes.to_vec()))
        })
        .collect()
}

/// What a SetFit model is, for the JS side.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SetFitInfo<'a> {
    device: &'a crate::DeviceInfo,
    labels: &'a [String],
    hidden_size: usize,
    num_layers: usize,
    max_length: usize,
    method: &'static str,
    warnings: Vec<String>,
}

/// A trained SetFit model (JS class `SetFitModel`).
#[wasm_bindgen(js_name = SetFitModel)]
pub struct JsSetFit {
    inner: std::rc::Rc<SetFitModel>,
}

#[wasm_bindgen(js_class = SetFitModel)]
impl JsSetFit {
    /// `{ device, labels, hiddenSize, numLayers, maxLength, method: "setfit", warnings }`.
    pub fn info(&self) -> Result<JsValue, JsValue> {
        let m = &self.inner;
        to_value(&SetFitInfo {
            device: m.device.info(),
            labels: &m.labels,
            hidden_size: m.config.hidden_size,
            num_layers: m.config.num_hidden_layers,
            max_length: m.max_length,
            method: "setfit",
            warnings: Vec::new(),
        })
    }

    /// `[{label, score}, …]` per text, highest first: the head's probabilities.
    pub fn classify(&self, texts: JsValue) -> Promise {
        let m = self.inner.clone();
        future_to_promise(async move {
            let texts = super::encoder::parse_texts(texts).map_err(to_js)?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            to_value(&m.classify(&refs).await.map_err(to_js)?)
        })
    }

    /// The body's attention weights for `text`, as `Encoder.attentions` gives them.
    pub fn attentions(&self, text: String) -> Promise {
        let m = self.inner.clone();
        future_to_promise(async move { to_value(&m.attentions(&text).await.map_err(to_js)?) })
    }

    /// The body's sentence embeddings (its own pooling and normalisation).
    pub fn embed(&self, texts: JsValue) -> Promise {
        let m = self.inner.clone();
        future_to_promise(async move {
            let texts = super::encoder::parse_texts(texts).map_err(to_js)?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            to_value(&m.embed(&refs).await.map_err(to_js)?)
        })
    }

    /// Metrics on labelled data (bytes of a CSV/TSV/JSONL/JSON file), as `Encoder.evaluate`;
    /// `setup`: `{ dataName, columns }`.
    pub fn evaluate(&self, data: Uint8Array, setup: JsValue) -> Promise {
        let m = self.inner.clone();
        let data = data.to_vec();
        future_to_promise(async move {
            let setup: EvalSetup = parse_options("evaluate", setup).map_err(to_js)?;
            let table = parse_named(&data, &setup.data_name).map_err(to_js)?;
            let rows = Dataset::with_labels(&table, &setup.columns, LabelMap::from_names(m.labels.clone())).map_err(to_js)?;
            to_value(&evaluate(&m, &rows).await.map_err(to_js)?)
        })
    }

    /// The folder setfit saves, by name: the sentence-transformers files, `config_setfit.json`,
    /// `model_head.pkl` (`SetFitModel.from_pretrained(folder)` loads it).
    pub fn export(&self) -> Promise {
        let m = self.inner.clone();
        future_to_promise(async move { super::files_object(m.files().await.map_err(to_js)?) })
    }
}
