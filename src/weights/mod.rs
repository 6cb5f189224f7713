//! Checkpoint formats → our modules: reading files (from bytes, so it works in the browser) and
//! one key table per model family.

pub mod bert;
pub mod export;
pub mod gguf;
pub mod llama;
pub mod peft;
pub mod safetensors;

/// What loading noticed that did not stop it (unexpected-but-harmless keys, fresh heads, casts).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LoadReport {
    /// Human-readable warnings, one per issue.
    pub warnings: Vec<String>,
    /// Number of tensors loaded.
    pub loaded: usize,
}
