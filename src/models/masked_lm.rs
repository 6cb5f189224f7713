//! HF `*ForMaskedLM`: the encoder (no pooler) and the masked-LM head — BERT's `cls.predictions`,
//! RoBERTa's `lm_head`, DistilBERT's `vocab_transform`/`vocab_layer_norm`/`vocab_projector`:
//! dense → activation → LayerNorm → the word embeddings (tied, as every one of them saves it) + a
//! bias. Logits are computed only where asked (masked positions): a [tokens, vocab] matrix for
//! every token of a batch would dwarf the rest of the model.

use burn::{
    module::{Module, Param},
    nn::{LayerNorm, Linear, LinearConfig, activation::{Activation, ActivationConfig}},
    tensor::{Device, Int, Tensor},
};

use super::{
    activation::activate,
    bert::{BertConfig, BertModel},
    encoder_family::EncoderFamily,
};
use crate::{Result, kernels::linear::linear};

/// The masked-LM head; its output weights are the encoder's word embeddings.
#[derive(Module, Debug)]
pub struct MlmHead {
    pub transform: Linear,
    pub act: Activation,
    pub layer_norm: LayerNorm,
    pub bias: Param<Tensor<1>>,
}

/// An encoder with its masked-LM head.
#[derive(Module, Debug)]
pub struct BertForMaskedLM {
    pub bert: BertModel,
    pub mlm: MlmHead,
}

impl BertForMaskedLM {
    /// Random initialisation (zero output bias, as transformers').
    pub fn new(config: &BertConfig, device: &Device) -> Result<Self> {
        // RoBERTa's head always uses GELU; BERT's and DistilBERT's the config's activation
        let act = match config.family {
            EncoderFamily::Roberta | EncoderFamily::XlmRoberta => ActivationConfig::Gelu,
            _ => config.activation()?,
        };
        Ok(BertForMaskedLM {
            bert: BertModel::new(config, false, device)?,
            mlm: MlmHead {
                transform: LinearConfig::new(config.hidden_size, config.hidden_size).init(device),
                act: act.init(device),
                layer_norm: config.layer_norm(device),
                bias: Param::from_tensor(Tensor::zeros([config.vocab_size], device)),
            },
        })
    }

    /// Vocabulary logits at `positions`, indices into the batch's tokens flattened row by row
    /// (`[batch, seq]` ids/types/mask; `positions`: `[n]`) → `[n, vocab]`.
    pub fn logits_at(&self, input_ids: Tensor<2, Int>, token_type_ids: Tensor<2, Int>, attention_mask: Tensor<2, Int>, positions: Tensor<1, Int>) -> Tensor<2> {
        let hidden = self.bert.forward(input_ids, token_type_ids, attention_mask).last_hidden_state;
        let [b, s, h] = hidden.dims();
        let picked = hidden.reshape([b * s, h]).select(0, positions);
        let x = self.mlm.layer_norm.forward(activate(&self.mlm.act, linear(&self.mlm.transform, picked)));
        let vocab = self.bert.embeddings.word_embeddings.weight.val(); // [vocab, hidden]
        x.matmul(vocab.transpose()) + self.mlm.bias.val().unsqueeze_dim(0)
    }
}
