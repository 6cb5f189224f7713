//! A loaded BERT-family model + tokenizer: `embed` and `classify`, batched, async (GPU reads are
//! awaited, never blocking — required on wasm).

use burn::{
    module::Module,
    tensor::{Int, Tensor, activation::softmax},
};
use serde::Serialize;

use crate::{
    ComputeDevice, Error, Result,
    models::{
        bert::{BertConfig, BertModel},
        encoder_family::EncoderHead,
        heads::{BertForSequenceClassification, Pooling, l2_normalize, pool},
        lora::LoraOptions,
    },
    data::{Columns, Dataset, LabelMap, Table, batch_tensors},
    infer::{evaluation::evaluate_classifier, metrics::Metrics},
    tokenizer::{Batch, TextTokenizer},
    weights::{LoadReport, bert},
};

/// The three files of a Hugging Face model folder, as bytes (from disk, `fetch` or a `File`).
pub struct ModelFiles {
    pub config: Vec<u8>,
    pub weights: Vec<u8>,
    pub tokenizer: Vec<u8>,
}

impl ModelFiles {
    /// The files by their names in a model folder (what an export writes).
    pub fn by_name(self) -> Vec<(&'static str, Vec<u8>)> {
        vec![("config.json", self.config), ("model.safetensors", self.weights), ("tokenizer.json", self.tokenizer)]
    }
}

#[cfg(not(target_family = "wasm"))]
impl ModelFiles {
    /// Reads `config.json`, `model.safetensors`, `tokenizer.json` from a folder.
    pub fn from_dir(dir: &std::path::Path) -> Result<Self> {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| {
                Error::Weights(format!("cannot read {}: {e}; a model folder needs config.json, model.safetensors and tokenizer.json", dir.join(name).display()))
            })
        };
        Ok(ModelFiles { config: read("config.json")?, weights: read("model.safetensors")?, tokenizer: read("tokenizer.json")? })
    }
}

/// One class and its probability.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, ts_rs::TS)]
pub struct LabelScore {
    pub label: String,
    pub score: f32,
}

/// One text's attention weights in every layer and head, with its tokens.
#[derive(Clone, Debug, PartialEq, Serialize, ts_rs::TS)]
pub struct Attentions {
    /// The tokens (special ones included) as the tokenizer names them.
    pub tokens: Vec<String>,
    pub layers: usize,
    pub heads: usize,
    /// `weights[layer][head][query][key]`: how much token `query` attends to token `key`
    /// (each row sums to 1), as transformers' `output_attentions=True`.
    pub weights: Vec<Vec<Vec<Vec<f32>>>>,
}

/// How texts are cut and batched at inference (the same options in the JS API and the CLI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Longest input in tokens, special tokens included; `None`: the model's
    /// `max_position_embeddings`, which also caps any larger value.
    pub max_length: Option<usize>,
    /// Cut longer texts (default) instead of rejecting them.
    pub truncate: bool,
    /// Texts per forward pass (default 32).
    pub batch_size: usize,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions { max_length: None, truncate: true, batch_size: 32 }
    }
}

/// What every encoder task's `load` starts from: `files`' config (validated, its embeddings checked
/// to fit `device`), its tokenizer checked against it, and the inference (non-autodiff) device;
/// the weights are handed out for the task's loader, the config and tokenizer bytes kept (in the
/// returned files, weights emptied) for export.
pub(crate) fn encoder_parts(files: ModelFiles, device: &ComputeDevice) -> Result<(BertConfig, TextTokenizer, ComputeDevice, Vec<u8>, ModelFiles)> {
    let text = std::str::from_utf8(&files.config).map_err(|_| Error::Weights("config.json is not UTF-8 text".into()))?;
    let config = BertConfig::from_json(text)?;
    crate::weights::check_embeddings_fit(config.vocab_size, config.hidden_size, device.info())?;
    let tokenizer = tokenizer_for(&config, &files.tokenizer)?;
    let ModelFiles { config: source_config, weights, tokenizer: source_tokenizer } = files;
    Ok((config, tokenizer, device.without_autodiff(), weights, ModelFiles { config: source_config, weights: Vec::new(), tokenizer: source_tokenizer }))
}

/// `tokenizer.json` checked against the model: its ids fit the embeddings, and its token type
/// ids the type embeddings (DistilBERT has none: they are not used).
pub fn tokenizer_for(config: &BertConfig, tokenizer: &[u8]) -> Result<TextTokenizer> {
    let tokenizer = TextTokenizer::for_model(tokenizer, config.vocab_size)?;
    if config.family.has_token_types() {
        tokenizer.check_type_ids(config.type_vocab_size)?;
    }
    Ok(tokenizer)
}

/// An encoder ready for inference.
pub struct Encoder {
    pub config: BertConfig,
    pub tokenizer: TextTokenizer,
    pub model: BertForSequenceClassification,
    pub device: ComputeDevice,
    /// What loading reported (fresh head, ignored keys, casts).
    pub report: LoadReport,
    /// Validated by [`Encoder::configure`]: `max_length` is always set and within the model's limit.
    options: EncodeOptions,
    /// The original `config.json` and `tokenizer.json`, for [`Encoder::export`].
    source_config: Vec<u8>,
    source_tokenizer: Vec<u8>,
    /// The LoRA settings of a model tuned with adapters (kept apart from its weights).
    pub lora: Option<LoraOptions>,
}

impl Encoder {
    /// Loads config, weights and tokenizer onto `device` (inference mode, no autodiff), with the
    /// default [`EncodeOptions`].
    pub fn load(files: ModelFiles, device: &ComputeDevice) -> Result<Self> {
        let (config, tokenizer, device, weights, sources) = encoder_parts(files, device)?;
        let (model, report) = bert::load_classifier(&config, weights, device.device())?;
        Ok(Encoder { report, ..Self::from_model(config, tokenizer, model, device, &sources) })
    }

    /// An encoder around a model built in this process (e.g. fine-tuned) on `device`; `files` are
    /// the ones it started from (their config and tokenizer are exported with it).
    pub fn from_model(config: BertConfig, tokenizer: TextTokenizer, model: BertForSequenceClassification, device: ComputeDevice, files: &ModelFiles) -> Self {
        let options = EncodeOptions { max_length: Some(config.max_tokens()), ..EncodeOptions::default() };
        Encoder {
            config,
            tokenizer,
            model,
            device,
            report: LoadReport::default(),
            options,
            source_config: files.config.clone(),
            source_tokenizer: files.tokenizer.clone(),
            lora: None,
        }
    }

    /// The same encoder, noting that its adapters were made with `lora`.
    pub fn with_lora(self, lora: Option<LoraOptions>) -> Self {
        Encoder { lora, ..self }
    }

    /// The model as a Hugging Face classifier folder: `config.json` (the original with this
    /// model's labels), `model.safetensors`, `tokenizer.json` — what transformers'
    /// `AutoModelForSequenceClassification.from_pretrained`, `webtune predict` and `loadEncoder` load.
    /// LoRA adapters are merged into the weights (`W + scale · A·B`).
    pub async fn export(&self) -> Result<ModelFiles> {
        Ok(ModelFiles {
            config: bert::export_config(&self.config, &self.source_config, &self.config.labels())?,
            weights: bert::export_classifier(&self.config, &self.model.clone().materialize(), &self.device).await?,
            tokenizer: self.source_tokenizer.clone(),
        })
    }

    /// A LoRA-tuned classifier's adapters and head as PEFT's files (`adapter_model.safetensors`,
    /// `adapter_config.json`: `PeftModel.from_pretrained(base, folder)` loads them, the base
    /// named `base_model`).
    pub async fn export_adapter(&self, base_model: &str) -> Result<Vec<(&'static str, Vec<u8>)>> {
        bert::peft_files(&self.model, &self.config, EncoderHead::SequenceClassification, self.lora.as_ref(), &self.device, base_model).await
    }

    /// Sets how texts are cut and batched: `max_length` must be at least 2 (room for the special
    /// tokens) and is capped at `max_position_embeddings`; `batch_size` must be at least 1.
    pub fn configure(&mut self, options: EncodeOptions) -> Result<()> {
        let limit = self.config.max_tokens();
        let max_length = options.max_length.unwrap_or(limit);
        if max_length < 2 {
            return Err(Error::Options(format!("maxLength must be at least 2 (got {max_length})")));
        }
        if options.batch_size == 0 {
            return Err(Error::Options("batchSize must be at least 1".into()));
        }
        self.options = EncodeOptions { max_length: Some(max_length.min(limit)), ..options };
        Ok(())
    }

    /// The longest input in tokens.
    pub fn max_length(&self) -> usize {
        self.options.max_length.unwrap_or(self.config.max_tokens())
    }

    /// The encoder part alone.
    pub fn bert(&self) -> &BertModel {
        &self.model.bert
    }

    /// `[input_ids, token_type_ids, attention_mask]` of a batch as [batch, seq] tensors on the device.
    pub fn tensors(&self, b: &Batch) -> [Tensor<2, Int>; 3] {
        batch_tensors(b, self.device.device())
    }

    fn tokenize(&self, texts: &[&str]) -> Result<Batch> {
        self.tokenizer.encode(texts, None, self.max_length(), self.options.truncate)
    }

    /// Runs the encoder on already tokenized input: last hidden state [batch, seq, hidden].
    pub fn hidden_states(&self, b: &Batch) -> Tensor<3> {
        let [ids, types, mask] = self.tensors(b);
        self.bert().forward(ids, types, mask).last_hidden_state
    }

    /// One vector per text (`pooling` over real tokens; unit length when `normalize`).
    pub async fn embed(&self, texts: &[&str], pooling: Pooling, normalize: bool) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.options.batch_size) {
            let b = self.tokenize(chunk)?;
            let [ids, types, mask] = self.tensors(&b);
            let hidden = self.bert().forward(ids, types, mask.clone()).last_hidden_state;
            let mut v = pool(hidden, mask, pooling);
            if normalize {
                v = l2_normalize(v);
            }
            out.extend(self.device.read_rows(v).await?);
        }
        Ok(out)
    }

    /// The attention weights of every layer and head for `text` (cut at [`Encoder::max_length`]).
    pub async fn attentions(&self, text: &str) -> Result<Attentions> {
        attentions_of(self.bert(), &self.tokenizer, &self.device, &self.tokenize(&[text])?).await
    }

    /// Class probabilities per text, highest first.
    pub async fn classify(&self, texts: &[&str]) -> Result<Vec<Vec<LabelScore>>> {
        let labels = self.config.labels();
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.options.batch_size) {
            let b = self.tokenize(chunk)?;
            let [ids, types, mask] = self.tensors(&b);
            let probs = softmax(self.model.forward(ids, types, mask), 1);
            for row in self.device.read_rows(probs).await? {
                let mut scored: Vec<LabelScore> =
                    row.into_iter().zip(&labels).map(|(score, label)| LabelScore { label: label.clone(), score }).collect();
                scored.sort_by(|a, b| b.score.total_cmp(&a.score));
                out.push(scored);
            }
        }
        Ok(out)
    }

    /// Loss, accuracy, per-class metrics and the confusion matrix on labelled rows, whose labels
    /// must be this model's (config.json `id2label`; a label it does not know is a `DataError`).
    /// Texts are cut at [`Encoder::max_length`] and batched by the configured batch size.
    pub async fn evaluate(&self, table: &Table, columns: &Columns) -> Result<Metrics> {
        let data = Dataset::with_labels(table, columns, LabelMap::from_names(self.config.labels()))?;
        evaluate_classifier(&self.model, &self.device, &self.tokenizer, &data, self.max_length(), self.options.batch_size).await
    }
}

/// The attention weights of every layer and head of `bert` for one tokenized text `b`.
pub async fn attentions_of(bert: &BertModel, tokenizer: &TextTokenizer, device: &ComputeDevice, b: &Batch) -> Result<Attentions> {
    let [ids, types, mask] = crate::data::batch_tensors(b, device.device());
    let tokens = b.input_ids.iter().map(|&id| tokenizer.id_to_token(id as u32).unwrap_or_default()).collect();
    let per_layer = bert.attentions(ids, types, mask); // [1, heads, seq, seq] each
    let (layers, seq) = (per_layer.len(), b.seq);
    let heads = per_layer.first().map_or(0, |t| t.dims()[1]);
    // one read for every layer: [layers · heads · seq, seq] rows, regrouped by layer and head
    let all = device.read_rows(Tensor::cat(per_layer, 0).reshape([layers * heads * seq, seq])).await?;
    let weights = all.chunks(heads * seq).map(|layer| layer.chunks(seq).map(<[Vec<f32>]>::to_vec).collect()).collect();
    Ok(Attentions { tokens, layers, heads, weights })
}

/// Cosine similarity of two vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb).max(1e-12)
}
