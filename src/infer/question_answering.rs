//! A loaded BERT-family extractive question-answering model: answers with character offsets into
//! the context, read from every window of a long context; SQuAD evaluation; export.

use burn::{
    module::Module,
    tensor::{Int, Tensor, TensorData},
};

use super::{
    ModelFiles,
    encoder::encoder_parts,
    qa_answers::{AnswerSettings, Answered, QaAnswer, answers},
    squad_metrics::SquadMetrics,
};
use crate::{
    ComputeDevice, Error, Result,
    data::{
        batch_tensors,
        qa_features::{QaFeature, Windowing, qa_features},
        squad::QaExample,
    },
    models::{bert::BertConfig, encoder_family::EncoderHead, heads::BertForQuestionAnswering, lora::LoraOptions},
    tokenizer::{Batch, TextTokenizer},
    weights::{LoadReport, bert, question_answering},
};

/// `features` padded into one batch.
pub fn feature_batch(features: &[&QaFeature], pad: u32) -> Batch {
    let seq = features.iter().map(|f| f.ids.len()).max().unwrap_or(0);
    let mut b = Batch { input_ids: vec![], attention_mask: vec![], token_type_ids: vec![], batch: features.len(), seq };
    for f in features {
        let fill = seq - f.ids.len();
        b.input_ids.extend(f.ids.iter().map(|&x| x as i32).chain(std::iter::repeat_n(pad as i32, fill)));
        b.attention_mask.extend(std::iter::repeat_n(1, f.ids.len()).chain(std::iter::repeat_n(0, fill)));
        b.token_type_ids.extend(f.type_ids.iter().map(|&x| x as i32).chain(std::iter::repeat_n(0, fill)));
    }
    b
}

/// transformers' question-answering loss of a batch: the mean of the start and end
/// cross-entropies, each averaged over the features.
pub fn qa_loss(model: &BertForQuestionAnswering, features: &[&QaFeature], pad: u32, device: &burn::tensor::Device) -> Tensor<1> {
    let b = feature_batch(features, pad);
    let [ids, types, mask] = batch_tensors(&b, device);
    let (start, end) = model.forward(ids, types, mask);
    loss_of(start, end, features, device)
}

/// The loss of a batch's start and end logits ([features, seq] each) against their labels.
fn loss_of(start: Tensor<2>, end: Tensor<2>, features: &[&QaFeature], device: &burn::tensor::Device) -> Tensor<1> {
    let n = features.len();
    let label = |pick: fn(&QaFeature) -> usize| Tensor::<1, Int>::from_data(TensorData::new(features.iter().map(|f| pick(f) as i32).collect::<Vec<_>>(), [n]), device);
    let ce = burn::nn::loss::CrossEntropyLossConfig::new().init(device);
    (ce.forward(start, label(|f| f.start)) + ce.forward(end, label(|f| f.end))).div_scalar(2.0)
}

/// The start and end logits of every feature, over its own tokens, and the mean loss.
async fn logits(model: &BertForQuestionAnswering, device: &ComputeDevice, features: &[QaFeature], pad: u32, batch_size: usize) -> Result<(Vec<Vec<f32>>, Vec<Vec<f32>>, f64)> {
    let (mut starts, mut ends, mut loss) = (Vec::new(), Vec::new(), 0.0);
    for chunk in features.chunks(batch_size.max(1)) {
        let refs: Vec<&QaFeature> = chunk.iter().collect();
        let b = feature_batch(&refs, pad);
        let [ids, types, mask] = batch_tensors(&b, device.device());
        let (s, e) = model.forward(ids, types, mask);
        let batch_loss = loss_of(s.clone(), e.clone(), &refs, device.device());
        // one read per batch: the loss, then the start and end logits
        let n = b.batch * b.seq;
        let mut read = device.read_all(vec![batch_loss, s.reshape([n]), e.reshape([n])]).await?.into_iter();
        let (l, s, e) = (read.next().unwrap_or_default(), read.next().unwrap_or_default(), read.next().unwrap_or_default());
        loss += l.first().copied().unwrap_or(f32::NAN) as f64 * chunk.len() as f64;
        for (i, f) in chunk.iter().enumerate() {
            let row = i * b.seq..i * b.seq + f.ids.len();
            starts.push(s.get(row.clone()).unwrap_or_default().to_vec());
            ends.push(e.get(row).unwrap_or_default().to_vec());
        }
    }
    Ok((starts, ends, loss / features.len().max(1) as f64))
}

/// SQuAD exact match and F1 of `model` on `examples` (their features given), with the loss.
pub async fn evaluate_answerer(
    model: &BertForQuestionAnswering,
    device: &ComputeDevice,
    examples: &[QaExample],
    features: &[QaFeature],
    pad: u32,
    batch_size: usize,
    settings: AnswerSettings,
) -> Result<SquadMetrics> {
    if examples.is_empty() {
        return Err(Error::Data("the evaluation data has no questions".into()));
    }
    let (starts, ends, loss) = logits(model, device, features, pad, batch_size).await?;
    let settings = AnswerSettings { allow_no_answer: settings.allow_no_answer || examples.iter().any(|e| e.answers.is_empty()), ..settings };
    let predicted: Vec<String> = answers(examples, features, &starts, &ends, settings).into_iter().map(|a| a.answer.text).collect();
    SquadMetrics::compute(examples, &predicted, Some(loss), settings.allow_no_answer)
}

/// A question-answering model ready for inference.
pub struct QuestionAnswerer {
    pub config: BertConfig,
    pub tokenizer: TextTokenizer,
    pub model: BertForQuestionAnswering,
    pub device: ComputeDevice,
    /// What loading reported (a fresh head, ignored keys, casts).
    pub report: LoadReport,
    /// How contexts are cut into windows.
    pub windowing: Windowing,
    /// How answers are read.
    pub settings: AnswerSettings,
    /// Windows per forward pass.
    pub batch_size: usize,
    source_config: Vec<u8>,
    source_tokenizer: Vec<u8>,
    /// The LoRA settings of a model tuned with adapters (kept apart from its weights).
    pub lora: Option<LoraOptions>,
}

impl QuestionAnswerer {
    /// Loads config, weights and tokenizer onto `device` (inference mode, no autodiff).
    pub fn load(files: ModelFiles, device: &ComputeDevice) -> Result<Self> {
        let (config, tokenizer, device, weights, sources) = encoder_parts(files, device)?;
        let (model, report) = question_answering::load_question_answerer(&config, weights, device.device(), 0)?;
        Ok(QuestionAnswerer { report, ..Self::from_model(config, tokenizer, model, device, &sources) })
    }

    /// A model built in this process (e.g. fine-tuned) on `device`; `files` are the ones it started from.
    pub fn from_model(config: BertConfig, tokenizer: TextTokenizer, model: BertForQuestionAnswering, device: ComputeDevice, files: &ModelFiles) -> Self {
        let max_length = config.max_tokens().min(384);
        QuestionAnswerer {
            windowing: Windowing { max_length, stride: (max_length / 3).min(128) },
            settings: AnswerSettings::default(),
            batch_size: 16,
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
        QuestionAnswerer { lora, ..self }
    }

    /// Sets how contexts are windowed: `max_length` within the model's limit, `stride` below it.
    pub fn set_windowing(&mut self, max_length: Option<usize>, stride: Option<usize>) -> Result<()> {
        let max_length = max_length.unwrap_or(self.windowing.max_length);
        if max_length < 8 || max_length > self.config.max_tokens() {
            return Err(Error::Options(format!("maxLength must be between 8 and the model's {} tokens, got {max_length}", self.config.max_tokens())));
        }
        let stride = stride.unwrap_or(self.windowing.stride.min(max_length / 3));
        if stride >= max_length / 2 {
            return Err(Error::Options(format!("docStride must be below half of maxLength ({max_length}), got {stride}")));
        }
        self.windowing = Windowing { max_length, stride };
        Ok(())
    }

    /// Answers for `examples` (their references are not read), best first: the answer and the
    /// best candidates.
    pub async fn answer_examples(&self, examples: &[QaExample]) -> Result<Vec<Answered>> {
        let features = qa_features(examples, &self.tokenizer, self.windowing)?;
        let (starts, ends, _) = logits(&self.model, &self.device, &features, self.tokenizer.pad_id(), self.batch_size).await?;
        Ok(answers(examples, &features, &starts, &ends, self.settings))
    }

    /// The `top_k` best answers to `question` in `context`, most likely first, with character
    /// offsets into the context (transformers' `pipeline("question-answering")` shape).
    pub async fn answer(&self, question: &str, context: &str, top_k: usize) -> Result<Vec<QaAnswer>> {
        self.answer_with(question, context, top_k, self.settings).await
    }

    /// [`QuestionAnswerer::answer`] with other answer settings.
    pub async fn answer_with(&self, question: &str, context: &str, top_k: usize, settings: AnswerSettings) -> Result<Vec<QaAnswer>> {
        if top_k == 0 {
            return Err(Error::Options("topK must be at least 1".into()));
        }
        let example = QaExample { id: "0".into(), question: question.into(), context: context.into(), answers: Vec::new(), origin: "the question".into() };
        if question.trim().is_empty() || context.trim().is_empty() {
            return Err(Error::Data("the question and the context must both have text".into()));
        }
        let features = qa_features(std::slice::from_ref(&example), &self.tokenizer, self.windowing)?;
        let (starts, ends, _) = logits(&self.model, &self.device, &features, self.tokenizer.pad_id(), self.batch_size).await?;
        let answered = answers(std::slice::from_ref(&example), &features, &starts, &ends, settings).remove(0);
        let mut out = vec![answered.answer.clone()];
        out.extend(answered.candidates.into_iter().filter(|c| *c != answered.answer).take(top_k - 1));
        Ok(out)
    }

    /// SQuAD exact match and F1 on `examples` (v2.0's rules when some are unanswerable).
    pub async fn evaluate(&self, examples: &[QaExample]) -> Result<SquadMetrics> {
        let features = qa_features(examples, &self.tokenizer, self.windowing)?;
        evaluate_answerer(&self.model, &self.device, examples, &features, self.tokenizer.pad_id(), self.batch_size, self.settings).await
    }

    /// The model as a Hugging Face `*ForQuestionAnswering` folder (LoRA adapters merged).
    pub async fn export(&self) -> Result<ModelFiles> {
        Ok(ModelFiles {
            config: bert::export_config_for(&self.config, &self.source_config, &[], EncoderHead::QuestionAnswering)?,
            weights: question_answering::export_question_answerer(&self.config, &self.model.clone().materialize(), &self.device).await?,
            tokenizer: self.source_tokenizer.clone(),
        })
    }

    /// A LoRA-tuned model's adapters and `qa_outputs` as PEFT's files (`QUESTION_ANS`).
    pub async fn export_adapter(&self, base_model: &str) -> Result<Vec<(&'static str, Vec<u8>)>> {
        bert::peft_files(&self.model, &self.config, EncoderHead::QuestionAnswering, self.lora.as_ref(), &self.device, base_model).await
    }
}
