//! The sizes a training run's memory plan reads from a decoder (`train::memory::plan_decoder`):
//! each family's config gives its own ([`crate::models::llama::LlamaConfig::shape`],
//! [`crate::models::gpt2::Gpt2Config::shape`]).

/// A decoder's sizes, and how many `[b, s, hidden]`, `[b, s, inner]` and `[b, heads, s, s]`
/// tensors each of its layers keeps for the backward pass.
#[derive(Clone, Debug, PartialEq)]
pub struct DecoderShape {
    pub parameters: u64,
    pub layers: usize,
    pub heads: usize,
    pub hidden: usize,
    pub inner: usize,
    pub vocab: usize,
    pub per_layer: [u64; 3],
    /// The loss is taken in chunks of positions (`infer::lm_loss`: a chunk's logits, their
    /// log-softmax and gradient at a time, plus gradient sums of the hidden states' and the head's
    /// sizes), not from the whole batch's logits.
    pub chunked_loss: bool,
}
