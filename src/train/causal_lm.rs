//! Fine-tuning a decoder as a causal language model (a [`Task`] for the shared loop in
//! [`super::trainer`]): next-token cross-entropy over the tokens the model should learn — every
//! token of a plain text, only the completion of a prompt/completion pair — as Hugging Face's
//! `LlamaForCausalLM(labels=…)` computes it (mean over the target tokens of the batch).
//!
//! Prompt/completion pairs go through the model's chat template when it has one (a user turn and
//! the assistant's reply, as `chat()` will later ask), unless `chatTemplate: false`.
//!
//! With `lora`, only adapters on the chosen projections train (see [`super::lora`]); checkpoints
//! then hold the adapters (PEFT's file), and the base weights stay as they were.

use burn::tensor::{Device, Int, Tensor, TensorData, activation::log_softmax};

use super::{
    Checkpoint, Evaluation, Hooks, LmMetrics, MemoryPlan, Run, TrainOptions,
    checkpoint::fnv,
    lora::{LoraOptions, export_adapter, load_adapter},
    metrics::LANGUAGE_METRICS,
    trainer::{self, Task},
};
use crate::{
    ComputeDevice, Error, Result,
    data::TextExample,
    infer::{generate::Decoder, text_generation::TextSide},
    models::llama::{LlamaConfig, LlamaForCausalLM},
    tokenizer::chat::Message,
    weights::{LoadReport, llama},
};

/// One example as token ids: the model learns `ids[prompt..]` (each from the tokens before it).
#[derive(Clone, Debug, PartialEq)]
pub struct LmRow {
    pub ids: Vec<u32>,
    pub prompt: usize,
}

/// Turns examples into [`LmRow`]s the way this model reads text.
pub struct Encoder<'a> {
    side: &'a TextSide,
    bos: Option<u32>,
    eos: Option<u32>,
    chat: bool,
}

impl<'a> Encoder<'a> {
    /// `chat`: wrap prompt/completion pairs in the model's chat template (`None`: when it has one).
    pub fn new(decoder: &'a Decoder, chat: Option<bool>) -> Result<Self> {
        let side = decoder.text.as_ref().ok_or_else(|| {
            Error::Options("this model was loaded without a tokenizer: load it with its tokenizer.json (or from a GGUF file)".into())
        })?;
        if chat == Some(true) && side.chat.is_none() {
            return Err(Error::Options("chatTemplate is true but this model has no chat template; leave chatTemplate out".into()));
        }
        Ok(Encoder {
            side,
            bos: decoder.config.bos_token_id,
            eos: decoder.config.eos_ids().first().copied(),
            chat: chat.unwrap_or(side.chat.is_some()),
        })
    }

    /// The example as ids, at most `max_length` of them (longer ones are cut at the end).
    pub fn encode(&self, e: &TextExample, max_length: usize) -> Result<LmRow> {
        let tok = &self.side.tokenizer;
        let named = |r: Result<Vec<u32>>| r.map_err(|err| Error::Data(format!("{}: {err}", e.origin)));
        let (mut ids, completion) = match (&e.prompt, &self.side.chat) {
            (Some(prompt), Some(template)) if self.chat => {
                let user = Message { role: "user".into(), content: prompt.clone() };
                let asked = template.render(std::slice::from_ref(&user), true)?;
                let answered = template.render(&[user, Message { role: "assistant".into(), content: e.completion.clone() }], false)?;
                let reply = answered.strip_prefix(asked.as_str()).ok_or_else(|| {
                    Error::Data(format!(
                        "{}: this model's chat template does not write a reply after the prompt it renders; pass chatTemplate: false",
                        e.origin
                    ))
                })?;
                (named(tok.ids(&asked, false))?, named(tok.ids(reply, false))?)
            }
            _ => {
                let mut start = match &e.prompt {
                    Some(p) => named(tok.ids(p, true))?,
                    None => named(tok.ids("", true))?, // the BOS a text starts with, if any
                };
                if self.side.add_bos
                    && let Some(bos) = self.bos
                    && start.first() != Some(&bos)
                {
                    start.insert(0, bos);
                }
                let mut rest = named(tok.ids(&e.completion, false))?;
                rest.extend(self.eos);
                (start, rest)
            }
        };
        let prompt = ids.len();
        ids.extend(completion);
        ids.truncate(max_length);
        Ok(LmRow { ids, prompt })
    }
}

/// Encodes every example; those with no token to learn within `max_length` are left out (and
/// reported in the returned warnings), as are counts of truncated ones.
pub fn encode_all(encoder: &Encoder, examples: &[TextExample], max_length: usize, what: &str) -> Result<(Vec<LmRow>, Vec<String>)> {
    let (mut rows, mut cut, mut dropped) = (Vec::new(), 0, Vec::new());
    for e in examples {
        let row = encoder.encode(e, max_length)?;
        if row.ids.len() == max_length {
            cut += 1;
        }
        if row.ids.len() <= row.prompt.max(1) {
            dropped.push(e.origin.clone());
        } else {
            rows.push(row);
        }
    }
    let mut warnings = Vec::new();
    if cut > 0 {
        warnings.push(format!("{cut} {what} examples reached maxLength ({max_length} tokens) and were cut; raise maxLength to keep them whole"));
    }
    if !dropped.is_empty() {
        let first: Vec<&str> = dropped.iter().take(3).map(String::as_str).collect();
        warnings.push(format!(
            "{} {what} examples have no completion token within maxLength ({max_length}) and were left out ({}{}); raise maxLength or shorten their prompts",
            dropped.len(),
            first.join(", "),
            if dropped.len() > 3 { ", …" } else { "" }
        ));
    }
    if rows.is_empty() && !examples.is_empty() {
        return Err(Error::Data(format!("no {what} example has a token to learn within maxLength ({max_length}); raise maxLength")));
    }
    Ok((rows, warnings))
}

/// A padded batch on the device: inputs and, per predicted position, the target and its weight
/// (1 for a token to learn, 0 for prompts and padding).
struct LmBatch {
    ids: Tensor<2, Int>,
    mask: Tensor<2, Int>,
    targets: Tensor<1, Int>,
    weights: Tensor<1>,
    tokens: usize,
}

fn lm_batch(rows: &[&LmRow], pad: u32, device: &Device) -> LmBatch {
    let (b, t) = (rows.len(), rows.iter().map(|r| r.ids.len()).max().unwrap_or(2).max(2));
    let mut ids = vec![pad as i64; b * t];
    let mut mask = vec![0i64; b * t];
    let mut targets = vec![0i64; b * (t - 1)];
    let mut weights = vec![0f32; b * (t - 1)];
    for (r, row) in rows.iter().enumerate() {
        for (j, &id) in row.ids.iter().enumerate() {
            ids[r * t + j] = id as i64;
            mask[r * t + j] = 1;
            // position j-1 predicts token j
            if j >= 1 && j >= row.prompt {
                targets[r * (t - 1) + j - 1] = id as i64;
                weights[r * (t - 1) + j - 1] = 1.0;
            }
        }
    }
    let tokens = weights.iter().filter(|w| **w != 0.0).count();
    LmBatch {
        ids: Tensor::from_data(TensorData::new(ids, [b, t]), device),
        mask: Tensor::from_data(TensorData::new(mask, [b, t]), device),
        targets: Tensor::from_data(TensorData::new(targets, [b * (t - 1)]), device),
        weights: Tensor::from_data(TensorData::new(weights, [b * (t - 1)]), device),
        tokens,
    }
}

/// Summed next-token negative log-likelihood of the batch's target tokens ([1]).
fn nll_sum(model: &LlamaForCausalLM, batch: &LmBatch) -> Tensor<1> {
    let logits = model.forward(batch.ids.clone(), Some(batch.mask.clone()), None);
    let [b, t, v] = logits.dims();
    let logits = logits.slice([0..b, 0..t - 1, 0..v]).reshape([b * (t - 1), v]);
    let logp = log_softmax(logits, 1);
    let n = b * (t - 1);
    let picked = logp.gather(1, batch.targets.clone().reshape([n, 1])).reshape([n]);
    (picked * batch.weights.clone()).sum().neg()
}

/// Mean next-token cross-entropy of `rows` under `model` (as `LlamaForCausalLM(labels=…).loss`)
/// and the number of target tokens.
pub fn loss(model: &LlamaForCausalLM, rows: &[&LmRow], pad: u32, device: &Device) -> (Tensor<1>, usize) {
    let batch = lm_batch(rows, pad, device);
    let tokens = batch.tokens;
    (nll_sum(model, &batch).div_scalar(tokens.max(1) as f64), tokens)
}

/// Loss and perplexity of `model` (inference mode) on `rows`, in batches of `batch_size`.
pub async fn evaluate(model: &LlamaForCausalLM, device: &ComputeDevice, rows: &[LmRow], pad: u32, batch_size: usize) -> Result<LmMetrics> {
    if rows.is_empty() {
        return Err(Error::Data("the evaluation data has no rows".into()));
    }
    let refs: Vec<&LmRow> = rows.iter().collect();
    let (mut sum, mut tokens): (Option<Tensor<1>>, usize) = (None, 0);
    for chunk in refs.chunks(batch_size.max(1)) {
        let batch = lm_batch(chunk, pad, device.device());
        tokens += batch.tokens;
        let s = nll_sum(model, &batch);
        sum = Some(match sum {
            Some(acc) => acc + s,
            None => s,
        });
        crate::device::yield_now().await;
    }
    let loss = device.read_scalar(sum.expect("at least one batch")).await? / tokens.max(1) as f64;
    Ok(LmMetrics { loss, perplexity: loss.exp(), tokens, examples: rows.len() })
}

/// Fine-tunes `decoder` on `device` (all weights, or LoRA adapters with `options.lora`) on
/// `train`, evaluating on `validation` (if any); with `resume`, continues a stored run. With LoRA,
/// `adapter` (a PEFT `adapter_model.safetensors` for `options.lora`) is where the adapters start,
/// instead of fresh ones: it continues training a saved adapter. The trained model is returned on
/// the inference device.
#[allow(clippy::too_many_arguments)]
pub async fn fine_tune(
    decoder: &Decoder,
    device: &ComputeDevice,
    adapter: Option<&[u8]>,
    train: &[TextExample],
    validation: Option<&[TextExample]>,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
    hooks: Hooks<'_>,
) -> Result<Run<LlamaForCausalLM>> {
    options.validate()?;
    if adapter.is_some() && options.lora.is_none() {
        return Err(Error::Options("an adapter to start from needs lora options (its rank, alpha and target modules)".into()));
    }
    if decoder.lora.is_some() {
        return Err(Error::Options(
            "this model already carries LoRA adapters; save it (format \"huggingface\" merges them) and load that to train again".into(),
        ));
    }
    options.check_metric(LANGUAGE_METRICS, "a language model")?;
    let max_length = options.max_length.min(decoder.config.max_position_embeddings);
    let encoder = Encoder::new(decoder, options.chat_template)?;
    if train.is_empty() {
        return Err(Error::Data("the training data has no rows".into()));
    }
    let (train_rows, mut warnings) = encode_all(&encoder, train, max_length, "training")?;
    let validation_rows = match validation {
        Some(v) => {
            let (rows, w) = encode_all(&encoder, v, max_length, "validation")?;
            warnings.extend(w);
            rows
        }
        None => Vec::new(),
    };
    let side = decoder.text.as_ref().expect("checked by Encoder::new");
    // The run starts from the decoder's current weights (they may themselves be fine-tuned); LoRA
    // keeps them as its frozen base, and a resumed full run has its own in the checkpoint.
    let mut weights = match (resume, &options.lora) {
        (Some(_), None) => Vec::new(),
        _ => llama::export_causal_lm(&decoder.model, &decoder.device).await?,
    };
    let task = CausalLm {
        lora: options.lora.clone(),
        base: if options.lora.is_some() { std::mem::take(&mut weights) } else { Vec::new() },
        adapter: adapter.map(<[u8]>::to_vec),
        config: decoder.config.clone(),
        fingerprint: fnv(train_rows.iter().flat_map(|r| {
            let ids: Vec<u8> = r.ids.iter().flat_map(|i| i.to_le_bytes()).collect();
            [ids, (r.prompt as u64).to_le_bytes().to_vec()]
        })),
        train: train_rows,
        validation: validation_rows,
        pad: side.tokenizer.pad_id(),
        batch_size: options.batch_size,
        warnings,
    };
    trainer::run(&task, weights, device, options, resume, hooks).await
}

/// Causal language modelling as a [`Task`].
struct CausalLm {
    config: LlamaConfig,
    /// LoRA: the adapters' settings, the frozen base weights, and the adapter to start from.
    lora: Option<LoraOptions>,
    base: Vec<u8>,
    adapter: Option<Vec<u8>>,
    train: Vec<LmRow>,
    validation: Vec<LmRow>,
    fingerprint: String,
    pad: u32,
    batch_size: usize,
    warnings: Vec<String>,
}

impl Task for CausalLm {
    type Model = LlamaForCausalLM;

    fn examples(&self) -> usize {
        self.train.len()
    }

    fn validation_examples(&self) -> usize {
        self.validation.len()
    }

    fn labels(&self) -> Vec<String> {
        Vec::new()
    }

    fn lengths(&self) -> Result<Vec<usize>> {
        Ok(self.train.iter().map(|r| r.ids.len()).collect())
    }

    fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    fn memory(&self, batch: usize) -> MemoryPlan {
        let longest = self.train.iter().map(|r| r.ids.len()).max().unwrap_or_default();
        let lora = self.lora.as_ref().map(|l| l.sizes(&self.config));
        super::memory::plan_causal_lm(&self.config, batch, longest, lora)
    }

    /// HF Trainer: no decay on biases and norm weights.
    fn no_decay(path: &str) -> bool {
        path.ends_with(".bias") || path.contains("norm.")
    }

    /// With LoRA, `weights` are the adapters (a checkpoint's) unless `fresh`: the base is ours.
    fn load(&self, weights: Vec<u8>, device: &Device, fresh: bool) -> Result<(Self::Model, LoadReport)> {
        let (model, mut report) = match &self.lora {
            None => llama::load_causal_lm(&self.config, weights, device)?,
            Some(lora) => {
                let (base, report) = llama::load_causal_lm(&self.config, self.base.clone(), device)?;
                let model = lora.apply(base);
                let model = match (fresh, &self.adapter) {
                    (false, _) => load_adapter(model, &weights)?,
                    (true, Some(start)) => load_adapter(model, start)?,
                    (true, None) => model,
                };
                (model, report)
            }
        };
        if fresh {
            report.warnings.extend(self.warnings.iter().cloned());
        }
        Ok((model, report))
    }

    fn loss(&self, model: &Self::Model, rows: &[usize], device: &Device) -> Result<(Tensor<1>, usize)> {
        let rows: Vec<&LmRow> = rows.iter().map(|&i| &self.train[i]).collect();
        Ok(loss(model, &rows, self.pad, device))
    }

    async fn evaluate(&self, model: &Self::Model, device: &ComputeDevice) -> Result<Evaluation> {
        Ok(Evaluation::Language(evaluate(model, device, &self.validation, self.pad, self.batch_size).await?))
    }

    fn config(&self) -> Result<Vec<u8>> {
        self.config.to_json()
    }

    async fn export(&self, model: &Self::Model, device: &ComputeDevice) -> Result<Vec<u8>> {
        match &self.lora {
            None => llama::export_causal_lm(model, device).await,
            Some(_) => export_adapter(model, device).await,
        }
    }
}
