//! GGUF files (llama.cpp's single-file format: metadata, tokenizer, chat template and possibly
//! quantized tensors) → a Llama model.
//!
//! Tensors are dequantized to f32 on load (every type of [`super::ggml`]; ggml's block layouts)
//! and renamed to the Hugging Face layout, undoing llama.cpp's q/k row permutation (its converter
//! reorders rows for interleaved RoPE; our model uses HF's rotate-half), then loaded through the
//! same key table as a safetensors checkpoint. Spec: <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use burn::{
    store::burn_pack::{Bytes, DType, Error as PackError, Tensor as PackTensor},
    tensor::Device,
};

use super::{
    LoadReport,
    ggml::{self, GgmlType},
    llama,
};
use crate::{
    Error, Result,
    kernels::quantized::QMatrix,
    models::{
        llama::{LlamaConfig, LlamaForCausalLM, RopeParameters, TokenIds},
        decoder::DecoderModel,
        llama_gpu::GpuPackedLlama,
        llama_packed::{PackedLayer, PackedLlama, PackedWeights},
    },
};

/// A metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Array(Vec<Value>),
}

impl Value {
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Int(i) => u64::try_from(*i).ok(),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// One tensor's entry: name, shape in ggml order (`dims[0]` varies fastest), type, data offset.
#[derive(Clone, Debug)]
pub struct TensorInfo {
    pub name: String,
    pub dims: Vec<u64>,
    pub kind: u32,
    offset: u64,
}

impl TensorInfo {
    /// Number of values, or an error when the dimensions overflow.
    pub fn len(&self) -> Result<usize> {
        self.dims
            .iter()
            .try_fold(1usize, |n, &d| usize::try_from(d).ok().and_then(|d| n.checked_mul(d)))
            .ok_or_else(|| corrupt(&format!("tensor {} has dimensions {:?}, too large for memory", self.name, self.dims)))
    }
}

/// A parsed GGUF file (borrowing the bytes).
pub struct Gguf<'a> {
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
    data: &'a [u8],
    /// Where `data` starts in the file.
    data_start: usize,
}

/// Where a tensor made during loading leaves its error (see [`Gguf::deferred_tensors`]).
pub type Failure = Arc<Mutex<Option<Error>>>;

/// Nesting allowed for metadata arrays (real files use flat arrays; llama.cpp reads no deeper).
const MAX_ARRAY_DEPTH: usize = 4;

fn corrupt(what: &str) -> Error {
    Error::Weights(format!("the GGUF file is truncated or corrupt ({what}); download it again"))
}

/// A bounds-checked little-endian reader.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| corrupt("it ends inside the header"))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn len(&mut self) -> Result<usize> {
        usize::try_from(self.u64()?).map_err(|_| corrupt("a length does not fit in memory"))
    }
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }
    fn string(&mut self) -> Result<String> {
        let n = self.len()?;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
    /// One value of type `kind`; `depth` counts the arrays it is nested in (bounded, so that a
    /// file of nested arrays cannot exhaust the stack).
    fn value(&mut self, kind: u32, depth: usize) -> Result<Value> {
        let mut int = |n: usize, signed: bool| -> Result<Value> {
            let b = self.take(n)?;
            let mut buf = [0u8; 8];
            buf[..n].copy_from_slice(b);
            let u = u64::from_le_bytes(buf);
            let shift = 64 - 8 * n as u32;
            Ok(Value::Int(if signed { ((u << shift) as i64) >> shift } else { u as i64 }))
        };
        Ok(match kind {
            0 => int(1, false)?,
            1 => int(1, true)?,
            2 => int(2, false)?,
            3 => int(2, true)?,
            4 => int(4, false)?,
            5 => int(4, true)?,
            6 => Value::Float(f32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")) as f64),
            7 => Value::Bool(self.take(1)?[0] != 0),
            8 => Value::Str(self.string()?),
            9 => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(corrupt(&format!("metadata arrays nested more than {MAX_ARRAY_DEPTH} deep")));
                }
                let item = self.u32()?;
                let n = self.len()?;
                // every item takes at least one byte of the file (arrays and strings at least 8)
                let least = if matches!(item, 8 | 9) { 8 } else { 1 };
                if n > self.remaining() / least {
                    return Err(corrupt("an array is longer than the rest of the file"));
                }
                Value::Array((0..n).map(|_| self.value(item, depth + 1)).collect::<Result<_>>()?)
            }
            10 => int(8, false)?,
            11 => int(8, true)?,
            12 => Value::Float(f64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes"))),
            other => return Err(corrupt(&format!("unknown metadata type {other}"))),
        })
    }
}

impl<'a> Gguf<'a> {
    /// Parses the header, metadata and tensor table (tensor data is read on demand).
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        if bytes.get(..4) != Some(b"GGUF") {
            return Err(Error::Weights(
                "not a GGUF file (it does not start with \"GGUF\"); pass a .gguf file, or a Hugging Face folder with config.json + model.safetensors".into(),
            ));
        }
        let mut r = Reader { bytes, at: 4 };
        let version = r.u32()?;
        if !(2..=3).contains(&version) {
            return Err(Error::Weights(format!("GGUF version {version} is not supported (only 2 and 3)")));
        }
        let (n_tensors, n_meta) = (r.len()?, r.len()?);
        let mut metadata = BTreeMap::new();
        for _ in 0..n_meta {
            let key = r.string()?;
            let kind = r.u32()?;
            metadata.insert(key, r.value(kind, 0)?);
        }
        let mut tensors = Vec::new();
        for _ in 0..n_tensors {
            let name = r.string()?;
            let n_dims = r.u32()? as usize;
            if n_dims > 4 {
                return Err(corrupt(&format!("tensor {name} has {n_dims} dimensions")));
            }
            let dims = (0..n_dims).map(|_| r.u64()).collect::<Result<Vec<_>>>()?;
            let kind = r.u32()?;
            let info = TensorInfo { name, dims, kind, offset: r.u64()? };
            info.len()?;
            tensors.push(info);
        }
        let align = match metadata.get("general.alignment") {
            None => 32,
            Some(v) => v
                .as_u64()
                .and_then(|a| usize::try_from(a).ok())
                .filter(|a| a.is_power_of_two())
                .ok_or_else(|| corrupt(&format!("general.alignment is {v:?}; it must be a power of two (usually 32)")))?,
        };
        let start = r.at.div_ceil(align).checked_mul(align).ok_or_else(|| corrupt("general.alignment is too large"))?;
        let data = bytes.get(start..).ok_or_else(|| corrupt("no tensor data"))?;
        Ok(Gguf { metadata, tensors, data, data_start: start })
    }

    /// Size of the whole file in bytes.
    pub fn file_bytes(&self) -> usize {
        self.data_start + self.data.len()
    }

    /// A metadata value, or an error naming the missing key.
    pub fn get(&self, key: &str) -> Result<&Value> {
        self.metadata.get(key).ok_or_else(|| Error::Weights(format!("the GGUF file has no {key:?} metadata")))
    }

    fn usize(&self, key: &str) -> Result<usize> {
        self.get(key)?
            .as_u64()
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| Error::Weights(format!("GGUF metadata {key:?} is not a non-negative integer that fits in memory")))
    }

    /// A token id from the metadata (`None` when absent; an error when it is no valid id).
    fn token_id(&self, key: &str) -> Result<Option<u32>> {
        match self.metadata.get(key) {
            None => Ok(None),
            Some(v) => v.as_u64().and_then(|id| u32::try_from(id).ok()).map(Some).ok_or_else(|| {
                Error::Weights(format!("GGUF metadata {key:?} is {v:?}, not a token id; the file is corrupt or was written by a broken converter"))
            }),
        }
    }

    /// Number of values in all tensors webtune loads (saturating: many huge tensors only make the
    /// file fail the size checks).
    pub fn loaded_values(&self) -> u64 {
        self.tensors.iter().filter(|t| hf_name(&t.name).is_some()).filter_map(|t| t.len().ok()).fold(0u64, |sum, n| sum.saturating_add(n as u64))
    }

    /// Tensor `info`'s type and bytes, checked to lie inside the file.
    pub fn raw(&self, info: &TensorInfo) -> Result<(GgmlType, &[u8])> {
        raw(self.data, info)
    }

    /// Tensor `info` as f32 values (row-major, `dims[0]` fastest).
    pub fn dequantize(&self, info: &TensorInfo) -> Result<Vec<f32>> {
        dequantize(self.data, info)
    }

    /// The model's `config.json` equivalent, from the `llama.*` metadata.
    pub fn llama_config(&self) -> Result<LlamaConfig> {
        let arch = self.get("general.architecture")?.as_str().unwrap_or_default();
        if arch != "llama" {
            return Err(Error::Weights(format!(
                "this GGUF holds a {arch:?} model; webtune reads Llama-family GGUF files (general.architecture \"llama\")"
            )));
        }
        let heads = self.usize("llama.attention.head_count")?;
        let hidden = self.usize("llama.embedding_length")?;
        let vocab = match self.usize("llama.vocab_size") {
            Ok(v) => v,
            Err(_) => self.get("tokenizer.ggml.tokens")?.as_array().map_or(0, <[Value]>::len),
        };
        let config = LlamaConfig {
            vocab_size: vocab,
            hidden_size: hidden,
            intermediate_size: self.usize("llama.feed_forward_length")?,
            num_hidden_layers: self.usize("llama.block_count")?,
            num_attention_heads: heads,
            num_key_value_heads: Some(self.usize("llama.attention.head_count_kv").unwrap_or(heads)),
            head_dim: self.usize("llama.attention.key_length").ok(),
            max_position_embeddings: self.usize("llama.context_length")?,
            rms_norm_eps: self.get("llama.attention.layer_norm_rms_epsilon")?.as_f64().unwrap_or(1e-6),
            rope_theta: self.metadata.get("llama.rope.freq_base").and_then(Value::as_f64),
            rope_parameters: None,
            rope_scaling: self
                .metadata
                .get("llama.rope.scaling.type")
                .and_then(Value::as_str)
                .map(|t| RopeParameters { rope_theta: None, rope_type: Some(if t == "none" { "default" } else { t }.into()) }),
            hidden_act: "silu".into(),
            tie_word_embeddings: !self.tensors.iter().any(|t| t.name == "output.weight"),
            attention_bias: self.tensors.iter().any(|t| t.name == "blk.0.attn_q.bias"),
            mlp_bias: false,
            bos_token_id: self.token_id("tokenizer.ggml.bos_token_id")?,
            eos_token_id: self.token_id("tokenizer.ggml.eos_token_id")?.map(TokenIds::One),
            model_type: Some("llama".into()),
        };
        config.validate()?;
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
        for info in &self.tensors {
            let Some(name) = hf_name(&info.name) else { continue };
            raw(self.data, info)?; // a type webtune reads, inside the file
            let shape: Vec<usize> = info.dims.iter().rev().map(|&d| usize::try_from(d)).collect::<std::result::Result<_, _>>()
                .map_err(|_| corrupt(&format!("tensor {} is too large", info.name)))?; // [out, in]
            // llama.cpp's converter permutes the rows of q/k weights and of their biases
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
                    Some(heads) => unpermute(&values, heads, cols),
                    None => values,
                };
                Ok(Bytes::from_elems(values))
            };
            out.push(PackTensor::deferred(name, DType::F32, shape, None, bytes, provider));
        }
        Ok(out)
    }
}

/// The type and bytes of tensor `info` in the data section `data`, after checking that webtune
/// reads its type and that it lies inside the file.
fn raw<'d>(data: &'d [u8], info: &TensorInfo) -> Result<(GgmlType, &'d [u8])> {
    let n = info.len()?;
    let kind = GgmlType::from_id(info.kind, &info.name)?;
    let size = kind.bytes_for(n).ok_or_else(|| {
        corrupt(&format!("tensor {} has {n} values, not a whole number of {} blocks of {}", info.name, kind.name(), kind.block_values()))
    })?;
    let past_end = || corrupt(&format!("tensor {} lies past the end of the file", info.name));
    let start = usize::try_from(info.offset).map_err(|_| past_end())?;
    let bytes = start.checked_add(size).and_then(|end| data.get(start..end)).ok_or_else(past_end)?;
    Ok((kind, bytes))
}

/// Tensor `info` of the data section `data` as f32 values (row-major, `dims[0]` fastest); NaN
/// or infinite values are an error naming the tensor.
fn dequantize(data: &[u8], info: &TensorInfo) -> Result<Vec<f32>> {
    let (kind, raw) = raw(data, info)?;
    let mut out = Vec::with_capacity(info.len()?);
    ggml::dequantize(kind, raw, &mut out);
    if let Some(i) = out.iter().position(|v| !v.is_finite()) {
        return Err(Error::Weights(format!(
            "GGUF tensor {} holds {} at index {i}: the weights are broken (a diverged fine-tune or a bad conversion); use another file",
            info.name, out[i]
        )));
    }
    Ok(out)
}

/// llama.cpp's tensor name → the Hugging Face one (`None`: not a weight we load).
fn hf_name(name: &str) -> Option<String> {
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
    let hf = match module {
        "attn_norm" => "input_layernorm",
        "ffn_norm" => "post_attention_layernorm",
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

/// llama.cpp's `permute` of a q/k weight undone, as a row order: within each of `heads` heads of
/// `head_dim` rows, Hugging Face row `j · head_dim/2 + i` is GGUF row `2i + j`; entry `r` of the
/// result is the GGUF row that becomes row `r`.
pub fn hf_row_order(heads: usize, head_dim: usize) -> Vec<usize> {
    let half = head_dim / 2;
    (0..heads * head_dim)
        .map(|r| {
            let (h, within) = (r / head_dim, r % head_dim);
            let (j, i) = (within / half.max(1), within % half.max(1));
            h * head_dim + 2 * i + j
        })
        .collect()
}

/// Undoes llama.cpp's `permute` of a q/k weight ([heads · head_dim, cols] rows; see [`hf_row_order`]).
fn unpermute(values: &[f32], heads: usize, cols: usize) -> Vec<f32> {
    let rows = values.len() / cols;
    let mut out = Vec::with_capacity(values.len());
    for from in hf_row_order(heads, rows / heads) {
        out.extend_from_slice(&values[from * cols..(from + 1) * cols]);
    }
    out
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
        let (kind, bytes) = raw(gguf.data, info)?;
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
        dequantize(gguf.data, info)
    };
    let (h, heads, kvh, d) = (config.hidden_size, config.num_attention_heads, config.kv_heads(), config.head_dim());
    let ffn = config.intermediate_size;
    let layers = (0..config.num_hidden_layers)
        .map(|i| {
            let name = |part: &str| format!("blk.{i}.{part}");
            let bias = match config.attention_bias {
                false => None,
                true => Some([
                    vector(&name("attn_q.bias"), heads * d)?,
                    vector(&name("attn_k.bias"), kvh * d)?,
                    vector(&name("attn_v.bias"), kvh * d)?,
                    find(&name("attn_output.bias")).map_or(Ok(vec![0.0; h]), |_| vector(&name("attn_output.bias"), h))?,
                ]),
            };
            Ok(PackedLayer {
                attn_norm: vector(&name("attn_norm.weight"), h)?,
                ffn_norm: vector(&name("ffn_norm.weight"), h)?,
                q: matrix(&name("attn_q.weight"), heads * d, h)?,
                k: matrix(&name("attn_k.weight"), kvh * d, h)?,
                v: matrix(&name("attn_v.weight"), kvh * d, h)?,
                o: matrix(&name("attn_output.weight"), h, heads * d)?,
                gate: matrix(&name("ffn_gate.weight"), ffn, h)?,
                up: matrix(&name("ffn_up.weight"), ffn, h)?,
                down: matrix(&name("ffn_down.weight"), h, ffn)?,
                bias,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let weights = PackedWeights {
        embed: matrix("token_embd.weight", config.vocab_size, h)?,
        layers,
        norm: vector("output_norm.weight", h)?,
        head: match config.tie_word_embeddings {
            true => None,
            false => Some(matrix("output.weight", config.vocab_size, h)?),
        },
        heads,
        kv_heads: kvh,
        head_dim: d,
        eps: config.rms_norm_eps as f32,
        rope_theta: config.rope_theta(),
    };
    Ok(PackedLlama { weights: Arc::new(weights), file: file.clone() })
}

/// The model of a Llama-family GGUF file for inference on `device`, its weights kept as the file
/// quantizes them: read in place on the CPU ([`load_packed`]), uploaded in the GPU kernels'
/// layout on a GPU ([`GpuPackedLlama`]; `file` is not kept then).
pub fn load_quantized(gguf: &Gguf<'_>, config: &LlamaConfig, file: &Arc<Vec<u8>>, device: &crate::ComputeDevice) -> Result<DecoderModel> {
    let packed = load_packed(gguf, config, file)?;
    Ok(match device.info().is_gpu() {
        true => DecoderModel::GpuPacked(GpuPackedLlama::upload(&packed, device.device())),
        false => DecoderModel::Packed(packed),
    })
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
