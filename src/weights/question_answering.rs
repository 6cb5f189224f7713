//! Question-answering checkpoints (`*ForQuestionAnswering`) ↔ [`BertForQuestionAnswering`]: the
//! family's encoder keys, and `qa_outputs`, named alike in every family. A checkpoint without it
//! (a base encoder, a classifier, a masked LM) gets a fresh one drawn from the seed; other heads
//! in the file are not used.

use burn::tensor::Device;

use super::{
    LoadReport,
    bert::{adapter_layout, bert_keys, check_sizes, fresh_head_warning, initialise, load_into_with},
    safetensors::Inventory,
};
use crate::{
    Result,
    models::{bert::BertConfig, encoder_family::EncoderHead, heads::BertForQuestionAnswering},
};

/// Loads a question-answering model; `seed` draws a missing `qa_outputs` (with a warning).
pub fn load_question_answerer(config: &BertConfig, bytes: Vec<u8>, device: &Device, seed: u64) -> Result<(BertForQuestionAnswering, LoadReport)> {
    let inv = Inventory::read(&bytes, "model.safetensors")?;
    check_sizes(config, 2, &inv)?;
    let mut model = BertForQuestionAnswering::new(config, device)?;
    let keys = bert_keys(config, &inv);
    let mut prefix: Vec<(&str, &str)> = vec![(r"^(bert\.)?pooler\.", "unused.pooler."), (r"^classifier\.", "unused.classifier.")];
    if !keys.iter().any(|k| k.starts_with("bert.")) {
        prefix.push((r"^(embeddings|encoder)\.", "bert.${1}."));
    }
    let has_head = inv.tensors.contains_key("qa_outputs.weight");
    let fresh: &[&str] = if has_head { &[] } else { &["qa_outputs."] };
    let mut report = load_into_with(config, &mut model, bytes, &inv, &[], &prefix, fresh)?;
    if !has_head {
        initialise(&mut model.qa_outputs, "qa_outputs", config.initializer_range, seed, device);
        report.warnings.push(fresh_head_warning("qa_outputs.", false));
    }
    Ok((model, report))
}

/// The model as `model.safetensors` bytes that transformers' `AutoModelForQuestionAnswering` loads
/// as `config`'s family.
pub async fn export_question_answerer(config: &BertConfig, model: &BertForQuestionAnswering, device: &crate::ComputeDevice) -> Result<Vec<u8>> {
    let layout = adapter_layout(config.family, EncoderHead::QuestionAnswering);
    super::export::to_safetensors(model, device, |path| Some((layout.key)(path))).await
}
