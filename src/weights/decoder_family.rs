//! What each decoder family brings to loading, saving, LoRA and training, behind one trait that
//! each family implements in its own file (`weights/llama.rs`, `weights/gpt2.rs`; the
//! architecture and its config in `models/`). Fine-tuning is generic over it: Burn's derived enum
//! modules put the variant's name into every parameter path, so a run trains the concrete model,
//! never a [`DecoderModel`] (whose files `weights::decoder` writes through it).

use burn::{module::Module, tensor::Device};

use super::{LoadReport, peft::AdapterLayout};
use crate::{
    ComputeDevice, Result,
    models::{
        decoder::{CausalLogits, DecoderModel},
        lora::{LoraBase, LoraOptions},
        shape::DecoderShape,
    },
};

/// A decoder architecture's checkpoint files, LoRA conventions and training rules.
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
    /// Parameters without weight decay (Hugging Face's Trainer: biases and norm weights).
    fn no_decay(path: &str) -> bool;
    /// The sizes a training run's memory plan reads.
    fn shape(config: &Self::Config) -> DecoderShape;
    /// LoRA's trainable parameters and the activation elements its adapters keep per token
    /// ([`LoraOptions::decoder_sizes`]).
    fn lora_sizes(config: &Self::Config, lora: &LoraOptions) -> (u64, u64);
}
