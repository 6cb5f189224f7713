//! Fine-tuning a BERT-family extractive question-answering model as a [`Task`] for the shared
//! loop in [`super::trainer`]: transformers' `run_qa.py` recipe (every window of every context is
//! a training example, labelled with the answer's start and end tokens or the first token), judged
//! by SQuAD's F1 on validation questions.

use burn::tensor::{Device, Tensor};

use super::{
    Best, Checkpoint, Evaluation, Hooks, MemoryPlan, StopReason, TrainOptions,
    checkpoint::fnv,
    encoder_lora::{EncoderLora, start_weights},
    trainer::{self, Task, WeightsOrigin},
};
use crate::{
    ComputeDevice, Error, Result,
    data::{
        qa_features::{QaFeature, Windowing, qa_features},
        squad::QaExample,
    },
    infer::{
        ModelFiles,
        encoder::tokenizer_for,
        qa_answers::AnswerSettings,
        question_answering::{QuestionAnswerer, evaluate_answerer, qa_loss},
        squad_metrics::SQUAD_METRICS,
    },
    models::{bert::BertConfig, encoder_family::EncoderHead, heads::BertForQuestionAnswering, lora::LoraOptions},
    tokenizer::TextTokenizer,
    weights::{LoadReport, bert, question_answering},
};

/// A fine-tuned question-answering model, on the inference (non-autodiff) device.
pub struct TrainedAnswerer {
    pub model: BertForQuestionAnswering,
    pub device: ComputeDevice,
    pub config: BertConfig,
    pub tokenizer: TextTokenizer,
    pub windowing: Windowing,
    pub stop_reason: StopReason,
    pub steps: usize,
    pub best: Option<Best>,
    /// The LoRA settings the model was tuned with (its adapters are not merged).
    pub lora: Option<LoraOptions>,
}

impl TrainedAnswerer {
    /// The model for inference and export; `files` are the ones the run started from.
    pub fn into_answerer(self, files: &ModelFiles) -> QuestionAnswerer {
        let mut qa = QuestionAnswerer::from_model(self.config, self.tokenizer, self.model, self.device, files).with_lora(self.lora);
        qa.windowing = self.windowing;
        qa
    }
}

/// How a run with `options` at `max_length` tokens cuts contexts into windows: `docStride`
/// (default a third of the length, at most 128, as run_qa's 128 of 384), below half the length.
pub fn windowing(options: &TrainOptions, max_length: usize) -> Result<Windowing> {
    let stride = options.doc_stride.unwrap_or((max_length / 3).min(128));
    if stride >= max_length / 2 {
        return Err(Error::Options(format!("docStride must be below half of maxLength ({max_length}), got {stride}")));
    }
    Ok(Windowing { max_length, stride })
}

/// The adapters and head a LoRA run of `options` starts from — the draws [`fine_tune_answerer`]
/// makes — as PEFT's `adapter_model.safetensors`; `files`: the base with `config`.
pub async fn lora_start(files: &ModelFiles, config: &BertConfig, options: &TrainOptions) -> Result<Vec<u8>> {
    let lora = EncoderLora::for_run(options, config, EncoderHead::QuestionAnswering, files, None)?
        .ok_or_else(|| Error::Options("the run's LoRA adapters: it has no lora options".into()))?;
    let device = crate::device::cpu();
    let load = |weights| question_answering::load_question_answerer(config, weights, device.device(), options.seed);
    let (model, _) = lora.load(load, &[], WeightsOrigin::Start, options.seed)?;
    lora.export(&model, &device).await
}

/// Fine-tunes the encoder in `files` to answer the questions of `train` (a fresh `qa_outputs` when
/// the checkpoint has none), evaluating SQuAD F1 on `validation` (if any): all weights, or with
/// `options.lora` adapters and `qa_outputs` (PEFT's `QUESTION_ANS`), starting from PEFT's
/// `adapter` if given. `options.doc_stride`: context tokens each window repeats (default 128, at
/// most a third of the length). With `resume`, continues a run from its checkpoint.
#[allow(clippy::too_many_arguments)]
pub async fn fine_tune_answerer(
    files: &ModelFiles,
    adapter: Option<&[u8]>,
    device: &ComputeDevice,
    train: &[QaExample],
    validation: Option<&[QaExample]>,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
    hooks: Hooks<'_>,
) -> Result<TrainedAnswerer> {
    options.validate()?;
    options.check_metric(SQUAD_METRICS, "a question-answering model")?;
    options.check_for_task("question-answering")?;
    if train.is_empty() {
        return Err(Error::Data("the training data has no questions".into()));
    }
    let config_bytes = resume.map_or(&files.config, |c| &c.config);
    let text = std::str::from_utf8(config_bytes).map_err(|_| Error::Weights("config.json is not UTF-8 text".into()))?;
    let config = BertConfig::from_json(text)?;
    let tokenizer = tokenizer_for(&config, &files.tokenizer)?;
    let mut warnings = Vec::new();
    let max_length = options.max_length_for(config.max_tokens(), &mut warnings);
    let windowing = windowing(options, max_length)?;
    let features = qa_features(train, &tokenizer, windowing)?;
    let answered = features.iter().filter(|f| f.start != 0).count();
    if answered == 0 && train.iter().any(|e| !e.answers.is_empty()) {
        warnings.push("no window holds a whole answer: raise maxLength or docStride".into());
    }
    let validation = validation.map(|v| qa_features(v, &tokenizer, windowing).map(|f| (v.to_vec(), f))).transpose()?;
    let lora = EncoderLora::for_run(options, &config, EncoderHead::QuestionAnswering, files, adapter)?;
    let task = Answering {
        config,
        config_bytes: config_bytes.clone(),
        tokenizer,
        features,
        validation,
        batch_size: options.batch_size,
        seed: options.seed,
        max_length,
        lora,
        warnings,
    };
    let weights = start_weights(files, task.lora.as_ref(), resume.is_some());
    let run = trainer::run(&task, weights, device, options, resume, hooks).await?;
    Ok(TrainedAnswerer {
        model: run.model,
        device: run.device,
        config: task.config,
        tokenizer: task.tokenizer,
        windowing,
        stop_reason: run.stop_reason,
        steps: run.steps,
        best: run.best,
        lora: task.lora.map(|l| l.options),
    })
}

/// Question answering as a [`Task`]: its examples are the training windows.
struct Answering {
    config: BertConfig,
    config_bytes: Vec<u8>,
    tokenizer: TextTokenizer,
    features: Vec<QaFeature>,
    validation: Option<(Vec<QaExample>, Vec<QaFeature>)>,
    batch_size: usize,
    seed: u64,
    max_length: usize,
    lora: Option<EncoderLora>,
    warnings: Vec<String>,
}

impl Task for Answering {
    type Model = BertForQuestionAnswering;

    fn examples(&self) -> usize {
        self.features.len()
    }

    fn validation_examples(&self) -> usize {
        self.validation.as_ref().map_or(0, |(e, _)| e.len())
    }

    fn labels(&self) -> Vec<String> {
        Vec::new()
    }

    fn lengths(&self) -> Result<Vec<usize>> {
        Ok(self.features.iter().map(|f| f.ids.len()).collect())
    }

    /// FNV-1a over the windows' tokens and labels.
    fn fingerprint(&self) -> String {
        fnv(self.features.iter().map(|f| {
            let mut b: Vec<u8> = f.ids.iter().flat_map(|i| i.to_le_bytes()).collect();
            b.extend((f.start as u64).to_le_bytes());
            b.extend((f.end as u64).to_le_bytes());
            b
        }))
    }

    fn memory(&self, batch: usize) -> MemoryPlan {
        let lora = self.lora.as_ref().map(|l| l.options.encoder_sizes(&self.config, EncoderHead::QuestionAnswering, 2));
        super::memory::plan_training(&self.config, 2, batch, self.max_length, lora)
    }

    fn no_decay(path: &str) -> bool {
        path.ends_with(".bias") || path.contains("layer_norm.")
    }

    fn load(&self, weights: Vec<u8>, device: &Device, origin: WeightsOrigin) -> Result<(Self::Model, LoadReport)> {
        let load = |weights| question_answering::load_question_answerer(&self.config, weights, device, self.seed);
        let (model, mut report) = match &self.lora {
            None => load(weights)?,
            Some(lora) => lora.load(load, &weights, origin, self.seed)?,
        };
        if origin == WeightsOrigin::Start {
            report.warnings.extend(self.warnings.iter().cloned());
        }
        Ok((model, report))
    }

    fn loss(&self, model: &Self::Model, rows: &[usize], device: &Device) -> Result<(Tensor<1>, usize)> {
        let features: Vec<&QaFeature> = rows.iter().map(|&r| &self.features[r]).collect();
        let tokens = features.iter().map(|f| f.ids.len()).sum();
        Ok((qa_loss(model, &features, self.tokenizer.pad_id(), device), tokens))
    }

    async fn evaluate(&self, model: &Self::Model, device: &ComputeDevice) -> Result<Evaluation> {
        let (examples, features) = self.validation.as_ref().ok_or_else(|| Error::Data("no validation data".into()))?;
        let metrics = evaluate_answerer(model, device, examples, features, self.tokenizer.pad_id(), self.batch_size, AnswerSettings::default()).await?;
        Ok(Evaluation::Answers(metrics))
    }

    fn config(&self) -> Result<Vec<u8>> {
        bert::export_config_for(&self.config, &self.config_bytes, &[], EncoderHead::QuestionAnswering)
    }

    async fn export(&self, model: &Self::Model, device: &ComputeDevice) -> Result<Vec<u8>> {
        match &self.lora {
            None => question_answering::export_question_answerer(&self.config, model, device).await,
            Some(lora) => lora.export(model, device).await,
        }
    }
}
