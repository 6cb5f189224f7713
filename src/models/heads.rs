//! Task heads on top of the encoders.

use burn::{
    module::Module,
    nn::{Dropout, DropoutConfig, Linear, LinearConfig},
    tensor::{Device, Int, Tensor},
};

use super::bert::{BertConfig, BertModel};
use crate::kernels::linear::linear;
use crate::Result;

/// HF `BertForSequenceClassification`: pooler output → dropout → `classifier` linear layer.
#[derive(Module, Debug)]
pub struct BertForSequenceClassification {
    pub bert: BertModel,
    pub dropout: Dropout,
    pub classifier: Linear,
}

impl BertForSequenceClassification {
    /// Random initialisation with `config.labels().len()` classes and a pooler.
    pub fn new(config: &BertConfig, device: &Device) -> Result<Self> {
        Ok(BertForSequenceClassification {
            bert: BertModel::new(config, true, device)?,
            dropout: DropoutConfig::new(config.classifier_dropout.unwrap_or(config.hidden_dropout_prob)).init(),
            classifier: LinearConfig::new(config.hidden_size, config.labels().len()).init(device),
        })
    }

    /// [batch, seq] ids/types/mask → logits [batch, num_labels].
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        token_type_ids: Tensor<2, Int>,
        attention_mask: Tensor<2, Int>,
    ) -> Tensor<2> {
        let out = self.bert.forward(input_ids, token_type_ids, attention_mask);
        let pooled = out.pooler_output.expect("constructed with a pooler");
        linear(&self.classifier, self.dropout.forward(pooled))
    }
}

/// HF `*ForTokenClassification`: the encoder (no pooler) → dropout → `classifier`, per token.
#[derive(Module, Debug)]
pub struct BertForTokenClassification {
    pub bert: BertModel,
    pub dropout: Dropout,
    pub classifier: Linear,
}

impl BertForTokenClassification {
    /// Random initialisation with `config.labels().len()` tags.
    pub fn new(config: &BertConfig, device: &Device) -> Result<Self> {
        Ok(BertForTokenClassification {
            bert: BertModel::new(config, false, device)?,
            dropout: DropoutConfig::new(config.token_classifier_dropout()).init(),
            classifier: LinearConfig::new(config.hidden_size, config.labels().len()).init(device),
        })
    }

    /// [batch, seq] ids/types/mask → logits [batch, seq, num_labels].
    pub fn forward(&self, input_ids: Tensor<2, Int>, token_type_ids: Tensor<2, Int>, attention_mask: Tensor<2, Int>) -> Tensor<3> {
        let hidden = self.bert.forward(input_ids, token_type_ids, attention_mask).last_hidden_state;
        linear(&self.classifier, self.dropout.forward(hidden))
    }
}

/// HF `*ForQuestionAnswering`: the encoder (no pooler) → `qa_outputs`, a start and an end score
/// per token (DistilBERT's with `qa_dropout` before it).
#[derive(Module, Debug)]
pub struct BertForQuestionAnswering {
    pub bert: BertModel,
    pub dropout: Dropout,
    pub qa_outputs: Linear,
}

impl BertForQuestionAnswering {
    /// Random initialisation.
    pub fn new(config: &BertConfig, device: &Device) -> Result<Self> {
        Ok(BertForQuestionAnswering {
            bert: BertModel::new(config, false, device)?,
            dropout: DropoutConfig::new(config.qa_dropout.unwrap_or(0.0)).init(),
            qa_outputs: LinearConfig::new(config.hidden_size, 2).init(device),
        })
    }

    /// [batch, seq] ids/types/mask → (start, end) logits, [batch, seq] each.
    pub fn forward(&self, input_ids: Tensor<2, Int>, token_type_ids: Tensor<2, Int>, attention_mask: Tensor<2, Int>) -> (Tensor<2>, Tensor<2>) {
        let hidden = self.bert.forward(input_ids, token_type_ids, attention_mask).last_hidden_state;
        let [b, s, _] = hidden.dims();
        let logits = linear(&self.qa_outputs, self.dropout.forward(hidden)); // [b, s, 2]
        let start = logits.clone().slice([0..b, 0..s, 0..1]).reshape([b, s]);
        let end = logits.slice([0..b, 0..s, 1..2]).reshape([b, s]);
        (start, end)
    }
}

/// How token vectors become one sentence vector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pooling {
    /// Average over real tokens (sentence-transformers' default; what all-MiniLM-L6-v2 uses).
    #[default]
    Mean,
    /// The first (`[CLS]`) token's vector.
    Cls,
}

impl std::str::FromStr for Pooling {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mean" => Ok(Pooling::Mean),
            "cls" => Ok(Pooling::Cls),
            other => Err(crate::Error::Options(format!("unknown pooling {other:?}; valid values are \"mean\", \"cls\""))),
        }
    }
}

/// `hidden` [batch, seq, hidden], `attention_mask` [batch, seq] → [batch, hidden].
pub fn pool(hidden: Tensor<3>, attention_mask: Tensor<2, Int>, pooling: Pooling) -> Tensor<2> {
    let [batch, seq, h] = hidden.dims();
    match pooling {
        Pooling::Cls => hidden.slice([0..batch, 0..1, 0..h]).reshape([batch, h]),
        Pooling::Mean => {
            let mask = attention_mask.float().reshape([batch, seq, 1]); // [batch, seq, 1]
            let summed = (hidden * mask.clone()).sum_dim(1).reshape([batch, h]);
            let counts = mask.sum_dim(1).reshape([batch, 1]).clamp_min(1e-9);
            summed / counts
        }
    }
}

/// Rows scaled to unit L2 norm. [batch, hidden] → [batch, hidden].
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powf_scalar(2.0).sum_dim(1).sqrt().clamp_min(1e-12); // [batch, 1]
    x / norm
}
