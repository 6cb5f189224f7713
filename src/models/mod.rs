//! Architectures only: layers and forward passes (no file formats, no tokenization, no JS).

pub mod bert;
pub mod heads;
pub mod linear;
pub mod softmax;
pub mod llama;
