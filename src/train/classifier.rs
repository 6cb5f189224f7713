//! Fine-tuning a BERT-family sequence classifier (a [`Task`] for the shared loop in
//! [`super::trainer`]).

use burn::{
    nn::loss::CrossEntropyLossConfig,
    tensor::{Device, Int, Tensor, TensorData},
};

use super::{
    Best, Checkpoint, Evaluation, Hooks, MemoryPlan, StopReason, TrainOptions,
    checkpoint::fingerprint,
    encoder_lora::{EncoderLora, start_weights},
    trainer::{self, Task, WeightsOrigin},
};
use crate::{
    ComputeDevice, Error, Result,
    data::{Dataset, Example, augment::AugmentOptions, labels::same_set, make_batch, token_lengths},
    data::batch_tensors,
    infer::{
        Encoder, ModelFiles,
        contextual_augment::{augment_epoch, load_augmenter},
        evaluation::evaluate_classifier,
        fill_mask::MaskedLm,
        metrics::CLASSIFICATION_METRICS,
    },
    models::{bert::BertConfig, encoder_family::EncoderHead, heads::BertForSequenceClassification, lora::LoraOptions},
    tokenizer::TextTokenizer,
    weights::{LoadReport, bert},
};

/// A fine-tuned classifier, on the inference (non-autodiff) device.
pub struct Trained {
    pub model: BertForSequenceClassification,
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

impl Trained {
    /// The model as an [`Encoder`] for inference and export; `files` are the ones the run started
    /// from.
    pub fn into_encoder(self, files: &ModelFiles) -> Encoder {
        Encoder::from_model(self.config, self.tokenizer, self.model, self.device, files).with_lora(self.lora)
    }
}

/// Fine-tunes the checkpoint in `files` on `train`, evaluating on `validation` (if any) every
/// `eval_every` steps and at each epoch end (all weights, or with `options.lora` adapters and
/// the head). With `resume`, continues a run from its checkpoint (same options and data
/// required) with the result an uninterrupted run would have had.
pub async fn fine_tune_classifier(
    files: &ModelFiles,
    device: &ComputeDevice,
    train: &Dataset,
    validation: Option<&Dataset>,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
    hooks: Hooks<'_>,
) -> Result<Trained> {
    fine_tune_classifier_with(files, ClassifierExtras::default(), device, train, validation, options, resume, hooks).await
}

/// What a classifier run may start from besides the checkpoint.
#[derive(Clone, Copy, Default)]
pub struct ClassifierExtras<'a> {
    /// LoRA adapters (and head) to start from: a PEFT `adapter_model.safetensors` made with the
    /// same options.
    pub adapter: Option<&'a [u8]>,
    /// The files of the masked language model `augment.model` names (contextual augmentation).
    pub augment_model: Option<&'a ModelFiles>,
}

/// [`fine_tune_classifier`] with `extras`: LoRA adapters to start from, the masked language model
/// of contextual augmentation.
#[allow(clippy::too_many_arguments)]
pub async fn fine_tune_classifier_with(
    files: &ModelFiles,
    extras: ClassifierExtras<'_>,
    device: &ComputeDevice,
    train: &Dataset,
    validation: Option<&Dataset>,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
    hooks: Hooks<'_>,
) -> Result<Trained> {
    options.validate()?;
    options.check_metric(CLASSIFICATION_METRICS, "a classifier")?;
    options.check_for_task("text-classification")?;
    // A resumed run starts from the checkpoint's config (it holds the run's labels).
    let config_bytes = resume.map_or(&files.config, |c| &c.config);
    let text = std::str::from_utf8(config_bytes).map_err(|_| Error::Weights("config.json is not UTF-8 text".into()))?;
    let config = BertConfig::from_json(text)?;
    let order = label_order(&config, &train.labels.names);
    let train = train.clone().reorder_labels(&order)?;
    let validation = validation.map(|v| v.clone().reorder_labels(&order)).transpose()?;
    let labels = train.labels.names.clone();
    if let Some(v) = &validation
        && v.labels.names != labels
    {
        return Err(Error::Data("the validation data must use the training data's labels".into()));
    }
    let mut warnings = Vec::new();
    let max_length = options.max_length_for(config.max_tokens(), &mut warnings);
    let tokenizer = crate::infer::encoder::tokenizer_for(&config, &files.tokenizer)?;
    let lora = EncoderLora::for_run(options, &config, EncoderHead::SequenceClassification, files, extras.adapter)?;
    let mut augmenter = match &options.augment {
        Some(a) => load_augmenter(a, files, extras.augment_model, device)?,
        None => None,
    };
    // the run reads no word past its own cut, so neither does the masked LM that replaces words
    // (and the memory plan counts its passes at this length)
    if let Some(m) = &mut augmenter {
        m.max_length = m.max_length.min(max_length);
    }
    let task = Classifier {
        new_head: new_head(&config, &labels),
        config: config.with_labels(&labels),
        config_bytes: config_bytes.clone(),
        max_length,
        batch_size: options.batch_size,
        seed: options.seed,
        lora,
        tokenizer,
        train,
        validation,
        labels,
        warnings,
        augment: options.augment.clone(),
        augmenter,
        epoch_copies: std::cell::RefCell::new(Vec::new()),
    };
    let weights = start_weights(files, task.lora.as_ref(), resume.is_some());
    let run = trainer::run(&task, weights, device, options, resume, hooks).await?;
    Ok(Trained {
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

/// The class ids a run on training labels `train` gives: a checkpoint whose classifier already
/// knows these classes keeps its ids for them, else the training data's order.
pub fn label_order(config: &BertConfig, train: &[String]) -> Vec<String> {
    let model = config.labels();
    if same_set(&model, train) { model } else { train.to_vec() }
}

/// Whether a run on `labels` draws a new classifier head: not when the checkpoint's head already
/// knows these classes, nor when it is an unnamed head of the right size (`LABEL_0`, …).
pub fn new_head(config: &BertConfig, labels: &[String]) -> bool {
    let model = config.labels();
    !same_set(&model, labels) && !default_head_for(&model, labels.len())
}

/// A LoRA classifier: the base with a head for `config`'s labels (drawn when `new_head`; the base
/// file is always the original, so a head for other classes is always drawn) and adapters from
/// `seed`, then — for saved `weights` — their values set.
fn load_with_lora(
    lora: &EncoderLora,
    config: &BertConfig,
    new_head: bool,
    seed: u64,
    weights: &[u8],
    device: &Device,
    origin: WeightsOrigin,
) -> Result<(BertForSequenceClassification, LoadReport)> {
    lora.load(|base| bert::load_classifier_with(config, base, device, new_head, seed), weights, origin, seed)
}

/// The adapters and head a LoRA run of `options` on `labels` starts from (the draws
/// [`fine_tune_classifier`] makes), as PEFT's `adapter_model.safetensors`; `files`: the base.
pub async fn lora_start(files: &ModelFiles, config: &BertConfig, labels: &[String], options: &TrainOptions) -> Result<Vec<u8>> {
    let lora = EncoderLora::for_run(options, config, EncoderHead::SequenceClassification, files, None)?
        .ok_or_else(|| Error::Options("the run's LoRA adapters: it has no lora options".into()))?;
    let device = crate::device::cpu();
    let (model, _) = load_with_lora(&lora, &config.clone().with_labels(labels), new_head(config, labels), options.seed, &[], device.device(), WeightsOrigin::Start)?;
    lora.export(&model, &device).await
}

/// Classification as a [`Task`].
struct Classifier {
    config: BertConfig,
    config_bytes: Vec<u8>,
    labels: Vec<String>,
    new_head: bool,
    tokenizer: TextTokenizer,
    train: Dataset,
    validation: Option<Dataset>,
    max_length: usize,
    batch_size: usize,
    /// Draws a new head and LoRA's `A` (the same on every device).
    seed: u64,
    lora: Option<EncoderLora>,
    /// What preparing the run noticed, said when it starts.
    warnings: Vec<String>,
    /// Augmented copies of the rows: example `r` is row `r % n`, copy `r / n` (0: the row itself).
    augment: Option<AugmentOptions>,
    /// The masked language model that fills contextual augmentations.
    augmenter: Option<MaskedLm>,
    /// The augmented copies of the epoch being trained (drawn afresh at its start).
    epoch_copies: std::cell::RefCell<Vec<String>>,
}

impl Classifier {
    /// Copies of each row per epoch, the row itself included.
    fn copies(&self) -> usize {
        1 + self.augment.as_ref().map_or(0, |a| a.copies)
    }

    /// Training example `r`: a row, or one of its augmented copies in this epoch.
    fn example(&self, r: usize) -> Example {
        let n = self.train.len();
        let (row, copy) = (r % n, r / n);
        let original = &self.train.examples[row];
        if copy == 0 {
            return original.clone();
        }
        match self.epoch_copies.borrow().get(r - n) {
            Some(text) => Example { text: text.clone(), ..original.clone() },
            None => original.clone(),
        }
    }
}

impl Task for Classifier {
    type Model = BertForSequenceClassification;

    fn examples(&self) -> usize {
        self.train.len() * self.copies()
    }

    fn validation_examples(&self) -> usize {
        self.validation.as_ref().map_or(0, Dataset::len)
    }

    fn labels(&self) -> Vec<String> {
        self.labels.clone()
    }

    /// An augmented copy is grouped by its row's length.
    fn lengths(&self) -> Result<Vec<usize>> {
        let rows = token_lengths(&self.train.examples, &self.tokenizer, self.max_length)?;
        Ok((0..self.copies()).flat_map(|_| rows.iter().copied()).collect())
    }

    async fn begin_epoch(&self, epoch: usize) -> Result<()> {
        if let Some(a) = &self.augment {
            let texts: Vec<&str> = self.train.examples.iter().map(|e| e.text.as_str()).collect();
            *self.epoch_copies.borrow_mut() = augment_epoch(a, &texts, self.seed, epoch, self.augmenter.as_ref()).await?;
        }
        Ok(())
    }

    fn fingerprint(&self) -> String {
        fingerprint(&self.train)
    }

    fn memory(&self, batch: usize) -> MemoryPlan {
        let lora = self.lora.as_ref().map(|l| l.options.encoder_sizes(&self.config, EncoderHead::SequenceClassification, self.labels.len()));
        let plan = super::memory::plan_training(&self.config, self.labels.len(), batch, self.max_length, lora);
        match &self.augmenter {
            Some(m) => super::memory::with_augmenter(plan, &m.config, m.batch_size, m.max_length),
            None => plan,
        }
    }

    /// Parameters without weight decay (HF: biases and LayerNorm weights).
    fn no_decay(path: &str) -> bool {
        path.ends_with(".bias") || path.contains("layer_norm.")
    }

    /// With LoRA, saved `weights` are the adapters and head (a checkpoint's): the base is ours.
    fn load(&self, weights: Vec<u8>, device: &Device, origin: WeightsOrigin) -> Result<(Self::Model, LoadReport)> {
        let said = |(model, mut report): (Self::Model, LoadReport)| {
            if origin == WeightsOrigin::Start {
                report.warnings.extend(self.warnings.iter().cloned());
            }
            (model, report)
        };
        match &self.lora {
            None => {
                let new_head = origin == WeightsOrigin::Start && self.new_head;
                bert::load_classifier_with(&self.config, weights, device, new_head, self.seed).map(said)
            }
            Some(lora) => load_with_lora(lora, &self.config, self.new_head, self.seed, &weights, device, origin).map(said),
        }
    }

    fn loss(&self, model: &Self::Model, rows: &[usize], device: &Device) -> Result<(Tensor<1>, usize)> {
        let b = if self.augment.is_some() {
            let examples: Vec<Example> = rows.iter().map(|&r| self.example(r)).collect();
            make_batch(&examples, &(0..rows.len()).collect::<Vec<_>>(), &self.tokenizer, self.max_length)?
        } else {
            make_batch(&self.train.examples, rows, &self.tokenizer, self.max_length)?
        };
        let tokens = b.tokens.attention_mask.iter().filter(|&&m| m != 0).count();
        let [ids, types, mask] = batch_tensors(&b.tokens, device);
        let y = Tensor::<1, Int>::from_data(TensorData::new(b.labels, [rows.len()]), device);
        let ce = CrossEntropyLossConfig::new().init(device);
        Ok((ce.forward(model.forward(ids, types, mask), y), tokens))
    }

    async fn evaluate(&self, model: &Self::Model, device: &ComputeDevice) -> Result<Evaluation> {
        let data = self.validation.as_ref().ok_or_else(|| Error::Data("no validation data".into()))?;
        let metrics = evaluate_classifier(model, device, &self.tokenizer, data, self.max_length, self.batch_size).await?;
        Ok(Evaluation::Classification(metrics))
    }

    fn config(&self) -> Result<Vec<u8>> {
        bert::export_config(&self.config, &self.config_bytes, &self.labels)
    }

    async fn export(&self, model: &Self::Model, device: &ComputeDevice) -> Result<Vec<u8>> {
        match &self.lora {
            None => bert::export_classifier(&self.config, model, device).await,
            Some(lora) => lora.export(model, device).await,
        }
    }
}

/// Whether a checkpoint's classes are only the default names (`LABEL_0`, …) for `n` classes: a
/// head trained with bare ids, which keeps serving data with `n` classes.
fn default_head_for(model: &[String], n: usize) -> bool {
    model.len() == n && model.iter().enumerate().all(|(i, l)| *l == format!("LABEL_{i}"))
}
