//! `Encoder` for JS: a BERT-family model loaded from bytes, with `embed` and `classify`.

use std::rc::Rc;

use js_sys::{Promise, Uint8Array};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::{errors::to_js, options::parse_options, to_value};
use crate::{
    Error, Result,
    data::{Columns, parse_named},
    device,
    infer::{EncodeOptions, Encoder, ModelFiles},
    models::heads::Pooling,
};

/// Options of `Encoder.load`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LoadOptions {
    /// "auto" | "webgpu" | "gpu" | "cpu"; default: the device of the last `init()`, else "auto".
    device: Option<String>,
    /// Longest input in tokens (capped by the model's position embeddings).
    max_length: Option<usize>,
    /// Cut longer texts (default true) instead of rejecting them.
    truncate: Option<bool>,
    /// Texts per forward pass (default 32).
    batch_size: Option<usize>,
}

/// Options of `embed`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct EmbedOptions {
    /// "mean" (default) | "cls".
    pooling: Option<String>,
    /// Scale each vector to unit length (default false).
    normalize: Option<bool>,
}

/// Where `evaluate`'s labelled data came from.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct EvalSetup {
    /// File name of the data (its extension gives the format: .csv, .tsv, .jsonl, .json).
    pub(super) data_name: String,
    /// Which columns hold text, second text and label (default `text`, `label`).
    #[serde(default)]
    pub(super) columns: Columns,
}

impl Default for EvalSetup {
    fn default() -> Self {
        EvalSetup { data_name: crate::session::Task::TextClassification.default_data_name().into(), columns: Columns::default() }
    }
}

/// What a loaded encoder is, for the JS side.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EncoderInfo<'a> {
    device: &'a crate::DeviceInfo,
    labels: Vec<String>,
    hidden_size: usize,
    num_layers: usize,
    max_length: usize,
    warnings: &'a [String],
}

/// A loaded BERT-family encoder (JS class `Encoder`).
#[wasm_bindgen(js_name = Encoder)]
pub struct JsEncoder {
    inner: Rc<Encoder>,
}

impl From<Rc<Encoder>> for JsEncoder {
    fn from(inner: Rc<Encoder>) -> Self {
        JsEncoder { inner }
    }
}

#[wasm_bindgen(js_class = Encoder)]
impl JsEncoder {
    /// Loads `config.json`, `model.safetensors` and `tokenizer.json` (as bytes) onto a device.
    pub async fn load(config: Uint8Array, weights: Uint8Array, tokenizer: Uint8Array, options: JsValue) -> Result<JsEncoder, JsValue> {
        let opts: LoadOptions = parse_options("Encoder.load", options).map_err(to_js)?;
        let dev = match &opts.device {
            Some(d) => device::select(d.parse().map_err(to_js)?).await.map_err(to_js)?,
            None => super::current_device().await.map_err(to_js)?,
        };
        let files = ModelFiles { config: config.to_vec(), weights: weights.to_vec(), tokenizer: tokenizer.to_vec() };
        let mut enc = Encoder::load(files, &dev).map_err(to_js)?;
        let defaults = EncodeOptions::default();
        enc.configure(EncodeOptions {
            max_length: opts.max_length,
            truncate: opts.truncate.unwrap_or(defaults.truncate),
            batch_size: opts.batch_size.unwrap_or(defaults.batch_size),
        })
        .map_err(to_js)?;
        Ok(JsEncoder { inner: Rc::new(enc) })
    }

    /// `{ device, labels, hiddenSize, numLayers, maxLength, warnings }`.
    pub fn info(&self) -> Result<JsValue, JsValue> {
        let e = &self.inner;
        to_value(&EncoderInfo {
            device: e.device.info(),
            labels: e.config.labels(),
            hidden_size: e.config.hidden_size,
            num_layers: e.config.num_hidden_layers,
            max_length: e.max_length(),
            warnings: &e.report.warnings,
        })
    }

    /// One vector per text: `Promise<number[][]>`. Options `{ pooling: "mean"|"cls", normalize }`.
    pub fn embed(&self, texts: JsValue, options: JsValue) -> Promise {
        let enc = self.inner.clone();
        future_to_promise(async move {
            let texts = parse_texts(texts).map_err(to_js)?;
            let opts: EmbedOptions = parse_options("embed", options).map_err(to_js)?;
            let pooling: Pooling = opts.pooling.as_deref().unwrap_or("mean").parse().map_err(to_js)?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let vectors = enc.embed(&refs, pooling, opts.normalize.unwrap_or(false)).await.map_err(to_js)?;
            to_value(&vectors)
        })
    }

    /// The model as Hugging Face files: `Promise<{config, weights, tokenizer}>` (Uint8Arrays of
    /// config.json, model.safetensors, tokenizer.json) that transformers and `loadEncoder` load.
    pub fn export(&self) -> Promise {
        let enc = self.inner.clone();
        future_to_promise(async move {
            super::files_object(enc.export().await.map_err(to_js)?.by_name())
        })
    }

    /// A LoRA-tuned classifier's adapters and head as PEFT files: `Promise<{
    /// "adapter_model.safetensors", "adapter_config.json" }>`; `baseModel` goes into
    /// `base_model_name_or_path`.
    #[wasm_bindgen(js_name = exportAdapter)]
    pub fn export_adapter(&self, base_model: String) -> Promise {
        let enc = self.inner.clone();
        future_to_promise(async move { super::files_object(enc.export_adapter(&base_model).await.map_err(to_js)?) })
    }

    /// Metrics on labelled data (bytes of a CSV/TSV/JSONL/JSON file): `Promise<Metrics>` with
    /// `loss`, `accuracy`, `macro_f1`, `per_class`, `confusion_matrix`, …; `setup`:
    /// `{ dataName, columns }`.
    pub fn evaluate(&self, data: Uint8Array, setup: JsValue) -> Promise {
        let enc = self.inner.clone();
        let data = data.to_vec();
        future_to_promise(async move {
            let setup: EvalSetup = parse_options("evaluate", setup).map_err(to_js)?;
            let table = parse_named(&data, &setup.data_name).map_err(to_js)?;
            to_value(&enc.evaluate(&table, &setup.columns).await.map_err(to_js)?)
        })
    }

    /// Class probabilities per text, highest first: `Promise<{label, score}[][]>`.
    pub fn classify(&self, texts: JsValue) -> Promise {
        let enc = self.inner.clone();
        future_to_promise(async move {
            let texts = parse_texts(texts).map_err(to_js)?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            to_value(&enc.classify(&refs).await.map_err(to_js)?)
        })
    }

    /// Every layer's and head's attention weights for one text:
    /// `Promise<{tokens, layers, heads, weights: number[layer][head][query][key]}>`.
    pub fn attentions(&self, text: String) -> Promise {
        let enc = self.inner.clone();
        future_to_promise(async move { to_value(&enc.attentions(&text).await.map_err(to_js)?) })
    }
}

/// A string or an array of strings.
pub(super) fn parse_texts(value: JsValue) -> Result<Vec<String>> {
    if let Some(s) = value.as_string() {
        return Ok(vec![s]);
    }
    serde_wasm_bindgen::from_value(value)
        .map_err(|_| Error::Options("texts must be a string or an array of strings".into()))
}

/// `pipeline.rank`'s order: `predictions` (per text, `[{label, score}]` as `classify` gives them)
/// ranked most uncertain first by `strategy` ("entropy", "margin", "least-confident"):
/// `[{ index, score, label, probability }]`.
#[wasm_bindgen(js_name = rankByUncertainty)]
pub fn rank_by_uncertainty(predictions: JsValue, strategy: String) -> Result<JsValue, JsValue> {
    use crate::infer::uncertainty::{Uncertainty, rank};
    let predictions: Vec<Vec<crate::infer::encoder::LabelScore>> = serde_wasm_bindgen::from_value(predictions)
        .map_err(|_| to_js(Error::Options("rank: predictions must be classify()'s [{label, score}] lists".into())))?;
    let strategy: Uncertainty = serde_json::from_value(serde_json::Value::String(strategy.clone()))
        .map_err(|_| to_js(Error::Options(format!("rank: unknown strategy {strategy:?}; valid strategies are \"entropy\", \"margin\", \"least-confident\""))))?;
    to_value(&rank(&predictions, strategy).map_err(to_js)?)
}
