//! Text generation with a decoder: a KV cache (the prompt is run once, then one position per
//! token), greedy or sampled decoding (temperature, top-k, top-p, seeded), stop tokens, and a
//! callback per token for streaming and cancellation. Async: the one read per token is awaited.

use burn::tensor::{Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::text_generation::DecoderTokenizer;
use crate::{
    ComputeDevice, Error, Result,
    models::{
        decoder::{DecoderConfig, DecoderModel},
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
    /// Seed of the sampler (default 0): the same seed gives the same text.
    pub seed: u64,
    /// Token ids that end generation (not included in the output); default: the model's EOS.
    pub stop: Option<Vec<u32>>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions { max_new_tokens: 64, temperature: 0.0, top_k: None, top_p: None, seed: 0, stop: None }
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
    /// Sampler seed (default 0): the same seed gives the same text.
    pub seed: Option<u64>,
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
            seed: self.seed.unwrap_or(d.seed),
            stop: None,
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
        Ok(())
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

/// The appended tokens and why generation ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Generated {
    pub tokens: Vec<u32>,
    pub stop_reason: StopReason,
}

/// A loaded decoder (Llama-family or GPT-2), ready to generate.
pub struct Decoder {
    pub config: DecoderConfig,
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
        Ok(Decoder { config, model, device, report, text: None, lora: None })
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
        let limit = self.config.max_positions();
        if prompt.is_empty() {
            return Err(Error::Data("the prompt is empty: give at least one token (e.g. BOS)".into()));
        }
        if let Some(id) = prompt.iter().find(|&&id| id as usize >= self.config.vocab_size()) {
            return Err(Error::Data(format!(
                "prompt token id {id} is not below the model's vocab_size {}: pass ids from this model's tokenizer",
                self.config.vocab_size()
            )));
        }
        if prompt.len() >= limit {
            return Err(Error::Data(format!(
                "the prompt has {} tokens but this model reads at most {limit} positions; shorten it",
                prompt.len()
            )));
        }
        let stop = options.stop.clone().unwrap_or_else(|| self.config.eos_ids());
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        let mut cache = KvCache::default();
        let mut tokens = Vec::new();
        let mut input = prompt.to_vec();
        let budget = options.max_new_tokens.min(limit - prompt.len());
        while tokens.len() < budget {
            let ids: Vec<i32> = input.iter().map(|&t| t as i32).collect();
            let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, input.len()]), self.device.device());
            let logits = self.model.forward_last(ids, Some(&mut cache)); // [1, vocab]
            let next = self.choose(logits, options, &mut rng).await?;
            if stop.contains(&next) {
                return Ok(Generated { tokens, stop_reason: StopReason::Stop });
            }
            tokens.push(next);
            if !on_token(next) {
                return Ok(Generated { tokens, stop_reason: StopReason::Cancelled });
            }
            input = vec![next];
            // let the browser deliver messages (an abort) and render: on the CPU backend the reads
            // above complete without ever giving the event loop a turn
            crate::device::yield_now().await;
        }
        Ok(Generated { tokens, stop_reason: StopReason::Length })
    }

    /// The next token from [1, vocab] logits: the argmax on the device (one value read back) when
    /// greedy, else sampled here from the read-back distribution.
    async fn choose(&self, logits: Tensor<2>, o: &GenerateOptions, rng: &mut ChaCha8Rng) -> Result<u32> {
        if o.temperature == 0.0 {
            let id = self.device.read(logits.argmax(1)).await?;
            let id = id.convert::<i64>().try_into_vec::<i64>().map_err(|e| Error::Backend(format!("{e:?}")))?;
            return Ok(id[0] as u32);
        }
        let data = self.device.read(logits).await?;
        let logits = data.convert::<f32>().try_into_vec::<f32>().map_err(|e| Error::Backend(format!("{e:?}")))?;
        Ok(sample(&logits, o, rng))
    }
}

/// Samples from `softmax(logits / temperature)` restricted to the top-k and top-p tokens.
fn sample(logits: &[f32], o: &GenerateOptions, rng: &mut impl Rng) -> u32 {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_unstable_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    order.truncate(o.top_k.unwrap_or(order.len()).max(1));
    let max = logits[order[0]];
    let mut probs: Vec<f64> = order.iter().map(|&i| (((logits[i] - max) / o.temperature) as f64).exp()).collect();
    let total: f64 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
    if let Some(top_p) = o.top_p {
        let mut sum = 0.0;
        let keep = probs.iter().position(|p| {
            sum += p;
            sum >= top_p as f64
        });
        let keep = keep.map_or(probs.len(), |i| i + 1);
        probs.truncate(keep);
        order.truncate(keep);
    }
    let total: f64 = probs.iter().sum();
    let mut r = rng.random::<f64>() * total;
    for (p, &i) in probs.iter().zip(&order) {
        r -= p;
        if r <= 0.0 {
            return i as u32;
        }
    }
    order[order.len() - 1] as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_respects_top_k_top_p_and_the_seed() {
        let logits = [0.0, 5.0, 4.9, -3.0, 1.0];
        let o = GenerateOptions { temperature: 1.0, top_k: Some(2), ..Default::default() };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let draws: Vec<u32> = (0..200).map(|_| sample(&logits, &o, &mut rng)).collect();
        assert!(draws.iter().all(|&t| t == 1 || t == 2), "top-k 2 keeps tokens 1 and 2");
        assert!(draws.contains(&1) && draws.contains(&2));
        let o = GenerateOptions { temperature: 1.0, top_p: Some(0.5), ..Default::default() };
        assert!((0..50).all(|_| sample(&logits, &o, &mut rng) == 1), "top-p 0.5 keeps only the most likely");
        let o = GenerateOptions { temperature: 0.7, ..Default::default() };
        let run = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..20).map(|_| sample(&logits, &o, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert!(GenerateOptions { top_p: Some(1.5), ..Default::default() }.validate().is_err());
        assert!(GenerateOptions { temperature: -1.0, ..Default::default() }.validate().is_err());
    }
}
