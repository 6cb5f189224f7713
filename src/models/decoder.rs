//! The decoder families webtune reads, behind one model type (each family's model carries its own
//! config): what generation, evaluation and the pipelines use. Fine-tuning, LoRA and export work
//! on the concrete model inside (see `weights::decoder_family::DecoderFamily`).

use burn::{
    module::Module,
    tensor::{Int, Tensor},
};

use super::{
    family::{ModelKind, model_type, not_a},
    gpt2::{Gpt2Config, Gpt2LMHeadModel},
    kv_cache::KvCache,
    llama::{LlamaConfig, LlamaForCausalLM},
    llama_gpu::GpuPackedLlama,
    llama_packed::PackedLlama,
};
use crate::{Result, kernels::frozen::FrozenMatrix};

/// Next-token logits of a causal language model (what loss and evaluation need).
pub trait CausalLogits {
    /// `input_ids` [batch, seq], `attention_mask` (1 = token, 0 = right padding) → [batch, seq, vocab].
    fn logits(&self, input_ids: Tensor<2, Int>, attention_mask: Option<Tensor<2, Int>>) -> Tensor<3>;

    /// What a loss is computed from: the hidden states [batch, seq, hidden] and the head as a
    /// plain matrix [vocab, hidden] (no bias, no adapter) when it is one — the loss is then taken
    /// in chunks of positions (`infer::lm_loss`) —, else the logits.
    fn loss_inputs(&self, input_ids: Tensor<2, Int>, attention_mask: Option<Tensor<2, Int>>) -> LossInputs {
        LossInputs::Logits(self.logits(input_ids, attention_mask))
    }
}

/// See [`CausalLogits::loss_inputs`].
pub enum LossInputs {
    Logits(Tensor<3>),
    HiddenAndHead { hidden: Tensor<3>, head: LmHead },
}

/// A language-model head that is one matrix [vocab, hidden].
#[derive(Clone, Debug)]
pub enum LmHead {
    /// `trained`: whether the parameter takes gradients (`weight` may be a transposed view of it).
    Weight { weight: Tensor<2>, trained: bool },
    /// Frozen and quantized (a GGUF base under LoRA): the loss decodes it a slice at a time.
    Frozen(FrozenMatrix),
}

impl CausalLogits for LlamaForCausalLM {
    fn logits(&self, input_ids: Tensor<2, Int>, attention_mask: Option<Tensor<2, Int>>) -> Tensor<3> {
        self.forward(input_ids, attention_mask, None)
    }

    fn loss_inputs(&self, input_ids: Tensor<2, Int>, attention_mask: Option<Tensor<2, Int>>) -> LossInputs {
        let head = match (&self.lm_head, self.frozen_head()) {
            (_, Some(frozen)) => LmHead::Frozen(frozen.clone()),
            (None, None) => LmHead::Weight { weight: self.model.embed_tokens.weight.val(), trained: self.model.embed_tokens.weight.is_require_grad() },
            (Some(head), None) if head.bias.is_none() && head.weight.adapter().is_none() => {
                LmHead::Weight { weight: head.weight.val().transpose(), trained: head.weight.is_require_grad() }
            }
            (Some(_), None) => return LossInputs::Logits(self.logits(input_ids, attention_mask)),
        };
        LossInputs::HiddenAndHead { hidden: self.model.forward(input_ids, attention_mask, None), head }
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

    /// Its config (each family's model keeps the one it was built from).
    pub fn config(&self) -> &dyn DecoderSpec {
        match self {
            DecoderModel::Llama(m) => &m.config,
            DecoderModel::Gpt2(m) => &m.config,
            DecoderModel::Packed(m) => &m.config,
            DecoderModel::GpuPacked(m) => &m.config,
        }
    }

    /// The Llama config, if this is a Llama-family model.
    pub fn llama_config(&self) -> Option<&LlamaConfig> {
        match self {
            DecoderModel::Llama(m) => Some(&m.config),
            DecoderModel::Packed(m) => Some(&m.config),
            DecoderModel::GpuPacked(m) => Some(&m.config),
            DecoderModel::Gpt2(_) => None,
        }
    }

    /// The Llama inside, if this is one.
    pub fn as_llama(&self) -> Option<&LlamaForCausalLM> {
        match self {
            DecoderModel::Llama(m) => Some(m),
            DecoderModel::Gpt2(_) | DecoderModel::Packed(_) | DecoderModel::GpuPacked(_) => None,
        }
    }
}

impl CausalLogits for DecoderModel {
    fn logits(&self, input_ids: Tensor<2, Int>, attention_mask: Option<Tensor<2, Int>>) -> Tensor<3> {
        self.forward(input_ids, attention_mask, None)
    }

    fn loss_inputs(&self, input_ids: Tensor<2, Int>, attention_mask: Option<Tensor<2, Int>>) -> LossInputs {
        match self {
            DecoderModel::Llama(m) => m.loss_inputs(input_ids, attention_mask),
            other => LossInputs::Logits(other.logits(input_ids, attention_mask)),
        }
    }
}

/// What generation, evaluation and the pipelines read of a decoder's config, whatever its family.
pub trait DecoderSpec {
    fn vocab_size(&self) -> usize;
    fn hidden_size(&self) -> usize;
    fn layers(&self) -> usize;
    /// The longest sequence the model reads.
    fn max_positions(&self) -> usize;
    fn bos_token_id(&self) -> Option<u32>;
    /// The tokens that end generation.
    fn eos_ids(&self) -> Vec<u32>;
}

impl DecoderSpec for LlamaConfig {
    fn vocab_size(&self) -> usize {
        self.vocab_size
    }
    fn hidden_size(&self) -> usize {
        self.hidden_size
    }
    fn layers(&self) -> usize {
        self.num_hidden_layers
    }
    fn max_positions(&self) -> usize {
        self.max_position_embeddings
    }
    fn bos_token_id(&self) -> Option<u32> {
        self.bos_token_id
    }
    fn eos_ids(&self) -> Vec<u32> {
        LlamaConfig::eos_ids(self)
    }
}

impl DecoderSpec for Gpt2Config {
    fn vocab_size(&self) -> usize {
        self.vocab_size
    }
    fn hidden_size(&self) -> usize {
        self.n_embd
    }
    fn layers(&self) -> usize {
        self.n_layer
    }
    fn max_positions(&self) -> usize {
        self.n_positions
    }
    fn bos_token_id(&self) -> Option<u32> {
        self.bos_token_id
    }
    fn eos_ids(&self) -> Vec<u32> {
        self.eos_token_id.into_iter().collect()
    }
}

/// A decoder's `config.json`, parsed: which family's model to build. A loaded model keeps its
/// own config ([`DecoderModel::config`]).
#[derive(Clone, Debug)]
pub enum DecoderConfig {
    Llama(LlamaConfig),
    Gpt2(Gpt2Config),
}

impl DecoderConfig {
    /// Parses and validates a Hugging Face `config.json` of a decoder family webtune reads.
    pub fn from_json(text: &str) -> Result<Self> {
        match model_type(text)?.as_deref() {
            None => Ok(DecoderConfig::Llama(LlamaConfig::from_json(text)?)),
            Some(t) if LlamaConfig::reads(t) => Ok(DecoderConfig::Llama(LlamaConfig::from_json(text)?)),
            Some("gemma3") => Err(crate::Error::Weights(
                "config.json: model_type \"gemma3\" is Gemma 3's image-and-text model (Gemma3ForConditionalGeneration); webtune reads its text-only checkpoints (model_type \"gemma3_text\": Gemma 3 270M and 1B)".into(),
            )),
            Some("gpt2") => Ok(DecoderConfig::Gpt2(Gpt2Config::from_json(text)?)),
            Some(t) => Err(not_a(ModelKind::Decoder, t)),
        }
    }
}
