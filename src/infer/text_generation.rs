//! Text in, text out for decoders: loading a model with its tokenizer and chat template (a
//! Hugging Face folder, or one GGUF file), completing a prompt or a conversation, and streaming
//! the reply as text pieces (never a broken UTF-8 character).

use burn::tensor::{Int, Tensor, TensorData};
use serde::Serialize;
use serde_json::Value as Json;

use super::generate::{Decoder, GenerateOptions, StopReason};

use crate::{
    ComputeDevice, Error, Result,
    tokenizer::{
        TextTokenizer,
        chat::{ChatTemplate, GEMMA3_CHAT_TEMPLATE, Message},
        decoder::DecoderTokenizer,
        gguf::tokenizer_json,
    },
    models::decoder::DecoderModel,
    models::kv_cache::KvCache,
    models::lora::LoraOptions,
    formats::gguf::{Gguf, Value},
    weights::{LoadReport, gguf},
};

/// A finished completion.
#[derive(Clone, Debug, PartialEq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Completion {
    /// The generated text (special tokens left out).
    pub text: String,
    pub tokens: Vec<u32>,
    pub prompt_tokens: usize,
    /// `"stop"` also when a stop string ended the reply.
    pub stop_reason: StopReason,
    /// Milliseconds from the start to the first new token (reading the prompt).
    pub prompt_ms: f64,
    /// New tokens per second after the first.
    pub tokens_per_second: f64,
    /// `chat` with `trim_history`: how many of the oldest messages were left out to fit the context.
    pub dropped_messages: usize,
}

/// Tokens that end an assistant turn in common chat formats (ChatML, Llama 3, Gemma).
const END_OF_TURN: &[&str] = &["<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>"];

impl Decoder {
    /// Loads a Llama-family GGUF file: weights (kept quantized: see [`gguf::load_quantized`]),
    /// tokenizer and chat template. The bytes are copied; [`Decoder::from_gguf_owned`] keeps them instead.
    pub fn from_gguf(bytes: &[u8], device: &ComputeDevice) -> Result<Self> {
        Self::from_gguf_owned(bytes.to_vec(), device)
    }

    /// [`Decoder::from_gguf`] of a file already in a `Vec` (no copy: loading reads the weights
    /// from it one tensor at a time, then drops it).
    pub fn from_gguf_owned(bytes: Vec<u8>, device: &ComputeDevice) -> Result<Self> {
        let bytes = std::sync::Arc::new(bytes);
        let file = Gguf::parse(&bytes)?;
        let config = file.llama_config()?;
        // no f32 embedding table on a GPU here: a quantized one larger than a binding is held in parts
        let device = device.without_autodiff();
        let model = gguf::load_quantized(&file, &config, &bytes, &device)?;
        let report = LoadReport::default();
        let tokenizer = TextTokenizer::for_model(tokenizer_json(&file)?.as_bytes(), config.vocab_size)?;
        let token = |key: &str| {
            file.metadata.get(key).and_then(Value::as_u64).and_then(|id| u32::try_from(id).ok()).and_then(|id| tokenizer.id_to_token(id)).unwrap_or_default()
        };
        // Gemma's own template where the file has none (llama.cpp recognises Gemma files the same way)
        let source = file.metadata.get("tokenizer.chat_template").and_then(Value::as_str).or(config.is_gemma3().then_some(GEMMA3_CHAT_TEMPLATE));
        let chat = match source {
            Some(src) => Some(ChatTemplate::new(src, &token("tokenizer.ggml.bos_token_id"), &token("tokenizer.ggml.eos_token_id"))?),
            None => None,
        };
        let add_bos = !matches!(file.metadata.get("tokenizer.ggml.add_bos_token"), Some(Value::Bool(false)));
        Ok(Decoder { model, device, report, text: Some(DecoderTokenizer { tokenizer, chat, add_bos }), lora: None })
    }

    /// Loads a Hugging Face folder's files: `config.json`, `model.safetensors`, `tokenizer.json`
    /// and, for the chat template, `tokenizer_config.json`.
    pub fn from_hf(config: &[u8], weights: Vec<u8>, tokenizer: &[u8], tokenizer_config: Option<&[u8]>, device: &ComputeDevice) -> Result<Self> {
        let mut decoder = Decoder::load(config, weights, device)?;
        let tokenizer = TextTokenizer::for_model(tokenizer, decoder.config().vocab_size())?;
        let (chat, add_bos) = match tokenizer_config {
            Some(bytes) => (chat_template(bytes)?, adds_bos(bytes)),
            None => (None, false),
        };
        decoder.text = Some(DecoderTokenizer { tokenizer, chat, add_bos });
        Ok(decoder)
    }

    /// This decoder with weights kept quantized (a GGUF file) widened to f32 — transformers' GGUF
    /// loader's numbers, at 4–8× the memory; others are returned as they are.
    pub fn dequantized(self) -> Result<Decoder> {
        let Some(dense) = gguf::dequantized(&self.model, &self.device) else { return Ok(self) };
        Ok(Decoder { model: DecoderModel::Llama(dense?), ..self })
    }

    /// Bytes the weights take in memory.
    pub fn weight_bytes(&self) -> u64 {
        match &self.model {
            DecoderModel::Packed(p) => p.weights.bytes() as u64,
            DecoderModel::GpuPacked(p) => p.bytes() as u64,
            dense => burn::module::Module::num_params(dense) as u64 * 4,
        }
    }

    /// How the weights are held: `"f32"`, or the GGUF types kept quantized (`"Q4_1, Q8_0"`).
    pub fn weight_format(&self) -> String {
        match &self.model {
            DecoderModel::Packed(p) => p.weights.types().join(", "),
            DecoderModel::GpuPacked(p) => p.types.join(", "),
            _ => "f32".into(),
        }
    }

    /// The same decoder with other weights (e.g. fine-tuned ones, with `lora` adapters) on `device`.
    pub fn with_model(&self, model: DecoderModel, device: ComputeDevice, lora: Option<LoraOptions>) -> Decoder {
        Decoder { model, device, report: self.report.clone(), text: self.text.clone(), lora }
    }

    /// The LoRA adapters as PEFT files: `adapter_model.safetensors` and `adapter_config.json`
    /// (`base_model`: what `base_model_name_or_path` says).
    pub async fn export_adapter(&self, base_model: &str) -> Result<Vec<(&'static str, Vec<u8>)>> {
        let lora = self.lora.as_ref().ok_or_else(|| {
            Error::Options("this model has no LoRA adapters: fine-tune it with lora: { … } to save format \"peft\"".into())
        })?;
        let (adapter, base) = crate::weights::decoder::export_adapter(&self.model, &self.device).await?;
        Ok(vec![("adapter_model.safetensors", adapter), ("adapter_config.json", crate::weights::peft::adapter_config(lora, base, base_model)?)])
    }

    /// The LoRA adapters as llama.cpp's adapter GGUF (llama.cpp, wllama and Ollama load it onto the
    /// base model's GGUF; Llama-family models).
    pub async fn export_gguf_adapter(&self) -> Result<Vec<u8>> {
        let lora = self.lora.as_ref().ok_or_else(|| {
            Error::Options("this model has no LoRA adapters: fine-tune it with lora: { … } to save format \"gguf-lora\"".into())
        })?;
        let config = self.model.llama_config().ok_or_else(|| Error::Options("GGUF LoRA adapters are written for Llama-family models (Llama, Qwen, Gemma 3); save this one as \"peft\"".into()))?;
        let (adapter, _) = crate::weights::decoder::export_adapter(&self.model, &self.device).await?;
        crate::weights::gguf_lora::from_peft(&adapter, lora, config)
    }

    /// The model as a Hugging Face folder that transformers loads: `config.json`,
    /// `model.safetensors` (f32), and with a tokenizer `tokenizer.json` and
    /// `tokenizer_config.json` (special tokens, chat template).
    pub async fn export(&self) -> Result<Vec<(&'static str, Vec<u8>)>> {
        let (config, weights) = crate::weights::decoder::export_folder(&self.model, &self.device).await?;
        let mut files = vec![("config.json", config), ("model.safetensors", weights)];
        if let Some(side) = &self.text {
            let token = |id: Option<u32>| id.and_then(|i| side.tokenizer.id_to_token(i));
            let mut config = serde_json::json!({
                "tokenizer_class": "PreTrainedTokenizerFast",
                "model_max_length": self.config().max_positions(),
                "add_bos_token": side.add_bos,
            });
            if let Some(bos) = token(self.config().bos_token_id()) {
                config["bos_token"] = bos.into();
            }
            if let Some(eos) = token(self.config().eos_ids().first().copied()) {
                config["eos_token"] = eos.into();
            }
            if let Some(chat) = &side.chat {
                config["chat_template"] = chat.source().into();
            }
            let config = serde_json::to_vec_pretty(&config).map_err(|e| Error::Backend(format!("tokenizer_config.json: {e}")))?;
            files.push(("tokenizer.json", side.tokenizer.to_json()?.into_bytes()));
            files.push(("tokenizer_config.json", config));
        }
        Ok(files)
    }

    fn text_tools(&self) -> Result<&DecoderTokenizer> {
        self.text.as_ref().ok_or_else(|| {
            Error::Options("this model was loaded without a tokenizer: load it with its tokenizer.json (or from a GGUF file)".into())
        })
    }

    /// Continues `prompt` (BOS added as the model expects), streaming the new text to `on_text`
    /// (return `false` to stop).
    pub async fn complete(&self, prompt: &str, options: &GenerateOptions, on_text: impl FnMut(&str) -> bool) -> Result<Completion> {
        let ids = self.prompt_ids(prompt)?;
        self.stream(ids, options, on_text, false).await
    }

    /// `prompt`'s token ids as [`Self::complete`] reads them (BOS added as the model expects).
    pub fn prompt_ids(&self, prompt: &str) -> Result<Vec<u32>> {
        let side = self.text_tools()?;
        let mut ids = side.tokenizer.ids(prompt, true)?;
        if side.add_bos
            && let Some(bos) = self.config().bos_token_id()
            && ids.first() != Some(&bos)
        {
            ids.insert(0, bos);
        }
        Ok(ids)
    }

    /// The `n` likeliest tokens to follow the prompt `ids` ([`Self::prompt_ids`]): `(id, token,
    /// logit)`, the highest logit first.
    pub async fn top_logits(&self, ids: &[u32], n: usize) -> Result<Vec<(u32, String, f32)>> {
        let limit = self.config().max_positions();
        if ids.is_empty() || ids.len() > limit {
            return Err(Error::Data(format!("the prompt has {} tokens; this model reads 1 to {limit}", ids.len())));
        }
        let input: Vec<i32> = ids.iter().map(|&t| t as i32).collect();
        let input = Tensor::<2, Int>::from_data(TensorData::new(input, [1, ids.len()]), self.device.device());
        let mut cache = KvCache::with_capacity(ids.len());
        let logits = self.device.read_rows(self.model.forward_last(input, Some(&mut cache))).await?.pop().unwrap_or_default();
        let mut ranked: Vec<(u32, f32)> = logits.into_iter().enumerate().map(|(i, l)| (i as u32, l)).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let tokenizer = &self.text_tools()?.tokenizer;
        ranked.into_iter().take(n).map(|(id, logit)| Ok((id, tokenizer.decode(&[id])?, logit))).collect()
    }

    /// The assistant's reply to `messages`, through the model's chat template. With
    /// `options.trim_history` the oldest turns are left out when the conversation and
    /// `max_new_tokens` would not fit the context ([`Completion::dropped_messages`] says how many).
    pub async fn chat(&self, messages: &[Message], options: &GenerateOptions, on_text: impl FnMut(&str) -> bool) -> Result<Completion> {
        let side = self.text_tools()?;
        let template = side.chat.as_ref().ok_or_else(|| {
            Error::Options("this model has no chat template (it is not a chat model): use text generation with a plain prompt instead".into())
        })?;
        let render = |m: &[Message]| side.tokenizer.ids(&template.render(m, true)?, false);
        let (ids, dropped) = if options.trim_history { self.fit_context(messages, options, render)? } else { (render(messages)?, 0) };
        let mut out = self.stream(ids, options, on_text, true).await?;
        out.dropped_messages = dropped;
        Ok(out)
    }

    /// The prompt for the longest recent part of `messages` that leaves room for the reply: system
    /// messages always stay, older turns go whole (a kept part starts with a user message, so
    /// templates that insist on user/assistant alternation still render), the last message always
    /// stays. Returns the prompt ids and how many messages were left out.
    fn fit_context(&self, messages: &[Message], options: &GenerateOptions, render: impl Fn(&[Message]) -> Result<Vec<u32>>) -> Result<(Vec<u32>, usize)> {
        let limit = self.config().max_positions();
        let room = limit.saturating_sub(options.max_new_tokens.clamp(1, limit / 2));
        let turns: Vec<(usize, &Message)> = messages.iter().enumerate().filter(|(_, m)| m.role != "system").collect();
        // where a kept part may begin: at a user message, or at the last message
        let mut starts: Vec<usize> = (0..turns.len()).filter(|&i| turns[i].1.role == "user").collect();
        if let Some(last) = turns.len().checked_sub(1)
            && starts.last() != Some(&last)
        {
            starts.push(last);
        }
        let keep_from = |start: usize| -> Vec<Message> {
            // system messages first where they were first, then the kept turns in order
            let first_kept = turns.get(start).map_or(usize::MAX, |t| t.0);
            messages.iter().enumerate().filter(|(i, m)| m.role == "system" || *i >= first_kept).map(|(_, m)| m.clone()).collect()
        };
        let whole = render(messages)?;
        if whole.len() <= room || starts.is_empty() {
            return Ok((whole, 0));
        }
        // fewer kept turns give a shorter prompt: find the earliest start that fits
        let (mut lo, mut hi) = (0, starts.len() - 1);
        let last = render(&keep_from(starts[hi]))?;
        if last.len() > room {
            return Err(Error::Data(format!(
                "the last message alone makes a prompt of {} tokens{}; with maxNewTokens {} this model's context of {limit} tokens has no room: shorten the message or lower maxNewTokens",
                last.len(),
                if turns.len() == messages.len() { "" } else { " with the system prompt" },
                options.max_new_tokens
            )));
        }
        let mut best = (last, starts[hi]);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let ids = render(&keep_from(starts[mid]))?;
            if ids.len() <= room {
                best = (ids, starts[mid]);
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Ok(best) // best.1 turns before the kept part were left out
    }

    async fn stream(&self, prompt: Vec<u32>, options: &GenerateOptions, mut on_text: impl FnMut(&str) -> bool, chat: bool) -> Result<Completion> {
        let side = self.text_tools()?;
        let mut options = options.clone();
        if options.stop.is_none() {
            let mut stop = self.config().eos_ids();
            if chat {
                stop.extend(END_OF_TURN.iter().filter_map(|t| side.tokenizer.token_to_id(t)));
            }
            options.stop = Some(stop);
        }
        let stops = &options.stop_strings;
        let mut tokens = Vec::new();
        let (mut shown, mut failed, mut stopped_at) = (0, None, None);
        let out = self
            .generate(&prompt, &options, |id| {
                tokens.push(id);
                match side.tokenizer.decode(&tokens) {
                    // a byte-level token may end inside a UTF-8 character: wait for the rest
                    Ok(text) if text.len() > shown && !text.ends_with('\u{FFFD}') => {
                        let fresh = text.get(shown..).unwrap_or_default();
                        if let Some(at) = find_stop(fresh, stops) {
                            stopped_at = Some(shown + at);
                            if at > 0 {
                                on_text(&fresh[..at]);
                            }
                            return false;
                        }
                        // hold back an ending that may be the start of a stop string
                        let safe = text.len() - held_back(&text, stops);
                        let go_on = safe <= shown || text.get(shown..safe).is_none_or(|piece| on_text(piece));
                        shown = shown.max(safe);
                        go_on
                    }
                    Ok(_) => true,
                    Err(e) => {
                        failed = Some(e);
                        false
                    }
                }
            })
            .await?;
        if let Some(e) = failed {
            return Err(e);
        }
        let mut text = side.tokenizer.decode(&out.tokens)?;
        let mut stop_reason = out.stop_reason;
        if let Some(at) = stopped_at {
            text.truncate(at);
            stop_reason = StopReason::Stop;
        } else if stop_reason != StopReason::Cancelled
            && let Some(rest) = text.get(shown..).filter(|r| !r.is_empty())
        {
            on_text(rest);
        }
        Ok(Completion {
            text,
            tokens: out.tokens,
            prompt_tokens: prompt.len(),
            stop_reason,
            prompt_ms: out.timing.prompt_ms,
            tokens_per_second: out.timing.tokens_per_second,
            dropped_messages: 0,
        })
    }
}

/// Where the first of `stops` begins in `text`, if any does.
fn find_stop(text: &str, stops: &[String]) -> Option<usize> {
    stops.iter().filter_map(|s| text.find(s.as_str())).min()
}

/// How many bytes at the end of `text` are the beginning of one of `stops` (they may yet become it).
fn held_back(text: &str, stops: &[String]) -> usize {
    stops
        .iter()
        .filter_map(|s| (1..s.len()).rev().find(|&k| s.is_char_boundary(k) && text.ends_with(&s[..k])))
        .max()
        .unwrap_or(0)
}

/// `tokenizer_config.json`'s chat template (a string, or a list of named templates: "default").
/// `add_bos_token: true` in tokenizer_config.json (what webtune's own export writes for a GGUF
/// model whose tokenizer.json does not add BOS itself; a BOS already there is never doubled).
fn adds_bos(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Json>(bytes).is_ok_and(|v| v["add_bos_token"] == Json::Bool(true))
}

/// `tokenizer_config.json` (or an empty one) with the template of a `chat_template.jinja` file as
/// its `chat_template`: transformers (since 4.47) saves a model's chat template in that file, and
/// reads it in preference to tokenizer_config.json's.
pub fn with_chat_template_file(tokenizer_config: Option<&[u8]>, template: &[u8]) -> Result<Vec<u8>> {
    let template = std::str::from_utf8(template).map_err(|_| Error::Weights("chat_template.jinja is not UTF-8 text".into()))?;
    let mut config = match tokenizer_config {
        Some(bytes) => serde_json::from_slice(bytes).map_err(|e| Error::Weights(format!("tokenizer_config.json is not valid JSON: {e}")))?,
        None => serde_json::json!({}),
    };
    let Json::Object(fields) = &mut config else {
        return Err(Error::Weights("tokenizer_config.json is not a JSON object".into()));
    };
    fields.insert("chat_template".into(), template.into());
    serde_json::to_vec(&config).map_err(|e| Error::Backend(format!("tokenizer_config.json: {e}")))
}

fn chat_template(bytes: &[u8]) -> Result<Option<ChatTemplate>> {
    let v: Json = serde_json::from_slice(bytes).map_err(|e| Error::Weights(format!("tokenizer_config.json is not valid JSON: {e}")))?;
    let source = match &v["chat_template"] {
        Json::String(s) => s.clone(),
        Json::Array(list) => match list.iter().find(|t| t["name"] == "default").and_then(|t| t["template"].as_str()) {
            Some(s) => s.to_string(),
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    let token = |key: &str| match &v[key] {
        Json::String(s) => s.clone(),
        Json::Object(o) => o.get("content").and_then(Json::as_str).unwrap_or_default().to_string(),
        _ => String::new(),
    };
    Ok(Some(ChatTemplate::new(&source, &token("bos_token"), &token("eos_token"))?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_template_file_wins_over_tokenizer_config_and_keeps_its_tokens() {
        let config = br#"{"bos_token": "<s>", "eos_token": {"content": "</s>"}, "chat_template": "old"}"#;
        let merged = with_chat_template_file(Some(config), b"{{ bos_token }}{% for m in messages %}{{ m['content'] }}{{ eos_token }}{% endfor %}").unwrap();
        let template = chat_template(&merged).unwrap().expect("a template");
        let text = template.render(&[Message { role: "user".into(), content: "hi".into() }], false).unwrap();
        assert_eq!(text, "<s>hi</s>");
        let alone = with_chat_template_file(None, b"{{ messages[0]['content'] }}").unwrap();
        assert!(chat_template(&alone).unwrap().is_some(), "a folder with chat_template.jinja and no tokenizer_config.json");
        assert!(with_chat_template_file(Some(b"[1]"), b"x").unwrap_err().to_string().contains("not a JSON object"));
        assert!(with_chat_template_file(None, &[0xff, 0xfe]).unwrap_err().to_string().contains("not UTF-8"));
    }
}
