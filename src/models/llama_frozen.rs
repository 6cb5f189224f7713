//! A packed Llama as the trainable model ([`LlamaForCausalLM`]) whose matrices stay in the GGUF
//! file's blocks: what LoRA trains beside on the CPU path (QLoRA). Norms and biases become f32
//! tensors; every matrix becomes a [`FrozenMatrix`] (q/k rows in Hugging Face's order), its
//! layer's own weight a placeholder of the right shape holding one value, so the adapters, the
//! PEFT names and the forward code are the dense model's.

use burn::{
    module::Param,
    nn::{Linear, RmsNorm},
    tensor::{Device, Tensor, TensorData},
};

use super::{
    llama::LlamaForCausalLM,
    llama_packed::{PackedLlama, PackedWeights},
};
use crate::{
    formats::gguf::hf_row_order,
    kernels::{
        frozen::{FrozenMatrix, FrozenWeights, placeholder},
        quantized::QMatrix,
    },
};

/// The trainable model of `packed`'s weights, its matrices kept quantized, on `device` (the CPU
/// backend: the frozen products run there).
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
    // each layer standing in for its matrix `m` (Burn's weight layout: [in, out]), and their frozen matrices
    let stand_ins = |layers: Vec<(&'static str, &QMatrix, &Option<Vec<usize>>, Option<Tensor<1>>, &mut Linear)>| {
        let mut frozen = FrozenWeights::default();
        for (name, m, order, bias, slot) in layers {
            *slot = Linear { weight: Param::from_tensor(placeholder([m.cols, m.rows], device)), bias: bias.map(Param::from_tensor) };
            frozen.insert(name, FrozenMatrix::host(m.clone(), order.clone()));
        }
        frozen
    };
    // parameters are initialised lazily: the random ones replaced here are never computed
    let mut model = LlamaForCausalLM::new(&packed.config, device);
    for (layer, p) in model.model.layers.iter_mut().zip(&w.layers) {
        let bias = |j: usize| p.bias.as_ref().map(|b| &b[j]);
        // the packed output bias is zeros where the model has none (Qwen2): not a parameter then
        let o_bias = bias(3).filter(|_| packed.config.attention_bias).map(|b| vector(b));
        let attention = &mut layer.self_attn;
        let projections = vec![
            ("q_proj", &p.q, &q_order, bias(0).map(|b| in_order(b, &q_order)), &mut attention.q_proj),
            ("k_proj", &p.k, &k_order, bias(1).map(|b| in_order(b, &k_order)), &mut attention.k_proj),
            ("v_proj", &p.v, &None, bias(2).map(|b| vector(b)), &mut attention.v_proj),
            ("o_proj", &p.o, &None, o_bias, &mut attention.o_proj),
        ];
        attention.frozen = stand_ins(projections);
        let mlp = &mut layer.mlp;
        mlp.frozen = stand_ins(vec![
            ("gate_proj", &p.gate, &None, None, &mut mlp.gate_proj),
            ("up_proj", &p.up, &None, None, &mut mlp.up_proj),
            ("down_proj", &p.down, &None, None, &mut mlp.down_proj),
        ]);
        if let Some([q, k]) = &p.qk_norm {
            (attention.q_norm, attention.k_norm) = (Some(norm(q)), Some(norm(k)));
        }
        layer.input_layernorm = norm(&p.attn_norm);
        match &p.post_norms {
            // Gemma: the file's ffn_norm is the norm before the MLP
            Some([after_attention, after_mlp]) => {
                layer.post_attention_layernorm = norm(after_attention);
                (layer.pre_feedforward_layernorm, layer.post_feedforward_layernorm) = (Some(norm(&p.ffn_norm)), Some(norm(after_mlp)));
            }
            None => layer.post_attention_layernorm = norm(&p.ffn_norm),
        }
    }
    model.model.norm = norm(&w.norm);
    model.model.embed_tokens.weight = Param::from_tensor(placeholder([w.embed.rows, w.embed.cols], device));
    model.model.frozen.insert("embed_tokens", FrozenMatrix::host(w.embed.clone(), None));
    if let Some(head) = &w.head {
        let mut layer = Linear { weight: Param::from_tensor(placeholder([1, 1], device)), bias: None };
        model.frozen = stand_ins(vec![("lm_head", head, &None, None, &mut layer)]);
        model.lm_head = Some(layer);
    }
    model
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
