//! `webtune train` and `webtune eval`: fine-tuning a classifier, or a decoder as a language model
//! (all weights or LoRA), from data files.

use std::path::{Path, PathBuf};

use webtune::{
    Error, Result,
    data::{Columns, Table, TextColumns, augment::AugmentOptions, masking::Masking, parse_named, squad::read_squad},
    infer::{Decoder, EncodeOptions, Encoder, ModelFiles, fill_mask::MaskedLm, sentence_transformer::SentenceTransformer, question_answering::QuestionAnswerer, token_classification::TokenClassifier},
    models::lora::{LoraInit, LoraOptions},
    session::{
        Base, DataFile, DecoderEvalSettings, EncoderBase, Inputs, ModelKind, NamedFiles, SessionData, Task, Trained, evaluate_decoder, recipe,
        runs::{self, FolderStorage},
    },
    train::{Checkpoint, Evaluation, Event, Hooks, StopReason, TrainOptions, options::Method},
};

use crate::cli::print;

/// Which columns of the data files hold the texts and labels.
#[derive(clap::Args)]
pub struct ColumnArgs {
    /// Column with the text.
    #[arg(long, default_value = "text")]
    pub text_column: String,
    /// Column with the second text of a pair (NLI, paraphrase), if any.
    #[arg(long)]
    pub text_pair_column: Option<String>,
    /// Column with the label (names or integer ids).
    #[arg(long, default_value = "label")]
    pub label_column: String,
}

/// How a language model reads rows (text-generation).
#[derive(clap::Args)]
pub struct TextArgs {
    /// text-generation: the prompt column; with --completion-column, only completions are learned
    /// and scored (rows without both columns: the --text-column, in full).
    #[arg(long, default_value = "prompt")]
    prompt_column: String,
    #[arg(long, default_value = "completion")]
    completion_column: String,
    /// text-generation: the column of conversations (`[{role, content}]`; every assistant turn is
    /// learned). ShareGPT `conversations` and Alpaca `instruction`/`output` rows are read too; a
    /// .txt file is packed into blocks of --max-length tokens.
    #[arg(long, default_value = "messages")]
    messages_column: String,
}

impl ColumnArgs {
    pub(crate) fn columns(&self) -> Columns {
        Columns { text: self.text_column.clone(), text_pair: self.text_pair_column.clone(), label: self.label_column.clone() }
    }

    /// A language model's columns: the text, or the prompt and completion.
    pub(crate) fn text_columns(&self, text: &TextArgs) -> TextColumns {
        TextColumns {
            text: self.text_column.clone(),
            prompt: text.prompt_column.clone(),
            completion: text.completion_column.clone(),
            messages: text.messages_column.clone(),
        }
    }
}

#[derive(clap::Args)]
pub struct TrainArgs {
    /// text-classification (a BERT-family folder: BERT, RoBERTa, XLM-RoBERTa, DistilBERT; also
    /// feature-extraction or sentiment-analysis, trained the same way) | token-classification (or
    /// ner: a BERT-family folder; data: CoNLL `word … TAG` lines, or JSON lines {tokens, tags} or {text, entities: [{start, end, label}]}) |
    /// question-answering (a BERT-family folder; data: SQuAD v1.1/v2.0 JSON or rows {question,
    /// context, answers: {text, answer_start}}, as run_qa.py; --doc-stride) |
    /// fill-mask (continued masked-LM pretraining of a BERT-family folder on a .txt file's lines
    /// or --text-column, as run_mlm.py; --mlm-probability, --whole-word-mask) |
    /// text-generation (a Llama-family or GPT-2 folder, or a Llama .gguf file, trained as a causal
    /// language model).
    #[arg(long, default_value = "text-classification")]
    pub(crate) task: String,
    /// Hugging Face model folder to start from: config.json, model.safetensors, tokenizer.json
    /// (text-generation: also a .gguf file).
    #[arg(long)]
    pub(crate) model: PathBuf,
    /// Training data: .csv, .tsv, .jsonl or .json (an array of objects); token-classification: a
    /// CoNLL file (any other name) or .jsonl/.json rows of {tokens, tags} or {text, entities}.
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    pub(crate) columns: ColumnArgs,
    #[command(flatten)]
    pub(crate) text: TextArgs,
    /// Train LoRA adapters of this rank (the base frozen; the task's head — classifier, qa_outputs —
    /// trained in full) instead of all weights. Not for fill-mask.
    #[arg(long)]
    pub(crate) lora_rank: Option<usize>,
    #[arg(long, default_value_t = LoraOptions::default().alpha, requires = "lora_rank")]
    lora_alpha: f64,
    /// Projections that get adapters, by PEFT's names [default: PEFT's for the model: q_proj,v_proj (Llama), c_attn (GPT-2), query,value (BERT, RoBERTa), q_lin,v_lin (DistilBERT)]
    #[arg(long, requires = "lora_rank")]
    lora_targets: Option<String>,
    /// Dropout on the adapters' input while training, in [0, 1) (PEFT's lora_dropout).
    #[arg(long, default_value_t = LoraOptions::default().dropout, requires = "lora_rank")]
    lora_dropout: f64,
    /// Scale the adapters by alpha / sqrt(rank) instead of alpha / rank (PEFT's use_rslora).
    #[arg(long, requires = "lora_rank")]
    lora_rslora: bool,
    /// How the A factor starts: kaiming (PEFT's default) | gaussian (standard deviation 1/rank).
    #[arg(long, default_value = "kaiming", requires = "lora_rank")]
    lora_init: LoraInit,
    /// With --lora-rank: write only the adapters to --out, as PEFT files (adapter_model.safetensors,
    /// adapter_config.json); without it the adapters are merged into a full model folder.
    #[arg(long, requires = "lora_rank")]
    pub(crate) peft: bool,
    /// text-generation with --lora-rank: also write the adapters as llama.cpp's adapter GGUF,
    /// OUT/adapter.gguf (llama.cpp, wllama and Ollama load it onto the base model's GGUF;
    /// Llama-family models).
    #[arg(long, requires = "lora_rank")]
    pub(crate) gguf_lora: bool,
    /// text-classification: augmented copies of the training rows, made afresh each epoch, by
    /// these operations (comma-separated): swap, delete (EDA's random swap and deletion),
    /// substitute, insert (words a masked language model predicts: --model's masked-LM head, or
    /// --augment-model's).
    #[arg(long)]
    augment: Option<String>,
    /// The masked language model (a folder) that fills --augment substitute and insert.
    #[arg(long, requires = "augment")]
    augment_model: Option<PathBuf>,
    /// The share of words swapped, substituted or inserted, or each word's chance to be deleted
    /// (EDA's α).
    #[arg(long, default_value_t = AugmentOptions::default().rate, requires = "augment")]
    augment_rate: f64,
    /// Augmented copies of each row per epoch.
    #[arg(long, default_value_t = AugmentOptions::default().copies, requires = "augment")]
    augment_copies: usize,
    /// Seeds the augmentation's draws [default: --seed].
    #[arg(long, requires = "augment")]
    augment_seed: Option<u64>,
    /// Validation data (same columns). Without it, --validation-split of the data is held out.
    #[arg(long)]
    validation: Option<PathBuf>,
    /// Fraction of --data held out for validation when there is no --validation file (0 = none).
    #[arg(long, default_value_t = SessionData::DEFAULT_VALIDATION_SPLIT)]
    validation_split: f64,
    /// Where to write the fine-tuned model (a Hugging Face folder).
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Replace the model files already in --out.
    #[arg(long)]
    pub(crate) overwrite: bool,
    /// auto | gpu | cpu
    #[arg(long, default_value = "auto")]
    pub(crate) device: String,
    /// One JSON line per event (start, step, eval, done) instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    options: TrainOptions,
    /// Continue a run from the latest checkpoint in this folder (OUT/checkpoints of the earlier run;
    /// same data and options).
    #[arg(long)]
    pub(crate) resume: Option<PathBuf>,
}

impl TrainArgs {
    /// setfit's defaults for the flags left at theirs, with --method setfit.
    pub(crate) fn apply_method_defaults(&mut self, matches: &clap::ArgMatches) {
        let gave = |name: &str| {
            let id: String = name.chars().flat_map(|c| if c.is_uppercase() { vec!['_', c.to_ascii_lowercase()] } else { vec![c] }).collect();
            matches.value_source(&id).is_some_and(|s| s != clap::parser::ValueSource::DefaultValue)
        };
        self.options = self.options.clone().with_method_defaults(gave);
    }

    /// The training options: the flags, and LoRA's from --lora-rank and the other --lora-* flags.
    pub(crate) fn options(&self) -> Result<TrainOptions> {
        let augment = match &self.augment {
            Some(ops) => Some(AugmentOptions {
                ops: ops.split(',').map(|o| o.trim().parse()).collect::<Result<_>>()?,
                rate: self.augment_rate,
                copies: self.augment_copies,
                seed: self.augment_seed,
                model: self.augment_model.as_ref().map(|p| p.display().to_string()),
            }),
            None => None,
        };
        let o = TrainOptions {
            augment,
            lora: self.lora_rank.map(|rank| LoraOptions {
                rank,
                alpha: self.lora_alpha,
                target_modules: self.lora_targets.as_ref().map(|t| t.split(',').map(|t| t.trim().to_string()).collect()),
                dropout: self.lora_dropout,
                rslora: self.lora_rslora,
                init: self.lora_init,
            }),
            ..self.options.clone()
        };
        o.validate()?;
        Ok(o)
    }
}

fn read_table(path: &Path) -> Result<Table> {
    let file = read_file(path)?;
    parse_named(&file.bytes, &file.name)
}

/// A data file for a session (its name gives the format).
fn read_file(path: &Path) -> Result<DataFile> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| Error::Data(format!("cannot read {name}: {e}")))?;
    Ok(DataFile { bytes, name })
}

impl TrainArgs {
    pub(crate) fn data(&self) -> Result<SessionData> {
        Ok(SessionData {
            train: read_file(&self.data)?,
            validation: self.validation.as_deref().map(read_file).transpose()?,
            validation_split: self.validation_split,
        })
    }

    /// The checkpoint of the run to continue (--resume): the latest complete one in the folder.
    fn resume(&self) -> Result<Option<Checkpoint>> {
        let Some(dir) = &self.resume else { return Ok(None) };
        let store = FolderStorage { root: dir.clone() };
        let Some((_, files)) = pollster::block_on(runs::latest_checkpoint(&store, &[]))? else {
            return Err(Error::Options(format!(
                "{}: no complete checkpoint there (no latest.json); pass OUT/checkpoints of a run trained with --checkpoint-every",
                dir.display()
            )));
        };
        Checkpoint::from_files(|name| files.iter().find(|(f, _)| f == name).map(|(_, b)| b.clone())).map(Some)
    }
}

/// Fails before training when the output folder would lose files or cannot be written.
pub(crate) fn prepare_out(out: &Path, overwrite: bool) -> Result<()> {
    let existing: Vec<&str> = ["config.json", "model.safetensors", "tokenizer.json", "adapter_model.safetensors"]
        .into_iter()
        .filter(|f| out.join(f).exists())
        .collect();
    if !existing.is_empty() && !overwrite {
        return Err(Error::Options(format!(
            "{} already has {}; choose another --out or pass --overwrite",
            out.display(),
            existing.join(", ")
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::Options(format!("cannot create --out {}: {e}", out.display())))
}

pub async fn train(a: &TrainArgs) -> Result<()> {
    let options = a.options()?;
    let task = Task::parse(&a.task)?;
    options.check_for_task(task.name())?;
    if a.gguf_lora && task != Task::TextGeneration {
        return Err(Error::Options(format!("--gguf-lora writes llama.cpp's adapters of a text-generation model; --task is {}", task.name())));
    }
    if options.method == Method::Setfit && (a.resume.is_some() || a.peft || a.lora_rank.is_some()) {
        return Err(Error::Options("--method setfit trains the whole body from its start; leave out --resume, --lora-rank and --peft".into()));
    }
    prepare_out(&a.out, a.overwrite)?;
    let dev = crate::cli::select_device(&a.device).await?;
    let loaded = a.load_base(task, &options, &dev)?;
    let data = a.data()?;
    let (columns, text_columns) = (a.columns.columns(), a.columns.text_columns(&a.text));
    let inputs = Inputs { device: &dev, data: &data, columns: &columns, text_columns: &text_columns };
    let (mut on_event, mut on_checkpoint) = (printer(a.json), checkpoint_writer(&a.out));
    let hooks = Hooks { on_event: &mut on_event, on_checkpoint: Some(&mut on_checkpoint), cancelled: &|| false };
    let tuned = task.finetune(loaded.base(), inputs, &options, a.resume()?.as_ref(), hooks).await?;
    let mut files = out_files(&tuned.model, a).await?;
    if let (true, Trained::Decoder(decoder)) = (a.gguf_lora, &tuned.model) {
        files.push(("adapter.gguf".into(), decoder.export_gguf_adapter().await?));
    }
    write_files(&a.out, files)?;
    if tuned.stop_reason == StopReason::Diverged {
        return Err(Error::Training(format!(
            "training diverged (see the done event); {} holds the weights without the skipped updates",
            a.out.display()
        )));
    }
    if !a.json {
        let out = a.out.display();
        let hint = match &tuned.model {
            _ if a.peft => "(PEFT adapter files)".to_string(),
            Trained::SetFit(_) => format!("(setfit loads it: SetFitModel.from_pretrained(\"{out}\"))"),
            Trained::Decoder(_) => format!("(load it with `webtune generate --model {out}`)"),
            _ => format!("(load it with `webtune predict --model {out}`)"),
        };
        eprintln!("wrote {out} {hint}");
    }
    Ok(())
}

/// What --model holds, loaded for --task: an encoder's files (with a sentence-transformers
/// folder's modules for --method setfit, and --augment-model), or a decoder.
#[allow(clippy::large_enum_variant)]
pub(crate) enum LoadedBase {
    Encoder { files: ModelFiles, sentence: Option<SentenceTransformer>, augment_model: Option<ModelFiles> },
    Decoder(Decoder),
}

impl LoadedBase {
    pub(crate) fn base(&self) -> Base<'_> {
        match self {
            LoadedBase::Encoder { files, sentence, augment_model } => {
                Base::Encoder(EncoderBase { files, sentence: sentence.as_ref(), augment_model: augment_model.as_ref() })
            }
            LoadedBase::Decoder(decoder) => Base::Decoder(decoder),
        }
    }
}

impl TrainArgs {
    /// --model (and --augment-model), loaded as `task` trains from them.
    pub(crate) fn load_base(&self, task: Task, options: &TrainOptions, dev: &webtune::ComputeDevice) -> Result<LoadedBase> {
        if task.model_kind() == ModelKind::Decoder {
            return Ok(LoadedBase::Decoder(crate::generate::load_decoder(&self.model, dev)?));
        }
        let files = ModelFiles::from_dir(&self.model)?;
        let sentence = match options.method {
            Method::Setfit => {
                let read = |name: &str| std::fs::read(self.model.join(name)).ok();
                Some(SentenceTransformer::from_folder(read("modules.json").as_deref(), read)?)
            }
            Method::Finetune => None,
        };
        let augment_model = self.augment_model.as_deref().map(ModelFiles::from_dir).transpose()?;
        Ok(LoadedBase::Encoder { files, sentence, augment_model })
    }
}

/// Writes `files` into the folder `out` (and the subfolders their names give).
pub(crate) fn write_files(out: &Path, files: NamedFiles) -> Result<()> {
    for (name, bytes) in files {
        let path = out.join(&name);
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(|e| Error::Options(format!("cannot create {}: {e}", folder.display())))?;
        }
        std::fs::write(&path, bytes).map_err(|e| Error::Options(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}

/// `webtune recipe`: the run `train` would make, written as a Hugging Face recipe folder in --out.
pub async fn write_recipe(a: &TrainArgs) -> Result<()> {
    if a.peft || a.gguf_lora {
        return Err(Error::Options("--peft and --gguf-lora are train's (the recipe saves LoRA runs as PEFT files)".into()));
    }
    let task = Task::parse(&a.task)?;
    let options = a.options()?;
    // with --resume (a run's checkpoints, and its options and data), the recipe continues that run
    let resume = a.resume()?;
    let name = a.model.display().to_string();
    let files = match task {
        Task::TextGeneration => {
            let decoder = crate::generate::load_decoder(&a.model, &webtune::device::cpu())?;
            recipe::language_model_recipe(&decoder, &name, &a.data()?, &a.columns.text_columns(&a.text), &options, resume.as_ref()).await?
        }
        _ => recipe::encoder_recipe(task, (&ModelFiles::from_dir(&a.model)?).into(), &name, &a.data()?, &a.columns.columns(), &options, resume.as_ref()).await?,
    };
    if a.out.join("train.py").exists() && !a.overwrite {
        return Err(Error::Options(format!("{} already holds a recipe (train.py); choose another --out or pass --overwrite", a.out.display())));
    }
    let names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    write_files(&a.out, files)?;
    print(&serde_json::json!({ "wrote": a.out, "files": names, "run": format!("cd {} && python train.py", a.out.display()) }))
}

/// A trained model's files for --out: a Hugging Face folder, or with --peft the adapters.
pub(crate) async fn out_files(model: &Trained, a: &TrainArgs) -> Result<NamedFiles> {
    if a.peft { model.adapter_files(&a.model.display().to_string()).await } else { model.files().await }
}

/// Writes each checkpoint into OUT/checkpoints as the browser's stored runs keep theirs
/// (`session::runs`: the files, then `latest.json` naming them, then the previous one removed).
fn checkpoint_writer(out: &Path) -> impl FnMut(&Checkpoint) -> Result<()> {
    let store = FolderStorage { root: out.join("checkpoints") };
    move |c: &Checkpoint| {
        let files = c.files()?.into_iter().map(|(name, bytes)| (name.to_string(), bytes)).collect();
        pollster::block_on(runs::write_checkpoint_in(&store, &[], &files)).map(|_| ())
    }
}

/// Prints each event: a JSON line with --json, else a line of text on stderr.
fn printer(json: bool) -> impl FnMut(Event) {
    move |e: Event| {
        if json {
            let _ = print(&e);
        } else {
            eprintln!("{}", describe(&e));
        }
    }
}

/// One human-readable line per event.
pub(crate) fn describe(e: &Event) -> String {
    match e {
        Event::Start { device, train_examples, validation_examples, total_steps, warmup_steps, labels, warnings, memory, .. } => {
            let mut s = format!(
                "training on {device}: {train_examples} examples ({validation_examples} for validation), labels {labels:?}, {total_steps} steps ({warmup_steps} warmup), about {:.0} MB of tensors",
                memory.total_bytes as f64 / 1e6
            );
            for w in warnings {
                s += &format!("\nwarning: {w}");
            }
            s
        }
        Event::Step { step, total_steps, loss, learning_rate, grad_norm, tokens_per_second, step_ms, .. } => format!(
            "step {step}/{total_steps}  loss {loss:.4}  lr {learning_rate:.2e}  grad norm {}  {tokens_per_second:.0} tokens/s  {step_ms:.0} ms/step",
            grad_norm.map_or("-".into(), |n| format!("{n:.3}"))
        ),
        Event::Eval { step, epoch, metrics, is_best } => {
            let m = |name: &str| metrics.get(name).unwrap_or(f64::NAN);
            let values = match metrics {
                Evaluation::Classification(_) => {
                    format!("accuracy {:.4}  macro F1 {:.4}  loss {:.4}", m("accuracy"), m("macro_f1"), m("loss"))
                }
                Evaluation::Language(_) => format!("loss {:.4}  perplexity {:.2}", m("loss"), m("perplexity")),
                Evaluation::Answers(a) => format!("exact match {:.2}  F1 {:.2}  loss {:.4}", a.exact_match, a.f1, m("loss")),
                Evaluation::Entities(e) => format!("entity F1 {:.4}  precision {:.4}  recall {:.4}  loss {:.4}", e.f1, e.precision, e.recall, m("loss")),
            };
            format!("eval at step {step} (epoch {epoch:.2}): {values}{}", if *is_best { "  (best)" } else { "" })
        }
        Event::Done { steps, stop_reason, best, restored_best, seconds, message } => format!(
            "done after {steps} steps in {seconds:.1} s ({stop_reason:?}){}{}",
            match best {
                Some(b) if *restored_best => format!("; kept the best weights: {} {:.4} at step {}", b.metric, b.value, b.step),
                _ => String::new(),
            },
            message.as_deref().map_or(String::new(), |m| format!("\n{m}"))
        ),
        Event::SkippedStep { message, .. } => format!("warning: {message}"),
        Event::Checkpoint { step, .. } => format!("checkpoint at step {step}"),
    }
}

#[derive(clap::Args)]
pub struct EvalArgs {
    /// text-classification (a fine-tuned classifier folder: config.json with id2label,
    /// model.safetensors, tokenizer.json; also feature-extraction, sentiment-analysis) |
    /// token-classification (or ner: entity precision, recall, F1 on CoNLL or JSON-lines data) |
    /// question-answering (SQuAD exact match and F1 on SQuAD JSON or rows) |
    /// fill-mask (masked-LM loss and perplexity on a .txt file's lines or --text-column) |
    /// text-generation (a Llama-family or GPT-2 folder, or a Llama .gguf file: loss and perplexity).
    #[arg(long, default_value = "text-classification")]
    task: String,
    /// The model folder (text-generation: also a .gguf file).
    #[arg(long)]
    model: PathBuf,
    /// Data: .csv, .tsv, .jsonl or .json (labelled, or texts / prompt-completion rows).
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    columns: ColumnArgs,
    #[command(flatten)]
    text: TextArgs,
    /// text-generation: prompt/completion rows through the model's chat template (true | false;
    /// default: when the model has one).
    #[arg(long)]
    chat_template: Option<bool>,
    /// auto | gpu | cpu
    #[arg(long, default_value = "auto")]
    device: String,
    /// Examples per forward pass (default 32; text-generation 8).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Longest input in tokens, capped at the model's limit (default 128; text-generation 512).
    #[arg(long)]
    max_length: Option<usize>,
    /// text-generation: also answer each row's prompt greedily and print BLEU (sacreBLEU's) and
    /// ROUGE-L of the answers against the completions, and the answers.
    #[arg(long)]
    generate: bool,
    /// With --generate: the longest answer in tokens (default 128).
    #[arg(long, requires = "generate")]
    max_new_tokens: Option<usize>,
}

/// One JSON line: accuracy, macro_f1, loss, per_class, confusion_matrix, … (text-generation:
/// loss, perplexity, tokens, examples).
pub async fn eval(a: &EvalArgs) -> Result<()> {
    let dev = crate::cli::select_device(&a.device).await?;
    match Task::parse(&a.task)? {
        Task::TextGeneration => return eval_lm(a, &dev).await,
        Task::TokenClassification => return eval_tagger(a, &dev).await,
        Task::FillMask => return eval_masked_lm(a, &dev).await,
        Task::QuestionAnswering => return eval_answerer(a, &dev).await,
        Task::FeatureExtraction | Task::TextClassification => {}
    }
    let mut enc = Encoder::load(ModelFiles::from_dir(&a.model)?, &dev)?;
    for w in &enc.report.warnings {
        eprintln!("warning: {w}");
    }
    let max_length = a.max_length.unwrap_or(128).min(enc.config.max_tokens());
    enc.configure(EncodeOptions { max_length: Some(max_length), truncate: true, batch_size: a.batch_size.unwrap_or(32) })?;
    print(&enc.evaluate(&read_table(&a.data)?, &a.columns.columns()).await?)
}

/// Entity precision, recall and F1 (micro and per type, seqeval's) of a token classifier.
async fn eval_tagger(a: &EvalArgs, dev: &webtune::ComputeDevice) -> Result<()> {
    let mut tagger = TokenClassifier::load(ModelFiles::from_dir(&a.model)?, dev)?;
    for w in &tagger.report.warnings {
        eprintln!("warning: {w}");
    }
    tagger.max_length = a.max_length.unwrap_or(tagger.max_length).min(tagger.config.max_tokens());
    tagger.batch_size = a.batch_size.unwrap_or(32).max(1);
    let file = read_file(&a.data)?;
    print(&tagger.evaluate(&file.bytes, &file.name).await?)
}

/// SQuAD exact match and F1 of a question-answering model (v2.0's breakdown when some questions
/// are unanswerable).
async fn eval_answerer(a: &EvalArgs, dev: &webtune::ComputeDevice) -> Result<()> {
    let mut qa = QuestionAnswerer::load(ModelFiles::from_dir(&a.model)?, dev)?;
    for w in &qa.report.warnings {
        eprintln!("warning: {w}");
    }
    qa.set_windowing(a.max_length, None)?;
    qa.batch_size = a.batch_size.unwrap_or(16).max(1);
    let file = read_file(&a.data)?;
    print(&qa.evaluate(&read_squad(&file.bytes, &file.name)?).await?)
}

/// Masked-LM loss and perplexity on plain texts, each masked with a fixed draw (--seed).
async fn eval_masked_lm(a: &EvalArgs, dev: &webtune::ComputeDevice) -> Result<()> {
    let mut lm = MaskedLm::load(ModelFiles::from_dir(&a.model)?, dev)?;
    for w in &lm.report.warnings {
        eprintln!("warning: {w}");
    }
    lm.max_length = a.max_length.unwrap_or(128).min(lm.config.max_tokens());
    lm.batch_size = a.batch_size.unwrap_or(32).max(1);
    let data = SessionData { train: read_file(&a.data)?, validation: None, validation_split: 0.0 };
    let (texts, _) = data.plain_texts(&a.columns.text_columns(&a.text), 0)?;
    print(&lm.evaluate(&texts, Masking::default(), 42).await?)
}

async fn eval_lm(a: &EvalArgs, dev: &webtune::ComputeDevice) -> Result<()> {
    let decoder = crate::generate::load_decoder(&a.model, dev)?;
    let settings = DecoderEvalSettings::new(a.max_length, a.batch_size, a.chat_template, a.generate, a.max_new_tokens);
    let columns = a.columns.text_columns(&a.text);
    print(&evaluate_decoder(&decoder, &read_file(&a.data)?, &columns, &settings).await?)
}
