//! Fine-tuning for any task in one call: [`Task::finetune`] reads the task's data, trains the
//! task's model on it and returns a [`Trained`], whose files are a Hugging Face folder (or PEFT's
//! adapters, or setfit's folder). The CLI's `train` and `search` and the JS exports pass their
//! inputs through it instead of choosing a trainer per task themselves; adding a task adds an arm
//! here beside its trainer.

use crate::{
    ComputeDevice, Error, Result,
    data::{Columns, TextColumns},
    infer::{
        Decoder, Encoder, ModelFiles, fill_mask::MaskedLm, question_answering::QuestionAnswerer, sentence_transformer::SentenceTransformer,
        setfit::SetFitModel, token_classification::TokenClassifier,
    },
    train::{Checkpoint, Hooks, TrainOptions, options::Method},
};

use super::{
    SessionData, Task,
    finetune::{Finetuned, finetune_answerer, finetune_classifier, finetune_decoder, finetune_masked_lm, finetune_setfit, finetune_token_classifier},
};

/// What a run starts from: an encoder's files (every task but text generation), or a loaded
/// decoder (text generation).
#[derive(Clone, Copy)]
pub enum Base<'a> {
    Encoder(EncoderBase<'a>),
    Decoder(&'a Decoder),
}

/// An encoder's files, with what some runs also read.
#[derive(Clone, Copy)]
pub struct EncoderBase<'a> {
    pub files: &'a ModelFiles,
    /// The rest of its sentence-transformers folder (SetFit runs; none: mean pooling, as setfit
    /// wraps a plain Hugging Face model).
    pub sentence: Option<&'a SentenceTransformer>,
    /// The masked language model that fills contextual augmentation (`augment.model`).
    pub augment_model: Option<&'a ModelFiles>,
}

impl<'a> Base<'a> {
    /// An encoder's files, with nothing else.
    pub fn files(files: &'a ModelFiles) -> Self {
        Base::Encoder(EncoderBase { files, sentence: None, augment_model: None })
    }
}

/// The data of a run and where it runs: the columns a table's rows are read by (`columns` for
/// labelled rows, `text_columns` for texts, prompts and conversations).
#[derive(Clone, Copy)]
pub struct Inputs<'a> {
    pub device: &'a ComputeDevice,
    pub data: &'a SessionData,
    pub columns: &'a Columns,
    pub text_columns: &'a TextColumns,
}

/// A trained model of any task (moved, never copied: the size of its variants does not matter).
#[allow(clippy::large_enum_variant)]
pub enum Trained {
    /// text-classification (and feature-extraction, trained the same way).
    Classifier(Encoder),
    /// text-classification with `method: "setfit"`.
    SetFit(SetFitModel),
    TokenClassifier(TokenClassifier),
    QuestionAnswerer(QuestionAnswerer),
    /// fill-mask (continued masked-LM pretraining).
    MaskedLm(MaskedLm),
    /// text-generation.
    Decoder(Decoder),
}

impl Task {
    /// The training file's name when a caller gives none: its extension gives the format the
    /// task's data usually comes in (CoNLL for tags, SQuAD JSON for questions, lines of text for
    /// masked-LM training, a CSV table otherwise).
    pub fn default_data_name(self) -> &'static str {
        match self {
            Task::TokenClassification => "train.conll",
            Task::QuestionAnswering => "train.json",
            Task::FillMask => "train.txt",
            Task::FeatureExtraction | Task::TextClassification => "data.csv",
            Task::TextGeneration => "data.jsonl",
        }
    }

    /// Fine-tunes `base` for this task on `inputs.data`; with `resume`, continues a run from its
    /// checkpoint. The model is the best evaluation's unless `options.keep_best` is off.
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::path::Path;
    /// use webtune::{data::{Columns, TextColumns}, infer::ModelFiles, session::{Base, Inputs, SessionData, Task}, train::{Event, Hooks, TrainOptions}};
    ///
    /// let files = ModelFiles::from_dir(Path::new("models/all-MiniLM-L6-v2"))?;
    /// let data = SessionData::named(std::fs::read("tickets.csv")?, "tickets.csv".into(), None, String::new(), None);
    /// let device = webtune::device::cpu();
    /// let (columns, text_columns) = (Columns::default(), TextColumns::default());
    /// let inputs = Inputs { device: &device, data: &data, columns: &columns, text_columns: &text_columns };
    /// let mut print = |event: Event| println!("{event:?}");
    /// let run = Task::TextClassification.finetune(Base::files(&files), inputs, &TrainOptions::default(), None, Hooks::events(&mut print)).await?;
    /// for (name, bytes) in run.model.files().await? {
    ///     std::fs::write(Path::new("out").join(name), bytes)?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn finetune(
        self,
        base: Base<'_>,
        inputs: Inputs<'_>,
        options: &TrainOptions,
        resume: Option<&Checkpoint>,
        hooks: Hooks<'_>,
    ) -> Result<Finetuned<Trained>> {
        options.check_for_task(self.name())?;
        let Inputs { device, data, columns, text_columns } = inputs;
        Ok(match (self, base) {
            (Task::TextGeneration, Base::Decoder(decoder)) => {
                finetune_decoder(decoder, device, data, text_columns, options, resume, hooks).await?.map(Trained::Decoder)
            }
            (Task::FeatureExtraction | Task::TextClassification, Base::Encoder(e)) if options.method == Method::Setfit => {
                if resume.is_some() {
                    return Err(Error::Options("a SetFit run trains the body from its start and keeps no checkpoints; leave out resume".into()));
                }
                let modules = e.sentence.cloned().unwrap_or_else(SentenceTransformer::plain);
                finetune_setfit(e.files, modules, device, data, columns, options, hooks).await?.map(Trained::SetFit)
            }
            (Task::FeatureExtraction | Task::TextClassification, Base::Encoder(e)) => {
                finetune_classifier(e.files, e.augment_model, device, data, columns, options, resume, hooks).await?.map(Trained::Classifier)
            }
            (Task::TokenClassification, Base::Encoder(e)) => {
                finetune_token_classifier(e.files, device, data, options, resume, hooks).await?.map(Trained::TokenClassifier)
            }
            (Task::QuestionAnswering, Base::Encoder(e)) => finetune_answerer(e.files, device, data, options, resume, hooks).await?.map(Trained::QuestionAnswerer),
            (Task::FillMask, Base::Encoder(e)) => finetune_masked_lm(e.files, device, data, text_columns, options, resume, hooks).await?.map(Trained::MaskedLm),
            (Task::TextGeneration, Base::Encoder(_)) => {
                return Err(Error::Options("text-generation fine-tunes a decoder (a Llama-family or GPT-2 model); this is an encoder".into()));
            }
            (_, Base::Decoder(_)) => {
                return Err(Error::Options(format!("{} fine-tunes an encoder (BERT, DistilBERT, RoBERTa, XLM-RoBERTa); this is a decoder", self.name())));
            }
        })
    }
}

/// Files by name, as they go into a folder.
pub type NamedFiles = Vec<(String, Vec<u8>)>;

fn named<N: Into<String>>(files: Vec<(N, Vec<u8>)>) -> NamedFiles {
    files.into_iter().map(|(name, bytes)| (name.into(), bytes)).collect()
}

impl Trained {
    /// The model as a folder that transformers loads (`…ForSequenceClassification`,
    /// `…ForTokenClassification`, `…ForQuestionAnswering`, `…ForMaskedLM`, a causal LM with its
    /// tokenizer files), or for SetFit the folder `SetFitModel.from_pretrained` loads.
    pub async fn files(&self) -> Result<NamedFiles> {
        Ok(match self {
            Trained::Classifier(m) => named(m.export().await?.by_name()),
            Trained::SetFit(m) => m.files().await?,
            Trained::TokenClassifier(m) => named(m.export().await?.by_name()),
            Trained::QuestionAnswerer(m) => named(m.export().await?.by_name()),
            Trained::MaskedLm(m) => named(m.export().await?.by_name()),
            Trained::Decoder(m) => named(m.export().await?),
        })
    }

    /// The LoRA adapters as PEFT's files, naming `base_model` as their base; an error for a run
    /// that trained every weight.
    pub async fn adapter_files(&self, base_model: &str) -> Result<NamedFiles> {
        Ok(match self {
            Trained::Classifier(m) => named(m.export_adapter(base_model).await?),
            Trained::TokenClassifier(m) => named(m.export_adapter(base_model).await?),
            Trained::QuestionAnswerer(m) => named(m.export_adapter(base_model).await?),
            Trained::Decoder(m) => named(m.export_adapter(base_model).await?),
            Trained::SetFit(_) | Trained::MaskedLm(_) => {
                return Err(Error::Options("PEFT adapters: this run trained every weight (fill-mask and SetFit take no LoRA); save the full model".into()));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{data::Format, train::Hooks};

    fn now<T>(f: impl std::future::Future<Output = T>) -> T {
        futures_util::FutureExt::now_or_never(std::pin::pin!(f)).expect("a refused run does not wait")
    }

    #[test]
    fn each_task_names_a_data_file_in_a_format_it_reads() {
        for task in Task::ALL {
            let name = task.default_data_name();
            let format = Format::from_file_name(name);
            // CoNLL has no extension of its own: any name that is not a table is read as CoNLL
            assert!(format.is_ok() || task == Task::TokenClassification, "{}: {name}", task.name());
        }
        assert_eq!(Format::from_file_name(Task::FillMask.default_data_name()).unwrap(), Format::Txt);
    }

    #[test]
    fn a_model_of_the_wrong_kind_or_options_of_another_task_are_refused_before_anything_loads() {
        let (files, device) = (ModelFiles { config: vec![], weights: vec![], tokenizer: vec![] }, crate::device::cpu());
        let data = SessionData::named(b"text,label\na,b\n".to_vec(), "d.csv".into(), None, String::new(), None);
        let (columns, text_columns) = (Columns::default(), TextColumns::default());
        let inputs = Inputs { device: &device, data: &data, columns: &columns, text_columns: &text_columns };
        let run = |task: Task, options: TrainOptions| {
            let mut quiet = |_| {};
            now(task.finetune(Base::files(&files), inputs, &options, None, Hooks::events(&mut quiet))).err().unwrap().to_string()
        };
        let e = run(Task::TextGeneration, TrainOptions::default());
        assert!(e.contains("text-generation fine-tunes a decoder") && e.contains("this is an encoder"), "{e}");
        let setfit = TrainOptions { method: Method::Setfit, ..TrainOptions::default() };
        let e = run(Task::TokenClassification, setfit);
        assert!(e.contains("method: \"setfit\" is for text-classification"), "{e}");
    }
}
