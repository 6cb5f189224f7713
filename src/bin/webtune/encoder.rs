//! `webtune predict` and `webtune embed`: BERT-family inference from a model folder (labels,
//! entities, embeddings).

use serde::Serialize;
use webtune::{
    Error, Result,
    infer::{
        EncodeOptions, Encoder, LabelScore, ModelFiles,
        encoder::cosine,
        token_aggregation::{Aggregation, TokenEntity},
        token_classification::TokenClassifier,
    },
    models::heads::Pooling,
    session::Task,
};

use crate::cli::{ModelArgs, TextArgs, print};

async fn load(args: &ModelArgs) -> Result<Encoder> {
    let dev = crate::cli::select_device(&args.device).await?;
    let mut enc = Encoder::load(ModelFiles::from_dir(&args.model)?, &dev)?;
    for w in &enc.report.warnings {
        eprintln!("warning: {w}");
    }
    enc.configure(EncodeOptions { max_length: args.max_length, truncate: !args.no_truncate, batch_size: args.batch_size })?;
    Ok(enc)
}

fn texts(args: &TextArgs) -> Result<Vec<String>> {
    let mut texts = args.texts.clone();
    if let Some(path) = &args.input {
        let body = std::fs::read_to_string(path)
            .map_err(|e| Error::Data(format!("cannot read {}: {e} (expected a UTF-8 text file, one text per line)", path.display())))?;
        texts.extend(body.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from));
    }
    if texts.is_empty() {
        return Err(Error::Options("no input: pass --text \"…\" (repeatable) or --input FILE".into()));
    }
    Ok(texts)
}

#[derive(Serialize)]
struct Prediction<'a> {
    text: &'a str,
    label: &'a str,
    score: f32,
    scores: &'a [LabelScore],
}

/// Whether the folder's model tags tokens: `--task`, else config.json's `architectures`.
fn tags_tokens(model: &ModelArgs, task: Option<&str>) -> Result<bool> {
    if let Some(task) = task {
        return Ok(Task::parse(task)? == Task::TokenClassification);
    }
    let path = model.model.join("config.json");
    let config: serde_json::Value = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| Error::Weights(format!("cannot read {} as JSON; a model folder needs config.json", path.display())))?;
    let architecture = config["architectures"][0].as_str().unwrap_or_default();
    Ok(architecture.ends_with("ForTokenClassification"))
}

#[derive(Serialize)]
struct Tagged<'a> {
    text: &'a str,
    entities: Vec<TokenEntity>,
}

/// One JSON line per text: `{"text", "label", "score", "scores": [{label, score}, …]}`; for a
/// token classifier `{"text", "entities": [{entity, score, word, start, end}, …]}`.
pub async fn predict(model: &ModelArgs, text: &TextArgs, task: Option<&str>, aggregation: Aggregation) -> Result<()> {
    if tags_tokens(model, task)? {
        if model.no_truncate {
            return Err(Error::Options("--no-truncate: a token classifier cuts texts longer than --max-length, as transformers' pipeline does; leave the flag out".into()));
        }
        let dev = crate::cli::select_device(&model.device).await?;
        let mut tagger = TokenClassifier::load(ModelFiles::from_dir(&model.model)?, &dev)?;
        for w in &tagger.report.warnings {
            eprintln!("warning: {w}");
        }
        tagger.max_length = model.max_length.unwrap_or(tagger.max_length).min(tagger.config.max_tokens());
        tagger.batch_size = model.batch_size.max(1);
        let texts = texts(text)?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        for (text, entities) in refs.iter().zip(tagger.tag(&refs, aggregation).await?) {
            print(&Tagged { text, entities })?;
        }
        return Ok(());
    }
    let enc = load(model).await?;
    let texts = texts(text)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    for (text, scores) in refs.iter().zip(enc.classify(&refs).await?) {
        print(&Prediction { text, label: &scores[0].label, score: scores[0].score, scores: &scores })?;
    }
    Ok(())
}

#[derive(Serialize)]
struct Embeddings<'a> {
    texts: &'a [String],
    pooling: &'static str,
    normalize: bool,
    dim: usize,
    vectors: Vec<Vec<f32>>,
    /// `cosine[i][j]` between texts i and j (only with two or more texts).
    #[serde(skip_serializing_if = "Option::is_none")]
    cosine: Option<Vec<Vec<f32>>>,
}

/// One JSON object with the vectors, and the pairwise cosine matrix for several texts.
pub async fn embed(model: &ModelArgs, text: &TextArgs, pooling: Pooling, normalize: bool) -> Result<()> {
    let enc = load(model).await?;
    let texts = texts(text)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = enc.embed(&refs, pooling, normalize).await?;
    let cosine = (vectors.len() > 1).then(|| vectors.iter().map(|a| vectors.iter().map(|b| cosine(a, b)).collect()).collect());
    let pooling = match pooling {
        Pooling::Mean => "mean",
        Pooling::Cls => "cls",
    };
    print(&Embeddings { texts: &texts, pooling, normalize, dim: enc.config.hidden_size, vectors, cosine })
}
