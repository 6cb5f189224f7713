//! A Llama-family decoder on the GPU whose matrices stay quantized
//! ([`crate::kernels::gpu_quantized::GpuQMatrix`]: about the GGUF file's size in GPU memory,
//! decoded inside the product kernels), for inference. Norms, rotary positions and attention are
//! [`super::llama`]'s (Burn's `RmsNorm`, `Rope`, `attend`); the q/k rows are put back in Hugging
//! Face's order on upload, so rotate-half RoPE applies. LoRA trains beside the matrices as they
//! are ([`GpuPackedLlama::frozen`]); full fine-tuning and export take them dequantized
//! ([`GpuPackedLlama::dequantized`]): the GGUF file is not kept.

use std::sync::Arc;

use burn::{
    module::{Module, Param},
    nn::RmsNorm,
    tensor::{Device, Int, Tensor, TensorData, activation::silu},
};

use super::{
    activation::gelu_tanh,
    kv_cache::{KvCache, causal_mask_bias},
    llama::{AttentionShape, LayerAttention, LlamaConfig, LlamaForCausalLM, Positions, attend, rms_norm},
    llama_frozen::{FrozenLayer, assemble, densified},
    llama_packed::{PackedLlama, PackedWeights},
};
use crate::kernels::{frozen::FrozenMatrix, gpu_matrix::GpuMatrix};

/// One decoder block on the GPU.
#[derive(Clone, Debug)]
struct GpuLayer {
    attn_norm: RmsNorm,
    ffn_norm: RmsNorm,
    q: GpuMatrix,
    k: GpuMatrix,
    v: GpuMatrix,
    o: GpuMatrix,
    gate: GpuMatrix,
    up: GpuMatrix,
    down: GpuMatrix,
    /// q, k, v, o biases (`attention_bias` models; q/k in Hugging Face's order).
    bias: Option<[Tensor<1>; 4]>,
    /// Qwen3, Gemma 3: the RMSNorm of each query and of each key head.
    qk_norm: Option<[RmsNorm; 2]>,
    /// Gemma 3: norms of the attention's and of the MLP's output, before each residual add.
    post_norms: Option<[RmsNorm; 2]>,
    attention: LayerAttention,
}

#[derive(Clone, Debug)]
struct GpuWeights {
    embed: GpuMatrix,
    layers: Vec<GpuLayer>,
    norm: RmsNorm,
    /// `None`: tied to `embed`.
    head: Option<GpuMatrix>,
    shape: AttentionShape,
    inv_freq: Vec<f32>,
    /// Those of sliding-window layers.
    local_inv_freq: Vec<f32>,
    /// Embeddings are multiplied by this (Gemma: √hidden).
    embed_scale: f32,
    /// Gemma's `1 + w` norms.
    unit_offset_norms: bool,
    /// Gemma's tanh GELU instead of SiLU.
    gelu_tanh: bool,
}

impl GpuWeights {
    /// The language-model head (the embedding matrix when tied).
    fn head(&self) -> &GpuMatrix {
        self.head.as_ref().unwrap_or(&self.embed)
    }
}

/// The decoder, as a Burn module with no parameters (fine-tuning and export take its
/// [`GpuPackedLlama::dequantized`] model).
#[derive(Module, Debug)]
pub struct GpuPackedLlama {
    #[module(skip)]
    weights: Arc<GpuWeights>,
    /// The ggml types of the matrices, most used first.
    #[module(skip)]
    pub types: Vec<&'static str>,
    /// The file's config (its `llama.*` metadata).
    #[module(skip)]
    pub config: LlamaConfig,
}

impl GpuPackedLlama {
    /// Uploads a packed model's weights to `device` (a GPU: the kernels run on CubeCL runtimes,
    /// binding at most `max_binding` bytes per buffer: a larger embedding or head goes up in parts).
    pub fn upload(packed: &PackedLlama, device: &Device, max_binding: Option<u64>) -> Self {
        let w: &PackedWeights = &packed.weights;
        let vector = |v: &Vec<f32>| Tensor::<1>::from_data(TensorData::new(v.clone(), [v.len()]), device);
        // llama.cpp's permuted q/k rows back in Hugging Face's order (Qwen2's files keep it)
        let order = |heads: usize| w.qk_permuted.then(|| crate::formats::gguf::hf_row_order(heads, w.head_dim));
        let (q_order, k_order) = (order(w.heads), order(w.kv_heads));
        let in_order = |v: &Vec<f32>, order: &Option<Vec<usize>>| match order {
            Some(order) => vector(&order.iter().map(|&r| v[r]).collect()),
            None => vector(v),
        };
        let norm = |gamma: &Vec<f32>| RmsNorm { gamma: Param::from_tensor(vector(gamma)), epsilon: w.eps as f64 };
        let norms = |pair: &Option<[Vec<f32>; 2]>| pair.as_ref().map(|[a, b]| [norm(a), norm(b)]);
        let layers = w
            .layers
            .iter()
            .map(|l| GpuLayer {
                attn_norm: norm(&l.attn_norm),
                ffn_norm: norm(&l.ffn_norm),
                q: GpuMatrix::upload(&l.q, q_order.as_deref(), device),
                k: GpuMatrix::upload(&l.k, k_order.as_deref(), device),
                v: GpuMatrix::upload(&l.v, None, device),
                o: GpuMatrix::upload(&l.o, None, device),
                gate: GpuMatrix::upload(&l.gate, None, device),
                up: GpuMatrix::upload(&l.up, None, device),
                down: GpuMatrix::upload(&l.down, None, device),
                bias: l.bias.as_ref().map(|[q, k, v, o]| [in_order(q, &q_order), in_order(k, &k_order), vector(v), vector(o)]),
                qk_norm: norms(&l.qk_norm),
                post_norms: norms(&l.post_norms),
                attention: l.attention,
            })
            .collect();
        let weights = GpuWeights {
            embed: GpuMatrix::upload_bound(&w.embed, max_binding, device),
            layers,
            norm: norm(&w.norm),
            head: w.head.as_ref().map(|h| GpuMatrix::upload_bound(h, max_binding, device)),
            shape: AttentionShape { heads: w.heads, kv_heads: w.kv_heads, head_dim: w.head_dim, scaling: w.scaling as f64 },
            inv_freq: w.inv_freq.clone(),
            local_inv_freq: w.local_inv_freq.clone(),
            embed_scale: w.embed_scale,
            unit_offset_norms: w.unit_offset_norms,
            gelu_tanh: w.gelu_tanh,
        };
        GpuPackedLlama { weights: Arc::new(weights), types: w.types(), config: packed.config.clone() }
    }

    /// The dense f32 model of these weights, on their GPU (to fine-tune or export it): the values
    /// the file dequantizes to, q/k rows in Hugging Face's order.
    pub fn dequantized(&self) -> LlamaForCausalLM {
        densified(self.frozen())
    }

    /// The trainable model of these weights whose matrices stay quantized on the GPU (LoRA beside
    /// them, QLoRA): each layer's own weight is a placeholder, its [`FrozenMatrix`] computes.
    pub fn frozen(&self) -> LlamaForCausalLM {
        let w = &self.weights;
        let device = w.norm.gamma.device();
        let frozen = |m: &GpuMatrix| FrozenMatrix::Gpu { matrix: m.clone(), device: device.clone() };
        let layers = w
            .layers
            .iter()
            .map(|g| FrozenLayer {
                matrices: [&g.q, &g.k, &g.v, &g.o, &g.gate, &g.up, &g.down].map(frozen),
                biases: g.bias.clone(),
                attn_norm: g.attn_norm.clone(),
                ffn_norm: g.ffn_norm.clone(),
                qk_norm: g.qk_norm.clone(),
                post_norms: g.post_norms.clone(),
            })
            .collect();
        assemble(&self.config, &device, frozen(&w.embed), layers, w.norm.clone(), w.head.as_ref().map(frozen))
    }

    /// Bytes the weights take on the GPU.
    pub fn bytes(&self) -> usize {
        let w = &self.weights;
        let vector = |v: &Tensor<1>| v.shape().num_elements() * 4;
        let norms = |l: &GpuLayer| {
            let pairs = [&l.qk_norm, &l.post_norms].into_iter().flatten().flatten().map(|n| n.num_params()).sum::<usize>();
            (l.attn_norm.num_params() + l.ffn_norm.num_params() + pairs) * 4
        };
        let layers: usize = w
            .layers
            .iter()
            .map(|l| {
                [&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down].iter().map(|m| m.bytes()).sum::<usize>()
                    + norms(l)
                    + l.bias.as_ref().map_or(0, |b| b.iter().map(vector).sum())
            })
            .sum();
        w.embed.bytes() + layers + w.norm.num_params() * 4 + w.head.as_ref().map_or(0, GpuMatrix::bytes)
    }

    /// Hidden states after the final norm: [batch, seq] → [batch, seq, hidden] (`attention_mask`:
    /// 1 = token, 0 = padding; `cache`: the positions seen so far, extended here).
    fn hidden(&self, input_ids: Tensor<2, Int>, attention_mask: Option<Tensor<2, Int>>, mut cache: Option<&mut KvCache>) -> Tensor<3> {
        let w = &self.weights;
        let device = input_ids.device();
        let [batch, seq] = input_ids.dims();
        let past = cache.as_ref().map_or(0, |c| c.len());
        let mask_bias = causal_mask_bias(attention_mask, batch, seq, past, &device);
        let positions = Positions::new(w.layers.iter().map(|l| l.attention), [&w.inv_freq, &w.local_inv_freq], mask_bias, past, seq, &device);
        let mut slots = cache.as_deref_mut().map(|c| c.slots(w.layers.len()));
        let biased = |y: Tensor<3>, bias: Option<&Tensor<1>>| match bias {
            Some(b) => y + b.clone().unsqueeze::<3>(),
            None => y,
        };
        let norm = |n: &RmsNorm, x: Tensor<3>| rms_norm(n, x, w.unit_offset_norms);
        let d = w.shape.head_dim;
        let per_head = |n: &RmsNorm, t: Tensor<3>| {
            let [b, s, width] = t.dims();
            rms_norm(n, t.reshape([b, s, width / d, d]), w.unit_offset_norms).reshape([b, s, width])
        };
        let mut x = w.embed.rows(input_ids);
        if w.embed_scale != 1.0 {
            x = x.mul_scalar(w.embed_scale);
        }
        for (i, layer) in w.layers.iter().enumerate() {
            let slot = slots.as_deref_mut().map(|s| &mut s[i]);
            let bias = |j: usize| layer.bias.as_ref().map(|b| &b[j]);
            let xn = norm(&layer.attn_norm, x.clone());
            let mut q = biased(layer.q.matmul(xn.clone()), bias(0));
            let mut k = biased(layer.k.matmul(xn.clone()), bias(1));
            let v = biased(layer.v.matmul(xn), bias(2));
            if let Some([qn, kn]) = &layer.qk_norm {
                (q, k) = (per_head(qn, q), per_head(kn, k));
            }
            let (rope, mask) = positions.of(layer.attention);
            let mut out = biased(layer.o.matmul(attend(q, k, v, w.shape, rope, mask, slot)), bias(3));
            if let Some([after_attention, _]) = &layer.post_norms {
                out = norm(after_attention, out);
            }
            x = x + out;
            let xn = norm(&layer.ffn_norm, x.clone());
            let gate = layer.gate.matmul(xn.clone());
            let gate = if w.gelu_tanh { gelu_tanh(gate) } else { silu(gate) };
            let mut out = layer.down.matmul(gate * layer.up.matmul(xn));
            if let Some([_, after_mlp]) = &layer.post_norms {
                out = norm(after_mlp, out);
            }
            x = x + out;
        }
        norm(&w.norm, x)
    }

    /// Next-token logits for every position: [batch, seq] → [batch, seq, vocab].
    pub fn forward(&self, input_ids: Tensor<2, Int>, attention_mask: Option<Tensor<2, Int>>, cache: Option<&mut KvCache>) -> Tensor<3> {
        let [batch, seq] = input_ids.dims();
        if batch == 0 || seq == 0 {
            return Tensor::zeros([batch, seq, self.vocab()], &input_ids.device()); // no kernel launch with nothing to do
        }
        let hidden = self.hidden(input_ids, attention_mask, cache);
        self.weights.head().matmul(hidden)
    }

    fn vocab(&self) -> usize {
        self.weights.embed.row_count()
    }

    /// Logits of the last position only: [batch, seq] → [batch, vocab].
    pub fn forward_last(&self, input_ids: Tensor<2, Int>, cache: Option<&mut KvCache>) -> Tensor<2> {
        let [batch, seq] = input_ids.dims();
        if batch == 0 || seq == 0 {
            return Tensor::zeros([batch, self.vocab()], &input_ids.device()); // nothing read: no logits to speak of
        }
        let hidden = self.hidden(input_ids, None, cache);
        let [batch, seq, h] = hidden.dims();
        let logits = self.weights.head().matmul(hidden.slice([0..batch, seq - 1..seq, 0..h]));
        let vocab = logits.dims()[2];
        logits.reshape([batch, vocab])
    }
}
