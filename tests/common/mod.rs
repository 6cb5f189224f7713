//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod assets;
pub mod attentions;
pub mod llama;
pub mod parity;
pub mod quantized;
pub mod training;
pub mod gguf;
pub mod lm_training;

/// The CPU device's random generator is one per process and every run seeds it (dropout, LoRA's
/// initial A matrices), so CPU runs in parallel test threads would draw each other's numbers: they
/// take turns.
pub fn cpu_turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}
