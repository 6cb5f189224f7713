//! Hugging Face Llama checkpoints (`model.safetensors`, `LlamaForCausalLM` layout) →
//! [`LlamaForCausalLM`]. Our field names are the checkpoint's, so the key table has no renames:
//! Burn's adapter transposes `nn.Linear` weights and maps RMSNorm `weight` to `gamma`.

use burn::{store::burn_pack::Tensor as PackTensor, tensor::Device};

use super::{
    LoadReport,
    safetensors::{Inventory, KeyTable},
};
use crate::{
    Result,
    models::llama::{LlamaConfig, LlamaForCausalLM},
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
pub async fn export_causal_lm(model: &LlamaForCausalLM, device: &crate::ComputeDevice) -> Result<Vec<u8>> {
    super::export::to_safetensors(model, device, hf_key).await
}
