//! `TokenClassifier` for JS: a BERT-family token classifier (NER) loaded from bytes, with `tag`,
//! `evaluate` and `export`; `fineTuneTask("token-classification", …)` trains one from tagged sentences.

use std::rc::Rc;

use js_sys::{Promise, Uint8Array};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::{
    errors::to_js,
    options::parse_options,
    to_value,
    callbacks::setup_device,
    train::TaskSetup,
};
use crate::{
    Error,
    infer::{ModelFiles, token_aggregation::Aggregation, token_classification::TokenClassifier},
    session::Task,
};

/// Options of `TokenClassifier.load`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LoadOptions {
    /// "auto" | "webgpu" | "gpu" | "cpu"; default: the device of the last `init()`, else "auto".
    device: Option<String>,
    /// Longest input in tokens (capped by the model's position embeddings); longer texts are cut.
    max_length: Option<usize>,
    /// Texts per forward pass (default 32).
    batch_size: Option<usize>,
}

/// Options of `tag`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TagOptions {
    /// "none" | "simple" (default) | "first" | "average" | "max".
    aggregation: Option<Aggregation>,
}

/// What a loaded token classifier is, for the JS side.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TaggerInfo<'a> {
    device: &'a crate::DeviceInfo,
    labels: Vec<String>,
    hidden_size: usize,
    num_layers: usize,
    max_length: usize,
    warnings: &'a [String],
}

/// A loaded token classifier (JS class `TokenClassifier`).
#[wasm_bindgen(js_name = TokenClassifier)]
pub struct JsTokenClassifier {
    pub(super) inner: Rc<TokenClassifier>,
}

#[wasm_bindgen(js_class = TokenClassifier)]
impl JsTokenClassifier {
    /// Loads `config.json`, `model.safetensors` and `tokenizer.json` (as bytes) onto a device.
    pub async fn load(config: Uint8Array, weights: Uint8Array, tokenizer: Uint8Array, options: JsValue) -> Result<JsTokenClassifier, JsValue> {
        let opts: LoadOptions = parse_options("TokenClassifier.load", options).map_err(to_js)?;
        let dev = setup_device(opts.device.as_deref()).await.map_err(to_js)?;
        let files = ModelFiles { config: config.to_vec(), weights: weights.to_vec(), tokenizer: tokenizer.to_vec() };
        let mut tagger = TokenClassifier::load(files, &dev).map_err(to_js)?;
        (tagger.max_length, tagger.batch_size) =
            super::options::sizes(opts.max_length, opts.batch_size, tagger.config.max_tokens(), (tagger.max_length, tagger.batch_size)).map_err(to_js)?;
        Ok(JsTokenClassifier { inner: Rc::new(tagger) })
    }

    /// `{ device, labels, hiddenSize, numLayers, maxLength, warnings }`.
    pub fn info(&self) -> Result<JsValue, JsValue> {
        let t = &self.inner;
        to_value(&TaggerInfo {
            device: t.device.info(),
            labels: t.config.labels(),
            hidden_size: t.config.hidden_size,
            num_layers: t.config.num_hidden_layers,
            max_length: t.max_length,
            warnings: &t.report.warnings,
        })
    }

    /// The entities of each text: `Promise<{entity, score, word, start, end, index?}[][]>`
    /// (character offsets); options `{ aggregation }`.
    pub fn tag(&self, texts: JsValue, options: JsValue) -> Promise {
        let tagger = self.inner.clone();
        future_to_promise(async move {
            let texts: Vec<String> = serde_wasm_bindgen::from_value(texts)
                .map_err(|_| to_js(Error::Options("texts must be an array of strings".into())))?;
            let opts: TagOptions = parse_options("token-classification", options).map_err(to_js)?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            to_value(&tagger.tag(&refs, opts.aggregation.unwrap_or_default()).await.map_err(to_js)?)
        })
    }

    /// Entity precision, recall, F1 (micro and per type) and token accuracy on tagged sentences
    /// (bytes of a CoNLL or JSON-lines file): `Promise<EntityMetrics>`; `setup`: `{ dataName }`.
    pub fn evaluate(&self, data: Uint8Array, setup: JsValue) -> Promise {
        let tagger = self.inner.clone();
        let data = data.to_vec();
        future_to_promise(async move {
            let setup: TaskSetup = parse_options("evaluate", setup).map_err(to_js)?;
            let name = setup.data_name.unwrap_or_else(|| Task::TokenClassification.default_data_name().into());
            to_value(&tagger.evaluate(&data, &name).await.map_err(to_js)?)
        })
    }

    /// The model as Hugging Face files: `Promise<{"config.json", "model.safetensors",
    /// "tokenizer.json"}>` that transformers' `AutoModelForTokenClassification` loads.
    pub fn export(&self) -> Promise {
        let tagger = self.inner.clone();
        future_to_promise(async move { super::files_object(tagger.export().await.map_err(to_js)?.by_name()) })
    }

    /// A LoRA-tuned model's adapters and `classifier` as PEFT files: `Promise<{
    /// "adapter_model.safetensors", "adapter_config.json" }>`; `baseModel` goes into
    /// `base_model_name_or_path`.
    #[wasm_bindgen(js_name = exportAdapter)]
    pub fn export_adapter(&self, base_model: String) -> Promise {
        let tagger = self.inner.clone();
        future_to_promise(async move { super::files_object(tagger.export_adapter(&base_model).await.map_err(to_js)?) })
    }
}

