//! A loaded BERT-family masked language model: transformers' `pipeline("fill-mask")` (the most
//! likely tokens for each mask, optionally among `targets`), masked-LM loss and perplexity on
//! texts, export as `*ForMaskedLM`.

use burn::tensor::{Int, Tensor, TensorData, activation::softmax};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::{ModelFiles, encoder::encoder_parts, metrics::LmMetrics};
use crate::{
    ComputeDevice, Error, Result,
    data::{batch_tensors, masking::{Masking, mask_sequence, word_groups}},
    models::{bert::BertConfig, masked_lm::BertForMaskedLM},
    tokenizer::{Batch, TextTokenizer},
    weights::{LoadReport, masked_lm},
};

/// One candidate for a mask.
#[derive(Clone, Debug, PartialEq, Serialize, ts_rs::TS)]
pub struct MaskFill {
    /// Its probability at the mask (among all tokens, also when `targets` narrow the candidates).
    pub score: f32,
    /// Its token id.
    pub token: u32,
    /// The token as text.
    pub token_str: String,
    /// The input with the mask replaced by it (special tokens left out when the text has one mask).
    pub sequence: String,
}

/// A masked batch ready for the model: ids, the flattened positions of learned tokens and their
/// labels.
pub struct MaskedBatch {
    pub tokens: Batch,
    pub positions: Vec<i32>,
    pub labels: Vec<i32>,
}

/// Tokenizes `texts` (cut at `max_length`) and masks them with `rng` as the collator does; a batch
/// in which no token was chosen gets its first eligible token chosen, so that every batch has a
/// loss (PyTorch's would be NaN).
pub fn masked_batch(tokenizer: &TextTokenizer, texts: &[&str], max_length: usize, mask_id: u32, masking: Masking, rng: &mut ChaCha8Rng) -> Result<MaskedBatch> {
    let vocab = tokenizer.vocab_len() as u32;
    let mut rows = Vec::with_capacity(texts.len());
    for text in texts {
        let enc = tokenizer.encode_offsets(text, max_length)?;
        let words = masking.whole_word.then(|| word_groups(&enc.offsets, &enc.special));
        let m = mask_sequence(&enc.ids, &enc.special, words.as_deref(), mask_id, vocab, masking, rng);
        rows.push((enc, m));
    }
    if rows.iter().all(|(_, m)| m.labels.iter().all(|&l| l < 0))
        && let Some((enc, m)) = rows.iter_mut().find(|(e, _)| e.special.iter().any(|s| !s))
        && let Some(i) = enc.special.iter().position(|s| !s)
    {
        m.labels[i] = enc.ids[i] as i64;
        m.inputs[i] = mask_id;
    }
    let seq = rows.iter().map(|(e, _)| e.ids.len()).max().unwrap_or(0);
    let pad = tokenizer.pad_id() as i32;
    let mut b = Batch { input_ids: vec![], attention_mask: vec![], token_type_ids: vec![], batch: texts.len(), seq };
    let (mut positions, mut labels) = (Vec::new(), Vec::new());
    for (r, (enc, m)) in rows.iter().enumerate() {
        let fill = seq - m.inputs.len();
        b.input_ids.extend(m.inputs.iter().map(|&x| x as i32).chain(std::iter::repeat_n(pad, fill)));
        b.attention_mask.extend(std::iter::repeat_n(1, m.inputs.len()).chain(std::iter::repeat_n(0, fill)));
        b.token_type_ids.extend(enc.type_ids.iter().map(|&x| x as i32).chain(std::iter::repeat_n(0, fill)));
        for (i, &l) in m.labels.iter().enumerate() {
            if l >= 0 {
                positions.push((r * seq + i) as i32);
                labels.push(l as i32);
            }
        }
    }
    Ok(MaskedBatch { tokens: b, positions, labels })
}

/// Mean masked-LM cross-entropy of `model` on a masked batch, and how many tokens it covers.
pub fn masked_lm_loss(model: &BertForMaskedLM, batch: &MaskedBatch, device: &burn::tensor::Device) -> (Tensor<1>, usize) {
    let [ids, types, mask] = batch_tensors(&batch.tokens, device);
    let n = batch.positions.len();
    let positions = Tensor::<1, Int>::from_data(TensorData::new(batch.positions.clone(), [n]), device);
    let labels = Tensor::<1, Int>::from_data(TensorData::new(batch.labels.clone(), [n]), device);
    let logits = model.logits_at(ids, types, mask, positions);
    let ce = burn::nn::loss::CrossEntropyLossConfig::new().init(device);
    (ce.forward(logits, labels), n)
}

/// What draws the fixed masks of the `chunk`-th evaluation batch of a run with `seed`.
pub fn evaluation_masks(seed: u64, chunk: usize) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed ^ (chunk as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Masked-LM loss and perplexity of `model` on `texts`, each masked with a fixed draw (seeded by
/// `seed` and its position, so every evaluation of a run sees the same masks).
pub async fn evaluate_masked_lm(
    model: &BertForMaskedLM,
    device: &ComputeDevice,
    tokenizer: &TextTokenizer,
    texts: &[String],
    settings: (usize, usize, Masking, u64),
) -> Result<LmMetrics> {
    let (max_length, batch_size, masking, seed) = settings;
    if texts.is_empty() {
        return Err(Error::Data("the evaluation data has no texts".into()));
    }
    let mask_id = tokenizer.mask_id().ok_or_else(no_mask_token)?;
    let (mut sum, mut tokens) = (0.0, 0usize);
    for (chunk_index, chunk) in texts.chunks(batch_size.max(1)).enumerate() {
        let mut rng = evaluation_masks(seed, chunk_index);
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let batch = masked_batch(tokenizer, &refs, max_length, mask_id, masking, &mut rng)?;
        let (loss, n) = masked_lm_loss(model, &batch, device.device());
        sum += device.read_scalar(loss).await? * n as f64;
        tokens += n;
    }
    let loss = sum / tokens.max(1) as f64;
    Ok(LmMetrics { loss, perplexity: loss.exp(), tokens, examples: texts.len(), bleu: None, rouge_l: None, answers: None })
}

fn no_mask_token() -> Error {
    Error::Weights("tokenizer.json has no mask token ([MASK] or <mask>): fill-mask needs the tokenizer of a masked language model".into())
}

/// A masked language model ready for inference.
pub struct MaskedLm {
    pub config: BertConfig,
    pub tokenizer: TextTokenizer,
    pub model: BertForMaskedLM,
    pub device: ComputeDevice,
    /// What loading reported (a fresh head, ignored keys, casts).
    pub report: LoadReport,
    /// Longest input in tokens; longer texts are cut.
    pub max_length: usize,
    /// Texts per forward pass.
    pub batch_size: usize,
    mask_id: u32,
    source_config: Vec<u8>,
    source_tokenizer: Vec<u8>,
}

impl MaskedLm {
    /// Loads config, weights and tokenizer onto `device` (inference mode, no autodiff).
    pub fn load(files: ModelFiles, device: &ComputeDevice) -> Result<Self> {
        let (config, tokenizer, device, weights, sources) = encoder_parts(files, device)?;
        let (model, report) = masked_lm::load_masked_lm(&config, weights, device.device())?;
        Ok(MaskedLm { report, ..Self::from_model(config, tokenizer, model, device, &sources)? })
    }

    /// A masked LM around a model built in this process (e.g. trained) on `device`; `files` are
    /// the ones it started from.
    pub fn from_model(config: BertConfig, tokenizer: TextTokenizer, model: BertForMaskedLM, device: ComputeDevice, files: &ModelFiles) -> Result<Self> {
        let mask_id = tokenizer.mask_id().ok_or_else(no_mask_token)?;
        Ok(MaskedLm {
            max_length: config.max_tokens(),
            batch_size: 32,
            config,
            tokenizer,
            model,
            device,
            report: LoadReport::default(),
            mask_id,
            source_config: files.config.clone(),
            source_tokenizer: files.tokenizer.clone(),
        })
    }

    /// The mask token, as it is written in texts.
    pub fn mask_token(&self) -> String {
        self.tokenizer.id_to_token(self.mask_id).unwrap_or_default()
    }

    /// The ids `targets` name, as transformers finds them: a token of the vocabulary, else the
    /// first token of the target's text (`notes` say which were replaced or dropped).
    fn target_ids(&self, targets: &[String], notes: &mut Vec<String>) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        for t in targets {
            let id = match self.tokenizer.token_to_id(t) {
                Some(id) => id,
                None => match self.tokenizer.ids(t, false)?.first() {
                    Some(&id) => {
                        notes.push(format!("target {t:?} is not a token of the vocabulary; it stands for its first token {:?}", self.tokenizer.id_to_token(id).unwrap_or_default()));
                        id
                    }
                    None => {
                        notes.push(format!("target {t:?} has no tokens and was left out"));
                        continue;
                    }
                },
            };
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        if ids.is_empty() {
            return Err(Error::Options("targets: none of them is a token of this model's vocabulary; give at least one".into()));
        }
        Ok(ids)
    }

    /// For each text, for each of its masks, the `top_k` most likely tokens (among `targets` when
    /// given), most likely first; `notes` collects what was done with targets outside the vocabulary.
    pub async fn fill(&self, texts: &[&str], top_k: usize, targets: Option<&[String]>, notes: &mut Vec<String>) -> Result<Vec<Vec<Vec<MaskFill>>>> {
        if top_k == 0 {
            return Err(Error::Options("topK must be at least 1".into()));
        }
        let candidates = targets.map(|t| self.target_ids(t, notes)).transpose()?;
        let mut out = Vec::with_capacity(texts.len());
        for (c, chunk) in texts.chunks(self.batch_size.max(1)).enumerate() {
            let (b, positions) = self.mask_positions(chunk)?;
            if let Some(r) = positions.iter().position(Vec::is_empty) {
                let text = chunk[r];
                return Err(Error::Data(format!(
                    "text #{} ({text:?}) has no mask token: write {} where a word should be predicted{}",
                    c * self.batch_size + r,
                    self.mask_token(),
                    if text.contains(&self.mask_token()) { " (it is past maxLength and was cut off)" } else { "" }
                )));
            }
            let mut probs = self.probabilities_at(&b, &positions).await?.into_iter();
            for (r, found) in positions.into_iter().enumerate() {
                let row: Vec<u32> = b.input_ids[r * b.seq..(r + 1) * b.seq].iter().map(|&x| x as u32).collect();
                let mut per_mask = Vec::with_capacity(found.len());
                for &position in &found {
                    let p = probs.next().ok_or_else(|| Error::Backend("fewer probability rows than masks".into()))?;
                    per_mask.push(self.candidates(&row, position, found.len() == 1, &p, candidates.as_deref(), top_k)?);
                }
                out.push(per_mask);
            }
        }
        Ok(out)
    }

    /// `texts` encoded (cut at `max_length`) and the positions of each one's masks (none when
    /// its mask was cut off).
    pub(crate) fn mask_positions(&self, texts: &[&str]) -> Result<(Batch, Vec<Vec<usize>>)> {
        let b = self.tokenizer.encode(texts, None, self.max_length, true)?;
        let positions = (0..texts.len())
            .map(|r| b.input_ids[r * b.seq..(r + 1) * b.seq].iter().enumerate().filter(|(_, id)| **id as u32 == self.mask_id).map(|(i, _)| i).collect())
            .collect();
        Ok((b, positions))
    }

    /// The model's probabilities over the vocabulary at each of `positions` (texts in order,
    /// each one's masks in order).
    pub(crate) async fn probabilities_at(&self, b: &Batch, positions: &[Vec<usize>]) -> Result<Vec<Vec<f32>>> {
        let flat: Vec<i32> = positions.iter().enumerate().flat_map(|(r, f)| f.iter().map(move |&i| (r * b.seq + i) as i32)).collect();
        if flat.is_empty() {
            return Ok(Vec::new());
        }
        let [ids, types, mask] = batch_tensors(b, self.device.device());
        let n = flat.len();
        let at = Tensor::<1, Int>::from_data(TensorData::new(flat, [n]), self.device.device());
        self.device.read_rows(softmax(self.model.logits_at(ids, types, mask, at), 1)).await
    }

    /// The best `top_k` tokens at `position` of `row` by probability `p`.
    fn candidates(&self, row: &[u32], position: usize, single: bool, p: &[f32], among: Option<&[u32]>, top_k: usize) -> Result<Vec<MaskFill>> {
        let mut ids: Vec<u32> = match among {
            Some(t) => t.iter().copied().filter(|&i| (i as usize) < p.len()).collect(),
            None => (0..p.len() as u32).collect(),
        };
        ids.sort_by(|a, b| p[*b as usize].total_cmp(&p[*a as usize]).then(a.cmp(b)));
        ids.truncate(top_k);
        let pad = self.tokenizer.pad_id();
        ids.into_iter()
            .map(|token| {
                let mut filled: Vec<u32> = row.to_vec();
                filled[position] = token;
                filled.retain(|&t| t != pad);
                Ok(MaskFill {
                    score: p[token as usize],
                    token,
                    token_str: self.tokenizer.decode_with(&[token], false)?,
                    sequence: self.tokenizer.decode_with(&filled, single)?,
                })
            })
            .collect()
    }

    /// Masked-LM loss and perplexity on `texts` (each masked as in training, with a fixed seed).
    pub async fn evaluate(&self, texts: &[String], masking: Masking, seed: u64) -> Result<LmMetrics> {
        evaluate_masked_lm(&self.model, &self.device, &self.tokenizer, texts, (self.max_length, self.batch_size, masking, seed)).await
    }

    /// The model as a Hugging Face `*ForMaskedLM` folder.
    pub async fn export(&self) -> Result<ModelFiles> {
        Ok(ModelFiles {
            config: crate::weights::bert::export_config_for(&self.config, &self.source_config, &[], crate::models::encoder_family::EncoderHead::MaskedLm)?,
            weights: masked_lm::export_masked_lm(&self.config, &self.model, &self.device).await?,
            tokenizer: self.source_tokenizer.clone(),
        })
    }
}
