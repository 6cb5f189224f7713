//! A loaded decoder's files, whatever its family: the merged folder ([`export_folder`]) and
//! PEFT's adapter ([`export_adapter`]), through each family's [`DecoderFamily`].

use super::decoder_family::DecoderFamily;
use crate::{
    ComputeDevice, Error, Result,
    models::{decoder::DecoderModel, lora::LoraBase},
};

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

