//! # webtune
//!
//! Fine-tune and run BERT-family encoders and small GPT-style decoders on WebGPU in the browser,
//! and natively (wgpu on Vulkan/Metal, or the pure-Rust CPU backend), from one engine built on
//! [Burn](https://burn.dev) 0.22.
//!
//! Layout (one concern per module):
//! - [`device`]: the only place that picks a compute device;
//! - [`models`]: architectures (BERT) and heads; [`weights`]: checkpoints → modules;
//! - [`tokenizer`]: text ↔ ids; [`data`]: user files → batches; [`infer`]: embed / classify;
//! - [`train`]: optimisation (for now the [`train::self_test`] step that proves the path);
//! - `wasm` (wasm32 only): the JS bindings, the only code that touches wasm-bindgen.

pub mod data;
pub mod device;
pub mod error;
pub mod infer;
pub mod models;
pub mod tokenizer;
pub mod train;
pub mod weights;

#[cfg(target_family = "wasm")]
pub mod wasm;

pub use device::{ComputeDevice, DeviceInfo, DevicePreference};
pub use error::{Error, Result};

/// The crate version, as in Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
