//! GGUF files (llama.cpp's single-file format: metadata, tokenizer, chat template and possibly
//! quantized tensors) → a Llama-family model (`general.architecture` `llama` or `qwen2`).
//!
//! Tensors are dequantized to f32 on load (every type of [`crate::formats::ggml`]; ggml's block layouts)
//! and renamed to the Hugging Face layout, undoing llama.cpp's q/k row permutation on `llama`
//! files (its converter reorders their rows for interleaved RoPE; our model uses HF's
//! rotate-half, as Qwen2's files are stored), then loaded through the
//! same key table as a safetensors checkpoint. Spec: <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>.

use std::sync::{Arc, Mutex};

use burn::{
    store::burn_pack::{Bytes, DType, Error as PackError, Tensor as PackTensor},
    tensor::Device,
};

use super::{LoadReport, llama};
use crate::{
    Error, Result,
    formats::{
        ggml::{self, GgmlType},
        gguf::{Gguf, Value, corrupt, dequantize, unpermute},
    },
    kernels::quantized::QMatrix,
    models::{
        llama::{Gemma3Settings, LlamaConfig, LlamaForCausalLM, RopeParameters, TokenIds},
        decoder::DecoderModel,
        llama_gpu::GpuPackedLlama,
        llama_packed::{PackedLayer, PackedLlama, PackedWeights},
    },
};

/// Where a tensor made during loading leaves its error (see [`Gguf::deferred_tensors`]).
pub type Failure = Arc<Mutex<Option<Error>>>;

impl<'a> Gguf<'a> {
    /// Number of values in all tensors webtune loads (saturating: many huge tensors only make the
    /// file fail the size checks).
    pub fn loaded_values(&self) -> u64 {
        let arch = self.architecture().unwrap_or("llama");
        self.tensors.iter().filter(|t| hf_name(&t.name, arch).is_some()).filter_map(|t| t.len().ok()).fold(0u64, |sum, n| sum.saturating_add(n as u64))
    }

    /// Its `general.architecture`, if webtune reads it: `llama`, `qwen2`, `qwen3` or `gemma3`.
    pub fn architecture(&self) -> Result<&'static str> {
        let arch = self.get("general.architecture")?.as_str().unwrap_or_default();
        GGUF_ARCHITECTURES.iter().copied().find(|a| *a == arch).ok_or_else(|| {
            // families webtune reads from their Hugging Face folders, not yet from GGUF
            let folder = match arch {
                "gpt2" => format!(" ({arch} models load from their Hugging Face folder: config.json, model.safetensors, tokenizer.json)"),
                _ => String::new(),
            };
            Error::Weights(format!(
                "this GGUF holds a {arch:?} model; webtune reads Llama-family GGUF files (general.architecture {}){folder}",
                GGUF_ARCHITECTURES.map(|a| format!("{a:?}")).join(", ")
            ))
        })
    }

    /// Whether the q/k rows are in llama.cpp's permuted order: its converter reorders them for
    /// interleaved RoPE on `llama` models only (Qwen2's are rotated as stored, rotate-half).
    pub fn qk_permuted(&self) -> bool {
        self.architecture().is_ok_and(|a| a == "llama")
    }

    /// The model's `config.json` equivalent, from the `llama.*` (`qwen2.*`, `gemma3.*`) metadata;
    /// what a Gemma 3 file leaves unsaid is transformers' `Gemma3TextConfig` default, as its GGUF
    /// loader takes it (layer pattern of 6, local RoPE base 10000, `query_pre_attn_scalar` 256).
    pub fn llama_config(&self) -> Result<LlamaConfig> {
        let arch = self.architecture()?;
        let key = |name: &str| format!("{arch}.{name}");
        // a tensor the model has no place for would be dropped: the file's model would not be the one computed
        if let Some(t) = self.tensors.iter().find(|t| hf_name(&t.name, arch).is_none() && t.name != ROPE_FREQS) {
            return Err(Error::Weights(format!(
                "this GGUF holds tensor {:?} (a {arch} model has no place for it); webtune would compute another model than the file's",
                t.name
            )));
        }
        let heads = self.usize(&key("attention.head_count"))?;
        let hidden = self.usize(&key("embedding_length"))?;
        let vocab = match self.usize(&key("vocab_size")) {
            Ok(v) => v,
            Err(_) => self.get("tokenizer.ggml.tokens")?.as_array().map_or(0, <[Value]>::len),
        };
        let gemma = arch == "gemma3";
        if let (Ok(k), Ok(v)) = (self.usize(&key("attention.key_length")), self.usize(&key("attention.value_length")))
            && k != v
        {
            return Err(Error::Weights(format!("this GGUF's key_length {k} and value_length {v} differ; webtune's attention needs them equal (one head_dim)")));
        }
        let context = self.usize(&key("context_length"))?;
        let rope_scaling = match (self.metadata.get(&key("rope.scaling.type")).and_then(Value::as_str), self.tensors.iter().find(|t| t.name == ROPE_FREQS)) {
            // Llama 3.1+: llama.cpp's converter stores a factor per frequency instead of the scaling
            // parameters, which transformers expresses as "longrope" with equal short and long factors
            (None | Some("none"), Some(freqs)) => {
                let factors: Vec<f64> = self.dequantize(freqs)?.into_iter().map(f64::from).collect();
                Some(RopeParameters {
                    rope_type: Some("longrope".into()),
                    short_factor: Some(factors.clone()),
                    long_factor: Some(factors),
                    attention_factor: Some(1.0),
                    factor: Some(1.0), // the context is not stretched beyond the file's: no cos/sin scaling
                    original_max_position_embeddings: Some(context as f64),
                    ..RopeParameters::default()
                })
            }
            (None | Some("none"), None) => None,
            (Some(t), freqs) => {
                if freqs.is_some() {
                    return Err(Error::Weights(format!("this GGUF has both RoPE scaling {t:?} and rope_freqs factors; webtune reads one or the other")));
                }
                Some(RopeParameters {
                    rope_type: Some(t.into()),
                    factor: self.metadata.get(&key("rope.scaling.factor")).and_then(Value::as_f64),
                    ..RopeParameters::default()
                })
            }
        };
        let config = LlamaConfig {
            vocab_size: vocab,
            hidden_size: hidden,
            intermediate_size: self.usize(&key("feed_forward_length"))?,
            num_hidden_layers: self.usize(&key("block_count"))?,
            num_attention_heads: heads,
            num_key_value_heads: Some(self.usize(&key("attention.head_count_kv")).unwrap_or(heads)),
            head_dim: self.usize(&key("attention.key_length")).ok(),
            max_position_embeddings: context,
            rms_norm_eps: self.get(&key("attention.layer_norm_rms_epsilon"))?.as_f64().unwrap_or(1e-6),
            rope_theta: self.metadata.get(&key("rope.freq_base")).and_then(Value::as_f64),
            rope_parameters: None,
            rope_scaling,
            use_sliding_window: None,
            hidden_act: "silu".into(),
            tie_word_embeddings: !self.tensors.iter().any(|t| t.name == "output.weight"),
            // Qwen2 has q/k/v biases by its model type; `attention_bias` adds one on the output too
            attention_bias: self.tensors.iter().any(|t| t.name == if arch == "qwen2" { "blk.0.attn_output.bias" } else { "blk.0.attn_q.bias" }),
            mlp_bias: false,
            bos_token_id: self.token_id("tokenizer.ggml.bos_token_id")?,
            eos_token_id: self.token_id("tokenizer.ggml.eos_token_id")?.map(TokenIds::One),
            model_type: Some(if gemma { "gemma3_text" } else { arch }.into()),
            gemma: Gemma3Settings { sliding_window: self.metadata.get(&key("attention.sliding_window")).and_then(Value::as_u64).map(|w| w as usize), ..Default::default() },
        };
        if gemma {
            if config.gemma.sliding_window.is_none() {
                return Err(Error::Weights(format!("this Gemma 3 GGUF has no {:?}; the file is incomplete", key("attention.sliding_window"))));
            }
            return config.with_gemma3_defaults().map_err(from_metadata);
        }
        config.validate().map_err(from_metadata)?;
        Ok(config)
    }

    /// The weights webtune loads, as tensors in the Hugging Face layout (names, `[out, in]`
    /// shapes, llama.cpp's q/k permutation undone) that are dequantized only when loading
    /// reaches each one: loading holds the file, the model and one f32 tensor. `file` is the
    /// file these were parsed from.
    /// A tensor that cannot be made (NaN values) fails its load, and its error is put in `failure`
    /// for the caller to report as it is.
    pub fn deferred_tensors(&self, file: &Arc<Vec<u8>>, config: &LlamaConfig, failure: &Failure) -> Result<Vec<PackTensor>> {
        let mut out = Vec::with_capacity(self.tensors.len());
        let arch = self.architecture()?;
        // llama.cpp's converter stores Gemma's norm weights as 1 + w; transformers' loader subtracts the 1
        let unit_offset = arch == "gemma3";
        for info in &self.tensors {
            let Some(name) = hf_name(&info.name, arch) else { continue };
            self.raw(info)?; // a type webtune reads, inside the file
            let shape: Vec<usize> = info.dims.iter().rev().map(|&d| usize::try_from(d)).collect::<std::result::Result<_, _>>()
                .map_err(|_| corrupt(&format!("tensor {} is too large", info.name)))?; // [out, in]
            // llama.cpp's converter permutes the rows of q/k weights and of their biases (llama only)
            let permuted = self.qk_permuted();
            let heads = if name.ends_with("q_proj.weight") || name.ends_with("q_proj.bias") {
                Some(config.num_attention_heads)
            } else if name.ends_with("k_proj.weight") || name.ends_with("k_proj.bias") {
                Some(config.kv_heads())
            } else {
                None
            };
            if let Some(heads) = heads {
                let rows = heads.checked_mul(config.head_dim());
                let bias = name.ends_with(".bias");
                if shape.len() != if bias { 1 } else { 2 } || shape.get(1) == Some(&0) || Some(shape[0]) != rows {
                    let columns = if bias { String::new() } else { format!(", {}", config.hidden_size) };
                    return Err(Error::Weights(format!(
                        "GGUF tensor {} has shape {shape:?}, but the metadata implies [{heads} heads × {} head_dim{columns}]; the file is corrupt or not a Llama model",
                        info.name,
                        config.head_dim(),
                    )));
                }
            }
            let bytes = info.len()?.checked_mul(4).ok_or_else(|| corrupt(&format!("tensor {} is too large", info.name)))?;
            let is_norm = name.ends_with("norm.weight");
            let (file, start, info, cols) = (file.clone(), self.data_start, info.clone(), shape.get(1).copied().unwrap_or(1));
            let failure = failure.clone();
            let provider = move || {
                let values = dequantize(&file[start..], &info).map_err(|e| {
                    let message = e.to_string();
                    if let Ok(mut slot) = failure.lock() {
                        slot.get_or_insert(e);
                    }
                    PackError::ValidationError(message)
                })?;
                let values = match heads {
                    Some(heads) if permuted => unpermute(&values, heads, cols),
                    _ if unit_offset && is_norm => from_stored_norm(values),
                    _ => values,
                };
                Ok(Bytes::from_elems(values))
            };
            out.push(PackTensor::deferred(name, DType::F32, shape, None, bytes, provider));
        }
        Ok(out)
    }
}

/// A config check's error about a GGUF file: it names the file's metadata, not a config.json.
fn from_metadata(e: Error) -> Error {
    match e {
        Error::Weights(m) => Error::Weights(m.strip_prefix("config.json: ").map_or(m.clone(), |rest| format!("the GGUF's metadata: {rest}"))),
        other => other,
    }
}

/// A Gemma norm's weights as transformers holds them (`w`, its scale `1 + w`) from llama.cpp's
/// file, which stores `1 + w` (transformers' GGUF loader subtracts the 1 the same way).
fn from_stored_norm(values: Vec<f32>) -> Vec<f32> {
    values.into_iter().map(|v| v - 1.0).collect()
}

/// Llama 3.1+'s RoPE factors, one per rotary frequency (read into the config, not a weight).
const ROPE_FREQS: &str = "rope_freqs.weight";

/// The `general.architecture`s webtune reads: `llama` (q/k rows permuted), `qwen2` (the same
/// tensors with q/k/v biases), `qwen3` (q/k norms instead of biases), `gemma3` (Gemma 3's text
/// model: q/k norms, sandwich norms).
const GGUF_ARCHITECTURES: [&str; 4] = ["llama", "qwen2", "qwen3", "gemma3"];

/// llama.cpp's tensor name → the Hugging Face one for `arch` (`None`: not a weight we load).
fn hf_name(name: &str, arch: &str) -> Option<String> {
    let fixed = match name {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.into());
    }
    let rest = name.strip_prefix("blk.")?;
    let (layer, part) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (module, suffix) = part.rsplit_once('.')?;
    let gemma = arch == "gemma3";
    let hf = match module {
        "attn_norm" => "input_layernorm",
        // Llama's one norm before the MLP; Gemma's sandwich: norms after attention and the MLP too
        "ffn_norm" if gemma => "pre_feedforward_layernorm",
        "ffn_norm" => "post_attention_layernorm",
        "post_attention_norm" if gemma => "post_attention_layernorm",
        "post_ffw_norm" if gemma => "post_feedforward_layernorm",
        "attn_q_norm" if gemma || arch == "qwen3" => "self_attn.q_norm",
        "attn_k_norm" if gemma || arch == "qwen3" => "self_attn.k_norm",
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{hf}.{suffix}"))
}

/// The model of a Llama-family GGUF file with its weights left as the file stores them (read in
/// place from `file`; see [`crate::models::llama_packed`]), for inference on the CPU.
pub fn load_packed(gguf: &Gguf<'_>, config: &LlamaConfig, file: &Arc<Vec<u8>>) -> Result<PackedLlama> {
    super::check_config_fits(config.parameters(), gguf.loaded_values(), 0, "the GGUF file")?;
    let find = |name: &str| gguf.tensors.iter().find(|t| t.name == name);
    let need = |name: &str| find(name).ok_or_else(|| Error::Weights(format!("the GGUF file has no tensor {name:?}; it is not a complete Llama model")));
    let matrix = |name: &str, rows: usize, cols: usize| -> Result<QMatrix> {
        let info = need(name)?;
        if info.dims != [cols as u64, rows as u64] {
            return Err(Error::Weights(format!(
                "GGUF tensor {name} has shape {:?} (ggml order), but the metadata implies [{cols}, {rows}]; the file is corrupt or not a Llama model",
                info.dims
            )));
        }
        let (kind, bytes) = gguf.raw(info)?;
        if let Some(i) = ggml::first_non_finite(kind, bytes) {
            let what = if kind.is_quantized() { format!("a NaN or infinite scale in block {i}") } else { format!("NaN or infinity at index {i}") };
            return Err(Error::Weights(format!(
                "GGUF tensor {name} holds {what}: the weights are broken (a diverged fine-tune or a bad conversion); use another file"
            )));
        }
        // `raw` checked that the tensor lies inside the data section, which starts at `data_start`
        let start = usize::try_from(info.offset).ok().and_then(|o| o.checked_add(gguf.data_start)).ok_or_else(|| corrupt(name))?;
        QMatrix::new(kind, rows, cols, file.clone(), start, name)
    };
    let vector = |name: &str, len: usize| -> Result<Vec<f32>> {
        let info = need(name)?;
        if info.len()? != len {
            return Err(Error::Weights(format!("GGUF tensor {name} has {} values where the metadata implies {len}; the file is corrupt", info.len()?)));
        }
        gguf.dequantize(info)
    };
    let unit_offset = config.is_gemma3();
    let norm = |name: &str, len: usize| -> Result<Vec<f32>> {
        let values = vector(name, len)?;
        Ok(if unit_offset { from_stored_norm(values) } else { values })
    };
    let (h, heads, kvh, d) = (config.hidden_size, config.num_attention_heads, config.kv_heads(), config.head_dim());
    let ffn = config.intermediate_size;
    let layers = (0..config.num_hidden_layers)
        .map(|i| {
            let name = |part: &str| format!("blk.{i}.{part}");
            let bias = match config.qkv_bias() {
                false => None,
                true => Some([
                    vector(&name("attn_q.bias"), heads * d)?,
                    vector(&name("attn_k.bias"), kvh * d)?,
                    vector(&name("attn_v.bias"), kvh * d)?,
                    find(&name("attn_output.bias")).map_or(Ok(vec![0.0; h]), |_| vector(&name("attn_output.bias"), h))?,
                ]),
            };
            Ok(PackedLayer {
                attn_norm: norm(&name("attn_norm.weight"), h)?,
                ffn_norm: norm(&name("ffn_norm.weight"), h)?,
                q: matrix(&name("attn_q.weight"), heads * d, h)?,
                k: matrix(&name("attn_k.weight"), kvh * d, h)?,
                v: matrix(&name("attn_v.weight"), kvh * d, h)?,
                o: matrix(&name("attn_output.weight"), h, heads * d)?,
                gate: matrix(&name("ffn_gate.weight"), ffn, h)?,
                up: matrix(&name("ffn_up.weight"), ffn, h)?,
                down: matrix(&name("ffn_down.weight"), h, ffn)?,
                bias,
                qk_norm: match config.qk_norm() {
                    true => Some([norm(&name("attn_q_norm.weight"), d)?, norm(&name("attn_k_norm.weight"), d)?]),
                    false => None,
                },
                post_norms: match config.is_gemma3() {
                    true => Some([norm(&name("post_attention_norm.weight"), h)?, norm(&name("post_ffw_norm.weight"), h)?]),
                    false => None,
                },
                attention: config.layer_attention(i),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let weights = PackedWeights {
        embed: matrix("token_embd.weight", config.vocab_size, h)?,
        layers,
        norm: norm("output_norm.weight", h)?,
        head: match config.tie_word_embeddings {
            true => None,
            false => Some(matrix("output.weight", config.vocab_size, h)?),
        },
        heads,
        kv_heads: kvh,
        head_dim: d,
        eps: config.rms_norm_eps as f32,
        qk_permuted: gguf.qk_permuted(),
        inv_freq: config.inverse_frequencies(),
        local_inv_freq: config.sliding_inverse_frequencies(),
        scaling: config.attention_scaling() as f32,
        embed_scale: config.embed_scale() as f32,
        unit_offset_norms: unit_offset,
        gelu_tanh: config.activation() == "gelu_pytorch_tanh",
    };
    Ok(PackedLlama { weights: Arc::new(weights), file: file.clone(), config: config.clone() })
}

/// The model of a Llama-family GGUF file for inference on `device`, its weights kept as the file
/// quantizes them: read in place on the CPU ([`load_packed`]), uploaded in the GPU kernels'
/// layout on a GPU ([`GpuPackedLlama`]; `file` is not kept then).
pub fn load_quantized(gguf: &Gguf<'_>, config: &LlamaConfig, file: &Arc<Vec<u8>>, device: &crate::ComputeDevice) -> Result<DecoderModel> {
    let packed = load_packed(gguf, config, file)?;
    Ok(match device.info().is_gpu() {
        true => DecoderModel::GpuPacked(GpuPackedLlama::upload(&packed, device.device(), device.info().max_storage_buffer_binding_size)),
        false => DecoderModel::Packed(packed),
    })
}

/// The dense f32 model of weights kept quantized (to fine-tune or export them; `device` for
/// the CPU's, which are dequantized from the file), or `None` for a dense model.
pub fn dequantized(model: &DecoderModel, device: &crate::ComputeDevice) -> Option<Result<LlamaForCausalLM>> {
    match model {
        DecoderModel::Packed(m) => Some(unpack(&m.file, &m.config, device)),
        DecoderModel::GpuPacked(m) => Some(Ok(m.dequantized())),
        DecoderModel::Llama(_) | DecoderModel::Gpt2(_) => None,
    }
}

/// The dense f32 model of a packed one (its GGUF `file`; to fine-tune or export it), on `device`.
pub fn unpack(file: &Arc<Vec<u8>>, config: &LlamaConfig, device: &crate::ComputeDevice) -> Result<LlamaForCausalLM> {
    let gguf = Gguf::parse(file)?;
    Ok(load_causal_lm(&gguf, config, file, device.device())?.0)
}

/// Loads the model of a Llama-family GGUF file (`gguf`, parsed from `file`; `config` is its
/// [`Gguf::llama_config`]), dequantized to f32 one tensor at a time.
pub fn load_causal_lm(gguf: &Gguf<'_>, config: &LlamaConfig, file: &Arc<Vec<u8>>, device: &Device) -> Result<(LlamaForCausalLM, LoadReport)> {
    let values = gguf.loaded_values();
    super::check_config_fits(config.parameters(), values, 0, "the GGUF file")?;
    // at the peak: the file, the model as f32, and the largest tensor being converted
    let largest = gguf.tensors.iter().filter_map(|t| t.len().ok()).max().unwrap_or(0) as u64;
    let peak = (gguf.file_bytes() as u64).saturating_add(values.saturating_add(largest).saturating_mul(4));
    super::check_load_memory(peak, values, "this GGUF file", super::load_budget())?;
    let failure = Failure::default();
    let tensors = gguf.deferred_tensors(file, config, &failure)?;
    let loaded = llama::load_causal_lm_deferred(config, tensors, device);
    if let Some(e) = failure.lock().ok().and_then(|mut slot| slot.take()) {
        return Err(e);
    }
    let (model, mut report) = loaded?;
    let quantized: Vec<&str> = {
        let mut k: Vec<&str> = gguf.tensors.iter().filter_map(|t| GgmlType::from_id(t.kind, &t.name).ok()).filter(|k| k.is_quantized()).map(GgmlType::name).collect();
        k.sort();
        k.dedup();
        k
    };
    if !quantized.is_empty() {
        report.warnings.push(format!("{} weights were dequantized to f32 on load", quantized.join("/")));
    }
    Ok((model, report))
}

#[cfg(test)]
mod tests {
    use half::f16;

    use super::*;

    /// A GGUF v3 file with no metadata and one 1-D tensor per `(name, ggml type, data)`.
    fn file(tensors: &[(&str, u32, u64, Vec<u8>)]) -> Vec<u8> {
        let mut b = b"GGUF".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend((tensors.len() as u64).to_le_bytes());
        b.extend(0u64.to_le_bytes());
        let mut offset = 0u64;
        for (name, kind, n, data) in tensors {
            b.extend((name.len() as u64).to_le_bytes());
            b.extend(name.as_bytes());
            b.extend(1u32.to_le_bytes());
            b.extend(n.to_le_bytes());
            b.extend(kind.to_le_bytes());
            b.extend(offset.to_le_bytes());
            offset += data.len() as u64;
        }
        b.resize(b.len().div_ceil(32) * 32, 0);
        for (_, _, _, data) in tensors {
            b.extend(data);
        }
        b
    }

    fn f16_bytes(x: f32) -> [u8; 2] {
        f16::from_f32(x).to_le_bytes()
    }

    #[test]
    fn dequantizes_ggml_blocks_in_their_layout() {
        // values 0..32 of a block: low nibbles hold elements 0..16, high nibbles 16..32
        let nibbles: Vec<u8> = (0..16u8).map(|j| j | ((15 - j) << 4)).collect();
        let q4_0 = [f16_bytes(0.5).to_vec(), nibbles.clone()].concat();
        let q4_1 = [f16_bytes(0.5).to_vec(), f16_bytes(-1.0).to_vec(), nibbles].concat();
        let q8_0 = [f16_bytes(0.25).to_vec(), (-16i8..16).map(|q| q as u8).collect()].concat();
        let f16s: Vec<u8> = [1.5f32, -2.25].iter().flat_map(|&x| f16_bytes(x)).collect();
        let bytes = file(&[("a", 2, 32, q4_0), ("b", 3, 32, q4_1), ("c", 8, 32, q8_0), ("d", 1, 2, f16s)]);
        let g = Gguf::parse(&bytes).unwrap();
        let nib = |i: usize| if i < 16 { i as f32 } else { (31 - i) as f32 };
        let get = |i: usize| g.dequantize(&g.tensors[i]).unwrap();
        assert_eq!(get(0), (0..32).map(|i| (nib(i) - 8.0) * 0.5).collect::<Vec<_>>());
        assert_eq!(get(1), (0..32).map(|i| nib(i) * 0.5 - 1.0).collect::<Vec<_>>());
        assert_eq!(get(2), (-16..16).map(|q| q as f32 * 0.25).collect::<Vec<_>>());
        assert_eq!(get(3), vec![1.5, -2.25]);
    }

    #[test]
    fn unpermute_inverts_llama_cpp_permute() {
        // llama.cpp's convert: w.reshape(heads, 2, head_dim / 2, cols).swapaxes(1, 2).reshape(w.shape)
        let (heads, head_dim, cols) = (3, 8, 5);
        let hf: Vec<f32> = (0..heads * head_dim * cols).map(|x| x as f32).collect();
        let mut permuted = vec![0.0; hf.len()];
        for h in 0..heads {
            for j in 0..2 {
                for i in 0..head_dim / 2 {
                    let from = (h * head_dim + j * head_dim / 2 + i) * cols;
                    let to = (h * head_dim + i * 2 + j) * cols;
                    permuted[to..to + cols].copy_from_slice(&hf[from..from + cols]);
                }
            }
        }
        assert_eq!(unpermute(&permuted, heads, cols), hf);
    }

    #[test]
    fn unsupported_types_and_bad_headers_are_clear_errors() {
        let bytes = file(&[("blk.0.attn_q.weight", 11, 256, vec![0; 110])]);
        let g = Gguf::parse(&bytes).unwrap();
        let e = g.dequantize(&g.tensors[0]).unwrap_err().to_string();
        assert!(e.contains("ggml type 11 (Q3_K)") && e.contains("supported: F32") && e.contains("Q6_K"), "{e}");
        let mut v2 = bytes.clone();
        v2[4] = 9;
        assert!(Gguf::parse(&v2).err().unwrap().to_string().contains("GGUF version 9"));
        let e = g.llama_config().unwrap_err().to_string();
        assert!(e.contains("general.architecture"), "{e}");
    }
}
