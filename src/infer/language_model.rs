//! Scoring text with a decoder: examples → token rows the way the model reads them (its
//! tokenizer, BOS policy and chat template), the next-token loss of Hugging Face's
//! `LlamaForCausalLM(labels=…)` (mean over the tokens to learn; for a plain-matrix head taken in
//! chunks of positions, [`lm_loss`]), and evaluation (loss, perplexity).
//! Fine-tuning a decoder optimises the same loss.

use std::ops::Range;

use burn::tensor::{Device, Int, Tensor, TensorData, activation::log_softmax};

use crate::{
    ComputeDevice, Error, Result,
    data::{TextContent, TextExample},
    infer::{generate::Decoder, lm_loss, metrics::LmMetrics},
    models::decoder::{CausalLogits, LossInputs},
    tokenizer::{chat::Message, decoder::DecoderTokenizer},
};

/// One example as token ids, and which positions the model learns (each from the tokens before it).
#[derive(Clone, Debug, PartialEq)]
pub struct LmRow {
    pub ids: Vec<u32>,
    /// Sorted, disjoint ranges of positions in `ids` whose tokens are learned.
    pub learn: Vec<Range<usize>>,
}

impl LmRow {
    /// A row learning everything from `prompt` on.
    pub fn after(ids: Vec<u32>, prompt: usize) -> Self {
        let learn = vec![prompt.min(ids.len())..ids.len()];
        LmRow { ids, learn }
    }

    /// Whether position `j` is learned (position 0 never is: nothing comes before it).
    pub fn learns(&self, j: usize) -> bool {
        j >= 1 && self.learn.iter().any(|r| r.contains(&j))
    }

    /// How many tokens this row teaches.
    pub fn learned(&self) -> usize {
        (1..self.ids.len()).filter(|&j| self.learns(j)).count()
    }

    /// The first learned position (the row's prompt length for a prompt/completion pair).
    pub fn first_learned(&self) -> Option<usize> {
        (1..self.ids.len()).find(|&j| self.learns(j))
    }

    /// Cuts the row to `max_length` tokens.
    fn truncate(&mut self, max_length: usize) {
        self.ids.truncate(max_length);
        for r in &mut self.learn {
            r.end = r.end.min(max_length);
            r.start = r.start.min(r.end);
        }
        self.learn.retain(|r| !r.is_empty());
    }

    /// Bytes that identify the row (ids and learned ranges), for a run's data fingerprint.
    pub fn fingerprint(&self) -> Vec<u8> {
        let mut out: Vec<u8> = self.ids.iter().flat_map(|i| i.to_le_bytes()).collect();
        for r in &self.learn {
            out.extend((r.start as u64).to_le_bytes());
            out.extend((r.end as u64).to_le_bytes());
        }
        out
    }
}

/// The ranges where `mask` is true.
fn ranges(mask: &[bool]) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    for (j, _) in mask.iter().enumerate().filter(|(_, m)| **m) {
        match out.last_mut() {
            Some(r) if r.end == j => r.end += 1,
            _ => out.push(j..j + 1),
        }
    }
    out
}

/// Turns examples into [`LmRow`]s the way this model reads text.
pub struct LmRowEncoder<'a> {
    side: &'a DecoderTokenizer,
    bos: Option<u32>,
    eos: Option<u32>,
    chat: bool,
}

/// The tokens an [`LmRowEncoder`] adds around a text, and the padding of its batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Framing {
    /// BOS, when the model has one.
    pub bos: Option<u32>,
    /// Whether BOS is put before a text whose tokenizer does not add it.
    pub add_bos: bool,
    /// What ends a text learned in full (the model's first EOS).
    pub eos: Option<u32>,
    /// What pads a batch.
    pub pad: u32,
}

impl<'a> LmRowEncoder<'a> {
    /// Whether prompt/completion rows go through the model's chat template.
    pub fn chat(&self) -> bool {
        self.chat
    }

    /// The tokens it adds around texts, and the pad.
    pub fn framing(&self) -> Framing {
        Framing { bos: self.bos, add_bos: self.side.add_bos, eos: self.eos, pad: self.side.tokenizer.pad_id() }
    }

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
            bos: decoder.config().bos_token_id(),
            eos: decoder.config().eos_ids().first().copied(),
            chat: chat.unwrap_or(side.chat.is_some()),
        })
    }

    /// The example as ids, at most `max_length` of them (longer ones are cut at the end).
    pub fn encode(&self, e: &TextExample, max_length: usize) -> Result<LmRow> {
        let tok = &self.side.tokenizer;
        let named = |r: Result<Vec<u32>>| r.map_err(|err| Error::Data(format!("{}: {err}", e.origin)));
        let mut row = match (&e.content, &self.side.chat) {
            (TextContent::Conversation(messages), Some(template)) if self.chat => {
                let (text, spans) = template.render_with_assistant_spans(messages).map_err(|err| Error::Data(format!("{}: {err}", e.origin)))?;
                let (ids, mask) = tok.ids_with_mask(&text, &spans).map_err(|err| Error::Data(format!("{}: {err}", e.origin)))?;
                LmRow { ids, learn: ranges(&mask) }
            }
            (TextContent::Conversation(_), _) => {
                return Err(Error::Data(format!(
                    "{}: conversation rows (messages) need the model's chat template, and {}; use a chat model, or prompt/completion or text rows",
                    e.origin,
                    if self.side.chat.is_none() { "this model has none" } else { "chatTemplate is false" }
                )));
            }
            (TextContent::Pair { prompt, completion }, Some(template)) if self.chat => {
                let user = Message { role: "user".into(), content: prompt.clone() };
                let asked = template.render(std::slice::from_ref(&user), true)?;
                let answered = template.render(&[user, Message { role: "assistant".into(), content: completion.clone() }], false)?;
                let reply = answered.strip_prefix(asked.as_str()).ok_or_else(|| {
                    Error::Data(format!(
                        "{}: this model's chat template does not write a reply after the prompt it renders; pass chatTemplate: false",
                        e.origin
                    ))
                })?;
                let mut ids = named(tok.ids(&asked, false))?;
                let prompt = ids.len();
                ids.extend(named(tok.ids(reply, false))?);
                LmRow::after(ids, prompt)
            }
            (TextContent::Pair { prompt, completion }, _) => self.plain(Some(prompt), completion, &named)?,
            (TextContent::Text(text), _) => self.plain(None, text, &named)?,
        };
        row.truncate(max_length);
        Ok(row)
    }

    /// BOS (as the model expects), the prompt if any, then the text to learn and EOS.
    fn plain(&self, prompt: Option<&str>, learned: &str, named: &dyn Fn(Result<Vec<u32>>) -> Result<Vec<u32>>) -> Result<LmRow> {
        let tok = &self.side.tokenizer;
        let mut ids = named(tok.ids(prompt.unwrap_or(""), true))?; // "" gives the BOS a text starts with, if any
        self.ensure_bos(&mut ids);
        let start = ids.len();
        ids.extend(named(tok.ids(learned, false))?);
        ids.extend(self.eos);
        Ok(LmRow::after(ids, start))
    }

    fn ensure_bos(&self, ids: &mut Vec<u32>) {
        if self.side.add_bos
            && let Some(bos) = self.bos
            && ids.first() != Some(&bos)
        {
            ids.insert(0, bos);
        }
    }

    /// Packs plain texts as transformers' `run_clm.py` groups them: each text tokenized as the
    /// model reads one (its BOS, if any) and followed by EOS (as TRL's packing separates
    /// documents), all concatenated and cut into blocks of `block` tokens, every token learned;
    /// the remainder shorter than a block is dropped.
    pub fn pack(&self, examples: &[TextExample], block: usize, what: &str) -> Result<Vec<LmRow>> {
        let tok = &self.side.tokenizer;
        let mut stream = Vec::new();
        for e in examples {
            let TextContent::Text(text) = &e.content else {
                return Err(Error::Data(format!(
                    "{}: packing joins plain texts, but this row is a prompt/completion pair or a conversation; leave packing off for such rows",
                    e.origin
                )));
            };
            let mut ids = tok.ids(text, true).map_err(|err| Error::Data(format!("{}: {err}", e.origin)))?;
            self.ensure_bos(&mut ids);
            stream.extend(ids);
            stream.extend(self.eos);
        }
        if stream.len() < block {
            return Err(Error::Data(format!(
                "the {what} texts make {} tokens, fewer than one block of {block} (maxLength); add text or lower maxLength",
                stream.len()
            )));
        }
        Ok(stream.chunks_exact(block).map(|c| LmRow { ids: c.to_vec(), learn: vec![0..block] }).collect())
    }
}

/// Encodes every example (with `packing`, into blocks of `max_length` tokens); those with no
/// token to learn within `max_length` are left out (and reported in the returned warnings), as
/// are counts of truncated ones.
pub fn encode_all(encoder: &LmRowEncoder, examples: &[TextExample], max_length: usize, packing: bool, what: &str) -> Result<(Vec<LmRow>, Vec<String>)> {
    if packing {
        return Ok((encoder.pack(examples, max_length, what)?, Vec::new()));
    }
    let (mut rows, mut cut, mut dropped) = (Vec::new(), 0, Vec::new());
    for e in examples {
        let row = encoder.encode(e, max_length)?;
        if row.ids.len() == max_length {
            cut += 1;
        }
        if row.learned() == 0 {
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
    /// Per predicted position ([batch × (seq − 1)], on the host).
    targets: Vec<i64>,
    weights: Vec<f32>,
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
            if row.learns(j) {
                targets[r * (t - 1) + j - 1] = id as i64;
                weights[r * (t - 1) + j - 1] = 1.0;
            }
        }
    }
    let tokens = weights.iter().filter(|w| **w != 0.0).count();
    LmBatch {
        ids: Tensor::from_data(TensorData::new(ids, [b, t]), device),
        mask: Tensor::from_data(TensorData::new(mask, [b, t]), device),
        targets,
        weights,
        tokens,
    }
}

/// Summed next-token negative log-likelihood of the batch's target tokens ([1]): from the hidden
/// states in chunks of positions when the head is a plain matrix ([`lm_loss`]), else from the logits.
fn nll_sum(model: &impl CausalLogits, batch: &LmBatch) -> Tensor<1> {
    let device = batch.ids.device();
    match model.loss_inputs(batch.ids.clone(), Some(batch.mask.clone())) {
        LossInputs::HiddenAndHead { hidden, head } => {
            let [b, t, h] = hidden.dims();
            let hidden = hidden.slice([0..b, 0..t - 1, 0..h]).reshape([b * (t - 1), h]);
            lm_loss::nll_sum(hidden, head, &batch.targets, &batch.weights)
        }
        LossInputs::Logits(logits) => {
            let [b, t, v] = logits.dims();
            let logits = logits.slice([0..b, 0..t - 1, 0..v]).reshape([b * (t - 1), v]);
            let logp = log_softmax(logits, 1);
            let n = b * (t - 1);
            let targets = Tensor::<2, Int>::from_data(TensorData::new(batch.targets.clone(), [n, 1]), &device);
            let weights = Tensor::<1>::from_data(TensorData::new(batch.weights.clone(), [n]), &device);
            (logp.gather(1, targets).reshape([n]) * weights).sum().neg()
        }
    }
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
    Ok(LmMetrics { loss, perplexity: loss.exp(), tokens, examples: rows.len(), bleu: None, rouge_l: None, answers: None })
}
