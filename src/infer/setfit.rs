//! A SetFit model: a sentence-transformer body (encoder, pooling, maybe normalisation) and a
//! logistic-regression head on its embeddings (setfit's differentiable head is read as the one it
//! computes). Saved as setfit saves one — the
//! sentence-transformers folder, `config_setfit.json` and the head as `model_head.pkl` — so that
//! `SetFitModel.from_pretrained` loads it and predicts the same.

use burn::tensor::{Int, Tensor};

use super::{
    ModelFiles,
    encoder::{Attentions, LabelScore, attentions_of, encoder_parts},
    logistic::{C, LogisticRegression},
    sentence_transformer::SentenceTransformer,
};
use crate::{
    ComputeDevice, Error, Result,
    data::batch_tensors,
    formats::{
        setfit_head::read_head,
        sklearn_pickle::{LogisticHead, logistic_regression},
    },
    models::{
        bert::{BertConfig, BertModel},
        heads::{l2_normalize, pool},
    },
    tokenizer::TextTokenizer,
    weights::bert::{export_encoder, load_encoder},
};


/// The sentence embeddings of a tokenized batch, as the body's modules make them.
pub fn sentence_embeddings(body: &BertModel, modules: &SentenceTransformer, [ids, types, mask]: [Tensor<2, Int>; 3]) -> Tensor<2> {
    let hidden = body.forward(ids, types, mask.clone()).last_hidden_state;
    let pooled = pool(hidden, mask, modules.pooling);
    if modules.normalize { l2_normalize(pooled) } else { pooled }
}

/// What setfit's head sees of a tokenized batch: the sentence embeddings, L2-normalised when the
/// folder's `config_setfit.json` says so (`normalize_embeddings`; torch's `normalize`, eps 1e-12).
pub fn head_inputs(body: &BertModel, modules: &SentenceTransformer, batch: [Tensor<2, Int>; 3]) -> Tensor<2> {
    let embeddings = sentence_embeddings(body, modules, batch);
    if modules.setfit_normalize { l2_normalize(embeddings) } else { embeddings }
}

/// A trained SetFit model on the inference device.
pub struct SetFitModel {
    pub config: BertConfig,
    pub tokenizer: TextTokenizer,
    pub body: BertModel,
    pub modules: SentenceTransformer,
    pub head: LogisticRegression,
    /// Class names in id order.
    pub labels: Vec<String>,
    pub device: ComputeDevice,
    pub max_length: usize,
    pub batch_size: usize,
    /// The config.json and tokenizer.json the body came with, saved with it.
    pub source_config: Vec<u8>,
    pub source_tokenizer: Vec<u8>,
    /// What loading the body reported (ignored keys such as a pooler); empty for a model trained here.
    pub warnings: Vec<String>,
}

impl SetFitModel {
    /// A folder setfit saved (webtune saves the same): the body with its sentence-transformers
    /// modules, the head from `model_head.pkl` (scikit-learn's `LogisticRegression` or setfit's
    /// `SetFitHead`), the class names and whether embeddings are normalised from
    /// `config_setfit.json` (else the head's own `classes_`); `read(name)` gives the folder's
    /// other files.
    pub fn load(files: ModelFiles, read: impl Fn(&str) -> Option<Vec<u8>>, device: &ComputeDevice) -> Result<Self> {
        let pickle = read("model_head.pkl").ok_or_else(|| Error::Weights("a SetFit folder needs model_head.pkl (its classification head)".into()))?;
        let head = read_head(&pickle)?;
        let (config, tokenizer, device, weights, sources) = encoder_parts(files, device)?;
        let modules = SentenceTransformer::from_folder(read("modules.json").as_deref(), &read)?;
        let width = head.coef.first().map_or(0, Vec::len);
        if width != config.hidden_size {
            return Err(Error::Weights(format!(
                "model_head.pkl: the head takes {width} features but the body's embeddings have {}; is the head from this model?",
                config.hidden_size
            )));
        }
        let setfit: serde_json::Value = match read("config_setfit.json") {
            Some(b) => serde_json::from_slice(&b).map_err(|e| Error::Weights(format!("config_setfit.json is not valid JSON ({e})")))?,
            None => serde_json::Value::Null,
        };
        let named: Option<Vec<String>> = match setfit.get("labels") {
            None | Some(serde_json::Value::Null) => None,
            Some(l) => Some(serde_json::from_value(l.clone()).map_err(|_| Error::Weights("config_setfit.json: labels is not a list of names".into()))?),
        };
        let ids: Option<Vec<usize>> = head.classes.iter().map(|c| c.parse().ok()).collect();
        let labels = match (named, ids) {
            (Some(names), Some(ids)) if head.class_ids => ids
                .iter()
                .map(|&i| names.get(i).cloned())
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| Error::Weights(format!("config_setfit.json names {} labels but the head's classes are {:?}", names.len(), head.classes)))?,
            _ => head.classes.clone(),
        };
        let max_length = read("sentence_bert_config.json")
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|c| c.get("max_seq_length").and_then(serde_json::Value::as_u64))
            .map_or(config.max_tokens(), |n| usize::try_from(n).unwrap_or(usize::MAX).min(config.max_tokens()));
        let (body, report) = load_encoder(&config, weights, device.device())?;
        let head = LogisticRegression { coef: head.coef, intercept: head.intercept, classes: labels.len(), iterations: head.iterations };
        Ok(SetFitModel {
            config,
            tokenizer,
            body,
            modules,
            head,
            labels,
            device,
            max_length,
            batch_size: 32,
            source_config: sources.config,
            source_tokenizer: sources.tokenizer,
            warnings: report.warnings,
        })
    }

    /// One embedding per text (cut at `max_length` tokens), in batches of `batch_size`.
    pub async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        embed_texts(&self.body, &self.modules, &self.tokenizer, &self.device, texts, self.max_length, self.batch_size).await
    }

    /// The body's attention weights of every layer and head for `text`.
    pub async fn attentions(&self, text: &str) -> Result<Attentions> {
        let b = self.tokenizer.encode(&[text], None, self.max_length, true)?;
        attentions_of(&self.body, &self.tokenizer, &self.device, &b).await
    }

    /// Class probabilities per text, highest first.
    pub async fn classify(&self, texts: &[&str]) -> Result<Vec<Vec<LabelScore>>> {
        Ok(self.probabilities(texts).await?.into_iter().map(|p| ranked(&p, &self.labels)).collect())
    }

    /// Class probabilities per text, in class order (`predict_proba`).
    pub async fn probabilities(&self, texts: &[&str]) -> Result<Vec<Vec<f64>>> {
        Ok(self.embed(texts).await?.iter().map(|e| self.head.probabilities(e)).collect())
    }

    /// The folder setfit saves: the body as a sentence-transformers folder, `config_setfit.json`
    /// and `model_head.pkl`.
    pub async fn files(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let mut files = vec![
            ("config.json".to_string(), self.source_config.clone()),
            ("model.safetensors".to_string(), export_encoder(&self.config, &self.body, &self.device).await?),
            ("tokenizer.json".to_string(), self.source_tokenizer.clone()),
        ];
        files.extend(self.modules.module_files(self.config.hidden_size));
        let setfit = serde_json::json!({"normalize_embeddings": self.modules.setfit_normalize, "labels": self.labels});
        files.push(("config_setfit.json".into(), serde_json::to_vec_pretty(&setfit).unwrap_or_default()));
        let head = LogisticHead { coef: &self.head.coef, intercept: &self.head.intercept, classes: self.head.classes, iterations: self.head.iterations, c: C };
        files.push(("model_head.pkl".into(), logistic_regression(&head)));
        Ok(files)
    }
}

/// What setfit's head sees of `texts` ([`head_inputs`]) by `body` (inference mode) on `device`.
pub async fn embed_texts(
    body: &BertModel,
    modules: &SentenceTransformer,
    tokenizer: &TextTokenizer,
    device: &ComputeDevice,
    texts: &[&str],
    max_length: usize,
    batch_size: usize,
) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(batch_size.max(1)) {
        let b = tokenizer.encode(chunk, None, max_length, true)?;
        out.extend(device.read_rows(head_inputs(body, modules, batch_tensors(&b, device.device()))).await?);
    }
    Ok(out)
}

fn ranked(probabilities: &[f64], labels: &[String]) -> Vec<LabelScore> {
    let mut scored: Vec<LabelScore> = probabilities.iter().zip(labels).map(|(&p, l)| LabelScore { label: l.clone(), score: p as f32 }).collect();
    scored.sort_by(|a, b| b.score.total_cmp(&a.score));
    scored
}
