//! Hugging Face GPT-2 checkpoints (`model.safetensors`, `GPT2LMHeadModel` layout) ↔
//! [`Gpt2LMHeadModel`]. Our field names are the checkpoint's; `Conv1D` weights are `[in, out]`
//! as Burn's `Linear` keeps them (no transpose), and LayerNorm `weight/bias` are `gamma/beta`.

use burn::tensor::Device;

use ::safetensors::Dtype;

use super::{
    LoadReport,
    decoder_family::DecoderFamily,
    peft::AdapterLayout,
    safetensors::{Inventory, KeyTable, float_values},
};
use crate::{
    ComputeDevice, Error, Result,
    models::{
        decoder::DecoderModel,
        gpt2::{Gpt2Config, Gpt2LMHeadModel},
        lora::{LoraBase, LoraOptions},
        shape::DecoderShape,
    },
};

/// Checkpoint keys → our paths: a bare `GPT2Model` gets the `transformer.` prefix; norms renamed.
const REMAPS: &[(&str, &str)] = &[
    (r"^(wte|wpe|h|ln_f)\.", "transformer.${1}."),
    (r"(ln_1|ln_2|ln_f)\.weight$", "${1}.gamma"),
    (r"(ln_1|ln_2|ln_f)\.bias$", "${1}.beta"),
];

/// Buffers of older exports and the tied head (the same values as `wte`): never loaded.
const IGNORED: &[&str] = &[".attn.bias", ".attn.masked_bias", "lm_head.weight"];

/// Loads a causal LM from checkpoint bytes, for a device that binds at most `max_binding` bytes
/// per buffer (`None`: no limit): a larger token-embedding table is loaded in row chunks, each
/// its own GPU buffer (see [`Gpt2Config::embedding_rows_per_part`]); the whole table is never
/// allocated on the device.
pub fn load_lm(config: &Gpt2Config, bytes: Vec<u8>, device: &Device, max_binding: Option<u64>) -> Result<(Gpt2LMHeadModel, LoadReport)> {
    let inv = Inventory::read(&bytes, "model.safetensors")?;
    super::check_config_fits(config.parameters(), inv.values(), 0, "model.safetensors")?;
    let peak = inv.file_bytes.saturating_add(config.parameters().saturating_mul(4));
    super::check_load_memory(peak, config.parameters(), "model.safetensors", super::load_budget())?;
    check_tied(&bytes)?;
    let split = match max_binding {
        Some(limit) => config.embedding_rows_per_part(limit)?,
        None => None,
    };
    let parts = match split {
        Some(rows) => Some(embedding_parts(config, &bytes, rows, device)?),
        None => None,
    };
    let mut model = Gpt2LMHeadModel::new(config, device)?;
    // split: the table goes in below, part by part; the key table sets it aside, unloaded
    let remaps: Vec<(&str, &str)> = REMAPS.iter().copied().chain(split.map(|_| (r"^transformer\.wte\.weight$", PARTED))).collect();
    let ignored: Vec<&str> = IGNORED.iter().copied().chain(split.map(|_| PARTED)).collect();
    let table = KeyTable {
        family: "a GPT-2 checkpoint (GPT2LMHeadModel)",
        remaps: &remaps,
        ignored: &ignored,
        may_be_missing: if split.is_some() { &["transformer.wte."] } else { &[] },
    };
    let report = table.apply_as_is(&mut model, bytes, &inv)?;
    Ok((match parts {
        Some(parts) => model.with_embedding_parts(parts),
        None => model,
    }, report))
}

/// Where the key table puts the token embeddings when they are loaded in parts (no such module
/// path: they stay unloaded and unreported).
const PARTED: &str = "parted.wte.weight";

/// The checkpoint's token embeddings as f32 tensors of at most `rows` rows each, made one at a
/// time from the file's bytes.
fn embedding_parts(config: &Gpt2Config, bytes: &[u8], rows: usize, device: &Device) -> Result<Vec<burn::tensor::Tensor<2>>> {
    let bad = |m: String| Error::Weights(format!("model.safetensors: {m}"));
    let st = ::safetensors::SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
    let wte = ["transformer.wte.weight", "wte.weight"].iter().find_map(|k| st.tensor(k).ok()).ok_or_else(|| bad("has no transformer.wte.weight".into()))?;
    let (vocab, width) = (config.vocab_size, config.n_embd);
    if wte.shape() != [vocab, width] {
        return Err(bad(format!("transformer.wte.weight has shape {:?} but config.json implies [{vocab}, {width}]", wte.shape())));
    }
    if !matches!(wte.dtype(), Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::F64) {
        return Err(bad(format!("transformer.wte.weight is {:?}; f32, f16, bf16 and f64 are read", wte.dtype())));
    }
    let row_bytes = width * wte.dtype().bitsize() / 8;
    (0..vocab)
        .step_by(rows.max(1))
        .map(|start| {
            let end = (start + rows).min(vocab);
            let raw = &wte.data()[start * row_bytes..end * row_bytes];
            let values: Vec<f32> = float_values(wte.dtype(), raw).into_iter().flatten().map(|v| v as f32).collect();
            Ok(burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(values, [end - start, width]), device))
        })
        .collect()
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
pub async fn export_lm(model: &Gpt2LMHeadModel, device: &ComputeDevice) -> Result<Vec<u8>> {
    if !model.transformer.wte_parts.is_empty() {
        return Err(Error::OutOfMemory(
            "this GPT-2's token embeddings are larger than one buffer of this GPU, so they are held in parts, which saving and fine-tuning do not support; load the model with device \"cpu\" (or on a GPU that binds the whole table) to save or fine-tune it".into(),
        ));
    }
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

/// GPT-2.
impl DecoderFamily for Gpt2LMHeadModel {
    type Config = Gpt2Config;
    const LORA: LoraBase = LoraBase::Gpt2;

    fn load(config: &Gpt2Config, bytes: Vec<u8>, device: &Device) -> Result<(Self, LoadReport)> {
        load_lm(config, bytes, device, None)
    }

    async fn export(&self, device: &ComputeDevice) -> Result<Vec<u8>> {
        export_lm(self, device).await
    }

    fn config_json(config: &Gpt2Config) -> Result<Vec<u8>> {
        config.to_json()
    }

    fn config(&self) -> &Gpt2Config {
        &self.config
    }

    fn with_lora(self, lora: &LoraOptions, seed: u64) -> Result<Self> {
        lora.apply_gpt2(self, seed)
    }

    fn adapter_layout() -> AdapterLayout {
        AdapterLayout { key: Box::new(hf_key), head: &[] }
    }

    fn wrap(self) -> DecoderModel {
        DecoderModel::Gpt2(self)
    }

    /// Biases, and the LayerNorms' scale and shift (`ln_1`, `ln_2`, `ln_f`: `gamma`, `beta`).
    fn no_decay(path: &str) -> bool {
        path.ends_with(".bias") || path.contains(".ln_")
    }

    fn shape(config: &Gpt2Config) -> DecoderShape {
        config.shape()
    }

    fn lora_sizes(config: &Gpt2Config, lora: &LoraOptions) -> (u64, u64) {
        lora.decoder_sizes(LoraBase::Gpt2, config.n_layer, |m| config.lora_projections(m))
    }
}
