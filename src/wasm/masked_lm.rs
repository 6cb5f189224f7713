//! `MaskedLm` for JS: a BERT-family masked language model loaded from bytes, with `fill`,
//! `evaluate` and `export`; `fineTuneTask("fill-mask", …)` continues its pretraining on plain text.

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
    data::masking::Masking,
    infer::{ModelFiles, fill_mask::MaskedLm},
    session::{SessionData, Task},
};

/// Options of `MaskedLm.load`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LoadOptions {
    device: Option<String>,
    /// Longest input in tokens (capped by the model's position embeddings); longer texts are cut.
    max_length: Option<usize>,
    /// Texts per forward pass (default 32).
    batch_size: Option<usize>,
}

/// Options of `fill`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FillOptions {
    /// Candidates per mask (default 5).
    top_k: Option<usize>,
    /// Only these tokens are candidates.
    targets: Option<Vec<String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MaskedLmInfo<'a> {
    device: &'a crate::DeviceInfo,
    mask_token: String,
    vocab_size: usize,
    hidden_size: usize,
    num_layers: usize,
    max_length: usize,
    warnings: &'a [String],
}

/// A loaded masked language model (JS class `MaskedLm`).
#[wasm_bindgen(js_name = MaskedLm)]
pub struct JsMaskedLm {
    pub(super) inner: Rc<MaskedLm>,
}

#[wasm_bindgen(js_class = MaskedLm)]
impl JsMaskedLm {
    /// Loads `config.json`, `model.safetensors` and `tokenizer.json` (as bytes) onto a device.
    pub async fn load(config: Uint8Array, weights: Uint8Array, tokenizer: Uint8Array, options: JsValue) -> Result<JsMaskedLm, JsValue> {
        let opts: LoadOptions = parse_options("MaskedLm.load", options).map_err(to_js)?;
        let dev = setup_device(opts.device.as_deref()).await.map_err(to_js)?;
        let files = ModelFiles { config: config.to_vec(), weights: weights.to_vec(), tokenizer: tokenizer.to_vec() };
        let mut lm = MaskedLm::load(files, &dev).map_err(to_js)?;
        (lm.max_length, lm.batch_size) =
            super::options::sizes(opts.max_length, opts.batch_size, lm.config.max_tokens(), (lm.max_length, lm.batch_size)).map_err(to_js)?;
        Ok(JsMaskedLm { inner: Rc::new(lm) })
    }

    /// `{ device, maskToken, vocabSize, hiddenSize, numLayers, maxLength, warnings }`.
    pub fn info(&self) -> Result<JsValue, JsValue> {
        let m = &self.inner;
        to_value(&MaskedLmInfo {
            device: m.device.info(),
            mask_token: m.mask_token(),
            vocab_size: m.config.vocab_size,
            hidden_size: m.config.hidden_size,
            num_layers: m.config.num_hidden_layers,
            max_length: m.max_length,
            warnings: &m.report.warnings,
        })
    }

    /// Per text, per mask, the likeliest tokens: `Promise<{score, token, token_str, sequence}[][][]>`;
    /// options `{ topK, targets }`.
    pub fn fill(&self, texts: JsValue, options: JsValue) -> Promise {
        let lm = self.inner.clone();
        future_to_promise(async move {
            let texts: Vec<String> = serde_wasm_bindgen::from_value(texts).map_err(|_| to_js(Error::Options("texts must be an array of strings".into())))?;
            let opts: FillOptions = parse_options("fill-mask", options).map_err(to_js)?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let mut notes = Vec::new();
            to_value(&lm.fill(&refs, opts.top_k.unwrap_or(5), opts.targets.as_deref(), &mut notes).await.map_err(to_js)?)
        })
    }

    /// Masked-LM loss and perplexity on plain texts (bytes of a .txt file or a table with a text
    /// column), each masked with a fixed draw: `Promise<LmMetrics>`; `setup`: `{ dataName, columns }`.
    pub fn evaluate(&self, data: Uint8Array, setup: JsValue) -> Promise {
        let lm = self.inner.clone();
        let data = data.to_vec();
        future_to_promise(async move {
            let setup: TaskSetup = parse_options("evaluate", setup).map_err(to_js)?;
            let name = setup.data_name.clone().unwrap_or_else(|| Task::FillMask.default_data_name().into());
            let session = SessionData::named(data, name, None, String::new(), Some(0.0));
            let (texts, _) = session.plain_texts(&setup.columns, 0).map_err(to_js)?;
            to_value(&lm.evaluate(&texts, Masking::default(), 42).await.map_err(to_js)?)
        })
    }

    /// The model as Hugging Face files (`…ForMaskedLM`).
    pub fn export(&self) -> Promise {
        let lm = self.inner.clone();
        future_to_promise(async move { super::files_object(lm.export().await.map_err(to_js)?.by_name()) })
    }
}

