//! BERT-family encoder (BERT, MiniLM, RoBERTa, XLM-RoBERTa, DistilBERT), following Hugging Face
//! `modeling_bert.py`: embeddings → N × (self-attention → add & LayerNorm → feed-forward → add &
//! LayerNorm) → pooler. The families' differences are named in [`super::encoder_family`].
//!
//! Field names mirror the checkpoint names (`encoder.layer.N.attention.self.query`, …) so that
//! `weights/bert.rs` only renames `LayerNorm` → `layer_norm` and `self` → `self_attn`.

use std::collections::BTreeMap;

use burn::{
    module::Module,
    nn::{
        Dropout, DropoutConfig, Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig,
        activation::{Activation, ActivationConfig},
    },
    tensor::{Device, Int, Tensor},
};
use serde::Deserialize;

use super::{
    activation::{activate, gelu_erf},
    encoder_family::{self, EncoderFamily},
};
use crate::kernels::linear::{linear, linear_gelu};
use crate::kernels::softmax::softmax_last;
use crate::{Error, Result};

/// Hugging Face `BertConfig`, read straight from `config.json` (missing fields take HF's defaults).
#[derive(Clone, Debug, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    /// `"gelu"` (exact erf), `"gelu_new"` / `"gelu_pytorch_tanh"` (tanh), `"relu"`.
    #[serde(default = "defaults::hidden_act")]
    pub hidden_act: String,
    #[serde(default = "defaults::layer_norm_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "defaults::max_position_embeddings")]
    pub max_position_embeddings: usize,
    #[serde(default = "defaults::type_vocab_size")]
    pub type_vocab_size: usize,
    #[serde(default = "defaults::dropout")]
    pub hidden_dropout_prob: f64,
    #[serde(default = "defaults::dropout")]
    pub attention_probs_dropout_prob: f64,
    /// Classifier dropout; HF falls back to `hidden_dropout_prob` when null.
    #[serde(default)]
    pub classifier_dropout: Option<f64>,
    /// DistilBERT's dropout before its question-answering head (`qa_dropout`); the other families
    /// have none there.
    #[serde(default)]
    pub qa_dropout: Option<f64>,
    #[serde(default)]
    pub pad_token_id: Option<i64>,
    /// Only `"absolute"` is supported.
    #[serde(default = "defaults::position_embedding_type")]
    pub position_embedding_type: String,
    /// Class index (as a string key, like HF's JSON) → label name.
    #[serde(default)]
    pub id2label: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub label2id: Option<BTreeMap<String, i64>>,
    /// `"single_label_classification"`, `"multi_label_classification"` or `"regression"`.
    #[serde(default)]
    pub problem_type: Option<String>,
    /// Written by HF for multi-class models; otherwise the size of `id2label`.
    #[serde(default)]
    pub num_labels: Option<usize>,
    #[serde(default)]
    pub model_type: Option<String>,
    /// Standard deviation of newly initialised weights (a new head), as in HF's `_init_weights`.
    #[serde(default = "defaults::initializer_range")]
    pub initializer_range: f64,
    /// Set from `model_type` by [`BertConfig::from_json`].
    #[serde(skip)]
    pub family: EncoderFamily,
}

mod defaults {
    pub fn hidden_act() -> String { "gelu".into() }
    pub fn layer_norm_eps() -> f64 { 1e-12 }
    pub fn max_position_embeddings() -> usize { 512 }
    pub fn type_vocab_size() -> usize { 2 }
    pub fn dropout() -> f64 { 0.1 }
    pub fn position_embedding_type() -> String { "absolute".into() }
    pub fn initializer_range() -> f64 { 0.02 }
}

/// Most classes a classifier head may have (beyond this the head alone outweighs the encoder).
pub const MAX_LABELS: usize = 100_000;

impl BertConfig {
    /// Parses and validates a Hugging Face `config.json` of any encoder family webtune reads.
    pub fn from_json(text: &str) -> Result<Self> {
        let family = EncoderFamily::of(super::family::model_type(text)?.as_deref())?;
        let invalid = |e: serde_json::Error| Error::Weights(format!("config.json is not a valid {} config: {e}", family.title()));
        let mut cfg: BertConfig = match family {
            EncoderFamily::DistilBert => serde_json::from_value(encoder_family::distilbert_as_bert(text)?).map_err(invalid)?,
            _ => serde_json::from_str(text).map_err(invalid)?,
        };
        cfg.family = family;
        if family.positions_after_padding() {
            cfg.pad_token_id = Some(cfg.pad_token_id.unwrap_or(1)); // RobertaConfig's default
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// The longest input in tokens: `max_position_embeddings`, less RoBERTa's position offset.
    pub fn max_tokens(&self) -> usize {
        self.max_position_embeddings.saturating_sub(self.position_offset())
    }

    /// Where positions start: RoBERTa counts from `pad_token_id + 1`, the others from 0.
    fn position_offset(&self) -> usize {
        match (self.family.positions_after_padding(), self.pad_token_id) {
            (true, Some(pad)) => (pad as usize).saturating_add(1),
            _ => 0,
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Weights(format!("config.json: {m}")));
        if self.num_hidden_layers == 0 || self.vocab_size == 0 {
            return bad(format!(
                "num_hidden_layers {} and vocab_size {} must be at least 1",
                self.num_hidden_layers, self.vocab_size
            ));
        }
        let dropouts = [
            ("hidden_dropout_prob", Some(self.hidden_dropout_prob)),
            ("attention_probs_dropout_prob", Some(self.attention_probs_dropout_prob)),
            ("classifier_dropout", self.classifier_dropout),
        ];
        for (name, p) in dropouts {
            if let Some(p) = p
                && !(0.0..1.0).contains(&p)
            {
                return bad(format!("{name} {p} must be in [0, 1) (a probability; 0.1 is usual)"));
            }
        }
        if self.num_attention_heads == 0 || self.hidden_size % self.num_attention_heads != 0 {
            return bad(format!(
                "hidden_size {} must be a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.intermediate_size == 0 || self.max_position_embeddings == 0 || (self.family.has_token_types() && self.type_vocab_size == 0) {
            return bad(format!(
                "intermediate_size {}, max_position_embeddings {} and type_vocab_size {} must be at least 1",
                self.intermediate_size, self.max_position_embeddings, self.type_vocab_size
            ));
        }
        if self.family.positions_after_padding() && self.max_tokens() < 2 {
            return bad(format!(
                "max_position_embeddings {} leaves no room for a text: {}'s positions start at pad_token_id + 1 = {}",
                self.max_position_embeddings,
                self.family.title(),
                self.position_offset()
            ));
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps >= 0.0) {
            return bad(format!("layer_norm_eps {} must be a small non-negative number (1e-12 is usual)", self.layer_norm_eps));
        }
        if !(self.initializer_range.is_finite() && self.initializer_range >= 0.0) {
            return bad(format!("initializer_range {} must be a small non-negative number (0.02 is usual)", self.initializer_range));
        }
        let labels = self.label_count();
        if !(1..=MAX_LABELS).contains(&labels) {
            return bad(format!("{labels} labels (num_labels/id2label): a classifier needs between 1 and {MAX_LABELS}"));
        }
        if let Some(id) = self.pad_token_id
            && !(0..self.vocab_size as i64).contains(&id)
        {
            return bad(format!("pad_token_id {id} is not a token id below vocab_size {}", self.vocab_size));
        }
        if self.position_embedding_type != "absolute" {
            return bad(format!(
                "position_embedding_type {:?} is not supported (only \"absolute\")",
                self.position_embedding_type
            ));
        }
        self.activation().map(|_| ())
    }

    /// Number of weights of the encoder with its pooler and a `labels`-class head; saturates
    /// instead of overflowing, so an absurd config gives a number too large to load.
    pub fn parameters(&self, labels: usize) -> u64 {
        let n = |x: usize| x as u64;
        let (h, i, l) = (n(self.hidden_size), n(self.intermediate_size), n(labels));
        let rows = n(self.vocab_size).saturating_add(n(self.max_position_embeddings)).saturating_add(n(self.type_vocab_size));
        let embeddings = rows.saturating_mul(h).saturating_add(2 * h);
        let layer = [h.saturating_mul(h).saturating_add(h).saturating_mul(4), h.saturating_mul(i).saturating_mul(2), i, h, 4 * h]
            .into_iter()
            .fold(0u64, u64::saturating_add);
        let pooler = h.saturating_mul(h).saturating_add(h);
        let head = h.saturating_mul(l).saturating_add(l);
        [embeddings, n(self.num_hidden_layers).saturating_mul(layer), pooler, head].into_iter().fold(0u64, u64::saturating_add)
    }

    /// The feed-forward activation `hidden_act` names.
    pub fn activation(&self) -> Result<ActivationConfig> {
        match self.hidden_act.as_str() {
            "gelu" => Ok(ActivationConfig::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" => Ok(ActivationConfig::GeluApproximate),
            "relu" => Ok(ActivationConfig::Relu),
            other => Err(Error::Weights(format!(
                "config.json: hidden_act {other:?} is not supported; supported: \"gelu\", \"gelu_new\", \"gelu_pytorch_tanh\", \"relu\""
            ))),
        }
    }

    /// The same config with these class labels (in id order), as a fine-tuning run sets them.
    pub fn with_labels(mut self, names: &[String]) -> Self {
        self.id2label = Some(names.iter().enumerate().map(|(i, n)| (i.to_string(), n.clone())).collect());
        self.label2id = Some(names.iter().enumerate().map(|(i, n)| (n.clone(), i as i64)).collect());
        self.num_labels = Some(names.len());
        self
    }

    /// The class labels in index order (`LABEL_i` where id2label is missing).
    pub fn labels(&self) -> Vec<String> {
        (0..self.label_count())
            .map(|i| {
                self.id2label
                    .as_ref()
                    .and_then(|m| m.get(&i.to_string()).cloned())
                    .unwrap_or_else(|| format!("LABEL_{i}"))
            })
            .collect()
    }

    /// Number of classes (`num_labels`, else `id2label`'s size, else 2 as transformers defaults).
    pub fn label_count(&self) -> usize {
        self.num_labels.or(self.id2label.as_ref().map(|m| m.len())).unwrap_or(2)
    }

    /// The dropout before a token-classification head: `classifier_dropout`, else the hidden
    /// dropout (DistilBERT's token head uses its `dropout`, not the sequence head's).
    pub fn token_classifier_dropout(&self) -> f64 {
        match self.family {
            EncoderFamily::DistilBert => self.hidden_dropout_prob,
            _ => self.classifier_dropout.unwrap_or(self.hidden_dropout_prob),
        }
    }

    /// A LayerNorm over the hidden size with the config's epsilon.
    pub fn layer_norm(&self, device: &Device) -> LayerNorm {
        LayerNormConfig::new(self.hidden_size).with_epsilon(self.layer_norm_eps).init(device)
    }

    fn dropout(&self) -> Dropout {
        DropoutConfig::new(self.hidden_dropout_prob).init()
    }
}

/// Word + position + token-type embeddings, LayerNorm, dropout.
#[derive(Module, Debug)]
pub struct BertEmbeddings {
    pub word_embeddings: Embedding,
    pub position_embeddings: Embedding,
    /// None for DistilBERT.
    pub token_type_embeddings: Option<Embedding>,
    pub layer_norm: LayerNorm,
    pub dropout: Dropout,
    /// RoBERTa's `padding_idx`: positions count from it + 1 over non-padding tokens.
    #[module(skip)]
    pub positions_after: Option<i64>,
    /// Every token takes type 0, whatever the tokenizer says: RoBERTa's and XLM-RoBERTa's tokenizers
    /// never hand their type ids to the model (its one type row), and their templates can give 1 in
    /// overflowing windows, which would index past it.
    #[module(skip)]
    pub single_type: bool,
    /// PyTorch's `padding_idx` (`pad_token_id`): the padding token's word embedding (and RoBERTa's
    /// padding position) gets no gradient, so training never moves it.
    #[module(skip)]
    pub padding_idx: Option<i64>,
}

impl BertEmbeddings {
    fn new(c: &BertConfig, device: &Device) -> Self {
        let emb = |n, d: &Device| EmbeddingConfig::new(n, c.hidden_size).init(d);
        BertEmbeddings {
            word_embeddings: emb(c.vocab_size, device),
            position_embeddings: emb(c.max_position_embeddings, device),
            token_type_embeddings: c.family.has_token_types().then(|| emb(c.type_vocab_size, device)),
            layer_norm: c.layer_norm(device),
            dropout: c.dropout(),
            positions_after: if c.family.positions_after_padding() { c.pad_token_id } else { None },
            single_type: c.family.positions_after_padding(),
            padding_idx: Some(c.pad_token_id.unwrap_or(0)),
        }
    }

    /// `input_ids`, `token_type_ids`: [batch, seq] → [batch, seq, hidden].
    pub fn forward(&self, input_ids: Tensor<2, Int>, token_type_ids: Tensor<2, Int>) -> Tensor<3> {
        let [batch, seq] = input_ids.dims();
        let positions = match self.positions_after {
            // HF `create_position_ids_from_input_ids`: cumsum(ids != pad) · (ids != pad) + pad
            Some(pad) => {
                let real = input_ids.clone().not_equal_elem(pad).int(); // [batch, seq]
                real.clone().cumsum(1) * real + pad
            }
            None => Tensor::<1, Int>::arange(0..seq as i64, &input_ids.device()).unsqueeze::<2>().expand([batch, seq]),
        };
        let (mut word, mut position) = (self.word_embeddings.forward(input_ids.clone()), self.position_embeddings.forward(positions));
        if let Some(pad) = self.padding_idx
            && word.is_autodiff()
        {
            // padding tokens read their word row (and RoBERTa's padding position row) without a gradient
            let keep = input_ids.not_equal_elem(pad).float().unsqueeze_dim::<3>(2); // [batch, seq, 1]
            let cut = |t: Tensor<3>| t.clone() * keep.clone() + t.detach() * (keep.clone().neg() + 1.0);
            word = cut(word);
            if self.positions_after.is_some() {
                position = cut(position);
            }
        }
        let mut x = word + position;
        if let Some(types) = &self.token_type_embeddings {
            let token_type_ids = if self.single_type { token_type_ids.zeros_like() } else { token_type_ids };
            x = x + types.forward(token_type_ids);
        }
        self.dropout.forward(self.layer_norm.forward(x))
    }
}

/// Multi-head scaled dot-product self-attention (HF `BertSelfAttention`).
#[derive(Module, Debug)]
pub struct BertSelfAttention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub dropout: Dropout,
    pub num_heads: usize,
}

impl BertSelfAttention {
    /// `x`: [batch, seq, hidden]; `mask_bias`: [batch, 1, 1, seq] (0 for tokens, large negative
    /// for padding) → [batch, seq, hidden].
    pub fn forward(&self, x: Tensor<3>, mask_bias: Tensor<4>) -> Tensor<3> {
        self.attend(x, mask_bias).0
    }

    /// As [`Self::forward`], also returning the attention weights [batch, heads, query, key]
    /// (HF's `output_attentions`: after the softmax, before dropout).
    pub fn attend(&self, x: Tensor<3>, mask_bias: Tensor<4>) -> (Tensor<3>, Tensor<4>) {
        let [batch, seq, hidden] = x.dims();
        let head_dim = hidden / self.num_heads;
        let heads = |t: Tensor<3>| t.reshape([batch, seq, self.num_heads, head_dim]).swap_dims(1, 2);
        let q = heads(linear(&self.query, x.clone())); // [batch, heads, seq, head_dim]
        let k = heads(linear(&self.key, x.clone()));
        let v = heads(linear(&self.value, x));
        let scores = q.matmul(k.swap_dims(2, 3)) / (head_dim as f64).sqrt() + mask_bias; // [b, h, seq, seq]
        let weights = softmax_last(scores);
        let out = self.dropout.forward(weights.clone()).matmul(v).swap_dims(1, 2).reshape([batch, seq, hidden]);
        (out, weights)
    }
}

/// Projection + dropout + residual LayerNorm, after attention (`*.attention.output`) and after the
/// feed-forward (`*.output`): the two have the same shape in HF and here.
#[derive(Module, Debug)]
pub struct BertResidual {
    pub dense: Linear,
    pub layer_norm: LayerNorm,
    pub dropout: Dropout,
}

impl BertResidual {
    fn new(c: &BertConfig, d_in: usize, device: &Device) -> Self {
        BertResidual {
            dense: LinearConfig::new(d_in, c.hidden_size).init(device),
            layer_norm: c.layer_norm(device),
            dropout: c.dropout(),
        }
    }

    /// `x`: [batch, seq, d_in], `residual`: [batch, seq, hidden] → [batch, seq, hidden].
    pub fn forward(&self, x: Tensor<3>, residual: Tensor<3>) -> Tensor<3> {
        self.layer_norm.forward(self.dropout.forward(linear(&self.dense, x)) + residual)
    }
}

/// `attention.self` + `attention.output`.
#[derive(Module, Debug)]
pub struct BertAttention {
    pub self_attn: BertSelfAttention,
    pub output: BertResidual,
}

/// The feed-forward expansion (`intermediate.dense` + activation).
#[derive(Module, Debug)]
pub struct BertIntermediate {
    pub dense: Linear,
    pub act: Activation,
}

impl BertIntermediate {
    /// [batch, seq, hidden] → [batch, seq, intermediate].
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        match &self.act {
            // where the fused kernel declines, `linear` would too: straight to Burn
            Activation::Gelu(gelu) if !gelu.approximate && self.dense.weight.adapter().is_none() => {
                linear_gelu(&self.dense, &x).unwrap_or_else(|| gelu_erf(self.dense.forward(x)))
            }
            _ => activate(&self.act, linear(&self.dense, x)),
        }
    }
}

/// One post-LayerNorm transformer block.
#[derive(Module, Debug)]
pub struct BertLayer {
    pub attention: BertAttention,
    pub intermediate: BertIntermediate,
    pub output: BertResidual,
}

impl BertLayer {
    fn new(c: &BertConfig, device: &Device) -> Result<Self> {
        let h = c.hidden_size;
        let lin = |i, o| LinearConfig::new(i, o).init(device);
        Ok(BertLayer {
            attention: BertAttention {
                self_attn: BertSelfAttention {
                    query: lin(h, h),
                    key: lin(h, h),
                    value: lin(h, h),
                    dropout: DropoutConfig::new(c.attention_probs_dropout_prob).init(),
                    num_heads: c.num_attention_heads,
                },
                output: BertResidual {
                    // DistilBERT drops out only the attention weights here, not the projection
                    dropout: if c.family == EncoderFamily::DistilBert { DropoutConfig::new(0.0).init() } else { c.dropout() },
                    ..BertResidual::new(c, h, device)
                },
            },
            intermediate: BertIntermediate {
                dense: lin(h, c.intermediate_size),
                act: c.activation()?.init(device),
            },
            output: BertResidual::new(c, c.intermediate_size, device),
        })
    }

    /// [batch, seq, hidden] → [batch, seq, hidden].
    pub fn forward(&self, x: Tensor<3>, mask_bias: Tensor<4>) -> Tensor<3> {
        self.forward_with_attention(x, mask_bias).0
    }

    /// As [`Self::forward`], also returning the block's attention weights [batch, heads, query, key].
    pub fn forward_with_attention(&self, x: Tensor<3>, mask_bias: Tensor<4>) -> (Tensor<3>, Tensor<4>) {
        let (attn, weights) = self.attention.self_attn.attend(x.clone(), mask_bias);
        let x = self.attention.output.forward(attn, x);
        let ff = self.intermediate.forward(x.clone());
        (self.output.forward(ff, x), weights)
    }
}

/// The stack of blocks.
#[derive(Module, Debug)]
pub struct BertEncoder {
    pub layer: Vec<BertLayer>,
}

/// `tanh(dense(h[:, 0]))`: the `[CLS]` summary that the classification head reads (RoBERTa's
/// `classifier.dense`; DistilBERT's `pre_classifier`, with ReLU).
#[derive(Module, Debug)]
pub struct BertPooler {
    pub dense: Linear,
    #[module(skip)]
    pub relu: bool,
}

impl BertPooler {
    /// [batch, seq, hidden] → [batch, hidden].
    pub fn forward(&self, hidden: Tensor<3>) -> Tensor<2> {
        let [batch, _, h] = hidden.dims();
        let cls = hidden.slice([0..batch, 0..1, 0..h]).reshape([batch, h]);
        let x = linear(&self.dense, cls);
        if self.relu { burn::tensor::activation::relu(x) } else { x.tanh() }
    }
}

/// What one forward pass returns.
pub struct BertOutput {
    /// [batch, seq, hidden]
    pub last_hidden_state: Tensor<3>,
    /// [batch, hidden], when the model has a pooler.
    pub pooler_output: Option<Tensor<2>>,
}

/// The encoder (`BertModel`).
#[derive(Module, Debug)]
pub struct BertModel {
    pub embeddings: BertEmbeddings,
    pub encoder: BertEncoder,
    pub pooler: Option<BertPooler>,
}

/// Added to attention scores at padding keys. Large but finite, so a softmax never sees inf - inf.
const MASKED: f32 = -1e9;

impl BertModel {
    /// A randomly initialised model (weights are then loaded by `weights::bert`).
    pub fn new(c: &BertConfig, with_pooler: bool, device: &Device) -> Result<Self> {
        Ok(BertModel {
            embeddings: BertEmbeddings::new(c, device),
            encoder: BertEncoder {
                layer: (0..c.num_hidden_layers).map(|_| BertLayer::new(c, device)).collect::<Result<_>>()?,
            },
            pooler: with_pooler.then(|| BertPooler {
                dense: LinearConfig::new(c.hidden_size, c.hidden_size).init(device),
                relu: c.family == EncoderFamily::DistilBert,
            }),
        })
    }

    /// `input_ids`, `token_type_ids`, `attention_mask` (1 = token, 0 = padding): [batch, seq].
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        token_type_ids: Tensor<2, Int>,
        attention_mask: Tensor<2, Int>,
    ) -> BertOutput {
        let mask_bias = mask_bias(attention_mask);
        let mut x = self.embeddings.forward(input_ids, token_type_ids);
        for layer in &self.encoder.layer {
            x = layer.forward(x, mask_bias.clone());
        }
        let pooler_output = self.pooler.as_ref().map(|p| p.forward(x.clone()));
        BertOutput { last_hidden_state: x, pooler_output }
    }

    /// Every layer's attention weights, [batch, heads, query, key] each (transformers'
    /// `output_attentions=True`, eager attention); padding keys get weight 0.
    pub fn attentions(&self, input_ids: Tensor<2, Int>, token_type_ids: Tensor<2, Int>, attention_mask: Tensor<2, Int>) -> Vec<Tensor<4>> {
        let mask_bias = mask_bias(attention_mask);
        let mut x = self.embeddings.forward(input_ids, token_type_ids);
        let mut out = Vec::with_capacity(self.encoder.layer.len());
        for layer in &self.encoder.layer {
            let (next, weights) = layer.forward_with_attention(x, mask_bias.clone());
            x = next;
            out.push(weights);
        }
        out
    }
}

/// [batch, seq] attention mask (1 = token) → [batch, 1, 1, seq] bias added to attention scores.
fn mask_bias(attention_mask: Tensor<2, Int>) -> Tensor<4> {
    let [batch, seq] = attention_mask.dims();
    (attention_mask.float().neg() + 1.0).mul_scalar(MASKED).reshape([batch, 1, 1, seq])
}
