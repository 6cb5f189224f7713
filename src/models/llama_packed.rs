//! A Llama-family decoder for inference on the CPU whose weights stay as the GGUF file stores them
//! (quantized blocks, read in place: weight memory is the file's size), computed on the host in
//! f32 with [`crate::kernels::quantized`]'s products — llama.cpp's way, the same mathematics as
//! [`super::llama`] (which it is tested against, and against transformers).
//!
//! llama.cpp's converter permutes the rows of q/k for interleaved RoPE; this model keeps its row
//! order and rotates adjacent pairs, which equals transformers' rotate-half on the un-permuted
//! rows (attention scores do not depend on the order of a head's dimensions, only on q and k
//! agreeing on it). The key/value cache is reserved once for the whole generation.

use std::sync::Arc;

use burn::{
    module::Module,
    tensor::{Int, Tensor, TensorData},
};

use super::{
    kv_cache::{HostKv, KvCache},
    llama::{LayerAttention, LlamaConfig},
};
use crate::kernels::quantized::QMatrix;

/// One decoder block's weights.
#[derive(Clone, Debug)]
pub struct PackedLayer {
    pub attn_norm: Vec<f32>,
    pub ffn_norm: Vec<f32>,
    pub q: QMatrix,
    pub k: QMatrix,
    pub v: QMatrix,
    pub o: QMatrix,
    pub gate: QMatrix,
    pub up: QMatrix,
    pub down: QMatrix,
    /// `attention_bias` models: q, k, v, o biases (q/k in the file's row order).
    pub bias: Option<[Vec<f32>; 4]>,
    /// Qwen3, Gemma 3: RMSNorm weights of each query and of each key head (`head_dim` each).
    pub qk_norm: Option<[Vec<f32>; 2]>,
    /// Gemma 3: norms of the attention's and of the MLP's output, before each residual add
    /// (`ffn_norm` is then the norm before the MLP).
    pub post_norms: Option<[Vec<f32>; 2]>,
    /// How far back it attends.
    pub attention: LayerAttention,
}

/// The weights and shape of a packed Llama.
#[derive(Clone, Debug)]
pub struct PackedWeights {
    pub embed: QMatrix,
    pub layers: Vec<PackedLayer>,
    pub norm: Vec<f32>,
    /// `None`: tied to `embed`.
    pub head: Option<QMatrix>,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub eps: f32,
    /// Rotary frequencies ([`super::llama::LlamaConfig::inverse_frequencies`]).
    pub inv_freq: Vec<f32>,
    /// q/k rows in llama.cpp's permuted order (`llama` files: RoPE rotates adjacent pairs), or
    /// in Hugging Face's (`qwen2`, `gemma3`: it rotates the two halves of a head).
    pub qk_permuted: bool,
    /// Those of sliding-window layers ([`super::llama::LlamaConfig::sliding_inverse_frequencies`]).
    pub local_inv_freq: Vec<f32>,
    /// Attention scores are multiplied by this ([`super::llama::LlamaConfig::attention_scaling`]).
    pub scaling: f32,
    /// Embeddings are multiplied by this (Gemma: √hidden).
    pub embed_scale: f32,
    /// Gemma: every norm scales by `1 + w` (its weights held as transformers holds them).
    pub unit_offset_norms: bool,
    /// Gemma: the MLP's gate goes through the tanh GELU instead of SiLU.
    pub gelu_tanh: bool,
}

/// The packed decoder, as a Burn module with no parameters (so it sits in `DecoderModel` beside
/// the dense families; fine-tuning and export dequantize it first).
#[derive(Module, Debug)]
pub struct PackedLlama {
    #[module(skip)]
    pub weights: Arc<PackedWeights>,
    /// The GGUF file the weights are read from (for dequantizing the model to train or export it).
    #[module(skip)]
    pub file: Arc<Vec<u8>>,
    /// The file's config (its `llama.*` metadata).
    #[module(skip)]
    pub config: LlamaConfig,
}

impl PackedWeights {
    /// Bytes of quantized and float weights held.
    pub fn bytes(&self) -> usize {
        let floats = |v: &Vec<f32>| v.len() * 4;
        let layers: usize = self
            .layers
            .iter()
            .map(|l| {
                [&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down].iter().map(|m| m.bytes()).sum::<usize>()
                    + floats(&l.attn_norm)
                    + floats(&l.ffn_norm)
                    + [&l.bias.as_ref().map(|b| &b[..]), &l.qk_norm.as_ref().map(|n| &n[..]), &l.post_norms.as_ref().map(|n| &n[..])]
                        .iter()
                        .flat_map(|v| v.iter().flat_map(|v| v.iter()))
                        .map(floats)
                        .sum::<usize>()
            })
            .sum();
        self.embed.bytes() + layers + floats(&self.norm) + self.head.as_ref().map_or(0, QMatrix::bytes)
    }

    /// The ggml types of the matrices, most used first.
    pub fn types(&self) -> Vec<&'static str> {
        let mut counts: Vec<(&'static str, usize)> = Vec::new();
        let layers = self.layers.iter().flat_map(|l| [&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down]);
        for m in layers.chain([&self.embed]).chain(&self.head) {
            match counts.iter_mut().find(|(name, _)| *name == m.kind.name()) {
                Some((_, n)) => *n += 1,
                None => counts.push((m.kind.name(), 1)),
            }
        }
        counts.sort_by_key(|c| std::cmp::Reverse(c.1));
        counts.into_iter().map(|(name, _)| name).collect()
    }

    fn hidden(&self) -> usize {
        self.embed.cols
    }

    fn vocab(&self) -> usize {
        self.embed.rows
    }

    /// Hidden states after the final norm for `ids` (one sequence), extending `cache` when given:
    /// `seq × hidden`.
    fn hidden_states(&self, ids: &[u32], cache: Option<&mut HostKv>) -> Vec<f32> {
        let (h, seq) = (self.hidden(), ids.len());
        let past = cache.as_ref().map_or(0, |c| c.len);
        let mut x = Vec::with_capacity(seq * h);
        for &id in ids {
            self.embed.dequantize_row(id as usize, &mut x);
        }
        if self.embed_scale != 1.0 {
            x.iter_mut().for_each(|v| *v *= self.embed_scale);
        }
        let (q_width, kv_width) = (self.heads * self.head_dim, self.kv_heads * self.head_dim);
        let mut local = HostKv::default();
        let cache = match cache {
            Some(c) => c,
            None => &mut local,
        };
        cache.reserve(self.layers.len(), past + seq, kv_width);
        let mut xn = vec![0.0; seq * h];
        let (mut q, mut k, mut v) = (vec![0.0; seq * q_width], vec![0.0; seq * kv_width], vec![0.0; seq * kv_width]);
        let mut attn = vec![0.0; seq * q_width];
        let mut out = vec![0.0; seq * h];
        let ffn = self.layers.first().map_or(0, |l| l.gate.rows);
        let (mut gate, mut up) = (vec![0.0; seq * ffn], vec![0.0; seq * ffn]);
        let rope = RopeTable::new(&self.inv_freq, past, seq);
        let sliding = self.layers.iter().any(|l| l.attention != LayerAttention::Full);
        let local_rope = sliding.then(|| RopeTable::new(&self.local_inv_freq, past, seq));
        for (li, layer) in self.layers.iter().enumerate() {
            self.rms_norm(&x, &layer.attn_norm, &mut xn);
            layer.q.matmul(&xn, seq, &mut q);
            layer.k.matmul(&xn, seq, &mut k);
            layer.v.matmul(&xn, seq, &mut v);
            if let Some([bq, bk, bv, _]) = &layer.bias {
                add_rows(&mut q, bq);
                add_rows(&mut k, bk);
                add_rows(&mut v, bv);
            }
            if let Some([qn, kn]) = &layer.qk_norm {
                self.rms_norm_in_place(&mut q, qn);
                self.rms_norm_in_place(&mut k, kn);
            }
            let (rope, window) = match (layer.attention, &local_rope) {
                (LayerAttention::Sliding { window }, Some(local)) => (local, window),
                _ => (&rope, usize::MAX),
            };
            rope.apply(&mut q, self.heads, self.head_dim, self.qk_permuted);
            rope.apply(&mut k, self.kv_heads, self.head_dim, self.qk_permuted);
            cache.append(li, &k, &v);
            self.attention(&q, &cache.k[li], &cache.v[li], past, seq, window, &mut attn);
            layer.o.matmul(&attn, seq, &mut out);
            if let Some([_, _, _, bo]) = &layer.bias {
                add_rows(&mut out, bo);
            }
            if let Some([after_attention, _]) = &layer.post_norms {
                self.rms_norm_in_place(&mut out, after_attention);
            }
            add(&mut x, &out);
            self.rms_norm(&x, &layer.ffn_norm, &mut xn);
            layer.gate.matmul(&xn, seq, &mut gate);
            layer.up.matmul(&xn, seq, &mut up);
            for (g, u) in gate.iter_mut().zip(&up) {
                *g = if self.gelu_tanh { gelu_tanh(*g) } else { *g / (1.0 + (-*g).exp()) } * u; // act(gate) · up
            }
            layer.down.matmul(&gate, seq, &mut out);
            if let Some([_, after_mlp]) = &layer.post_norms {
                self.rms_norm_in_place(&mut out, after_mlp);
            }
            add(&mut x, &out);
        }
        cache.len = past + seq;
        let mut normed = vec![0.0; seq * h];
        self.rms_norm(&x, &self.norm, &mut normed);
        normed
    }

    /// [`Self::rms_norm_in_place`] of `x` into `out`.
    fn rms_norm(&self, x: &[f32], weight: &[f32], out: &mut [f32]) {
        out.copy_from_slice(x);
        self.rms_norm_in_place(out, weight);
    }

    /// `x = x / sqrt(mean(x²) + eps) · w` per row of `w.len()` values (`1 + w` for Gemma): the
    /// residual stream, each head of q/k, or a block's output.
    fn rms_norm_in_place(&self, x: &mut [f32], weight: &[f32]) {
        let offset = if self.unit_offset_norms { 1.0 } else { 0.0 };
        for row in x.chunks_exact_mut(weight.len()) {
            let mean = row.iter().map(|v| v * v).sum::<f32>() / weight.len() as f32;
            let inv = 1.0 / (mean + self.eps).sqrt();
            for (v, w) in row.iter_mut().zip(weight) {
                *v = (w + offset) * (*v * inv);
            }
        }
    }

    /// Causal grouped-query attention of `seq` new queries over `past + seq` cached positions,
    /// each seeing the last `window` of them (its own included; `usize::MAX`: all).
    #[allow(clippy::too_many_arguments)]
    fn attention(&self, q: &[f32], keys: &[f32], values: &[f32], past: usize, seq: usize, window: usize, out: &mut [f32]) {
        let (d, kvh) = (self.head_dim, self.kv_heads);
        let group = self.heads / kvh;
        let mut scores = vec![0.0f32; past + seq];
        for i in 0..seq {
            let seen = past + i + 1;
            let first = seen.saturating_sub(window);
            for head in 0..self.heads {
                let kv = head / group;
                let qv = &q[(i * self.heads + head) * d..][..d];
                let scores = &mut scores[first..seen];
                for (t, s) in (first..).zip(scores.iter_mut()) {
                    *s = dot(qv, &keys[(t * kvh + kv) * d..][..d]) * self.scaling;
                }
                softmax(scores);
                let o = &mut out[(i * self.heads + head) * d..][..d];
                o.fill(0.0);
                for (t, &p) in (first..).zip(scores.iter()) {
                    for (o, v) in o.iter_mut().zip(&values[(t * kvh + kv) * d..][..d]) {
                        *o += p * v;
                    }
                }
            }
        }
    }

    /// Logits of each of the `rows` hidden states: `rows × vocab`.
    fn logits(&self, hidden: &[f32], rows: usize) -> Vec<f32> {
        let head = self.head.as_ref().unwrap_or(&self.embed);
        let mut out = vec![0.0; rows * self.vocab()];
        head.matmul(hidden, rows, &mut out);
        out
    }
}

impl PackedLlama {
    /// Next-token logits for every position (`attention_mask`: 1 = token, 0 = right padding, whose
    /// logits are left at 0): [batch, seq] → [batch, seq, vocab]. A `cache` (one sequence) is
    /// extended.
    pub fn forward(&self, input_ids: Tensor<2, Int>, attention_mask: Option<Tensor<2, Int>>, cache: Option<&mut KvCache>) -> Tensor<3> {
        let device = input_ids.device();
        let [batch, seq] = input_ids.dims();
        if seq == 0 {
            return Tensor::zeros([batch, 0, self.weights.vocab()], &device);
        }
        let ids = ints(input_ids);
        let mask = attention_mask.map(ints);
        let mut cache = cache.map(|c| c.host());
        let w = &self.weights;
        let vocab = w.vocab();
        let mut out = vec![0.0f32; batch * seq * vocab];
        for b in 0..batch {
            let row = &ids[b * seq..(b + 1) * seq];
            let len = mask.as_ref().map_or(seq, |m| m[b * seq..(b + 1) * seq].iter().take_while(|&&t| t != 0).count()).max(1);
            let hidden = w.hidden_states(&row[..len], if batch == 1 { cache.as_deref_mut() } else { None });
            out[b * seq * vocab..(b * seq + len) * vocab].copy_from_slice(&w.logits(&hidden, len));
        }
        Tensor::from_data(TensorData::new(out, [batch, seq, vocab]), &device)
    }

    /// Logits of the last position, extending `cache`: [1, seq] → [1, vocab].
    pub fn forward_last(&self, input_ids: Tensor<2, Int>, cache: Option<&mut KvCache>) -> Tensor<2> {
        let device = input_ids.device();
        let [batch, seq] = input_ids.dims();
        let w = &self.weights;
        let (h, vocab) = (w.hidden(), w.vocab());
        if seq == 0 {
            return Tensor::zeros([batch, vocab], &device); // nothing read: as the dense model, no logits to speak of
        }
        let ids = ints(input_ids);
        let mut out = Vec::with_capacity(batch * vocab);
        let mut cache = cache.map(|c| c.host());
        for b in 0..batch {
            // a cache serves one sequence: generation runs one at a time
            let hidden = w.hidden_states(&ids[b * seq..(b + 1) * seq], if batch == 1 { cache.as_deref_mut() } else { None });
            out.extend(w.logits(&hidden[(seq - 1) * h..], 1));
        }
        Tensor::from_data(TensorData::new(out, [batch, vocab]), &device)
    }

    /// The greedy next token after `ids` (one sequence; `None` when empty), extending `cache`:
    /// the head's product goes into the cache's logits buffer, reused from token to token (no
    /// allocation of the vocabulary's logits per token), and its argmax is taken there.
    pub fn greedy_next(&self, ids: &[u32], cache: &mut KvCache) -> Option<u32> {
        let last = ids.len().checked_sub(1)?;
        let w = &self.weights;
        let host = cache.host();
        let hidden = w.hidden_states(ids, Some(&mut *host));
        host.logits.resize(w.vocab(), 0.0);
        w.head.as_ref().unwrap_or(&w.embed).matmul(&hidden[last * w.hidden()..], 1, &mut host.logits);
        Some(crate::kernels::argmax::argmax(&host.logits))
    }
}

/// Token ids read back from the host-side tensor (the CPU backend: no transfer).
fn ints<const D: usize>(t: Tensor<D, Int>) -> Vec<u32> {
    t.into_data().convert::<i64>().try_into_vec::<i64>().unwrap_or_default().into_iter().map(|v| v.max(0) as u32).collect()
}

/// cos/sin of each position's angle per pair ([`super::llama::LlamaConfig::inverse_frequencies`]).
struct RopeTable {
    cos: Vec<f32>,
    sin: Vec<f32>,
    half: usize,
}

impl RopeTable {
    fn new(inv: &[f32], start: usize, seq: usize) -> Self {
        let half = inv.len();
        let angles: Vec<f32> = (start..start + seq).flat_map(|p| inv.iter().map(move |f| p as f32 * f)).collect();
        RopeTable { cos: angles.iter().map(|a| a.cos()).collect(), sin: angles.iter().map(|a| a.sin()).collect(), half }
    }

    /// Rotates each head of each position in `x` (`seq × heads × d`): adjacent pairs `(2i, 2i+1)`
    /// when the rows are in llama.cpp's permuted order, else the pairs `(i, i + d/2)` (rotate-half).
    fn apply(&self, x: &mut [f32], heads: usize, head_dim: usize, adjacent_pairs: bool) {
        for (pos, rows) in x.chunks_exact_mut(heads * head_dim).enumerate() {
            let (cos, sin) = (&self.cos[pos * self.half..][..self.half], &self.sin[pos * self.half..][..self.half]);
            for head in rows.chunks_exact_mut(head_dim) {
                for i in 0..self.half.min(head_dim / 2) {
                    let (ia, ib) = if adjacent_pairs { (2 * i, 2 * i + 1) } else { (i, i + head_dim / 2) };
                    let (a, b) = (head[ia], head[ib]);
                    head[ia] = a * cos[i] - b * sin[i];
                    head[ib] = b * cos[i] + a * sin[i];
                }
            }
        }
    }
}

/// PyTorch's `gelu(x, approximate="tanh")`: `x/2 · (1 + tanh(√(2/π) · (x + 0.044715·x³)))`.
fn gelu_tanh(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)).tanh())
}

fn softmax(x: &mut [f32]) {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

fn add(x: &mut [f32], y: &[f32]) {
    for (x, y) in x.iter_mut().zip(y) {
        *x += y;
    }
}

fn add_rows(x: &mut [f32], bias: &[f32]) {
    for row in x.chunks_exact_mut(bias.len()) {
        add(row, bias);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::gguf;

    #[test]
    fn greedy_decoding_reuses_one_logits_buffer_and_picks_the_logits_argmax() {
        let bytes = Arc::new(include_bytes!("../../tests/fixtures/ggml/tiny-kquant.gguf").to_vec());
        let file = crate::formats::gguf::Gguf::parse(&bytes).unwrap();
        let model = gguf::load_packed(&file, &file.llama_config().unwrap(), &bytes).unwrap();
        let device = crate::device::cpu();
        let mut cache = KvCache::with_capacity(16);
        let mut reference = KvCache::with_capacity(16);
        let mut input = vec![1u32, 5, 9];
        let mut buffer = None;
        for _ in 0..6 {
            let next = model.greedy_next(&input, &mut cache).unwrap();
            let ids = Tensor::<2, Int>::from_data(TensorData::new(input.iter().map(|&t| t as i32).collect(), [1, input.len()]), device.device());
            let logits = model.forward_last(ids, Some(&mut reference)).into_data().try_into_vec::<f32>().unwrap();
            assert_eq!(next, crate::kernels::argmax::argmax(&logits));
            assert_eq!(cache.host().logits, logits, "the same logits as forward_last");
            let at = (cache.host().logits.as_ptr(), cache.host().logits.capacity());
            assert_eq!(*buffer.get_or_insert(at), at, "no new logits buffer per token");
            input = vec![next];
        }
        assert!(model.greedy_next(&[], &mut cache).is_none());
    }
}
