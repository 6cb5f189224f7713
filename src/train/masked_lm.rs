//! Continued masked-LM pretraining of a BERT-family encoder on one's own text (domain adaptation)
//! as a [`Task`] for the shared loop in [`super::trainer`]: transformers' `run_mlm.py` recipe,
//! line by line (each text one example, cut at `maxLength`), masked as
//! `DataCollatorForLanguageModeling` masks (see [`crate::data::masking`]), judged by the masked-LM
//! loss on validation texts (masked with a fixed draw, so evaluations compare).
//!
//! Each batch's masks are drawn from the run's seed and the batch's rows, so a resumed run masks
//! exactly as the uninterrupted one, and each epoch (which batches rows differently) masks anew.

use burn::tensor::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{
    Best, Checkpoint, Evaluation, Hooks, MemoryPlan, StopReason, TrainOptions,
    checkpoint::fnv,
    trainer::{self, Task, WeightsOrigin},
};
use crate::{
    ComputeDevice, Error, Result,
    data::masking::Masking,
    infer::{
        ModelFiles,
        encoder::tokenizer_for,
        fill_mask::{MaskedLm, evaluate_masked_lm, masked_batch, masked_lm_loss},
        metrics::LANGUAGE_METRICS,
    },
    models::{bert::BertConfig, encoder_family::EncoderHead, masked_lm::BertForMaskedLM},
    tokenizer::TextTokenizer,
    weights::{LoadReport, bert, masked_lm},
};

/// A masked LM after training, on the inference (non-autodiff) device.
pub struct TrainedMaskedLm {
    pub model: BertForMaskedLM,
    pub device: ComputeDevice,
    pub config: BertConfig,
    pub tokenizer: TextTokenizer,
    pub stop_reason: StopReason,
    pub steps: usize,
    pub best: Option<Best>,
}

impl TrainedMaskedLm {
    /// The model for inference and export; `files` are the ones the run started from.
    pub fn into_masked_lm(self, files: &ModelFiles) -> Result<MaskedLm> {
        MaskedLm::from_model(self.config, self.tokenizer, self.model, self.device, files)
    }
}

/// Trains the encoder in `files` (its masked-LM head, or a fresh one) on `train` texts, evaluating
/// the masked-LM loss on `validation` (if any). With `resume`, continues a run from its checkpoint.
#[allow(clippy::too_many_arguments)]
pub async fn fine_tune_masked_lm(
    files: &ModelFiles,
    device: &ComputeDevice,
    train: &[String],
    validation: Option<&[String]>,
    masking: Masking,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
    hooks: Hooks<'_>,
) -> Result<TrainedMaskedLm> {
    options.validate()?;
    options.check_metric(LANGUAGE_METRICS, "a masked language model")?;
    options.check_for_task("fill-mask")?;
    if options.lora.is_some() {
        return Err(Error::Options(
            "LoRA is not available for masked-LM training (PEFT has no task type for it; domain adaptation trains every weight): leave lora out".into(),
        ));
    }
    if !(masking.probability > 0.0 && masking.probability < 1.0) {
        return Err(Error::Options(format!("mlmProbability must be between 0 and 1 (0.15 is BERT's), got {}", masking.probability)));
    }
    if train.is_empty() {
        return Err(Error::Data("the training data has no texts".into()));
    }
    let config_bytes = resume.map_or(&files.config, |c| &c.config);
    let text = std::str::from_utf8(config_bytes).map_err(|_| Error::Weights("config.json is not UTF-8 text".into()))?;
    let config = BertConfig::from_json(text)?;
    let tokenizer = tokenizer_for(&config, &files.tokenizer)?;
    let mask_id = tokenizer.mask_id().ok_or_else(|| {
        Error::Weights("tokenizer.json has no mask token ([MASK] or <mask>): masked-LM training needs the tokenizer of a masked language model".into())
    })?;
    let mut warnings = Vec::new();
    let max_length = options.max_length_for(config.max_tokens(), &mut warnings);
    let task = MaskedLmTask {
        config,
        config_bytes: config_bytes.clone(),
        tokenizer,
        train: train.to_vec(),
        validation: validation.map(<[String]>::to_vec),
        max_length,
        batch_size: options.batch_size,
        seed: options.seed,
        masking,
        mask_id,
        warnings,
    };
    let weights = if resume.is_some() { Vec::new() } else { files.weights.clone() };
    let run = trainer::run(&task, weights, device, options, resume, hooks).await?;
    Ok(TrainedMaskedLm {
        model: run.model,
        device: run.device,
        config: task.config,
        tokenizer: task.tokenizer,
        stop_reason: run.stop_reason,
        steps: run.steps,
        best: run.best,
    })
}

/// What draws the masks of the training batch of `rows` in a run with `seed`: the seed and which
/// rows the batch holds (the same masks however the run was interrupted).
pub fn batch_masks(seed: u64, rows: &[usize]) -> ChaCha8Rng {
    let key = fnv(std::iter::once(seed.to_le_bytes().to_vec()).chain(rows.iter().map(|r| (*r as u64).to_le_bytes().to_vec())));
    ChaCha8Rng::seed_from_u64(u64::from_str_radix(&key, 16).unwrap_or(seed))
}

/// Masked-LM training as a [`Task`].
struct MaskedLmTask {
    config: BertConfig,
    config_bytes: Vec<u8>,
    tokenizer: TextTokenizer,
    train: Vec<String>,
    validation: Option<Vec<String>>,
    max_length: usize,
    batch_size: usize,
    seed: u64,
    masking: Masking,
    mask_id: u32,
    warnings: Vec<String>,
}

impl Task for MaskedLmTask {
    type Model = BertForMaskedLM;

    fn examples(&self) -> usize {
        self.train.len()
    }

    fn validation_examples(&self) -> usize {
        self.validation.as_ref().map_or(0, Vec::len)
    }

    fn labels(&self) -> Vec<String> {
        Vec::new()
    }

    fn lengths(&self) -> Result<Vec<usize>> {
        self.train.iter().map(|t| self.tokenizer.count(t, None).map(|n| n.min(self.max_length))).collect()
    }

    /// FNV-1a over the texts.
    fn fingerprint(&self) -> String {
        fnv(self.train.iter().map(|t| [t.as_bytes(), &[0]].concat()))
    }

    /// The encoder's plan, plus the vocabulary logits at the masked tokens (about 15 % of a
    /// batch's; logits, probabilities and their gradient).
    fn memory(&self, batch: usize) -> MemoryPlan {
        let mut plan = super::memory::plan_training(&self.config, 0, batch, self.max_length, None);
        let masked = (batch as u64 * self.max_length as u64).div_ceil(6);
        let logits = 3 * masked * self.config.vocab_size as u64 * 4;
        plan.activation_bytes += logits;
        plan.total_bytes += logits;
        if logits / 3 > plan.largest_tensor_bytes {
            plan.largest_tensor_bytes = logits / 3;
            plan.largest_tensor = format!("masked-token logits (~{masked} × {})", self.config.vocab_size);
        }
        plan
    }

    fn no_decay(path: &str) -> bool {
        path.ends_with(".bias") || path.contains("layer_norm.")
    }

    fn load(&self, weights: Vec<u8>, device: &Device, origin: WeightsOrigin) -> Result<(Self::Model, LoadReport)> {
        let (model, mut report) = masked_lm::load_masked_lm(&self.config, weights, device)?;
        if origin == WeightsOrigin::Start {
            report.warnings.extend(self.warnings.iter().cloned());
        }
        Ok((model, report))
    }

    fn loss(&self, model: &Self::Model, rows: &[usize], device: &Device) -> Result<(Tensor<1>, usize)> {
        let mut rng = batch_masks(self.seed, rows);
        let texts: Vec<&str> = rows.iter().map(|&r| self.train[r].as_str()).collect();
        let batch = masked_batch(&self.tokenizer, &texts, self.max_length, self.mask_id, self.masking, &mut rng)?;
        let tokens = batch.tokens.attention_mask.iter().filter(|&&m| m != 0).count();
        if batch.positions.is_empty() {
            return Err(Error::Data("a batch of texts has no token to mask (they are empty after tokenizing)".into()));
        }
        Ok((masked_lm_loss(model, &batch, device).0, tokens))
    }

    async fn evaluate(&self, model: &Self::Model, device: &ComputeDevice) -> Result<Evaluation> {
        let texts = self.validation.as_ref().ok_or_else(|| Error::Data("no validation data".into()))?;
        let settings = (self.max_length, self.batch_size, self.masking, self.seed);
        Ok(Evaluation::Language(evaluate_masked_lm(model, device, &self.tokenizer, texts, settings).await?))
    }

    fn config(&self) -> Result<Vec<u8>> {
        bert::export_config_for(&self.config, &self.config_bytes, &[], EncoderHead::MaskedLm)
    }

    async fn export(&self, model: &Self::Model, device: &ComputeDevice) -> Result<Vec<u8>> {
        masked_lm::export_masked_lm(&self.config, model, device).await
    }
}
