//! Llama-family decoder (Llama 2/3, SmolLM2, TinyLlama, llama2.c's stories models, Qwen2/2.5,
//! Qwen3, Gemma 3), following Hugging Face `modeling_llama.py`: token embeddings → N × (RMSNorm →
//! grouped-query self-attention with rotary positions → residual → RMSNorm → SwiGLU MLP →
//! residual) → RMSNorm → `lm_head` (or the tied embedding matrix). The relatives differ in a few
//! places, each a config switch: Qwen2's biases on q/k/v (`modeling_qwen2.py`), Qwen3's RMSNorm of
//! each query and key head before the rotation (`modeling_qwen3.py`), Llama 3's rescaled
//! rotary frequencies (`rope_type: "llama3"`), and Gemma 3 (`modeling_gemma3.py`, see
//! [`Gemma3Settings`]): `(1 + w)` RMSNorms also after attention and the MLP, embeddings scaled by
//! `√hidden`, a tanh-GELU MLP, q/k norms, `query_pre_attn_scalar`, and sliding-window layers with
//! their own RoPE base between the full-attention ones.
//!
//! Field names are the checkpoint's (`model.layers.N.self_attn.q_proj`, …), so `weights/llama.rs`
//! needs no renames. Rotary embeddings use HF's rotate-half convention (checkpoints converted from
//! Meta/llama2.c/GGUF have their q/k rows permuted for it).

use burn::{
    module::Module,
    nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig, RmsNorm, RmsNormConfig},
    tensor::{Device, Int, Tensor, TensorData, activation::{gelu_approximate, silu}},
};
use serde::{Deserialize, Serialize};

pub use super::kv_cache::KvCache;
use super::kv_cache::{LayerCache, causal_mask_bias, sliding_window_bias};
use super::shape::DecoderShape;
use crate::kernels::frozen::{FrozenMatrix, FrozenWeights};
use crate::kernels::linear::{linear, projection};
use crate::kernels::softmax::softmax_last;
use crate::{Error, Result};

/// Hugging Face `LlamaConfig`, read straight from `config.json` (missing fields take HF's defaults).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct LlamaConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    /// Grouped-query attention: fewer key/value heads than query heads (default: as many).
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Per-head width (default `hidden_size / num_attention_heads`).
    #[serde(default)]
    pub head_dim: Option<usize>,
    #[serde(default = "defaults::max_position_embeddings")]
    pub max_position_embeddings: usize,
    #[serde(default = "defaults::rms_norm_eps")]
    pub rms_norm_eps: f64,
    /// RoPE base as transformers 4 writes it (transformers 5 writes `rope_parameters`).
    #[serde(default)]
    pub rope_theta: Option<f64>,
    /// transformers 5: `{"rope_theta": …, "rope_type": "default"}` (Gemma 3: one per layer type).
    #[serde(default)]
    pub rope_parameters: Option<RopeSettings>,
    /// `null`, type `"default"` (plain RoPE) or `"llama3"` (Llama 3.1/3.2's frequency scaling).
    #[serde(default)]
    pub rope_scaling: Option<RopeParameters>,
    /// Qwen2/Qwen3: sliding-window attention on some layers; only `false` is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_sliding_window: Option<bool>,
    /// Only `"silu"` (SwiGLU) is supported.
    #[serde(default = "defaults::hidden_act")]
    pub hidden_act: String,
    /// `lm_head` shares the embedding matrix (no `lm_head.weight` in the checkpoint).
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default)]
    pub attention_bias: bool,
    #[serde(default)]
    pub mlp_bias: bool,
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    /// One id or a list (Llama 3 lists several end-of-turn tokens).
    #[serde(default)]
    pub eos_token_id: Option<TokenIds>,
    #[serde(default)]
    pub model_type: Option<String>,
    /// Gemma 3's own fields (and the layer layout Qwen configs write too).
    #[serde(flatten)]
    pub gemma: Gemma3Settings,
}

/// Gemma 3's `config.json` fields (`Gemma3TextConfig`). Qwen configs write `layer_types` and
/// `sliding_window` too, but transformers drops their window unless `use_sliding_window` is true
/// (refused here), so only Gemma 3's layers slide ([`LlamaConfig::sliding_window`]).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Gemma3Settings {
    /// Gemma's name for `hidden_act`: `"gelu_pytorch_tanh"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_activation: Option<String>,
    /// Attention scores are scaled by `query_pre_attn_scalar^-½` instead of `head_dim^-½` (an
    /// integer, as transformers checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_pre_attn_scalar: Option<u32>,
    /// How many positions (the query's own included) a sliding-window layer sees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window: Option<usize>,
    /// `"full_attention"` or `"sliding_attention"`, one per layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_types: Option<Vec<String>>,
    /// Gemma 2's tanh capping of scores and logits: only `null` is supported (Gemma 3 has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attn_logit_softcapping: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_logit_softcapping: Option<f64>,
    /// EmbeddingGemma's bidirectional attention: only `false` is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_bidirectional_attention: Option<bool>,
}

/// How far back a layer attends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerAttention {
    /// Every earlier position (and its RoPE is the model's global one).
    Full,
    /// The last `window` positions, the query's own included (Gemma 3's local layers; their RoPE
    /// has its own base).
    Sliding { window: usize },
}

/// A token id, or several, as `config.json` writes `eos_token_id`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum TokenIds {
    One(u32),
    Many(Vec<u32>),
}

impl TokenIds {
    /// The ids as a list.
    pub fn to_vec(&self) -> Vec<u32> {
        match self {
            TokenIds::One(id) => vec![*id],
            TokenIds::Many(ids) => ids.clone(),
        }
    }
}

/// `rope_parameters`: one set for every layer, or (Gemma 3) one per layer type.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum RopeSettings {
    /// `{"full_attention": {…}, "sliding_attention": {…}}`.
    PerLayerType(std::collections::BTreeMap<String, RopeParameters>),
    /// `{"rope_theta": …, "rope_type": …}`.
    Shared(RopeParameters),
}

/// RoPE settings (`rope_parameters` / `rope_scaling`); other keys are ignored.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct RopeParameters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_theta: Option<f64>,
    /// `"default"` is plain RoPE, `"llama3"` Llama 3's scaled frequencies, `"linear"` frequencies
    /// divided by `factor` (Gemma 3's global layers); other variants (`"yarn"`, …) are not supported yet.
    #[serde(default, alias = "type", skip_serializing_if = "Option::is_none")]
    pub rope_type: Option<String>,
    /// `"llama3"`, `"linear"`: how much longer the context is than in pretraining.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    /// `"llama3"`: wavelengths longer than `original_max_position_embeddings / low_freq_factor` are
    /// divided by `factor`, shorter than `… / high_freq_factor` kept, those between blended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_freq_factor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_freq_factor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_max_position_embeddings: Option<f64>,
    /// `"longrope"`: one factor per rotary frequency, each frequency divided by its factor (below
    /// and beyond `original_max_position_embeddings`; webtune reads them when both lists are equal,
    /// as a Llama 3.1 GGUF's `rope_freqs` is written out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_factor: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_factor: Option<Vec<f64>>,
    /// `"longrope"`: the factor cos/sin are multiplied by (only 1 is supported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_factor: Option<f64>,
}

/// Llama 3's frequency scaling (transformers' `_compute_llama3_parameters`).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Llama3Scaling {
    factor: f64,
    low_freq_factor: f64,
    high_freq_factor: f64,
    original_context: f64,
}

/// How a RoPE type rescales the plain frequencies.
#[derive(Clone, Debug, PartialEq)]
enum RopeScaling {
    Llama3(Llama3Scaling),
    /// transformers' `_compute_linear_scaling_rope_parameters`: every frequency / `factor`.
    Linear { factor: f64 },
    /// Frequency `i` / `factors[i]` (`"longrope"` with equal short and long factors).
    PerFrequency(Vec<f64>),
}

impl RopeScaling {
    /// `plain` (`1 / theta^(2i/d)`) rescaled.
    fn apply(self, plain: Vec<f32>) -> Vec<f32> {
        let s = match self {
            RopeScaling::Linear { factor } => return plain.into_iter().map(|f| (f as f64 / factor) as f32).collect(),
            RopeScaling::PerFrequency(factors) => return plain.into_iter().zip(factors).map(|(f, k)| (f as f64 / k) as f32).collect(),
            RopeScaling::Llama3(s) => s,
        };
        let (low_wavelen, high_wavelen) = (s.original_context / s.low_freq_factor, s.original_context / s.high_freq_factor);
        plain
            .into_iter()
            .map(|f| {
                let f = f as f64;
                let wavelen = 2.0 * std::f64::consts::PI / f;
                let scaled = if wavelen > low_wavelen { f / s.factor } else { f };
                if wavelen < high_wavelen || wavelen > low_wavelen {
                    return scaled as f32;
                }
                let smooth = (s.original_context / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
                ((1.0 - smooth) * scaled / s.factor + smooth * scaled) as f32
            })
            .collect()
    }
}

impl RopeParameters {
    /// The scaling its type asks for, checked (a `"longrope"` list's length by
    /// [`LlamaConfig::validate`]); `None` for plain RoPE; an error for another type.
    fn scaling(&self) -> Result<Option<RopeScaling>> {
        let need = |v: Option<f64>, name: &str| {
            v.filter(|x| x.is_finite() && *x > 0.0).ok_or_else(|| {
                Error::Weights(format!("config.json: rope_scaling of type {:?} needs a positive {name}", self.rope_type.as_deref().unwrap_or_default()))
            })
        };
        match self.rope_type.as_deref() {
            None | Some("default") => Ok(None),
            Some("linear") => Ok(Some(RopeScaling::Linear { factor: need(self.factor, "factor")? })),
            Some("longrope") => {
                let bad = |m: &str| Err(Error::Weights(format!("config.json: rope_scaling of type \"longrope\" {m}")));
                let (Some(short), Some(long)) = (&self.short_factor, &self.long_factor) else { return bad("needs short_factor and long_factor") };
                if short != long {
                    return bad("with different short_factor and long_factor is not supported (the factors would change with the length)");
                }
                if self.attention_factor != Some(1.0) {
                    return bad("is supported with attention_factor 1 only");
                }
                if short.iter().any(|k| !(k.is_finite() && *k > 0.0)) {
                    return bad("needs positive factors");
                }
                Ok(Some(RopeScaling::PerFrequency(short.clone())))
            }
            Some("llama3") => {
                let s = Llama3Scaling {
                    factor: need(self.factor, "factor")?,
                    low_freq_factor: need(self.low_freq_factor, "low_freq_factor")?,
                    high_freq_factor: need(self.high_freq_factor, "high_freq_factor")?,
                    original_context: need(self.original_max_position_embeddings, "original_max_position_embeddings")?,
                };
                if s.high_freq_factor <= s.low_freq_factor {
                    return Err(Error::Weights(format!(
                        "config.json: rope_scaling high_freq_factor {} must be above low_freq_factor {}",
                        s.high_freq_factor, s.low_freq_factor
                    )));
                }
                Ok(Some(RopeScaling::Llama3(s)))
            }
            Some(t) => Err(Error::Weights(format!("config.json: RoPE type {t:?} is not supported yet (\"default\", \"linear\", \"llama3\" and \"longrope\" are)"))),
        }
    }
}

/// The decoder families this model code reads, by `config.json` `model_type`, and the class
/// transformers builds for each (registered in [`super::family::FAMILIES`] too).
const MODEL_TYPES: &[(&str, &str)] =
    &[("llama", "LlamaForCausalLM"), ("qwen2", "Qwen2ForCausalLM"), ("qwen3", "Qwen3ForCausalLM"), ("gemma3_text", "Gemma3ForCausalLM")];

/// Gemma 3's `model_type` (the text-only checkpoints: 270M, 1B).
const GEMMA3: &str = "gemma3_text";

mod defaults {
    pub fn max_position_embeddings() -> usize { 2048 }
    pub fn rms_norm_eps() -> f64 { 1e-6 }
    pub fn hidden_act() -> String { "silu".into() }
}

impl LlamaConfig {
    /// Whether this model code reads checkpoints of `model_type` (Llama, Qwen2, Qwen3, Gemma 3).
    pub fn reads(model_type: &str) -> bool {
        MODEL_TYPES.iter().any(|(m, _)| *m == model_type)
    }

    /// Parses and validates a Hugging Face `config.json`.
    pub fn from_json(text: &str) -> Result<Self> {
        let invalid = |e: serde_json::Error| Error::Weights(format!("config.json is not a valid Llama-family config: {e}"));
        let mut json: serde_json::Value = serde_json::from_str(text).map_err(invalid)?;
        if json.get("model_type").and_then(|t| t.as_str()) == Some(GEMMA3) {
            gemma3_defaults(&mut json);
        }
        let cfg: LlamaConfig = serde_json::from_value(json).map_err(invalid)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// This config (`model_type` `"gemma3_text"`) completed with what transformers'
    /// `Gemma3TextConfig` assumes where it says nothing (a GGUF's metadata leaves most unsaid),
    /// then validated.
    pub fn with_gemma3_defaults(self) -> Result<Self> {
        let invalid = |e: serde_json::Error| Error::Weights(format!("a Gemma 3 config: {e}"));
        let mut json = serde_json::to_value(self).map_err(invalid)?;
        gemma3_defaults(&mut json);
        let cfg: LlamaConfig = serde_json::from_value(json).map_err(invalid)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks what the model code supports, naming the field that does not fit.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Weights(format!("config.json: {m}")));
        if let Some(t) = &self.model_type
            && !MODEL_TYPES.iter().any(|(m, _)| m == t)
        {
            let known: Vec<String> = MODEL_TYPES.iter().map(|(m, _)| format!("{m:?}")).collect();
            return bad(format!("model_type {t:?} is not a Llama-family model (expected {})", known.join(", ")));
        }
        if self.use_sliding_window == Some(true) {
            return bad("use_sliding_window true is not supported yet (sliding-window attention); set it to false to read the model with full attention".into());
        }
        let act = self.activation();
        if act != "silu" && !(self.is_gemma3() && act == "gelu_pytorch_tanh") {
            return bad(format!("hidden_act {act:?} is not supported (Llama-family models use \"silu\", Gemma 3 \"gelu_pytorch_tanh\")"));
        }
        for p in self.rope_sets() {
            if let Some(RopeScaling::PerFrequency(f)) = p.scaling()?
                && f.len() != self.head_dim() / 2
            {
                return bad(format!("rope_scaling lists {} factors; head_dim {} has {} rotary frequencies", f.len(), self.head_dim(), self.head_dim() / 2));
            }
        }
        let g = &self.gemma;
        if g.attn_logit_softcapping.is_some() || g.final_logit_softcapping.is_some() {
            return bad("attn_logit_softcapping / final_logit_softcapping are not supported (Gemma 2's; Gemma 3 sets them to null)".into());
        }
        if g.use_bidirectional_attention == Some(true) {
            return bad("use_bidirectional_attention true is not supported (an embedding model, not a causal LM)".into());
        }
        if let Some(types) = &g.layer_types {
            if types.len() != self.num_hidden_layers {
                return bad(format!("layer_types lists {} layers but num_hidden_layers is {}", types.len(), self.num_hidden_layers));
            }
            if let Some(t) = types.iter().find(|t| !matches!(t.as_str(), "full_attention" | "sliding_attention")) {
                return bad(format!("layer type {t:?} is not supported (\"full_attention\" and \"sliding_attention\" are)"));
            }
            if self.is_gemma3() && types.iter().any(|t| t == "sliding_attention") && !g.sliding_window.is_some_and(|w| w > 0) {
                return bad("sliding_attention layers need a sliding_window of at least 1".into());
            }
            if let Some(w) = self.sliding_window().filter(|&w| w > self.max_position_embeddings) {
                return bad(format!("sliding_window {w} is larger than the context (max_position_embeddings {})", self.max_position_embeddings));
            }
        }
        if g.query_pre_attn_scalar == Some(0) {
            return bad("query_pre_attn_scalar must be at least 1 (it is usually head_dim)".into());
        }
        if self.num_hidden_layers == 0 || self.vocab_size == 0 {
            return bad(format!("num_hidden_layers {} and vocab_size {} must be at least 1", self.num_hidden_layers, self.vocab_size));
        }
        let (heads, kv) = (self.num_attention_heads, self.kv_heads());
        if heads == 0 || kv == 0 || heads % kv != 0 {
            return bad(format!("num_attention_heads {heads} must be a positive multiple of num_key_value_heads {kv}"));
        }
        if self.head_dim.is_none() && self.hidden_size % heads != 0 {
            return bad(format!("hidden_size {} must be a multiple of num_attention_heads {heads}", self.hidden_size));
        }
        if self.head_dim() == 0 || self.head_dim() % 2 != 0 {
            return bad(format!("head_dim {} must be even and positive for rotary embeddings", self.head_dim()));
        }
        if self.hidden_size == 0 || self.intermediate_size == 0 || self.max_position_embeddings == 0 {
            return bad(format!(
                "hidden_size {}, intermediate_size {} and max_position_embeddings {} must be at least 1",
                self.hidden_size, self.intermediate_size, self.max_position_embeddings
            ));
        }
        if !(self.rms_norm_eps.is_finite() && self.rms_norm_eps >= 0.0) {
            return bad(format!("rms_norm_eps {} must be a small non-negative number (1e-6 is usual)", self.rms_norm_eps));
        }
        for theta in [self.rope_theta(), self.rope_for("sliding_attention").0] {
            if !(theta.is_finite() && theta > 1.0) {
                return bad(format!("rope_theta {theta} must be a number above 1 (10000 is usual)"));
            }
        }
        let ids = self.bos_token_id.into_iter().chain(self.eos_ids());
        if let Some(id) = ids.into_iter().find(|&id| id as usize >= self.vocab_size) {
            return bad(format!("special token id {id} (bos_token_id/eos_token_id) is not below vocab_size {}", self.vocab_size));
        }
        Ok(())
    }

    /// Number of weights (with the LM head unless tied); saturates instead of overflowing, so an
    /// absurd config gives a number too large to load rather than a wrong one.
    pub fn parameters(&self) -> u64 {
        let n = |x: usize| x as u64;
        let (h, i, v) = (n(self.hidden_size), n(self.intermediate_size), n(self.vocab_size));
        let q = n(self.num_attention_heads).saturating_mul(n(self.head_dim()));
        let kv = n(self.kv_heads()).saturating_mul(n(self.head_dim()));
        let biases = if self.qkv_bias() { q.saturating_add(kv.saturating_mul(2)) } else { 0 };
        let norms = if self.qk_norm() { 2 * n(self.head_dim()) } else { 0 };
        let block_norms = if self.is_gemma3() { 4 * h } else { 2 * h };
        let layer = [h.saturating_mul(q), h.saturating_mul(kv).saturating_mul(2), q.saturating_mul(h), h.saturating_mul(i).saturating_mul(3), block_norms, biases, norms]
            .into_iter()
            .fold(0u64, u64::saturating_add);
        let embeddings = v.saturating_mul(h);
        let head = if self.tie_word_embeddings { 0 } else { embeddings };
        embeddings.saturating_add(n(self.num_hidden_layers).saturating_mul(layer)).saturating_add(h).saturating_add(head)
    }

    /// What a training run's memory plan reads. Kept per layer: norms, Q/K/V (rotated and
    /// repeated for grouped-query attention), context, residuals (~12 × [b, s, h]); gate, up, SiLU
    /// and product (4 × [b, s, i]); scores and probabilities (2 × [b, heads, s, s]). The loss is
    /// taken in chunks of positions.
    pub fn shape(&self) -> DecoderShape {
        DecoderShape {
            parameters: self.parameters(),
            layers: self.num_hidden_layers,
            heads: self.num_attention_heads,
            hidden: self.hidden_size,
            inner: self.intermediate_size,
            vocab: self.vocab_size,
            per_layer: [12, 4, 2],
            chunked_loss: true,
        }
    }

    /// The `(in, out)` shapes of the projections a LoRA target module names in each layer
    /// (`LoraOptions::validate` has refused any other name).
    pub fn lora_projections(&self, module: &str) -> Vec<(usize, usize)> {
        let (h, i) = (self.hidden_size, self.intermediate_size);
        let (q, kv) = (self.num_attention_heads * self.head_dim(), self.kv_heads() * self.head_dim());
        match module {
            "q_proj" => vec![(h, q)],
            "k_proj" | "v_proj" => vec![(h, kv)],
            "o_proj" => vec![(q, h)],
            "down_proj" => vec![(i, h)],
            _ => vec![(h, i)], // gate_proj, up_proj
        }
    }

    /// `config.json` for this model as transformers writes it (fields that are not set left out).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let mut v = serde_json::to_value(self).map_err(|e| Error::Weights(format!("writing config.json: {e}")))?;
        if let Some(obj) = v.as_object_mut() {
            obj.retain(|_, value| !value.is_null());
            let (model_type, class) = MODEL_TYPES.iter().find(|(m, _)| Some(*m) == self.model_type.as_deref()).copied().unwrap_or(MODEL_TYPES[0]);
            obj.insert("architectures".into(), serde_json::json!([class]));
            obj.insert("model_type".into(), model_type.into());
            obj.insert("torch_dtype".into(), "float32".into());
            if self.is_gemma3() {
                obj.remove("hidden_act"); // Gemma's is `hidden_activation`
            } else {
                obj.insert("rope_theta".into(), self.rope_theta().into());
            }
        }
        serde_json::to_vec_pretty(&v).map_err(|e| Error::Weights(format!("writing config.json: {e}")))
    }

    /// The RoPE base of the full-attention layers (`rope_parameters.rope_theta`, else
    /// `rope_theta`, else 10000).
    pub fn rope_theta(&self) -> f64 {
        self.rope_for("full_attention").0
    }

    /// Every RoPE parameter set the config names (to validate).
    fn rope_sets(&self) -> Vec<&RopeParameters> {
        let per_type = match &self.rope_parameters {
            Some(RopeSettings::PerLayerType(map)) => map.values().collect(),
            Some(RopeSettings::Shared(p)) => vec![p],
            None => vec![],
        };
        per_type.into_iter().chain(&self.rope_scaling).collect()
    }

    /// The RoPE base and the parameters (if any) of one layer type (`"full_attention"`,
    /// `"sliding_attention"`): Gemma 3 keys them by layer type, other families share one set (and
    /// may scale it through `rope_scaling`).
    fn rope_for(&self, layer_type: &str) -> (f64, Vec<&RopeParameters>) {
        match &self.rope_parameters {
            Some(RopeSettings::PerLayerType(map)) => {
                let p = map.get(layer_type);
                (p.and_then(|p| p.rope_theta).or(self.rope_theta).unwrap_or(10_000.0), p.into_iter().collect())
            }
            Some(RopeSettings::Shared(p)) => (p.rope_theta.or(self.rope_theta).unwrap_or(10_000.0), [Some(p), self.rope_scaling.as_ref()].into_iter().flatten().collect()),
            None => (self.rope_theta.unwrap_or(10_000.0), self.rope_scaling.iter().collect()),
        }
    }

    /// Rotary frequencies per pair of a head's dimensions for one layer type:
    /// `1 / theta^(2i/d)`, rescaled as its RoPE type says (`"llama3"`, `"linear"`; validated in
    /// [`Self::validate`]).
    fn inverse_frequencies_of(&self, layer_type: &str) -> Vec<f32> {
        let (theta, params) = self.rope_for(layer_type);
        let plain = inverse_frequencies(self.head_dim(), theta);
        match params.into_iter().find_map(|p| p.scaling().ok().flatten()) {
            Some(scaling) => scaling.apply(plain),
            None => plain,
        }
    }

    /// The rotary frequencies of the full-attention layers (every layer but Gemma 3's local ones).
    pub fn inverse_frequencies(&self) -> Vec<f32> {
        self.inverse_frequencies_of("full_attention")
    }

    /// The rotary frequencies of sliding-window layers (Gemma 3's local RoPE base).
    pub fn sliding_inverse_frequencies(&self) -> Vec<f32> {
        self.inverse_frequencies_of("sliding_attention")
    }

    /// What the embeddings are multiplied by: `√hidden_size` for Gemma, else 1.
    pub fn embed_scale(&self) -> f64 {
        if self.is_gemma3() { (self.hidden_size as f64).sqrt() } else { 1.0 }
    }

    /// Whether this is Gemma 3 (`model_type: "gemma3_text"`).
    pub fn is_gemma3(&self) -> bool {
        self.model_type.as_deref() == Some(GEMMA3)
    }

    /// The MLP's activation: `hidden_act`, or Gemma's `hidden_activation`.
    pub fn activation(&self) -> &str {
        self.gemma.hidden_activation.as_deref().filter(|_| self.is_gemma3()).unwrap_or(&self.hidden_act)
    }

    /// The window of sliding-attention layers: Gemma 3's `sliding_window`. Other families' is off
    /// (transformers sets it to `None` unless `use_sliding_window`, which is refused).
    pub fn sliding_window(&self) -> Option<usize> {
        self.gemma.sliding_window.filter(|_| self.is_gemma3())
    }

    /// How far back layer `i` attends (`layer_types` with [`Self::sliding_window`]; full when the
    /// config has neither).
    pub fn layer_attention(&self, i: usize) -> LayerAttention {
        match (self.gemma.layer_types.as_ref().and_then(|t| t.get(i)), self.sliding_window()) {
            (Some(t), Some(window)) if t == "sliding_attention" => LayerAttention::Sliding { window },
            _ => LayerAttention::Full,
        }
    }

    /// The factor attention scores are multiplied by: `query_pre_attn_scalar^-½` (Gemma), else
    /// `head_dim^-½`.
    pub fn attention_scaling(&self) -> f64 {
        let scalar = self.gemma.query_pre_attn_scalar.filter(|_| self.is_gemma3()).map_or(self.head_dim() as f64, f64::from);
        1.0 / scalar.sqrt()
    }

    /// Biases on the query, key and value projections (`attention_bias`, or Qwen2, which always has them).
    pub fn qkv_bias(&self) -> bool {
        self.attention_bias || self.model_type.as_deref() == Some("qwen2")
    }

    /// An RMSNorm of each query and key head before the rotation (Qwen3, Gemma 3).
    pub fn qk_norm(&self) -> bool {
        matches!(self.model_type.as_deref(), Some("qwen3" | GEMMA3))
    }

    /// Key/value heads (grouped-query attention).
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// The end-of-sequence ids (may be empty).
    pub fn eos_ids(&self) -> Vec<u32> {
        self.eos_token_id.as_ref().map(TokenIds::to_vec).unwrap_or_default()
    }

    fn rms_norm(&self, device: &Device) -> RmsNorm {
        RmsNormConfig::new(self.hidden_size).with_epsilon(self.rms_norm_eps).init(device)
    }
}

/// Fills in what transformers' `Gemma3TextConfig` assumes where a `config.json` says nothing, and
/// reads the older spelling (`rope_theta`, `rope_local_base_freq`, `rope_scaling`,
/// `sliding_window_pattern`) into `rope_parameters` and `layer_types`.
fn gemma3_defaults(json: &mut serde_json::Value) {
    use serde_json::{Value, json};
    let Some(obj) = json.as_object_mut() else { return };
    let defaults = [
        ("head_dim", json!(256)),
        ("query_pre_attn_scalar", json!(256)),
        ("sliding_window", json!(4096)),
        ("tie_word_embeddings", json!(true)),
        ("hidden_activation", json!("gelu_pytorch_tanh")),
        ("max_position_embeddings", json!(131_072)),
    ];
    for (key, value) in defaults {
        obj.entry(key).or_insert(value);
    }
    if obj.get("layer_types").is_none_or(Value::is_null) {
        // a bound keeps an absurd layer count from allocating; validation then names the mismatch
        let layers = obj.get("num_hidden_layers").and_then(Value::as_u64).unwrap_or(0).min(10_000);
        let pattern = obj.get("sliding_window_pattern").and_then(Value::as_u64).unwrap_or(6).max(1);
        let types: Vec<&str> = (0..layers).map(|i| if (i + 1) % pattern != 0 { "sliding_attention" } else { "full_attention" }).collect();
        obj.insert("layer_types".into(), json!(types));
    }
    if obj.get("rope_parameters").is_none_or(Value::is_null) {
        let mut full = json!({"rope_type": "default", "rope_theta": obj.get("rope_theta").cloned().unwrap_or(json!(1_000_000.0))});
        if let (Some(Value::Object(scaling)), Some(full)) = (obj.remove("rope_scaling"), full.as_object_mut()) {
            full.extend(scaling);
        }
        let local = json!({"rope_type": "default", "rope_theta": obj.get("rope_local_base_freq").cloned().unwrap_or(json!(10_000.0))});
        obj.insert("rope_parameters".into(), json!({"full_attention": full, "sliding_attention": local}));
    }
}

/// An RMSNorm as the family defines it: `x̂ · w` (Llama), or Gemma's `x̂ · (1 + w)` (its weights
/// are stored as offsets from 1; `gamma` holds them as the checkpoint does).
pub(crate) fn rms_norm<const D: usize>(norm: &RmsNorm, x: Tensor<D>, unit_offset: bool) -> Tensor<D> {
    if !unit_offset {
        return norm.forward(x);
    }
    let rms = (x.clone().square().mean_dim(D - 1) + norm.epsilon).sqrt();
    x / rms * (norm.gamma.val() + 1.0).unsqueeze()
}

/// RoPE's `inv_freq = 1 / theta^(2i/d)` for `i < head_dim / 2`, as f32 (HF's `LlamaRotaryEmbedding`).
pub fn inverse_frequencies(head_dim: usize, theta: f64) -> Vec<f32> {
    (0..head_dim / 2).map(|i| (1.0 / theta.powf(2.0 * i as f64 / head_dim as f64)) as f32).collect()
}

/// cos/sin tables for the positions of one forward pass, each [seq, head_dim] (HF
/// `LlamaRotaryEmbedding`: `inv_freq` per pair, see [`LlamaConfig::inverse_frequencies`];
/// frequencies repeated for both halves).
#[derive(Clone, Debug)]
pub struct Rope {
    cos: Tensor<2>,
    sin: Tensor<2>,
}

impl Rope {
    /// Tables for positions `start .. start + seq` of heads with `inv_freq.len() * 2` dimensions.
    pub fn new(inv_freq: &[f32], start: usize, seq: usize, device: &Device) -> Self {
        let half = inv_freq.len();
        let inv_freq = Tensor::<2>::from_data(TensorData::new(inv_freq.to_vec(), [1, half]), device);
        let positions = Tensor::<1, Int>::arange(start as i64..(start + seq) as i64, device).float().reshape([seq, 1]);
        let freqs = positions.matmul(inv_freq); // [seq, half]
        let angles = Tensor::cat(vec![freqs.clone(), freqs], 1); // [seq, head_dim]
        Rope { cos: angles.clone().cos(), sin: angles.sin() }
    }

    /// `x`: [batch, heads, seq, head_dim] → the same, rotated: `x·cos + rotate_half(x)·sin`.
    fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, h, s, d] = x.dims();
        let half = d / 2;
        let x1 = x.clone().slice([0..b, 0..h, 0..s, 0..half]);
        let x2 = x.clone().slice([0..b, 0..h, 0..s, half..d]);
        let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
        x * self.cos.clone().unsqueeze::<4>() + rotated * self.sin.clone().unsqueeze::<4>()
    }
}

/// Grouped-query self-attention with rotary positions (HF `LlamaAttention`).
#[derive(Module, Debug)]
pub struct LlamaAttention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub o_proj: Linear,
    /// Qwen3, Gemma 3: RMSNorm over each query / key head (`head_dim` weights) before the rotation.
    pub q_norm: Option<RmsNorm>,
    pub k_norm: Option<RmsNorm>,
    /// Gemma's `(1 + w)` norms.
    pub unit_offset_norms: bool,
    /// What scores are multiplied by ([`LlamaConfig::attention_scaling`]).
    pub scaling: f64,
    /// Dropout on LoRA adapters' input (PEFT's `lora_dropout`; probability 0 without adapters).
    pub adapter_dropout: Dropout,
    /// Projections whose frozen weights stay in the GGUF file's blocks (LoRA on a quantized base).
    #[module(skip)]
    pub frozen: FrozenWeights,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
}

impl LlamaAttention {
    /// `x`: [batch, seq, hidden]; `mask_bias`: [batch or 1, 1, seq, past + seq]; `cache`: this
    /// layer's keys/values so far, extended here → [batch, seq, hidden].
    pub fn forward(
        &self,
        x: Tensor<3>,
        rope: &Rope,
        mask_bias: Tensor<4>,
        cache: Option<&mut LayerCache>,
    ) -> Tensor<3> {
        let proj = |name: &str, layer: &Linear, x: Tensor<3>| projection(layer, self.frozen.get(name), x, &self.adapter_dropout);
        let shape = AttentionShape { heads: self.num_heads, kv_heads: self.num_kv_heads, head_dim: self.head_dim, scaling: self.scaling };
        let d = self.head_dim;
        let per_head = |norm: &Option<RmsNorm>, t: Tensor<3>| match norm {
            Some(norm) => {
                let [b, s, width] = t.dims();
                rms_norm(norm, t.reshape([b, s, width / d, d]), self.unit_offset_norms).reshape([b, s, width])
            }
            None => t,
        };
        let q = per_head(&self.q_norm, proj("q_proj", &self.q_proj, x.clone()));
        let k = per_head(&self.k_norm, proj("k_proj", &self.k_proj, x.clone()));
        let out = attend(q, k, proj("v_proj", &self.v_proj, x), shape, rope, mask_bias, cache);
        proj("o_proj", &self.o_proj, out)
    }
}

/// Query heads, key/value heads, the width of one head, and the factor scores are scaled by.
#[derive(Clone, Copy, Debug)]
pub struct AttentionShape {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// `head_dim^-½` in most families ([`LlamaConfig::attention_scaling`]).
    pub scaling: f64,
}

/// Attention of the projected queries, keys and values ([batch, seq, heads · d] and
/// [batch, seq, kv_heads · d], q/k rows in Hugging Face's order): rotary positions, the cache
/// extended with the new keys/values, causal softmax → [batch, seq, heads · d] (before `o_proj`).
pub fn attend(
    q: Tensor<3>,
    k: Tensor<3>,
    v: Tensor<3>,
    shape: AttentionShape,
    rope: &Rope,
    mask_bias: Tensor<4>,
    cache: Option<&mut LayerCache>,
) -> Tensor<3> {
    let [batch, seq, _] = q.dims();
    let AttentionShape { heads: h, kv_heads: kvh, head_dim: d, scaling } = shape;
    let split = |t: Tensor<3>, n: usize| t.reshape([batch, seq, n, d]).swap_dims(1, 2);
    let q = rope.apply(split(q, h)); // [batch, heads, seq, d]
    let mut k = rope.apply(split(k, kvh)); // [batch, kv_heads, seq, d]
    let mut v = split(v, kvh);
    if let Some(slot) = cache {
        if let Some((past_k, past_v)) = slot.take() {
            k = Tensor::cat(vec![past_k, k], 2);
            v = Tensor::cat(vec![past_v, v], 2);
        }
        *slot = Some((k.clone(), v.clone()));
    }
    let (k, v) = (repeat_kv(k, h / kvh), repeat_kv(v, h / kvh)); // [batch, heads, total, d]
    let scores = q.matmul(k.swap_dims(2, 3)) * scaling + mask_bias; // [batch, heads, seq, total]
    let out = softmax_last(scores).matmul(v); // [batch, heads, seq, d]
    out.swap_dims(1, 2).reshape([batch, seq, h * d])
}

/// [batch, kv_heads, t, d] → [batch, kv_heads · n, t, d], each key/value head serving `n` query heads.
fn repeat_kv(x: Tensor<4>, n: usize) -> Tensor<4> {
    if n == 1 {
        return x;
    }
    let [b, kvh, t, d] = x.dims();
    x.unsqueeze_dim::<5>(2).expand([b, kvh, n, t, d]).reshape([b, kvh * n, t, d])
}

/// Gated feed-forward: `down(act(gate(x)) · up(x))`, `act` SiLU (SwiGLU) or Gemma's tanh GELU.
#[derive(Module, Debug)]
pub struct LlamaMlp {
    pub gate_proj: Linear,
    pub up_proj: Linear,
    pub down_proj: Linear,
    /// Gemma's `gelu_pytorch_tanh` instead of SiLU.
    pub gelu_tanh: bool,
    /// Dropout on LoRA adapters' input (PEFT's `lora_dropout`; probability 0 without adapters).
    pub adapter_dropout: Dropout,
    /// Projections whose frozen weights stay in the GGUF file's blocks (LoRA on a quantized base).
    #[module(skip)]
    pub frozen: FrozenWeights,
}

impl LlamaMlp {
    /// [batch, seq, hidden] → [batch, seq, hidden].
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let proj = |name: &str, layer: &Linear, x: Tensor<3>| projection(layer, self.frozen.get(name), x, &self.adapter_dropout);
        let gate = proj("gate_proj", &self.gate_proj, x.clone());
        let gate = if self.gelu_tanh { gelu_approximate(gate) } else { silu(gate) };
        proj("down_proj", &self.down_proj, gate * proj("up_proj", &self.up_proj, x))
    }
}

/// One pre-norm decoder block (HF `LlamaDecoderLayer`; Gemma 3's `Gemma3DecoderLayer` when it has
/// the feed-forward norms).
#[derive(Module, Debug)]
pub struct LlamaLayer {
    pub self_attn: LlamaAttention,
    pub mlp: LlamaMlp,
    pub input_layernorm: RmsNorm,
    /// Llama: before the MLP. Gemma 3: on the attention's output, before the residual.
    pub post_attention_layernorm: RmsNorm,
    /// Gemma 3: before the MLP, and on its output before the residual.
    pub pre_feedforward_layernorm: Option<RmsNorm>,
    pub post_feedforward_layernorm: Option<RmsNorm>,
    /// Gemma's `(1 + w)` norms.
    pub unit_offset_norms: bool,
    /// How far back it attends.
    #[module(skip)]
    pub attention: LayerAttention,
}

impl LlamaLayer {
    fn new(c: &LlamaConfig, index: usize, device: &Device) -> Self {
        let (h, d, kvh) = (c.hidden_size, c.head_dim(), c.kv_heads());
        let lin = |i, o, bias| LinearConfig::new(i, o).with_bias(bias).init(device);
        let head_norm = || c.qk_norm().then(|| RmsNormConfig::new(d).with_epsilon(c.rms_norm_eps).init(device));
        let gemma_norm = || c.is_gemma3().then(|| c.rms_norm(device));
        LlamaLayer {
            self_attn: LlamaAttention {
                q_proj: lin(h, c.num_attention_heads * d, c.qkv_bias()),
                k_proj: lin(h, kvh * d, c.qkv_bias()),
                v_proj: lin(h, kvh * d, c.qkv_bias()),
                o_proj: lin(c.num_attention_heads * d, h, c.attention_bias),
                q_norm: head_norm(),
                k_norm: head_norm(),
                unit_offset_norms: c.is_gemma3(),
                scaling: c.attention_scaling(),
                adapter_dropout: DropoutConfig::new(0.0).init(),
                frozen: FrozenWeights::default(),
                num_heads: c.num_attention_heads,
                num_kv_heads: kvh,
                head_dim: d,
            },
            mlp: LlamaMlp {
                gate_proj: lin(h, c.intermediate_size, c.mlp_bias),
                up_proj: lin(h, c.intermediate_size, c.mlp_bias),
                down_proj: lin(c.intermediate_size, h, c.mlp_bias),
                gelu_tanh: c.activation() == "gelu_pytorch_tanh",
                adapter_dropout: DropoutConfig::new(0.0).init(),
                frozen: FrozenWeights::default(),
            },
            input_layernorm: c.rms_norm(device),
            post_attention_layernorm: c.rms_norm(device),
            pre_feedforward_layernorm: gemma_norm(),
            post_feedforward_layernorm: gemma_norm(),
            unit_offset_norms: c.is_gemma3(),
            attention: c.layer_attention(index),
        }
    }

    /// [batch, seq, hidden] → [batch, seq, hidden].
    pub fn forward(
        &self,
        x: Tensor<3>,
        rope: &Rope,
        mask_bias: Tensor<4>,
        cache: Option<&mut LayerCache>,
    ) -> Tensor<3> {
        let norm = |n: &RmsNorm, x: Tensor<3>| rms_norm(n, x, self.unit_offset_norms);
        let attention = self.self_attn.forward(norm(&self.input_layernorm, x.clone()), rope, mask_bias, cache);
        match (&self.pre_feedforward_layernorm, &self.post_feedforward_layernorm) {
            (Some(pre), Some(post)) => {
                let x = x + norm(&self.post_attention_layernorm, attention);
                x.clone() + norm(post, self.mlp.forward(norm(pre, x)))
            }
            _ => {
                let x = x + attention;
                x.clone() + self.mlp.forward(norm(&self.post_attention_layernorm, x))
            }
        }
    }
}

/// The decoder stack without a head (HF `LlamaModel`).
#[derive(Module, Debug)]
pub struct LlamaModel {
    pub embed_tokens: Embedding,
    pub layers: Vec<LlamaLayer>,
    pub norm: RmsNorm,
    /// Rotary frequencies of the full-attention layers ([`LlamaConfig::inverse_frequencies`]).
    #[module(skip)]
    pub inv_freq: Vec<f32>,
    /// Those of the sliding-window layers (Gemma 3's local RoPE base).
    #[module(skip)]
    pub local_inv_freq: Vec<f32>,
    /// Embeddings are multiplied by this (Gemma: `√hidden_size`; 1 otherwise).
    pub embed_scale: f64,
    /// Gemma's `(1 + w)` final norm.
    pub unit_offset_norms: bool,
    /// `embed_tokens` when its weights stay in the GGUF file's blocks.
    #[module(skip)]
    pub frozen: FrozenWeights,
}

impl LlamaModel {
    /// `input_ids`: [batch, seq]; `attention_mask` (1 = token, 0 = padding): [batch, past + seq],
    /// or `None` for no padding; `cache`: the positions seen so far, extended here →
    /// [batch, seq, hidden] after the final norm.
    pub fn forward(&self, input_ids: Tensor<2, Int>, attention_mask: Option<Tensor<2, Int>>, mut cache: Option<&mut KvCache>) -> Tensor<3> {
        let device = input_ids.device();
        let [batch, seq] = input_ids.dims();
        let past = cache.as_ref().map_or(0, |c| c.len());
        let mask_bias = causal_mask_bias(attention_mask, batch, seq, past, &device);
        let positions = Positions::new(self.layers.iter().map(|l| l.attention), [&self.inv_freq, &self.local_inv_freq], mask_bias, past, seq, &device);
        let mut slots = cache.as_deref_mut().map(|c| c.slots(self.layers.len()));
        let mut x = match self.frozen.get("embed_tokens") {
            Some(frozen) => frozen.lookup(input_ids),
            None => self.embed_tokens.forward(input_ids),
        }; // [batch, seq, hidden]
        if self.embed_scale != 1.0 {
            x = x.mul_scalar(self.embed_scale as f32);
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let slot = slots.as_deref_mut().map(|s| &mut s[i]);
            let (rope, mask) = positions.of(layer.attention);
            x = layer.forward(x, rope, mask, slot);
        }
        rms_norm(&self.norm, x, self.unit_offset_norms)
    }
}

/// A forward pass's rotary tables and attention masks: the full-attention layers', and — when the
/// model has sliding-window layers (Gemma 3's local ones, all with one window) — theirs, with
/// their own RoPE base, made once per pass.
pub(crate) struct Positions {
    rope: Rope,
    mask: Tensor<4>,
    local: Option<(Rope, Tensor<4>)>,
}

impl Positions {
    /// For layers attending as `layers` say; `inv_freq`: the full and the sliding layers'
    /// frequencies; `mask_bias`: the causal (and padding) mask of `seq` new positions after `past`.
    pub(crate) fn new(
        mut layers: impl Iterator<Item = LayerAttention>,
        [inv_freq, local_inv_freq]: [&[f32]; 2],
        mask_bias: Tensor<4>,
        past: usize,
        seq: usize,
        device: &Device,
    ) -> Self {
        let window = layers.find_map(|a| match a {
            LayerAttention::Sliding { window } => Some(window),
            LayerAttention::Full => None,
        });
        let local = window.map(|w| (Rope::new(local_inv_freq, past, seq, device), mask_bias.clone() + sliding_window_bias(seq, past, w, device)));
        Positions { rope: Rope::new(inv_freq, past, seq, device), mask: mask_bias, local }
    }

    /// The RoPE and mask of a layer that attends as `attention` says.
    pub(crate) fn of(&self, attention: LayerAttention) -> (&Rope, Tensor<4>) {
        match (attention, &self.local) {
            (LayerAttention::Sliding { .. }, Some((rope, mask))) => (rope, mask.clone()),
            _ => (&self.rope, self.mask.clone()),
        }
    }
}

/// The decoder with its language-model head (HF `LlamaForCausalLM`).
#[derive(Module, Debug)]
pub struct LlamaForCausalLM {
    pub model: LlamaModel,
    /// `None` when the head is tied to `model.embed_tokens`.
    pub lm_head: Option<Linear>,
    /// The config it was built from (it travels with the weights).
    #[module(skip)]
    pub config: LlamaConfig,
    /// `lm_head` when its weights stay in the GGUF file's blocks (a tied head is the model's
    /// `embed_tokens`).
    #[module(skip)]
    pub frozen: FrozenWeights,
}

impl LlamaForCausalLM {
    /// A randomly initialised model (weights are then loaded by `weights::llama`).
    pub fn new(c: &LlamaConfig, device: &Device) -> Self {
        LlamaForCausalLM {
            model: LlamaModel {
                embed_tokens: EmbeddingConfig::new(c.vocab_size, c.hidden_size).init(device),
                layers: (0..c.num_hidden_layers).map(|i| LlamaLayer::new(c, i, device)).collect(),
                norm: c.rms_norm(device),
                inv_freq: c.inverse_frequencies(),
                local_inv_freq: c.sliding_inverse_frequencies(),
                embed_scale: c.embed_scale(),
                unit_offset_norms: c.is_gemma3(),
                frozen: FrozenWeights::default(),
            },
            lm_head: (!c.tie_word_embeddings)
                .then(|| LinearConfig::new(c.hidden_size, c.vocab_size).with_bias(false).init(device)),
            config: c.clone(),
            frozen: FrozenWeights::default(),
        }
    }

    /// Next-token logits for every position: `input_ids` [batch, seq] → [batch, seq, vocab].
    pub fn forward(&self, input_ids: Tensor<2, Int>, attention_mask: Option<Tensor<2, Int>>, cache: Option<&mut KvCache>) -> Tensor<3> {
        self.logits(self.model.forward(input_ids, attention_mask, cache))
    }

    /// Logits of the last position only (what generation needs): [batch, seq] → [batch, vocab].
    pub fn forward_last(&self, input_ids: Tensor<2, Int>, cache: Option<&mut KvCache>) -> Tensor<2> {
        let hidden = self.model.forward(input_ids, None, cache);
        let [batch, seq, h] = hidden.dims();
        let logits = self.logits(hidden.slice([0..batch, seq - 1..seq, 0..h])); // [batch, 1, vocab]
        let vocab = logits.dims()[2];
        logits.reshape([batch, vocab])
    }

    /// [batch, seq, hidden] → [batch, seq, vocab].
    fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        if let Some(frozen) = self.frozen_head() {
            return frozen.matmul(hidden);
        }
        match &self.lm_head {
            Some(head) => linear(head, hidden),
            None => hidden.matmul(self.model.embed_tokens.weight.val().transpose().unsqueeze::<3>()),
        }
    }

    /// The head's matrix when it stays in the GGUF file's blocks (its own, or the tied embedding's).
    pub fn frozen_head(&self) -> Option<&FrozenMatrix> {
        match &self.lm_head {
            Some(_) => self.frozen.get("lm_head"),
            None => self.model.frozen.get("embed_tokens"),
        }
    }
}
