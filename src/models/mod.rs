//! Architectures and their layers: forward passes, and the LoRA adapters attached to them (no
//! file formats, no tokenization, no JS).

pub mod activation;
pub mod bert;
pub mod decoder;
pub mod encoder_family;
pub mod family;
pub mod fresh;
pub mod gpt2;
pub mod heads;
pub mod kv_cache;
pub mod llama;
pub mod llama_frozen;
pub mod llama_gpu;
pub mod llama_packed;
pub mod lora;
pub mod masked_lm;
pub mod shape;
