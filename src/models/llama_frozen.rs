//! A quantized Llama (the packed CPU model, or the GPU-packed one) as the trainable model
//! ([`LlamaForCausalLM`]) whose matrices stay quantized: what LoRA trains beside (QLoRA). Norms
//! and biases are f32 tensors; every matrix is a [`FrozenMatrix`] (q/k rows in Hugging Face's
//! order), its layer's own weight a placeholder of the right shape holding one value, so the
//! adapters, the PEFT names and the forward code are the dense model's. Both packed forms hand
//! their pieces to [`assemble`].

use burn::{
    module::Param,
    nn::{Linear, RmsNorm},
    tensor::{Device, Tensor, TensorData},
};

use super::{
    llama::{LlamaConfig, LlamaForCausalLM},
    llama_packed::{PackedLlama, PackedWeights},
};
use crate::{
    formats::gguf::hf_row_order,
    kernels::{
        frozen::{FrozenMatrix, placeholder},
        quantized::QMatrix,
    },
};

/// One decoder block's pieces, as the file holds them.
pub struct FrozenLayer {
    /// q, k, v, o, gate, up, down (q/k rows in Hugging Face's order).
    pub matrices: [FrozenMatrix; 7],
    /// q, k, v, o biases (q/k in Hugging Face's order; the o bias is zeros where the model has
    /// none: it becomes a parameter only with `attention_bias`).
    pub biases: Option<[Tensor<1>; 4]>,
    pub attn_norm: RmsNorm,
    /// Gemma 3: the norm before the MLP (`post_norms` then hold those after the attention and the MLP).
    pub ffn_norm: RmsNorm,
    pub qk_norm: Option<[RmsNorm; 2]>,
    pub post_norms: Option<[RmsNorm; 2]>,
}

/// The trainable model of `config` on `device` from its pieces: each matrix stands behind a
/// placeholder weight of its layer.
pub fn assemble(config: &LlamaConfig, device: &Device, embed: FrozenMatrix, layers: Vec<FrozenLayer>, norm: RmsNorm, head: Option<FrozenMatrix>) -> LlamaForCausalLM {
    // a layer standing in for `m` (Burn's weight layout: [in, out])
    let stand_in = |m: &FrozenMatrix, bias: Option<Tensor<1>>| Linear { weight: Param::from_tensor(placeholder([m.cols(), m.rows()], device)), bias: bias.map(Param::from_tensor) };
    // parameters are initialised lazily: the random ones replaced here are never computed
    let mut model = LlamaForCausalLM::new(config, device);
    for (layer, parts) in model.model.layers.iter_mut().zip(layers) {
        let [q, k, v, o, gate, up, down] = parts.matrices;
        let [qb, kb, vb, ob] = match parts.biases {
            Some([q, k, v, o]) => [Some(q), Some(k), Some(v), Some(o).filter(|_| config.attention_bias)],
            None => [None, None, None, None],
        };
        let attention = &mut layer.self_attn;
        (attention.q_proj, attention.k_proj, attention.v_proj, attention.o_proj) = (stand_in(&q, qb), stand_in(&k, kb), stand_in(&v, vb), stand_in(&o, ob));
        for (name, m) in [("q_proj", q), ("k_proj", k), ("v_proj", v), ("o_proj", o)] {
            attention.frozen.insert(name, m);
        }
        let mlp = &mut layer.mlp;
        (mlp.gate_proj, mlp.up_proj, mlp.down_proj) = (stand_in(&gate, None), stand_in(&up, None), stand_in(&down, None));
        for (name, m) in [("gate_proj", gate), ("up_proj", up), ("down_proj", down)] {
            mlp.frozen.insert(name, m);
        }
        if let Some([qn, kn]) = parts.qk_norm {
            (attention.q_norm, attention.k_norm) = (Some(qn), Some(kn));
        }
        layer.input_layernorm = parts.attn_norm;
        match parts.post_norms {
            // Gemma: the file's ffn_norm is the norm before the MLP
            Some([after_attention, after_mlp]) => {
                layer.post_attention_layernorm = after_attention;
                (layer.pre_feedforward_layernorm, layer.post_feedforward_layernorm) = (Some(parts.ffn_norm), Some(after_mlp));
            }
            None => layer.post_attention_layernorm = parts.ffn_norm,
        }
    }
    model.model.norm = norm;
    model.model.embed_tokens.weight = Param::from_tensor(placeholder([embed.rows(), embed.cols()], device));
    model.model.frozen.insert("embed_tokens", embed);
    if let Some(head) = head {
        model.lm_head = Some(stand_in(&head, None));
        model.frozen.insert("lm_head", head);
    }
    model
}

/// The trainable model of `packed`'s weights, its matrices kept in the file's blocks, on `device`
/// (the CPU backend: the frozen products run there).
pub fn frozen_model(packed: &PackedLlama, device: &Device) -> LlamaForCausalLM {
    let w: &PackedWeights = &packed.weights;
    let vector = |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [v.len()]), device);
    let order = |heads: usize| w.qk_permuted.then(|| hf_row_order(heads, w.head_dim));
    let (q_order, k_order) = (order(w.heads), order(w.kv_heads));
    let in_order = |v: &[f32], order: &Option<Vec<usize>>| match order {
        Some(order) => vector(&order.iter().map(|&r| v[r]).collect::<Vec<_>>()),
        None => vector(v),
    };
    let norm = |gamma: &[f32]| RmsNorm { gamma: Param::from_tensor(vector(gamma)), epsilon: w.eps as f64 };
    let host = |m: &QMatrix, order: &Option<Vec<usize>>| FrozenMatrix::host(m.clone(), order.clone());
    let layers = w
        .layers
        .iter()
        .map(|p| FrozenLayer {
            matrices: [host(&p.q, &q_order), host(&p.k, &k_order), host(&p.v, &None), host(&p.o, &None), host(&p.gate, &None), host(&p.up, &None), host(&p.down, &None)],
            biases: p.bias.as_ref().map(|[q, k, v, o]| [in_order(q, &q_order), in_order(k, &k_order), vector(v), vector(o)]),
            attn_norm: norm(&p.attn_norm),
            ffn_norm: norm(&p.ffn_norm),
            qk_norm: p.qk_norm.as_ref().map(|[q, k]| [norm(q), norm(k)]),
            post_norms: p.post_norms.as_ref().map(|[a, m]| [norm(a), norm(m)]),
        })
        .collect();
    let head = w.head.as_ref().map(|h| host(h, &None));
    assemble(&packed.config, device, host(&w.embed, &None), layers, norm(&w.norm), head)
}

/// `model` with its frozen matrices widened into its own weights (added to what they hold: the
/// placeholders' zeros, or a merged adapter's product), so that it exports as a dense model.
pub fn densified(mut model: LlamaForCausalLM) -> LlamaForCausalLM {
    fn widen(layer: &mut Linear, matrix: &FrozenMatrix) {
        let weight = layer.weight.val();
        let dense = matrix.dequantized(&weight.device()).transpose();
        layer.weight = Param::from_tensor(weight + dense);
    }
    for layer in &mut model.model.layers {
        let attention = &mut layer.self_attn;
        for (name, matrix) in attention.frozen.take() {
            match name {
                "q_proj" => widen(&mut attention.q_proj, &matrix),
                "k_proj" => widen(&mut attention.k_proj, &matrix),
                "v_proj" => widen(&mut attention.v_proj, &matrix),
                _ => widen(&mut attention.o_proj, &matrix),
            }
        }
        let mlp = &mut layer.mlp;
        for (name, matrix) in mlp.frozen.take() {
            match name {
                "gate_proj" => widen(&mut mlp.gate_proj, &matrix),
                "up_proj" => widen(&mut mlp.up_proj, &matrix),
                _ => widen(&mut mlp.down_proj, &matrix),
            }
        }
    }
    for (_, matrix) in model.model.frozen.take() {
        let embedding = &mut model.model.embed_tokens;
        let weight = embedding.weight.val();
        embedding.weight = Param::from_tensor(weight.clone() + matrix.dequantized(&weight.device()));
    }
    if let (Some(head), Some((_, matrix))) = (model.lm_head.as_mut(), model.frozen.take().pop()) {
        widen(head, &matrix);
    }
    model
}

/// Bytes of the GGUF blocks `model`'s frozen matrices hold.
pub fn frozen_bytes(model: &LlamaForCausalLM) -> u64 {
    let layers: usize = model.model.layers.iter().map(|l| l.self_attn.frozen.bytes() + l.mlp.frozen.bytes()).sum();
    (layers + model.model.frozen.bytes() + model.frozen.bytes()) as u64
}
