//! Hugging Face Llama checkpoints (`model.safetensors`, `LlamaForCausalLM` layout) →
//! [`LlamaForCausalLM`]. Our field names are the checkpoint's, so the key table has no renames:
//! Burn's adapter transposes `nn.Linear` weights and maps RMSNorm `weight` to `gamma`.

use burn::{store::burn_pack::Tensor as PackTensor, tensor::Device};

use super::{
    LoadReport,
    decoder_family::DecoderFamily,
    peft::AdapterLayout,
    safetensors::{Inventory, KeyTable},
};
use crate::{
    ComputeDevice, Result,
    models::{
        decoder::DecoderModel,
        llama::{LlamaConfig, LlamaForCausalLM},
        llama_frozen::densified,
        lora::{LoraBase, LoraOptions},
        shape::DecoderShape,
    },
};

/// Loads a causal language model from checkpoint bytes.
pub fn load_causal_lm(config: &LlamaConfig, bytes: Vec<u8>, device: &Device) -> Result<(LlamaForCausalLM, LoadReport)> {
    let inv = Inventory::read(&bytes, "model.safetensors")?;
    super::check_config_fits(config.parameters(), inv.values(), 0, "model.safetensors")?;
    let peak = (bytes.len() as u64).saturating_add(config.parameters().saturating_mul(4));
    super::check_load_memory(peak, config.parameters(), "model.safetensors", super::load_budget())?;
    let mut model = LlamaForCausalLM::new(config, device);
    let report = key_table(config).apply(&mut model, bytes, &inv)?;
    Ok((model, report))
}

/// Loads a causal language model from tensors made on demand (Hugging Face names, f32; see
/// [`crate::formats::gguf::Gguf::deferred_tensors`]).
pub fn load_causal_lm_deferred(config: &LlamaConfig, tensors: Vec<PackTensor>, device: &Device) -> Result<(LlamaForCausalLM, LoadReport)> {
    let mut model = LlamaForCausalLM::new(config, device);
    let report = key_table(config).apply_deferred(&mut model, tensors, "the GGUF file")?;
    Ok((model, report))
}

/// How a Hugging Face `LlamaForCausalLM` checkpoint's keys map onto the model: one to one.
fn key_table(config: &LlamaConfig) -> KeyTable<'static> {
    // Some exports write `lm_head.weight` even when it is tied: the same values, not needed.
    let ignored: &'static [&'static str] = if config.tie_word_embeddings { &["rotary_emb.inv_freq", "lm_head.weight"] } else { &["rotary_emb.inv_freq"] };
    KeyTable { family: "a Llama-family checkpoint (LlamaForCausalLM)", remaps: &[], ignored, may_be_missing: &[] }
}

/// Our parameter path → its key in a Hugging Face `LlamaForCausalLM` checkpoint.
pub fn hf_key(path: &str) -> Option<String> {
    Some(path.strip_suffix(".gamma").map_or_else(|| path.to_string(), |p| format!("{p}.weight")))
}

/// The model as `model.safetensors` bytes that transformers' `from_pretrained` loads.
pub async fn export_causal_lm(model: &LlamaForCausalLM, device: &ComputeDevice) -> Result<Vec<u8>> {
    super::export::to_safetensors(model, device, hf_key).await
}

/// The Llama family (Qwen2, Qwen3 and Gemma 3 too: config switches in `models/llama.rs`).
impl DecoderFamily for LlamaForCausalLM {
    type Config = LlamaConfig;
    const LORA: LoraBase = LoraBase::Llama;

    fn load(config: &LlamaConfig, bytes: Vec<u8>, device: &Device) -> Result<(Self, LoadReport)> {
        load_causal_lm(config, bytes, device)
    }

    /// A base kept in a GGUF file's blocks is written as the f32 values it stands for.
    async fn export(&self, device: &ComputeDevice) -> Result<Vec<u8>> {
        export_causal_lm(&densified(self.clone()), device).await
    }

    fn config_json(config: &LlamaConfig) -> Result<Vec<u8>> {
        config.to_json()
    }

    fn config(&self) -> &LlamaConfig {
        &self.config
    }

    fn with_lora(self, lora: &LoraOptions, seed: u64) -> Result<Self> {
        lora.apply_llama(self, seed)
    }

    fn adapter_layout() -> AdapterLayout {
        AdapterLayout { key: Box::new(|p: &str| hf_key(p).unwrap_or_default()), head: &[] }
    }

    fn wrap(self) -> DecoderModel {
        DecoderModel::Llama(self)
    }

    /// Biases (Qwen2's q/k/v) and every RMSNorm's weight.
    fn no_decay(path: &str) -> bool {
        path.ends_with(".bias") || path.contains("norm.")
    }

    fn shape(config: &LlamaConfig) -> DecoderShape {
        config.shape()
    }

    fn lora_sizes(config: &LlamaConfig, lora: &LoraOptions) -> (u64, u64) {
        lora.decoder_sizes(LoraBase::Llama, config.num_hidden_layers, |m| config.lora_projections(m))
    }
}
