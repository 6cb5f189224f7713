//! Inference: sentence embeddings and classification with encoders, text generation with decoders.

pub mod encoder;
pub mod generate;
pub mod text_generation;

pub use encoder::{EncodeOptions, Encoder, LabelScore, ModelFiles, batch_tensors};
pub use generate::{Decoder, GenerateOptions, Generated, StopReason};
pub use text_generation::{Completion, TextSide};
