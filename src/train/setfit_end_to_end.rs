//! setfit's differentiable head trained with the body (`SetFitModel.fit(end_to_end=True)`): each
//! step runs the rows' texts through the sentence-transformer body (dropout on, as setfit's body
//! is in train mode; L2-normalised after it when the folder's `config_setfit.json` says so), the
//! head's softmax layer over `(W·x + b) / (1 + eps)`, cross-entropy; AdamW
//! with two parameter groups — the head at the head's rate, the body at its own — both decayed by
//! `l2_weight` on every parameter (setfit makes no exception for biases or LayerNorm), no
//! clipping, and both rates halved every 5 epochs (`StepLR(step_size=5, gamma=0.5)`). A [`Task`]
//! for the shared loop, so it runs, reports and cancels like every run.

use burn::{
    module::{Module, Param},
    nn::{Linear, loss::CrossEntropyLossConfig},
    tensor::{Device, Int, Tensor, TensorData},
};

use super::{
    Evaluation, Hooks, MemoryPlan, TrainOptions,
    checkpoint::fingerprint,
    optimizer::LrGroup,
    options::Method,
    schedule::{Schedule, StepDecay},
    setfit_head::{DifferentiableHead, EPS, HeadRun, STEP_EPOCHS},
    trainer::{self, Task, WeightsOrigin},
};
use crate::{
    ComputeDevice, Error, Result,
    data::{Dataset, batch_tensors},
    infer::{sentence_transformer::SentenceTransformer, setfit::head_inputs},
    kernels::linear::linear,
    models::bert::{BertConfig, BertModel},
    tokenizer::TextTokenizer,
    weights::{LoadReport, bert},
};

/// setfit's default learning rate of the body while the head trains end to end
/// (`TrainingArguments.body_learning_rate[1]`).
pub const DEFAULT_BODY_LEARNING_RATE: f64 = 1e-5;

/// The body and the head, trained together.
#[derive(Module, Debug)]
pub struct BodyWithHead {
    pub body: BertModel,
    /// `[features, classes]` weights (Burn's layout: setfit's `linear.weight` transposed).
    pub head: Linear,
}

/// What the head's phase trains on and how.
pub struct EndToEnd<'a> {
    pub config: &'a BertConfig,
    pub tokenizer: &'a TextTokenizer,
    pub modules: &'a SentenceTransformer,
    pub train: &'a Dataset,
    pub max_length: usize,
    /// The head the phase starts from.
    pub start: DifferentiableHead,
    pub run: HeadRun,
    pub body_learning_rate: f64,
}

/// A finished end-to-end phase: the trained body (inference device) and head, and the optimizer
/// steps it took (fewer than planned when it was cancelled or diverged).
pub struct TrainedEndToEnd {
    pub body: BertModel,
    pub head: DifferentiableHead,
    pub device: ComputeDevice,
    pub steps: usize,
}

impl EndToEnd<'_> {
    /// Optimizer steps of the phase.
    pub fn steps(&self) -> usize {
        self.train.len().div_ceil(self.run.batch_size.max(1)).saturating_mul(self.run.epochs)
    }

    /// The run's options for the shared loop: the head's epochs, rows per step and rate, a
    /// constant schedule (the step decay is the task's), no warmup, no clipping; `options` give
    /// the logging, the device's settings and the seed.
    fn loop_options(&self, options: &TrainOptions) -> TrainOptions {
        TrainOptions {
            epochs: self.run.epochs,
            batch_size: self.run.batch_size,
            learning_rate: self.run.learning_rate,
            weight_decay: self.run.weight_decay,
            warmup_steps: None,
            warmup_ratio: None,
            schedule: Schedule::Constant,
            grad_accum: 1,
            max_grad_norm: None,
            group_by_length: false,
            eval_every: None,
            early_stopping_patience: None,
            checkpoint_every: None,
            seed: self.run.seed,
            method: Method::Setfit,
            ..options.clone()
        }
    }

    /// Trains the body (`body_weights`, safetensors) and the head on `device`; `options` give
    /// the logging and device settings.
    pub async fn train(&self, body_weights: Vec<u8>, device: &ComputeDevice, options: &TrainOptions, hooks: Hooks<'_>) -> Result<TrainedEndToEnd> {
        if !(self.body_learning_rate > 0.0 && self.body_learning_rate.is_finite()) {
            return Err(Error::Options(format!("headBodyLearningRate must be a positive number, got {}", self.body_learning_rate)));
        }
        let run = trainer::run(self, body_weights, device, &self.loop_options(options), None, hooks).await?;
        let weight = run.model.head.weight.val();
        let [features, classes] = weight.dims();
        let bias = run.model.head.bias.as_ref().map(|b| b.val()).ok_or_else(|| Error::Weights("the head lost its bias".into()))?;
        let mut read = run.device.read_all(vec![weight.transpose().reshape([classes * features]), bias]).await?.into_iter();
        let (Some(rows), Some(bias)) = (read.next(), read.next()) else {
            return Err(Error::Weights("the trained head could not be read back".into()));
        };
        let head = DifferentiableHead {
            weight: rows.chunks(features.max(1)).map(|r| r.iter().map(|&x| f64::from(x)).collect()).collect(),
            bias: bias.iter().map(|&x| f64::from(x)).collect(),
        };
        Ok(TrainedEndToEnd { body: run.model.body, head, device: run.device, steps: run.steps })
    }
}

impl Task for EndToEnd<'_> {
    type Model = BodyWithHead;

    fn examples(&self) -> usize {
        self.train.len()
    }

    fn validation_examples(&self) -> usize {
        0
    }

    fn labels(&self) -> Vec<String> {
        self.train.labels.names.clone()
    }

    fn lengths(&self) -> Result<Vec<usize>> {
        Ok(vec![0; self.train.len()])
    }

    fn fingerprint(&self) -> String {
        fingerprint(self.train)
    }

    fn memory(&self, batch: usize) -> MemoryPlan {
        super::memory::plan_training(self.config, self.start.bias.len(), batch, self.max_length, None)
    }

    /// setfit decays every parameter by `l2_weight`.
    fn no_decay(_path: &str) -> bool {
        false
    }

    /// The head learns at the run's rate, the body at its own.
    fn lr_groups(&self) -> Vec<LrGroup> {
        vec![LrGroup { prefix: "body".into(), factor: self.body_learning_rate / self.run.learning_rate }]
    }

    fn divergence_advice(&self, learning_rate: f64) -> String {
        format!(
            "Lower headLearningRate (now {learning_rate}) or headBodyLearningRate (now {}), or check the data",
            self.body_learning_rate
        )
    }

    fn lr_decay(&self, steps_per_epoch: usize) -> Option<StepDecay> {
        Some(StepDecay { every: steps_per_epoch.saturating_mul(STEP_EPOCHS), gamma: 0.5 })
    }

    fn load(&self, weights: Vec<u8>, device: &Device, _origin: WeightsOrigin) -> Result<(BodyWithHead, LoadReport)> {
        let (body, report) = bert::load_encoder(self.config, weights, device)?;
        let classes = self.start.bias.len();
        let features = self.start.weight.first().map_or(0, Vec::len);
        if features != self.config.hidden_size || self.start.weight.len() != classes || self.start.weight.iter().any(|r| r.len() != features) {
            return Err(Error::Data(format!(
                "the head's start ({} rows of weights, {classes} biases) does not fit {} features",
                self.start.weight.len(),
                self.config.hidden_size
            )));
        }
        // Burn's [features, classes]: the transpose of setfit's rows
        let transposed: Vec<f32> = (0..features).flat_map(|f| self.start.weight.iter().map(move |row| row[f] as f32)).collect();
        let bias: Vec<f32> = self.start.bias.iter().map(|&b| b as f32).collect();
        let head = Linear {
            weight: Param::from_tensor(Tensor::from_data(TensorData::new(transposed, [features, classes]), device)),
            bias: Some(Param::from_tensor(Tensor::from_data(TensorData::new(bias, [classes]), device))),
        };
        Ok((BodyWithHead { body, head }, report))
    }

    /// Mean cross-entropy of the head's softmax on the rows' sentence embeddings.
    fn loss(&self, model: &BodyWithHead, rows: &[usize], device: &Device) -> Result<(Tensor<1>, usize)> {
        let texts: Vec<&str> = rows.iter().map(|&r| self.train.examples[r].text.as_str()).collect();
        let batch = self.tokenizer.encode(&texts, None, self.max_length, true)?;
        let tokens = batch.attention_mask.iter().filter(|&&m| m != 0).count();
        let embeddings = head_inputs(&model.body, self.modules, batch_tensors(&batch, device));
        let logits = linear(&model.head, embeddings).div_scalar(1.0 + EPS);
        let labels: Vec<i64> = rows.iter().map(|&r| self.train.examples[r].label as i64).collect();
        let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [rows.len()]), device);
        Ok((CrossEntropyLossConfig::new().init(device).forward(logits, y), tokens))
    }

    async fn evaluate(&self, _model: &BodyWithHead, _device: &ComputeDevice) -> Result<Evaluation> {
        Err(Error::Options("SetFit evaluates once, when the head is trained".into()))
    }

    fn config(&self) -> Result<Vec<u8>> {
        Err(Error::Options("a SetFit run is not checkpointed".into()))
    }

    async fn export(&self, model: &BodyWithHead, device: &ComputeDevice) -> Result<Vec<u8>> {
        bert::export_encoder(self.config, &model.body, device).await
    }
}
