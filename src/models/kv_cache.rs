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
}

impl KvCache {
    /// How many positions are cached.
    pub fn len(&self) -> usize {
        self.layers.first().and_then(|l| l.as_ref()).map_or(0, |(k, _)| k.dims()[2])
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
