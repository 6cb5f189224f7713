//! What a fine-tuning run is told: the same options (and defaults) for the JS API and the CLI.
//! Defaults follow Hugging Face's `TrainingArguments` where one exists.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::Schedule;
use crate::{Error, Result};

/// Whether a larger or a smaller metric is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(not(target_family = "wasm"), derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Max,
    Min,
}

impl Mode {
    /// Whether larger or smaller is better for `metric` when the options do not say.
    pub fn natural_for(metric: &str) -> Mode {
        if matches!(metric, "loss" | "perplexity") { Mode::Min } else { Mode::Max }
    }

    /// Whether `value` beats `best` in this direction (the first of equal values stays best).
    pub fn improves(self, value: f64, best: f64) -> bool {
        match self {
            Mode::Max => value > best,
            Mode::Min => value < best,
        }
    }
}

/// How a classifier is trained.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(not(target_family = "wasm"), derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Every weight and the classification head trained on the rows (or LoRA adapters).
    #[default]
    Finetune,
    /// SetFit, for a few labelled rows per class: the sentence-transformer body trained on
    /// pairs of rows, then a logistic-regression head on its embeddings (text-classification).
    Setfit,
}

/// The head a SetFit run fits on the body's embeddings (setfit's `use_differentiable_head`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(not(target_family = "wasm"), derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum SetFitHeadKind {
    /// scikit-learn's `LogisticRegression()` solved to its optimum (setfit's default).
    #[default]
    Logistic,
    /// setfit's `SetFitHead`: a linear layer under softmax trained with AdamW on the frozen body's
    /// embeddings (`headEpochs`, `headBatchSize`, `headLearningRate`), or with the body
    /// (`endToEnd`).
    Differentiable,
}

/// Options of a fine-tuning run: the one definition for the JS API (unknown keys are an error;
/// the TypeScript declarations are generated from it) and the CLI's `train` flags.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(not(target_family = "wasm"), derive(clap::Args))]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
#[ts(optional_fields = nullable)]
pub struct TrainOptions {
    /// Passes over the training data (default 3).
    #[cfg_attr(not(target_family = "wasm"), arg(long, default_value_t = defaults().epochs))]
    pub epochs: usize,
    /// Examples per forward pass (default 16).
    #[cfg_attr(not(target_family = "wasm"), arg(long, default_value_t = defaults().batch_size))]
    pub batch_size: usize,
    /// Peak learning rate (default 5e-5).
    #[cfg_attr(not(target_family = "wasm"), arg(long, default_value_t = defaults().learning_rate))]
    pub learning_rate: f64,
    /// AdamW decoupled weight decay, not applied to biases and LayerNorm (default 0.01).
    #[cfg_attr(not(target_family = "wasm"), arg(long, default_value_t = defaults().weight_decay))]
    pub weight_decay: f64,
    /// Warmup as a number of optimizer steps (exclusive with the warmup ratio).
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    pub warmup_steps: Option<usize>,
    /// Warmup as a fraction of all optimizer steps (default 0 when neither is given).
    #[cfg_attr(not(target_family = "wasm"), arg(long, conflicts_with = "warmup_steps"))]
    pub warmup_ratio: Option<f64>,
    /// Learning-rate shape after warmup (default linear decay to 0).
    #[cfg_attr(not(target_family = "wasm"), arg(long, default_value = "linear"))]
    pub schedule: Schedule,
    /// Longest input in tokens; longer texts are truncated (default 128).
    #[cfg_attr(not(target_family = "wasm"), arg(long, default_value_t = defaults().max_length))]
    pub max_length: usize,
    /// Seeds the head's initialisation, dropout, the data order and the validation split (default 42).
    #[cfg_attr(not(target_family = "wasm"), arg(long, default_value_t = defaults().seed))]
    pub seed: u64,
    /// Batches per optimizer step (default 1).
    #[cfg_attr(not(target_family = "wasm"), arg(long, default_value_t = defaults().grad_accum))]
    pub grad_accum: usize,
    /// Clip the global gradient norm to this (default 1.0; 0 or `null` turns clipping off).
    #[cfg_attr(not(target_family = "wasm"), arg(long, default_value = "1.0"))]
    pub max_grad_norm: Option<f64>,
    /// Evaluate every N optimizer steps, besides at each epoch end (default: epoch ends only).
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    pub eval_every: Option<usize>,
    /// Stop after this many evaluations without improvement (default: never stop early).
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    pub early_stopping_patience: Option<usize>,
    /// Metric that decides "better" for early stopping and keep-best: for classifiers
    /// `accuracy`, `macro_f1`, `loss`, … (default `accuracy`); for token classifiers entity `f1`,
    /// for question answering SQuAD `f1` or `exact_match` (default `f1`),
    /// `precision`, `recall`, `accuracy`, `loss` (default `f1`); for language models (and masked
    /// LMs) `loss` or `perplexity` (default `loss`).
    #[ts(type = "\"accuracy\" | \"macro_f1\" | \"macro_precision\" | \"macro_recall\" | \"f1\" | \"exact_match\" | \"precision\" | \"recall\" | \"loss\" | \"perplexity\" | null")]
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    pub metric: Option<String>,
    /// Whether larger (`max`) or smaller (`min`) `metric` is better (default: `min` for `loss`
    /// and `perplexity`, else `max`).
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    pub mode: Option<Mode>,
    /// At the end, go back to the weights of the best evaluation (default true).
    #[cfg_attr(not(target_family = "wasm"), arg(long = "no-keep-best", action = clap::ArgAction::SetFalse, help = "Keep the last weights instead of going back to the best evaluation's"))]
    pub keep_best: bool,
    /// Batch texts of similar length together (less padding, faster; default false).
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    pub group_by_length: bool,
    /// Report a `step` event every N optimizer steps (default 10). Each report reads the loss
    /// back from the GPU; reading every step would slow training down.
    #[cfg_attr(not(target_family = "wasm"), arg(long, default_value_t = defaults().log_every))]
    pub log_every: usize,
    /// Hand a checkpoint (weights, optimizer state, position) to the caller every N optimizer
    /// steps, to resume from after a crash or a reload (default: none).
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    pub checkpoint_every: Option<usize>,
    /// Text generation: wrap prompt/completion rows in the model's chat template, as `chat()`
    /// renders a conversation (default: when the model has one). Not for classifiers.
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    pub chat_template: Option<bool>,
    /// Text generation: pack plain `text` rows into blocks of `maxLength` tokens, each text
    /// followed by EOS, every token learned (as transformers' run_clm.py; a `.txt` file is always
    /// packed). Off by default: each row is its own example.
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    pub packing: bool,
    /// Recompute what memory-bound operations (norms, activations, softmax) produced in the
    /// backward pass instead of keeping it from the forward pass: less memory for activations,
    /// more time per step; the same numbers (default false).
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    pub gradient_checkpointing: bool,
    /// Text generation with LoRA on a GGUF model: widen the frozen base to f32 first instead of
    /// keeping it quantized (QLoRA; default false: about the file's size in memory instead of
    /// 4–8× it, the same numbers).
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    pub dequantize_base: bool,
    /// Token classification: label every token of a word (a `B-` tag's later tokens as its
    /// `I-`), not only its first (default false, as transformers' run_ner.py).
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    pub label_all_tokens: bool,
    /// Fill-mask: the chance that a token is masked (default 0.15, as BERT).
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    pub mlm_probability: Option<f64>,
    /// Fill-mask: mask whole words (all their tokens, always with the mask token), as
    /// transformers' `whole_word_mask` (default false).
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    pub whole_word_mask: bool,
    /// Question answering: context tokens each window repeats from the one before (default 128,
    /// at most a third of maxLength).
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    pub doc_stride: Option<usize>,
    /// Text classification: "finetune" (default) or "setfit", for few labelled rows: the
    /// sentence-transformer body learns from pairs of rows (epochs, batchSize, learningRate, …
    /// then drive that phase: setfit's defaults are epochs 1, learningRate 2e-5, warmupRatio
    /// 0.1), then a logistic-regression head is fitted on its embeddings.
    #[cfg_attr(not(target_family = "wasm"), arg(long, value_enum, default_value_t = Method::Finetune))]
    pub method: Method,
    /// SetFit: pairs of each kind (same class, other class) per training row; without it,
    /// `samplingStrategy` decides.
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    pub num_iterations: Option<usize>,
    /// SetFit: how many pairs of each kind when `numIterations` is not given: "oversampling"
    /// (as many as the commoner kind; setfit's default), "undersampling", "unique".
    #[cfg_attr(not(target_family = "wasm"), arg(long, value_enum))]
    pub sampling_strategy: Option<crate::data::contrastive_pairs::Sampling>,
    /// SetFit: the head, "logistic" (default; setfit's `LogisticRegression`) or "differentiable"
    /// (setfit's `SetFitHead`, trained on the frozen body's embeddings, or with the body: `endToEnd`).
    #[cfg_attr(not(target_family = "wasm"), arg(long, value_enum))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<SetFitHeadKind>,
    /// SetFit's differentiable head: epochs over the rows (setfit's default 16).
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_epochs: Option<usize>,
    /// SetFit's differentiable head: rows per step (setfit's default 2).
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_batch_size: Option<usize>,
    /// SetFit's differentiable head: AdamW's learning rate, halved every 5 epochs (setfit's
    /// default 1e-2).
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_learning_rate: Option<f64>,
    /// SetFit's differentiable head: train the body with it (setfit's `end_to_end=True`): every
    /// step runs the texts through the body, whose weights learn at `headBodyLearningRate`. Off
    /// (default), the body is frozen once its contrastive phase is over.
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub end_to_end: bool,
    /// SetFit's differentiable head with `endToEnd`: the body's learning rate in the head's epochs,
    /// halved with the head's (setfit's `body_learning_rate[1]`, default 1e-5).
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_body_learning_rate: Option<f64>,
    /// Text classification: augmented copies of each training row, made afresh every epoch (EDA's
    /// random swap and deletion; never written into the data): `{ ops, rate, copies, seed }`.
    #[cfg_attr(not(target_family = "wasm"), arg(skip))]
    pub augment: Option<crate::data::augment::AugmentOptions>,
    /// Train LoRA adapters instead of all weights (the base is frozen; the task's head —
    /// `classifier`, `qa_outputs` — is trained in full, as PEFT's `modules_to_save`); save them
    /// with format "peft". Not for fill-mask (its head is tied to the embeddings).
    #[cfg_attr(not(target_family = "wasm"), arg(skip))]
    pub lora: Option<crate::models::lora::LoraOptions>,
}

/// The defaults, for the CLI's flags.
#[cfg(not(target_family = "wasm"))]
fn defaults() -> TrainOptions {
    TrainOptions::default()
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 3,
            batch_size: 16,
            learning_rate: 5e-5,
            weight_decay: 0.01,
            warmup_steps: None,
            warmup_ratio: None,
            schedule: Schedule::Linear,
            max_length: 128,
            seed: 42,
            grad_accum: 1,
            max_grad_norm: Some(1.0),
            eval_every: None,
            early_stopping_patience: None,
            metric: None,
            mode: None,
            keep_best: true,
            group_by_length: false,
            log_every: 10,
            checkpoint_every: None,
            chat_template: None,
            packing: false,
            dequantize_base: false,
            gradient_checkpointing: false,
            label_all_tokens: false,
            mlm_probability: None,
            whole_word_mask: false,
            doc_stride: None,
            method: Method::Finetune,
            num_iterations: None,
            sampling_strategy: None,
            head: None,
            head_epochs: None,
            head_batch_size: None,
            head_learning_rate: None,
            end_to_end: false,
            head_body_learning_rate: None,
            augment: None,
            lora: None,
        }
    }
}

impl TrainOptions {
    /// With method "setfit", setfit's defaults where the caller `gave` no value (a camelCase
    /// option name → whether it was given): one epoch over the pairs, learning rate 2e-5, a
    /// tenth of the steps as warmup.
    pub fn with_method_defaults(mut self, gave: impl Fn(&str) -> bool) -> Self {
        if self.method == Method::Setfit {
            if !gave("epochs") {
                self.epochs = 1;
            }
            if !gave("learningRate") {
                self.learning_rate = 2e-5;
            }
            if !gave("warmupRatio") && !gave("warmupSteps") {
                self.warmup_ratio = Some(0.1);
            }
        }
        self
    }

    /// The gradient-norm clip, when clipping is on.
    pub fn clip_norm(&self) -> Option<f64> {
        self.max_grad_norm.filter(|&n| n > 0.0)
    }

    /// Checks values that serde cannot; the messages name the option and the valid range.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Options(m));
        if self.epochs == 0 {
            return bad("epochs must be at least 1".into());
        }
        if self.batch_size == 0 || self.grad_accum == 0 || self.log_every == 0 {
            return bad("batchSize, gradAccum and logEvery must be at least 1".into());
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad(format!("learningRate must be a positive number, got {}", self.learning_rate));
        }
        if !(self.weight_decay >= 0.0) {
            return bad(format!("weightDecay must be 0 or more, got {}", self.weight_decay));
        }
        if let Some(n) = self.max_grad_norm
            && !(n >= 0.0 && n.is_finite())
        {
            return bad(format!("maxGradNorm must be a positive number (0 or null: no clipping), got {n}"));
        }
        if self.max_length < 2 {
            return bad(format!("maxLength must be at least 2, got {}", self.max_length));
        }
        if self.eval_every == Some(0) || self.early_stopping_patience == Some(0) || self.checkpoint_every == Some(0) {
            return bad("evalEvery, earlyStoppingPatience and checkpointEvery must be at least 1 when given".into());
        }
        if let Some(lora) = &self.lora {
            lora.check()?;
        }
        if let Some(p) = self.mlm_probability
            && !(p > 0.0 && p < 1.0)
        {
            return bad(format!("mlmProbability must be between 0 and 1 (0.15 is BERT's), got {p}"));
        }
        if let Some(a) = &self.augment {
            a.check()?;
            if self.method == Method::Setfit {
                return bad("augment is for method \"finetune\" (SetFit trains on pairs of the rows as they are); leave one out".into());
            }
        }
        if self.method != Method::Setfit && (self.num_iterations.is_some() || self.sampling_strategy.is_some() || self.head.is_some()) {
            return bad("numIterations, samplingStrategy and head are SetFit's; pass method: \"setfit\" or leave them out".into());
        }
        let head_options = self.head_epochs.is_some() || self.head_batch_size.is_some() || self.head_learning_rate.is_some();
        if head_options && self.head != Some(SetFitHeadKind::Differentiable) {
            return bad("headEpochs, headBatchSize and headLearningRate train SetFit's differentiable head; pass head: \"differentiable\" or leave them out".into());
        }
        if self.end_to_end && self.head != Some(SetFitHeadKind::Differentiable) {
            return bad("endToEnd trains SetFit's differentiable head with the body; pass head: \"differentiable\" or leave endToEnd out".into());
        }
        if self.head_body_learning_rate.is_some() && !self.end_to_end {
            return bad("headBodyLearningRate is the body's learning rate when the head trains end to end; pass endToEnd: true or leave it out".into());
        }
        if self.head_epochs == Some(0) || self.head_batch_size == Some(0) {
            return bad("headEpochs and headBatchSize must be at least 1 when given".into());
        }
        for (name, rate) in [("headLearningRate", self.head_learning_rate), ("headBodyLearningRate", self.head_body_learning_rate)] {
            if let Some(lr) = rate
                && !(lr > 0.0 && lr.is_finite())
            {
                return bad(format!("{name} must be a positive number, got {lr}"));
            }
        }
        super::schedule::warmup_steps(self.warmup_steps, self.warmup_ratio, 1).map(|_| ())
    }

    /// Refuses options that belong to another task than `task` (a pipeline name): each names
    /// the task it is for.
    pub fn check_for_task(&self, task: &str) -> Result<()> {
        let set = [
            ("chatTemplate", "text-generation", self.chat_template.is_some()),
            ("packing", "text-generation", self.packing),
            ("dequantizeBase", "text-generation", self.dequantize_base),
            ("labelAllTokens", "token-classification", self.label_all_tokens),
            ("mlmProbability", "fill-mask", self.mlm_probability.is_some()),
            ("wholeWordMask", "fill-mask", self.whole_word_mask),
            ("docStride", "question-answering", self.doc_stride.is_some()),
            ("method: \"setfit\"", "text-classification", self.method == Method::Setfit && task != "feature-extraction"),
            ("augment", "text-classification", self.augment.is_some() && task != "feature-extraction"),
        ];
        match set.iter().find(|(_, owner, on)| *on && *owner != task) {
            Some((name, owner, _)) => Err(Error::Options(format!("{name} is for {owner} models; leave it out when fine-tuning for {task}"))),
            None => Ok(()),
        }
    }

    /// The sequence length a run uses: `max_length`, capped at `model_limit`, the longest input
    /// the model reads. A cap of a length the caller chose (not the default) is said in `warnings`.
    pub fn max_length_for(&self, model_limit: usize, warnings: &mut Vec<String>) -> usize {
        if self.max_length > model_limit && self.max_length != TrainOptions::default().max_length {
            warnings.push(format!(
                "maxLength {} is longer than this model reads ({model_limit} tokens): training at {model_limit}",
                self.max_length
            ));
        }
        self.max_length.min(model_limit)
    }

    /// Refuses a `metric` the task does not report (`valid`: the task's metrics).
    pub fn check_metric(&self, valid: &[&str], what: &str) -> Result<()> {
        match &self.metric {
            Some(m) if !valid.contains(&m.as_str()) => Err(Error::Options(format!(
                "unknown metric {m:?} for {what}; valid metrics are {}",
                valid.join(", ")
            ))),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_name_the_option() {
        TrainOptions::default().validate().unwrap();
        let err = |o: TrainOptions| o.validate().unwrap_err().to_string();
        assert!(err(TrainOptions { epochs: 0, ..Default::default() }).contains("epochs"));
        assert!(err(TrainOptions { learning_rate: -1.0, ..Default::default() }).contains("learningRate"));
        let metric = TrainOptions { metric: Some("f1".into()), ..Default::default() };
        let e = metric.check_metric(crate::infer::metrics::CLASSIFICATION_METRICS, "a classifier").unwrap_err().to_string();
        assert!(e.contains("macro_f1"), "{e}");
        assert!(
            err(TrainOptions { warmup_steps: Some(3), warmup_ratio: Some(0.1), ..Default::default() })
                .contains("not both")
        );
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let e = serde_json::from_str::<TrainOptions>(r#"{"epoch": 2}"#).unwrap_err().to_string();
        assert!(e.contains("epoch"), "{e}");
        let o: TrainOptions = serde_json::from_str(r#"{"epochs": 2, "schedule": "cosine"}"#).unwrap();
        assert_eq!((o.epochs, o.schedule, o.batch_size), (2, Schedule::Cosine, 16));
    }
}
