//! Fine-tuning a decoder as a causal language model (a [`Task`] for the shared loop in
//! [`super::trainer`]): the next-token loss of [`crate::infer::language_model`] over the tokens the
//! model should learn — every token of a plain text, only the completion of a prompt/completion pair.
//!
//! Prompt/completion pairs go through the model's chat template when it has one (a user turn and
//! the assistant's reply, as `chat()` will later ask), unless `chatTemplate: false`.
//!
//! With `lora`, only adapters on the chosen projections train (see [`crate::models::lora`]);
//! checkpoints then hold the adapters (PEFT's file), and the base weights stay as they were.

use burn::tensor::{Device, Tensor};

use super::{
    Checkpoint, Evaluation, Hooks, MemoryPlan, Run, TrainOptions,
    checkpoint::fnv,
    trainer::{self, Task, WeightsOrigin},
};
use crate::{
    ComputeDevice, Error, Result,
    data::TextExample,
    infer::{
        generate::Decoder,
        language_model::{LmRow, LmRowEncoder, encode_all, evaluate, loss},
        metrics::LANGUAGE_METRICS,
    },
    models::{
        llama::{LlamaConfig, LlamaForCausalLM},
        lora::LoraOptions,
    },
    weights::{
        LoadReport, llama,
        peft::{AdapterLayout, export_adapter, load_adapter},
    },
};

/// Fine-tunes `decoder` on `device` (all weights, or LoRA adapters with `options.lora`) on
/// `train`, evaluating on `validation` (if any); with `resume`, continues a stored run. With LoRA,
/// `adapter` (a PEFT `adapter_model.safetensors` for `options.lora`) is where the adapters start,
/// instead of fresh ones: it continues training a saved adapter. The trained model is returned on
/// the inference device.
#[allow(clippy::too_many_arguments)]
pub async fn fine_tune(
    decoder: &Decoder,
    device: &ComputeDevice,
    adapter: Option<&[u8]>,
    train: &[TextExample],
    validation: Option<&[TextExample]>,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
    hooks: Hooks<'_>,
) -> Result<Run<LlamaForCausalLM>> {
    options.validate()?;
    if let Some(lora) = &options.lora {
        lora.validate(crate::models::lora::LoraBase::Llama)?;
    }
    if adapter.is_some() && options.lora.is_none() {
        return Err(Error::Options("an adapter to start from needs lora options (its rank, alpha and target modules)".into()));
    }
    if decoder.lora.is_some() {
        return Err(Error::Options(
            "this model already carries LoRA adapters; save it (format \"huggingface\" merges them) and load that to train again".into(),
        ));
    }
    options.check_metric(LANGUAGE_METRICS, "a language model")?;
    let (config, base) = (decoder.config.llama("fine-tuning")?, decoder.model.llama("fine-tuning")?);
    let max_length = options.max_length.min(config.max_position_embeddings);
    let encoder = LmRowEncoder::new(decoder, options.chat_template)?;
    if train.is_empty() {
        return Err(Error::Data("the training data has no rows".into()));
    }
    let (train_rows, mut warnings) = encode_all(&encoder, train, max_length, "training")?;
    let validation_rows = match validation {
        Some(v) => {
            let (rows, w) = encode_all(&encoder, v, max_length, "validation")?;
            warnings.extend(w);
            rows
        }
        None => Vec::new(),
    };
    let side = decoder.text.as_ref().expect("checked by LmRowEncoder::new");
    // The run starts from the decoder's current weights (they may themselves be fine-tuned); LoRA
    // keeps them as its frozen base, and a resumed full run has its own in the checkpoint.
    let mut weights = match (resume, &options.lora) {
        (Some(_), None) => Vec::new(),
        _ => llama::export_causal_lm(base, &decoder.device).await?,
    };
    let task = CausalLm {
        lora: options.lora.clone(),
        base: if options.lora.is_some() { std::mem::take(&mut weights) } else { Vec::new() },
        adapter: adapter.map(<[u8]>::to_vec),
        config: config.clone(),
        fingerprint: fnv(train_rows.iter().flat_map(|r| {
            let ids: Vec<u8> = r.ids.iter().flat_map(|i| i.to_le_bytes()).collect();
            [ids, (r.prompt as u64).to_le_bytes().to_vec()]
        })),
        train: train_rows,
        validation: validation_rows,
        pad: side.tokenizer.pad_id(),
        batch_size: options.batch_size,
        seed: options.seed,
        warnings,
    };
    trainer::run(&task, weights, device, options, resume, hooks).await
}

/// Causal language modelling as a [`Task`].
struct CausalLm {
    config: LlamaConfig,
    /// LoRA: the adapters' settings, the frozen base weights, and the adapter to start from.
    lora: Option<LoraOptions>,
    base: Vec<u8>,
    adapter: Option<Vec<u8>>,
    train: Vec<LmRow>,
    validation: Vec<LmRow>,
    fingerprint: String,
    pad: u32,
    batch_size: usize,
    /// Draws new LoRA adapters (the same on every device).
    seed: u64,
    warnings: Vec<String>,
}

impl Task for CausalLm {
    type Model = LlamaForCausalLM;

    fn examples(&self) -> usize {
        self.train.len()
    }

    fn validation_examples(&self) -> usize {
        self.validation.len()
    }

    fn labels(&self) -> Vec<String> {
        Vec::new()
    }

    fn lengths(&self) -> Result<Vec<usize>> {
        Ok(self.train.iter().map(|r| r.ids.len()).collect())
    }

    fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    fn memory(&self, batch: usize) -> MemoryPlan {
        let longest = self.train.iter().map(|r| r.ids.len()).max().unwrap_or_default();
        let lora = self.lora.as_ref().map(|l| l.sizes(&self.config));
        super::memory::plan_causal_lm(&self.config, batch, longest, lora)
    }

    /// HF Trainer: no decay on biases and norm weights.
    fn no_decay(path: &str) -> bool {
        path.ends_with(".bias") || path.contains("norm.")
    }

    /// With LoRA, saved `weights` are the adapters (a checkpoint's): the base is ours.
    fn load(&self, weights: Vec<u8>, device: &Device, origin: WeightsOrigin) -> Result<(Self::Model, LoadReport)> {
        let (model, mut report) = match &self.lora {
            None => llama::load_causal_lm(&self.config, weights, device)?,
            Some(lora) => {
                let (base, report) = llama::load_causal_lm(&self.config, self.base.clone(), device)?;
                let model = lora.apply_llama(base, self.seed)?;
                let model = match (origin, &self.adapter) {
                    (WeightsOrigin::Saved, _) => load_adapter(model, &AdapterLayout::llama(), &weights)?,
                    (WeightsOrigin::Start, Some(start)) => load_adapter(model, &AdapterLayout::llama(), start)?,
                    (WeightsOrigin::Start, None) => model,
                };
                (model, report)
            }
        };
        if origin == WeightsOrigin::Start {
            report.warnings.extend(self.warnings.iter().cloned());
        }
        Ok((model, report))
    }

    fn loss(&self, model: &Self::Model, rows: &[usize], device: &Device) -> Result<(Tensor<1>, usize)> {
        let rows: Vec<&LmRow> = rows.iter().map(|&i| &self.train[i]).collect();
        Ok(loss(model, &rows, self.pad, device))
    }

    async fn evaluate(&self, model: &Self::Model, device: &ComputeDevice) -> Result<Evaluation> {
        Ok(Evaluation::Language(evaluate(model, device, &self.validation, self.pad, self.batch_size).await?))
    }

    fn config(&self) -> Result<Vec<u8>> {
        self.config.to_json()
    }

    async fn export(&self, model: &Self::Model, device: &ComputeDevice) -> Result<Vec<u8>> {
        match &self.lora {
            None => llama::export_causal_lm(model, device).await,
            Some(_) => export_adapter(model, &AdapterLayout::llama(), device).await,
        }
    }
}
