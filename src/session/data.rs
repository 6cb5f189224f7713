//! The data of a session: files as bytes with the names that give their formats, read into
//! labelled examples (classification), tagged sentences (token classification) or texts (language
//! modelling), with validation held out.

use crate::{
    Result,
    data::{
        Columns, Dataset, TextColumns, TextExample, hold_out, parse_named,
        squad::{QaExample, read_squad},
        tagged::TaggedDataset,
        text_examples, train_and_validation,
    },
};

/// A data file: its bytes, and the name whose extension gives the format (`.csv`, `.tsv`,
/// `.jsonl`, `.json`).
#[derive(Clone, Debug)]
pub struct DataFile {
    pub bytes: Vec<u8>,
    pub name: String,
}

/// Training data, optional validation data, and the fraction of the training rows held out when
/// there is no validation file (0 = no validation).
#[derive(Clone, Debug)]
pub struct SessionData {
    pub train: DataFile,
    pub validation: Option<DataFile>,
    pub validation_split: f64,
}

impl SessionData {
    /// The default fraction held out for validation when no validation file is given.
    pub const DEFAULT_VALIDATION_SPLIT: f64 = 0.1;

    /// The data of a session from bytes: `train` named `train_name`, `validation` named
    /// `validation_name`, and the validation split (default [`Self::DEFAULT_VALIDATION_SPLIT`]).
    pub fn named(train: Vec<u8>, train_name: String, validation: Option<Vec<u8>>, validation_name: String, split: Option<f64>) -> Self {
        SessionData {
            train: DataFile { bytes: train, name: train_name },
            validation: validation.map(|bytes| DataFile { bytes, name: validation_name }),
            validation_split: split.unwrap_or(Self::DEFAULT_VALIDATION_SPLIT),
        }
    }

    /// Labelled training and validation examples (the validation labels must be the training ones).
    pub fn labelled(&self, columns: &Columns, seed: u64) -> Result<(Dataset, Option<Dataset>)> {
        let train = Dataset::from_table(&parse_named(&self.train.bytes, &self.train.name)?, columns)?;
        let validation = self.validation.as_ref().map(|v| parse_named(&v.bytes, &v.name)).transpose()?;
        train_and_validation(train, validation.as_ref(), columns, self.validation_split, seed)
    }

    /// Tagged training and validation sentences (CoNLL or JSON lines; the validation tags must be
    /// among the training ones).
    pub fn tagged(&self, seed: u64) -> Result<(TaggedDataset, Option<TaggedDataset>)> {
        let train = TaggedDataset::read(&self.train.bytes, &self.train.name)?;
        let labels = train.labels.clone();
        let validation = self.validation.as_ref().map(|v| TaggedDataset::read_with_labels(&v.bytes, &v.name, labels.clone())).transpose()?;
        let (sentences, held) = hold_out(train.sentences, validation.map(|v| v.sentences), self.validation_split, seed)?;
        let validation = held.map(|sentences| TaggedDataset { sentences, labels: labels.clone() });
        Ok((TaggedDataset { sentences, labels }, validation))
    }

    /// Training and validation questions (SQuAD JSON or rows); without a validation file,
    /// `validation_split` of the questions is held out.
    pub fn questions(&self, seed: u64) -> Result<(Vec<QaExample>, Option<Vec<QaExample>>)> {
        let train = read_squad(&self.train.bytes, &self.train.name)?;
        let validation = self.validation.as_ref().map(|v| read_squad(&v.bytes, &v.name)).transpose()?;
        hold_out(train, validation, self.validation_split, seed)
    }

    /// Plain training and validation texts (masked-LM training): a `.txt` file's lines or a text
    /// column; prompt/completion or conversation rows are refused.
    pub fn plain_texts(&self, columns: &TextColumns, seed: u64) -> Result<(Vec<String>, Option<Vec<String>>)> {
        let plain = |examples: Vec<TextExample>| -> Result<Vec<String>> {
            examples
                .into_iter()
                .map(|e| match e.content {
                    crate::data::TextContent::Text(t) => Ok(t),
                    _ => Err(crate::Error::Data(format!(
                        "{}: fill-mask trains on plain text (a .txt file, or a {:?} column); this row is a prompt/completion or a conversation",
                        e.origin, columns.text
                    ))),
                })
                .collect()
        };
        let (train, validation) = self.texts(columns, seed)?;
        Ok((plain(train)?, validation.map(plain).transpose()?))
    }

    /// Training and validation texts for a language model.
    pub fn texts(&self, columns: &TextColumns, seed: u64) -> Result<(Vec<TextExample>, Option<Vec<TextExample>>)> {
        let train = self.train.texts(columns)?;
        let validation = self.validation.as_ref().map(|v| v.texts(columns)).transpose()?;
        hold_out(train, validation, self.validation_split, seed)
    }
}

impl DataFile {
    /// Whether the file is plain text (`.txt`): a corpus, read one line per text and packed.
    pub fn is_plain_text(&self) -> bool {
        matches!(crate::data::Format::from_file_name(&self.name), Ok(crate::data::Format::Txt))
    }

    /// The file's examples for a language model.
    pub fn texts(&self, columns: &TextColumns) -> Result<Vec<TextExample>> {
        text_examples(&parse_named(&self.bytes, &self.name)?, columns)
    }
}
