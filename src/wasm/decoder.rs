//! `Decoder` for JS: a Llama-family model loaded from a GGUF file or Hugging Face files, with
//! `generate` (continue a prompt) and `chat` (answer messages through the chat template), each
//! streaming text pieces to a callback; `fineTune` (a new, fine-tuned `Decoder`), `evaluate` (loss
//! and perplexity on a file) and `export` (a Hugging Face folder).

use std::rc::Rc;

use js_sys::{Function, Promise, Uint8Array};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::{
    errors::to_js,
    options::parse_options,
    to_value,
    callbacks::setup_device,
};
use crate::{
    Error, Result,
    data::TextColumns,
    infer::{AdapterFile, Completion, Decoder, GenerateSettings, text_generation::with_chat_template_file},
    models::lora::LoraBase,
    session::{DataFile, DecoderEvalSettings, SessionData, Task, evaluate_decoder, recipe::language_model_recipe},
    tokenizer::chat::Message,
    train::TrainOptions,
};

/// Where `fineTune`'s data is and what runs it (the training options travel separately).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct TrainSetup {
    /// "auto" | "webgpu" | "gpu" | "cpu"; default: the decoder's device.
    device: Option<String>,
    /// Which columns hold the text, or the prompt and completion.
    #[serde(default)]
    pub(super) columns: TextColumns,
    /// File name of the data (its extension gives the format: .csv, .tsv, .jsonl, .json).
    data_name: Option<String>,
    validation_name: Option<String>,
    /// Without validation data: the fraction of the data held out (default 0.1; 0 = none).
    validation_split: Option<f64>,
}

impl TrainSetup {
    /// The session's data, by the setup's names (default text generation's `data.jsonl`, and
    /// `validation.jsonl`).
    fn data(&self, data: Vec<u8>, validation: Option<Vec<u8>>) -> SessionData {
        let name = |n: &Option<String>, default: &str| n.clone().unwrap_or_else(|| default.into());
        let data_name = name(&self.data_name, Task::TextGeneration.default_data_name());
        SessionData::named(data, data_name, validation, name(&self.validation_name, "validation.jsonl"), self.validation_split)
    }

    /// The session's data (default names `data.jsonl`, `validation.jsonl`) and the device it
    /// trains on (the setup's, else the decoder's).
    pub(super) async fn session(&self, decoder: &Decoder, data: Vec<u8>, validation: Option<Vec<u8>>) -> Result<(SessionData, crate::ComputeDevice)> {
        let data = self.data(data, validation);
        let device = match &self.device {
            Some(d) => setup_device(Some(d)).await?,
            None => decoder.device.clone(),
        };
        Ok((data, device))
    }
}

/// Options of `evaluate`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EvalSetup {
    #[serde(default)]
    columns: TextColumns,
    data_name: Option<String>,
    /// Longest example in tokens (default: [`DecoderEvalSettings`]'s); longer ones are cut.
    max_length: Option<usize>,
    /// Examples per forward pass (default: [`DecoderEvalSettings`]'s).
    batch_size: Option<usize>,
    /// As in training: prompt/completion rows through the chat template (default: when the model has one).
    chat_template: Option<bool>,
    /// Also answer each row's prompt greedily and score the answers (BLEU, ROUGE-L).
    generate: Option<bool>,
    /// With `generate`: the longest answer in tokens (default 128).
    max_new_tokens: Option<usize>,
}

/// Options of `Decoder.loadGguf` / `Decoder.loadHf`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LoadOptions {
    /// "auto" | "webgpu" | "gpu" | "cpu"; default: the device of the last `init()`, else "auto".
    device: Option<String>,
}

/// What a loaded decoder is, for the JS side.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DecoderInfo<'a> {
    device: &'a crate::DeviceInfo,
    vocab_size: usize,
    hidden_size: usize,
    num_layers: usize,
    max_length: usize,
    chat_template: bool,
    weight_bytes: u64,
    weight_format: String,
    warnings: &'a [String],
    /// The LoRA adapters it carries (trained or attached): `{ rank, alpha, targetModules }`.
    lora: Option<LoraInfo>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LoraInfo {
    rank: usize,
    alpha: f64,
    target_modules: Vec<String>,
}

/// A loaded Llama-family decoder (JS class `Decoder`).
#[wasm_bindgen(js_name = Decoder)]
pub struct JsDecoder {
    pub(super) inner: Rc<Decoder>,
}

async fn load_device(options: JsValue, call: &str) -> Result<crate::ComputeDevice> {
    let opts: LoadOptions = parse_options(call, options)?;
    setup_device(opts.device.as_deref()).await
}

#[wasm_bindgen(js_class = Decoder)]
impl JsDecoder {
    /// Loads a Llama-family `.gguf` file (weights, tokenizer, chat template); the weights stay
    /// quantized (on the CPU read in place, on a GPU in the kernels' layout).
    #[wasm_bindgen(js_name = loadGguf)]
    pub async fn load_gguf(bytes: Uint8Array, options: JsValue) -> Result<JsDecoder, JsValue> {
        let dev = load_device(options, "Decoder.loadGguf").await.map_err(to_js)?;
        // checked before the copy into wasm memory, which could not fail gracefully
        crate::weights::check_file_fits(bytes.length() as u64, "this GGUF file", crate::weights::load_budget()).map_err(to_js)?;
        let decoder = Decoder::from_gguf_owned(bytes.to_vec(), &dev).map_err(to_js)?;
        Ok(JsDecoder { inner: Rc::new(decoder) })
    }

    /// Loads Hugging Face files: config.json, model.safetensors, tokenizer.json and (for the chat
    /// template) tokenizer_config.json and chat_template.jinja (which wins, as in transformers),
    /// as bytes.
    #[wasm_bindgen(js_name = loadHf)]
    pub async fn load_hf(
        config: Uint8Array,
        weights: Uint8Array,
        tokenizer: Uint8Array,
        tokenizer_config: Option<Uint8Array>,
        chat_template: Option<Uint8Array>,
        options: JsValue,
    ) -> Result<JsDecoder, JsValue> {
        let dev = load_device(options, "Decoder.loadHf").await.map_err(to_js)?;
        let mut tc = tokenizer_config.map(|b| b.to_vec());
        if let Some(template) = chat_template {
            tc = Some(with_chat_template_file(tc.as_deref(), &template.to_vec()).map_err(to_js)?);
        }
        let decoder =
            Decoder::from_hf(&config.to_vec(), weights.to_vec(), &tokenizer.to_vec(), tc.as_deref(), &dev).map_err(to_js)?;
        Ok(JsDecoder { inner: Rc::new(decoder) })
    }

    /// `{ device, vocabSize, hiddenSize, numLayers, maxLength, chatTemplate, weightBytes, weightFormat, warnings }`.
    pub fn info(&self) -> Result<JsValue, JsValue> {
        let d = &self.inner;
        to_value(&DecoderInfo {
            device: d.device.info(),
            vocab_size: d.config().vocab_size(),
            hidden_size: d.config().hidden_size(),
            num_layers: d.config().layers(),
            max_length: d.config().max_positions(),
            chat_template: d.text.as_ref().is_some_and(|t| t.chat.is_some()),
            weight_bytes: d.weight_bytes(),
            weight_format: d.weight_format(),
            warnings: &d.report.warnings,
            lora: d.lora.as_ref().map(|l| {
                let base = if d.model.llama_config().is_some() { LoraBase::Llama } else { LoraBase::Gpt2 };
                LoraInfo { rank: l.rank, alpha: l.alpha, target_modules: l.targets(base) }
            }),
        })
    }

    /// This model with a LoRA adapter attached: PEFT's files (`weights`: adapter_model.safetensors,
    /// `config`: adapter_config.json) or, without `config`, llama.cpp's adapter GGUF. A new
    /// `Decoder` sharing this one's weights (a quantized base stays quantized); `name` names the
    /// adapter in errors. This one is unchanged, also when the adapter is refused.
    #[wasm_bindgen(js_name = withAdapter)]
    pub fn with_adapter(&self, weights: Uint8Array, config: Option<Uint8Array>, name: String) -> Result<JsDecoder, JsValue> {
        let (weights, config) = (weights.to_vec(), config.map(|c| c.to_vec()));
        let file = match &config {
            Some(config) => AdapterFile::Peft { weights: &weights, config },
            None => AdapterFile::Gguf(&weights),
        };
        Ok(JsDecoder { inner: Rc::new(self.inner.with_adapter(file, &name).map_err(to_js)?) })
    }

    /// This adapted model with its adapters' product scaled by `scale` (0: the base; 1: as
    /// trained): a new `Decoder` sharing this one's weights.
    #[wasm_bindgen(js_name = withAdapterScale)]
    pub fn with_adapter_scale(&self, scale: f64) -> Result<JsDecoder, JsValue> {
        Ok(JsDecoder { inner: Rc::new(self.inner.with_adapter_scale(scale).map_err(to_js)?) })
    }

    /// Continues `prompt`: `Promise<{ text, tokens, promptTokens, stopReason }>`. `onToken(piece)`
    /// gets each piece of text as it comes; `cancelled()` is asked before each token.
    pub fn generate(&self, prompt: String, options: JsValue, on_token: Function, cancelled: Function) -> Promise {
        let decoder = self.inner.clone();
        future_to_promise(async move {
            let options = parse_options::<GenerateSettings>("generate", options).map_err(to_js)?.into_options();
            let mut sink = Sink::new(on_token, cancelled);
            let out = decoder.complete(&prompt, &options, |piece| sink.push(piece)).await;
            sink.finish(out)
        })
    }

    /// Answers `messages` (`[{role, content}]`) through the model's chat template; as `generate`.
    pub fn chat(&self, messages: JsValue, options: JsValue, on_token: Function, cancelled: Function) -> Promise {
        let decoder = self.inner.clone();
        future_to_promise(async move {
            let messages: Vec<Message> = serde_wasm_bindgen::from_value(messages)
                .map_err(|e| to_js(Error::Options(format!("chat: messages must be an array of {{role, content}} objects ({e})"))))?;
            let options = parse_options::<GenerateSettings>("chat", options).map_err(to_js)?.into_options();
            let mut sink = Sink::new(on_token, cancelled);
            let out = decoder.chat(&messages, &options, |piece| sink.push(piece)).await;
            sink.finish(out)
        })
    }
}

#[wasm_bindgen(js_class = Decoder)]
impl JsDecoder {

    /// The Hugging Face recipe of `fineTune` with these arguments (`webtune recipe --task
    /// text-generation`): `{ "train.py": Uint8Array, "recipe.json", … }`; `model` is what the
    /// recipe loads (a hub id or a folder).
    #[wasm_bindgen(js_name = writeRecipe)]
    pub fn write_recipe(&self, model: String, data: Uint8Array, validation: Option<Uint8Array>, setup: JsValue, options: JsValue) -> Promise {
        let decoder = self.inner.clone();
        let (data, validation) = (data.to_vec(), validation.map(|v| v.to_vec()));
        future_to_promise(async move {
            let setup: TrainSetup = parse_options("save (recipe)", setup).map_err(to_js)?;
            let options: TrainOptions = parse_options("save (recipe) options", options).map_err(to_js)?;
            let data = setup.data(data, validation);
            let files = language_model_recipe(&decoder, &model, &data, &setup.columns, &options, None).await.map_err(to_js)?;
            super::files_object(files)
        })
    }


    /// Loss and perplexity on `data` (as `fineTune`'s): `Promise<{ loss, perplexity, tokens, examples }>`.
    pub fn evaluate(&self, data: Uint8Array, setup: JsValue) -> Promise {
        let decoder = self.inner.clone();
        let data = data.to_vec();
        future_to_promise(async move {
            let setup: EvalSetup = parse_options("evaluate", setup).map_err(to_js)?;
            let file = DataFile { bytes: data, name: setup.data_name.unwrap_or_else(|| Task::TextGeneration.default_data_name().into()) };
            let settings =
                DecoderEvalSettings::new(setup.max_length, setup.batch_size, setup.chat_template, setup.generate.unwrap_or(false), setup.max_new_tokens);
            to_value(&evaluate_decoder(&decoder, &file, &setup.columns, &settings).await.map_err(to_js)?)
        })
    }

    /// The model as Hugging Face files: `Promise<{ "config.json", "model.safetensors",
    /// "tokenizer.json", "tokenizer_config.json" }>` (Uint8Arrays), loadable by transformers;
    /// LoRA adapters are merged into the weights.
    pub fn export(&self) -> Promise {
        let decoder = self.inner.clone();
        future_to_promise(async move { super::files_object(decoder.export().await.map_err(to_js)?) })
    }

    /// The LoRA adapters as PEFT files: `Promise<{ "adapter_model.safetensors",
    /// "adapter_config.json" }>`; `baseModel` goes into `base_model_name_or_path`.
    #[wasm_bindgen(js_name = exportAdapter)]
    pub fn export_adapter(&self, base_model: String) -> Promise {
        let decoder = self.inner.clone();
        future_to_promise(async move { super::files_object(decoder.export_adapter(&base_model).await.map_err(to_js)?) })
    }

    /// The LoRA adapters as llama.cpp's adapter GGUF: `Promise<{ "adapter.gguf" }>`.
    #[wasm_bindgen(js_name = exportGgufAdapter)]
    pub fn export_gguf_adapter(&self) -> Promise {
        let decoder = self.inner.clone();
        future_to_promise(async move { super::files_object(vec![("adapter.gguf", decoder.export_gguf_adapter().await.map_err(to_js)?)]) })
    }
}

/// Hands text pieces to JS and asks whether to go on; a throwing callback stops generation and
/// becomes the error.
struct Sink {
    on_token: Function,
    cancelled: Function,
    failed: Option<JsValue>,
}

impl Sink {
    fn new(on_token: Function, cancelled: Function) -> Self {
        Sink { on_token, cancelled, failed: None }
    }

    fn push(&mut self, piece: &str) -> bool {
        if let Err(e) = self.on_token.call1(&JsValue::NULL, &JsValue::from_str(piece)) {
            self.failed = Some(e);
            return false;
        }
        !self.cancelled.call0(&JsValue::NULL).ok().is_some_and(|v| v.is_truthy())
    }

    fn finish(self, out: Result<Completion>) -> Result<JsValue, JsValue> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        to_value(&out.map_err(to_js)?)
    }
}
