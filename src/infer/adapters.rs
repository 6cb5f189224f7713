//! LoRA adapters attached to a loaded decoder for inference: PEFT's files or llama.cpp's adapter
//! GGUF, onto the base they were trained on. The base is shared, not copied: a Llama's tensors
//! are the loaded module's, and a GGUF base stays quantized (the adapters compute beside its
//! frozen matrices, [`crate::models::llama_frozen`]), so several adapted decoders of one base
//! hold one base in memory.

use burn::{
    module::{Module, ModuleMapper, Param},
    tensor::Tensor,
};
use serde::Deserialize;

use super::generate::Decoder;
use crate::{
    Error, Result,
    models::{
        decoder::DecoderModel,
        gpt2::Gpt2LMHeadModel,
        llama_frozen::frozen_model,
        lora::LoraOptions,
    },
    weights::{LoadReport, decoder_family::DecoderFamily, gguf_lora, peft::load_adapter},
};

/// An adapter's files.
pub enum AdapterFile<'a> {
    /// PEFT's `adapter_model.safetensors` (f32) and `adapter_config.json`.
    Peft { weights: &'a [u8], config: &'a [u8] },
    /// llama.cpp's adapter GGUF (Llama-family bases).
    Gguf(&'a [u8]),
}

/// What webtune reads of PEFT's `adapter_config.json`.
#[derive(Deserialize)]
struct PeftSettings {
    peft_type: Option<String>,
    r: usize,
    lora_alpha: f64,
    #[serde(default)]
    target_modules: Option<serde_json::Value>,
    #[serde(default)]
    use_rslora: bool,
    #[serde(default)]
    use_dora: bool,
}

/// The LoRA settings of an `adapter_config.json` (`name` in errors).
fn peft_settings(config: &[u8], name: &str) -> Result<LoraOptions> {
    let bad = |m: String| Error::Weights(format!("{name}: {m}"));
    let s: PeftSettings = serde_json::from_slice(config).map_err(|e| bad(format!("not PEFT's adapter_config.json ({e})")))?;
    if s.peft_type.as_deref().is_some_and(|t| t != "LORA") || s.use_dora {
        return Err(bad("only LoRA adapters are read (peft_type \"LORA\", no DoRA)".into()));
    }
    if !(s.lora_alpha.is_finite() && s.lora_alpha > 0.0) || s.r == 0 {
        return Err(bad(format!("r {} and lora_alpha {} must be positive", s.r, s.lora_alpha)));
    }
    let targets = match s.target_modules {
        Some(serde_json::Value::Array(v)) => Some(v.iter().filter_map(|t| t.as_str().map(String::from)).collect()),
        Some(serde_json::Value::String(t)) => return Err(bad(format!("target_modules {t:?} is a pattern; webtune reads a list of module names"))),
        _ => None,
    };
    Ok(LoraOptions { rank: s.r, alpha: s.lora_alpha, rslora: s.use_rslora, target_modules: targets, dropout: 0.0, ..LoraOptions::default() })
}

impl Decoder {
    /// This decoder with the adapter `file` (named `name` in errors) attached: a new decoder
    /// sharing this one's base. Refused, with the file and tensor named, when the adapter was
    /// made for another base (architecture, shapes, targets it lacks) or is incomplete; this
    /// decoder is untouched either way.
    pub fn with_adapter(&self, file: AdapterFile<'_>, name: &str) -> Result<Decoder> {
        if self.lora.is_some() {
            return Err(Error::Options("this model already carries LoRA adapters; attach the adapter to the base model".into()));
        }
        let (weights, lora) = match file {
            AdapterFile::Gguf(bytes) => {
                let config = self.model.llama_config().ok_or_else(|| Error::Options(format!("{name}: a GGUF adapter is for Llama-family models; this is a GPT-2")))?;
                gguf_lora::to_peft(bytes, name, config)?
            }
            AdapterFile::Peft { weights, config } => (weights.to_vec(), peft_settings(config, name)?),
        };
        let named = |e: Error| match e {
            Error::Weights(m) | Error::Options(m) => Error::Weights(format!("{name}: {m}")),
            other => other,
        };
        let model = match &self.model {
            DecoderModel::Llama(m) => DecoderModel::Llama(attach(m.clone(), &lora, &weights).map_err(named)?),
            DecoderModel::Gpt2(m) => DecoderModel::Gpt2(attach::<Gpt2LMHeadModel>(m.clone(), &lora, &weights).map_err(named)?),
            DecoderModel::Packed(m) => DecoderModel::Llama(attach(frozen_model(m, self.device.device()), &lora, &weights).map_err(named)?),
            DecoderModel::GpuPacked(m) => DecoderModel::Llama(attach(m.frozen(), &lora, &weights).map_err(named)?),
        };
        Ok(Decoder { model, device: self.device.clone(), report: LoadReport::default(), text: self.text.clone(), lora: Some(lora) })
    }

    /// This adapted decoder with its adapters' product multiplied by `scale` (PEFT's
    /// `scale_layer`): 0 computes the base, 1 the adapter as trained. A new decoder sharing this
    /// one's base and `A` factors; only the `B` factors (rank × outputs each) are new.
    pub fn with_adapter_scale(&self, scale: f64) -> Result<Decoder> {
        if self.lora.is_none() {
            return Err(Error::Options("adapterScale: this model carries no LoRA adapter; attach one first".into()));
        }
        if !scale.is_finite() {
            return Err(Error::Options(format!("adapterScale must be a finite number (got {scale})")));
        }
        let mut scaler = ScaleB { path: Vec::new(), scale };
        let model = match &self.model {
            DecoderModel::Llama(m) => DecoderModel::Llama(m.clone().map(&mut scaler)),
            DecoderModel::Gpt2(m) => DecoderModel::Gpt2(m.clone().map(&mut scaler)),
            // attaching an adapter makes a packed base trainable: no adapted decoder is packed
            DecoderModel::Packed(_) | DecoderModel::GpuPacked(_) => return Err(Error::Options("adapterScale: this model's adapters are merged; load its base".into())),
        };
        Ok(Decoder { model, device: self.device.clone(), report: LoadReport::default(), text: self.text.clone(), lora: self.lora.clone() })
    }
}

/// Multiplies every adapter's `B` factor (`….weight.lora.b`) by `scale`.
struct ScaleB {
    path: Vec<String>,
    scale: f64,
}

impl ModuleMapper for ScaleB {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if !matches!(self.path.as_slice(), [.., lora, b] if lora == "lora" && b == "b") {
            return param;
        }
        let (id, tensor, mapper) = param.consume();
        Param::from_mapped_value(id, tensor.mul_scalar(self.scale), mapper)
    }
}

/// `base` with adapters made with `lora`, their factors read from PEFT's `weights`.
fn attach<F: DecoderFamily>(base: F, lora: &LoraOptions, weights: &[u8]) -> Result<F> {
    load_adapter(base.with_lora(lora, 0)?, &F::adapter_layout(), weights)
}
