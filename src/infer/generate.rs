//! Text generation with a decoder: a KV cache (the prompt is run once, then one position per
//! token), greedy or sampled decoding (transformers' logits processors, [`super::sampling`]),
//! stop tokens, timing, and a callback per token for streaming and cancellation. Async: the one
//! read per token is awaited.

use burn::tensor::{Int, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use web_time::Instant;

use super::sampling::{Processors, draw, process};
use crate::kernels::argmax::argmax;
use crate::{
    ComputeDevice, Error, Result,
    tokenizer::decoder::DecoderTokenizer,
    models::{
        decoder::{DecoderConfig, DecoderModel, DecoderSpec},
        kv_cache::KvCache,
    },
    weights::{LoadReport, gpt2, llama},
};

/// How tokens are chosen and when generation stops.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateOptions {
    /// Most tokens to append (default 64).
    pub max_new_tokens: usize,
    /// 0 (default) is greedy: always the most likely token. Higher values sample more freely.
    pub temperature: f32,
    /// Sample only among the `k` most likely tokens.
    pub top_k: Option<usize>,
    /// Sample only among the most likely tokens whose probabilities add up to `p` (nucleus).
    pub top_p: Option<f32>,
    /// Sample only among tokens at least `min_p` × as likely as the most likely one.
    pub min_p: Option<f32>,
    /// Above 1 makes tokens already in the prompt or the reply less likely (transformers'
    /// `repetition_penalty`; 1, the default, is off). Applies to greedy decoding too.
    pub repetition_penalty: f32,
    /// Seed of the sampler (default 0): the same seed gives the same text.
    pub seed: u64,
    /// Token ids that end generation (not included in the output); default: the model's EOS.
    pub stop: Option<Vec<u32>>,
    /// Texts that end generation once the reply contains one (`complete`/`chat`); the stop text
    /// and anything after it are left out of the reply.
    pub stop_strings: Vec<String>,
    /// `chat`: when the conversation and `max_new_tokens` do not fit the model's context, drop
    /// the oldest turns (system messages stay) instead of failing.
    pub trim_history: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_new_tokens: 64,
            temperature: 0.0,
            top_k: None,
            top_p: None,
            min_p: None,
            repetition_penalty: 1.0,
            seed: 0,
            stop: None,
            stop_strings: Vec::new(),
            trim_history: false,
        }
    }
}

/// The sampling settings `generate` / `chat` take from JS: every key may be left out (defaults:
/// 64 new tokens, greedy, seed 0); unknown keys are an error. [`Self::into_options`] resolves them.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[ts(optional_fields)]
pub struct GenerateSettings {
    /// Most tokens to append (default 64).
    pub max_new_tokens: Option<usize>,
    /// 0 (default) is greedy; higher samples more freely.
    pub temperature: Option<f32>,
    /// Sample only among the `k` most likely tokens.
    pub top_k: Option<usize>,
    /// Nucleus sampling: keep the most likely tokens up to this total probability, in (0, 1].
    pub top_p: Option<f32>,
    /// Keep only tokens at least this fraction as likely as the most likely one, in [0, 1].
    pub min_p: Option<f32>,
    /// Above 1 discourages repeating tokens of the prompt and reply (transformers'
    /// `repetition_penalty`; default 1: off). Applies to greedy decoding too.
    pub repetition_penalty: Option<f32>,
    /// Sampler seed (default 0): the same seed gives the same text.
    pub seed: Option<u64>,
    /// Texts that end the reply (left out of it), e.g. `["\nUser:"]`; at most 16.
    pub stop: Option<Vec<String>>,
    /// `chat`: drop the oldest turns (system messages stay) when the conversation and
    /// `maxNewTokens` would not fit the model's context, instead of failing.
    pub trim_history: Option<bool>,
}

impl GenerateSettings {
    /// The options these settings ask for.
    pub fn into_options(self) -> GenerateOptions {
        let d = GenerateOptions::default();
        GenerateOptions {
            max_new_tokens: self.max_new_tokens.unwrap_or(d.max_new_tokens),
            temperature: self.temperature.unwrap_or(d.temperature),
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repetition_penalty: self.repetition_penalty.unwrap_or(d.repetition_penalty),
            seed: self.seed.unwrap_or(d.seed),
            stop: None,
            stop_strings: self.stop.unwrap_or_default(),
            trim_history: self.trim_history.unwrap_or(false),
        }
    }
}

impl GenerateOptions {
    /// Rejects values that cannot work, naming the fix.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Options(m.into()));
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return bad("temperature must be a finite number ≥ 0 (0 is greedy)");
        }
        if self.top_k == Some(0) {
            return bad("topK must be at least 1");
        }
        if self.top_p.is_some_and(|p| !(p > 0.0 && p <= 1.0)) {
            return bad("topP must be in (0, 1]");
        }
        if self.min_p.is_some_and(|p| !(0.0..=1.0).contains(&p)) {
            return bad("minP must be in [0, 1]");
        }
        if !(self.repetition_penalty > 0.0 && self.repetition_penalty.is_finite()) {
            return bad("repetitionPenalty must be a finite number > 0 (1 is off; 1.1–1.3 is usual)");
        }
        if self.stop_strings.len() > MAX_STOP_STRINGS || self.stop_strings.iter().any(|s| s.is_empty() || s.len() > MAX_STOP_LEN) {
            return Err(Error::Options(format!("stop must be at most {MAX_STOP_STRINGS} non-empty strings of at most {MAX_STOP_LEN} bytes each")));
        }
        Ok(())
    }

    fn processors(&self) -> Processors {
        Processors {
            repetition_penalty: self.repetition_penalty,
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
        }
    }
}

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(rename = "GenerationStopReason")]
pub enum StopReason {
    /// A stop token (EOS) came.
    Stop,
    /// `max_new_tokens` were generated, or the model's context is full.
    Length,
    /// The per-token callback asked to stop.
    Cancelled,
}

const MAX_STOP_STRINGS: usize = 16;
const MAX_STOP_LEN: usize = 256;

/// The appended tokens, why generation ended, and how long it took.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Generated {
    pub tokens: Vec<u32>,
    pub stop_reason: StopReason,
    pub timing: Timing,
}

/// Where a generation's time went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timing {
    /// Milliseconds from the start to the first new token (reading the prompt and choosing it).
    pub prompt_ms: f64,
    /// New tokens per second after the first (0 when fewer than two came).
    pub tokens_per_second: f64,
}

impl Timing {
    fn measure(started: Instant, first: Option<Instant>, tokens: usize) -> Timing {
        let Some(first) = first else { return Timing { prompt_ms: started.elapsed().as_secs_f64() * 1e3, tokens_per_second: 0.0 } };
        let decode = first.elapsed().as_secs_f64();
        let after_first = tokens.saturating_sub(1) as f64;
        Timing {
            prompt_ms: (first - started).as_secs_f64() * 1e3,
            tokens_per_second: if after_first > 0.0 && decode > 0.0 { after_first / decode } else { 0.0 },
        }
    }
}

/// A loaded decoder (Llama-family or GPT-2), ready to generate.
pub struct Decoder {
    pub model: DecoderModel,
    pub device: ComputeDevice,
    /// What loading reported (ignored keys, casts).
    pub report: LoadReport,
    /// Tokenizer and chat template, for the text methods (`complete`, `chat`).
    pub text: Option<DecoderTokenizer>,
    /// The LoRA adapters `model` carries, when it was fine-tuned with LoRA.
    pub lora: Option<crate::models::lora::LoraOptions>,
}

impl Decoder {
    /// The model's config.
    pub fn config(&self) -> &dyn DecoderSpec {
        self.model.config()
    }

    /// Loads a Hugging Face `LlamaForCausalLM` or `GPT2LMHeadModel` (`config.json` +
    /// `model.safetensors` bytes) onto `device` (inference mode), without a tokenizer: ids in,
    /// ids out ([`Decoder::from_hf`] and [`Decoder::from_gguf`] add text).
    pub fn load(config: &[u8], weights: Vec<u8>, device: &ComputeDevice) -> Result<Self> {
        let text = std::str::from_utf8(config).map_err(|_| Error::Weights("config.json is not UTF-8 text".into()))?;
        let config = DecoderConfig::from_json(text)?;
        let binding_limit = device.info().max_storage_buffer_binding_size;
        let device = device.without_autodiff();
        let (model, report) = match &config {
            DecoderConfig::Llama(c) => {
                crate::weights::check_embeddings_fit(c.vocab_size, c.hidden_size, device.info())?;
                let (m, r) = llama::load_causal_lm(c, weights, device.device())?;
                (DecoderModel::Llama(m), r)
            }
            DecoderConfig::Gpt2(c) => {
                // a table larger than one GPU binding is held in vocabulary chunks
                let (m, r) = gpt2::load_lm(c, weights, device.device(), binding_limit)?;
                (DecoderModel::Gpt2(m), r)
            }
        };
        Ok(Decoder { model, device, report, text: None, lora: None })
    }

    /// Appends up to `options.max_new_tokens` tokens to `prompt` (ids, BOS included if the model
    /// wants one). `on_token` sees each new token as it comes and returns `false` to stop.
    pub async fn generate(
        &self,
        prompt: &[u32],
        options: &GenerateOptions,
        mut on_token: impl FnMut(u32) -> bool,
    ) -> Result<Generated> {
        options.validate()?;
        let limit = self.config().max_positions();
        if prompt.is_empty() {
            return Err(Error::Data("the prompt is empty: give at least one token (e.g. BOS)".into()));
        }
        if let Some(id) = prompt.iter().find(|&&id| id as usize >= self.config().vocab_size()) {
            return Err(Error::Data(format!(
                "prompt token id {id} is not below the model's vocab_size {}: pass ids from this model's tokenizer",
                self.config().vocab_size()
            )));
        }
        if prompt.len() >= limit {
            return Err(Error::Data(format!(
                "the prompt has {} tokens but this model reads at most {limit} positions; shorten it",
                prompt.len()
            )));
        }
        let stop = options.stop.clone().unwrap_or_else(|| self.config().eos_ids());
        let processors = options.processors();
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        let mut context = prompt.to_vec(); // what the repetition penalty looks at
        let mut input = prompt.to_vec();
        let budget = options.max_new_tokens.min(limit - prompt.len());
        let mut cache = KvCache::with_capacity(prompt.len() + budget);
        let started = Instant::now();
        let mut first = None;
        let done = |tokens: Vec<u32>, stop_reason, first| Generated {
            timing: Timing::measure(started, first, tokens.len()),
            tokens,
            stop_reason,
        };
        while context.len() - prompt.len() < budget {
            let next = match &self.model {
                // quantized weights on the CPU, greedy: the logits never become a tensor
                DecoderModel::Packed(packed) if !processors.needs_host_logits() => {
                    packed.greedy_next(&input, &mut cache).ok_or_else(|| Error::Data("the prompt is empty: give at least one token (e.g. BOS)".into()))?
                }
                model => {
                    let ids: Vec<i32> = input.iter().map(|&t| t as i32).collect();
                    let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, input.len()]), self.device.device());
                    let logits = model.forward_last(ids, Some(&mut cache)); // [1, vocab]
                    self.choose(logits, &context, &processors, &mut rng).await?
                }
            };
            first.get_or_insert_with(Instant::now);
            if stop.contains(&next) {
                return Ok(done(context.split_off(prompt.len()), StopReason::Stop, first));
            }
            context.push(next);
            if !on_token(next) {
                return Ok(done(context.split_off(prompt.len()), StopReason::Cancelled, first));
            }
            input = vec![next];
            // let the browser deliver messages (an abort) and render: on the CPU backend the reads
            // above complete without ever giving the event loop a turn
            crate::device::yield_now().await;
        }
        Ok(done(context.split_off(prompt.len()), StopReason::Length, first))
    }

    /// The next token from [1, vocab] logits: the argmax on the device (one value read back) when
    /// greedy without a penalty, else chosen here from the read-back, processed scores.
    async fn choose(&self, logits: Tensor<2>, context: &[u32], p: &Processors, rng: &mut ChaCha8Rng) -> Result<u32> {
        if !p.needs_host_logits() {
            let id = self.device.read(logits.argmax(1)).await?;
            let id = id.convert::<i64>().try_into_vec::<i64>().map_err(|e| Error::Backend(format!("{e:?}")))?;
            return Ok(id[0] as u32);
        }
        let data = self.device.read(logits).await?;
        let mut scores = data.convert::<f32>().try_into_vec::<f32>().map_err(|e| Error::Backend(format!("{e:?}")))?;
        process(&mut scores, context, p);
        Ok(if p.temperature == 0.0 { argmax(&scores) } else { draw(&scores, rng) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_that_cannot_work_are_refused_by_name() {
        let refused = |o: GenerateOptions, name: &str| {
            let e = o.validate().unwrap_err().to_string();
            assert!(e.contains(name), "{e}");
        };
        refused(GenerateOptions { top_p: Some(1.5), ..Default::default() }, "topP");
        refused(GenerateOptions { temperature: -1.0, ..Default::default() }, "temperature");
        refused(GenerateOptions { min_p: Some(f32::NAN), ..Default::default() }, "minP");
        refused(GenerateOptions { repetition_penalty: 0.0, ..Default::default() }, "repetitionPenalty");
        refused(GenerateOptions { stop_strings: vec![String::new()], ..Default::default() }, "stop");
        assert!(GenerateOptions { min_p: Some(0.05), repetition_penalty: 1.2, ..Default::default() }.validate().is_ok());
    }
}
