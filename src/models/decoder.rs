//! The decoder families webtune reads, behind one model and one config type: what generation,
//! evaluation and the pipelines use. Fine-tuning, LoRA and export work on the concrete model
//! inside (see `weights::decoder::DecoderFamily`).

use burn::{
    module::Module,
    tensor::{Int, Tensor},
};

use super::{
    encoder_family::{EncoderFamily, model_type, unsupported},
    gpt2::{Gpt2Config, Gpt2LMHeadModel},
    kv_cache::KvCache,
    llama::{LlamaConfig, LlamaForCausalLM},
    llama_gpu::GpuPackedLlama,
    llama_packed::PackedLlama,
};
use crate::{Error, Result};

/// Next-token logits of a causal language model (what loss and evaluation need).
pub trait CausalLogits {
    /// `input_ids` [batch, seq], `attention_mask` (1 = token, 0 = right padding) → [batch, seq, vocab].
    fn logits(&self, input_ids: Tensor<2, Int>, attention_mask: Option<Tensor<2, Int>>) -> Tensor<3>;
}

impl CausalLogits for LlamaForCausalLM {
    fn logits(&self, input_ids: Tensor<2, Int>, attention_mask: Option<Tensor<2, Int>>) -> Tensor<3> {
        self.forward(input_ids, attention_mask, None)
    }
}

impl CausalLogits for Gpt2LMHeadModel {
    fn logits(&self, input_ids: Tensor<2, Int>, attention_mask: Option<Tensor<2, Int>>) -> Tensor<3> {
        self.forward(input_ids, attention_mask, None)
    }
}

/// A decoder of any family webtune reads.
#[derive(Module, Debug)]
pub enum DecoderModel {
    Llama(LlamaForCausalLM),
    Gpt2(Gpt2LMHeadModel),
    /// A Llama GGUF file's weights as stored (quantized), for inference on the CPU.
    Packed(PackedLlama),
    /// A Llama GGUF file's quantized weights on the GPU, for inference.
    GpuPacked(GpuPackedLlama),
}

impl DecoderModel {
    /// Next-token logits for every position: [batch, seq] → [batch, seq, vocab].
    pub fn forward(&self, input_ids: Tensor<2, Int>, attention_mask: Option<Tensor<2, Int>>, cache: Option<&mut KvCache>) -> Tensor<3> {
        match self {
            DecoderModel::Llama(m) => m.forward(input_ids, attention_mask, cache),
            DecoderModel::Gpt2(m) => m.forward(input_ids, attention_mask, cache),
            DecoderModel::Packed(m) => m.forward(input_ids, attention_mask, cache),
            DecoderModel::GpuPacked(m) => m.forward(input_ids, attention_mask, cache),
        }
    }

    /// Logits of the last position only: [batch, seq] → [batch, vocab].
    pub fn forward_last(&self, input_ids: Tensor<2, Int>, cache: Option<&mut KvCache>) -> Tensor<2> {
        match self {
            DecoderModel::Llama(m) => m.forward_last(input_ids, cache),
            DecoderModel::Gpt2(m) => m.forward_last(input_ids, cache),
            DecoderModel::Packed(m) => m.forward_last(input_ids, cache),
            DecoderModel::GpuPacked(m) => m.forward_last(input_ids, cache),
        }
    }

    /// The Llama inside, if this is one.
    pub fn as_llama(&self) -> Option<&LlamaForCausalLM> {
        match self {
            DecoderModel::Llama(m) => Some(m),
            DecoderModel::Gpt2(_) | DecoderModel::Packed(_) | DecoderModel::GpuPacked(_) => None,
        }
    }

    /// The dense f32 model of weights kept quantized (to fine-tune or export them; `device` for
    /// the CPU's, which are dequantized from the file), or `None` for a dense model.
    pub fn dequantized(&self, config: &DecoderConfig, device: &crate::ComputeDevice) -> Option<Result<LlamaForCausalLM>> {
        match (self, config) {
            (DecoderModel::Packed(m), DecoderConfig::Llama(c)) => Some(crate::weights::gguf::unpack(&m.file, c, device)),
            (DecoderModel::GpuPacked(m), DecoderConfig::Llama(c)) => Some(Ok(m.dequantized(c))),
            (DecoderModel::Packed(_) | DecoderModel::GpuPacked(_), DecoderConfig::Gpt2(_)) => Some(Err(Error::Weights(
                "a GGUF Llama model with a GPT-2 config: a bug in webtune; please report it".into(),
            ))),
            (DecoderModel::Llama(_) | DecoderModel::Gpt2(_), _) => None,
        }
    }
}

impl CausalLogits for DecoderModel {
    fn logits(&self, input_ids: Tensor<2, Int>, attention_mask: Option<Tensor<2, Int>>) -> Tensor<3> {
        self.forward(input_ids, attention_mask, None)
    }
}

/// A decoder's `config.json`.
#[derive(Clone, Debug)]
pub enum DecoderConfig {
    Llama(LlamaConfig),
    Gpt2(Gpt2Config),
}

impl DecoderConfig {
    /// Parses and validates a Hugging Face `config.json` of a decoder family webtune reads.
    pub fn from_json(text: &str) -> Result<Self> {
        match model_type(text)?.as_deref() {
            None | Some("llama") => Ok(DecoderConfig::Llama(LlamaConfig::from_json(text)?)),
            Some("gpt2") => Ok(DecoderConfig::Gpt2(Gpt2Config::from_json(text)?)),
            Some(t) if EncoderFamily::of(Some(t)).is_ok() => Err(Error::Weights(format!(
                "config.json: model_type {t:?} is an encoder, not a decoder; load it with the text-classification or feature-extraction pipeline"
            ))),
            Some(t) => Err(unsupported(t)),
        }
    }

    pub fn vocab_size(&self) -> usize {
        match self {
            DecoderConfig::Llama(c) => c.vocab_size,
            DecoderConfig::Gpt2(c) => c.vocab_size,
        }
    }

    pub fn hidden_size(&self) -> usize {
        match self {
            DecoderConfig::Llama(c) => c.hidden_size,
            DecoderConfig::Gpt2(c) => c.n_embd,
        }
    }

    pub fn layers(&self) -> usize {
        match self {
            DecoderConfig::Llama(c) => c.num_hidden_layers,
            DecoderConfig::Gpt2(c) => c.n_layer,
        }
    }

    /// The longest sequence the model reads.
    pub fn max_positions(&self) -> usize {
        match self {
            DecoderConfig::Llama(c) => c.max_position_embeddings,
            DecoderConfig::Gpt2(c) => c.n_positions,
        }
    }

    pub fn bos_token_id(&self) -> Option<u32> {
        match self {
            DecoderConfig::Llama(c) => c.bos_token_id,
            DecoderConfig::Gpt2(c) => c.bos_token_id,
        }
    }

    /// The tokens that end generation.
    pub fn eos_ids(&self) -> Vec<u32> {
        match self {
            DecoderConfig::Llama(c) => c.eos_ids(),
            DecoderConfig::Gpt2(c) => c.eos_token_id.into_iter().collect(),
        }
    }

    /// The Llama config inside, if this is one.
    pub fn as_llama(&self) -> Option<&LlamaConfig> {
        match self {
            DecoderConfig::Llama(c) => Some(c),
            DecoderConfig::Gpt2(_) => None,
        }
    }
}
