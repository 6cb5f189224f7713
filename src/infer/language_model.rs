//! Scoring text with a decoder: examples → token rows the way the model reads them (its
//! tokenizer, BOS policy and chat template), the next-token loss of Hugging Face's
//! `LlamaForCausalLM(labels=…)` (mean over the tokens to learn), and evaluation (loss, perplexity).
//! Fine-tuning a decoder optimises the same loss.

use burn::tensor::{Device, Int, Tensor, TensorData, activation::log_softmax};

use crate::{
    ComputeDevice, Error, Result,
    data::TextExample,
    infer::{generate::Decoder, metrics::LmMetrics, text_generation::DecoderTokenizer},
    models::decoder::CausalLogits,
    tokenizer::chat::Message,
};

/// One example as token ids: the model learns `ids[prompt..]` (each from the tokens before it).
#[derive(Clone, Debug, PartialEq)]
pub struct LmRow {
    pub ids: Vec<u32>,
    pub prompt: usize,
}

/// Turns examples into [`LmRow`]s the way this model reads text.
pub struct LmRowEncoder<'a> {
    side: &'a DecoderTokenizer,
    bos: Option<u32>,
    eos: Option<u32>,
    chat: bool,
}

impl<'a> LmRowEncoder<'a> {
    /// `chat`: wrap prompt/completion pairs in the model's chat template (`None`: when it has one).
    pub fn new(decoder: &'a Decoder, chat: Option<bool>) -> Result<Self> {
        let side = decoder.text.as_ref().ok_or_else(|| {
            Error::Options("this model was loaded without a tokenizer: load it with its tokenizer.json (or from a GGUF file)".into())
        })?;
        if chat == Some(true) && side.chat.is_none() {
            return Err(Error::Options("chatTemplate is true but this model has no chat template; leave chatTemplate out".into()));
        }
        Ok(LmRowEncoder {
            side,
            bos: decoder.config.bos_token_id(),
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
pub fn encode_all(encoder: &LmRowEncoder, examples: &[TextExample], max_length: usize, what: &str) -> Result<(Vec<LmRow>, Vec<String>)> {
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
fn nll_sum(model: &impl CausalLogits, batch: &LmBatch) -> Tensor<1> {
    let logits = model.logits(batch.ids.clone(), Some(batch.mask.clone()));
    let [b, t, v] = logits.dims();
    let logits = logits.slice([0..b, 0..t - 1, 0..v]).reshape([b * (t - 1), v]);
    let logp = log_softmax(logits, 1);
    let n = b * (t - 1);
    let picked = logp.gather(1, batch.targets.clone().reshape([n, 1])).reshape([n]);
    (picked * batch.weights.clone()).sum().neg()
}

/// Mean next-token cross-entropy of `rows` under `model` (as `LlamaForCausalLM(labels=…).loss`)
/// and the number of target tokens.
pub fn loss(model: &impl CausalLogits, rows: &[&LmRow], pad: u32, device: &Device) -> (Tensor<1>, usize) {
    let batch = lm_batch(rows, pad, device);
    let tokens = batch.tokens;
    (nll_sum(model, &batch).div_scalar(tokens.max(1) as f64), tokens)
}

/// Loss and perplexity of `model` (inference mode) on `rows`, in batches of `batch_size`.
pub async fn evaluate(model: &impl CausalLogits, device: &ComputeDevice, rows: &[LmRow], pad: u32, batch_size: usize) -> Result<LmMetrics> {
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
