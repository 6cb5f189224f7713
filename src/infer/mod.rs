//! Inference: sentence embeddings and classification (generation arrives with the decoders).

pub mod encoder;

pub use encoder::{EncodeOptions, Encoder, LabelScore, ModelFiles, batch_tensors};
