//! What autoregressive decoders share: the key/value cache of the positions seen so far, and the
//! causal (+ padding) attention mask.

use burn::tensor::{Bool, Device, Int, Tensor};

/// Added to attention scores at masked keys. Large but finite, so a softmax never sees inf - inf.
const MASKED: f32 = -1e9;

/// One layer's cached keys and values: [batch, kv_heads, seen, head_dim] each.
pub type LayerCache = Option<(Tensor<4>, Tensor<4>)>;

/// Keys and values of the positions seen so far, per layer.
#[derive(Clone, Debug, Default)]
pub struct KvCache {
    layers: Vec<LayerCache>,
    /// The packed decoder's (`llama_packed`), on the host.
    host: HostKv,
}

impl KvCache {
    /// A cache that will hold `positions` positions (the prompt and the new tokens): the packed
    /// decoder reserves that once instead of growing per token.
    pub fn with_capacity(positions: usize) -> Self {
        KvCache { host: HostKv { reserved: positions, ..HostKv::default() }, ..KvCache::default() }
    }

    /// How many positions are cached.
    pub fn len(&self) -> usize {
        self.layers.first().and_then(|l| l.as_ref()).map_or(self.host.len, |(k, _)| k.dims()[2])
    }

    pub(crate) fn host(&mut self) -> &mut HostKv {
        &mut self.host
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One slot per layer of a model with `layers` layers (a cache made for another model starts over).
    pub(crate) fn slots(&mut self, layers: usize) -> &mut [LayerCache] {
        if self.layers.len() != layers {
            self.layers = vec![None; layers];
        }
        &mut self.layers
    }
}

/// Keys and values on the host: per layer `positions × width` (key/value heads × head_dim).
#[derive(Clone, Debug, Default)]
pub struct HostKv {
    pub k: Vec<Vec<f32>>,
    pub v: Vec<Vec<f32>>,
    /// Positions held.
    pub len: usize,
    /// Positions to reserve room for on first use.
    reserved: usize,
    /// The next-token logits of greedy decoding, reused from token to token.
    pub logits: Vec<f32>,
}

impl HostKv {
    /// Makes room for `positions` positions in each of `layers` layers (at least what
    /// [`KvCache::with_capacity`] asked for), allocating only when the room is short.
    pub fn reserve(&mut self, layers: usize, positions: usize, width: usize) {
        if self.k.len() != layers {
            *self = HostKv { k: vec![Vec::new(); layers], v: vec![Vec::new(); layers], len: 0, reserved: self.reserved, logits: Vec::new() };
        }
        let want = positions.max(self.reserved).saturating_mul(width);
        for buffer in self.k.iter_mut().chain(self.v.iter_mut()) {
            buffer.reserve_exact(want.saturating_sub(buffer.len()));
        }
    }

    /// Appends layer `layer`'s keys and values of the new positions (after the `len` held).
    pub fn append(&mut self, layer: usize, k: &[f32], v: &[f32]) {
        self.k[layer].extend_from_slice(k);
        self.v[layer].extend_from_slice(v);
    }
}

/// Causal mask (a position sees itself and earlier ones), plus padding keys when a mask is given:
/// [batch or 1, 1, seq, past + seq], 0 where attention may look and -1e9 elsewhere.
pub fn causal_mask_bias(attention_mask: Option<Tensor<2, Int>>, batch: usize, seq: usize, past: usize, device: &Device) -> Tensor<4> {
    let total = past + seq;
    let future = Tensor::<2, Bool>::tril_mask([seq, total], past as i64, device);
    let causal = Tensor::<2>::zeros([seq, total], device).mask_fill(future, MASKED).reshape([1, 1, seq, total]);
    match attention_mask {
        None => causal,
        Some(m) => {
            let padding = (m.float().neg() + 1.0).mul_scalar(MASKED).reshape([batch, 1, 1, total]);
            causal + padding
        }
    }
}

/// Added to [`causal_mask_bias`] for a sliding-window layer: query `i` (at position `past + i`)
/// sees key `j` only when `past + i − j < window` (transformers' `sliding_window_overlay`) →
/// [1, 1, seq, past + seq].
pub fn sliding_window_bias(seq: usize, past: usize, window: usize, device: &Device) -> Tensor<4> {
    let total = past + seq;
    // `triu_mask` is true where `j − i < offset`, i.e. `j ≤ past + i − window`
    let offset = (past as i64).saturating_sub(i64::try_from(window).unwrap_or(i64::MAX)).saturating_add(1);
    let too_old = Tensor::<2, Bool>::triu_mask([seq, total], offset, device);
    Tensor::<2>::zeros([seq, total], device).mask_fill(too_old, MASKED).reshape([1, 1, seq, total])
}
