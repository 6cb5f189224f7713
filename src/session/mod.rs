//! Fine-tuning sessions: the one place that turns a user's request — a model, data files with
//! their format and columns, options, a checkpoint to resume — into a trained model, for every
//! task ([`Task`]: the task table the CLI and the JS shim read), once or per trial of a
//! hyperparameter [`search()`]. The JS bindings (`wasm`) only convert JS values and errors; the CLI only parses arguments
//! and prints. Adding a task or a model family touches this layer once.
//!
//! Steps, in order: read the data ([`data`]: format from the file name, columns, labels), hold out
//! validation rows, train ([`crate::train`]: memory plan, hooks, evaluation, checkpoints), and wrap
//! the result as a model ready for inference and export.

pub mod data;
pub mod finetune;
pub mod inspect;
pub mod recipe;
pub mod recipe_resume;
pub mod runs;
pub mod search;
pub mod task;
pub mod task_run;

pub use data::{DataFile, SessionData};
pub use inspect::{TaskDataSummary, TaskInspectOptions, inspect_task_data};
pub use search::{Searched, TrialResult, search};
pub use task::{ModelKind, Task};
pub use task_run::{Base, EncoderBase, Inputs, NamedFiles, Trained};
pub use finetune::{
    DecoderEvalSettings, Finetuned, evaluate_decoder, finetune_answerer, finetune_classifier, finetune_decoder, finetune_masked_lm,
    finetune_setfit, finetune_token_classifier,
};
