//! The pre-flight memory plan of a fine-tuning run: what it will hold on the device (weights,
//! gradients, AdamW moments, activations kept for the backward pass) and its largest single
//! tensor, estimated from the model config and the batch shape before anything is allocated.
//! A plan whose largest tensor cannot be bound by the GPU, or that cannot fit in wasm's 4 GiB
//! address space on the CPU path, is refused with an `OutOfMemoryError` that says what to lower —
//! rather than losing the GPU device (or the tab) mid-run.

use serde::Serialize;

use crate::{
    DeviceInfo, Error, Result,
    models::{bert::BertConfig, shape::DecoderShape},
};

const F32: u64 = 4;
/// What the wasm CPU path can use of its 4 GiB of linear memory for tensors (the rest: the model
/// files, tokenizer, data, and the allocator's slack).
const WASM_CPU_BUDGET: u64 = 3 << 30;

/// Bytes a run will hold, by kind (estimates; activations assume every batch is `seq` long).
#[derive(Clone, Debug, PartialEq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct MemoryPlan {
    pub parameters: u64,
    pub weight_bytes: u64,
    pub gradient_bytes: u64,
    pub optimizer_bytes: u64,
    pub activation_bytes: u64,
    pub total_bytes: u64,
    /// The largest single tensor, which must fit in one GPU buffer binding.
    pub largest_tensor_bytes: u64,
    /// What that tensor is, with its shape.
    pub largest_tensor: String,
}

/// The plan of full fine-tuning with batches of `batch` rows of `seq` tokens.
pub fn plan_training(c: &BertConfig, labels: usize, batch: usize, seq: usize, lora: Option<(u64, u64)>) -> MemoryPlan {
    let parameters = c.parameters(labels);
    let (b, s, h, i) = (batch as u64, seq as u64, c.hidden_size as u64, c.intermediate_size as u64);
    let scores = b * c.num_attention_heads as u64 * s * s;
    // Kept per layer for the backward pass: Q, K, V, context, attention output, 2 LayerNorm
    // inputs/outputs and the FFN output (~10 × [b, s, h]); the FFN's two [b, s, i]; scores,
    // probabilities and the dropout mask (3 × [b, heads, s, s]).
    let per_layer = 10 * b * s * h + 2 * b * s * i + 3 * scores;
    let activation_bytes = (c.num_hidden_layers as u64 * per_layer + 4 * b * s * h) * F32;
    let candidates = [
        (scores * F32, format!("attention scores ({batch} × {} heads × {seq} × {seq})", c.num_attention_heads)),
        (b * s * i * F32, format!("feed-forward activations ({batch} × {seq} × {})", c.intermediate_size)),
        (c.vocab_size as u64 * h * F32, format!("word embeddings ({} × {})", c.vocab_size, c.hidden_size)),
    ];
    with_lora(full_fine_tuning(parameters, activation_bytes, candidates), lora, b * s)
}

/// The plan of fine-tuning a decoder of `d`'s shape with batches of `batch` rows of `seq` tokens:
/// all weights, or with LoRA only the adapters: `lora` = (their parameters, activation elements
/// they keep per token; see [`crate::models::lora::LoraOptions::decoder_sizes`]). The layers'
/// kept activations, then the logits, their log-softmax and its gradient (of one chunk of
/// positions when the loss is chunked); the largest tensor among the scores, the logits and the
/// token embeddings.
pub fn plan_decoder(d: &DecoderShape, batch: usize, seq: usize, lora: Option<(u64, u64)>) -> MemoryPlan {
    let (b, s, h, i, v) = (batch as u64, seq as u64, d.hidden as u64, d.inner as u64, d.vocab as u64);
    let scores = b * d.heads as u64 * s * s;
    let [hidden_copies, inner_copies, score_copies] = d.per_layer;
    let per_layer = hidden_copies * b * s * h + inner_copies * b * s * i + score_copies * scores;
    let (logits, logits_what, loss_extra) = match d.chunked_loss {
        true => {
            let rows = (crate::infer::lm_loss::chunk_positions(d.vocab) as u64).min(b * s);
            (rows * v, format!("logits of {rows} positions × {} vocabulary (the loss is taken in chunks)", d.vocab), b * s * h + v * h)
        }
        false => (b * s * v, format!("logits ({batch} × {seq} × {} vocabulary)", d.vocab), 0),
    };
    let activation_bytes = (d.layers as u64 * per_layer + 3 * logits + loss_extra) * F32;
    let candidates = [
        (scores * F32, format!("attention scores ({batch} × {} heads × {seq} × {seq})", d.heads)),
        (logits * F32, logits_what),
        (v * h * F32, format!("token embeddings ({} × {})", d.vocab, d.hidden)),
    ];
    with_lora(full_fine_tuning(d.parameters, activation_bytes, candidates), lora, b * s)
}

/// With LoRA (`lora` = the trainable parameters, and the activation elements the adapters keep
/// per token), only those have gradients and moments: the plan for `tokens` tokens per step.
fn with_lora(mut plan: MemoryPlan, lora: Option<(u64, u64)>, tokens: u64) -> MemoryPlan {
    if let Some((trained, per_token)) = lora {
        plan.gradient_bytes = trained * F32;
        plan.optimizer_bytes = 2 * trained * F32;
        plan.activation_bytes += tokens * per_token * F32;
        plan.total_bytes = plan.weight_bytes + 4 * trained * F32 + plan.activation_bytes;
    }
    plan
}

/// `plan` with its frozen base held quantized in `base_bytes` (LoRA beside it) instead of f32, plus one decoded slice of a matrix at a time ([`crate::kernels::frozen`]).
pub fn with_frozen_base(mut plan: MemoryPlan, base_bytes: u64) -> MemoryPlan {
    let slice = crate::kernels::frozen::SLICE_BYTES;
    plan.total_bytes = plan.total_bytes.saturating_sub(plan.weight_bytes) + base_bytes + slice;
    plan.weight_bytes = base_bytes;
    plan
}

/// `plan` with contextual augmentation's masked language model (of config `c`, run on batches of
/// `batch` texts of `seq` tokens) beside the run: its weights (encoder and masked-LM head, the
/// decoder tied to the word embeddings) stay for the whole run; its forward passes, at each
/// epoch's start, keep no activations for a backward pass and run while the run's own are not
/// held, so the larger of the two activation sets counts.
pub fn with_augmenter(mut plan: MemoryPlan, c: &BertConfig, batch: usize, seq: usize) -> MemoryPlan {
    let (b, s, h, i, v) = (batch as u64, seq as u64, c.hidden_size as u64, c.intermediate_size as u64, c.vocab_size as u64);
    let head = h.saturating_mul(h).saturating_add(3 * h).saturating_add(v);
    let weights = c.parameters(0).saturating_add(head).saturating_mul(F32);
    let scores = b.saturating_mul(c.num_attention_heads as u64).saturating_mul(s).saturating_mul(s);
    // one layer at a time: its input, output, Q, K, V and context (~6 × [b, s, h]), the FFN's
    // [b, s, i], scores and probabilities; then logits and probabilities at one mask per text
    let bsh = b.saturating_mul(s).saturating_mul(h);
    let activations = [6u64.saturating_mul(bsh), b.saturating_mul(s).saturating_mul(i), 2u64.saturating_mul(scores), 2u64.saturating_mul(b).saturating_mul(v)]
        .into_iter()
        .fold(0u64, u64::saturating_add)
        .saturating_mul(F32);
    let extra_activations = activations.saturating_sub(plan.activation_bytes);
    plan.weight_bytes = plan.weight_bytes.saturating_add(weights);
    plan.activation_bytes = plan.activation_bytes.max(activations);
    plan.total_bytes = plan.total_bytes.saturating_add(weights).saturating_add(extra_activations);
    let candidates = [
        (scores.saturating_mul(F32), format!("augmentation model's attention scores ({batch} × {} heads × {seq} × {seq})", c.num_attention_heads)),
        (v.saturating_mul(h).saturating_mul(F32), format!("augmentation model's word embeddings ({} × {})", c.vocab_size, c.hidden_size)),
    ];
    for (bytes, what) in candidates {
        if bytes > plan.largest_tensor_bytes {
            plan.largest_tensor_bytes = bytes;
            plan.largest_tensor = what;
        }
    }
    plan
}

/// Full fine-tuning with AdamW holds the weights, their gradients and two moments (f32 each), plus
/// the activations; the largest of `candidates` (bytes, what) must fit in one GPU buffer.
fn full_fine_tuning(parameters: u64, activation_bytes: u64, candidates: [(u64, String); 3]) -> MemoryPlan {
    let weight_bytes = parameters * F32;
    let (largest_tensor_bytes, largest_tensor) = candidates.into_iter().max_by_key(|c| c.0).expect("three candidates");
    MemoryPlan {
        parameters,
        weight_bytes,
        gradient_bytes: weight_bytes,
        optimizer_bytes: 2 * weight_bytes,
        activation_bytes,
        total_bytes: 4 * weight_bytes + activation_bytes,
        largest_tensor_bytes,
        largest_tensor,
    }
}

/// Refuses a plan the device cannot hold, naming the limit and what to lower.
pub fn check(plan: &MemoryPlan, device: &DeviceInfo) -> Result<()> {
    let advice = "lower batchSize or maxLength (or use gradAccum to keep the effective batch)";
    if let Some(limit) = device.max_storage_buffer_binding_size
        && plan.largest_tensor_bytes > limit
    {
        return Err(Error::OutOfMemory(format!(
            "this run needs one {} buffer for the {}, but this GPU binds at most {} per buffer (maxStorageBufferBindingSize); {advice}",
            mb(plan.largest_tensor_bytes),
            plan.largest_tensor,
            mb(limit)
        )));
    }
    if cfg!(target_family = "wasm") && !device.is_gpu() && plan.total_bytes > WASM_CPU_BUDGET {
        return Err(Error::OutOfMemory(format!(
            "this run needs about {} for weights, gradients, optimizer state and activations, more than the {} the CPU path in the browser can address; {advice}, or use WebGPU",
            mb(plan.total_bytes),
            mb(WASM_CPU_BUDGET)
        )));
    }
    Ok(())
}

fn mb(bytes: u64) -> String {
    format!("{:.0} MB", bytes as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bert(vocab: usize, hidden: usize) -> BertConfig {
        let json = format!(
            r#"{{"model_type": "bert", "vocab_size": {vocab}, "hidden_size": {hidden}, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": {}, "max_position_embeddings": 128, "type_vocab_size": 2}}"#,
            4 * hidden
        );
        BertConfig::from_json(&json).unwrap()
    }

    #[test]
    fn an_augmentation_model_adds_its_weights_and_the_larger_activations() {
        let run = bert(1000, 32);
        let plan = plan_training(&run, 3, 8, 64, None);
        let mlm = bert(30_000, 64);
        let with = with_augmenter(plan.clone(), &mlm, 32, 128);
        let mlm_weights = (mlm.parameters(0) + 64 * 64 + 3 * 64 + 30_000) * 4;
        assert_eq!(with.weight_bytes, plan.weight_bytes + mlm_weights);
        assert_eq!(with.parameters, plan.parameters, "the trained parameters are the run's");
        assert!(with.activation_bytes >= plan.activation_bytes);
        assert_eq!(with.total_bytes, plan.total_bytes + mlm_weights + (with.activation_bytes - plan.activation_bytes));
        assert_eq!(with.largest_tensor_bytes, 30_000 * 64 * 4);
        assert!(with.largest_tensor.contains("augmentation model's word embeddings"), "{}", with.largest_tensor);
        // a small augmenter's passes fit in the run's own activations
        let small = with_augmenter(plan.clone(), &bert(1000, 32), 1, 8);
        assert_eq!(small.activation_bytes, plan.activation_bytes);
    }
}
