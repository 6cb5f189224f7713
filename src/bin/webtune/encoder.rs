//! `webtune predict` and `webtune embed`: BERT-family inference from a model folder.

use serde::Serialize;
use webtune::{
    Error, Result,
    infer::{EncodeOptions, Encoder, LabelScore, ModelFiles, encoder::cosine},
    models::heads::Pooling,
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

/// One JSON line per text: `{"text", "label", "score", "scores": [{label, score}, …]}`.
pub async fn predict(model: &ModelArgs, text: &TextArgs) -> Result<()> {
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
