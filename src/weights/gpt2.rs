//! Hugging Face GPT-2 checkpoints (`model.safetensors`, `GPT2LMHeadModel` layout) ↔
//! [`Gpt2LMHeadModel`]. Our field names are the checkpoint's; `Conv1D` weights are `[in, out]`
//! as Burn's `Linear` keeps them (no transpose), and LayerNorm `weight/bias` are `gamma/beta`.

use burn::tensor::Device;

use super::{
    LoadReport,
    safetensors::{Inventory, KeyTable},
};
use crate::{
    Error, Result,
    models::gpt2::{Gpt2Config, Gpt2LMHeadModel},
};

/// Checkpoint keys → our paths: a bare `GPT2Model` gets the `transformer.` prefix; norms renamed.
const REMAPS: &[(&str, &str)] = &[
    (r"^(wte|wpe|h|ln_f)\.", "transformer.${1}."),
    (r"(ln_1|ln_2|ln_f)\.weight$", "${1}.gamma"),
    (r"(ln_1|ln_2|ln_f)\.bias$", "${1}.beta"),
];

/// Buffers of older exports and the tied head (the same values as `wte`): never loaded.
const IGNORED: &[&str] = &[".attn.bias", ".attn.masked_bias", "lm_head.weight"];

/// Loads a causal LM from checkpoint bytes.
pub fn load_lm(config: &Gpt2Config, bytes: Vec<u8>, device: &Device) -> Result<(Gpt2LMHeadModel, LoadReport)> {
    let inv = Inventory::read(&bytes, "model.safetensors")?;
    super::check_config_fits(config.parameters(), inv.values(), 0, "model.safetensors")?;
    let peak = inv.file_bytes.saturating_add(config.parameters().saturating_mul(4));
    super::check_load_memory(peak, config.parameters(), "model.safetensors", super::load_budget())?;
    check_tied(&bytes)?;
    let mut model = Gpt2LMHeadModel::new(config, device)?;
    let table = KeyTable { family: "a GPT-2 checkpoint (GPT2LMHeadModel)", remaps: REMAPS, ignored: IGNORED, may_be_missing: &[] };
    let report = table.apply_as_is(&mut model, bytes, &inv)?;
    Ok((model, report))
}

/// Our parameter path → its key in a Hugging Face `GPT2LMHeadModel` checkpoint.
pub fn hf_key(path: &str) -> String {
    match (path.strip_suffix(".gamma"), path.strip_suffix(".beta")) {
        (Some(p), _) => format!("{p}.weight"),
        (_, Some(p)) => format!("{p}.bias"),
        _ => path.to_string(),
    }
}

/// The model as `model.safetensors` bytes that transformers' `from_pretrained` loads (the tied
/// head is not written, as transformers does not).
pub async fn export_lm(model: &Gpt2LMHeadModel, device: &crate::ComputeDevice) -> Result<Vec<u8>> {
    super::export::to_safetensors_as(model, device, |p| Some(hf_key(p)), super::export::LinearLayout::InOut).await
}

/// A checkpoint's `lm_head.weight`, when it has one, must be the token embeddings (GPT-2 ties
/// them; webtune's head is the embeddings, so another head would be silently dropped).
fn check_tied(bytes: &[u8]) -> Result<()> {
    let st = ::safetensors::SafeTensors::deserialize(bytes).map_err(|e| Error::Weights(format!("model.safetensors: {e}")))?;
    let (Ok(head), Some(wte)) = (st.tensor("lm_head.weight"), ["transformer.wte.weight", "wte.weight"].iter().find_map(|k| st.tensor(k).ok())) else {
        return Ok(());
    };
    if head.data() != wte.data() || head.dtype() != wte.dtype() {
        return Err(Error::Weights(
            "model.safetensors: lm_head.weight differs from the token embeddings (an untied head); webtune's GPT-2 ties them, as GPT-2 does".into(),
        ));
    }
    Ok(())
}
