//! SetFit (Tunstall et al. 2022; the `setfit` library): a sentence-transformer body fine-tuned
//! contrastively on pairs of the few labelled rows (`CosineSimilarityLoss`: the squared gap
//! between the pair's cosine similarity and 1 for one class, 0 for two), then a head: scikit-learn's
//! logistic regression fitted on the trained body's embeddings, or setfit's differentiable head
//! trained on them (`setfit_head`) or with the body (`setfit_end_to_end`). The body's phase is a
//! [`Task`] for the shared loop (schedule, AdamW, clipping as setfit's sentence-transformers
//! Trainer), and so is an end-to-end head's, whose steps the run's events number on after the
//! body's; when the head is done and, with validation rows, the model evaluated, the run's `done`
//! event follows.

use burn::tensor::{Device, Tensor};

use super::{
    Evaluation, Event, Hooks, MemoryPlan, StopReason, TrainOptions,
    checkpoint::fingerprint,
    options::SetFitHeadKind,
    setfit_end_to_end::{DEFAULT_BODY_LEARNING_RATE, EndToEnd},
    setfit_head::{self, DifferentiableHead, HeadRun, train_head},
    trainer::{self, Run, Task, WeightsOrigin},
};
use crate::{
    ComputeDevice, Error, Result,
    data::{
        Dataset, batch_tensors,
        contrastive_pairs::{Pair, contrastive_pairs, single_row_classes},
    },
    infer::{
        ModelFiles,
        encoder::tokenizer_for,
        logistic::LogisticRegression,
        metrics::{CLASSIFICATION_METRICS, Metrics},
        sentence_transformer::SentenceTransformer,
        setfit::{SetFitModel, embed_texts, sentence_embeddings},
    },
    models::bert::{BertConfig, BertModel},
    tokenizer::TextTokenizer,
    weights::{LoadReport, bert},
};

/// A finished SetFit run.
pub struct TrainedSetFit {
    pub model: SetFitModel,
    pub stop_reason: StopReason,
    pub steps: usize,
    /// The trained model's metrics on the validation rows, if any.
    pub evaluation: Option<Metrics>,
}

/// Trains the SetFit model whose body is `files` (with the sentence-transformers `modules`) on
/// `train`'s rows: `options` drive the body's phase (epochs over the pairs, batch size, learning
/// rate, warmup, weight decay, clipping, seed; `numIterations` or `samplingStrategy` choose the
/// pairs).
pub async fn fine_tune_setfit(
    files: &ModelFiles,
    modules: SentenceTransformer,
    device: &ComputeDevice,
    train: &Dataset,
    validation: Option<&Dataset>,
    options: &TrainOptions,
    hooks: Hooks<'_>,
) -> Result<TrainedSetFit> {
    options.validate()?;
    options.check_metric(CLASSIFICATION_METRICS, "a classifier")?;
    options.check_for_task("text-classification")?;
    check_options(options)?;
    if let Some(e) = train.examples.iter().chain(validation.iter().flat_map(|v| &v.examples)).find(|e| e.pair.is_some()) {
        return Err(Error::Data(format!("{}: SetFit classifies single texts, and this row has a text pair; leave out the text pair column", e.origin)));
    }
    if let Some(v) = validation
        && v.labels.names != train.labels.names
    {
        return Err(Error::Data("the validation data must use the training data's labels".into()));
    }
    let text = std::str::from_utf8(&files.config).map_err(|_| Error::Weights("config.json is not UTF-8 text".into()))?;
    let config = BertConfig::from_json(text)?;
    let mut warnings = Vec::new();
    let max_length = options.max_length_for(config.max_tokens(), &mut warnings);
    let labels: Vec<usize> = train.examples.iter().map(|e| e.label).collect();
    let names = train.labels.names.clone();
    if let Some(class) = (0..names.len()).find(|c| !labels.contains(c)) {
        return Err(Error::Data(format!(
            "class {:?} has no training rows (the validation split took them all); lower validationSplit, give a validation file, or label more rows of it",
            names[class]
        )));
    }
    for class in single_row_classes(&labels) {
        warnings.push(format!(
            "class {:?} has one training row: its only positive pair is that row with itself; SetFit learns a class from several rows",
            names[class]
        ));
    }
    let pairs = contrastive_pairs(&labels, options.sampling_strategy.unwrap_or_default(), options.num_iterations, None)?;
    let task = Body {
        tokenizer: tokenizer_for(&config, &files.tokenizer)?,
        modules,
        config_bytes: files.config.clone(),
        config,
        train,
        pairs,
        names: names.clone(),
        max_length,
        warnings,
    };
    let head_run = HeadRun {
        epochs: options.head_epochs.unwrap_or(setfit_head::DEFAULT_EPOCHS),
        batch_size: options.head_batch_size.unwrap_or(setfit_head::DEFAULT_BATCH_SIZE),
        learning_rate: options.head_learning_rate.unwrap_or(setfit_head::DEFAULT_LEARNING_RATE),
        weight_decay: options.weight_decay,
        seed: options.seed,
    };
    let start = DifferentiableHead::initial(names.len(), task.config.hidden_size, options.seed);
    let end_to_end = (options.head == Some(SetFitHeadKind::Differentiable) && options.end_to_end).then(|| EndToEnd {
        config: &task.config,
        tokenizer: &task.tokenizer,
        modules: &task.modules,
        train,
        max_length,
        start: start.clone(),
        run: head_run.clone(),
        body_learning_rate: options.head_body_learning_rate.unwrap_or(DEFAULT_BODY_LEARNING_RATE),
    });
    // An end-to-end head's steps follow the body's, numbered on: the run reports them as one.
    let head_steps = end_to_end.as_ref().map_or(0, EndToEnd::steps);
    // The body's `done` waits until the head is trained and the model evaluated; no checkpoints
    // (refused above).
    let Hooks { on_event, cancelled, .. } = hooks;
    let mut done = None;
    let mut forward = |e: Event| match e {
        Event::Done { .. } => done = Some(e),
        other => on_event(renumbered(other, 0, head_steps, None)),
    };
    let run = trainer::run(&task, files.weights.clone(), device, options, None, Hooks { on_event: &mut forward, on_checkpoint: None, cancelled }).await;
    let Run { model: body, device: body_device, stop_reason, steps: body_steps, .. } = run?;
    let (body, head, device, done) = match end_to_end {
        Some(phase) if stop_reason == StopReason::Finished => {
            let body_weights = bert::export_encoder(&task.config, &body, &body_device).await?;
            drop(body); // the phase loads its own copy to train
            let mut head_done = None;
            let mut forward = |e: Event| match e {
                Event::Start { .. } => {}
                Event::Done { .. } => head_done = Some(e),
                // (its steps report the epoch the body ended at: `epoch` counts the contrastive epochs)
                other => on_event(renumbered(other, body_steps, body_steps, Some(options.epochs as f64))),
            };
            let trained = phase.train(body_weights, device, options, Hooks { on_event: &mut forward, on_checkpoint: None, cancelled }).await?;
            // (cancelled before its first step, the head would be its random start: fit it on the body instead)
            let head = match trained.steps {
                0 => fitted_head(&task, &trained.body, &trained.device, options, &head_run, start).await?,
                _ => trained.head.as_logistic(),
            };
            let advice = phase.divergence_advice(head_run.learning_rate);
            (trained.body, head, trained.device, done.map(|body_done| joined(body_done, head_done, &advice)))
        }
        // (a run stopped in the body's phase gets its head from the body as it is: quickly, on the host)
        _ => {
            let head = fitted_head(&task, &body, &body_device, options, &head_run, start).await?;
            (body, head, body_device, done)
        }
    };
    let model = SetFitModel {
        config: task.config,
        tokenizer: task.tokenizer,
        body,
        modules: task.modules,
        head,
        labels: names,
        device,
        max_length,
        batch_size: options.batch_size,
        source_config: task.config_bytes,
        source_tokenizer: files.tokenizer.clone(),
        warnings: Vec::new(),
    };
    let (stop_reason, steps) = match &done {
        Some(Event::Done { stop_reason, steps, .. }) => (*stop_reason, *steps),
        _ => (stop_reason, body_steps),
    };
    let evaluation = match validation {
        Some(v) if !v.is_empty() => Some(evaluate(&model, v).await?),
        _ => None,
    };
    if let Some(metrics) = &evaluation {
        on_event(Event::Eval { step: steps, epoch: options.epochs as f64, metrics: Evaluation::Classification(metrics.clone()), is_best: true });
    }
    if let Some(done) = done {
        on_event(done);
    }
    Ok(TrainedSetFit { model, stop_reason, steps, evaluation })
}

/// `event` with its step numbered `offset` further on, the run's total `extra` steps longer and,
/// when given, its epoch `at_epoch`.
fn renumbered(mut event: Event, offset: usize, extra: usize, at_epoch: Option<f64>) -> Event {
    match &mut event {
        Event::Start { total_steps, .. } => *total_steps += extra,
        Event::Step { step, total_steps, epoch, .. } => {
            *step += offset;
            *total_steps += extra;
            *epoch = at_epoch.unwrap_or(*epoch);
        }
        Event::SkippedStep { step, loss, message } => {
            *step += offset;
            *message = trainer::skipped_message(loss.is_some(), *step);
        }
        Event::Eval { step, .. } | Event::Checkpoint { step, .. } => *step += offset,
        Event::Done { .. } => {}
    }
    event
}

/// The run's `done`: the body's followed by the head's (steps and seconds added; the head's stop
/// reason, and when it diverged the message for the run's step and the head's `advice`).
fn joined(body: Event, head: Option<Event>, advice: &str) -> Event {
    match (body, head) {
        (
            Event::Done { steps, best, restored_best, seconds, .. },
            Some(Event::Done { steps: head_steps, stop_reason, seconds: head_seconds, message, .. }),
        ) => {
            let steps = steps + head_steps;
            let message = match stop_reason {
                StopReason::Diverged => Some(trainer::diverged_message(steps, advice)),
                _ => message,
            };
            Event::Done { steps, stop_reason, best, restored_best, seconds: seconds + head_seconds, message }
        }
        (body, _) => body,
    }
}

/// The head fitted on the embeddings `body` gives the training rows: the logistic regression, or
/// the differentiable head trained on the host from `start` with the body frozen.
async fn fitted_head(task: &Body<'_>, body: &BertModel, device: &ComputeDevice, options: &TrainOptions, head_run: &HeadRun, start: DifferentiableHead) -> Result<LogisticRegression> {
    let texts: Vec<&str> = task.train.examples.iter().map(|e| e.text.as_str()).collect();
    let labels: Vec<usize> = task.train.examples.iter().map(|e| e.label).collect();
    let embeddings = embed_texts(body, &task.modules, &task.tokenizer, device, &texts, task.max_length, options.batch_size).await?;
    match options.head.unwrap_or_default() {
        SetFitHeadKind::Logistic => LogisticRegression::fit(&embeddings, &labels, task.names.len()),
        SetFitHeadKind::Differentiable => Ok(train_head(start, &embeddings, &labels, head_run, |_, _| {})?.as_logistic()),
    }
}

/// Accuracy, per-class metrics and the head's log loss on labelled rows.
pub async fn evaluate(model: &SetFitModel, data: &Dataset) -> Result<Metrics> {
    let texts: Vec<&str> = data.examples.iter().map(|e| e.text.as_str()).collect();
    let probabilities = model.probabilities(&texts).await?;
    let truth: Vec<usize> = data.examples.iter().map(|e| e.label).collect();
    let predicted: Vec<usize> = probabilities.iter().map(|p| (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(0)).collect();
    let loss = probabilities.iter().zip(&truth).map(|(p, &t)| -p[t].max(1e-15).ln()).sum::<f64>() / truth.len() as f64;
    Ok(Metrics::compute(&truth, &predicted, &model.labels, Some(loss)))
}

/// Each pair's length in tokens (both texts, each cut at `max_length`): what `groupByLength`
/// orders a SetFit run's batches by.
pub fn pair_lengths(tokenizer: &TextTokenizer, train: &Dataset, pairs: &[Pair], max_length: usize) -> Result<Vec<usize>> {
    let count = |row: usize| tokenizer.count(&train.examples[row].text, None).map(|n| n.min(max_length));
    pairs.iter().map(|p| Ok(count(p.first)? + count(p.second)?)).collect()
}

/// Options a SetFit run cannot honour, refused by name.
pub(crate) fn check_options(options: &TrainOptions) -> Result<()> {
    let refused = [
        ("lora", options.lora.is_some(), "SetFit trains the whole body"),
        ("evalEvery", options.eval_every.is_some(), "SetFit evaluates once, when the head is fitted"),
        ("earlyStoppingPatience", options.early_stopping_patience.is_some(), "SetFit evaluates once, when the head is fitted"),
        ("checkpointEvery", options.checkpoint_every.is_some(), "a SetFit run is not resumed; it is short"),
    ];
    match refused.iter().find(|(_, set, _)| *set) {
        Some((name, _, why)) => Err(Error::Options(format!("{name} is not available with method \"setfit\" ({why}); leave it out"))),
        None => Ok(()),
    }
}

/// The body's contrastive phase as a [`Task`]: an example is a pair of training rows.
struct Body<'a> {
    config: BertConfig,
    config_bytes: Vec<u8>,
    tokenizer: TextTokenizer,
    modules: SentenceTransformer,
    train: &'a Dataset,
    pairs: Vec<Pair>,
    names: Vec<String>,
    max_length: usize,
    warnings: Vec<String>,
}

impl Body<'_> {
    fn text(&self, row: usize) -> &str {
        &self.train.examples[row].text
    }
}

impl Task for Body<'_> {
    type Model = BertModel;

    fn examples(&self) -> usize {
        self.pairs.len()
    }

    fn validation_examples(&self) -> usize {
        0
    }

    fn labels(&self) -> Vec<String> {
        self.names.clone()
    }

    fn lengths(&self) -> Result<Vec<usize>> {
        pair_lengths(&self.tokenizer, self.train, &self.pairs, self.max_length)
    }

    fn fingerprint(&self) -> String {
        fingerprint(self.train)
    }

    /// Both texts of each pair go through the body.
    fn memory(&self, batch: usize) -> MemoryPlan {
        super::memory::plan_training(&self.config, 0, batch.saturating_mul(2), self.max_length, None)
    }

    /// As transformers' Trainer: biases and LayerNorm weights get no weight decay.
    fn no_decay(path: &str) -> bool {
        path.ends_with(".bias") || path.contains("layer_norm.")
    }

    fn load(&self, weights: Vec<u8>, device: &Device, origin: WeightsOrigin) -> Result<(BertModel, LoadReport)> {
        let (model, mut report) = bert::load_encoder(&self.config, weights, device)?;
        if origin == WeightsOrigin::Start {
            report.warnings.extend(self.warnings.iter().cloned());
        }
        Ok((model, report))
    }

    /// Mean squared gap between each pair's cosine similarity and its target.
    fn loss(&self, model: &BertModel, rows: &[usize], device: &Device) -> Result<(Tensor<1>, usize)> {
        let side = |first: bool| -> Result<(Tensor<2>, usize)> {
            let texts: Vec<&str> = rows.iter().map(|&r| self.text(if first { self.pairs[r].first } else { self.pairs[r].second })).collect();
            let b = self.tokenizer.encode(&texts, None, self.max_length, true)?;
            let tokens = b.attention_mask.iter().filter(|&&m| m != 0).count();
            Ok((sentence_embeddings(model, &self.modules, batch_tensors(&b, device)), tokens))
        };
        let ((u, tokens_u), (v, tokens_v)) = (side(true)?, side(false)?);
        let norms = (u.clone().powf_scalar(2.0).sum_dim(1) * v.clone().powf_scalar(2.0).sum_dim(1)).sqrt().clamp_min(1e-8);
        let cosine = ((u * v).sum_dim(1) / norms).reshape([rows.len()]);
        let targets: Vec<f32> = rows.iter().map(|&r| self.pairs[r].target).collect();
        let target = Tensor::<1>::from_floats(targets.as_slice(), device);
        Ok(((cosine - target).powf_scalar(2.0).mean(), tokens_u + tokens_v))
    }

    async fn evaluate(&self, _model: &BertModel, _device: &ComputeDevice) -> Result<Evaluation> {
        Err(Error::Options("SetFit's body is not evaluated on its own: the model is, once the head is fitted".into()))
    }

    fn config(&self) -> Result<Vec<u8>> {
        Ok(self.config_bytes.clone())
    }

    async fn export(&self, model: &BertModel, device: &ComputeDevice) -> Result<Vec<u8>> {
        bert::export_encoder(&self.config, model, device).await
    }
}
