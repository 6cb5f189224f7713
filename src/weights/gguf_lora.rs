//! LoRA adapters as llama.cpp reads them: a GGUF file (`general.type = "adapter"`,
//! `adapter.type = "lora"`, `adapter.lora.alpha`) with `blk.N.<tensor>.weight.lora_a` / `.lora_b`
//! per adapted weight, made from PEFT's `adapter_model.safetensors` as llama.cpp's own
//! `convert_lora_to_gguf.py` makes it (tested against it): A as [rank, in], B as [out, rank], and
//! on `llama` models B's rows in llama.cpp's permuted q/k order, as the base file's q/k rows are.
//! llama.cpp scales an adapter by `alpha / rank`; an rsLoRA adapter (`alpha / √rank`) is written
//! with `alpha · √rank` so that the product is the same. [`to_peft`] reads such a file back (one
//! llama.cpp or webtune wrote) as PEFT's tensors and settings, checked against the base's shapes.

use std::collections::BTreeMap;

use safetensors::SafeTensors;

use super::{export::f32_safetensors, safetensors::float_values};
use crate::{
    Error, Result,
    formats::{
        gguf::{Gguf, permute, unpermute},
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
    let arch = architecture(config)?;
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

/// llama.cpp's `general.architecture` of a Llama-family config.
fn architecture(config: &LlamaConfig) -> Result<&'static str> {
    match config.model_type.as_deref() {
        None | Some("llama") => Ok("llama"),
        Some("qwen2") => Ok("qwen2"),
        Some("qwen3") => Ok("qwen3"),
        Some("gemma3_text") => Ok("gemma3"),
        Some(other) => Err(Error::Options(format!("a GGUF LoRA adapter for model_type {other:?} is not supported"))),
    }
}

/// A llama.cpp adapter GGUF (`file`, named `name` in errors) for the Llama-family model of
/// `config`, as PEFT's `adapter_model.safetensors` bytes and the settings they were made with
/// (rank, alpha, target modules). Refused with the file and tensor named: not a LoRA adapter, an
/// alpha of 0, another architecture, a factor without its pair, ranks that differ, a rank larger
/// than its layer, shapes of another model.
pub fn to_peft(file: &[u8], name: &str, config: &LlamaConfig) -> Result<(Vec<u8>, LoraOptions)> {
    let bad = |m: String| Error::Weights(format!("{name}: {m}"));
    let gguf = Gguf::parse(file).map_err(|e| bad(e.to_string()))?;
    let text = |key: &str| gguf.metadata.get(key).and_then(|v| v.as_str()).unwrap_or("");
    if text("general.type") != "adapter" || text("adapter.type") != "lora" {
        return Err(bad("not a LoRA adapter (general.type \"adapter\", adapter.type \"lora\"); pass the adapter GGUF, not a model".into()));
    }
    let arch = architecture(config)?;
    if text("general.architecture") != arch {
        return Err(bad(format!("an adapter for {:?} models, but the base is {arch:?}; load it onto the model it was trained on", text("general.architecture"))));
    }
    let alpha = gguf.metadata.get("adapter.lora.alpha").and_then(|v| v.as_f64()).unwrap_or(0.0);
    if !(alpha.is_finite() && alpha > 0.0) {
        return Err(bad(format!("adapter.lora.alpha is {alpha}; a LoRA adapter scales by alpha / rank, so it must be positive")));
    }
    let (hidden, inner) = (config.hidden_size, config.intermediate_size);
    let (q, kv) = (config.num_attention_heads * config.head_dim(), config.kv_heads() * config.head_dim());
    // (PEFT module, [in, out] of the base's layer) for each llama.cpp tensor
    let shape_of = |module: &str| match module {
        "self_attn.q_proj" => (hidden, q),
        "self_attn.k_proj" | "self_attn.v_proj" => (hidden, kv),
        "self_attn.o_proj" => (q, hidden),
        "mlp.down_proj" => (inner, hidden),
        _ => (hidden, inner),
    };
    let mut factors: BTreeMap<(usize, &str), [Option<(Vec<usize>, Vec<f32>)>; 2]> = BTreeMap::new();
    for t in &gguf.tensors {
        let parsed = t.name.strip_prefix("blk.").and_then(|rest| {
            let (layer, rest) = rest.split_once('.')?;
            let (tensor, part) = rest.rsplit_once('.')?;
            let (module, _) = MODULES.iter().find(|(_, g)| format!("{g}.weight") == tensor)?;
            Some((layer.parse::<usize>().ok()?, *module, part))
        });
        let Some((layer, module, part @ ("lora_a" | "lora_b"))) = parsed else {
            return Err(bad(format!("tensor {} is not a LoRA factor of a block's projection (blk.N.attn_q.weight.lora_a, …)", t.name)));
        };
        if layer >= config.num_hidden_layers {
            return Err(bad(format!("tensor {} is for block {layer}, but the base has {} blocks; load it onto the model it was trained on", t.name, config.num_hidden_layers)));
        }
        let [cols, rows] = match t.dims[..] {
            [c, r] => [c as usize, r as usize],
            _ => return Err(bad(format!("tensor {} has dims {:?}; a LoRA factor is a matrix", t.name, t.dims))),
        };
        let mut values = gguf.dequantize(t).map_err(|e| bad(e.to_string()))?;
        let (din, dout) = shape_of(module);
        let (expected, what) = if part == "lora_a" { (cols == din, din) } else { (rows == dout, dout) };
        if !expected {
            return Err(bad(format!(
                "tensor {} is [{rows}, {cols}] but the base's {module} takes {what} there: the adapter was made for another model",
                t.name
            )));
        }
        let heads = match module {
            "self_attn.q_proj" => Some(config.num_attention_heads),
            "self_attn.k_proj" => Some(config.kv_heads()),
            _ => None,
        };
        if let (Some(heads), "lora_b", "llama") = (heads, part, arch) {
            values = unpermute(&values, heads, cols); // B's rows back from llama.cpp's q/k order
        }
        factors.entry((layer, module)).or_default()[usize::from(part == "lora_b")] = Some((vec![rows, cols], values));
    }
    let mut rank = None;
    let mut targets: Vec<String> = Vec::new();
    let mut tensors = Vec::new();
    for ((layer, module), [a, b]) in factors {
        let blk = MODULES.iter().find(|(m, _)| *m == module).map_or(module, |(_, g)| g);
        let missing = |p: &str| bad(format!("blk.{layer}.{blk}.weight.{p} is missing: every LoRA factor needs its pair; the file is incomplete"));
        let (a, b) = (a.ok_or_else(|| missing("lora_a"))?, b.ok_or_else(|| missing("lora_b"))?);
        let r = a.0[0];
        if b.0[1] != r {
            return Err(bad(format!("blk.{layer}.{blk}.weight has rank {r} in lora_a but {} in lora_b; the file is corrupt", b.0[1])));
        }
        if let Some(k) = rank.filter(|&k| k != r) {
            return Err(bad(format!("blk.{layer}.{blk}.weight has rank {r} where the adapter's earlier factors have {k}; one adapter has one rank")));
        }
        let (din, dout) = shape_of(module);
        if r == 0 || r > din.min(dout) {
            return Err(bad(format!("blk.{layer}.{blk}.weight has rank {r}, larger than its layer ({dout} × {din}); the file is corrupt")));
        }
        rank = Some(r);
        let short = module.rsplit('.').next().unwrap_or(module).to_string();
        if !targets.contains(&short) {
            targets.push(short);
        }
        let key = |p: &str| format!("base_model.model.model.layers.{layer}.{module}.{p}.weight");
        tensors.push((key("lora_A"), a.0, a.1));
        tensors.push((key("lora_B"), b.0, b.1));
    }
    let rank = rank.ok_or_else(|| bad("the file holds no LoRA factors".into()))?;
    // in the model's order (q, k, v, o, gate, up, down), as PEFT's configs list them
    targets.sort_by_key(|t| MODULES.iter().position(|(m, _)| m.ends_with(&format!(".{t}"))));
    let lora = LoraOptions { rank, alpha, target_modules: Some(targets), ..LoraOptions::default() };
    Ok((f32_safetensors(tensors, [("format".to_string(), "pt".to_string())].into_iter().collect())?, lora))
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
