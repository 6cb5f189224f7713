//! A loaded BERT-family token classifier (NER): entities with character offsets and every
//! transformers aggregation strategy, evaluation with seqeval's entity metrics, export.

use burn::{
    module::Module,
    tensor::{
        Device, Int, Tensor, TensorData,
        activation::{log_softmax, softmax},
    },
};

use super::{
    ModelFiles,
    encoder::encoder_parts,
    entity_metrics::EntityMetrics,
    token_aggregation::{Aggregation, TokenEntity, entities},
};
use crate::{
    ComputeDevice, Error, Result,
    data::{LabelMap, batch_tensors, tagged::TaggedDataset, tagged_batch::tagged_batch},
    kernels::argmax::argmax,
    models::{bert::BertConfig, encoder_family::EncoderHead, heads::BertForTokenClassification, lora::LoraOptions},
    tokenizer::{Batch, TextTokenizer},
    weights::{LoadReport, bert},
};

/// Sum of the token cross-entropies of `logits` [batch, seq, tags] against `labels` ([batch ·
/// seq], negative = ignored), and how many tokens were labelled: the mean is `sum / count`, as
/// PyTorch's `CrossEntropyLoss(ignore_index=-100)`.
pub fn token_cross_entropy(logits: Tensor<3>, labels: &[i64], device: &Device) -> (Tensor<1>, usize) {
    let [b, s, tags] = logits.dims();
    let targets: Vec<i32> = labels.iter().map(|&y| if y < 0 { 0 } else { y as i32 }).collect();
    let mask: Vec<f32> = labels.iter().map(|&y| if y < 0 { 0.0 } else { 1.0 }).collect();
    let count = mask.iter().filter(|&&m| m > 0.0).count();
    let log_probs = log_softmax(logits.reshape([b * s, tags]), 1);
    let targets = Tensor::<2, Int>::from_data(TensorData::new(targets, [b * s, 1]), device);
    let picked = log_probs.gather(1, targets).reshape([b * s]);
    let mask = Tensor::<1>::from_data(TensorData::new(mask, [b * s]), device);
    ((picked * mask).sum().neg(), count)
}

/// Entity metrics of `model` on `data` (dropout off): each word's tag is its first token's
/// prediction; a word cut off by `max_length` is predicted `O` (its entity counts as missed).
pub async fn evaluate_tagger(
    model: &BertForTokenClassification,
    device: &ComputeDevice,
    tokenizer: &TextTokenizer,
    data: &TaggedDataset,
    max_length: usize,
    batch_size: usize,
) -> Result<EntityMetrics> {
    if data.is_empty() {
        return Err(Error::Data("the evaluation data has no sentences".into()));
    }
    let names = &data.labels.names;
    let indices: Vec<usize> = (0..data.len()).collect();
    let (mut truth, mut predicted) = (Vec::new(), Vec::new());
    let (mut loss_sum, mut labelled) = (0.0, 0usize);
    for chunk in indices.chunks(batch_size.max(1)) {
        let b = tagged_batch(data, chunk, tokenizer, max_length, false)?;
        let [ids, types, mask] = batch_tensors(&b.tokens, device.device());
        let logits = model.forward(ids, types, mask);
        let (sum, count) = token_cross_entropy(logits.clone(), &b.labels, device.device());
        let [n, seq, tags] = logits.dims();
        // one read per batch: the loss sum, then the logits
        let mut read = device.read_all(vec![sum, logits.reshape([n * seq * tags])]).await?.into_iter();
        let (sum, flat) = (read.next().unwrap_or_default(), read.next().unwrap_or_default());
        let rows: Vec<&[f32]> = flat.chunks(tags.max(1)).collect();
        loss_sum += sum.first().copied().unwrap_or(f32::NAN) as f64;
        labelled += count;
        for (i, &r) in chunk.iter().enumerate() {
            let sentence = &data.sentences[r];
            truth.push(data.tag_names(sentence));
            predicted.push(
                b.word_starts[i]
                    .iter()
                    .map(|start| start.map_or_else(|| "O".to_string(), |p| names[argmax(rows[i * seq + p]) as usize].clone()))
                    .collect::<Vec<_>>(),
            );
        }
    }
    let loss = (labelled > 0).then(|| loss_sum / labelled as f64);
    EntityMetrics::compute(&truth, &predicted, loss)
}

/// A token classifier ready for inference.
pub struct TokenClassifier {
    pub config: BertConfig,
    pub tokenizer: TextTokenizer,
    pub model: BertForTokenClassification,
    pub device: ComputeDevice,
    /// What loading reported (fresh head, ignored keys, casts).
    pub report: LoadReport,
    /// Longest input in tokens; longer texts are cut (their later words get no entities).
    pub max_length: usize,
    /// Texts per forward pass.
    pub batch_size: usize,
    /// The original `config.json` and `tokenizer.json`, for [`TokenClassifier::export`].
    source_config: Vec<u8>,
    source_tokenizer: Vec<u8>,
    /// The LoRA settings of a model tuned with adapters (kept apart from its weights).
    pub lora: Option<LoraOptions>,
}

impl TokenClassifier {
    /// Loads config, weights and tokenizer onto `device` (inference mode, no autodiff).
    pub fn load(files: ModelFiles, device: &ComputeDevice) -> Result<Self> {
        let (config, tokenizer, device, weights, sources) = encoder_parts(files, device)?;
        let (model, report) = bert::load_token_classifier(&config, weights, device.device(), false, 0)?;
        Ok(TokenClassifier { report, ..Self::from_model(config, tokenizer, model, device, &sources) })
    }

    /// A token classifier around a model built in this process (e.g. fine-tuned) on `device`;
    /// `files` are the ones it started from (their config and tokenizer are exported with it).
    pub fn from_model(config: BertConfig, tokenizer: TextTokenizer, model: BertForTokenClassification, device: ComputeDevice, files: &ModelFiles) -> Self {
        TokenClassifier {
            max_length: config.max_tokens(),
            batch_size: 32,
            config,
            tokenizer,
            model,
            device,
            report: LoadReport::default(),
            source_config: files.config.clone(),
            source_tokenizer: files.tokenizer.clone(),
            lora: None,
        }
    }

    /// The same model, noting that its adapters were made with `lora`.
    pub fn with_lora(self, lora: Option<LoraOptions>) -> Self {
        TokenClassifier { lora, ..self }
    }

    /// The tag probabilities of every token of each text, with its tokens.
    async fn probabilities(&self, texts: &[&str]) -> Result<Vec<(crate::tokenizer::words::TextTokens, Vec<Vec<f32>>)>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.batch_size.max(1)) {
            let encoded = chunk.iter().map(|t| self.tokenizer.encode_offsets(t, self.max_length)).collect::<Result<Vec<_>>>()?;
            let seq = encoded.iter().map(|e| e.ids.len()).max().unwrap_or(0);
            let pad = self.tokenizer.pad_id() as i32;
            let mut b = Batch { input_ids: vec![], attention_mask: vec![], token_type_ids: vec![], batch: chunk.len(), seq };
            for e in &encoded {
                let fill = seq - e.ids.len();
                b.input_ids.extend(e.ids.iter().map(|&x| x as i32).chain(std::iter::repeat_n(pad, fill)));
                b.attention_mask.extend(std::iter::repeat_n(1, e.ids.len()).chain(std::iter::repeat_n(0, fill)));
                b.token_type_ids.extend(e.type_ids.iter().map(|&x| x as i32).chain(std::iter::repeat_n(0, fill)));
            }
            let [ids, types, mask] = batch_tensors(&b, self.device.device());
            let logits = self.model.forward(ids, types, mask);
            let [n, _, tags] = logits.dims();
            let rows = self.device.read_rows(softmax(logits, 2).reshape([n * seq, tags])).await?;
            for (i, e) in encoded.into_iter().enumerate() {
                let probs = rows[i * seq..i * seq + e.ids.len()].to_vec();
                out.push((e, probs));
            }
        }
        Ok(out)
    }

    /// The entities of each text (tags other than `O`), merged by `aggregation`, with their
    /// character offsets — transformers' `pipeline("token-classification")`.
    pub async fn tag(&self, texts: &[&str], aggregation: Aggregation) -> Result<Vec<Vec<TokenEntity>>> {
        if texts.is_empty() {
            return Err(Error::Data("no texts given: pass at least one string".into()));
        }
        let labels = self.config.labels();
        self.probabilities(texts)
            .await?
            .into_iter()
            .zip(texts)
            .map(|((tokens, probs), text)| entities(text, &tokens, &probs, &labels, aggregation, &self.tokenizer))
            .collect()
    }

    /// Entity precision, recall and F1 on tagged sentences, whose tags must be this model's.
    pub async fn evaluate(&self, bytes: &[u8], source: &str) -> Result<EntityMetrics> {
        let data = TaggedDataset::read_with_labels(bytes, source, LabelMap::from_names(self.config.labels()))?;
        evaluate_tagger(&self.model, &self.device, &self.tokenizer, &data, self.max_length, self.batch_size).await
    }

    /// The model as a Hugging Face folder (`config.json` with its tags and
    /// `…ForTokenClassification`, `model.safetensors`, `tokenizer.json`).
    pub async fn export(&self) -> Result<ModelFiles> {
        Ok(ModelFiles {
            config: bert::export_config_for(&self.config, &self.source_config, &self.config.labels(), EncoderHead::TokenClassification)?,
            weights: bert::export_token_classifier(&self.config, &self.model.clone().materialize(), &self.device).await?,
            tokenizer: self.source_tokenizer.clone(),
        })
    }

    /// A LoRA-tuned model's adapters and `classifier` as PEFT's files (`TOKEN_CLS`).
    pub async fn export_adapter(&self, base_model: &str) -> Result<Vec<(&'static str, Vec<u8>)>> {
        bert::peft_files(&self.model, &self.config, EncoderHead::TokenClassification, self.lora.as_ref(), &self.device, base_model).await
    }
}
