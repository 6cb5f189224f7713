//! Argument parsing and dispatch of the subcommands.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use webtune::{DevicePreference, Error, Result, device, train};

use crate::{bench, encoder, finetune, generate, search};

#[derive(Parser)]
#[command(name = "webtune", version, about = "Fine-tune and run transformer models (webtune CLI)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where a model comes from and what runs it (shared by the model subcommands).
#[derive(clap::Args)]
pub struct ModelArgs {
    /// Hugging Face model folder: config.json, model.safetensors, tokenizer.json.
    #[arg(long)]
    pub model: PathBuf,
    /// auto | gpu | cpu
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Longest input in tokens (default: the model's max_position_embeddings).
    #[arg(long)]
    pub max_length: Option<usize>,
    /// Reject texts longer than --max-length instead of cutting them.
    #[arg(long)]
    pub no_truncate: bool,
    /// Texts per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
}

/// The texts to run on.
#[derive(clap::Args)]
pub struct TextArgs {
    /// A text (repeat for several).
    #[arg(long = "text")]
    pub texts: Vec<String>,
    /// A UTF-8 file with one text per line (blank lines are skipped).
    #[arg(long)]
    pub input: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// List the devices this build can use: wgpu adapters (name, backend, limits) and the CPU.
    Devices,
    /// Run one training step on a device and report the loss before and after (it must fall).
    SelfTest {
        /// auto | gpu | cpu
        #[arg(long, default_value = "auto")]
        device: String,
    },
    /// Classify texts with a sequence-classification model, tag their entities with a
    /// token-classification one, answer --question from them with a question-answering one, or fill
    /// their masks with a masked LM (from config.json's architectures, or --task): one JSON line per text.
    Predict {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        text: TextArgs,
        #[command(flatten)]
        how: encoder::PredictArgs,
    },
    /// "Label these next": a classifier's uncertainty about each text (entropy, margin or
    /// least-confident), most uncertain first: one JSON line per text with its index, score and
    /// predicted label.
    Rank {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        text: TextArgs,
        #[arg(long, value_enum, default_value = "entropy")]
        strategy: webtune::infer::uncertainty::Uncertainty,
        /// Only the first N of the ranking.
        #[arg(long)]
        top: Option<usize>,
    },
    /// Sentence embeddings: one JSON object with the vectors (and pairwise cosine similarities).
    Embed {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        text: TextArgs,
        /// mean | cls
        #[arg(long, default_value = "mean")]
        pooling: String,
        /// Scale vectors to unit length.
        #[arg(long)]
        normalize: bool,
    },
    /// Fine-tune a BERT-family model for text classification on a labelled file, or (--task
    /// text-generation) a Llama-family or GPT-2 model on texts or prompt/completion pairs (all weights, or
    /// LoRA with --lora-rank), and write the result as a Hugging Face folder (or PEFT adapter files
    /// with --peft) that transformers / peft load.
    Train(Box<finetune::TrainArgs>),
    /// Write a `train` run (the same arguments; --out is the recipe's folder) as a Hugging Face
    /// recipe to run on GPUs: train.py (transformers' Trainer, PEFT for LoRA), the run's settings
    /// and rows, webtune's batch order, requirements.txt, accelerate and DeepSpeed configs, a
    /// README. Text classification.
    Recipe(Box<finetune::TrainArgs>),
    /// Hyperparameter search: `train` once per combination of --learning-rates, --epoch-counts,
    /// --batch-sizes, --lora-ranks (grid, or --strategy random within --trials), each from the same
    /// model; one JSON line per trial (settings, its best validation metric), then the best,
    /// whose model is written to --out.
    Search(Box<search::SearchArgs>),
    /// Evaluate a classifier on a labelled file: one JSON line with accuracy, macro_f1, loss,
    /// per-class metrics and the confusion matrix.
    Eval(finetune::EvalArgs),
    /// Generate text with a decoder (Llama-family: a GGUF file or a Hugging Face folder; GPT-2: a Hugging Face folder): continue
    /// --prompt, or answer --chat through the model's chat template. One JSON object (after one
    /// `{"token"}` line per piece with --stream).
    Generate(Box<generate::GenerateArgs>),
    /// Benchmarks (JSON lines; see BENCHMARKS.md and pkg-config/bench.sh).
    #[command(subcommand)]
    Bench(Bench),
}

#[derive(Subcommand)]
enum Bench {
    /// Inference latency of a BERT-family encoder (embed), first call and median.
    Encoder(bench::EncoderBench),
}

pub fn main() {
    // Without a desktop session, Mesa's Vulkan device-selection layer looks for a Wayland display
    // anyway and prints "XDG_RUNTIME_DIR is invalid" per instance; it picks nothing there.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() && std::env::var_os("NODEVICE_SELECT").is_none() {
        // SAFETY: the first thing main does, before any thread exists.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn,wgpu_hal=off,wgpu_core=error")).init();
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let mut cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // train and recipe take the same flags, and --method setfit the same defaults
    match (&mut cli.command, matches.subcommand()) {
        (Command::Train(a), Some(("train", flags))) | (Command::Recipe(a), Some(("recipe", flags))) => a.apply_method_defaults(flags),
        _ => {}
    }
    if let Err(e) = pollster::block_on(run(cli.command)) {
        eprintln!("error ({}): {e}", e.js_name());
        std::process::exit(1);
    }
}

/// The device `--device` asks for; when "auto" settles for the CPU, one stderr line says why.
pub async fn select_device(arg: &str) -> Result<webtune::ComputeDevice> {
    let dev = device::select(arg.parse::<DevicePreference>()?).await?;
    if let Some(reason) = &dev.info().fallback {
        eprintln!("device: cpu ({reason})");
    }
    Ok(dev)
}

async fn run(command: Command) -> Result<()> {
    match command {
        Command::Devices => print(&device::list()),
        Command::SelfTest { device } => {
            let dev = select_device(&device).await?;
            let report = train::self_test(&dev).await?;
            print(&report)?;
            if !report.passed() {
                return Err(Error::Backend(format!(
                    "self-test failed on {}: loss went from {} to {} with a largest weight change of {} (AdamW's first step should move weights by about 0.01)",
                    report.device, report.loss_before, report.loss_after, report.update_size
                )));
            }
            Ok(())
        }
        Command::Predict { model, text, how } => encoder::predict(&model, &text, &how).await,
        Command::Embed { model, text, pooling, normalize } => {
            encoder::embed(&model, &text, pooling.parse()?, normalize).await
        }
        Command::Rank { model, text, strategy, top } => encoder::rank(&model, &text, strategy, top).await,
        Command::Train(a) => finetune::train(&a).await,
        Command::Recipe(a) => finetune::write_recipe(&a).await,
        Command::Search(a) => search::search(&a).await,
        Command::Eval(a) => finetune::eval(&a).await,
        Command::Generate(a) => generate::generate(&a).await,
        Command::Bench(Bench::Encoder(b)) => bench::encoder(&b).await,
    }
}

/// Prints a value as one line of JSON. A closed stdout (`webtune … | head`) ends the process
/// quietly with status 141, as a tool killed by SIGPIPE does: not a panic, and not a success
/// (a `train` stopped this way has not written its model).
pub fn print<T: serde::Serialize>(value: &T) -> Result<()> {
    use std::io::Write;
    let s = serde_json::to_string(value).map_err(|e| Error::Backend(e.to_string()))?;
    match writeln!(std::io::stdout().lock(), "{s}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(141),
        other => other.map_err(|e| Error::Backend(format!("could not write to stdout: {e}"))),
    }
}
