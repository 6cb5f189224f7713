//! Contextual augmentation's model side (Kobayashi 2018): a masked language model's word
//! candidates for the slots that `data::contextual` plans, and the augmented copies of the
//! training rows for one epoch.

use super::{ModelFiles, fill_mask::MaskedLm};
use crate::{
    ComputeDevice, Error, Result,
    data::augment::{AugmentOptions, Draft},
    weights::masked_lm::has_masked_lm_head,
};

/// The most likely words a slot draws from (by probability among them).
pub const CANDIDATES: usize = 20;

/// Loads the masked language model of `options`' contextual operations onto `device`: `named`
/// (the files of `augment.model`) or else `run` (the model being fine-tuned), which must hold a
/// masked-LM head — a fresh, random one would predict noise.
pub fn load_augmenter(options: &AugmentOptions, run: &ModelFiles, named: Option<&ModelFiles>, device: &ComputeDevice) -> Result<Option<MaskedLm>> {
    if !options.contextual() {
        return Ok(None);
    }
    let files = match (named, &options.model) {
        (Some(files), _) => files,
        (None, Some(name)) => {
            return Err(Error::Options(format!("augment.model {name:?} was named but its files were not loaded; pass them with the run")));
        }
        (None, None) => run,
    };
    if !has_masked_lm_head(&files.weights)? {
        let whose = if named.is_some() { format!("augment.model {:?}", options.model.as_deref().unwrap_or("")) } else { "the model being fine-tuned".to_string() };
        return Err(Error::Options(format!(
            "augment: \"substitute\" and \"insert\" take their words from a masked language model, and {whose} has no masked-LM head (a sentence-embedding or classifier checkpoint); name one with augment.model (e.g. \"bert-base-uncased\"), or use \"swap\" and \"delete\""
        )));
    }
    let copy = ModelFiles { config: files.config.clone(), weights: files.weights.clone(), tokenizer: files.tokenizer.clone() };
    // (loading refuses a tokenizer without a mask token)
    MaskedLm::load(copy, device).map(Some)
}

/// Whether `word` may fill a slot: letters and digits, with `'` or `-` inside.
fn is_word(word: &str) -> bool {
    word.chars().any(char::is_alphanumeric) && word.chars().all(|c| c.is_alphanumeric() || c == '\'' || c == '-')
}

impl MaskedLm {
    /// For each of `texts` (one mask each), the [`CANDIDATES`] most likely whole words at its
    /// mask with their probabilities, most likely first: tokens that start a word, are a word
    /// (see `is_word`), and differ from the text's `replaced` word (ignoring case). A text whose
    /// mask was cut off (past `max_length`) gets none.
    pub async fn word_candidates(&self, texts: &[String], replaced: &[Option<String>]) -> Result<Vec<Vec<(String, f32)>>> {
        let mut out = Vec::with_capacity(texts.len());
        for (c, chunk) in texts.chunks(self.batch_size.max(1)).enumerate() {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let (b, positions) = self.mask_positions(&refs)?;
            // one mask per text: the first, should a text hold the mask token itself
            let first: Vec<Vec<usize>> = positions.iter().map(|p| p.iter().take(1).copied().collect()).collect();
            let mut probs = self.probabilities_at(&b, &first).await?.into_iter();
            for (r, p) in first.iter().enumerate() {
                if p.is_empty() {
                    out.push(Vec::new());
                    continue;
                }
                let p = probs.next().ok_or_else(|| Error::Backend("fewer probability rows than masks".into()))?;
                let exclude = replaced.get(c * self.batch_size.max(1) + r).cloned().flatten().map(|w| w.to_lowercase());
                out.push(self.best_words(&p, exclude.as_deref())?);
            }
        }
        Ok(out)
    }

    fn best_words(&self, p: &[f32], exclude: Option<&str>) -> Result<Vec<(String, f32)>> {
        let mut ids: Vec<u32> = (0..p.len() as u32).collect();
        ids.sort_by(|a, b| p[*b as usize].total_cmp(&p[*a as usize]).then(a.cmp(b)));
        let mut words: Vec<(String, f32)> = Vec::with_capacity(CANDIDATES);
        for id in ids {
            if words.len() == CANDIDATES {
                break;
            }
            if !self.tokenizer.starts_word(id) {
                continue;
            }
            let word = self.tokenizer.decode_with(&[id], true)?.trim().to_string();
            if is_word(&word) && exclude != Some(word.to_lowercase().as_str()) && !words.iter().any(|(w, _)| *w == word) {
                words.push((word, p[id as usize]));
            }
        }
        Ok(words)
    }
}

/// The augmented copies of `texts` for `epoch`: copy `c` (1-based) of row `r` at `(c - 1) ·
/// texts.len() + r`, as `options` draws them, contextual slots filled by `mlm`.
pub async fn augment_epoch(options: &AugmentOptions, texts: &[&str], run_seed: u64, epoch: usize, mlm: Option<&MaskedLm>) -> Result<Vec<String>> {
    let drafts: Vec<Draft> = (1..=options.copies)
        .flat_map(|copy| texts.iter().enumerate().map(move |(row, text)| options.draft(text, run_seed, epoch, row, copy)))
        .collect();
    let (mut masked, mut replaced) = (Vec::new(), Vec::new());
    for d in &drafts {
        if let Draft::Contextual(plan) = d {
            let mlm = mlm.ok_or_else(|| Error::Options("augment: \"substitute\" and \"insert\" need a masked language model, and none was loaded".into()))?;
            masked.extend(plan.masked_texts(&mlm.mask_token()));
            replaced.extend(plan.replaced());
        }
    }
    let candidates = match mlm {
        Some(mlm) if !masked.is_empty() => mlm.word_candidates(&masked, &replaced).await?,
        _ => Vec::new(),
    };
    let mut candidates = candidates.into_iter();
    Ok(drafts
        .into_iter()
        .map(|d| match d {
            Draft::Text(t) => t,
            Draft::Contextual(plan) => {
                let slots: Vec<Vec<(String, f32)>> = candidates.by_ref().take(plan.slots()).collect();
                plan.finish(&slots)
            }
        })
        .collect())
}
