//! A sentence-transformers folder's modules (`modules.json`: Transformer → Pooling → Normalize):
//! how token vectors become the sentence embedding SetFit trains and classifies. A plain Hugging
//! Face folder is what sentence-transformers makes of one: mean pooling, no normalisation.

use serde_json::Value;

use crate::{Error, Result, models::heads::Pooling};

/// The small files of a sentence-transformers folder besides config.json, model.safetensors and
/// tokenizer.json, which a saved SetFit model carries over (module configs are added by
/// [`SentenceTransformer::module_files`]).
pub const CARRIED_FILES: &[&str] = &[
    "modules.json",
    "config_sentence_transformers.json",
    "sentence_bert_config.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
];

/// The modules after the Transformer, and the folder's files that describe them.
#[derive(Clone, Debug, PartialEq)]
pub struct SentenceTransformer {
    pub pooling: Pooling,
    pub normalize: bool,
    /// A saved SetFit folder's `config_setfit.json` `normalize_embeddings`: setfit L2-normalises
    /// the embeddings before its head (and keeps doing so when the model trains again).
    pub setfit_normalize: bool,
    /// The folder's own files (name relative to the folder, bytes), written back when a model
    /// made from it is saved; empty for a plain Hugging Face folder.
    pub files: Vec<(String, Vec<u8>)>,
}

impl SentenceTransformer {
    /// What sentence-transformers builds around a folder without `modules.json`.
    pub fn plain() -> Self {
        SentenceTransformer { pooling: Pooling::Mean, normalize: false, setfit_normalize: false, files: Vec::new() }
    }

    /// The modules of a folder whose `modules.json` is `modules` (None: a plain folder);
    /// `read(name)` gives another file of the folder (`config_setfit.json` too, in a saved SetFit
    /// folder).
    pub fn from_folder(modules: Option<&[u8]>, read: impl Fn(&str) -> Option<Vec<u8>>) -> Result<Self> {
        let setfit_normalize = match read("config_setfit.json") {
            Some(b) => {
                let setfit: Value = serde_json::from_slice(&b).map_err(|e| Error::Weights(format!("config_setfit.json is not valid JSON ({e})")))?;
                setfit.get("normalize_embeddings").and_then(Value::as_bool) == Some(true)
            }
            None => false,
        };
        let Some(modules) = modules else { return Ok(SentenceTransformer { setfit_normalize, ..Self::plain() }) };
        let bad = |m: String| Error::Weights(format!("modules.json: {m}"));
        let list: Vec<Value> = serde_json::from_slice(modules).map_err(|e| bad(format!("not a JSON list of modules ({e})")))?;
        let mut layout = SentenceTransformer { files: vec![("modules.json".into(), modules.to_vec())], setfit_normalize, ..Self::plain() };
        for (i, module) in list.iter().enumerate() {
            let kind = module.get("type").and_then(Value::as_str).ok_or_else(|| bad(format!("module {i} has no \"type\"")))?;
            let path = module.get("path").and_then(Value::as_str).unwrap_or_default();
            let config_name = format!("{path}/config.json");
            let config = if path.is_empty() { None } else { read(&config_name) };
            if let Some(bytes) = &config {
                layout.files.push((config_name.clone(), bytes.clone()));
            }
            match kind.rsplit('.').next().unwrap_or(kind) {
                "Transformer" if i == 0 => {}
                "Pooling" => layout.pooling = pooling_mode(config.as_deref(), &config_name)?,
                "Normalize" => layout.normalize = true,
                other => {
                    return Err(Error::Weights(format!(
                        "modules.json: module {i} is a {other}; webtune runs sentence-transformers models made of a Transformer, Pooling (mean or cls) and Normalize"
                    )));
                }
            }
        }
        for name in CARRIED_FILES.iter().skip(1) {
            if let Some(bytes) = read(name) {
                layout.files.push(((*name).into(), bytes));
            }
        }
        Ok(layout)
    }

    /// The files a saved model needs besides config, weights and tokenizer: the folder's own, or
    /// for a plain folder the modules sentence-transformers would make of it (`hidden`: the
    /// embedding width).
    pub fn module_files(&self, hidden: usize) -> Vec<(String, Vec<u8>)> {
        if !self.files.is_empty() {
            return self.files.clone();
        }
        let modules = serde_json::json!([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        ]);
        let pooling = serde_json::json!({
            "word_embedding_dimension": hidden,
            "pooling_mode_cls_token": self.pooling == Pooling::Cls,
            "pooling_mode_mean_tokens": self.pooling == Pooling::Mean,
            "pooling_mode_max_tokens": false,
            "pooling_mode_mean_sqrt_len_tokens": false,
        });
        let json = |v: &Value| serde_json::to_vec_pretty(v).unwrap_or_default();
        vec![("modules.json".into(), json(&modules)), ("1_Pooling/config.json".into(), json(&pooling))]
    }
}

/// The pooling a Pooling module's config names: sentence-transformers 5+'s `pooling_mode`, or
/// the older `pooling_mode_*_tokens` flags.
fn pooling_mode(config: Option<&[u8]>, name: &str) -> Result<Pooling> {
    let Some(bytes) = config else { return Ok(Pooling::Mean) };
    let v: Value = serde_json::from_slice(bytes).map_err(|e| Error::Weights(format!("{name} is not valid JSON: {e}")))?;
    let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mode = match v.get("pooling_mode").and_then(Value::as_str) {
        Some(m) => m.to_string(),
        None if flag("pooling_mode_cls_token") => "cls".into(),
        None if flag("pooling_mode_mean_tokens") => "mean".into(),
        None => ["max", "mean_sqrt_len", "weightedmean", "lasttoken"]
            .into_iter()
            .find(|m| flag(&format!("pooling_mode_{m}_tokens")) || flag(&format!("pooling_mode_{m}")))
            .unwrap_or("mean")
            .to_string(),
    };
    match mode.as_str() {
        "mean" => Ok(Pooling::Mean),
        "cls" => Ok(Pooling::Cls),
        other => Err(Error::Weights(format!("{name}: pooling {other:?} is not supported; webtune pools by \"mean\" or \"cls\""))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_and_new_pooling_configs_and_unknown_modules() {
        let modules = br#"[{"idx":0,"path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"path":"1_Pooling","type":"sentence_transformers.models.Pooling"},{"idx":2,"path":"2_Normalize","type":"sentence_transformers.models.Normalize"}]"#;
        let old = SentenceTransformer::from_folder(Some(modules), |n| (n == "1_Pooling/config.json").then(|| br#"{"pooling_mode_cls_token": true}"#.to_vec())).unwrap();
        assert_eq!((old.pooling, old.normalize), (Pooling::Cls, true));
        let new = SentenceTransformer::from_folder(Some(modules), |n| (n == "1_Pooling/config.json").then(|| br#"{"pooling_mode": "mean"}"#.to_vec())).unwrap();
        assert_eq!(new.pooling, Pooling::Mean);
        let max = SentenceTransformer::from_folder(Some(modules), |_| Some(br#"{"pooling_mode_max_tokens": true}"#.to_vec())).unwrap_err();
        assert!(max.to_string().contains("pooling \"max\" is not supported"), "{max}");
        let dense = br#"[{"idx":0,"path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"path":"1_Dense","type":"sentence_transformers.models.Dense"}]"#;
        assert!(SentenceTransformer::from_folder(Some(dense), |_| None).unwrap_err().to_string().contains("module 1 is a Dense"));
        assert_eq!(SentenceTransformer::from_folder(None, |_| None).unwrap(), SentenceTransformer::plain());
    }
}
