//! Fine-tuning and evaluating from data files, for every task: classifiers and token classifiers
//! (BERT-family) and decoders trained as language models (all weights or LoRA).

use crate::{
    ComputeDevice, Result,
    data::{Columns, TextColumns},
    infer::{
        Decoder, Encoder, ModelFiles,
        answer_eval::score_answers,
        language_model::{LmRowEncoder, encode_all, evaluate},
        metrics::LmMetrics,
    },
    data::masking::Masking,
    infer::{fill_mask::MaskedLm, question_answering::QuestionAnswerer, sentence_transformer::SentenceTransformer, setfit::SetFitModel, token_classification::TokenClassifier},
    train::{
        Best, Checkpoint, ClassifierExtras, Hooks, StopReason, TrainOptions, causal_lm, fine_tune_answerer, fine_tune_classifier_with, fine_tune_masked_lm,
        fine_tune_setfit, fine_tune_token_classifier,
    },
};

use super::{DataFile, SessionData};

/// A session's result: the trained model, ready for inference and export, and how the run ended.
pub struct Finetuned<M> {
    pub model: M,
    pub stop_reason: StopReason,
    pub steps: usize,
    pub best: Option<Best>,
}

impl<M> Finetuned<M> {
    /// The same run with its model turned into another type.
    pub fn map<N>(self, f: impl FnOnce(M) -> N) -> Finetuned<N> {
        Finetuned { model: f(self.model), stop_reason: self.stop_reason, steps: self.steps, best: self.best }
    }
}

/// Fine-tunes the classifier in `files` on `data` (`columns` name the text, text pair and label);
/// with `resume`, continues a run from its checkpoint. The model is the best evaluation's unless
/// `options.keep_best` is off. `augment_model`: the files of the masked language model
/// `augment.model` names (contextual augmentation).
#[allow(clippy::too_many_arguments)]
pub async fn finetune_classifier(
    files: &ModelFiles,
    augment_model: Option<&ModelFiles>,
    device: &ComputeDevice,
    data: &SessionData,
    columns: &Columns,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
    hooks: Hooks<'_>,
) -> Result<Finetuned<Encoder>> {
    let (train, validation) = data.labelled(columns, options.seed)?;
    let extras = ClassifierExtras { adapter: None, augment_model };
    let trained = fine_tune_classifier_with(files, extras, device, &train, validation.as_ref(), options, resume, hooks).await?;
    let (stop_reason, steps, best) = (trained.stop_reason, trained.steps, trained.best.clone());
    Ok(Finetuned { model: trained.into_encoder(files), stop_reason, steps, best })
}

/// Trains a SetFit model on `data` (`columns` name the text and label): the sentence-transformer
/// body in `files` (its `modules`) learns from pairs of the rows, then a logistic-regression
/// head is fitted on its embeddings; with validation rows, the result is evaluated on them.
pub async fn finetune_setfit(
    files: &ModelFiles,
    modules: SentenceTransformer,
    device: &ComputeDevice,
    data: &SessionData,
    columns: &Columns,
    options: &TrainOptions,
    hooks: Hooks<'_>,
) -> Result<Finetuned<SetFitModel>> {
    let (train, validation) = data.labelled(columns, options.seed)?;
    let trained = fine_tune_setfit(files, modules, device, &train, validation.as_ref(), options, hooks).await?;
    Ok(Finetuned { model: trained.model, stop_reason: trained.stop_reason, steps: trained.steps, best: None })
}

/// Fine-tunes the encoder in `files` to tag the words of `data` (CoNLL or JSON-lines sentences);
/// with `resume`, continues a run from its checkpoint.
pub async fn finetune_token_classifier(
    files: &ModelFiles,
    device: &ComputeDevice,
    data: &SessionData,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
    hooks: Hooks<'_>,
) -> Result<Finetuned<TokenClassifier>> {
    let (train, validation) = data.tagged(options.seed)?;
    let trained = fine_tune_token_classifier(files, None, device, &train, validation.as_ref(), options, resume, hooks).await?;
    let (stop_reason, steps, best) = (trained.stop_reason, trained.steps, trained.best.clone());
    Ok(Finetuned { model: trained.into_tagger(files), stop_reason, steps, best })
}

/// Fine-tunes the encoder in `files` to answer the questions of `data` (SQuAD JSON or rows); with
/// `resume`, continues a run from its checkpoint.
pub async fn finetune_answerer(
    files: &ModelFiles,
    device: &ComputeDevice,
    data: &SessionData,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
    hooks: Hooks<'_>,
) -> Result<Finetuned<QuestionAnswerer>> {
    let (train, validation) = data.questions(options.seed)?;
    let trained = fine_tune_answerer(files, None, device, &train, validation.as_deref(), options, resume, hooks).await?;
    let (stop_reason, steps, best) = (trained.stop_reason, trained.steps, trained.best.clone());
    Ok(Finetuned { model: trained.into_answerer(files), stop_reason, steps, best })
}

/// Continues the masked-LM pretraining of the encoder in `files` on the plain texts of `data` (a
/// `.txt` file's lines, or `columns.text`); with `resume`, continues a run from its checkpoint.
pub async fn finetune_masked_lm(
    files: &ModelFiles,
    device: &ComputeDevice,
    data: &SessionData,
    columns: &TextColumns,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
    hooks: Hooks<'_>,
) -> Result<Finetuned<MaskedLm>> {
    let (train, validation) = data.plain_texts(columns, options.seed)?;
    let masking = Masking { probability: options.mlm_probability.unwrap_or(Masking::default().probability), whole_word: options.whole_word_mask };
    let trained = fine_tune_masked_lm(files, device, &train, validation.as_deref(), masking, options, resume, hooks).await?;
    let (stop_reason, steps, best) = (trained.stop_reason, trained.steps, trained.best.clone());
    Ok(Finetuned { model: trained.into_masked_lm(files)?, stop_reason, steps, best })
}

/// Fine-tunes `decoder` as a language model on `data` (`columns` name the text, or the prompt and
/// completion); all weights, or LoRA adapters with `options.lora`. `decoder` is unchanged: the
/// result is a new decoder with the trained weights (and adapters).
pub async fn finetune_decoder(
    decoder: &Decoder,
    device: &ComputeDevice,
    data: &SessionData,
    columns: &TextColumns,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
    hooks: Hooks<'_>,
) -> Result<Finetuned<Decoder>> {
    let (train, validation) = data.texts(columns, options.seed)?;
    let mut options = options.clone();
    options.packing |= data.train.is_plain_text(); // a .txt corpus is packed
    let run = causal_lm::fine_tune(decoder, device, None, &train, validation.as_deref(), &options, resume, hooks).await?;
    Ok(Finetuned {
        model: decoder.with_model(run.model, run.device, options.lora.clone()),
        stop_reason: run.stop_reason,
        steps: run.steps,
        best: run.best,
    })
}

/// How a decoder is evaluated on a file.
#[derive(Clone, Debug, PartialEq)]
pub struct DecoderEvalSettings {
    /// Longest example in tokens (capped at the model's limit); longer ones are cut.
    pub max_length: usize,
    /// Examples per forward pass.
    pub batch_size: usize,
    /// As in training: prompt/completion rows through the chat template (`None`: when the model
    /// has one).
    pub chat_template: Option<bool>,
    /// Also answer each row's prompt greedily and score the answers (BLEU, ROUGE-L).
    pub generate: bool,
    /// With `generate`: the longest answer, in tokens.
    pub max_new_tokens: usize,
}

impl Default for DecoderEvalSettings {
    fn default() -> Self {
        DecoderEvalSettings { max_length: 512, batch_size: 8, chat_template: None, generate: false, max_new_tokens: 128 }
    }
}

impl DecoderEvalSettings {
    /// The settings asked for, the defaults where a value is not given.
    pub fn new(max_length: Option<usize>, batch_size: Option<usize>, chat_template: Option<bool>, generate: bool, max_new_tokens: Option<usize>) -> Self {
        let d = DecoderEvalSettings::default();
        DecoderEvalSettings {
            max_length: max_length.unwrap_or(d.max_length),
            batch_size: batch_size.unwrap_or(d.batch_size),
            chat_template,
            generate,
            max_new_tokens: max_new_tokens.unwrap_or(d.max_new_tokens),
        }
    }
}

/// Loss and perplexity of `decoder` on the examples of `file`, read as training reads them; with
/// `settings.generate`, also BLEU and ROUGE-L of its greedy answers to the rows' prompts.
pub async fn evaluate_decoder(decoder: &Decoder, file: &DataFile, columns: &TextColumns, settings: &DecoderEvalSettings) -> Result<LmMetrics> {
    let examples = file.texts(columns)?;
    let encoder = LmRowEncoder::new(decoder, settings.chat_template)?;
    let max_length = settings.max_length.min(decoder.config().max_positions());
    let (rows, _) = encode_all(&encoder, &examples, max_length, file.is_plain_text(), "evaluation")?;
    let pad = decoder.text.as_ref().map_or(0, |t| t.tokenizer.pad_id());
    let mut metrics = evaluate(&decoder.model, &decoder.device, &rows, pad, settings.batch_size).await?;
    if settings.generate {
        let scores = score_answers(decoder, &examples, encoder.chat(), settings.max_new_tokens).await?;
        (metrics.bleu, metrics.rouge_l, metrics.answers) = (Some(scores.bleu), Some(scores.rouge_l), Some(scores.answers));
    }
    Ok(metrics)
}
