//! LoRA adapters as llama.cpp reads them: a GGUF file (`general.type = "adapter"`,
//! `adapter.type = "lora"`, `adapter.lora.alpha`) with `blk.N.<tensor>.weight.lora_a` / `.lora_b`
//! per adapted weight, made from PEFT's `adapter_model.safetensors` as llama.cpp's own
//! `convert_lora_to_gguf.py` makes it (tested against it): A as [rank, in], B as [out, rank], and
//! on `llama` models B's rows in llama.cpp's permuted q/k order, as the base file's q/k rows are.
//! llama.cpp scales an adapter by `alpha / rank`; an rsLoRA adapter (`alpha / √rank`) is written
//! with `alpha · √rank` so that the product is the same.

use safetensors::SafeTensors;

use super::safetensors::float_values;
use crate::{
    Error, Result,
    formats::{
        gguf::permute,
        gguf_writer::{F32Tensor, Meta, write},
    },
    models::{llama::LlamaConfig, lora::LoraOptions},
};

/// PEFT's module names → llama.cpp's tensor names in a Llama-family block.
const MODULES: [(&str, &str); 7] = [
    ("self_attn.q_proj", "attn_q"),
    ("self_attn.k_proj", "attn_k"),
    ("self_attn.v_proj", "attn_v"),
    ("self_attn.o_proj", "attn_output"),
    ("mlp.gate_proj", "ffn_gate"),
    ("mlp.up_proj", "ffn_up"),
    ("mlp.down_proj", "ffn_down"),
];

/// The GGUF adapter of a Llama-family model (`config`) from PEFT's `adapter_model.safetensors`
/// bytes made with `lora`.
pub fn from_peft(adapter: &[u8], lora: &LoraOptions, config: &LlamaConfig) -> Result<Vec<u8>> {
    let arch = match config.model_type.as_deref() {
        None | Some("llama") => "llama",
        Some("qwen2") => "qwen2",
        Some("qwen3") => "qwen3",
        Some("gemma3_text") => "gemma3",
        Some(other) => return Err(Error::Options(format!("a GGUF LoRA adapter for model_type {other:?} is not supported"))),
    };
    let file = SafeTensors::deserialize(adapter).map_err(|e| Error::Weights(format!("the adapter file is not safetensors: {e}")))?;
    let mut names: Vec<String> = file.names().into_iter().map(String::from).collect();
    names.sort_by_key(|n| block_order(n)); // llama.cpp's order: by block, then tensor
    let mut tensors = Vec::with_capacity(names.len());
    for name in &names {
        let (gguf_name, part) = gguf_name(name).ok_or_else(|| {
            Error::Weights(format!("adapter tensor {name:?} has no place in a llama.cpp adapter (only the projections of the blocks do)"))
        })?;
        let view = file.tensor(name).map_err(|e| Error::Weights(format!("adapter tensor {name:?}: {e}")))?;
        let shape = view.shape();
        let [rows, cols] = [shape.first().copied().unwrap_or(0), shape.get(1).copied().unwrap_or(0)];
        if shape.len() != 2 || rows == 0 || cols == 0 {
            return Err(Error::Weights(format!("adapter tensor {name:?} has shape {shape:?}; a LoRA factor is a matrix")));
        }
        let mut values: Vec<f32> = float_values(view.dtype(), view.data())
            .ok_or_else(|| Error::Weights(format!("adapter tensor {name:?} is {:?}, not a float type", view.dtype())))?
            .map(|v| v as f32)
            .collect();
        // B's rows are the base weight's rows: permuted on q/k as llama.cpp's llama files permute them
        let heads = match gguf_name.as_str() {
            n if n.ends_with("attn_q.weight") => Some(config.num_attention_heads),
            n if n.ends_with("attn_k.weight") => Some(config.kv_heads()),
            _ => None,
        };
        if let (Some(heads), "lora_b", "llama") = (heads, part, arch) {
            values = permute(&values, heads, cols);
        }
        tensors.push(F32Tensor { name: format!("{gguf_name}.{part}"), dims: vec![cols as u64, rows as u64], values });
    }
    if tensors.is_empty() {
        return Err(Error::Weights("the adapter file holds no LoRA factors".into()));
    }
    let alpha = if lora.rslora { lora.alpha * (lora.rank as f64).sqrt() } else { lora.alpha };
    let metadata = [
        ("general.architecture", Meta::Str(arch.into())),
        ("general.type", Meta::Str("adapter".into())),
        ("adapter.type", Meta::Str("lora".into())),
        ("adapter.lora.alpha", Meta::F32(alpha as f32)),
    ];
    Ok(write(&metadata, &tensors))
}

/// PEFT's `base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight` → (`blk.N.attn_q.weight`, `lora_a`).
fn gguf_name(peft: &str) -> Option<(String, &'static str)> {
    let rest = peft.split_once("model.layers.")?.1;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (module, part) = if let Some(m) = rest.strip_suffix(".lora_A.weight") {
        (m, "lora_a")
    } else {
        (rest.strip_suffix(".lora_B.weight")?, "lora_b")
    };
    let (_, gguf) = MODULES.iter().find(|(m, _)| *m == module)?;
    Some((format!("blk.{layer}.{gguf}.weight"), part))
}

/// Sort key: block, then the module's place in [`MODULES`], then A before B.
fn block_order(peft: &str) -> (usize, usize, bool) {
    let layer = peft.split_once("model.layers.").and_then(|(_, r)| r.split_once('.')).and_then(|(l, _)| l.parse().ok()).unwrap_or(usize::MAX);
    let module = MODULES.iter().position(|(m, _)| peft.contains(&format!(".{m}."))).unwrap_or(usize::MAX);
    (layer, module, peft.contains("lora_B"))
}
