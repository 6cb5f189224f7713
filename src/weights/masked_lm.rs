//! Masked-LM checkpoints (`*ForMaskedLM`, and base checkpoints that keep their pretraining head)
//! ↔ [`BertForMaskedLM`]: each family's head keys renamed to ours before the family's own renames;
//! the tied output weights are never read (the word embeddings are them) nor written.

use burn::tensor::Device;

use super::{
    LoadReport,
    bert::{bert_key, bert_keys, check_sizes, fresh_head_warning, initialise, load_into_with},
    encoder_keys::Renames,
    safetensors::Inventory,
};
use crate::{
    Result,
    models::{bert::BertConfig, encoder_family::EncoderFamily, masked_lm::BertForMaskedLM},
};

/// Each family's masked-LM head keys → our module paths (norms as `LayerNorm`, which the shared
/// renames turn into our `layer_norm`).
const HEAD_KEYS: &[(&str, &str)] = &[
    (r"^cls\.predictions\.transform\.dense\.", "mlm.transform."),
    (r"^cls\.predictions\.transform\.LayerNorm\.", "mlm.LayerNorm."),
    (r"^cls\.predictions\.bias$", "mlm.bias"),
    (r"^cls\.predictions\.decoder\.", "unused.decoder."),
    (r"^lm_head\.dense\.", "mlm.transform."),
    (r"^lm_head\.layer_norm\.", "mlm.LayerNorm."),
    (r"^lm_head\.bias$", "mlm.bias"),
    (r"^lm_head\.decoder\.", "unused.decoder."),
    (r"^vocab_transform\.", "mlm.transform."),
    (r"^vocab_layer_norm\.", "mlm.LayerNorm."),
    (r"^vocab_projector\.bias$", "mlm.bias"),
    (r"^vocab_projector\.weight$", "unused.decoder.weight"),
];

/// Loads an encoder with its masked-LM head. A checkpoint without the head (a sentence-embedding
/// model, a fine-tuned classifier) gets a fresh one, with a warning.
pub fn load_masked_lm(config: &BertConfig, bytes: Vec<u8>, device: &Device) -> Result<(BertForMaskedLM, LoadReport)> {
    let inv = Inventory::read(&bytes, "model.safetensors")?;
    check_sizes(config, 0, &inv)?;
    let mut model = BertForMaskedLM::new(config, device)?;
    let keys = bert_keys(config, &inv);
    let has_head = holds_head(&inv);
    let mut prefix: Vec<(&str, &str)> = vec![(r"^(bert\.)?pooler\.", "unused.pooler."), (r"^classifier\.", "unused.classifier."), (r"^pre_classifier\.", "unused.classifier.")];
    if !keys.iter().any(|k| k.starts_with("bert.")) {
        prefix.push((r"^(embeddings|encoder)\.", "bert.${1}."));
    }
    let fresh: &[&str] = if has_head { &[] } else { &["mlm."] };
    let mut report = load_into_with(config, &mut model, bytes, &inv, HEAD_KEYS, &prefix, fresh)?;
    if !has_head {
        initialise(&mut model.mlm.transform, "mlm.transform", config.initializer_range, 0, device);
        report.warnings.push(fresh_head_warning("the masked-LM head.", false));
    }
    Ok((model, report))
}

/// Whether a checkpoint holds a masked-LM head (BERT's, RoBERTa's or DistilBERT's).
fn holds_head(inv: &Inventory) -> bool {
    ["cls.predictions.transform.dense.weight", "lm_head.dense.weight", "vocab_transform.weight"].iter().any(|k| inv.tensors.contains_key(*k))
}

/// Whether `model.safetensors` bytes hold a masked-LM head (else loading draws a fresh one).
pub fn has_masked_lm_head(bytes: &[u8]) -> Result<bool> {
    Ok(holds_head(&Inventory::read(bytes, "model.safetensors")?))
}

/// Our path of a head parameter → the family's key.
fn head_key(family: EncoderFamily, path: &str) -> Option<String> {
    let (bert, roberta, distilbert) = match path.strip_prefix("mlm.")? {
        "transform.weight" => ("cls.predictions.transform.dense.weight", "lm_head.dense.weight", "vocab_transform.weight"),
        "transform.bias" => ("cls.predictions.transform.dense.bias", "lm_head.dense.bias", "vocab_transform.bias"),
        "layer_norm.gamma" => ("cls.predictions.transform.LayerNorm.weight", "lm_head.layer_norm.weight", "vocab_layer_norm.weight"),
        "layer_norm.beta" => ("cls.predictions.transform.LayerNorm.bias", "lm_head.layer_norm.bias", "vocab_layer_norm.bias"),
        "bias" => ("cls.predictions.bias", "lm_head.bias", "vocab_projector.bias"),
        _ => return None,
    };
    Some(match family {
        EncoderFamily::Bert => bert,
        EncoderFamily::Roberta | EncoderFamily::XlmRoberta => roberta,
        EncoderFamily::DistilBert => distilbert,
    }
    .to_string())
}

/// The model as `model.safetensors` bytes that transformers' `AutoModelForMaskedLM` loads as
/// `config`'s family (its output layer tied to the word embeddings, as saved by transformers).
pub async fn export_masked_lm(config: &BertConfig, model: &BertForMaskedLM, device: &crate::ComputeDevice) -> Result<Vec<u8>> {
    let renames = Renames::from_bert(config.family);
    super::export::to_safetensors(model, device, |path| Some(head_key(config.family, path).unwrap_or_else(|| renames.apply(&bert_key(path))))).await
}
