//! GPT-2 (Radford et al. 2019), following Hugging Face `modeling_gpt2.py`: token + learned
//! position embeddings → N × pre-LayerNorm blocks (fused-QKV causal self-attention, `gelu_new`
//! MLP) → final LayerNorm → LM head tied to the token embeddings.
//!
//! Field names are the checkpoint's (`transformer.h.N.attn.c_attn`, …). HF's `Conv1D` keeps its
//! weight as `[in, out]`, which is Burn's `Linear` layout: `weights::gpt2` loads it as is.

use burn::{
    module::{Module, Param},
    nn::{
        Dropout, DropoutConfig, Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig,
        activation::{Activation, ActivationConfig},
    },
    tensor::{Device, Int, Tensor, TensorData, module::embedding},
};
use serde::{Deserialize, Serialize};

use super::{
    activation::activate,
    kv_cache::{KvCache, LayerCache, causal_mask_bias},
    shape::DecoderShape,
};
use crate::kernels::{linear::linear_with_adapter_dropout, softmax::softmax_last};
use crate::{Error, Result};

/// Hugging Face `GPT2Config`, read straight from `config.json` (missing fields take HF's defaults).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Gpt2Config {
    #[serde(default = "defaults::vocab_size")]
    pub vocab_size: usize,
    /// Longest sequence (learned position embeddings).
    #[serde(default = "defaults::n_positions")]
    pub n_positions: usize,
    #[serde(default = "defaults::n_embd")]
    pub n_embd: usize,
    #[serde(default = "defaults::n_layer")]
    pub n_layer: usize,
    #[serde(default = "defaults::n_head")]
    pub n_head: usize,
    /// The MLP's width (default 4 · `n_embd`).
    #[serde(default)]
    pub n_inner: Option<usize>,
    /// `"gelu_new"` (tanh approximation, GPT-2's), `"gelu"`, `"gelu_pytorch_tanh"`, `"relu"`.
    #[serde(default = "defaults::activation_function")]
    pub activation_function: String,
    #[serde(default = "defaults::dropout")]
    pub resid_pdrop: f64,
    #[serde(default = "defaults::dropout")]
    pub embd_pdrop: f64,
    #[serde(default = "defaults::dropout")]
    pub attn_pdrop: f64,
    #[serde(default = "defaults::layer_norm_epsilon")]
    pub layer_norm_epsilon: f64,
    #[serde(default = "defaults::token")]
    pub bos_token_id: Option<u32>,
    #[serde(default = "defaults::token")]
    pub eos_token_id: Option<u32>,
    #[serde(default = "defaults::yes")]
    pub tie_word_embeddings: bool,
    #[serde(default = "defaults::yes")]
    pub scale_attn_weights: bool,
    #[serde(default)]
    pub scale_attn_by_inverse_layer_idx: bool,
    #[serde(default)]
    pub reorder_and_upcast_attn: bool,
    #[serde(default)]
    pub model_type: Option<String>,
}

#[rustfmt::skip]
mod defaults {
    pub fn vocab_size() -> usize { 50257 }
    pub fn n_positions() -> usize { 1024 }
    pub fn n_embd() -> usize { 768 }
    pub fn n_layer() -> usize { 12 }
    pub fn n_head() -> usize { 12 }
    pub fn activation_function() -> String { "gelu_new".into() }
    pub fn dropout() -> f64 { 0.1 }
    pub fn layer_norm_epsilon() -> f64 { 1e-5 }
    pub fn token() -> Option<u32> { Some(50256) }
    pub fn yes() -> bool { true }
}

impl Gpt2Config {
    /// Parses and validates a Hugging Face `config.json`.
    pub fn from_json(text: &str) -> Result<Self> {
        let cfg: Gpt2Config = serde_json::from_str(text)
            .map_err(|e| Error::Weights(format!("config.json is not a valid GPT-2 config: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// `config.json` as transformers writes it for a `GPT2LMHeadModel` (f32 weights).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let mut v = serde_json::to_value(self).map_err(|e| Error::Weights(format!("writing config.json: {e}")))?;
        if let Some(obj) = v.as_object_mut() {
            obj.retain(|_, value| !value.is_null());
            obj.insert("architectures".into(), serde_json::json!(["GPT2LMHeadModel"]));
            obj.insert("model_type".into(), "gpt2".into());
            obj.insert("torch_dtype".into(), "float32".into());
        }
        serde_json::to_vec_pretty(&v).map_err(|e| Error::Weights(format!("writing config.json: {e}")))
    }

    /// Checks what the model code supports, naming the field that does not fit.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Weights(format!("config.json: {m}")));
        if let Some(t) = &self.model_type
            && t != "gpt2"
        {
            return bad(format!("model_type {t:?} is not GPT-2 (expected \"gpt2\")"));
        }
        if self.n_layer == 0 || self.vocab_size == 0 || self.n_positions == 0 || self.inner() == 0 {
            return bad(format!(
                "n_layer {}, vocab_size {}, n_positions {} and n_inner {} must be at least 1",
                self.n_layer,
                self.vocab_size,
                self.n_positions,
                self.inner()
            ));
        }
        if self.n_head == 0 || self.n_embd == 0 || !self.n_embd.is_multiple_of(self.n_head) {
            return bad(format!("n_embd {} must be a positive multiple of n_head {}", self.n_embd, self.n_head));
        }
        for (name, p) in [("resid_pdrop", self.resid_pdrop), ("embd_pdrop", self.embd_pdrop), ("attn_pdrop", self.attn_pdrop)] {
            if !(0.0..1.0).contains(&p) {
                return bad(format!("{name} {p} must be in [0, 1) (a probability; 0.1 is usual)"));
            }
        }
        if !(self.layer_norm_epsilon.is_finite() && self.layer_norm_epsilon >= 0.0) {
            return bad(format!("layer_norm_epsilon {} must be a small non-negative number (1e-5 is usual)", self.layer_norm_epsilon));
        }
        if !self.tie_word_embeddings {
            return bad("tie_word_embeddings false is not supported: GPT-2's head is its token embeddings".into());
        }
        if self.scale_attn_by_inverse_layer_idx || self.reorder_and_upcast_attn || !self.scale_attn_weights {
            return bad("scale_attn_by_inverse_layer_idx, reorder_and_upcast_attn and scale_attn_weights false are not supported (GPT-2's own settings are)".into());
        }
        for (name, id) in [("bos_token_id", self.bos_token_id), ("eos_token_id", self.eos_token_id)] {
            if let Some(id) = id
                && id as usize >= self.vocab_size
            {
                return bad(format!("{name} {id} is not a token id below vocab_size {}", self.vocab_size));
            }
        }
        self.activation().map(|_| ())
    }

    /// Rows per part of the token-embedding table on a GPU that binds at most `max_binding` bytes
    /// per buffer: `None` when the whole table fits (GPT-2-small's 50257 × 768 f32 is 154 MB,
    /// over WebGPU's default 128 MiB, which phones and integrated GPUs keep). An
    /// `OutOfMemoryError` when not even one row fits.
    pub fn embedding_rows_per_part(&self, max_binding: u64) -> Result<Option<usize>> {
        let row = (self.n_embd as u64).saturating_mul(4);
        if row.saturating_mul(self.vocab_size as u64) <= max_binding {
            return Ok(None);
        }
        match max_binding / row.max(1) {
            0 => Err(Error::OutOfMemory(format!(
                "one token embedding ({} f32) is larger than the {max_binding} bytes this GPU binds per buffer; use device \"cpu\"",
                self.n_embd
            ))),
            rows => Ok(Some(rows as usize)),
        }
    }

    /// The MLP's width.
    pub fn inner(&self) -> usize {
        self.n_inner.unwrap_or(self.n_embd.saturating_mul(4))
    }

    /// Number of weights; saturates instead of overflowing, so an absurd config gives a number too
    /// large to load.
    pub fn parameters(&self) -> u64 {
        let n = |x: usize| x as u64;
        let (h, i) = (n(self.n_embd), n(self.inner()));
        let embeddings = n(self.vocab_size).saturating_add(n(self.n_positions)).saturating_mul(h);
        // ln_1, ln_2 (2h each), c_attn (3h² + 3h), c_proj (h² + h), c_fc (hi + i), mlp c_proj (ih + h)
        let block = [4 * h, h.saturating_mul(h).saturating_mul(4), 4 * h, h.saturating_mul(i).saturating_mul(2), i, h]
            .into_iter()
            .fold(0u64, u64::saturating_add);
        [embeddings, n(self.n_layer).saturating_mul(block), 2 * h].into_iter().fold(0u64, u64::saturating_add)
    }

    /// What a training run's memory plan reads. Kept per layer: 2 LayerNorm inputs/outputs, the
    /// fused Q/K/V (3 ×), context, projections and residuals (~12 × [b, s, h]); the MLP's input and
    /// activation (2 × [b, s, i]); scores, probabilities and the dropout mask (3 × [b, heads, s, s]).
    /// The loss is taken from the whole batch's logits.
    pub fn shape(&self) -> DecoderShape {
        DecoderShape {
            parameters: self.parameters(),
            layers: self.n_layer,
            heads: self.n_head,
            hidden: self.n_embd,
            inner: self.inner(),
            vocab: self.vocab_size,
            per_layer: [12, 2, 3],
            chunked_loss: false,
        }
    }

    /// The `(in, out)` shapes of the projections a LoRA target module names in each block
    /// (`LoraOptions::validate` has refused any other name).
    pub fn lora_projections(&self, module: &str) -> Vec<(usize, usize)> {
        let (h, i) = (self.n_embd, self.inner());
        match module {
            "c_attn" => vec![(h, 3 * h)],
            "c_fc" => vec![(h, i)],
            _ => vec![(h, h), (i, h)], // c_proj: the attention's and the MLP's
        }
    }

    fn activation(&self) -> Result<ActivationConfig> {
        match self.activation_function.as_str() {
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(ActivationConfig::GeluApproximate),
            "gelu" => Ok(ActivationConfig::Gelu),
            "relu" => Ok(ActivationConfig::Relu),
            other => Err(Error::Weights(format!(
                "config.json: activation_function {other:?} is not supported; supported: \"gelu_new\", \"gelu_pytorch_tanh\", \"gelu\", \"relu\""
            ))),
        }
    }

    fn layer_norm(&self, device: &Device) -> LayerNorm {
        LayerNormConfig::new(self.n_embd).with_epsilon(self.layer_norm_epsilon).init(device)
    }
}

/// Causal self-attention with one fused projection for queries, keys and values (HF `GPT2Attention`).
#[derive(Module, Debug)]
pub struct Gpt2Attention {
    /// `[n_embd, 3 · n_embd]`: queries, keys, values side by side.
    pub c_attn: Linear,
    pub c_proj: Linear,
    pub attn_dropout: Dropout,
    pub resid_dropout: Dropout,
    /// Dropout on LoRA adapters' input (PEFT's `lora_dropout`; probability 0 without adapters).
    pub adapter_dropout: Dropout,
    pub n_head: usize,
}

impl Gpt2Attention {
    /// `x`: [batch, seq, n_embd]; `mask_bias`: [batch or 1, 1, seq, past + seq]; `cache`: this
    /// layer's keys/values so far, extended here → [batch, seq, n_embd].
    pub fn forward(&self, x: Tensor<3>, mask_bias: Tensor<4>, cache: Option<&mut LayerCache>) -> Tensor<3> {
        let [batch, seq, h] = x.dims();
        let d = h / self.n_head;
        let proj = |layer: &Linear, x: Tensor<3>| linear_with_adapter_dropout(layer, x, &self.adapter_dropout);
        let qkv = proj(&self.c_attn, x); // [batch, seq, 3h]
        let heads = |part: usize| qkv.clone().slice([0..batch, 0..seq, part * h..(part + 1) * h]).reshape([batch, seq, self.n_head, d]).swap_dims(1, 2);
        let (q, mut k, mut v) = (heads(0), heads(1), heads(2)); // [batch, heads, seq, d]
        if let Some(slot) = cache {
            if let Some((past_k, past_v)) = slot.take() {
                k = Tensor::cat(vec![past_k, k], 2);
                v = Tensor::cat(vec![past_v, v], 2);
            }
            *slot = Some((k.clone(), v.clone()));
        }
        let scores = q.matmul(k.swap_dims(2, 3)) / (d as f64).sqrt() + mask_bias; // [batch, heads, seq, total]
        let out = self.attn_dropout.forward(softmax_last(scores)).matmul(v); // [batch, heads, seq, d]
        self.resid_dropout.forward(proj(&self.c_proj, out.swap_dims(1, 2).reshape([batch, seq, h])))
    }
}

/// `c_proj(act(c_fc(x)))`, then dropout (HF `GPT2MLP`).
#[derive(Module, Debug)]
pub struct Gpt2Mlp {
    pub c_fc: Linear,
    pub c_proj: Linear,
    pub act: Activation,
    pub dropout: Dropout,
    /// Dropout on LoRA adapters' input (PEFT's `lora_dropout`; probability 0 without adapters).
    pub adapter_dropout: Dropout,
}

impl Gpt2Mlp {
    /// [batch, seq, n_embd] → [batch, seq, n_embd].
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let proj = |layer: &Linear, x: Tensor<3>| linear_with_adapter_dropout(layer, x, &self.adapter_dropout);
        self.dropout.forward(proj(&self.c_proj, activate(&self.act, proj(&self.c_fc, x))))
    }
}

/// One pre-LayerNorm block (HF `GPT2Block`).
#[derive(Module, Debug)]
pub struct Gpt2Block {
    pub ln_1: LayerNorm,
    pub attn: Gpt2Attention,
    pub ln_2: LayerNorm,
    pub mlp: Gpt2Mlp,
}

impl Gpt2Block {
    fn new(c: &Gpt2Config, device: &Device) -> Result<Self> {
        let h = c.n_embd;
        let lin = |i, o| LinearConfig::new(i, o).init(device);
        Ok(Gpt2Block {
            ln_1: c.layer_norm(device),
            attn: Gpt2Attention {
                c_attn: lin(h, 3 * h),
                c_proj: lin(h, h),
                attn_dropout: DropoutConfig::new(c.attn_pdrop).init(),
                resid_dropout: DropoutConfig::new(c.resid_pdrop).init(),
                adapter_dropout: DropoutConfig::new(0.0).init(),
                n_head: c.n_head,
            },
            ln_2: c.layer_norm(device),
            mlp: Gpt2Mlp {
                c_fc: lin(h, c.inner()),
                c_proj: lin(c.inner(), h),
                act: c.activation()?.init(device),
                dropout: DropoutConfig::new(c.resid_pdrop).init(),
                adapter_dropout: DropoutConfig::new(0.0).init(),
            },
        })
    }

    /// [batch, seq, n_embd] → [batch, seq, n_embd].
    pub fn forward(&self, x: Tensor<3>, mask_bias: Tensor<4>, cache: Option<&mut LayerCache>) -> Tensor<3> {
        let x = x.clone() + self.attn.forward(self.ln_1.forward(x), mask_bias, cache);
        x.clone() + self.mlp.forward(self.ln_2.forward(x))
    }
}

/// The stack without a head (HF `GPT2Model`).
#[derive(Module, Debug)]
pub struct Gpt2Model {
    pub wte: Embedding,
    pub wpe: Embedding,
    pub drop: Dropout,
    pub h: Vec<Gpt2Block>,
    pub ln_f: LayerNorm,
    /// The token embeddings in row chunks, when the table is larger than the GPU binds as one
    /// buffer (`wte` is then empty; see [`Gpt2Config::embedding_rows_per_part`]); else empty.
    pub wte_parts: Vec<Param<Tensor<2>>>,
}

impl Gpt2Model {
    /// `input_ids`: [batch, seq]; `attention_mask` (1 = token, 0 = padding, right-padded):
    /// [batch, past + seq], or `None` for no padding; `cache`: the positions seen so far, extended
    /// here → [batch, seq, n_embd] after the final LayerNorm. Positions count from the cached
    /// length (`n_positions` at most: the caller checks).
    pub fn forward(&self, input_ids: Tensor<2, Int>, attention_mask: Option<Tensor<2, Int>>, mut cache: Option<&mut KvCache>) -> Tensor<3> {
        let device = input_ids.device();
        let [batch, seq] = input_ids.dims();
        let past = cache.as_ref().map_or(0, |c| c.len());
        let positions = Tensor::<1, Int>::arange(past as i64..(past + seq) as i64, &device).unsqueeze::<2>().expand([batch, seq]);
        let mask_bias = causal_mask_bias(attention_mask, batch, seq, past, &device);
        let mut slots = cache.as_deref_mut().map(|c| c.slots(self.h.len()));
        let mut x = self.drop.forward(self.embed_tokens(input_ids) + self.wpe.forward(positions)); // [batch, seq, n_embd]
        for (i, block) in self.h.iter().enumerate() {
            let slot = slots.as_deref_mut().map(|s| &mut s[i]);
            x = block.forward(x, mask_bias.clone(), slot);
        }
        self.ln_f.forward(x)
    }

    /// The token-embedding table as `(first id, rows)` parts: the whole table, or its chunks.
    fn vocab_parts(&self) -> Vec<(usize, Tensor<2>)> {
        if self.wte_parts.is_empty() {
            return vec![(0, self.wte.weight.val())];
        }
        let mut start = 0;
        self.wte_parts
            .iter()
            .map(|part| {
                let first = start;
                start += part.dims()[0];
                (first, part.val())
            })
            .collect()
    }

    /// Rows of the token-embedding table (the vocabulary size).
    pub fn vocab(&self) -> usize {
        if self.wte_parts.is_empty() { self.wte.weight.dims()[0] } else { self.wte_parts.iter().map(|p| p.dims()[0]).sum() }
    }

    /// `wte[ids]`: [batch, seq] → [batch, seq, n_embd], one lookup per part of the table (each id
    /// is found in exactly one; the others contribute zeros).
    fn embed_tokens(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        if self.wte_parts.is_empty() {
            return self.wte.forward(ids);
        }
        let [batch, seq] = ids.dims();
        let looked_up = self.vocab_parts().into_iter().map(|(start, part)| {
            let [rows, width] = part.dims();
            let local = ids.clone().sub_scalar(start as i64).clamp(0, rows as i64 - 1);
            let elsewhere = ids.clone().lower_elem(start as i64).bool_or(ids.clone().greater_equal_elem((start + rows) as i64));
            embedding(part, local).mask_fill(elsewhere.unsqueeze_dim::<3>(2).expand([batch, seq, width]), 0.0)
        });
        let width = self.wpe.weight.dims()[1];
        looked_up.reduce(|a, b| a + b).unwrap_or_else(|| Tensor::zeros([batch, seq, width], &ids.device()))
    }
}

/// GPT-2 with its language-model head, tied to the token embeddings (HF `GPT2LMHeadModel`).
#[derive(Module, Debug)]
pub struct Gpt2LMHeadModel {
    pub transformer: Gpt2Model,
    /// The config it was built from (it travels with the weights).
    #[module(skip)]
    pub config: Gpt2Config,
}

impl Gpt2LMHeadModel {
    /// A randomly initialised model (weights are then loaded by `weights::gpt2`).
    pub fn new(c: &Gpt2Config, device: &Device) -> Result<Self> {
        Ok(Gpt2LMHeadModel {
            transformer: Gpt2Model {
                wte: EmbeddingConfig::new(c.vocab_size, c.n_embd).init(device),
                wpe: EmbeddingConfig::new(c.n_positions, c.n_embd).init(device),
                drop: DropoutConfig::new(c.embd_pdrop).init(),
                h: (0..c.n_layer).map(|_| Gpt2Block::new(c, device)).collect::<Result<_>>()?,
                ln_f: c.layer_norm(device),
                wte_parts: Vec::new(),
            },
            config: c.clone(),
        })
    }

    /// Next-token logits for every position: `input_ids` [batch, seq] → [batch, seq, vocab].
    pub fn forward(&self, input_ids: Tensor<2, Int>, attention_mask: Option<Tensor<2, Int>>, cache: Option<&mut KvCache>) -> Tensor<3> {
        self.logits(self.transformer.forward(input_ids, attention_mask, cache))
    }

    /// Logits of the last position only (what generation needs): [batch, seq] → [batch, vocab].
    pub fn forward_last(&self, input_ids: Tensor<2, Int>, cache: Option<&mut KvCache>) -> Tensor<2> {
        let hidden = self.transformer.forward(input_ids, None, cache);
        let [batch, seq, h] = hidden.dims();
        let last = hidden.slice([0..batch, seq - 1..seq, 0..h]);
        self.logits(last).reshape([batch, self.transformer.vocab()])
    }

    /// [batch, seq, n_embd] → [batch, seq, vocab] through the tied head (`x · wteᵀ`), one product
    /// per vocabulary chunk when the table is split.
    fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        let [batch, seq, h] = hidden.dims();
        let flat = hidden.reshape([batch * seq, h]);
        let mut products: Vec<Tensor<2>> = self.transformer.vocab_parts().into_iter().map(|(_, part)| flat.clone().matmul(part.transpose())).collect();
        let logits = if products.len() == 1 { products.remove(0) } else { Tensor::cat(products, 1) };
        logits.reshape([batch, seq, self.transformer.vocab()])
    }

    /// Holds the token embeddings as `parts` (row chunks, in order) instead of one table.
    pub fn with_embedding_parts(mut self, parts: Vec<Tensor<2>>) -> Self {
        let width = self.transformer.wpe.weight.dims()[1];
        let device = self.transformer.wpe.weight.device();
        self.transformer.wte.weight = Param::from_tensor(Tensor::from_data(TensorData::new(Vec::<f32>::new(), [0, width]), &device));
        self.transformer.wte_parts = parts.into_iter().map(Param::from_tensor).collect();
        self
    }
}
