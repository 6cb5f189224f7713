//! # webtune
//!
//! Fine-tune and run BERT-family encoders and small GPT-style decoders on WebGPU in the browser,
//! and natively (wgpu on Vulkan/Metal, or the pure-Rust CPU backend), from one engine built on
//! [Burn](https://burn.dev) 0.22.
//!
//! Layout, one concern per module. Layers, lowest first: `error` → `options_json` → `formats` →
//! `device` → `kernels` → `models` → `weights` → `tokenizer` → `data` → `infer` → `train` →
//! `session` → `wasm`. A module imports only from its own layer or those before it, and no two
//! files import each other through any chain (`tests/layers.rs` checks both):
//! - [`error`]: the one error type, each variant with its JS `name`; [`options_json`]: options
//!   objects → typed options, with errors that name the option;
//! - [`formats`]: GGUF's container and ggml's block layouts, read from bytes with every size checked;
//! - [`device`]: the only place that picks a compute device;
//! - [`kernels`]: `x·W + b` (LoRA adapters as PEFT computes them; SIMD128 for the browser's CPU),
//!   softmax, argmax and the quantized products (CPU and GPU), called by the models;
//! - [`models`]: architectures (BERT, GPT-2, Llama), classification heads, LoRA adapters' settings;
//! - [`weights`]: checkpoint files (safetensors, GGUF, PEFT adapters) ↔ modules;
//! - [`tokenizer`]: text ↔ ids, chat templates; [`data`]: user files → examples and batches;
//! - [`infer`]: embed, classify, generate, evaluate, and the metrics;
//! - [`train`]: the fine-tuning loop and its tasks (classification, causal LM), options, events,
//!   schedules, checkpoints, memory plans, and the device self-test;
//! - [`session`]: the task table, a fine-tuning session from data files for every task, the
//!   hyperparameter search loop and stored runs (what `wasm` and the CLI call);
//! - `wasm` (wasm32 only): the JS bindings, the only code that touches wasm-bindgen.

//! ## Example
//!
//! Embed sentences with all-MiniLM-L6-v2, then fine-tune it as a classifier on a few rows (the
//! same calls run in the browser, where the model files come from `fetch` instead of a folder):
//!
//! ```no_run
//! use webtune::{
//!     DevicePreference, data::Columns, device,
//!     infer::{Encoder, ModelFiles},
//!     models::heads::Pooling,
//!     session::{DataFile, SessionData, finetune_classifier},
//!     train::{Hooks, TrainOptions},
//! };
//!
//! # #[cfg(not(target_family = "wasm"))] // a folder on disk: natively
//! # async fn example() -> webtune::Result<()> {
//! let dev = device::select(DevicePreference::Auto).await?; // a hardware GPU if there is one, else the CPU
//! let folder = std::path::Path::new("all-MiniLM-L6-v2"); // config.json, model.safetensors, tokenizer.json
//! let encoder = Encoder::load(ModelFiles::from_dir(folder)?, &dev)?;
//! let vectors = encoder.embed(&["A man is eating food.", "A man is eating bread."], Pooling::Mean, true).await?;
//! println!("cosine {}", webtune::infer::encoder::cosine(&vectors[0], &vectors[1]));
//!
//! let csv = "text,label\ngreat film,positive\nawful plot,negative\nloved it,positive\nboring,negative\n";
//! let data = SessionData {
//!     train: DataFile { bytes: csv.as_bytes().to_vec(), name: "reviews.csv".into() },
//!     validation: None,
//!     validation_split: 0.0,
//! };
//! let options = TrainOptions { epochs: 2, batch_size: 2, ..TrainOptions::default() };
//! let mut on_event = |event| println!("{event:?}");
//! let tuned = finetune_classifier(
//!     &ModelFiles::from_dir(folder)?, None, &dev, &data, &Columns::default(), &options, None,
//!     Hooks::events(&mut on_event),
//! )
//! .await?;
//! println!("{:?}", tuned.model.classify(&["what a film"]).await?);
//! let exported = tuned.model.export().await?; // a Hugging Face folder's files, as bytes
//! # let _ = exported;
//! # Ok(())
//! # }
//! ```

pub mod data;
pub mod device;
pub mod error;
pub mod formats;
pub mod kernels;
pub mod infer;
pub mod models;
pub mod options_json;
pub mod session;
pub mod tokenizer;
pub mod train;
pub mod weights;

#[cfg(target_family = "wasm")]
pub mod wasm;

pub use device::{ComputeDevice, DeviceInfo, DevicePreference};
pub use error::{Error, Result};

/// The crate version, as in Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
