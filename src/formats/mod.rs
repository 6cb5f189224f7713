//! File formats that sit below every layer that reads them: GGUF's container and ggml's block
//! layouts; Python pickles (setfit's heads: scikit-learn's, and torch's tensors in them). Bytes in, checked values out: no tensors, no
//! models.

pub mod ggml;
pub mod gguf;
pub mod gguf_writer;
pub mod pickle;
pub mod setfit_head;
pub mod sklearn_pickle;
pub mod torch_pickle;
