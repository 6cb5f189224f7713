//! File formats that sit below every layer that reads them: GGUF's container and ggml's block
//! layouts; Python pickles (scikit-learn's heads). Bytes in, checked values out: no tensors, no
//! models.

pub mod ggml;
pub mod gguf;
pub mod gguf_writer;
pub mod pickle;
pub mod sklearn_pickle;
