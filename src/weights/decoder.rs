//! What each decoder family brings to loading, saving and LoRA, behind one trait. Fine-tuning is
//! generic over it: Burn's derived enum modules put the variant's name into every parameter path,
//! so a run trains the concrete model, never a [`DecoderModel`]. A loaded [`DecoderModel`]'s
//! files ([`export_folder`], [`export_adapter`]) dispatch to it.

use burn::{module::Module, tensor::Device};

use super::{LoadReport, gpt2, llama, peft::AdapterLayout};
use crate::{
    ComputeDevice, Error, Result,
    models::{
        decoder::{CausalLogits, DecoderModel},
        gpt2::{Gpt2Config, Gpt2LMHeadModel},
        llama::{LlamaConfig, LlamaForCausalLM},
        llama_frozen::densified,
        lora::{LoraBase, LoraOptions},
    },
};

/// A decoder architecture's checkpoint files and LoRA conventions.
#[allow(async_fn_in_trait)] // awaited in place, never sent across threads
pub trait DecoderFamily: CausalLogits + Module + Sized {
    type Config: Clone;
    /// Where PEFT puts adapters on this architecture.
    const LORA: LoraBase;
    /// The model from Hugging Face `model.safetensors` bytes.
    fn load(config: &Self::Config, bytes: Vec<u8>, device: &Device) -> Result<(Self, LoadReport)>;
    /// The weights as `model.safetensors` bytes transformers loads (adapters, if any, left out:
    /// merge them first with `materialize`).
    async fn export(&self, device: &ComputeDevice) -> Result<Vec<u8>>;
    /// The `config.json` transformers loads.
    fn config_json(config: &Self::Config) -> Result<Vec<u8>>;
    /// The config the model was built from.
    fn config(&self) -> &Self::Config;
    /// Adapters on PEFT's target modules (`A` drawn from `seed`), everything else frozen.
    fn with_lora(self, lora: &LoraOptions, seed: u64) -> Result<Self>;
    /// PEFT's names of this architecture's parameters.
    fn adapter_layout() -> AdapterLayout;
    /// The model behind the one decoder type generation uses.
    fn wrap(self) -> DecoderModel;
}

impl DecoderFamily for LlamaForCausalLM {
    type Config = LlamaConfig;
    const LORA: LoraBase = LoraBase::Llama;

    fn load(config: &LlamaConfig, bytes: Vec<u8>, device: &Device) -> Result<(Self, LoadReport)> {
        llama::load_causal_lm(config, bytes, device)
    }

    /// A base kept in a GGUF file's blocks is written as the f32 values it stands for.
    async fn export(&self, device: &ComputeDevice) -> Result<Vec<u8>> {
        llama::export_causal_lm(&densified(self.clone()), device).await
    }

    fn config_json(config: &LlamaConfig) -> Result<Vec<u8>> {
        config.to_json()
    }

    fn config(&self) -> &LlamaConfig {
        &self.config
    }

    fn with_lora(self, lora: &LoraOptions, seed: u64) -> Result<Self> {
        lora.apply_llama(self, seed)
    }

    fn adapter_layout() -> AdapterLayout {
        AdapterLayout::llama()
    }

    fn wrap(self) -> DecoderModel {
        DecoderModel::Llama(self)
    }
}

impl DecoderFamily for Gpt2LMHeadModel {
    type Config = Gpt2Config;
    const LORA: LoraBase = LoraBase::Gpt2;

    fn load(config: &Gpt2Config, bytes: Vec<u8>, device: &Device) -> Result<(Self, LoadReport)> {
        gpt2::load_lm(config, bytes, device, None)
    }

    async fn export(&self, device: &ComputeDevice) -> Result<Vec<u8>> {
        gpt2::export_lm(self, device).await
    }

    fn config_json(config: &Gpt2Config) -> Result<Vec<u8>> {
        config.to_json()
    }

    fn config(&self) -> &Gpt2Config {
        &self.config
    }

    fn with_lora(self, lora: &LoraOptions, seed: u64) -> Result<Self> {
        lora.apply_gpt2(self, seed)
    }

    fn adapter_layout() -> AdapterLayout {
        AdapterLayout::gpt2()
    }

    fn wrap(self) -> DecoderModel {
        DecoderModel::Gpt2(self)
    }
}

/// `config.json` and `model.safetensors` of a decoder, LoRA adapters merged into the weights
/// (`W + scale · A·B`).
pub async fn export_folder(model: &DecoderModel, device: &ComputeDevice) -> Result<(Vec<u8>, Vec<u8>)> {
    async fn merged<F: DecoderFamily>(model: &F, device: &ComputeDevice) -> Result<(Vec<u8>, Vec<u8>)> {
        Ok((F::config_json(model.config())?, model.clone().materialize().export(device).await?))
    }
    match model {
        DecoderModel::Llama(m) => merged(m, device).await,
        DecoderModel::Gpt2(m) => merged(m, device).await,
        // weights kept quantized are exported as the f32 values they stand for
        DecoderModel::Packed(m) => merged(&super::gguf::unpack(&m.file, &m.config, device)?, device).await,
        DecoderModel::GpuPacked(m) => merged(&m.dequantized(), device).await,
    }
}

/// A decoder's LoRA adapters as PEFT's `adapter_model.safetensors`, and the architecture they
/// are for.
pub async fn export_adapter(model: &DecoderModel, device: &ComputeDevice) -> Result<(Vec<u8>, LoraBase)> {
    async fn adapter<F: DecoderFamily>(model: &F, device: &ComputeDevice) -> Result<(Vec<u8>, LoraBase)> {
        Ok((super::peft::export_adapter(model, &F::adapter_layout(), device).await?, F::LORA))
    }
    match model {
        DecoderModel::Llama(m) => adapter(m, device).await,
        DecoderModel::Gpt2(m) => adapter(m, device).await,
        DecoderModel::Packed(_) | DecoderModel::GpuPacked(_) => Err(Error::Options("this model has no LoRA adapters (it is a GGUF file as loaded)".into())),
    }
}

