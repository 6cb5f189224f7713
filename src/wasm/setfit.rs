//! The `SetFitModel` class for JS: a SetFit run's result (the sentence-transformer body trained on
//! pairs of rows, a logistic-regression head on its embeddings), which classifies, embeds and
//! exports as setfit saves a model (`fineTuneSetFit` trains one).

use js_sys::{Promise, Uint8Array};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::{encoder::EvalSetup, errors::to_js, options::parse_options, to_value};
use crate::{
    data::{Dataset, LabelMap, parse_named},
    infer::{ModelFiles, setfit::SetFitModel},
    train::setfit::evaluate,
};

/// Options of `SetFitModel.load`.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LoadOptions {
    /// "auto" | "webgpu" | "gpu" | "cpu"; default: the device of the last `init()`, else "auto".
    device: Option<String>,
    /// Longest input in tokens (default: the folder's `max_seq_length`, capped by the model).
    max_length: Option<usize>,
    /// Texts per forward pass (default 32).
    batch_size: Option<usize>,
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
    pub(super) inner: std::rc::Rc<SetFitModel>,
}

#[wasm_bindgen(js_class = SetFitModel)]
impl JsSetFit {
    /// Loads a folder setfit saved (or `export()` gave): the body's `config.json`,
    /// `model.safetensors`, `tokenizer.json` as bytes, and its other files by name (`{
    /// "model_head.pkl", "config_setfit.json", "modules.json", "1_Pooling/config.json", … }`).
    pub async fn load(config: Uint8Array, weights: Uint8Array, tokenizer: Uint8Array, folder: JsValue, options: JsValue) -> Result<JsSetFit, JsValue> {
        let opts: LoadOptions = parse_options("SetFitModel.load", options).map_err(to_js)?;
        let dev = super::callbacks::setup_device(opts.device.as_deref()).await.map_err(to_js)?;
        let folder = super::named_bytes(&folder);
        let read = |name: &str| folder.iter().find(|(n, _)| n == name).map(|(_, b)| b.clone());
        let files = ModelFiles { config: config.to_vec(), weights: weights.to_vec(), tokenizer: tokenizer.to_vec() };
        let mut model = SetFitModel::load(files, read, &dev).map_err(to_js)?;
        if let Some(n) = opts.max_length {
            if n < 2 {
                return Err(to_js(crate::Error::Options(format!("maxLength must be at least 2 (got {n})"))));
            }
            model.max_length = n.min(model.config.max_tokens());
        }
        match opts.batch_size {
            Some(0) => return Err(to_js(crate::Error::Options("batchSize must be at least 1".into()))),
            Some(n) => model.batch_size = n,
            None => {}
        }
        Ok(JsSetFit { inner: std::rc::Rc::new(model) })
    }

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
            warnings: m.warnings.clone(),
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
