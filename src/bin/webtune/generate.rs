//! `webtune generate`: text generation with a decoder (Llama-family or GPT-2), from a Hugging Face folder or
//! a GGUF file (with a LoRA adapter, `--adapter`), for a plain prompt or a chat message.

use std::path::{Path, PathBuf};

use serde_json::json;
use webtune::{
    Error, Result,
    infer::{AdapterFile, Decoder, GenerateOptions, text_generation::with_chat_template_file},
    tokenizer::chat::Message,
};

use crate::cli::print;

#[derive(clap::Args)]
pub struct GenerateArgs {
    /// A .gguf file, or a Hugging Face folder (config.json, model.safetensors, tokenizer.json,
    /// tokenizer_config.json for the chat template).
    #[arg(long)]
    pub model: PathBuf,
    /// auto | gpu | cpu
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// A LoRA adapter to answer with, made for --model: llama.cpp's adapter .gguf, or a PEFT folder
    /// (adapter_model.safetensors, adapter_config.json). A GGUF model stays quantized.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// Text to continue.
    #[arg(long, conflicts_with = "chat")]
    pub prompt: Option<String>,
    /// A user message, answered through the model's chat template.
    #[arg(long)]
    pub chat: Option<String>,
    /// A system message before --chat.
    #[arg(long, requires = "chat")]
    pub system: Option<String>,
    #[arg(long, default_value_t = 64)]
    pub max_new_tokens: usize,
    /// 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    #[arg(long)]
    pub top_k: Option<usize>,
    #[arg(long)]
    pub top_p: Option<f32>,
    /// Keep only tokens at least this fraction as likely as the most likely one (sampling).
    #[arg(long)]
    pub min_p: Option<f32>,
    /// Above 1 discourages repeating tokens of the prompt and reply (as transformers; 1 is off).
    #[arg(long, default_value_t = 1.0)]
    pub repetition_penalty: f32,
    /// A text that ends the reply (left out of it); repeat for several.
    #[arg(long = "stop")]
    pub stop: Vec<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print each piece of text as it comes (`{"token": "…"}` lines) before the result.
    #[arg(long)]
    pub stream: bool,
    /// Instead of generating: the N likeliest next tokens after --prompt, `{"topLogits": [{"id",
    /// "token", "logit"}], "promptIds"}` (to compare with another engine's logits).
    #[arg(long, requires = "prompt")]
    pub top_logits: Option<usize>,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Weights(format!("cannot read {}: {e}", path.display())))
}

/// A decoder from a .gguf file or a Hugging Face folder.
pub fn load_decoder(m: &Path, dev: &webtune::ComputeDevice) -> Result<Decoder> {
    if m.is_file() {
        return Decoder::from_gguf_owned(read(m)?, dev);
    }
    let tokenizer_config = m.join("tokenizer_config.json");
    let mut tokenizer_config = if tokenizer_config.exists() { Some(read(&tokenizer_config)?) } else { None };
    // transformers saves the chat template beside tokenizer_config.json, and prefers that file
    let template = m.join("chat_template.jinja");
    if template.exists() {
        tokenizer_config = Some(with_chat_template_file(tokenizer_config.as_deref(), &read(&template)?)?);
    }
    Decoder::from_hf(
        &read(&m.join("config.json"))?,
        read(&m.join("model.safetensors"))?,
        &read(&m.join("tokenizer.json"))?,
        tokenizer_config.as_deref(),
        dev,
    )
}

/// `decoder` with the adapter at `path` (a .gguf file, or a PEFT folder) attached.
fn attach_adapter(decoder: &Decoder, path: &Path) -> Result<Decoder> {
    let name = path.display().to_string();
    if path.is_file() {
        return decoder.with_adapter(AdapterFile::Gguf(&read(path)?), &name);
    }
    let (weights, config) = (read(&path.join("adapter_model.safetensors"))?, read(&path.join("adapter_config.json"))?);
    decoder.with_adapter(AdapterFile::Peft { weights: &weights, config: &config }, &name)
}

/// Prints `{"text", "stopReason", "promptTokens", "newTokens", "promptMs", "tokensPerSecond",
/// "device"}` (after the streamed pieces with `--stream`).
pub async fn generate(args: &GenerateArgs) -> Result<()> {
    let dev = crate::cli::select_device(&args.device).await?;
    let decoder = load_decoder(&args.model, &dev)?;
    for w in &decoder.report.warnings {
        eprintln!("warning: {w}");
    }
    eprintln!("weights: {} ({:.0} MB)", decoder.weight_format(), decoder.weight_bytes() as f64 / 1e6);
    let decoder = match &args.adapter {
        Some(path) => attach_adapter(&decoder, path)?,
        None => decoder,
    };
    if let (Some(n), Some(prompt)) = (args.top_logits, &args.prompt) {
        let ids = decoder.prompt_ids(prompt)?;
        let top = decoder.top_logits(&ids, n).await?;
        let top: Vec<_> = top.into_iter().map(|(id, token, logit)| json!({ "id": id, "token": token, "logit": logit })).collect();
        return print(&json!({ "promptIds": ids, "topLogits": top }));
    }
    let options = GenerateOptions {
        max_new_tokens: args.max_new_tokens,
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        min_p: args.min_p,
        repetition_penalty: args.repetition_penalty,
        seed: args.seed,
        stop: None,
        stop_strings: args.stop.clone(),
        trim_history: false,
    };
    let mut failed = None;
    let on_text = |piece: &str| {
        if args.stream && let Err(e) = print(&json!({ "token": piece })) {
            failed = Some(e);
            return false;
        }
        true
    };
    let out = match (&args.prompt, &args.chat) {
        (Some(prompt), None) => decoder.complete(prompt, &options, on_text).await?,
        (None, Some(user)) => {
            let mut messages = Vec::new();
            if let Some(system) = &args.system {
                messages.push(Message { role: "system".into(), content: system.clone() });
            }
            messages.push(Message { role: "user".into(), content: user.clone() });
            decoder.chat(&messages, &options, on_text).await?
        }
        _ => return Err(Error::Options("pass --prompt \"…\" to continue a text, or --chat \"…\" to ask a chat model".into())),
    };
    if let Some(e) = failed {
        return Err(e);
    }
    print(&json!({
        "text": out.text, "stopReason": out.stop_reason, "promptTokens": out.prompt_tokens,
        "newTokens": out.tokens.len(), "promptMs": out.prompt_ms, "tokensPerSecond": out.tokens_per_second,
        "device": decoder.device.info().kind,
    }))
}
