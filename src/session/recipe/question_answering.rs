//! The recipe of a question-answering run: recipe/train_question_answering.py on the run's
//! questions, cut into windows as run_qa.py (and webtune) cut them, and judged as webtune judges
//! them (run_qa's post-processing, the official SQuAD scores).

use serde_json::json;

use super::{ENCODER_ADAPTER, BaseFiles, EncoderLoraFiles, Folder, Readme, RecipeFiles, batch_order, from_start, json_lines, check_options};
use crate::{
    Error, Result,
    data::{qa_features::qa_features, squad::QaExample},
    infer::{encoder::tokenizer_for, qa_answers::AnswerSettings},
    models::encoder_family::EncoderHead,
    session::{SessionData, Task},
    train::{
        Checkpoint, TrainOptions,
        question_answering::{lora_start, windowing},
    },
};

/// The program that runs a question-answering recipe.
const TRAIN_QUESTION_ANSWERING_PY: &str = include_str!("train_question_answering.py");

const README: Readme = Readme {
    task: "extractive question answering",
    settings: "max length, document stride, how answers are read",
    rows: "`{question, context, answers: {text: [...], answer_start: [...]}}`, SQuAD's fields (no answer: unanswerable)",
    notes: "Questions are prepared as webtune prepares them (run_qa.py's features): the question first, the\n\
context cut into windows of `max_length` tokens overlapping by `doc_stride`, each window labelled\n\
with the answer's first and last token when it holds all of it. Evaluation is webtune's:\n\
`eval_loss` over the windows, and the official SQuAD `eval_exact_match` and `eval_f1` of the answers\n\
run_qa's post-processing reads from every window (SQuAD 2.0's null answer when some question is\n\
unanswerable). Differences from webtune's run: with `evalEvery`, the Trainer evaluates every N\n\
steps only (webtune also at each epoch's end); a `qa_outputs` head webtune drew itself starts from\n\
transformers' initialisation instead, unless the run is LoRA with `initial_adapter/`.",
    pipeline: "question-answering",
    adapter: ENCODER_ADAPTER,
};

/// The files of the recipe of fine-tuning the base `files` (named `model` in the recipe) to
/// answer the questions of `data`, as webtune would run it with `options`.
pub async fn question_answering_recipe(
    files: BaseFiles<'_>,
    model: &str,
    data: &SessionData,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
) -> Result<RecipeFiles> {
    from_start(Task::QuestionAnswering, resume)?;
    check_options(Task::QuestionAnswering, options, "a question-answering model")?;
    let config = files.bert_config()?;
    let tokenizer = tokenizer_for(&config, files.tokenizer)?;
    let (train, validation) = data.questions(options.seed)?;
    if train.is_empty() {
        return Err(Error::Data("the training data has no questions".into()));
    }
    let mut warnings = Vec::new();
    let max_length = options.max_length_for(config.max_tokens(), &mut warnings);
    let windows = windowing(options, max_length)?;
    // the windows webtune's run trains on, numbered as its batches number them
    let features = qa_features(&train, &tokenizer, windows)?;
    let lengths: Vec<usize> = features.iter().map(|f| f.ids.len()).collect();
    let order = batch_order(&lengths, options);
    let head = EncoderHead::QuestionAnswering;
    let lora = EncoderLoraFiles::new(options, config.family, head, &files, model, async |base| lora_start(base, &config, options).await).await?;
    let (lora, initial) = lora.map(|l| (l.config, l.initial)).unzip();
    let initial = initial.unwrap_or_default();
    let reading = AnswerSettings::default();
    Folder {
        task: Task::QuestionAnswering,
        model,
        data,
        options,
        settings: json!({
            "max_length": max_length,
            "doc_stride": windows.stride,
            // how answers are read from the logits (with unanswerable questions, "no answer" is possible too)
            "answers": {
                "n_best": reading.n_best,
                "max_answer_length": reading.max_answer_length,
                "allow_no_answer": reading.allow_no_answer,
                "null_threshold": reading.null_threshold,
            },
        }),
        warnings,
        lora,
        initial_adapter: !initial.is_empty(),
        resume: None,
        train: questions(&train)?,
        validation: validation.as_deref().map(questions).transpose()?,
        order: &order,
        program: TRAIN_QUESTION_ANSWERING_PY,
        readme: &README,
        extra: initial,
    }
    .files()
}

/// The questions as JSON lines, with SQuAD's fields (`answers`: `{text, answer_start}` lists).
fn questions(examples: &[QaExample]) -> Result<Vec<u8>> {
    json_lines(examples.iter().map(|e| {
        json!({
            "id": e.id,
            "question": e.question,
            "context": e.context,
            "answers": {
                "text": e.answers.iter().map(|a| a.text.as_str()).collect::<Vec<_>>(),
                "answer_start": e.answers.iter().map(|a| a.start).collect::<Vec<_>>(),
            },
        })
    }))
}
