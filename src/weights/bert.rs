//! Hugging Face BERT checkpoints (`model.safetensors`) → [`BertModel`] /
//! [`BertForSequenceClassification`].
//!
//! The key table is short because our field names follow HF's: `LayerNorm` → `layer_norm`,
//! `attention.self` → `attention.self_attn`, and the `bert.` prefix is added or stripped to fit the
//! target. `nn.Linear` weights are transposed and LayerNorm `weight/bias` become `gamma/beta` by
//! Burn's `PyTorchToBurnAdapter`; f16/bf16/f64 tensors are cast to f32.

use burn::{
    module::{Module, Param},
    nn::Linear,
    tensor::{Device, Tensor},
};

use super::{
    LoadReport,
    encoder_keys::{self, Renames},
    peft::AdapterLayout,
    safetensors::{Inventory, KeyTable},
};
use crate::{
    Error, Result,
    models::{
        bert::{BertConfig, BertModel},
        encoder_family::{EncoderFamily, EncoderHead},
        fresh,
        heads::{BertForSequenceClassification, BertForTokenClassification},
        lora::{LoraBase, LoraOptions},
    },
};

/// Checkpoint keys that are buffers or training-only heads: never loaded, never warned about.
const IGNORED: &[&str] = &["position_ids", "cls.predictions.", "cls.seq_relationship.", REPLACED_HEAD, encoder_keys::UNUSED];

/// Where a classifier that is being replaced is renamed to, so that nothing loads it.
const REPLACED_HEAD: &str = "replaced_classifier.";

/// Renames shared by every target (applied after the prefix rule).
const RENAMES: &[(&str, &str)] = &[
    (r"(^|\.)LayerNorm\.(weight|gamma)$", "${1}layer_norm.weight"),
    (r"(^|\.)LayerNorm\.(bias|beta)$", "${1}layer_norm.bias"),
    (r"\.attention\.self\.", ".attention.self_attn."),
];

/// The checkpoint's keys under BERT's names (see [`encoder_keys`]).
pub(super) fn bert_keys(config: &BertConfig, inv: &Inventory) -> Vec<String> {
    let renames = Renames::to_bert(config.family);
    inv.tensors.keys().map(|k| renames.apply(k)).collect()
}

/// Whether the checkpoint has the head's first layer (BERT's pooler, RoBERTa's `classifier.dense`,
/// DistilBERT's `pre_classifier`); BertModel has one, MLM checkpoints not.
fn has_pooler(keys: &[String]) -> bool {
    keys.iter().any(|k| k == "pooler.dense.weight" || k == "bert.pooler.dense.weight")
}

/// Loads an encoder (`BertModel`) from checkpoint bytes; any head in the file is ignored.
pub fn load_encoder(config: &BertConfig, bytes: Vec<u8>, device: &Device) -> Result<(BertModel, LoadReport)> {
    let inv = Inventory::read(&bytes, "model.safetensors")?;
    check_sizes(config, 0, &inv)?;
    let mut model = BertModel::new(config, has_pooler(&bert_keys(config, &inv)), device)?;
    let report = load_into(config, &mut model, bytes, &inv, &[(r"^bert\.", "")], &[])?;
    Ok((model, report))
}

/// Loads a sequence classifier. A checkpoint without `classifier.*` (a plain encoder such as
/// all-MiniLM-L6-v2) gets a freshly initialised head and pooler (seed 0), with a warning saying so.
pub fn load_classifier(
    config: &BertConfig,
    bytes: Vec<u8>,
    device: &Device,
) -> Result<(BertForSequenceClassification, LoadReport)> {
    load_classifier_with(config, bytes, device, false, 0)
}

/// [`load_classifier`], or with `new_head` a freshly initialised `classifier` even when the
/// checkpoint has one (fine-tuning for other classes than it was trained on). Fresh layers are
/// drawn from `seed` as HF's `_init_weights` does (normal weights with `initializer_range`, zero
/// biases), the same on every device.
pub fn load_classifier_with(
    config: &BertConfig,
    bytes: Vec<u8>,
    device: &Device,
    new_head: bool,
    seed: u64,
) -> Result<(BertForSequenceClassification, LoadReport)> {
    let inv = Inventory::read(&bytes, "model.safetensors")?;
    check_sizes(config, config.label_count(), &inv)?;
    let mut model = BertForSequenceClassification::new(config, device)?;
    let keys = bert_keys(config, &inv);
    let has = |prefix: &str| keys.iter().any(|k| k.starts_with(prefix));
    let mut prefix: Vec<(&str, &str)> =
        if has("bert.") { vec![] } else { vec![(r"^(embeddings|encoder|pooler)\.", "bert.${1}.")] };
    if new_head {
        prefix.push((r"^classifier\.", REPLACED_HEAD));
    }
    let prefix = prefix.as_slice();
    let mut fresh = Vec::new();
    if new_head || !has("classifier.") {
        fresh.push("classifier.");
    }
    if !has_pooler(&keys) {
        fresh.push("bert.pooler.");
    }
    let replaced = new_head && has("classifier.");
    let mut report = load_into(config, &mut model, bytes, &inv, prefix, &fresh)?;
    for &path in &fresh {
        let std = config.initializer_range;
        match (path, &mut model.bert.pooler) {
            ("classifier.", _) => initialise(&mut model.classifier, "classifier", std, seed, device),
            (_, Some(pooler)) => initialise(&mut pooler.dense, "bert.pooler.dense", std, seed, device),
            (_, None) => {}
        }
    }
    for path in fresh {
        report.warnings.push(fresh_head_warning(path, path == "classifier." && replaced));
    }
    Ok((model, report))
}

/// Loads a token classifier. A checkpoint without a token head (a plain encoder, a masked LM, a
/// sequence classifier's RoBERTa head, or with `new_head` any head) gets a fresh `classifier`
/// drawn from `seed`, with a warning; a pooler in the file is not used.
pub fn load_token_classifier(
    config: &BertConfig,
    bytes: Vec<u8>,
    device: &Device,
    new_head: bool,
    seed: u64,
) -> Result<(BertForTokenClassification, LoadReport)> {
    let inv = Inventory::read(&bytes, "model.safetensors")?;
    check_sizes(config, config.label_count(), &inv)?;
    let mut model = BertForTokenClassification::new(config, device)?;
    let keys = bert_keys(config, &inv);
    let has = |prefix: &str| keys.iter().any(|k| k.starts_with(prefix));
    // RoBERTa's sequence head (`classifier.dense`, `classifier.out_proj`) is not a token head
    let sequence_head = inv.tensors.keys().any(|k| k.starts_with("classifier.out_proj."));
    let replace = (new_head || sequence_head) && has("classifier.");
    let mut prefix: Vec<(&str, &str)> = vec![(r"^(bert\.)?pooler\.", "unused.pooler.")];
    if !has("bert.") {
        prefix.push((r"^(embeddings|encoder)\.", "bert.${1}."));
    }
    if replace {
        prefix.push((r"^classifier\.", REPLACED_HEAD));
    }
    let fresh: &[&str] = if replace || !has("classifier.") { &["classifier."] } else { &[] };
    let mut report = load_into(config, &mut model, bytes, &inv, &prefix, fresh)?;
    if !fresh.is_empty() {
        initialise(&mut model.classifier, "classifier", config.initializer_range, seed, device);
        report.warnings.push(fresh_head_warning("classifier.", replace));
    }
    Ok((model, report))
}

/// What a warning says about a freshly initialised layer at `path`.
pub(super) fn fresh_head_warning(path: &str, replaced: bool) -> String {
    let what = if replaced {
        "the checkpoint's classifier is for other classes, so classifier was replaced and newly initialised".to_string()
    } else {
        format!("{} is not in the checkpoint and was newly initialised", path.trim_end_matches('.'))
    };
    format!("{what}: fine-tune the model before using its predictions")
}

/// `linear` (at module path `path`) drawn afresh: weight normal(0, `std`), bias zero.
pub(super) fn initialise(linear: &mut Linear, path: &str, std: f64, seed: u64, device: &Device) {
    let [inputs, outputs] = linear.weight.dims();
    linear.weight = Param::from_data(fresh::normal([inputs, outputs], std, seed, &format!("{path}.weight")), device);
    if let Some(bias) = &mut linear.bias {
        *bias = Param::from_tensor(Tensor::zeros([outputs], device));
    }
}

/// The config must not describe more weights than the file holds, besides a pooler and a
/// `labels`-class head that loading may initialise.
pub(super) fn check_sizes(config: &BertConfig, labels: usize, inv: &Inventory) -> Result<()> {
    let h = config.hidden_size as u64;
    let fresh = (h * h + h).saturating_add((h + 1).saturating_mul(labels as u64));
    super::check_config_fits(config.parameters(labels), inv.values(), fresh, "model.safetensors")?;
    let peak = inv.file_bytes.saturating_add(config.parameters(labels).saturating_mul(4));
    super::check_load_memory(peak, config.parameters(labels), "model.safetensors", super::load_budget())
}

/// Applies the checkpoint to `model`: the family's keys renamed to BERT's, then the prefix rule
/// and [`RENAMES`]; `may_be_missing` lists module path prefixes allowed to keep their fresh
/// initialisation.
fn load_into<M: Module>(
    config: &BertConfig,
    model: &mut M,
    bytes: Vec<u8>,
    inv: &Inventory,
    prefix: &[(&str, &str)],
    may_be_missing: &[&str],
) -> Result<LoadReport> {
    load_into_with(config, model, bytes, inv, &[], prefix, may_be_missing)
}

/// [`load_into`] with `first` renames applied to the checkpoint's own keys, before the family's.
pub(super) fn load_into_with<M: Module>(
    config: &BertConfig,
    model: &mut M,
    bytes: Vec<u8>,
    inv: &Inventory,
    first: &[(&str, &str)],
    prefix: &[(&str, &str)],
    may_be_missing: &[&str],
) -> Result<LoadReport> {
    let remaps: Vec<(&str, &str)> = first.iter().chain(encoder_keys::to_bert(config.family)).chain(prefix).chain(RENAMES).copied().collect();
    let family = format!("a {} checkpoint", config.family.title());
    let table = KeyTable { family: &family, remaps: &remaps, ignored: IGNORED, may_be_missing };
    table.apply(model, bytes, inv)
}

/// Our parameter path → its key in a Hugging Face `BertForSequenceClassification` checkpoint.
pub(super) fn bert_key(path: &str) -> String {
    path.replace(".self_attn.", ".self.").replace("layer_norm.gamma", "LayerNorm.weight").replace("layer_norm.beta", "LayerNorm.bias")
}

/// How an encoder of `family` with `head` is named in Hugging Face's files (and, LoRA-tuned, in
/// PEFT's): the family's keys,
/// and the head saved whole (see [`LoraBase::modules_to_save`]). A token classifier's
/// `classifier` and `qa_outputs` keep their names in every family (a sequence classifier's head
/// is renamed with the family: RoBERTa's `classifier.out_proj`, …).
pub fn adapter_layout(family: EncoderFamily, head: EncoderHead) -> AdapterLayout {
    let renames = Renames::from_bert(family);
    let own_names = match head {
        EncoderHead::TokenClassification => Some("classifier."),
        EncoderHead::QuestionAnswering => Some("qa_outputs."),
        EncoderHead::SequenceClassification | EncoderHead::MaskedLm => None,
    };
    let key = move |path: &str| match own_names {
        Some(prefix) if path.starts_with(prefix) => path.to_string(),
        _ => renames.apply(&bert_key(path)),
    };
    AdapterLayout { key: Box::new(key), head: LoraBase::Encoder(family, head).modules_to_save().1 }
}

/// A LoRA-tuned encoder's files for PEFT (`adapter_model.safetensors`, `adapter_config.json`:
/// `PeftModel.from_pretrained(base, folder)` loads them, the base named `base_model`).
pub async fn peft_files<M: Module>(
    model: &M,
    config: &BertConfig,
    head: EncoderHead,
    lora: Option<&LoraOptions>,
    device: &crate::ComputeDevice,
    base_model: &str,
) -> Result<Vec<(&'static str, Vec<u8>)>> {
    let lora = lora.ok_or_else(|| Error::Options("this model has no LoRA adapters: fine-tune it with lora: { … } to save format \"peft\"".into()))?;
    let layout = adapter_layout(config.family, head);
    Ok(vec![
        ("adapter_model.safetensors", super::peft::export_adapter(model, &layout, device).await?),
        ("adapter_config.json", super::peft::adapter_config(lora, LoraBase::Encoder(config.family, head), base_model)?),
    ])
}

/// The classifier as `model.safetensors` bytes that transformers' `from_pretrained` loads as
/// `config`'s family (`RobertaForSequenceClassification`, …).
pub async fn export_classifier(config: &BertConfig, model: &BertForSequenceClassification, device: &crate::ComputeDevice) -> Result<Vec<u8>> {
    let renames = Renames::from_bert(config.family);
    super::export::to_safetensors(model, device, |path| Some(renames.apply(&bert_key(path)))).await
}

/// The encoder alone as `model.safetensors` bytes that transformers loads as `config`'s base
/// model (`BertModel`, `RobertaModel`, …), as sentence-transformers saves its Transformer.
pub async fn export_encoder(config: &BertConfig, model: &BertModel, device: &crate::ComputeDevice) -> Result<Vec<u8>> {
    let renames = Renames::from_bert(config.family);
    // named as the family's task models name them (`roberta.…`), less that first segment
    let key = move |path: &str| renames.apply(&format!("bert.{}", bert_key(path))).split_once('.').map(|(_, rest)| rest.to_string());
    super::export::to_safetensors(model, device, key).await
}

/// The token classifier as `model.safetensors` bytes that transformers loads as `config`'s
/// family (`RobertaForTokenClassification`, …): its `classifier` keeps its name in every family.
pub async fn export_token_classifier(config: &BertConfig, model: &BertForTokenClassification, device: &crate::ComputeDevice) -> Result<Vec<u8>> {
    let layout = adapter_layout(config.family, EncoderHead::TokenClassification);
    super::export::to_safetensors(model, device, |path| Some((layout.key)(path))).await
}

/// `config.json` for the fine-tuned classifier: the original file (every field kept) with the new
/// label maps, architecture and problem type.
pub fn export_config(config: &BertConfig, original: &[u8], labels: &[String]) -> Result<Vec<u8>> {
    export_config_for(config, original, labels, EncoderHead::SequenceClassification)
}

/// [`export_config`] for a model with `head` (token classification sets no problem type).
pub fn export_config_for(config: &BertConfig, original: &[u8], labels: &[String], head: EncoderHead) -> Result<Vec<u8>> {
    let mut v: serde_json::Value = serde_json::from_slice(original)
        .map_err(|e| Error::Weights(format!("config.json is not valid JSON: {e}")))?;
    let obj = v.as_object_mut().ok_or_else(|| Error::Weights("config.json is not a JSON object".into()))?;
    if matches!(head, EncoderHead::SequenceClassification | EncoderHead::TokenClassification) {
        let id2label: serde_json::Map<String, serde_json::Value> =
            labels.iter().enumerate().map(|(i, l)| (i.to_string(), l.clone().into())).collect();
        let label2id: serde_json::Map<String, serde_json::Value> =
            labels.iter().enumerate().map(|(i, l)| (l.clone(), i.into())).collect();
        obj.insert("id2label".into(), id2label.into());
        obj.insert("label2id".into(), label2id.into());
        obj.remove("num_labels");
    }
    obj.insert("architectures".into(), serde_json::json!([config.family.architecture(head)]));
    match head {
        EncoderHead::SequenceClassification => obj.insert("problem_type".into(), "single_label_classification".into()),
        EncoderHead::TokenClassification | EncoderHead::MaskedLm | EncoderHead::QuestionAnswering => obj.remove("problem_type"),
    };
    serde_json::to_vec_pretty(&v).map_err(|e| Error::Weights(format!("writing config.json: {e}")))
}
