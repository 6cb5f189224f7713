//! `webtune predict`, `webtune rank` and `webtune embed`: BERT-family inference from a model
//! folder (labels, entities, uncertainty, embeddings).

use serde::Serialize;
use webtune::{
    Error, Result,
    infer::{
        EncodeOptions, Encoder, LabelScore, ModelFiles,
        encoder::cosine,
        fill_mask::{MaskFill, MaskedLm},
        qa_answers::QaAnswer,
        question_answering::QuestionAnswerer,
        setfit::SetFitModel,
        token_aggregation::{Aggregation, TokenEntity},
        token_classification::TokenClassifier,
        uncertainty::{Ranked, Uncertainty},
    },
    models::heads::Pooling,
    session::Task,
};

use crate::cli::{ModelArgs, TextArgs, print};

/// Each warning on a line of stderr.
fn warn(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}

async fn load(args: &ModelArgs) -> Result<Encoder> {
    let dev = crate::cli::select_device(&args.device).await?;
    let mut enc = Encoder::load(ModelFiles::from_dir(&args.model)?, &dev)?;
    warn(&enc.report.warnings);
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

/// How `predict` runs: which task, and the task's options.
#[derive(clap::Args)]
pub struct PredictArgs {
    /// text-classification | token-classification | question-answering | fill-mask (default: what
    /// config.json's architectures names).
    #[arg(long)]
    task: Option<String>,
    /// token-classification: how tokens merge into entities: none | simple | first | average | max
    /// (transformers' aggregation_strategy).
    #[arg(long, default_value = "simple")]
    aggregation: String,
    /// fill-mask: candidates per mask.
    #[arg(long, default_value_t = 5)]
    top_k: usize,
    /// fill-mask: only these tokens are candidates (comma-separated).
    #[arg(long)]
    targets: Option<String>,
    /// question-answering: the question (each --text is a context to answer it from).
    #[arg(long)]
    question: Option<String>,
    /// question-answering: context tokens each window repeats.
    #[arg(long)]
    doc_stride: Option<usize>,
    /// question-answering: answers per context.
    #[arg(long, default_value_t = 1)]
    answers: usize,
}

/// The task of `predict`: `--task`, else the one config.json's `architectures` names.
fn predict_task(model: &ModelArgs, task: Option<&str>) -> Result<Task> {
    if let Some(task) = task {
        return Task::parse(task);
    }
    // a missing or broken config.json is reported by the loader, with the folder's other files
    let config: serde_json::Value = std::fs::read(model.model.join("config.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    let architecture = config["architectures"][0].as_str().unwrap_or_default();
    Ok(if architecture.ends_with("ForTokenClassification") {
        Task::TokenClassification
    } else if architecture.ends_with("ForQuestionAnswering") {
        Task::QuestionAnswering
    } else if architecture.ends_with("ForMaskedLM") {
        Task::FillMask
    } else {
        Task::TextClassification
    })
}

#[derive(Serialize)]
struct Tagged<'a> {
    text: &'a str,
    entities: Vec<TokenEntity>,
}

#[derive(Serialize)]
struct Answers<'a> {
    question: &'a str,
    context: &'a str,
    /// Best first; `start`/`end` are character offsets into the context.
    answers: Vec<QaAnswer>,
}

#[derive(Serialize)]
struct Filled<'a> {
    text: &'a str,
    /// Per mask, the candidates, most likely first.
    masks: Vec<Vec<MaskFill>>,
}

/// One JSON line per text: `{"text", "label", "score", "scores": [{label, score}, …]}`; for a
/// token classifier `{"text", "entities": [{entity, score, word, start, end}, …]}`; for a masked
/// LM `{"text", "masks": [[{score, token, token_str, sequence}, …], …]}`.
pub async fn predict(model: &ModelArgs, text: &TextArgs, how: &PredictArgs) -> Result<()> {
    let task = predict_task(model, how.task.as_deref())?;
    if matches!(task, Task::TokenClassification | Task::FillMask | Task::QuestionAnswering) && model.no_truncate {
        return Err(Error::Options(format!("--no-truncate: {} cuts texts longer than --max-length, as transformers' pipeline does; leave the flag out", task.name())));
    }
    match task {
        Task::TokenClassification => {
            let aggregation: Aggregation = how.aggregation.parse()?;
            let dev = crate::cli::select_device(&model.device).await?;
            let mut tagger = TokenClassifier::load(ModelFiles::from_dir(&model.model)?, &dev)?;
            warn(&tagger.report.warnings);
            tagger.max_length = model.max_length.unwrap_or(tagger.max_length).min(tagger.config.max_tokens());
            tagger.batch_size = model.batch_size.max(1);
            let texts = texts(text)?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            for (text, entities) in refs.iter().zip(tagger.tag(&refs, aggregation).await?) {
                print(&Tagged { text, entities })?;
            }
            return Ok(());
        }
        Task::FillMask => {
            let dev = crate::cli::select_device(&model.device).await?;
            let mut lm = MaskedLm::load(ModelFiles::from_dir(&model.model)?, &dev)?;
            warn(&lm.report.warnings);
            lm.max_length = model.max_length.unwrap_or(lm.max_length).min(lm.config.max_tokens());
            lm.batch_size = model.batch_size.max(1);
            let texts = texts(text)?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let targets: Option<Vec<String>> = how.targets.as_ref().map(|t| t.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect());
            let mut notes = Vec::new();
            let filled = lm.fill(&refs, how.top_k, targets.as_deref(), &mut notes).await?;
            warn(&notes);
            for (text, masks) in refs.iter().zip(filled) {
                print(&Filled { text, masks })?;
            }
            return Ok(());
        }
        Task::QuestionAnswering => {
            let question = how.question.as_deref().ok_or_else(|| Error::Options("question-answering: pass --question \"…\" (each --text is a context)".into()))?;
            let dev = crate::cli::select_device(&model.device).await?;
            let mut qa = QuestionAnswerer::load(ModelFiles::from_dir(&model.model)?, &dev)?;
            warn(&qa.report.warnings);
            qa.set_windowing(model.max_length, how.doc_stride)?;
            for context in texts(text)? {
                let answers = qa.answer(question, &context, how.answers).await?;
                print(&Answers { question, context: &context, answers })?;
            }
            return Ok(());
        }
        Task::TextGeneration => return Err(Error::Options("predict runs encoders; generate text with `webtune generate`".into())),
        Task::FeatureExtraction | Task::TextClassification => {}
    }
    let texts = texts(text)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    for (text, scores) in refs.iter().zip(classify(model, &refs).await?) {
        print(&Prediction { text, label: &scores[0].label, score: scores[0].score, scores: &scores })?;
    }
    Ok(())
}

#[derive(Serialize)]
struct RankedText<'a> {
    text: &'a str,
    #[serde(flatten)]
    rank: Ranked,
}

/// Class probabilities of `texts` by the classifier in `model`'s folder: a SetFit folder's (setfit's
/// or webtune's: the body's embeddings through `model_head.pkl`), else a Hugging Face classifier's.
async fn classify(model: &ModelArgs, texts: &[&str]) -> Result<Vec<Vec<LabelScore>>> {
    let dir = &model.model;
    if !dir.join("model_head.pkl").is_file() {
        return load(model).await?.classify(texts).await;
    }
    let dev = crate::cli::select_device(&model.device).await?;
    let mut setfit = SetFitModel::load(ModelFiles::from_dir(dir)?, |name| std::fs::read(dir.join(name)).ok(), &dev)?;
    warn(&setfit.warnings);
    setfit.max_length = model.max_length.unwrap_or(setfit.max_length).min(setfit.config.max_tokens());
    setfit.batch_size = model.batch_size.max(1);
    setfit.classify(texts).await
}

/// `webtune rank`: the texts, most uncertain first (`top` of them), one JSON line each.
pub async fn rank(model: &ModelArgs, text: &TextArgs, strategy: Uncertainty, top: Option<usize>) -> Result<()> {
    let texts = texts(text)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let ranked = webtune::infer::uncertainty::rank(&classify(model, &refs).await?, strategy)?;
    for r in ranked.into_iter().take(top.unwrap_or(usize::MAX)) {
        print(&RankedText { text: refs[r.index], rank: r })?;
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
