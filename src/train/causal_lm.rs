//! Fine-tuning a decoder as a causal language model (a [`Task`] for the shared loop in
//! [`super::trainer`]): the next-token loss of [`crate::infer::language_model`] over the tokens the
//! model should learn — every token of a plain text, only the completion of a prompt/completion pair.
//!
//! Prompt/completion pairs go through the model's chat template when it has one (a user turn and
//! the assistant's reply, as `chat()` will later ask), unless `chatTemplate: false`.
//!
//! With `lora`, only adapters on the chosen projections train (see [`crate::models::lora`]);
//! checkpoints then hold the adapters (PEFT's file), and the base weights stay as they were. A
//! GGUF base stays quantized where it is held (QLoRA): in the file's blocks on the CPU, in the
//! kernels' layout on the GPU ([`crate::kernels::frozen`]), unless `dequantizeBase`.

use burn::{
    module::{ModuleMapper, Param},
    tensor::{Device, Tensor},
};

use super::{
    Checkpoint, Evaluation, Hooks, MemoryPlan, Run, TrainOptions,
    checkpoint::fnv,
    memory::{plan_decoder, with_frozen_base},
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
        decoder::DecoderModel,
        llama_frozen::{frozen_bytes, frozen_model},
        lora::LoraOptions,
    },
    weights::{
        LoadReport,
        decoder_family::DecoderFamily,
        gguf::unpack,
        peft::{export_adapter, load_adapter},
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
) -> Result<Run<DecoderModel>> {
    let data = Data { train, validation, adapter, frozen_bytes: None };
    let keep_quantized = options.lora.is_some() && !options.dequantize_base;
    match &decoder.model {
        // (a module's clone shares its tensors)
        DecoderModel::Llama(m) => fine_tune_family(decoder, m.clone(), data, device, options, resume, hooks).await,
        DecoderModel::Gpt2(m) => fine_tune_family(decoder, m.clone(), data, device, options, resume, hooks).await,
        // LoRA keeps a GGUF base quantized where it is (QLoRA): in the file's blocks on the CPU,
        // in the kernels' layout on the GPU that holds it
        DecoderModel::Packed(m) if keep_quantized && !device.info().is_gpu() => {
            let base = frozen_model(m, decoder.device.device());
            let data = Data { frozen_bytes: Some(frozen_bytes(&base)), ..data };
            fine_tune_family(decoder, base, data, device, options, resume, hooks).await
        }
        DecoderModel::GpuPacked(m) if keep_quantized && device.device().clone().inner() == decoder.device.device().clone().inner() => {
            let base = m.frozen();
            let data = Data { frozen_bytes: Some(frozen_bytes(&base)), ..data };
            fine_tune_family(decoder, base, data, device, options, resume, hooks).await
        }
        // otherwise weights kept quantized for inference are trained (and LoRA's base held) in f32
        DecoderModel::Packed(m) => {
            let dense = unpack(&m.file, &m.config, &decoder.device)?;
            fine_tune_family(decoder, dense, data, device, options, resume, hooks).await
        }
        DecoderModel::GpuPacked(m) => fine_tune_family(decoder, m.dequantized(), data, device, options, resume, hooks).await,
    }
}

/// The adapters a LoRA run of `decoder` with `lora` and `seed` starts from, drawn as the run
/// draws them, as PEFT's `adapter_model.safetensors` (for a recipe that starts where webtune does).
pub async fn lora_start(decoder: &Decoder, lora: &LoraOptions, seed: u64) -> Result<Vec<u8>> {
    async fn drawn<F: DecoderFamily>(base: F, lora: &LoraOptions, seed: u64, device: &ComputeDevice) -> Result<Vec<u8>> {
        lora.validate(F::LORA)?;
        export_adapter(&base.with_lora(lora, seed)?, &F::adapter_layout(), device).await
    }
    match &decoder.model {
        DecoderModel::Llama(m) => drawn(m.clone(), lora, seed, &decoder.device).await,
        DecoderModel::Gpt2(m) => drawn(m.clone(), lora, seed, &decoder.device).await,
        // the adapters' shapes and draws do not depend on how the base is held
        DecoderModel::Packed(m) => drawn(frozen_model(m, decoder.device.device()), lora, seed, &decoder.device).await,
        DecoderModel::GpuPacked(m) => drawn(m.frozen(), lora, seed, &decoder.device).await,
    }
}

/// What a run learns from, the adapter it may start from, and the bytes of its base's matrices
/// when they stay quantized.
struct Data<'a> {
    train: &'a [TextExample],
    validation: Option<&'a [TextExample]>,
    adapter: Option<&'a [u8]>,
    frozen_bytes: Option<u64>,
}

#[allow(clippy::too_many_arguments)]
async fn fine_tune_family<F: DecoderFamily>(
    decoder: &Decoder,
    base: F,
    data: Data<'_>,
    device: &ComputeDevice,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
    hooks: Hooks<'_>,
) -> Result<Run<DecoderModel>> {
    options.validate()?;
    if let Some(lora) = &options.lora {
        lora.validate(F::LORA)?;
    }
    if data.adapter.is_some() && options.lora.is_none() {
        return Err(Error::Options("an adapter to start from needs lora options (its rank, alpha and target modules)".into()));
    }
    if decoder.lora.is_some() {
        return Err(Error::Options(
            "this model already carries LoRA adapters; save it (format \"huggingface\" merges them) and load that to train again".into(),
        ));
    }
    options.check_metric(LANGUAGE_METRICS, "a language model")?;
    options.check_for_task("text-generation")?;
    let mut warnings = Vec::new();
    let max_length = options.max_length_for(decoder.config().max_positions(), &mut warnings);
    let encoder = LmRowEncoder::new(decoder, options.chat_template)?;
    if data.train.is_empty() {
        return Err(Error::Data("the training data has no rows".into()));
    }
    let (train_rows, cut) = encode_all(&encoder, data.train, max_length, options.packing, "training")?;
    warnings.extend(cut);
    let validation_rows = match data.validation {
        Some(v) => {
            let (rows, w) = encode_all(&encoder, v, max_length, options.packing, "validation")?;
            warnings.extend(w);
            rows
        }
        None => Vec::new(),
    };
    let side = decoder.text.as_ref().expect("checked by LmRowEncoder::new");
    // The run starts from the decoder's current weights (they may themselves be fine-tuned); LoRA
    // keeps them as its frozen base, and a resumed full run has its own in the checkpoint.
    // (LoRA's frozen base is the module itself, its tensors shared, never serialised or copied)
    let config = base.config().clone();
    let (weights, frozen) = match (resume, &options.lora) {
        (_, Some(_)) => (Vec::new(), Some(base)),
        (Some(_), None) => (Vec::new(), None),
        (None, None) => (base.export(&decoder.device).await?, None), // dropped: not held twice
    };
    let task = CausalLm::<F> {
        lora: options.lora.clone(),
        base: frozen,
        adapter: data.adapter.map(<[u8]>::to_vec),
        frozen_bytes: data.frozen_bytes,
        config,
        fingerprint: fnv(train_rows.iter().map(LmRow::fingerprint)),
        train: train_rows,
        validation: validation_rows,
        pad: side.tokenizer.pad_id(),
        batch_size: options.batch_size,
        seed: options.seed,
        warnings,
    };
    let run = trainer::run(&task, weights, device, options, resume, hooks).await?;
    Ok(Run { model: run.model.wrap(), device: run.device, stop_reason: run.stop_reason, steps: run.steps, best: run.best })
}

/// Causal language modelling of a decoder family as a [`Task`].
struct CausalLm<F: DecoderFamily> {
    config: F::Config,
    /// LoRA: the adapters' settings, the frozen base model (on the decoder's device, without
    /// autodiff), and the adapter to start from.
    lora: Option<LoraOptions>,
    base: Option<F>,
    adapter: Option<Vec<u8>>,
    /// Bytes of the base's matrices when they stay quantized.
    frozen_bytes: Option<u64>,
    train: Vec<LmRow>,
    validation: Vec<LmRow>,
    fingerprint: String,
    pad: u32,
    batch_size: usize,
    /// Draws new LoRA adapters (the same on every device).
    seed: u64,
    warnings: Vec<String>,
}

impl<F: DecoderFamily> Task for CausalLm<F> {
    type Model = F;

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
        let plan = plan_decoder(&F::shape(&self.config), batch, longest, self.lora.as_ref().map(|l| F::lora_sizes(&self.config, l)));
        match self.frozen_bytes {
            Some(bytes) => with_frozen_base(plan, bytes),
            None => plan,
        }
    }

    fn no_decay(path: &str) -> bool {
        F::no_decay(path)
    }

    /// With LoRA, saved `weights` are the adapters (a checkpoint's): the base is ours.
    fn load(&self, weights: Vec<u8>, device: &Device, origin: WeightsOrigin) -> Result<(Self::Model, LoadReport)> {
        let (model, mut report) = match &self.lora {
            None => F::load(&self.config, weights, device)?,
            Some(lora) => {
                let base = self.base.clone().ok_or_else(|| Error::Backend("a LoRA run without its base model".into()))?;
                let (base, report) = (base.map(&mut OnTrainingDevice { device }), LoadReport::default());
                let model = base.with_lora(lora, self.seed)?;
                let model = match (origin, &self.adapter) {
                    (WeightsOrigin::Saved, _) => load_adapter(model, &F::adapter_layout(), &weights)?,
                    (WeightsOrigin::Start, Some(start)) => load_adapter(model, &F::adapter_layout(), start)?,
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
        F::config_json(&self.config)
    }

    async fn export(&self, model: &Self::Model, device: &ComputeDevice) -> Result<Vec<u8>> {
        match &self.lora {
            None => model.export(device).await,
            Some(_) => export_adapter(model, &F::adapter_layout(), device).await,
        }
    }
}

/// Moves a module's parameters onto the training device and its autodiff graph (the same tensors
/// when the device is theirs: nothing is copied). `with_lora` then freezes them and adds adapters.
struct OnTrainingDevice<'a> {
    device: &'a Device,
}

impl ModuleMapper for OnTrainingDevice<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let mut tensor = tensor.to_device(self.device).autodiff();
        if let Some(strategy) = self.device.gradient_checkpointing_strategy() {
            tensor = tensor.with_gradient_checkpointing_strategy(strategy); // the device's, as every tensor of the step
        }
        Param::from_mapped_value(id, tensor, mapper)
    }
}
