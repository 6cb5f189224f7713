//! Fine-tuning a BERT-family token classifier (NER) as a [`Task`] for the shared loop in
//! [`super::trainer`]: transformers' `run_ner.py` recipe (each word's first token learns its tag;
//! the loss is the mean cross-entropy over labelled tokens), judged by seqeval's entity F1.

use burn::tensor::{Device, Tensor};

use super::{
    Best, Checkpoint, Evaluation, Hooks, MemoryPlan, StopReason, TrainOptions,
    encoder_lora::{EncoderLora, start_weights},
    trainer::{self, Task, WeightsOrigin},
};
use crate::{
    ComputeDevice, Error, Result,
    data::{labels::same_set, tagged::TaggedDataset, tagged_batch::tagged_batch},
    infer::{
        ModelFiles,
        encoder::tokenizer_for,
        entity_metrics::ENTITY_METRICS,
        token_classification::{TokenClassifier, evaluate_tagger, token_cross_entropy},
    },
    models::{bert::BertConfig, encoder_family::EncoderHead, heads::BertForTokenClassification, lora::LoraOptions},
    tokenizer::TextTokenizer,
    weights::{LoadReport, bert},
};

/// A fine-tuned token classifier, on the inference (non-autodiff) device.
pub struct TrainedTagger {
    pub model: BertForTokenClassification,
    pub device: ComputeDevice,
    pub config: BertConfig,
    pub tokenizer: TextTokenizer,
    /// The `done` event's content.
    pub stop_reason: StopReason,
    pub steps: usize,
    pub best: Option<Best>,
    /// The LoRA settings the model was tuned with (its adapters are not merged).
    pub lora: Option<LoraOptions>,
}

impl TrainedTagger {
    /// The model for inference and export; `files` are the ones the run started from.
    pub fn into_tagger(self, files: &ModelFiles) -> TokenClassifier {
        TokenClassifier::from_model(self.config, self.tokenizer, self.model, self.device, files).with_lora(self.lora)
    }
}

/// Fine-tunes the checkpoint in `files` to tag the words of `train`, evaluating entity F1 on
/// `validation` (if any): all weights, or with `options.lora` adapters and the head (PEFT's
/// `TOKEN_CLS`), starting from PEFT's `adapter` if given. A checkpoint whose head already knows
/// these tags keeps it; otherwise a new head is drawn from `options.seed`. With `resume`,
/// continues a run from its checkpoint.
#[allow(clippy::too_many_arguments)]
pub async fn fine_tune_token_classifier(
    files: &ModelFiles,
    adapter: Option<&[u8]>,
    device: &ComputeDevice,
    train: &TaggedDataset,
    validation: Option<&TaggedDataset>,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
    hooks: Hooks<'_>,
) -> Result<TrainedTagger> {
    options.validate()?;
    options.check_metric(ENTITY_METRICS, "a token classifier")?;
    options.check_for_task("token-classification")?;
    let config_bytes = resume.map_or(&files.config, |c| &c.config);
    let text = std::str::from_utf8(config_bytes).map_err(|_| Error::Weights("config.json is not UTF-8 text".into()))?;
    let config = BertConfig::from_json(text)?;
    let (order, keeps_head) = tag_order(&config, &train.labels.names);
    let train = train.clone().reorder_labels(&order)?;
    let validation = validation.map(|v| v.clone().reorder_labels(&order)).transpose()?;
    let labels = train.labels.names.clone();
    if let Some(v) = &validation
        && v.labels.names != labels
    {
        return Err(Error::Data("the validation data must use the training data's tags".into()));
    }
    let mut warnings = Vec::new();
    let max_length = options.max_length_for(config.max_tokens(), &mut warnings);
    let tokenizer = tokenizer_for(&config, &files.tokenizer)?;
    let lora = EncoderLora::for_run(options, &config, EncoderHead::TokenClassification, files, adapter)?;
    let task = Tagger {
        new_head: !keeps_head,
        config: config.with_labels(&labels),
        config_bytes: config_bytes.clone(),
        max_length,
        batch_size: options.batch_size,
        seed: options.seed,
        label_all_tokens: options.label_all_tokens,
        lora,
        tokenizer,
        train,
        validation,
        labels,
        warnings,
    };
    let weights = start_weights(files, task.lora.as_ref(), resume.is_some());
    let run = trainer::run(&task, weights, device, options, resume, hooks).await?;
    Ok(TrainedTagger {
        model: run.model,
        device: run.device,
        config: task.config,
        tokenizer: task.tokenizer,
        stop_reason: run.stop_reason,
        steps: run.steps,
        best: run.best,
        lora: task.lora.map(|l| l.options),
    })
}

/// The tag order of a run of the checkpoint with `config` on data tagged `tags`: the
/// checkpoint's when its head knows these tags (then kept: `true`), else the data's (a new head).
pub fn tag_order(config: &BertConfig, tags: &[String]) -> (Vec<String>, bool) {
    let model_labels = config.labels();
    if same_set(&model_labels, tags) { (model_labels, true) } else { (tags.to_vec(), false) }
}

/// The adapters and head a LoRA run of `options` on tags `labels` (in the run's order; `new_head`:
/// the checkpoint's head does not know them) starts from — the draws
/// [`fine_tune_token_classifier`] makes — as PEFT's `adapter_model.safetensors`; `files`: the base.
pub async fn lora_start(files: &ModelFiles, config: &BertConfig, labels: &[String], new_head: bool, options: &TrainOptions) -> Result<Vec<u8>> {
    let lora = EncoderLora::for_run(options, config, EncoderHead::TokenClassification, files, None)?
        .ok_or_else(|| Error::Options("the run's LoRA adapters: it has no lora options".into()))?;
    let device = crate::device::cpu();
    let config = config.clone().with_labels(labels);
    let load_base = |base| bert::load_token_classifier(&config, base, device.device(), new_head, options.seed);
    let (model, _) = lora.load(load_base, &[], WeightsOrigin::Start, options.seed)?;
    lora.export(&model, &device).await
}

/// Token classification as a [`Task`].
struct Tagger {
    config: BertConfig,
    config_bytes: Vec<u8>,
    labels: Vec<String>,
    new_head: bool,
    tokenizer: TextTokenizer,
    train: TaggedDataset,
    validation: Option<TaggedDataset>,
    max_length: usize,
    batch_size: usize,
    seed: u64,
    label_all_tokens: bool,
    lora: Option<EncoderLora>,
    warnings: Vec<String>,
}

impl Task for Tagger {
    type Model = BertForTokenClassification;

    fn examples(&self) -> usize {
        self.train.len()
    }

    fn validation_examples(&self) -> usize {
        self.validation.as_ref().map_or(0, TaggedDataset::len)
    }

    fn labels(&self) -> Vec<String> {
        self.labels.clone()
    }

    fn lengths(&self) -> Result<Vec<usize>> {
        self.train
            .sentences
            .iter()
            .map(|s| self.tokenizer.encode_words(&s.words, self.max_length).map(|e| e.ids.len()))
            .collect()
    }

    /// FNV-1a over the words and tag ids.
    fn fingerprint(&self) -> String {
        super::checkpoint::fnv(self.train.sentences.iter().flat_map(|s| {
            s.words.iter().map(|w| [w.as_bytes(), &[0]].concat()).chain(s.tags.iter().map(|&t| (t as u64).to_le_bytes().to_vec())).chain([vec![1]])
        }))
    }

    fn memory(&self, batch: usize) -> MemoryPlan {
        let lora = self.lora.as_ref().map(|l| l.options.encoder_sizes(&self.config, EncoderHead::TokenClassification, self.labels.len()));
        super::memory::plan_training(&self.config, self.labels.len(), batch, self.max_length, lora)
    }

    /// Parameters without weight decay (HF: biases and LayerNorm weights).
    fn no_decay(path: &str) -> bool {
        path.ends_with(".bias") || path.contains("layer_norm.")
    }

    fn load(&self, weights: Vec<u8>, device: &Device, origin: WeightsOrigin) -> Result<(Self::Model, LoadReport)> {
        let (model, mut report) = match &self.lora {
            None => bert::load_token_classifier(&self.config, weights, device, origin == WeightsOrigin::Start && self.new_head, self.seed)?,
            // the base file is always the original, so a head for other tags is always drawn
            Some(lora) => {
                let load_base = |base| bert::load_token_classifier(&self.config, base, device, self.new_head, self.seed);
                lora.load(load_base, &weights, origin, self.seed)?
            }
        };
        if origin == WeightsOrigin::Start {
            report.warnings.extend(self.warnings.iter().cloned());
        }
        Ok((model, report))
    }

    fn loss(&self, model: &Self::Model, rows: &[usize], device: &Device) -> Result<(Tensor<1>, usize)> {
        let b = tagged_batch(&self.train, rows, &self.tokenizer, self.max_length, self.label_all_tokens)?;
        let tokens = b.tokens.attention_mask.iter().filter(|&&m| m != 0).count();
        let [ids, types, mask] = crate::data::batch_tensors(&b.tokens, device);
        let (sum, labelled) = token_cross_entropy(model.forward(ids, types, mask), &b.labels, device);
        if labelled == 0 {
            return Err(Error::Data(format!(
                "no word of the sentences at {} has a token to learn from (they are empty after tokenizing)",
                rows.iter().map(|&r| self.train.sentences[r].origin.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        Ok((sum.div_scalar(labelled as f64), tokens))
    }

    async fn evaluate(&self, model: &Self::Model, device: &ComputeDevice) -> Result<Evaluation> {
        let data = self.validation.as_ref().ok_or_else(|| Error::Data("no validation data".into()))?;
        let metrics = evaluate_tagger(model, device, &self.tokenizer, data, self.max_length, self.batch_size).await?;
        Ok(Evaluation::Entities(metrics))
    }

    fn config(&self) -> Result<Vec<u8>> {
        bert::export_config_for(&self.config, &self.config_bytes, &self.labels, EncoderHead::TokenClassification)
    }

    async fn export(&self, model: &Self::Model, device: &ComputeDevice) -> Result<Vec<u8>> {
        match &self.lora {
            None => bert::export_token_classifier(&self.config, model, device).await,
            Some(lora) => lora.export(model, device).await,
        }
    }
}
