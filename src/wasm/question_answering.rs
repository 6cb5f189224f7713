//! `QuestionAnswerer` for JS: a BERT-family extractive question-answering model loaded from bytes,
//! with `answer`, `evaluate` and `export`; `fineTuneTask("question-answering", …)` trains one on SQuAD data.

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
    data::squad::read_squad,
    infer::{ModelFiles, question_answering::QuestionAnswerer},
};

/// Options of `QuestionAnswerer.load`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LoadOptions {
    device: Option<String>,
    /// Longest window in tokens (default 384, capped by the model).
    max_length: Option<usize>,
    /// Context tokens each window repeats (default 128, at most a third of maxLength).
    doc_stride: Option<usize>,
    /// Windows per forward pass (default 16).
    batch_size: Option<usize>,
}

/// Options of `answer`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AnswerOptions {
    /// Answers to return, best first (default 1).
    top_k: Option<usize>,
    /// Longest answer in tokens (default 30).
    max_answer_length: Option<usize>,
    /// Allow "no answer" (SQuAD 2.0 models; default false).
    handle_impossible_answer: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AnswererInfo<'a> {
    device: &'a crate::DeviceInfo,
    hidden_size: usize,
    num_layers: usize,
    max_length: usize,
    doc_stride: usize,
    warnings: &'a [String],
}

/// A loaded question-answering model (JS class `QuestionAnswerer`).
#[wasm_bindgen(js_name = QuestionAnswerer)]
pub struct JsQuestionAnswerer {
    pub(super) inner: Rc<QuestionAnswerer>,
}

#[wasm_bindgen(js_class = QuestionAnswerer)]
impl JsQuestionAnswerer {
    /// Loads `config.json`, `model.safetensors` and `tokenizer.json` (as bytes) onto a device.
    pub async fn load(config: Uint8Array, weights: Uint8Array, tokenizer: Uint8Array, options: JsValue) -> Result<JsQuestionAnswerer, JsValue> {
        let opts: LoadOptions = parse_options("QuestionAnswerer.load", options).map_err(to_js)?;
        let dev = setup_device(opts.device.as_deref()).await.map_err(to_js)?;
        let files = ModelFiles { config: config.to_vec(), weights: weights.to_vec(), tokenizer: tokenizer.to_vec() };
        let mut qa = QuestionAnswerer::load(files, &dev).map_err(to_js)?;
        qa.set_windowing(opts.max_length, opts.doc_stride).map_err(to_js)?;
        if let Some(n) = opts.batch_size {
            if n == 0 {
                return Err(to_js(Error::Options("batchSize must be at least 1".into())));
            }
            qa.batch_size = n;
        }
        Ok(JsQuestionAnswerer { inner: Rc::new(qa) })
    }

    /// `{ device, hiddenSize, numLayers, maxLength, docStride, warnings }`.
    pub fn info(&self) -> Result<JsValue, JsValue> {
        let q = &self.inner;
        to_value(&AnswererInfo {
            device: q.device.info(),
            hidden_size: q.config.hidden_size,
            num_layers: q.config.num_hidden_layers,
            max_length: q.windowing.max_length,
            doc_stride: q.windowing.stride,
            warnings: &q.report.warnings,
        })
    }

    /// The best answers to `question` in `context`: `Promise<{text, start, end, score}[]>`
    /// (character offsets); options `{ topK, maxAnswerLength, handleImpossibleAnswer }`.
    pub fn answer(&self, question: String, context: String, options: JsValue) -> Promise {
        let qa = self.inner.clone();
        future_to_promise(async move {
            let opts: AnswerOptions = parse_options("question-answering", options).map_err(to_js)?;
            let mut settings = qa.settings;
            if let Some(n) = opts.max_answer_length {
                if n == 0 {
                    return Err(to_js(Error::Options("maxAnswerLength must be at least 1".into())));
                }
                settings.max_answer_length = n;
            }
            settings.allow_no_answer = opts.handle_impossible_answer.unwrap_or(false);
            to_value(&qa.answer_with(&question, &context, opts.top_k.unwrap_or(1), settings).await.map_err(to_js)?)
        })
    }

    /// SQuAD exact match and F1 (v2.0's breakdown when some questions are unanswerable) on SQuAD
    /// JSON or rows: `Promise<SquadMetrics>`; `setup`: `{ dataName }`.
    pub fn evaluate(&self, data: Uint8Array, setup: JsValue) -> Promise {
        let qa = self.inner.clone();
        let data = data.to_vec();
        future_to_promise(async move {
            let setup: TaskSetup = parse_options("evaluate", setup).map_err(to_js)?;
            let examples = read_squad(&data, setup.data_name.as_deref().unwrap_or("data.json")).map_err(to_js)?;
            to_value(&qa.evaluate(&examples).await.map_err(to_js)?)
        })
    }

    /// The model as Hugging Face files (`…ForQuestionAnswering`).
    pub fn export(&self) -> Promise {
        let qa = self.inner.clone();
        future_to_promise(async move { super::files_object(qa.export().await.map_err(to_js)?.by_name()) })
    }

    /// A LoRA-tuned model's adapters and `qa_outputs` as PEFT files: `Promise<{
    /// "adapter_model.safetensors", "adapter_config.json" }>`; `baseModel` goes into
    /// `base_model_name_or_path`.
    #[wasm_bindgen(js_name = exportAdapter)]
    pub fn export_adapter(&self, base_model: String) -> Promise {
        let qa = self.inner.clone();
        future_to_promise(async move { super::files_object(qa.export_adapter(&base_model).await.map_err(to_js)?) })
    }
}

